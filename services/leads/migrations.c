/*
 * The leads schema. For now it holds only the consumer bookkeeping that the
 * service's consumers will need; its own tables arrive with its data path.
 */
#include "leads/schema.h"

#include "common/consumer.h"
#include "common/pg.h"

const struct cf_migration cf_leads_migrations[] = {
    {1, "consumer bookkeeping", CF_CONSUMER_TABLES_SQL},
};

const size_t cf_leads_migrations_n = sizeof(cf_leads_migrations) / sizeof(cf_leads_migrations[0]);
