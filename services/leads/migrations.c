/*
 * The leads schema. Migrations run in order under an advisory lock with
 * search_path set to "leads"; a released migration is never edited, a
 * change is a new entry. Numbers are taken by part (README.md): 2 the
 * fold, 3 tasks, 4 codes, 5 notification, 6 the fold, 7 retention, 8
 * tasks' expiry, 9 the fold, 10 the tasks in the fold, 11 notification,
 * 12-14 calls as responses, 15-16 erasure, 17 calls as responses.
 */
#include "leads/schema.h"

#include "common/consumer.h"
#include "common/outbox.h"
#include "common/patients.h"
#include "common/pg.h"
#include "common/retention.h"

const struct cf_migration cf_leads_migrations[] = {
    {1, "consumer bookkeeping", CF_CONSUMER_TABLES_SQL},
    /* The fold's leads (fold.c, lead_store.c), the facts waiting for
     * their lead, and the phone -> patient view (common/patients.h). A
     * lead's document is what lead.received said plus the fold's own
     * members; the columns are what an operator and the fold query by. */
    {2, "leads, their contacts and the patients view",
     "CREATE TABLE leads ("
     " lead_id uuid PRIMARY KEY,"
     " network_id text NOT NULL,"
     " clinic_id text,"
     " provider text NOT NULL,"
     " channel text NOT NULL,"
     " status text NOT NULL CHECK (status IN ('open','booked','lost','spam')),"
     " contact_key text," /* none: a request with no key (a raw phone) */
     " received_at timestamptz NOT NULL,"
     " last_message_at timestamptz NOT NULL,"
     " messages integer NOT NULL,"
     " responded_at timestamptz,"
     " via text,"
     " closed_at timestamptz,"
     " doc jsonb NOT NULL,"
     " updated_at timestamptz NOT NULL DEFAULT now());"
     "CREATE INDEX leads_network_received ON leads (network_id, received_at);"
     /* a patient's tombstone finds the leads it names */
     "CREATE INDEX leads_patient ON leads ((doc->>'patient_id'));"
     /* every contact key a lead has held: the open lead of any of a
      * request's keys is found through it */
     "CREATE TABLE lead_contacts ("
     " lead_id uuid NOT NULL REFERENCES leads ON DELETE CASCADE,"
     " network_id text NOT NULL,"
     " contact_key text NOT NULL,"
     " kind text NOT NULL CHECK (kind IN ('phone','email','messenger')),"
     " PRIMARY KEY (lead_id, contact_key));"
     "CREATE INDEX lead_contacts_key ON lead_contacts (network_id, "
     "contact_key);"
     /* responses and statuses naming a lead not stored yet, until the
      * request that opens it takes them or they expire (pending.c): the
      * envelope as it was on leads.raw, and where, so the DLQ entry of
      * one that expires names the message */
     "CREATE TABLE pending_facts ("
     " event_id uuid PRIMARY KEY,"
     " network_id text NOT NULL,"
     " lead_id uuid NOT NULL,"
     " raw_partition integer NOT NULL,"
     " raw_offset bigint NOT NULL,"
     " event text NOT NULL,"
     " received_at timestamptz NOT NULL DEFAULT now());"
     "CREATE INDEX pending_facts_lead ON pending_facts (lead_id);"
     "CREATE INDEX pending_facts_received ON pending_facts (received_at);" CF_PATIENTS_TABLES_SQL},
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
    /* The fold writes a lead and its contact keys in one statement, and
     * nothing deletes a lead: the key from lead_contacts to leads checked
     * each contact row again, a look-up a row (a sixth of a batch's save
     * in bench/run leads-fold), for nothing the fold does not hold
     * already. */
    {6, "lead contacts without the foreign key",
     "ALTER TABLE lead_contacts DROP CONSTRAINT IF EXISTS lead_contacts_lead_id_fkey;"},
    /* The ages the retention sweeper deletes by (retention.c), each only
     * over the rows it may delete: a chunk finds its rows without a scan. */
    {7, "retention age indexes",
     "CREATE INDEX IF NOT EXISTS applied_events_applied_at ON applied_events (applied_at);"
     "CREATE INDEX IF NOT EXISTS deliveries_done ON deliveries (done_at)"
     " WHERE status <> 'pending';"
     "CREATE INDEX IF NOT EXISTS tasks_finished_updated ON tasks (updated_at)"
     " WHERE status <> 'open';"
     "CREATE INDEX IF NOT EXISTS leads_closed_last_message ON leads (last_message_at)"
     " WHERE status <> 'open';"},
    /* The sweeper's expiry (sweeper.c): the open tasks, oldest first,
     * without a scan of every task ever closed. */
    {8, "open tasks by age",
     "CREATE INDEX IF NOT EXISTS tasks_open_opened ON tasks (opened_at) WHERE status = 'open';"},
    /* A lead's document is kept as the fold wrote it (json): the server
     * only checks it, where jsonb parsed every document the fold saved,
     * half of each batch's save (bench/RESULTS.md). Nothing looks inside
     * it but a patient's tombstone, which now finds its leads by a column
     * of their own, indexed only where a lead has a patient. */
    {9, "lead documents as written, the patient as a column",
     "ALTER TABLE leads ADD COLUMN IF NOT EXISTS patient_id text;"
     "UPDATE leads SET patient_id = doc->>'patient_id' WHERE doc ? 'patient_id';"
     "DROP INDEX IF EXISTS leads_patient;"
     "CREATE INDEX IF NOT EXISTS leads_patient_id ON leads (patient_id)"
     " WHERE patient_id IS NOT NULL;"
     "ALTER TABLE leads ALTER COLUMN doc TYPE json USING doc::json;"},
    /* The fold opens and closes the leads' tasks in its own transaction
     * (fold_consumer.c): a call finds the open lead of its contact through
     * the fold's lead_contacts, and the tasks no longer keep the lead's
     * keys a second time (an array and a GIN index to write on every task
     * and merge). */
    {10, "tasks without a copy of the lead's keys",
     "DROP INDEX IF EXISTS tasks_open_contacts;"
     "ALTER TABLE tasks DROP COLUMN IF EXISTS contact_keys;"},
    /* A patient's tombstone erases the person from every row that holds
     * them (lead_store.c): a webhook delivery's body is a whole lead
     * event, found by its lead. */
    {11, "deliveries by lead",
     "ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS lead_id uuid;"
     "UPDATE deliveries SET lead_id = (body::json -> 'data' ->> 'lead_id')::uuid"
     " WHERE lead_id IS NULL AND body::json -> 'data' ->> 'lead_id'"
     " ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';"
     "CREATE INDEX IF NOT EXISTS deliveries_lead ON deliveries (lead_id);"},
    /* Calls with a lead's contact answered and not over yet (call_responses.c):
     * the sweeper breaches none of the leads such a call answered in time
     * until its outcome says whether a person answered it. */
    {12, "calls under way",
     "CREATE TABLE IF NOT EXISTS calls_under_way ("
     " call_id uuid PRIMARY KEY, network_id text NOT NULL, contact_key text NOT NULL,"
     " answered_at timestamptz NOT NULL);"
     "CREATE INDEX IF NOT EXISTS calls_under_way_contact ON calls_under_way"
     " (network_id, contact_key);"},
    /* Answered calls with a contact and the lead each answered, or none
     * yet (answered_calls.h): a lead stored later, received before such a
     * call, takes it as its response. */
    {13, "answered calls",
     "CREATE TABLE IF NOT EXISTS answered_calls ("
     " call_id uuid PRIMARY KEY, network_id text NOT NULL, contact_key text NOT NULL,"
     " answered_at timestamptz NOT NULL, fact text NOT NULL, lead_id uuid);"
     "CREATE INDEX IF NOT EXISTS answered_calls_unclaimed ON answered_calls"
     " (network_id, contact_key) WHERE lead_id IS NULL;"
     "CREATE INDEX IF NOT EXISTS answered_calls_answered ON answered_calls (answered_at);"},
    /* Respond tasks closed past their due time and not breached: the fold
     * held the breach for a call under way (tasks.c), which the sweeper
     * tells once the call is over and was nobody's response (task_store.c,
     * leads_tasks_take_breached). */
    {14, "respond tasks whose breach a call held",
     "CREATE INDEX IF NOT EXISTS tasks_respond_held ON tasks (due_at)"
     " WHERE kind = 'respond' AND status = 'closed' AND breached_at IS NULL"
     " AND closed_at > due_at;"},
    /* A patient's tombstone erases the leads stored by then; a request of
     * the person still on leads.raw, folded after it, is stored erased
     * too (fold.c, fold_batch.c): the erasure keeps each contact key it
     * erased, when, and until when the person held it. */
    {15, "erasures",
     "CREATE TABLE IF NOT EXISTS erasures ("
     " network_id text NOT NULL, contact_key text NOT NULL, erased_at timestamptz NOT NULL,"
     " held_until timestamptz, PRIMARY KEY (network_id, contact_key, erased_at));"
     "CREATE INDEX IF NOT EXISTS erasures_erased_at ON erasures (erased_at);"},
    /* The open tasks of an erased person's leads (the erasure's, or the
     * fold's for a request it stores erased): nobody can answer them, and
     * the sweeper gives them up at that time (task_store.c,
     * leads_tasks_take_expiring) instead of breaching them later. */
    {16, "tasks of erased leads",
     "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS erased_at timestamptz;"
     "CREATE INDEX IF NOT EXISTS tasks_open_erased ON tasks (erased_at)"
     " WHERE status = 'open' AND erased_at IS NOT NULL;"},
    /* A respond task whose breach a call held, that call answered by a
     * person in time: no breach, for good (task_store.c). The answered
     * call it was decided by is kept a day only; the decision is the
     * task's own. A call under way that became one lead's response holds
     * that lead's breach only, not those of the person's other leads. */
    {17, "breaches a call held, decided",
     "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS breach_waived_at timestamptz;"
     "ALTER TABLE calls_under_way ADD COLUMN IF NOT EXISTS lead_id uuid;"
     "DROP INDEX IF EXISTS tasks_respond_held;"
     "CREATE INDEX IF NOT EXISTS tasks_respond_held ON tasks (due_at)"
     " WHERE kind = 'respond' AND status = 'closed' AND breached_at IS NULL"
     " AND breach_waived_at IS NULL AND closed_at > due_at;"},
};

const size_t cf_leads_migrations_n = sizeof(cf_leads_migrations) / sizeof(cf_leads_migrations[0]);
