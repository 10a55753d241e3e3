/*
 * The leads service's PostgreSQL schema: its migrations, applied by the
 * service at start-up and by clinicflowctl migrate (which links the small
 * cf_leads_schema library), so the two can never disagree.
 */
#ifndef CF_LEADS_SCHEMA_H
#define CF_LEADS_SCHEMA_H

#include <stddef.h>

#include "common/pg.h"

#define CF_LEADS_SCHEMA "leads"

extern const struct cf_migration cf_leads_migrations[];
extern const size_t cf_leads_migrations_n;

#endif
