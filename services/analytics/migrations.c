/*
 * The analytics schema (proto/README.md, "Analytics reports"):
 *   calls         the latest state of each call, with what it adds to the
 *                 rollup (its counts), so a change subtracts the old share;
 *   tasks         the latest state of each task (callbacks, lead and
 *                 reminder tasks); a callback's figures are grouped by its
 *                 first missed call's dimensions, kept on it (call_*:
 *                 copied when either the task or the call comes, NULL
 *                 while that call is not stored);
 *   calls_hourly  the calls' counts per network, local hour (the network's
 *                 zone) and the report's dimensions: a report sums rows
 *                 here instead of counting calls;
 *   calls_clinic_hourly  the same counts per network, hour and clinic
 *                 alone: what a report grouped and filtered by clinic and
 *                 time only reads (a month is ~1,000 rows here, not the
 *                 ~150,000 the dimensions make of 800,000 calls);
 *   leads         the latest state of each lead, from its events (a lead
 *                 whose lead.received was never seen has no hour and is
 *                 not reported);
 *   persons       one row per contact key that called or wrote: its first
 *                 touch and its last one with an ad source;
 *   patients, patient_keys  the MIS's patients (ids and first visit) and
 *                 the contact keys of their phones: who a person is;
 *   appointments  the latest version of each appointment, and when it
 *                 was first seen (booked);
 *   spend         ad spend per day, source, medium, campaign and clinic
 *                 ('' for network-wide), as PUT /v1/spend gave it;
 *   store         one row: this store's id (the report cache's namespace);
 *   reminder_outcomes, campaign_members, nps_answers  reminders.outcomes.v1,
 *                 one row per outcome event, campaign member, answer.
 * No phone numbers or names: contact keys and ids only.
 */
#include "analytics/schema.h"

#include "common/consumer.h"
#include "common/pg.h"

#define CALL_DIMS                                                                                  \
    " clinic_id text NOT NULL, source text NOT NULL, medium text NOT NULL,"                        \
    " campaign text NOT NULL, operator text NOT NULL, patient_class text NOT NULL,"                \
    " channel text NOT NULL,"
#define CALL_COUNTS                                                                                \
    " inbound bigint NOT NULL, outbound bigint NOT NULL, answered bigint NOT NULL,"                \
    " unique_calls bigint NOT NULL, targeted bigint NOT NULL, missed bigint NOT NULL,"             \
    " abandoned bigint NOT NULL, answered_call_center bigint NOT NULL,"                            \
    " answered_reception bigint NOT NULL, talk_seconds bigint NOT NULL,"                           \
    " handled bigint NOT NULL, inbound_talk_seconds bigint NOT NULL"

static const char calls_sql[] =
    "CREATE TABLE calls ("
    " call_id uuid PRIMARY KEY, network_id text NOT NULL, hour timestamp NOT NULL," CALL_DIMS
    " started_at timestamptz NOT NULL, direction text NOT NULL, status text NOT NULL,"
    " outcome text NOT NULL, agent_group text NOT NULL, contact_key text," CALL_COUNTS ","
    " updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE tasks ("
    " task_id uuid PRIMARY KEY, network_id text NOT NULL, kind text NOT NULL,"
    " status text NOT NULL, clinic_id text NOT NULL, hour timestamp NOT NULL,"
    " opened_at timestamptz NOT NULL, due_at timestamptz, closed_at timestamptz,"
    " on_time boolean, seconds_to_callback integer, seconds_to_response integer,"
    " missed_calls integer, withdrawn boolean NOT NULL, source_call_id uuid,"
    " closing_call_id uuid, lead_id uuid, appointment_id uuid, contact_key text,"
    " updated_at timestamptz NOT NULL DEFAULT now());"
    /* the calls report's callback figures: a network's tasks by hour */
    "CREATE INDEX tasks_callbacks ON tasks (network_id, hour)"
    " WHERE kind = 'callback' AND lead_id IS NULL;"
    "CREATE TABLE calls_hourly ("
    " network_id text NOT NULL, hour timestamp NOT NULL," CALL_DIMS CALL_COUNTS ","
    " PRIMARY KEY (network_id, hour, clinic_id, source, medium, campaign, operator,"
    " patient_class, channel));";

