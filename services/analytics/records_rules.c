/*
 * Which records a drill-down names (records_testable.h).
 */
#include "records_testable.h"
#include "lead_facts_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/pg.h"
#include "common/strbuf.h"
#include "common/time.h"

/* A narrowing of a row's records to those one figure counts ("only"):
 * its name and the condition, the report's own definition; with per (a
 * column), only the first of the row's records (the condition met) of
 * each value of it: the records of a count of distinct things (people,
 * sends), one each. */
struct only {
    const char *name, *where, *per;
};

/* 1 for a figure whose range picks whole months, as the cohorts report's
 * does (a month the range touches is all in): a cohort's patients. */
static int whole_months(const struct only *o)
{
    return o && strcmp(o->name, "first_arrival") == 0;
}

#define ENDED "r.status = 'ended'"
#define INBOUND ENDED " AND r.direction = 'inbound'"
#define OUTBOUND ENDED " AND r.direction = 'outbound'"
/* the calls report's callback tasks: a missed call's, not a lead's */
#define CALLBACK "r.kind = 'callback' AND r.lead_id IS NULL AND NOT r.withdrawn"

static const struct only calls_only[] = {
    {"inbound", INBOUND, NULL},
    {"outbound", OUTBOUND, NULL},
    {"answered", INBOUND " AND r.outcome = 'answered'", NULL},
    {"missed", INBOUND " AND r.missed = 1", NULL},
    {"abandoned", INBOUND " AND r.outcome = 'abandoned'", NULL},
    {"targeted", ENDED " AND r.targeted = 1", NULL},
    {"unique", INBOUND " AND r.unique_calls = 1", NULL},
    {"call_center", INBOUND " AND r.outcome = 'answered' AND r.agent_group = 'call_center'", NULL},
    {"reception", INBOUND " AND r.outcome = 'answered' AND r.agent_group = 'reception'", NULL},
    /* the call centre's share is over these: answered by either group */
    {"answered_grouped",
     INBOUND " AND r.outcome = 'answered' AND r.agent_group IN"
             " ('call_center', 'reception')",
     NULL},
    /* answered by a person, either direction: the operators' calls
     * handled (with or without an operator the telephony named) */
    {"handled", ENDED " AND r.outcome = 'answered'", NULL},
    {NULL, NULL, NULL},
};
static const struct only leads_only[] = {
    {"responded", "r.responded_at IS NOT NULL", NULL},
    {"unanswered", "r.responded_at IS NULL", NULL},
    {"sla_breached", AN_LEAD_BREACHED("r"), NULL},
    {"booked", "r.status = 'booked'", NULL},
    {"lost", "r.status = 'lost'", NULL},
    {"spam", "r.status = 'spam'", NULL},
    {NULL, NULL, NULL},
};
static const struct only appointments_only[] = {
    {"arrived", "r.status IN ('arrived', 'completed')", NULL},
    {"no_show", "r.status = 'no_show'", NULL},
    /* the show rate is over these: the visits that came or did not */
    {"arrived_or_no_show", "r.status IN ('arrived', 'completed', 'no_show')", NULL},
    {"cancelled", "r.status = 'cancelled'", NULL},
    /* a booking an operator made: the operators report's bookings */
    {"operator_booked", "r.operator_id IS NOT NULL", NULL},
    {"plan", "r.plan_status IS NOT NULL", NULL},
    {"plan_accepted", "r.plan_status = 'accepted'", NULL},
    /* an arrival of a patient who had come before: an earlier arrival, or
     * a first visit the MIS knows */
    {"repeat", "r.status IN ('arrived', 'completed') AND NOT (" AN_FIRST_VISIT_SQL("r") ")", NULL},
    /* a patient's first arrival here (the earliest, by time then id): one
     * record a patient of a cohort, placed by its month and clinic */
    {"first_arrival",
     "r.status IN ('arrived', 'completed') AND r.patient_id IS NOT NULL AND NOT EXISTS"
     " (SELECT 1 FROM analytics.appointments e WHERE e.patient_id = r.patient_id"
     " AND e.status IN ('arrived', 'completed')"
     " AND (e.starts_at, e.appointment_id) < (r.starts_at, r.appointment_id))",
     NULL},
    /* an arrival that was the patient's first: the sources report's
     * arrived new patients */
    {"arrived_new", "r.status IN ('arrived', 'completed') AND " AN_FIRST_VISIT_SQL("r"), NULL},
    /* the reminders report's reminded visits that came or did not, by
     * whether the patient had confirmed: its show rates are over these */
    {"reminded_confirmed",
     "r.status IN ('arrived', 'completed', 'no_show') AND " AN_VISIT_REMINDED_SQL(
         "r") " AND " AN_VISIT_LAST_STATUS_SQL("r") " = 'confirmed'",
     NULL},
    {"reminded_unconfirmed",
     "r.status IN ('arrived', 'completed', 'no_show') AND " AN_VISIT_REMINDED_SQL(
         "r") " AND " AN_VISIT_LAST_STATUS_SQL("r") " IS DISTINCT FROM 'confirmed'",
     NULL},
    {NULL, NULL, NULL},
};
/* the reminders report's outcome figures (each an outcome event), and its
 * send counts (a send's first event each: a send has several) */
