/*
 * analytics' fact statements (call_store.h): each one jsonb_to_recordset
 * over the batch's rows.
 */
#include "call_store.h"

#include <string.h>

#include "common/json_text.h"
#include "common/pg.h"

#define DIMS_TYPED                                                                                 \
    "clinic_id text, source text, medium text, campaign text, operator text,"                      \
    " patient_class text, channel text"
#define DIMS "clinic_id, source, medium, campaign, operator, patient_class, channel"
#define COUNTS_TYPED                                                                               \
    "inbound bigint, outbound bigint, answered bigint, unique_calls bigint, targeted bigint,"      \
    " missed bigint, abandoned bigint, answered_call_center bigint,"                               \
    " answered_reception bigint, talk_seconds bigint, handled bigint, inbound_talk_seconds bigint"
#define COUNTS                                                                                     \
    "inbound, outbound, answered, unique_calls, targeted, missed, abandoned,"                      \
    " answered_call_center, answered_reception, talk_seconds, handled, inbound_talk_seconds"
#define COUNTS_SUMMED                                                                              \
    "sum(inbound), sum(outbound), sum(answered), sum(unique_calls), sum(targeted), sum(missed),"   \
    " sum(abandoned), sum(answered_call_center), sum(answered_reception), sum(talk_seconds),"      \
    " sum(handled), sum(inbound_talk_seconds)"
/* ON CONFLICT's SET of a rollup (alias h): each count moved by the delta */
#define COUNTS_ADDED                                                                               \
    " inbound = h.inbound + excluded.inbound, outbound = h.outbound + excluded.outbound,"          \
    " answered = h.answered + excluded.answered,"                                                  \
    " unique_calls = h.unique_calls + excluded.unique_calls,"                                      \
    " targeted = h.targeted + excluded.targeted, missed = h.missed + excluded.missed,"             \
    " abandoned = h.abandoned + excluded.abandoned,"                                               \
    " answered_call_center = h.answered_call_center + excluded.answered_call_center,"              \
    " answered_reception = h.answered_reception + excluded.answered_reception,"                    \
    " talk_seconds = h.talk_seconds + excluded.talk_seconds,"                                      \
    " handled = h.handled + excluded.handled,"                                                     \
    " inbound_talk_seconds = h.inbound_talk_seconds + excluded.inbound_talk_seconds"
#define CALL_COLS                                                                                  \
    "call_id, network_id, hour, " DIMS ", started_at, direction, status, outcome, agent_group,"    \
    " contact_key, facts, " COUNTS