static const char leads_sql[] =
    "CREATE TABLE leads ("
    " lead_id uuid PRIMARY KEY, network_id text NOT NULL, clinic_id text, hour timestamp,"
    " received_at timestamptz, provider text, channel_id text, source text, medium text,"
    " campaign text, patient_class text, contact_key text, messages integer, status text,"
    " responded_at timestamptz, response_seconds integer, working_seconds integer,"
    " responder text, lost_reason text, appointment_id text, closed_at timestamptz,"
    " sla_breached boolean, updated_at timestamptz NOT NULL DEFAULT now());"
    /* the leads report: a network's leads by the hour they arrived */
    "CREATE INDEX leads_hour ON leads (network_id, hour);";

static const char funnel_sql[] =
    "CREATE TABLE persons ("
    " network_id text NOT NULL, contact_key text NOT NULL,"
    " first_at timestamptz NOT NULL, first_hour timestamp NOT NULL, first_clinic text NOT NULL,"
    " first_source text NOT NULL, first_medium text NOT NULL, first_campaign text NOT NULL,"
    " first_channel text NOT NULL, first_class text NOT NULL,"
    " last_at timestamptz, last_source text, last_medium text, last_campaign text,"
    " PRIMARY KEY (network_id, contact_key));"
    "CREATE INDEX persons_first ON persons (network_id, first_hour);"
    "CREATE TABLE patients ("
    " patient_id uuid PRIMARY KEY, network_id text NOT NULL, version bigint NOT NULL,"
    " first_visit_at timestamptz, erased boolean NOT NULL DEFAULT false);"
    "CREATE TABLE patient_keys ("
    " network_id text NOT NULL, contact_key text NOT NULL, patient_id uuid NOT NULL,"
    " PRIMARY KEY (network_id, contact_key, patient_id));"
    "CREATE INDEX patient_keys_patient ON patient_keys (patient_id);"
    "CREATE TABLE appointments ("
    " appointment_id uuid PRIMARY KEY, network_id text NOT NULL, version bigint NOT NULL,"
    " clinic_id text NOT NULL, patient_id uuid, doctor_id text NOT NULL,"
    " service_category text, status text NOT NULL, starts_at timestamptz NOT NULL,"
    " start_hour timestamp NOT NULL, booked_at timestamptz NOT NULL,"
    " booked_hour timestamp NOT NULL, amount_paid numeric NOT NULL, plan_status text,"
    " plan_amount numeric, booking_source text NOT NULL, call_id uuid, lead_id uuid,"
    " operator_id text, updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX appointments_start ON appointments (network_id, start_hour);"
    "CREATE INDEX appointments_booked ON appointments (network_id, booked_hour);"
    "CREATE INDEX appointments_patient ON appointments (patient_id, starts_at);"
    /* a person's calls and leads, for the bookings they led to */
    "CREATE INDEX calls_contact ON calls (network_id, contact_key);"
    "CREATE INDEX leads_contact ON leads (network_id, contact_key);"
    "CREATE TABLE spend ("
    " network_id text NOT NULL, day date NOT NULL, source text NOT NULL, medium text NOT NULL,"
    " campaign text NOT NULL, clinic_id text NOT NULL, amount numeric NOT NULL,"
    " currency text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (network_id, day, source, medium, campaign, clinic_id));"
    /* this store's own id: the report cache's namespace in a Redis that
     * other stores may share */
    "CREATE TABLE store (id uuid NOT NULL DEFAULT gen_random_uuid());"
    "INSERT INTO store DEFAULT VALUES;";

