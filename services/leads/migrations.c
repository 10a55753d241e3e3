/*
 * The leads schema. Migrations are numbered by part (README.md, Tables):
 * a released migration is never edited, a change is a new entry.
 */
#include "leads/schema.h"

#include "common/consumer.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/retention.h"

const struct cf_migration cf_leads_migrations[] = {
    {1, "consumer bookkeeping", CF_CONSUMER_TABLES_SQL},
    /* 3: the response tasks (tasks.c), the breaches the sweeper decided
     * until Kafka has them (sweeper.c), the workers' leases. */
    {3, "response tasks, the sweeper's outbox and leases",
     "CREATE TABLE tasks ("
     " task_id uuid PRIMARY KEY,"
     " lead_id uuid NOT NULL,"
     " kind text NOT NULL CHECK (kind IN ('respond','callback')),"
     " network_id text NOT NULL,"
     " clinic_id text,"
     " contact_key text,"
     /* the lead's, for its breach */
     " channel text,"
     " provider text,"
     /* every key of the lead's contact: a call with any of them answers it */
     " contact_keys text[] NOT NULL DEFAULT '{}',"
     " status text NOT NULL CHECK (status IN ('open','closed','expired')),"
     " opened_at timestamptz NOT NULL,"
     " due_at timestamptz NOT NULL,"
     " closed_at timestamptz,"
     " breached_at timestamptz,"
     " doc jsonb NOT NULL,"
     " updated_at timestamptz NOT NULL DEFAULT now(),"
     " UNIQUE (lead_id, kind));"
     /* the sweeper's scan: respond tasks past due, not yet breached */
     "CREATE INDEX tasks_respond_due ON tasks (due_at)"
     " WHERE kind = 'respond' AND status = 'open' AND breached_at IS NULL;"
     /* a call's look-up of the open leads of its contact */
     "CREATE INDEX tasks_open_contacts ON tasks USING gin (contact_keys)"
     " WHERE status = 'open';" CF_OUTBOX_TABLE_SQL CF_LEASES_TABLE_SQL},
};

const size_t cf_leads_migrations_n = sizeof(cf_leads_migrations) / sizeof(cf_leads_migrations[0]);
