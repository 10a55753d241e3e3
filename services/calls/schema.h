/*
 * The calls service's PostgreSQL schema: its migrations, applied by the
 * service at start-up and by clinicflowctl migrate (which links the small
 * cf_calls_schema library), so the two can never disagree.
 */
#ifndef CF_CALLS_SCHEMA_H
#define CF_CALLS_SCHEMA_H

#include <stddef.h>

#include "common/pg.h"

#define CF_CALLS_SCHEMA "calls"

extern const struct cf_migration cf_calls_migrations[];
extern const size_t cf_calls_migrations_n;

#endif
