/*
 * The leads schema. For now it holds only the consumer bookkeeping that the
 * service's consumers will need; its own tables arrive with its data path.
 */
#include "leads/schema.h"

#include "common/consumer.h"
#include "common/pg.h"

const struct cf_migration cf_leads_migrations[] = {
    {1, "consumer bookkeeping", CF_CONSUMER_TABLES_SQL},
    /* Attribution codes (codes.c): the record of each code a page asked
     * for, with the visitor's tags; Redis caches it for its lifetime. */
    {4, "attribution codes",
     "CREATE TABLE IF NOT EXISTS codes ("
     " code text PRIMARY KEY, network_id text NOT NULL, clinic_id text NOT NULL,"
     " tags jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
     " expires_at timestamptz NOT NULL);"
     "CREATE INDEX IF NOT EXISTS codes_expires_at ON codes (expires_at);"},
    /* Outgoing webhook deliveries (notify.c queues, notify_send.c sends):
     * one row per lead event a clinic's webhook is told of, keyed by the
     * event id so a redelivered event queues nothing twice. next_at is
     * when it is due, or, while an instance sends it, when its lease ends. */
    {5, "outgoing webhook deliveries",
     "CREATE TABLE IF NOT EXISTS deliveries ("
     " event_id uuid PRIMARY KEY, network_id text NOT NULL, clinic_id text NOT NULL,"
     " event_type text NOT NULL, body text NOT NULL,"
     " status text NOT NULL DEFAULT 'pending'"
     "  CHECK (status IN ('pending', 'delivered', 'given_up')),"
     " attempts int NOT NULL DEFAULT 0, next_at timestamptz NOT NULL DEFAULT now(),"
     " last_status int, last_error text,"
     " created_at timestamptz NOT NULL DEFAULT now(), done_at timestamptz);"
     "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_at)"
     " WHERE status = 'pending';"},
};

const size_t cf_leads_migrations_n = sizeof(cf_leads_migrations) / sizeof(cf_leads_migrations[0]);