#define SENT "r.send_id IS NOT NULL AND r.outcome <> 'skipped' AND " AN_SEND_FIRST_SQL("r")
static const struct only reminders_only[] = {
    {"sent", SENT, "r.send_id"},
    {"calls", SENT " AND r.channel = 'call'", "r.send_id"},
    {"sms", SENT " AND r.channel = 'sms'", "r.send_id"},
    {"not_reached", "r.send_id IS NOT NULL AND " AN_SEND_NOT_REACHED_SQL("r"), "r.send_id"},
    {"confirmed", "r.reminder_status = 'confirmed'", NULL},
    {"declined", "r.reminder_status = 'declined'", NULL},
    {"reschedule_requested", "r.reminder_status = 'reschedule_requested'", NULL},
    {"not_confirmed", "r.reminder_status = 'not_confirmed'", NULL},
    {"opt_outs", "r.outcome IN ('opt_out_calls', 'opt_out_sms')", NULL},
    /* the SMS segments and cost the report sums, and the cost a
     * confirmation is taken from */
    {"sms_charged", "coalesce(r.sms_segments, 0) > 0 OR coalesce(r.sms_cost, 0) > 0", NULL},
    {NULL, NULL, NULL},
};
/* the NPS categories */
static const struct only nps_only[] = {
    {"promoters", "r.score >= 9", NULL},
    {"passives", "r.score IN (7, 8)", NULL},
    {"detractors", "r.score <= 6", NULL},
    {NULL, NULL, NULL},
};
/* the recall report's member figures: the groups, and what a member's
 * job's sends and the patient's later bookings made of it */
#define BOOKED_AFTER_AT(wall)                                                                      \
    "EXISTS (SELECT 1 FROM analytics.appointments a WHERE a.patient_id = r.patient_id"             \
    " AND a.booked_at > r.at AND " AN_MEMBER_VISIT_SQL("r", "a") wall ")"
#define BOOKED_AFTER BOOKED_AFTER_AT("")
#define ARRIVED_AFTER_AT(wall)                                                                     \
    "r.grp = 'target' AND EXISTS (SELECT 1 FROM analytics.appointments a WHERE a.patient_id ="     \
    " r.patient_id AND a.booked_at > r.at AND " AN_MEMBER_VISIT_SQL(                               \
        "r", "a") " AND a.starts_at > r.at"                                                        \
                  " AND a.status IN ('arrived', 'completed')" wall ")"
#define WALL_A " AND a.clinic_id IN (SELECT jsonb_array_elements_text($4::jsonb))"
#define JOB_OUTCOME(cond)                                                                          \
    "EXISTS (SELECT 1 FROM analytics.reminder_outcomes o WHERE o.job_id = r.job_id AND " cond ")"
static const struct only members_only[] = {
    {"target", "r.grp = 'target'", NULL},
    {"holdout", "r.grp = 'holdout'", NULL},
    {"contacted", JOB_OUTCOME("o.outcome <> 'skipped'"), NULL},
    {"agreed", JOB_OUTCOME("o.outcome = 'confirmed'"), NULL},
    {"opt_outs", JOB_OUTCOME("o.outcome IN ('opt_out_calls', 'opt_out_sms')"), NULL},
    {"booked_target", "r.grp = 'target' AND " BOOKED_AFTER, NULL},
    {"booked_holdout", "r.grp = 'holdout' AND " BOOKED_AFTER, NULL},
    /* target members who came to a visit booked after: the report's
     * arrivals of the target group, whose visits make its revenue */
    {"arrived_target", ARRIVED_AFTER_AT(""), NULL},
    {NULL, NULL, NULL},
};
/* For a key limited to clinics (an_report_params.walled): the figures of
 * a kind that follow the patient beyond the row's clinics, counting what
 * happened at the clinics ($4) only, as the report does. */
