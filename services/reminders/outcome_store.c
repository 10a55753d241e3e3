/*
 * The outcomes' store (outcome.h): every statement an outcome runs on
 * reminders.sends, reminder_jobs, appointments, opt_outs and the SMS
 * replies taken (sms_replies).
 */
#include "outcome.h"

#include <stdio.h>
#include <string.h>

#include "common/json_text.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/xmalloc.h"
#include "job_sql.h"

int outcome_store_reply_take(PGconn *conn, const char *reply_id, const char *network_id,
                             const char *channel_id, const char *message_id, int *taken,
                             char **answer, char *errbuf, size_t errbuf_size)
{
    const char *params[] = {reply_id, network_id, channel_id, message_id};
    PGresult *res = NULL;
    *taken = 0;
    *answer = NULL;
    /* The key's conflict waits for a first still being applied; the answer
     * is read by a statement of its own, whose snapshot has its commit. */
    int rc = cf_pg_exec_any(conn,
                            "INSERT INTO reminders.sms_replies (reply_id, network_id, channel_id,"
                            " message_id) VALUES ($1::uuid, $2, $3, $4)"
                            " ON CONFLICT (reply_id) DO NOTHING RETURNING 1",
                            4, params, taken, errbuf, errbuf_size);
    if (rc != 0 || *taken)
        return rc;
    rc = cf_pg_exec(conn, "SELECT answer FROM reminders.sms_replies WHERE reply_id = $1::uuid", 1,
                    params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        *answer = cf_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

int outcome_store_reply_answer(PGconn *conn, const char *reply_id, const char *answer, char *errbuf,
                               size_t errbuf_size)
{
    const char *params[] = {reply_id, answer};
    return cf_pg_exec(conn,
                      "UPDATE reminders.sms_replies SET answer = $2 WHERE reply_id = $1::uuid", 2,
                      params, NULL, errbuf, errbuf_size);
}

int outcome_store_lock_visit(PGconn *conn, const char *send_id, char *errbuf, size_t errbuf_size)
{
    const char *params[] = {send_id};
    /* The visit first, as the MIS's changes take it (mis_store.c: the
     * appointment, then its jobs): locked the other way round, a report
     * beside a change of its visit (moved, cancelled) made a deadlock,
     * and PostgreSQL aborted one of the two. A recall's send has none. */
    return cf_pg_exec(conn,
                      "SELECT 1 FROM reminders.appointments a WHERE a.appointment_id ="
                      " (SELECT j.appointment_id FROM reminders.sends s"
                      " JOIN reminders.reminder_jobs j ON j.job_id = s.job_id"
                      " WHERE s.send_id = $1::uuid) FOR UPDATE OF a",
                      1, params, NULL, errbuf, errbuf_size);
}

int outcome_store_lock(PGconn *conn, const char *send_id, json_t **row, char *errbuf,
                       size_t errbuf_size)
{
    const char *params[] = {send_id};
    PGresult *res = NULL;
    *row = NULL;
    int rc = outcome_store_lock_visit(conn, send_id, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    rc = cf_pg_exec(
        conn,
        "SELECT json_build_object('send_id', s.send_id, 'job_id', s.job_id, 'attempt',"
        " s.attempt, 'channel', s.channel, 'gateway', coalesce(s.gateway, 'none'), 'phone', "
        "s.phone,"
        " 'outcome',"
        " s.outcome, 'outcome_at_us', (extract(epoch FROM s.outcome_at) * 1000000)::bigint,"
        " 'patient_id', s.patient_id, 'clinic_id', s.clinic_id, 'network_id',"
        " j.network_id, 'appointment_id', j.appointment_id, 'job_status', j.status,"
        " 'job_attempt', j.attempt, 'job_result', j.result,"
        " 'visit_at', (extract(epoch FROM j.visit_at) * 1000)::bigint,"
        " 'kind', j.kind, 'current', " JOB_CURRENT_SQL ", 'segments', s.segments,"
        " 'cost_minor', s.cost_minor, 'currency', s.currency, 'cost_told', s.cost_told,"
        " 'patient_erased', EXISTS (SELECT 1 FROM reminders.patients p"
        " WHERE p.patient_id = s.patient_id AND p.erased_at IS NOT NULL))::text"
        " FROM reminders.sends s JOIN reminders.reminder_jobs j ON j.job_id = s.job_id"
        " LEFT JOIN reminders.appointments a ON a.appointment_id = j.appointment_id"
        " WHERE s.send_id = $1::uuid FOR UPDATE OF s, j",
        1, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1)
        *row = cf_json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    return rc;
}

int outcome_store_record(PGconn *conn, const struct reminders_outcome *o, int cost_told,
                         char *errbuf, size_t errbuf_size)
{
    char duration[24];
    snprintf(duration, sizeof(duration), "%ld", o->duration_s);
    const char *params[] = {o->send_id,
                            o->outcome,
                            o->provider_ref,
                            o->recording_url,
                            o->duration_s >= 0 ? duration : NULL,
                            cost_told ? "t" : "f"};
    return cf_pg_exec(conn,
                      /* a report that the send went ends an unknown one: sent
                       * after all (an SMS reply then finds it) */
                      "UPDATE reminders.sends SET outcome = $2, outcome_at = now(),"
                      " status = CASE WHEN status = 'unknown'"
                      "  AND $2 NOT IN ('skipped', 'failed', 'unknown') THEN 'sent'"
                      "  ELSE status END,"
                      " provider_ref = coalesce($3, provider_ref),"
                      " recording_url = coalesce($4, recording_url),"
                      " duration_s = coalesce($5::int, duration_s),"
                      " cost_told = cost_told OR $6::boolean, updated_at = now()"
                      " WHERE send_id = $1::uuid",
                      6, params, NULL, errbuf, errbuf_size);
}

int outcome_store_details(PGconn *conn, const struct reminders_outcome *o, char *errbuf,
                          size_t errbuf_size)
{
    char duration[24];
    snprintf(duration, sizeof(duration), "%ld", o->duration_s);
    const char *params[] = {o->send_id, o->provider_ref, o->recording_url,
                            o->duration_s >= 0 ? duration : NULL};
    if (!params[1] && !params[2] && !params[3])
        return 0;
    return cf_pg_exec(conn,
                      "UPDATE reminders.sends SET provider_ref = coalesce(provider_ref, $2::text),"
                      " recording_url = coalesce(recording_url, $3::text),"
                      " duration_s = coalesce(duration_s, $4::int), updated_at = now()"
                      " WHERE send_id = $1::uuid AND (provider_ref IS NULL AND $2::text IS NOT NULL"
                      " OR recording_url IS NULL AND $3::text IS NOT NULL"
                      " OR duration_s IS NULL AND $4::int IS NOT NULL)",
                      4, params, NULL, errbuf, errbuf_size);
}

int outcome_store_job(PGconn *conn, const char *job_id, const char *result,
                      const struct ladder_next *next, char *errbuf, size_t errbuf_size)
{
    char attempt[16], due[32];
    if (!next->next_channel) {
        const char *params[] = {job_id, result, next->waits ? "emitted" : "done"};
        return cf_pg_exec(conn,
                          "UPDATE reminders.reminder_jobs SET status = $3, result = $2,"
                          " updated_at = now() WHERE job_id = $1::uuid",
                          3, params, NULL, errbuf, errbuf_size);
    }
    snprintf(attempt, sizeof(attempt), "%d", next->next_attempt);
    cf_time_format(next->next_due_ms, due);
    const char *params[] = {job_id, result, next->next_channel, attempt, due};
    return cf_pg_exec(conn,
                      "UPDATE reminders.reminder_jobs SET status = 'pending', result = $2,"
                      " channel = $3, attempt = $4::int, due_at = $5::timestamptz,"
                      " late_from = NULL, updated_at = now() WHERE job_id = $1::uuid",
                      5, params, NULL, errbuf, errbuf_size);
}

int outcome_store_task_opened(PGconn *conn, const char *task_id, const char *job_id,
                              const char *reason, int64_t opened_ms, int64_t due_ms, char *errbuf,
                              size_t errbuf_size)
{
    char opened[32], due[32];
    cf_time_format(opened_ms, opened);
    cf_time_format(due_ms, due);
    const char *params[] = {task_id, job_id, reason, opened, due};
    return cf_pg_exec(conn,
                      "INSERT INTO reminders.tasks (task_id, job_id, reason, opened_at, due_at)"
                      " VALUES ($1::uuid, $2::uuid, $3, $4::timestamptz, $5::timestamptz)"
                      " ON CONFLICT (task_id) DO NOTHING",
                      5, params, NULL, errbuf, errbuf_size);
}

int outcome_store_tasks_close(PGconn *conn, const char *job_id, const char *reason,
                              int64_t closed_ms, json_t **closed, char *errbuf, size_t errbuf_size)
{
    char at[32];
    cf_time_format(closed_ms, at);
    const char *params[] = {job_id, reason, at};
    PGresult *res = NULL;
    *closed = json_array();
    /* the job's, and its visit's other reminders' for the same patient: a
     * visit moved since, or a second reminder before it */
    int rc = cf_pg_exec(
        conn,
        "WITH jobs AS (SELECT j.job_id FROM reminders.reminder_jobs j"
        " JOIN reminders.reminder_jobs me ON me.job_id = $1::uuid"
        " WHERE j.job_id = me.job_id OR (me.kind = 'reminder' AND j.kind = 'reminder'"
        " AND j.appointment_id = me.appointment_id AND j.patient_id = me.patient_id))"
        " UPDATE reminders.tasks t SET status = 'closed', closed_at = $3::timestamptz"
        " FROM jobs WHERE t.job_id = jobs.job_id AND t.reason = $2 AND t.status = 'open'"
        " RETURNING t.job_id, " CF_PG_UTC_MS("t.opened_at") ", " CF_PG_UTC_MS(
            "t.due_at") ","
                        " (SELECT s.phone FROM reminders.sends s WHERE s.job_id = t.job_id"
                        " AND s.phone IS NOT NULL ORDER BY s.attempt DESC, s.created_at DESC LIMIT "
                        "1)",
        3, params, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        int64_t opened = 0, due = 0;
        cf_time_parse(PQgetvalue(res, i, 1), &opened);
        cf_time_parse(PQgetvalue(res, i, 2), &due);
        json_t *j_t = json_pack("{s:s, s:I, s:I}", "job_id", PQgetvalue(res, i, 0), "opened",
                                (json_int_t)opened, "due", (json_int_t)due);
        if (!PQgetisnull(res, i, 3))
            json_object_set_new(j_t, "phone", json_string(PQgetvalue(res, i, 3)));
        json_array_append_new(*closed, j_t);
    }
    PQclear(res);
    return rc;
}

int outcome_store_tasks_close_visits(PGconn *conn, const json_t *visits, int64_t closed_ms,
                                     json_t **closed, char *errbuf, size_t errbuf_size)
{
    char at[32];
    PGresult *res = NULL;
    cf_time_format(closed_ms, at);
    json_t *param = json_pack("{s:O, s:s}", "v", visits, "at", at);
    *closed = json_array();
    int rc = cf_pg_exec_json(
        conn,
        "WITH v AS (SELECT * FROM jsonb_to_recordset($1::jsonb->'v') AS v(appointment_id uuid,"
        " visit_at timestamptz, reminds boolean, reminded boolean, patient_id uuid,"
        " clinic_id text))"
        " UPDATE reminders.tasks t SET status = 'closed',"
        " closed_at = ($1::jsonb->>'at')::timestamptz"
        " FROM reminders.reminder_jobs j, v"
        " WHERE t.job_id = j.job_id AND t.status = 'open'"
        " AND t.reason IN ('not_confirmed', 'declined', 'reschedule')"
        " AND j.appointment_id = v.appointment_id"
        /* cancelled, come or missed; given to another patient or clinic */
        " AND (NOT v.reminds OR j.patient_id <> v.patient_id OR j.clinic_id <> v.clinic_id"
        /* moved: a request to move it is done; a call to confirm it only
         * when the new time has a reminder still to go out (moved within
         * the hour, it has none, and the front desk still calls) */
        " OR (j.visit_at <> v.visit_at AND (t.reason <> 'not_confirmed' OR v.reminded)))"
        " RETURNING t.job_id, t.reason, " CF_PG_UTC_MS("t.opened_at") ", " CF_PG_UTC_MS(
            "t.due_at") ", j.network_id, j.clinic_id, j.appointment_id, j.patient_id,"
                        " (SELECT s.phone FROM reminders.sends s WHERE s.job_id = t.job_id"
                        " AND s.phone IS NOT NULL ORDER BY s.attempt DESC, s.created_at DESC LIMIT "
                        "1)",
        param, &res, errbuf, errbuf_size);
    json_decref(param);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        int64_t opened = 0, due = 0;
        cf_time_parse(PQgetvalue(res, i, 2), &opened);
        cf_time_parse(PQgetvalue(res, i, 3), &due);
        json_t *j_t = json_pack(
            "{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "job_id", PQgetvalue(res, i, 0), "reason",
            PQgetvalue(res, i, 1), "opened", (json_int_t)opened, "due", (json_int_t)due,
            "network_id", PQgetvalue(res, i, 4), "clinic_id", PQgetvalue(res, i, 5),
            "appointment_id", PQgetvalue(res, i, 6), "patient_id", PQgetvalue(res, i, 7));
        if (!PQgetisnull(res, i, 8))
            json_object_set_new(j_t, "phone", json_string(PQgetvalue(res, i, 8)));
        json_array_append_new(*closed, j_t);
    }
    PQclear(res);
    return rc;
}

int outcome_store_reminder_status(PGconn *conn, const char *appointment_id, const char *status,
                                  char *errbuf, size_t errbuf_size)
{
    const char *params[] = {appointment_id, status};
    return cf_pg_exec(conn,
                      "UPDATE reminders.appointments SET reminder_status = $2"
                      " WHERE appointment_id = $1::uuid"
                      /* a reminder nobody answered leaves the patient's
                       * answer to another one as it is (ladder_answered) */
                      " AND ($2 <> 'not_confirmed' OR reminder_status IS NULL"
                      " OR reminder_status NOT IN ('confirmed', 'declined',"
                      " 'reschedule_requested'))",
                      2, params, NULL, errbuf, errbuf_size);
}

int outcome_store_opt_out(PGconn *conn, const char *network_id, const char *phone,
                          const char *channel, const char *source, char *errbuf, size_t errbuf_size)
{
    const char *params[] = {network_id, phone, channel, source};
    return cf_pg_exec(conn,
                      "INSERT INTO reminders.opt_outs (network_id, phone, channel, source)"
                      " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                      4, params, NULL, errbuf, errbuf_size);
}
