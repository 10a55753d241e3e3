/*
 * The analytics schema. For now it holds only the consumer bookkeeping that the
 * service's consumers will need; its own tables arrive with its data path.
 */
#include "analytics/schema.h"

#include "common/consumer.h"
#include "common/pg.h"

const struct cf_migration cf_analytics_migrations[] = {
    {1, "consumer bookkeeping", CF_CONSUMER_TABLES_SQL},
};

const size_t cf_analytics_migrations_n =
    sizeof(cf_analytics_migrations) / sizeof(cf_analytics_migrations[0]);