static const struct {
    const char *kind;
    struct only only;
} walled_only[] = {
    {"members", {"booked_target", "r.grp = 'target' AND " BOOKED_AFTER_AT(WALL_A), NULL}},
    {"members", {"booked_holdout", "r.grp = 'holdout' AND " BOOKED_AFTER_AT(WALL_A), NULL}},
    {"members", {"arrived_target", ARRIVED_AFTER_AT(WALL_A), NULL}},
    {"persons",
     {"new_booked", AN_NEW_PERSON_SQL("r") " AND " AN_NEW_PERSON_BOOKED_SQL("r", WALL_A), NULL}},
};
/* For a key limited to clinics: the members of a kind's records that tell
 * of the person beyond them (a person's last contact may be at any
 * clinic), left out, as jsonb keys to subtract. */
static const struct {
    const char *kind, *members;
} walled_hidden[] = {
    {"persons", " - 'last_at' - 'last_source'"},
};
static const struct only contacts_only[] = {
    {"calls", "r.kind = 'call'", NULL},
    {"leads", "r.kind = 'lead'", NULL},
    /* the funnel's and sources' unique contacts: the people among them */
    {"unique", NULL, "r.person"},
    {NULL, NULL, NULL},
};
static const struct only persons_only[] = {
    {"new", AN_NEW_PERSON_SQL("r"), NULL},
    {"new_booked", AN_NEW_PERSON_SQL("r") " AND " AN_NEW_PERSON_BOOKED_SQL("r", ""), NULL},
    {NULL, NULL, NULL},
};

/* The funnel's and sources' contacts: ended inbound calls and leads, as
 * one kind of record; person is who they are (a caller whose number is
 * unknown is a person of their own), as the reports count them. */
#define CONTACTS_TABLE                                                                             \
    "(SELECT c.network_id, c.hour, c.started_at AS at, c.call_id AS id, 'call' AS kind,"           \
    " c.clinic_id, c.source, c.medium, c.campaign, c.patient_class, c.channel,"                    \
    " coalesce(c.contact_key, c.call_id::text) AS person"                                          \
    " FROM analytics.calls c WHERE c.inbound = 1"                                                  \
    " UNION ALL SELECT l.network_id, l.hour, l.received_at, l.lead_id, 'lead', l.clinic_id,"       \
    " l.source, l.medium, l.campaign, l.patient_class, l.provider,"                                \
    " coalesce(l.contact_key, l.lead_id::text) FROM analytics.leads l)"
/* A spend row's id as a record's: a UUID made from its key, each part
 * after its length, so that no two keys ("google/ads", "cpc" and "google",
 * "ads/cpc") make one id. */
#define SPEND_ID                                                                                   \
    "md5(length(r.network_id) || ':' || r.network_id || r.day || length(r.source) || ':' ||"       \
    " r.source || length(r.medium) || ':' || r.medium || length(r.campaign) || ':' ||"             \
    " r.campaign || length(r.clinic_id) || ':' || r.clinic_id)::uuid"
static const struct only spend_only[] = {
    {NULL, NULL, NULL},
};
/* A person's id as a record's: a UUID made from who they are. */
#define PERSON_ID "md5(r.network_id || '/' || r.contact_key)::uuid"
static const struct only tasks_only[] = {
    {"callback", CALLBACK, NULL},
    {"callback_closed", CALLBACK " AND r.status = 'closed'", NULL},
    {"callback_on_time", CALLBACK " AND r.status = 'closed' AND r.on_time", NULL},
    {"callback_expired", CALLBACK " AND r.status = 'expired'", NULL},
    {NULL, NULL, NULL},
};

/* A kind of record: its table (alias r), the local hour and time it is
 * placed by, its id, the column of each group it can be filtered by
 * (NULL: not), the record as JSON, its narrowings, and its table under
 * the last non-direct attribution (NULL: the same). */
struct kind {
    const char *name, *table, *hour, *at, *id;
    const char *cols[AN_G_DAY]; /* the text groups; the time groups come from hour */
    const char *json;
    const struct only *only;
    const char *table_last;
};

/* An appointment as a record, whether placed by its visit or its booking. */
#define APPOINTMENT_JSON                                                                           \
    "json_build_object('appointment_id', r.appointment_id, 'clinic_id', r.clinic_id,"              \
    " 'patient_id', r.patient_id, 'doctor_id', r.doctor_id, 'status', r.status,"                   \
    " 'starts_at', " CF_PG_UTC_MS("r.starts_at") ", 'booked_at', " CF_PG_UTC_MS(                   \
        "r.booked_at") ","                                                                         \
                       " 'amount_paid', r.amount_paid, 'plan_status', r.plan_status,"              \
                       " 'plan_amount', r.plan_amount, 'booking_source', r.booking_source,"        \
                       " 'operator_id', r.operator_id)"

