/*
 * The reminders service's PostgreSQL schema: its migrations, applied by the
 * service at start-up and by clinicflowctl migrate (which links the small
 * cf_reminders_schema library), so the two can never disagree.
 */
#ifndef CF_REMINDERS_SCHEMA_H
#define CF_REMINDERS_SCHEMA_H

#include <stddef.h>

#include "common/pg.h"

#define CF_REMINDERS_SCHEMA "reminders"

extern const struct cf_migration cf_reminders_migrations[];
extern const size_t cf_reminders_migrations_n;

#endif