int an_calls_stored(PGconn *conn, const json_t *call_ids, json_t *stored, char *errbuf,
                    size_t errbuf_size)
{
    PGresult *res = NULL;
    /* The rows as the new ones are built: times as the events write them. */
    int rc = cf_pg_exec_json(
        conn,
        "SELECT c.call_id::text, json_build_object('call_id', c.call_id, 'network_id',"
        " c.network_id, 'hour', to_char(c.hour, 'YYYY-MM-DD HH24:MI:SS'), 'clinic_id',"
        " c.clinic_id, 'source', c.source, 'medium', c.medium, 'campaign', c.campaign,"
        " 'operator', c.operator, 'patient_class', c.patient_class, 'channel', c.channel,"
        " 'inbound', c.inbound, 'outbound', c.outbound, 'answered', c.answered, 'unique_calls',"
        " c.unique_calls, 'targeted', c.targeted, 'missed', c.missed, 'abandoned', c.abandoned,"
        " 'answered_call_center', c.answered_call_center, 'answered_reception',"
        " c.answered_reception, 'talk_seconds', c.talk_seconds, 'handled', c.handled,"
        " 'inbound_talk_seconds', c.inbound_talk_seconds, 'status', c.status,"
        " 'contact_key', c.contact_key, 'facts', c.facts, 'started_at', " CF_PG_UTC_MS(
            "c.started_at") ")::text"
                            " FROM analytics.calls c WHERE c.call_id IN"
                            " (SELECT jsonb_array_elements_text($1::jsonb)::uuid) ORDER BY "
                            "c.call_id FOR UPDATE",
        call_ids, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    for (int i = 0; i < PQntuples(res); i++)
        json_object_set_new(stored, PQgetvalue(res, i, 0),
                            cf_json_loads(PQgetvalue(res, i, 1), 0, NULL));
    PQclear(res);
    return 0;
}

int an_calls_save(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    return cf_pg_exec_json(
        conn,
        "INSERT INTO analytics.calls (" CALL_COLS ")"
        " SELECT " CALL_COLS " FROM jsonb_to_recordset($1::jsonb) AS r(call_id uuid,"
        " network_id text, hour timestamp, " DIMS_TYPED ", started_at timestamptz,"
        " direction text, status text, outcome text, agent_group text, contact_key text,"
        " facts int, " COUNTS_TYPED ") ORDER BY call_id"
        " ON CONFLICT (call_id) DO UPDATE SET network_id = excluded.network_id,"
        " hour = excluded.hour, clinic_id = excluded.clinic_id, source = excluded.source,"
        " medium = excluded.medium, campaign = excluded.campaign, operator = excluded.operator,"
        " patient_class = excluded.patient_class, channel = excluded.channel,"
        " started_at = excluded.started_at, direction = excluded.direction,"
        " status = excluded.status, outcome = excluded.outcome,"
        " agent_group = excluded.agent_group, contact_key = excluded.contact_key,"
        " facts = excluded.facts, inbound = excluded.inbound, outbound = excluded.outbound,"
        " answered = excluded.answered, unique_calls = excluded.unique_calls,"
        " targeted = excluded.targeted, missed = excluded.missed,"
        " abandoned = excluded.abandoned, answered_call_center = excluded.answered_call_center,"
        " answered_reception = excluded.answered_reception,"
        " talk_seconds = excluded.talk_seconds, handled = excluded.handled,"
        " inbound_talk_seconds = excluded.inbound_talk_seconds, updated_at = now()",
        rows, NULL, errbuf, errbuf_size);
}

int an_call_locks(PGconn *conn, const json_t *call_ids, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(call_ids) == 0)
        return 0;
    return cf_pg_exec_json(conn,
                           "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM"
                           " (SELECT DISTINCT 'analytics.call' || chr(31) || c AS k FROM"
                           " jsonb_array_elements_text($1::jsonb) AS c ORDER BY 1) s",
                           call_ids, NULL, errbuf, errbuf_size);
}

/* A callback task's copy of its first missed call's dimensions */
#define TASK_CALL_DIMS                                                                             \
    "call_source, call_medium, call_campaign, call_operator, call_patient_class, call_channel"
/* the same, of a call (alias a): the task's source call as stored (c), or
 * as the batch has it (r). A task keeps its call's dimensions when the
 * call turns out answered (proto/README.md): one closed or expired before
 * that still counts under its source, and one the call was withdrawn from
 * (closing_call_id = source_call_id) is left out of every figure. */
#define CALL_DIMS_OF(a)                                                                            \
    a ".source, " a ".medium, " a ".campaign, " a ".operator, " a ".patient_class, " a ".channel"
#define CALL_DIMS_C CALL_DIMS_OF("c")
#define CALL_DIMS_R CALL_DIMS_OF("r")

int an_tasks_follow_calls(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(rows) == 0)
        return 0;
    /* planned each time: by source call through the index, whatever the
     * table held when the connection first ran it (common/pg.h) */
    return cf_pg_exec_json_planned(
        conn,
        "UPDATE analytics.tasks t SET (" TASK_CALL_DIMS ", updated_at) = (" CALL_DIMS_R ", now())"
        " FROM jsonb_to_recordset($1::jsonb) AS r(call_id uuid, network_id text, " DIMS_TYPED
        ") WHERE t.source_call_id = r.call_id AND t.network_id = r.network_id"
        " AND (" TASK_CALL_DIMS ") IS DISTINCT FROM (" CALL_DIMS_R ")",
        rows, NULL, errbuf, errbuf_size);
}

#define TASK_COLS                                                                                  \
    "task_id, network_id, kind, status, clinic_id, hour, opened_at, due_at, closed_at,"            \
    " on_time, seconds_to_callback, seconds_to_response, missed_calls, withdrawn,"                 \
    " source_call_id, closing_call_id, lead_id, appointment_id, contact_key, patient_id"