/* An appointment with the ad source it counts under (AN_ATTRIBUTED_SQL). */
#define ATTRIBUTED_JSON                                                                            \
    "(" APPOINTMENT_JSON "::jsonb || jsonb_build_object('source', NULLIF(r.src, ''), 'medium',"    \
    " NULLIF(r.med, ''), 'campaign', NULLIF(r.camp, '')))"
#define ATTRIBUTED_COLS                                                                            \
    {                                                                                              \
        [AN_G_CLINIC] = "r.clinic_id", [AN_G_SOURCE] = "r.src", [AN_G_MEDIUM] = "r.med",           \
        [AN_G_CAMPAIGN] = "r.camp"                                                                 \
    }

/* Each record's JSON is laid out as the SQL it is. */
/* clang-format off */
static const struct kind kinds[] = {
    {"calls", "analytics.calls", "r.hour", "r.started_at", "r.call_id",
     {[AN_G_CLINIC] = "r.clinic_id",
      [AN_G_SOURCE] = "r.source",
      [AN_G_MEDIUM] = "r.medium",
      [AN_G_CAMPAIGN] = "r.campaign",
      [AN_G_OPERATOR] = "r.operator",
      [AN_G_PATIENT_CLASS] = "r.patient_class",
      [AN_G_CHANNEL] = "r.channel"},
     "json_build_object('call_id', r.call_id, 'clinic_id', NULLIF(r.clinic_id, ''),"
     " 'started_at', " CF_PG_UTC_MS("r.started_at") ", 'direction', r.direction,"
     " 'status', r.status, 'outcome', NULLIF(r.outcome, ''), 'source', NULLIF(r.source, ''),"
     " 'medium', NULLIF(r.medium, ''), 'campaign', NULLIF(r.campaign, ''),"
     " 'operator', NULLIF(r.operator, ''), 'agent_group', NULLIF(r.agent_group, ''),"
     " 'patient_class', NULLIF(r.patient_class, ''), 'channel', r.channel,"
     " 'unique', r.unique_calls = 1, 'targeted', r.targeted = 1, 'missed', r.missed = 1,"
     " 'talk_seconds', r.talk_seconds)",
     calls_only, NULL},
    {"leads", "analytics.leads", "r.hour", "r.received_at", "r.lead_id",
     {[AN_G_CLINIC] = "r.clinic_id",
      [AN_G_SOURCE] = "r.source",
      [AN_G_MEDIUM] = "r.medium",
      [AN_G_CAMPAIGN] = "r.campaign",
      [AN_G_OPERATOR] = "r.responder",
      [AN_G_PATIENT_CLASS] = "r.patient_class",
      [AN_G_CHANNEL] = "r.provider"},
     "json_build_object('lead_id', r.lead_id, 'clinic_id', NULLIF(r.clinic_id, ''),"
     " 'received_at', " CF_PG_UTC_MS("r.received_at") ", 'provider', r.provider,"
     " 'channel_id', r.channel_id, 'source', NULLIF(r.source, ''),"
     " 'medium', NULLIF(r.medium, ''), 'campaign', NULLIF(r.campaign, ''),"
     " 'patient_class', r.patient_class, 'messages', r.messages, 'status', r.status,"
     " 'responded_at', " CF_PG_UTC_MS("r.responded_at") ", 'working_seconds', r.working_seconds,"
     " 'response_seconds', r.response_seconds, 'responder', r.responder,"
     " 'sla_breached', " AN_LEAD_BREACHED("r") ")",
     leads_only, NULL},
    {"appointments", "analytics.appointments", "r.start_hour", "r.starts_at", "r.appointment_id",
     {[AN_G_CLINIC] = "r.clinic_id",
      [AN_G_OPERATOR] = "r.operator_id",
      [AN_G_DOCTOR] = "r.doctor_id"},
     APPOINTMENT_JSON, appointments_only, NULL},
    /* the sources report's bookings (placed by when they were booked) and
     * visits, by the source their person counts under in the attribution
     * asked (attribution=) */
    {"attributed_bookings", AN_ATTRIBUTED_SQL("first"), "r.booked_hour", "r.booked_at",
     "r.appointment_id", ATTRIBUTED_COLS, ATTRIBUTED_JSON, appointments_only,
     AN_ATTRIBUTED_SQL("last")},
    {"attributed_visits", AN_ATTRIBUTED_SQL("first"), "r.start_hour", "r.starts_at",
     "r.appointment_id", ATTRIBUTED_COLS, ATTRIBUTED_JSON, appointments_only,
     AN_ATTRIBUTED_SQL("last")},
    /* the same appointments placed by when they were booked: the funnel's
     * and the operators' bookings */
    {"bookings", "analytics.appointments", "r.booked_hour", "r.booked_at", "r.appointment_id",
     {[AN_G_CLINIC] = "r.clinic_id",
      [AN_G_OPERATOR] = "r.operator_id",
      [AN_G_DOCTOR] = "r.doctor_id"},
     APPOINTMENT_JSON, appointments_only, NULL},
    {"contacts", CONTACTS_TABLE, "r.hour", "r.at", "r.id",
     {[AN_G_CLINIC] = "r.clinic_id",
      [AN_G_SOURCE] = "r.source",
      [AN_G_MEDIUM] = "r.medium",
      [AN_G_CAMPAIGN] = "r.campaign",
      [AN_G_PATIENT_CLASS] = "r.patient_class",
      [AN_G_CHANNEL] = "r.channel"},
     "json_build_object('id', r.id, 'kind', r.kind, 'clinic_id', NULLIF(r.clinic_id, ''),"
     " 'at', " CF_PG_UTC_MS("r.at") ", 'channel', r.channel, 'source', NULLIF(r.source, ''),"
     " 'medium', NULLIF(r.medium, ''), 'campaign', NULLIF(r.campaign, ''),"
     " 'patient_class', NULLIF(r.patient_class, ''))",
     contacts_only, NULL},
    /* a visit's reminder outcomes (not campaigns' or surveys') */
    {"reminders", "(SELECT * FROM analytics.reminder_outcomes WHERE kind = 'reminder')", "r.hour",
     "r.at", "r.event_id",
     {[AN_G_CLINIC] = "r.clinic_id"},
     "json_build_object('event_id', r.event_id, 'at', " CF_PG_UTC_MS("r.at") ","
     " 'clinic_id', r.clinic_id, 'appointment_id', r.appointment_id, 'patient_id', r.patient_id,"
     " 'send_id', r.send_id, 'channel', r.channel, 'attempt', r.attempt, 'gateway', r.gateway,"
     " 'outcome', r.outcome, 'reminder_status', r.reminder_status, 'duration_s', r.duration_s,"
     " 'sms_segments', r.sms_segments, 'sms_cost', r.sms_cost)",
     reminders_only, NULL},
    /* survey answers, by when they were given and the visit's doctor */
    {"nps", "analytics.nps_answers", "r.hour", "r.at", "r.job_id",
     {[AN_G_CLINIC] = "r.clinic_id",
      [AN_G_DOCTOR] = "r.doctor_id"},
     "json_build_object('job_id', r.job_id, 'at', " CF_PG_UTC_MS("r.at") ","
     " 'clinic_id', r.clinic_id, 'doctor_id', r.doctor_id, 'score', r.score,"
     " 'patient_id', r.patient_id, 'appointment_id', r.appointment_id)",
     nps_only, NULL},
    /* campaign members (recall, reinvite), by when they became members */
    {"members", "analytics.campaign_members", "r.hour", "r.at", "r.job_id",
     {[AN_G_CLINIC] = "r.clinic_id",
      [AN_G_CAMPAIGN] = "r.campaign"},
     "json_build_object('job_id', r.job_id, 'at', " CF_PG_UTC_MS("r.at") ","
     " 'clinic_id', r.clinic_id, 'campaign', r.campaign, 'group', r.grp,"
     " 'patient_id', r.patient_id, 'appointment_id', r.appointment_id)",
     members_only, NULL},
    /* the people who called or wrote, by their first contact: the
     * funnel's new people */
    {"persons", "analytics.persons", "r.first_hour", "r.first_at", PERSON_ID,
     {[AN_G_CLINIC] = "r.first_clinic",
      [AN_G_SOURCE] = "r.first_source",
      [AN_G_MEDIUM] = "r.first_medium",
      [AN_G_CAMPAIGN] = "r.first_campaign",
      [AN_G_PATIENT_CLASS] = "r.first_class",
      [AN_G_CHANNEL] = "r.first_channel"},
     "json_build_object('person_id', " PERSON_ID ", 'first_at', " CF_PG_UTC_MS("r.first_at") ","
     " 'clinic_id', NULLIF(r.first_clinic, ''), 'channel', NULLIF(r.first_channel, ''),"
     " 'source', NULLIF(r.first_source, ''), 'medium', NULLIF(r.first_medium, ''),"
     " 'campaign', NULLIF(r.first_campaign, ''), 'patient_class', NULLIF(r.first_class, ''),"
     " 'last_at', " CF_PG_UTC_MS("r.last_at") ", 'last_source', NULLIF(r.last_source, ''))",
     persons_only, NULL},
    /* ad spend as PUT /v1/spend gave it, by its day: a source's rows add
     * up to the sources report's spend when no clinic is asked (a
     * network-wide row, clinic_id null, is split among the clinics there) */
    {"spend", "analytics.spend", "r.day::timestamp", "(r.day::timestamp AT TIME ZONE 'UTC')",
     SPEND_ID,
     {[AN_G_CLINIC] = "r.clinic_id",
      [AN_G_SOURCE] = "r.source",
      [AN_G_MEDIUM] = "r.medium",
      [AN_G_CAMPAIGN] = "r.campaign"},
     "json_build_object('spend_id', " SPEND_ID ", 'day', r.day, 'source', NULLIF(r.source, ''),"
     " 'medium', NULLIF(r.medium, ''), 'campaign', NULLIF(r.campaign, ''),"
     " 'clinic_id', NULLIF(r.clinic_id, ''), 'amount', r.amount, 'currency', r.currency)",
     spend_only, NULL},
    /* callback tasks by their clinic, and by their first missed call's
     * dimensions as the calls report groups them */
    {"tasks", "analytics.tasks", "r.hour", "r.opened_at", "r.task_id",
     {[AN_G_CLINIC] = "r.clinic_id",
      [AN_G_SOURCE] = "r.call_source",
      [AN_G_MEDIUM] = "r.call_medium",
      [AN_G_CAMPAIGN] = "r.call_campaign",
      [AN_G_OPERATOR] = "r.call_operator",
      [AN_G_PATIENT_CLASS] = "r.call_patient_class",
      [AN_G_CHANNEL] = "r.call_channel"},
     "json_build_object('task_id', r.task_id, 'kind', r.kind, 'status', r.status,"
     " 'clinic_id', NULLIF(r.clinic_id, ''), 'source', NULLIF(r.call_source, ''),"
     " 'opened_at', " CF_PG_UTC_MS("r.opened_at") ","
     " 'due_at', " CF_PG_UTC_MS("r.due_at") ", 'closed_at', " CF_PG_UTC_MS("r.closed_at") ","
     " 'on_time', r.on_time, 'seconds_to_callback', r.seconds_to_callback,"
     " 'seconds_to_response', r.seconds_to_response, 'source_call_id', r.source_call_id,"
     " 'lead_id', r.lead_id, 'appointment_id', r.appointment_id)",
     tasks_only, NULL},
};
/* clang-format on */