static const char reminders_sql[] =
    "CREATE TABLE reminder_outcomes ("
    " event_id uuid PRIMARY KEY, network_id text NOT NULL, clinic_id text NOT NULL,"
    " hour timestamp NOT NULL, at timestamptz NOT NULL, send_id uuid NOT NULL,"
    " job_id uuid NOT NULL, kind text NOT NULL, patient_id uuid, appointment_id uuid,"
    " channel text NOT NULL, attempt integer NOT NULL, gateway text, outcome text NOT NULL,"
    " reminder_status text, duration_s integer, sms_segments integer, sms_cost numeric);"
    "CREATE INDEX reminder_outcomes_hour ON reminder_outcomes (network_id, hour);"
    "CREATE INDEX reminder_outcomes_appointment ON reminder_outcomes (appointment_id, at);"
    "CREATE INDEX reminder_outcomes_job ON reminder_outcomes (job_id);"
    "CREATE TABLE campaign_members ("
    " job_id uuid PRIMARY KEY, network_id text NOT NULL, clinic_id text NOT NULL,"
    " hour timestamp NOT NULL, at timestamptz NOT NULL, campaign text NOT NULL,"
    " grp text NOT NULL, patient_id uuid NOT NULL, appointment_id uuid);"
    "CREATE INDEX campaign_members_hour ON campaign_members (network_id, hour);"
    "CREATE TABLE nps_answers ("
    " job_id uuid PRIMARY KEY, network_id text NOT NULL, clinic_id text NOT NULL,"
    " hour timestamp NOT NULL, at timestamptz NOT NULL, doctor_id text, score integer NOT NULL,"
    " patient_id uuid, appointment_id uuid);"
    "CREATE INDEX nps_answers_hour ON nps_answers (network_id, hour);";

static const char clinic_rollup_sql[] =
    "CREATE TABLE calls_clinic_hourly ("
    " network_id text NOT NULL, hour timestamp NOT NULL, clinic_id text NOT NULL," CALL_COUNTS ","
    " PRIMARY KEY (network_id, hour, clinic_id));"
    "INSERT INTO calls_clinic_hourly SELECT network_id, hour, clinic_id, sum(inbound),"
    " sum(outbound), sum(answered), sum(unique_calls), sum(targeted), sum(missed),"
    " sum(abandoned), sum(answered_call_center), sum(answered_reception), sum(talk_seconds),"
    " sum(handled), sum(inbound_talk_seconds) FROM calls_hourly GROUP BY 1, 2, 3;";

static const char missed_calls_sql[] =
    "CREATE TABLE missed_calls ("
    " call_id uuid PRIMARY KEY, network_id text NOT NULL," CALL_DIMS
    " updated_at timestamptz NOT NULL DEFAULT now());"
    "INSERT INTO missed_calls (call_id, network_id, clinic_id, source, medium, campaign, operator,"
    " patient_class, channel) SELECT call_id, network_id, clinic_id, source, medium, campaign,"
    " operator, patient_class, channel FROM calls WHERE missed = 1;";

/* A callback task's first missed call's dimensions on its row: the calls
 * report grouped by source read every task of the range through a join
 * with all of the network's missed calls (half of a month by source over
 * 10,000,000 calls). missed_calls served that join alone. */
static const char task_call_dims_sql[] =
    "ALTER TABLE tasks ADD COLUMN call_source text, ADD COLUMN call_medium text,"
    " ADD COLUMN call_campaign text, ADD COLUMN call_operator text,"
    " ADD COLUMN call_patient_class text, ADD COLUMN call_channel text;"
    "CREATE INDEX tasks_source_call ON tasks (source_call_id) WHERE source_call_id IS NOT NULL;"
    "UPDATE tasks t SET call_source = m.source, call_medium = m.medium,"
    " call_campaign = m.campaign, call_operator = m.operator,"
    " call_patient_class = m.patient_class, call_channel = m.channel FROM missed_calls m"
    " WHERE m.call_id = t.source_call_id AND m.network_id = t.network_id;"
    "DROP TABLE missed_calls;";

