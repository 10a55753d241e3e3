/*
 * The services' PostgreSQL schemas, for programs that migrate all of them
 * (clinicflowctl migrate). Each service builds its migrations into a small
 * static library (cf_<svc>_schema) that exports the array below; the
 * service itself applies the same array at start-up, so the two can never
 * disagree. The config schema's migrations are in common/netconf.h.
 */
#ifndef CF_COMMON_SCHEMAS_H
#define CF_COMMON_SCHEMAS_H

#include <stddef.h>

#include "common/pg.h"

#define CF_CALLS_SCHEMA "calls"
#define CF_LEADS_SCHEMA "leads"
#define CF_REMINDERS_SCHEMA "reminders"
#define CF_ANALYTICS_SCHEMA "analytics"

/* libcf_calls_schema */
extern const struct cf_migration cf_calls_migrations[];
extern const size_t cf_calls_migrations_n;

/* libcf_leads_schema */
extern const struct cf_migration cf_leads_migrations[];
extern const size_t cf_leads_migrations_n;

/* libcf_reminders_schema */
extern const struct cf_migration cf_reminders_migrations[];
extern const size_t cf_reminders_migrations_n;

/* libcf_analytics_schema */
extern const struct cf_migration cf_analytics_migrations[];
extern const size_t cf_analytics_migrations_n;

#endif