/* 1 if at is a time as a cursor of ours holds it (RFC 3339 in UTC, "Z",
 * from 1970, as every time the records hold): PostgreSQL reads it as a
 * timestamptz, while a time it refuses (year 0, an offset of 16 hours or
 * more) would fail the page's statement, a 500 for what is a bad
 * parameter. The text itself goes on to the statement: it keeps the
 * microseconds the parser would drop. */
static int cursor_time_valid(const char *at)
{
    const size_t n = strlen(at);
    int64_t ms;
    return n > 4 && at[n - 1] == 'Z' && cf_time_parse(at, &ms) == 0;
}

int an_records_page(const char *limit, const char *cursor, struct an_records_query *q,
                    struct an_param_error *err)
{
    q->limit = AN_RECORDS_LIMIT_DEFAULT;
    if (limit) {
        char *end = NULL;
        long v = strtol(limit, &end, 10);
        if (!*limit || *end || v < 1 || v > AN_RECORDS_LIMIT_MAX)
            return an_refuse(err, "invalid_field", "limit", "limit is 1 to 1000");
        q->limit = v;
    }
    if (cursor) {
        /* hex of "time|id" */
        size_t n = strlen(cursor);
        char text[160];
        if (n % 2 || n / 2 >= sizeof(text))
            return an_refuse(err, "invalid_field", "cursor", "not a cursor of this API");
        if (cf_unhex(cursor, n / 2, (uint8_t *)text) != 0)
            return an_refuse(err, "invalid_field", "cursor", "not a cursor of this API");
        text[n / 2] = '\0';
        char *bar = strchr(text, '|');
        if (!bar || !cf_uuid_valid(bar + 1))
            return an_refuse(err, "invalid_field", "cursor", "not a cursor of this API");
        *bar = '\0';
        if (!cursor_time_valid(text))
            return an_refuse(err, "invalid_field", "cursor", "not a cursor of this API");
        q->cursor_at = strdup(text);
        q->cursor_id = strdup(bar + 1);
        if (!q->cursor_at || !q->cursor_id)
            abort();
    }
    return 0;
}

