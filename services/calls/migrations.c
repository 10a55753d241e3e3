/*
 * The calls schema. Migrations run in order under an advisory lock with
 * search_path set to "calls"; a released migration is never edited, a
 * change is a new entry.
 */
#include "calls/schema.h"

#include "common/consumer.h"
#include "common/pg.h"
#include "common/retention.h"

const struct cf_migration cf_calls_migrations[] = {
    {1, "consumer bookkeeping and calls",
     CF_CONSUMER_TABLES_SQL
     "CREATE TABLE calls ("
     " call_id uuid PRIMARY KEY,"
     " network_id text NOT NULL,"
     " clinic_id text,"
     " direction text NOT NULL CHECK (direction IN ('inbound','outbound')),"
     " status text NOT NULL CHECK (status IN ('ringing','in_progress','ended')),"
     " contact_key text,"
     " started_at timestamptz NOT NULL,"
     " answered_at timestamptz,"
     " ended_at timestamptz,"
     " outcome text,"
     " ring_seconds integer,"
     " talk_seconds integer,"
     " provider text NOT NULL,"
     " provider_call_id text NOT NULL,"
     " facts integer NOT NULL,"
     " doc jsonb NOT NULL,"
     " updated_at timestamptz NOT NULL DEFAULT now());"
     "CREATE INDEX calls_network_started ON calls (network_id, started_at);"
     "CREATE INDEX calls_contact ON calls (network_id, contact_key, started_at);"},
    {2, "call results", "ALTER TABLE calls ADD COLUMN result text;"},
    {3, "callback tasks",
     "CREATE TABLE tasks ("
     " task_id uuid PRIMARY KEY,"
     " network_id text NOT NULL,"
     " clinic_id text,"
     " contact_key text NOT NULL,"
     " status text NOT NULL CHECK (status IN ('open','closed','expired')),"
     " opened_at timestamptz NOT NULL,"
     " due_at timestamptz NOT NULL,"
     " closed_at timestamptz,"
     " missed_calls integer NOT NULL,"
     " doc jsonb NOT NULL,"
     " updated_at timestamptz NOT NULL DEFAULT now());"
     /* one open callback per contact; the sweeper's scan */
     "CREATE UNIQUE INDEX tasks_one_open ON tasks (network_id, contact_key)"
     " WHERE status = 'open';"
     "CREATE INDEX tasks_open_since ON tasks (opened_at) WHERE status = 'open';"
     "CREATE TABLE task_calls ("
     " task_id uuid NOT NULL REFERENCES tasks,"
     " call_id uuid NOT NULL,"
     " PRIMARY KEY (task_id, call_id));"
     "CREATE INDEX task_calls_call ON task_calls (call_id);"
     "CREATE INDEX calls_contact_answered ON calls (network_id, contact_key, answered_at)"
     " WHERE answered_at IS NOT NULL;"},
    {4, "patients view and visitor sessions",
     "CREATE TABLE patients ("
     " network_id text NOT NULL,"
     " patient_id uuid NOT NULL UNIQUE,"
     " last_visit_at timestamptz,"
     " recall_at timestamptz,"
     " doc jsonb NOT NULL,"
     " PRIMARY KEY (network_id, patient_id));"
     "CREATE TABLE patient_contacts ("
     " network_id text NOT NULL,"
     " contact_key text NOT NULL,"
     " patient_id uuid NOT NULL,"
     " PRIMARY KEY (network_id, contact_key));"
     "CREATE INDEX patient_contacts_patient ON patient_contacts (patient_id);"
     /* a pool number held by a visitor: reserved_at .. held_until */
     "CREATE TABLE dni_sessions ("
     " network_id text NOT NULL,"
     " clinic_id text NOT NULL,"
     " number text NOT NULL,"
     " visitor_id text NOT NULL,"
     " reserved_at timestamptz NOT NULL,"
     " held_until timestamptz NOT NULL,"
     " utm jsonb NOT NULL,"
     " PRIMARY KEY (network_id, number, reserved_at));"
     "CREATE INDEX dni_sessions_visitor ON dni_sessions (network_id, visitor_id, reserved_at);"},
    {5, "calls waiting for their staff leg",
     "CREATE INDEX calls_agent_pending ON calls (updated_at)"
     " WHERE status = 'ended' AND doc ? 'agent_pending';"},
    {6, "events the task sweeper decided, until Kafka has them", CF_OUTBOX_TABLE_SQL},
    {7, "call results that came before their call",
     /* the envelope as it was on calls.raw, and where: the DLQ entry of one
      * that expires names the message */
     "CREATE TABLE pending_results ("
     " event_id uuid PRIMARY KEY,"
     " network_id text NOT NULL,"
     " call_id uuid NOT NULL,"
     " raw_partition integer NOT NULL,"
     " raw_offset bigint NOT NULL,"
     " event text NOT NULL,"
     " received_at timestamptz NOT NULL DEFAULT now());"
     "CREATE INDEX pending_results_call ON pending_results (call_id);"
     "CREATE INDEX pending_results_received ON pending_results (received_at);"},
    /* The retention sweeper's lease and the ages it deletes by (retention.c). */
    {8, "retention lease and age indexes",
     CF_LEASES_TABLE_SQL
     "CREATE INDEX IF NOT EXISTS applied_events_applied_at ON applied_events (applied_at);"
     "CREATE INDEX dni_sessions_held_until ON dni_sessions (held_until);"
     "CREATE INDEX calls_started ON calls (started_at);"},
    /* The retention sweeper's scan of closed and expired callback tasks
     * (retention.c). */
    {9, "retention index of finished callback tasks",
     "CREATE INDEX tasks_finished_updated ON tasks (updated_at) WHERE status <> 'open';"},
    /* An erased patient's callback tasks, of every status, by contact
     * (calls_tasks_erase): without it each tombstone read every task. */
    {10, "callback tasks by contact",
     "CREATE INDEX IF NOT EXISTS tasks_contact ON tasks (network_id, contact_key);"},
    /* An erased patient's calls by the patient id the fold tagged them
     * with (calls_store_patient_contacts): the numbers the patient had
     * before the latest, which the view no longer holds. */
    {11, "calls by patient",
     "CREATE INDEX IF NOT EXISTS calls_patient ON calls ((doc #>> '{patient,patient_id}'))"
     " WHERE (doc #>> '{patient,patient_id}') IS NOT NULL;"},
};

const size_t cf_calls_migrations_n = sizeof(cf_calls_migrations) / sizeof(cf_calls_migrations[0]);