int an_tasks_save(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    /* planned each time: a task's call by its primary key, whatever the
     * calls table held when the connection first ran it (common/pg.h) */
    return cf_pg_exec_json_planned(
        conn,
        "INSERT INTO analytics.tasks (" TASK_COLS ", " TASK_CALL_DIMS ")"
        " SELECT r.*, " CALL_DIMS_C " FROM (SELECT " TASK_COLS
        " FROM jsonb_to_recordset($1::jsonb) AS x(task_id uuid, network_id text, kind text,"
        " status text, clinic_id text, hour timestamp, opened_at timestamptz,"
        " due_at timestamptz, closed_at timestamptz, on_time boolean,"
        " seconds_to_callback integer, seconds_to_response integer, missed_calls integer,"
        " withdrawn boolean, source_call_id uuid, closing_call_id uuid, lead_id uuid,"
        " appointment_id uuid, contact_key text, patient_id uuid)) r"
        /* its first missed call's dimensions, once that call is stored */
        " LEFT JOIN analytics.calls c ON c.call_id = r.source_call_id"
        " AND c.network_id = r.network_id ORDER BY r.task_id"
        " ON CONFLICT (task_id) DO UPDATE SET status = excluded.status,"
        " clinic_id = excluded.clinic_id, hour = excluded.hour, opened_at = excluded.opened_at,"
        " due_at = excluded.due_at, closed_at = excluded.closed_at, on_time = excluded.on_time,"
        " seconds_to_callback = excluded.seconds_to_callback,"
        " seconds_to_response = excluded.seconds_to_response,"
        " missed_calls = excluded.missed_calls, withdrawn = excluded.withdrawn,"
        " source_call_id = excluded.source_call_id, closing_call_id = excluded.closing_call_id,"
        " lead_id = excluded.lead_id, appointment_id = excluded.appointment_id,"
        " contact_key = excluded.contact_key, patient_id = excluded.patient_id,"
        " call_source = excluded.call_source,"
        " call_medium = excluded.call_medium, call_campaign = excluded.call_campaign,"
        " call_operator = excluded.call_operator,"
        " call_patient_class = excluded.call_patient_class,"
        " call_channel = excluded.call_channel, updated_at = now()"
        /* a closed or expired task never opens again: an open state read
         * after it is an older event replayed (from the DLQ) */
        " WHERE NOT (tasks.status IN ('closed', 'expired') AND excluded.status = 'open')",
        rows, NULL, errbuf, errbuf_size);
}