void an_records_clear(struct an_records_query *q)
{
    an_report_params_clear(&q->report);
    free(q->cursor_at);
    free(q->cursor_id);
    q->cursor_at = q->cursor_id = NULL;
}

char *an_records_cursor(const char *at, const char *id)
{
    char text[160];
    const int n = snprintf(text, sizeof(text), "%s|%s", at, id);
    char *hex = malloc(2 * (size_t)n + 1);
    if (!hex)
        abort();
    cf_hex((const uint8_t *)text, (size_t)n, hex);
    return hex;
}

static void param(char **params, int *nparams, const char *v)
{
    params[(*nparams)++] = strdup(v);
    if (!params[*nparams - 1])
        abort();
}

/* "$n" of the next parameter. */
static void placeholder(struct cf_strbuf *b, int n, const char *cast)
{
    char ph[48]; /* "$" and an int's 11 characters, then a cast of our own */
    snprintf(ph, sizeof(ph), "$%d%s", n, cast);
    cf_strbuf_add(b, ph);
}

char *an_records_sql(const char *kind_name, const char *network_id,
                     const struct an_records_query *q, char **params, int *nparams,
                     struct an_param_error *err)
{
    const struct kind *k = NULL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].name, kind_name) == 0)
            k = &kinds[i];
    if (!k) {
        an_refuse(err, "not_found", "kind",
                  "records are contacts, calls, leads, appointments, bookings,"
                  " attributed_bookings, attributed_visits, persons, reminders, nps, members,"
                  " spend or tasks");
        return NULL;
    }
    /* a text group the kind has no column for cannot be asked */
    for (int g = 0; g < AN_G_DAY; g++)
        if ((q->groups[g] || (g == AN_G_SOURCE && q->report.source)) && !k->cols[g]) {
            char msg[120];
            snprintf(msg, sizeof(msg), "%s cannot be filtered by %s", k->name, an_group_names[g]);
            an_refuse(err, "invalid_field", an_group_names[g], msg);
            return NULL;
        }

    /* the narrowing asked for, one of the kind's */
    const struct only *only = NULL;
    if (q->only) {
        for (only = k->only; only->name && strcmp(only->name, q->only) != 0; only++)
            ;
        if (!only->name) {
            char msg[sizeof(err->message)];
            int n = snprintf(msg, sizeof(msg), "only for %s is one of:", k->name);
            for (const struct only *o = k->only; o->name && n >= 0 && (size_t)n < sizeof(msg); o++)
                n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%s %s", o == k->only ? "" : ",",
                              o->name);
            an_refuse(err, "invalid_field", "only", msg);
            return NULL;
        }
    }

    struct cf_strbuf b = {0};
    *nparams = 0;
    param(params, nparams, network_id);
    param(params, nparams, q->report.from);
    param(params, nparams, q->report.to_next);
    cf_strbuf_add(&b, "SELECT ");
    const char *hidden = NULL;
    for (size_t i = 0; q->report.walled && i < sizeof(walled_hidden) / sizeof(walled_hidden[0]);
         i++)
        if (strcmp(walled_hidden[i].kind, k->name) == 0)
            hidden = walled_hidden[i].members;
    if (hidden) {
        cf_strbuf_add(&b, "(");
        cf_strbuf_add(&b, k->json);
        cf_strbuf_add(&b, ")::jsonb");
        cf_strbuf_add(&b, hidden);
    } else {
        cf_strbuf_add(&b, k->json);
    }
    cf_strbuf_add(&b, "::text, ");
    cf_strbuf_add(&b, "to_char(");
    cf_strbuf_add(&b, k->at);
    cf_strbuf_add(&b, " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), ");
    cf_strbuf_add(&b, k->id);
    cf_strbuf_add(&b, "::text FROM ");
    /* each person's (send's) first among the row's records: numbered
     * within the selection, then the first of each kept */
    const int firsts = only && only->per;
    if (firsts) {
        cf_strbuf_add(&b, "(SELECT r.*, row_number() OVER (PARTITION BY ");
        cf_strbuf_add(&b, only->per);
        cf_strbuf_add(&b, " ORDER BY ");
        cf_strbuf_add(&b, k->at);
        cf_strbuf_add(&b, ", ");
        cf_strbuf_add(&b, k->id);
        cf_strbuf_add(&b, ") AS nth FROM ");
    }
    cf_strbuf_add(&b, q->report.last_non_direct && k->table_last ? k->table_last : k->table);
    cf_strbuf_add(&b, " r WHERE r.network_id = $1 AND ");
    cf_strbuf_add(&b, k->hour);
    if (whole_months(only)) {
        /* from the first of from's month to the end of to's */
        cf_strbuf_add(&b, " >= date_trunc('month', $2::timestamp) AND ");
        cf_strbuf_add(&b, k->hour);
        cf_strbuf_add(&b, " < date_trunc('month', $3::timestamp - interval '1 microsecond')"
                          " + interval '1 month'");
    } else {
        cf_strbuf_add(&b, " >= $2::timestamp AND ");
        cf_strbuf_add(&b, k->hour);
        cf_strbuf_add(&b, " < $3::timestamp");
    }

    /* the report's clinics ($4, which a walled figure names too) */
    if (q->report.clinics) {
        char *clinics = cf_json_dumps(q->report.clinics);
        param(params, nparams, clinics);
        free(clinics);
        cf_strbuf_add(&b, " AND ");
        cf_strbuf_add(&b, k->cols[AN_G_CLINIC]);
        cf_strbuf_add(&b, " IN (SELECT jsonb_array_elements_text(");
        placeholder(&b, *nparams, "::jsonb))");
    }
    /* what one figure of the row counts */
    const char *where = only ? only->where : NULL;
    for (size_t i = 0; only && q->report.walled && q->report.clinics &&
                       i < sizeof(walled_only) / sizeof(walled_only[0]);
         i++)
        if (strcmp(walled_only[i].kind, k->name) == 0 &&
            strcmp(walled_only[i].only.name, only->name) == 0)
            where = walled_only[i].only.where;
    if (where) {
        cf_strbuf_add(&b, " AND (");
        cf_strbuf_add(&b, where);
        cf_strbuf_add(&b, ")");
    }
    /* and source */
    const char *source = q->report.source ? q->report.source : q->groups[AN_G_SOURCE];
    /* every group value: a text column equal to it ("" also matches none),
     * a time group of the hour */
    for (int g = 0; g < AN_G_COUNT; g++) {
        const char *v = g == AN_G_SOURCE ? source : q->groups[g];
        if (!v)
            continue;
        param(params, nparams, v);
        cf_strbuf_add(&b, " AND ");
        if (g < AN_G_DAY) {
            cf_strbuf_add(&b, "coalesce(");
            cf_strbuf_add(&b, k->cols[g]);
            cf_strbuf_add(&b, ", '') = ");
            placeholder(&b, *nparams, "::text");
            continue;
        }
        /* the time groups, over the local hour */
        static const char *const time_fn[][2] = {
            [AN_G_DAY] = {"to_char(", ", 'YYYY-MM-DD') = "},
            [AN_G_WEEK] = {"to_char(date_trunc('week', ", "), 'YYYY-MM-DD') = "},
            [AN_G_MONTH] = {"to_char(", ", 'YYYY-MM') = "},
            [AN_G_HOUR] = {"extract(hour FROM ", ")::text = "},
            [AN_G_WEEKDAY] = {"extract(isodow FROM ", ")::text = "},
        };
        cf_strbuf_add(&b, time_fn[g][0]);
        cf_strbuf_add(&b, k->hour);
        cf_strbuf_add(&b, time_fn[g][1]);
        placeholder(&b, *nparams, "::text");
    }
    if (firsts)
        cf_strbuf_add(&b, ") r WHERE r.nth = 1");
    /* the page after the cursor's record, in time and id order */
    if (q->cursor_at) {
        param(params, nparams, q->cursor_at);
        param(params, nparams, q->cursor_id);
        cf_strbuf_add(&b, " AND (");
        cf_strbuf_add(&b, k->at);
        cf_strbuf_add(&b, ", ");
        cf_strbuf_add(&b, k->id);
        cf_strbuf_add(&b, ") > (");
        placeholder(&b, *nparams - 1, "::timestamptz, ");
        placeholder(&b, *nparams, "::uuid)");
    }
    char limit[32];
    snprintf(limit, sizeof(limit), " LIMIT %ld", q->limit + 1);
    cf_strbuf_add(&b, " ORDER BY ");
    cf_strbuf_add(&b, k->at);
    cf_strbuf_add(&b, ", ");
    cf_strbuf_add(&b, k->id);
    cf_strbuf_add(&b, limit);
    return cf_strbuf_take(&b);
}
