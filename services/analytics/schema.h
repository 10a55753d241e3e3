/*
 * The analytics service's PostgreSQL schema: its migrations, applied by the
 * service at start-up and by clinicflowctl migrate (which links the small
 * cf_analytics_schema library), so the two can never disagree.
 */
#ifndef CF_ANALYTICS_SCHEMA_H
#define CF_ANALYTICS_SCHEMA_H

#include <stddef.h>

#include "common/pg.h"

#define CF_ANALYTICS_SCHEMA "analytics"

extern const struct cf_migration cf_analytics_migrations[];
extern const size_t cf_analytics_migrations_n;

#endif
