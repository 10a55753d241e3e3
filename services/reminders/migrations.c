/*
 * The reminders schema, in the order it grew. Numbers are never reused or
 * reordered: a running database has applied a prefix of this list.
 */
#include "reminders/schema.h"

#include "common/consumer.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/retention.h"

const struct cf_migration cf_reminders_migrations[] = {
    {1, "consumer bookkeeping", CF_CONSUMER_TABLES_SQL},
    /* The MIS's records (mis_store.c): a row per patient and appointment
     * with the record as the API returns it, its MIS id and version, and
     * the columns planning looks up by. An erased patient keeps only ids,
     * version and erased_at (record NULL), so an older version cannot bring
     * the person back. The outbox carries their events (a tombstone's
     * value is NULL). */
    {2, "MIS patients and appointments",
     "CREATE TABLE patients ("
     " patient_id uuid PRIMARY KEY,"
     " network_id text NOT NULL,"
     " mis_id text NOT NULL,"
     " version bigint NOT NULL,"
     " record jsonb,"
     " clinic_id text,"
     " erased_at timestamptz,"
     " created_at timestamptz NOT NULL DEFAULT now(),"
     " updated_at timestamptz NOT NULL DEFAULT now(),"
     " UNIQUE (network_id, mis_id));"
     "CREATE TABLE appointments ("
     " appointment_id uuid PRIMARY KEY,"
     " network_id text NOT NULL,"
     " mis_id text NOT NULL,"
     " patient_id uuid NOT NULL,"
     " clinic_id text NOT NULL,"
     " status text NOT NULL,"
     " starts_at timestamptz NOT NULL,"
     " ends_at timestamptz,"
     " version bigint NOT NULL,"
     " record jsonb NOT NULL,"
     " created_at timestamptz NOT NULL DEFAULT now(),"
     " updated_at timestamptz NOT NULL DEFAULT now(),"
     " UNIQUE (network_id, mis_id));"
     "CREATE INDEX appointments_patient ON appointments (patient_id);"
     "CREATE INDEX appointments_clinic_starts ON appointments (clinic_id, "
     "starts_at);" CF_OUTBOX_TABLE_SQL "ALTER TABLE outbox ALTER COLUMN value DROP NOT NULL;"},
    /* Reminder jobs (plan.c, plan_store.c): one per offset of a booked
     * visit, written in the appointment's transaction. pending with its
     * due time; skipped with the reason it cannot go in time; cancelled
     * when the visit moved ("replanned") or ended (its status). The
     * scheduler takes pending ones by due time. */
    {3, "reminder jobs",
     "CREATE TABLE reminder_jobs ("
     " job_id uuid PRIMARY KEY,"
     " appointment_id uuid NOT NULL,"
     " network_id text NOT NULL,"
     " clinic_id text NOT NULL,"
     " patient_id uuid NOT NULL,"
     " offset_hours int NOT NULL,"
     " visit_at timestamptz NOT NULL,"
     " due_at timestamptz,"
     " status text NOT NULL CHECK (status IN ('pending','emitted','cancelled','skipped')),"
     " reason text,"
     " created_at timestamptz NOT NULL DEFAULT now(),"
     " updated_at timestamptz NOT NULL DEFAULT now(),"
     " CHECK (status <> 'pending' OR due_at IS NOT NULL));"
     "CREATE INDEX reminder_jobs_due ON reminder_jobs (due_at) WHERE status = 'pending';"
     "CREATE INDEX reminder_jobs_appointment ON reminder_jobs (appointment_id);"},
    /* Sends (dispatch.c, send_store.c): one per command and attempt, by
     * the dispatcher: "sending" committed before the request leaves, then
     * sent, failed, skipped (with the reason) or unknown (a process died
     * mid-send, or no answer in time: never sent again blindly). */
    {4, "sends",
     "CREATE TABLE sends ("
     " send_id uuid PRIMARY KEY,"
     " job_id uuid NOT NULL,"
     " patient_id uuid NOT NULL,"
     " clinic_id text NOT NULL,"
     " channel text,"
     " attempt int NOT NULL,"
     " gateway text,"
     " status text NOT NULL CHECK (status IN ('sending','sent','failed','skipped','unknown')),"
     " reason text,"
     " http_status int,"
     " created_at timestamptz NOT NULL DEFAULT now(),"
     " updated_at timestamptz NOT NULL DEFAULT now());"
     "CREATE INDEX sends_job ON sends (job_id);"},
    /* The ladder and its outcomes (outcome.c, outcome_store.c): a job's
     * rung (attempt, channel) moves on with each outcome, and its result
     * is the last one; a done job has nothing ahead. A send keeps the
     * phone it went to (cleared on erasure), what the gateway calls it,
     * its outcome and, for an SMS, segments and cost. The appointment
     * keeps its reminder status. Opt-outs are per phone and channel: the
     * number said stop, whoever the MIS says owns it now. */
    {5, "reminder ladder and outcomes",
     "ALTER TABLE reminder_jobs ADD COLUMN attempt int NOT NULL DEFAULT 1,"
     " ADD COLUMN channel text NOT NULL DEFAULT 'call', ADD COLUMN result text,"
     " DROP CONSTRAINT reminder_jobs_status_check,"
     " ADD CONSTRAINT reminder_jobs_status_check"
     " CHECK (status IN ('pending','emitted','cancelled','skipped','done'));"
     "ALTER TABLE appointments ADD COLUMN reminder_status text;"
     "ALTER TABLE sends ADD COLUMN phone text, ADD COLUMN provider_ref text,"
     " ADD COLUMN outcome text, ADD COLUMN outcome_at timestamptz,"
     " ADD COLUMN duration_s int, ADD COLUMN recording_url text,"
     " ADD COLUMN segments int, ADD COLUMN cost_minor bigint;"
     "CREATE INDEX sends_patient_channel ON sends (patient_id, channel, created_at)"
     " WHERE status = 'sent';"
     "CREATE INDEX sends_phone ON sends (phone, created_at) WHERE phone IS NOT NULL;"
     "CREATE INDEX sends_provider_ref ON sends (gateway, provider_ref)"
     " WHERE provider_ref IS NOT NULL;"
     "CREATE TABLE opt_outs ("
     " network_id text NOT NULL,"
     " phone text NOT NULL,"
     " channel text NOT NULL CHECK (channel IN ('call','sms')),"
     " source text NOT NULL,"
     " created_at timestamptz NOT NULL DEFAULT now(),"
     " PRIMARY KEY (network_id, phone, channel));"},
    /* Campaigns (plan.c): a job is a visit's reminder or a missed visit's
     * re-invite; a re-invite in the holdout group is stored skipped
     * ("holdout"), so who was held out is on record. */
    {6, "campaign jobs",
     "ALTER TABLE reminder_jobs ADD COLUMN kind text NOT NULL DEFAULT 'reminder'"
     " CHECK (kind IN ('reminder','reinvite'));"
     "CREATE INDEX appointments_patient_upcoming ON appointments (patient_id, starts_at)"
     " WHERE status IN ('booked','rescheduled');"},
    /* NPS (nps.c, nps_store.c): a completed visit's survey job, and the
     * survey its SMS links to: an unguessable token, single-use, expiring;
     * the score and the comment once answered (the comment cleared on
     * erasure). */
    {7, "nps surveys",
     "ALTER TABLE reminder_jobs DROP CONSTRAINT reminder_jobs_kind_check,"
     " ADD CONSTRAINT reminder_jobs_kind_check CHECK (kind IN ('reminder','reinvite','nps'));"
     "CREATE TABLE nps_surveys ("
     " token text PRIMARY KEY,"
     " job_id uuid NOT NULL UNIQUE,"
     " network_id text NOT NULL,"
     " clinic_id text NOT NULL,"
     " patient_id uuid NOT NULL,"
     " appointment_id uuid NOT NULL,"
     " doctor_id text,"
     " language text,"
     " created_at timestamptz NOT NULL DEFAULT now(),"
     " expires_at timestamptz NOT NULL,"
     " answered_at timestamptz,"
     " score int CHECK (score BETWEEN 0 AND 10),"
     " comment text);"
     "CREATE INDEX nps_surveys_patient ON nps_surveys (patient_id);"},
    /* Recall (recall.c): a patient's job, with no appointment. */
    {8, "recall jobs",
     "ALTER TABLE reminder_jobs ALTER COLUMN appointment_id DROP NOT NULL,"
     " ALTER COLUMN visit_at DROP NOT NULL, DROP CONSTRAINT reminder_jobs_kind_check,"
     " ADD CONSTRAINT reminder_jobs_kind_check"
     " CHECK (kind IN ('reminder','reinvite','nps','recall')),"
     " ADD CONSTRAINT reminder_jobs_appointment_check"
     " CHECK (kind = 'recall' OR (appointment_id IS NOT NULL AND visit_at IS NOT NULL));"
     "CREATE INDEX reminder_jobs_patient_kind ON reminder_jobs (patient_id, kind, created_at);"
     "CREATE INDEX appointments_patient_completed ON appointments (patient_id, starts_at)"
     " WHERE status = 'completed';"
     "CREATE INDEX patients_clinic ON patients (network_id, clinic_id) WHERE record IS NOT NULL;"},
    /* Campaign pacing (scheduler.c): the campaign contacts released in a
     * clinic's clock hour. Every scheduler instance counts against the one
     * row, under its row lock, so together they keep the clinic's budget;
     * the rows stay as a record of the pace, for as long as retention.c
     * keeps them. */
    {9, "campaign pacing",
     "CREATE TABLE campaign_pace ("
     " network_id text NOT NULL,"
     " clinic_id text NOT NULL,"
     " hour timestamptz NOT NULL,"
     " released int NOT NULL DEFAULT 0 CHECK (released >= 0),"
     " PRIMARY KEY (network_id, clinic_id, hour));"},
    /* The front-desk tasks the outcomes opened (outcome.c), so that one the
     * patient's later answer makes moot (a not_confirmed task, then a
     * reply 1 to the SMS) is closed on clinicflow.tasks.v1. Ids and times
     * only: the contact is the send's, read when it closes. */
    {10, "reminder tasks",
     "CREATE TABLE tasks ("
     " task_id uuid PRIMARY KEY,"
     " job_id uuid NOT NULL,"
     " reason text NOT NULL,"
     " status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),"
     " opened_at timestamptz NOT NULL,"
     " due_at timestamptz NOT NULL,"
     " closed_at timestamptz);"
     "CREATE INDEX tasks_open_job ON tasks (job_id) WHERE status = 'open';"},
    /* What the system before this one sent (history_routes.c): a visit's
     * reminders, or a patient's recall, as the import stored it, under
     * the job it became. Imported once, so a second import cannot count
     * its sends again. Channels, times and outcomes only: nothing of the
     * person. An imported recall is also a done job (reason imported),
     * so the recall does not ask the patient again within
     * recall_again_days. */
    {11, "imported reminder histories",
     "CREATE TABLE histories ("
     " job_id uuid PRIMARY KEY,"
     " network_id text NOT NULL,"
     " patient_id uuid NOT NULL,"
     " appointment_id uuid UNIQUE,"
     " history jsonb NOT NULL,"
     " imported_at timestamptz NOT NULL DEFAULT now());"},
    /* Robot calls a gateway took and has not reported on (silent_calls.c),
     * oldest first, without a scan of every send. */
    {12, "robot calls awaiting their report",
     "CREATE INDEX IF NOT EXISTS sends_call_unreported ON sends (updated_at)"
     " WHERE status = 'sent' AND channel = 'call' AND outcome IS NULL;"},
    /* A job put off (its gateway away) is due again a little later, and
     * its command still says when it was due (the dispatcher's lateness
     * rule): late_from keeps that time until the job is due anew (its next
     * rung, a visit moved, held for a window, paced). NULL: due_at. */
    {13, "lateness of jobs put off",
     "ALTER TABLE reminder_jobs ADD COLUMN IF NOT EXISTS late_from timestamptz;"},
    /* The patients' SMS replies taken (hooks.c), by the provider's own
     * id of the message (reply_id: UUIDv5 over the network, the provider,
     * the channel and that id), so a copy the gateway posts again (our
     * answer slow, or lost) is applied once and answered as the first
     * was (answer: the SMS we answered it with, or NULL). Ids, times and
     * our own words: nothing the patient wrote. */
    {14, "SMS replies taken",
     "CREATE TABLE IF NOT EXISTS sms_replies ("
     " reply_id uuid PRIMARY KEY,"
     " network_id text NOT NULL,"
     " channel_id text NOT NULL,"
     " message_id text NOT NULL,"
     " received_at timestamptz NOT NULL DEFAULT now(),"
     " answer text);"},
    /* The retention sweeper's lease and the ages it deletes by
     * (retention.c), each index only over the rows it may delete: a chunk
     * finds its rows without a scan. */
    {15, "retention lease and age indexes",
     CF_LEASES_TABLE_SQL
     "CREATE INDEX IF NOT EXISTS applied_events_applied_at ON applied_events (applied_at);"
     "CREATE INDEX IF NOT EXISTS sms_replies_received ON sms_replies (received_at);"
     "CREATE INDEX IF NOT EXISTS nps_surveys_unanswered_expires ON nps_surveys (expires_at)"
     " WHERE answered_at IS NULL;"
     "CREATE INDEX IF NOT EXISTS campaign_pace_hour ON campaign_pace (hour);"},
    /* An SMS's cost is kept from its mark, before the request leaves, with
     * its currency, and told once on the outcomes topic: by the send's
     * first outcome that says it went, the dispatcher's or the gateway's,
     * whichever comes first (cost_told). A send with such an outcome
     * recorded before this told its cost then, with its sms_sent
     * (outcome.c reads it so, during a rolling upgrade too). */
    {16, "SMS costs told once",
     "ALTER TABLE sends ADD COLUMN IF NOT EXISTS currency text,"
     " ADD COLUMN IF NOT EXISTS cost_told boolean NOT NULL DEFAULT false;"},
};

const size_t cf_reminders_migrations_n =
    sizeof(cf_reminders_migrations) / sizeof(cf_reminders_migrations[0]);
