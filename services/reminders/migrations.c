/*
 * The reminders schema. For now it holds only the consumer bookkeeping that the
 * service's consumers will need; its own tables arrive with its data path.
 */
#include "reminders/schema.h"

#include "common/consumer.h"
#include "common/pg.h"

const struct cf_migration cf_reminders_migrations[] = {
    {1, "consumer bookkeeping", CF_CONSUMER_TABLES_SQL},
};

const size_t cf_reminders_migrations_n =
    sizeof(cf_reminders_migrations) / sizeof(cf_reminders_migrations[0]);