int an_rollup_days(PGconn *conn, const json_t *rows, json_t *snapshots, json_t *hours, char *errbuf,
                   size_t errbuf_size)
{
    PGresult *res = NULL;
    /* Each day's lock first (in one order: no deadlock), held to the
     * commit: a batch of another runner that changed the same day and
     * committed meanwhile is then in the sums below (a statement of its
     * own, after the wait), and its snapshot was produced before ours, so
     * the day's latest message has both. */
    int rc = cf_pg_exec_json(
        conn,
        "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM (SELECT DISTINCT"
        " 'analytics.day' || chr(31) || network_id || chr(31) || clinic_id || chr(31) ||"
        " hour::date AS k FROM jsonb_to_recordset($1::jsonb) AS r(network_id text,"
        " clinic_id text, hour timestamp) ORDER BY 1) s",
        rows, NULL, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    /* the days, then the hours, in one statement (0 and 1 first) */
    rc = cf_pg_exec_json(
        conn,
        "WITH r AS (SELECT DISTINCT network_id, clinic_id, hour FROM"
        " jsonb_to_recordset($1::jsonb) AS r(network_id text, clinic_id text, hour timestamp)),"
        " d AS (SELECT DISTINCT network_id, clinic_id, hour::date AS day FROM r)"
        " SELECT 0, json_build_object('network_id', d.network_id, 'clinic_id', d.clinic_id,"
        " 'day', to_char(d.day, 'YYYY-MM-DD'),"
        " 'inbound', coalesce(sum(h.inbound), 0), 'outbound', coalesce(sum(h.outbound), 0),"
        " 'answered', coalesce(sum(h.answered), 0), 'unique', coalesce(sum(h.unique_calls), 0),"
        " 'targeted', coalesce(sum(h.targeted), 0), 'missed', coalesce(sum(h.missed), 0),"
        " 'abandoned', coalesce(sum(h.abandoned), 0),"
        " 'answered_call_center', coalesce(sum(h.answered_call_center), 0),"
        " 'answered_reception', coalesce(sum(h.answered_reception), 0),"
        " 'handled', coalesce(sum(h.handled), 0),"
        " 'talk_seconds', coalesce(sum(h.talk_seconds), 0))::text"
        " FROM d LEFT JOIN analytics.calls_clinic_hourly h ON h.network_id = d.network_id"
        " AND h.clinic_id = d.clinic_id AND h.hour >= d.day AND h.hour < d.day + 1"
        " GROUP BY d.network_id, d.clinic_id, d.day"
        " UNION ALL SELECT 1, json_build_object('network_id', r.network_id, 'clinic_id',"
        " r.clinic_id, 'day', to_char(r.hour, 'YYYY-MM-DD'), 'hour',"
        " extract(hour FROM r.hour)::int, 'inbound', coalesce(sum(h.inbound), 0),"
        " 'answered', coalesce(sum(h.answered), 0), 'missed', coalesce(sum(h.missed), 0),"
        " 'inbound_talk_seconds', coalesce(sum(h.inbound_talk_seconds), 0))::text"
        " FROM r LEFT JOIN analytics.calls_clinic_hourly h ON h.network_id = r.network_id"
        " AND h.clinic_id = r.clinic_id AND h.hour = r.hour"
        " GROUP BY r.network_id, r.clinic_id, r.hour ORDER BY 1, 2",
        rows, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(strcmp(PQgetvalue(res, i, 0), "0") == 0 ? snapshots : hours,
                              cf_json_loads(PQgetvalue(res, i, 1), 0, NULL));
    PQclear(res);
    return 0;
}

int an_rollup_save(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(rows) == 0)
        return 0;
    int rc = cf_pg_exec_json(
        conn,
        "INSERT INTO analytics.calls_hourly AS h (network_id, hour, " DIMS ", " COUNTS ")"
        " SELECT network_id, hour, " DIMS ", " COUNTS " FROM jsonb_to_recordset($1::jsonb)"
        " AS r(network_id text, hour timestamp, " DIMS_TYPED ", " COUNTS_TYPED ")"
        /* one order for every runner: rows locked in it cannot deadlock */
        " ORDER BY network_id, hour, " DIMS ""
        " ON CONFLICT (network_id, hour, " DIMS ") DO UPDATE SET" COUNTS_ADDED,
        rows, NULL, errbuf, errbuf_size);
    /* the same deltas by clinic and hour alone */
    if (rc == 0)
        rc = cf_pg_exec_json(
            conn,
            "INSERT INTO analytics.calls_clinic_hourly AS h (network_id, hour, clinic_id, " COUNTS
            ") SELECT network_id, hour, clinic_id, " COUNTS_SUMMED
            " FROM jsonb_to_recordset($1::jsonb) AS r(network_id text, hour timestamp,"
            " clinic_id text, " COUNTS_TYPED ") GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            " ON CONFLICT (network_id, hour, clinic_id) DO UPDATE SET" COUNTS_ADDED,
            rows, NULL, errbuf, errbuf_size);
    /* A row a call left (a late update moved it to another clinic or
     * source) may hold no call now: every counted call is inbound or
     * outbound, so such a row is all zeros, and goes, lest a report show
     * its group as a row of zeros. */
    size_t i;
    const json_t *row;
    int left = 0;
    json_array_foreach(rows, i, row)
    {
        left |= json_integer_value(json_object_get(row, "inbound")) < 0 ||
                json_integer_value(json_object_get(row, "outbound")) < 0;
    }
    if (rc == 0 && left)
        rc = cf_pg_exec_json(
            conn,
            "DELETE FROM analytics.calls_hourly h USING jsonb_to_recordset($1::jsonb)"
            " AS r(network_id text, hour timestamp, " DIMS_TYPED ", inbound bigint,"
            " outbound bigint) WHERE (r.inbound < 0 OR r.outbound < 0)"
            " AND h.network_id = r.network_id AND h.hour = r.hour AND h.clinic_id = r.clinic_id"
            " AND h.source = r.source AND h.medium = r.medium AND h.campaign = r.campaign"
            " AND h.operator = r.operator AND h.patient_class = r.patient_class"
            " AND h.channel = r.channel AND h.inbound = 0 AND h.outbound = 0",
            rows, NULL, errbuf, errbuf_size);
    if (rc == 0 && left)
        rc = cf_pg_exec_json(
            conn,
            "DELETE FROM analytics.calls_clinic_hourly h USING (SELECT DISTINCT network_id, hour,"
            " clinic_id FROM jsonb_to_recordset($1::jsonb) AS r(network_id text, hour timestamp,"
            " clinic_id text, inbound bigint, outbound bigint) WHERE r.inbound < 0"
            " OR r.outbound < 0) r WHERE h.network_id = r.network_id AND h.hour = r.hour"
            " AND h.clinic_id = r.clinic_id AND h.inbound = 0 AND h.outbound = 0",
            rows, NULL, errbuf, errbuf_size);
    return rc;
}