/* The spend's own generation for the reports' cache (report_cache.c):
 * moved by every spend write in its statement, as the consumers' stored
 * offsets move with every batch they commit. */
static const char spend_generation_sql[] =
    "ALTER TABLE store ADD COLUMN spend_generation bigint NOT NULL DEFAULT 0;";

/* The other keys a person showed by (a messenger account, an e-mail,
 * before a phone), each bound to the person's key (person_store.h). */
static const char person_keys_sql[] =
    "CREATE TABLE person_keys ("
    " network_id text NOT NULL, contact_key text NOT NULL, person_key text NOT NULL,"
    " PRIMARY KEY (network_id, contact_key));"
    "CREATE INDEX person_keys_person ON person_keys (network_id, person_key);";

/* A send's outcomes in order: the reminders report dates a send by its
 * first (AN_SEND_FIRST_SQL). */
static const char send_outcomes_sql[] =
    "CREATE INDEX reminder_outcomes_send ON reminder_outcomes (send_id, at, event_id);";

/* The due time a lead's breach was decided against (lead.sla_breached's
 * due_at): a response dated by it but told after the breach (a CRM's late
 * report, a replay of history) was in time after all, and the reports
 * count no breach for it (AN_LEAD_BREACHED, lead_facts_testable.h). A breach
 * stored before has none and still counts. */
static const char lead_due_sql[] = "ALTER TABLE leads ADD COLUMN sla_due_at timestamptz;";

/* The provider facts a call's stored state was folded from (call.json's
 * facts): a state of fewer, replayed from the DLQ after a later one of
 * the same call was applied, is older and is not applied
 * (calls_apply.c). Null for rows stored before. */
static const char call_facts_sql[] = "ALTER TABLE calls ADD COLUMN facts int;";

/* A recall member's visits end at the patient's next membership
 * (report_testable.h, AN_MEMBER_VISIT_SQL): found by patient and time. */
static const char members_by_patient_sql[] =
    "CREATE INDEX campaign_members_patient ON campaign_members (patient_id, at);";

/* A patient's tombstone erases their reminder tasks by the task's own
 * patient (task.json's patient_id), not only through a visit's current
 * patient (a recall task has no visit; a visit may be given to another
 * patient since); and is kept when no patient row is there yet (the
 * patient's upsert compacted away, or not read yet), so that what comes
 * after it is erased too: a row with no network, erased. */
static const char erased_patients_sql[] =
    "ALTER TABLE tasks ADD COLUMN patient_id uuid;"
    "CREATE INDEX tasks_patient ON tasks (patient_id) WHERE patient_id IS NOT NULL;"
    "ALTER TABLE patients ALTER COLUMN network_id DROP NOT NULL;";

const struct cf_migration cf_analytics_migrations[] = {
    {1, "consumer bookkeeping", CF_CONSUMER_TABLES_SQL},
    {2, "calls, tasks and the calls' hourly rollup", calls_sql},
    {3, "leads", leads_sql},
    {4, "people, patients, appointments and spend: the funnel and sources", funnel_sql},
    {5, "reminder outcomes, campaign members, NPS answers", reminders_sql},
    {6, "the calls' counts by clinic and hour alone", clinic_rollup_sql},
    {7, "the missed calls' dimensions, for their callback tasks", missed_calls_sql},
    {8, "the callback tasks' missed calls' dimensions on the tasks", task_call_dims_sql},
    {9, "the spend's generation for the reports' cache", spend_generation_sql},
    {10, "a person's other keys", person_keys_sql},
    {11, "a send's outcomes in order", send_outcomes_sql},
    {12, "the due time of a lead's breach", lead_due_sql},
    {13, "the facts a call's state was folded from", call_facts_sql},
    {14, "campaign members by patient", members_by_patient_sql},
    {15, "tasks by patient, and tombstones before their patient", erased_patients_sql},
};

const size_t cf_analytics_migrations_n =
    sizeof(cf_analytics_migrations) / sizeof(cf_analytics_migrations[0]);
