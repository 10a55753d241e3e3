/*
 * The sends' store (dispatch.h): every statement on reminders.sends, and
 * the dispatcher's one read of what a send needs (its send, its patient
 * and appointment, the number's opt-out).
 */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_text.h"
#include "common/pg.h"
#include "common/time.h"
#include "job_sql.h"

int send_store_view(PGconn *conn, const char *send_id, const char *network_id,
                    const char *patient_id, const char *appointment_id, const char *channel,
                    const char *job_id, const char *attempt, struct send_view *out, char *errbuf,
                    size_t errbuf_size)
{
    const char *params[] = {send_id, patient_id, appointment_id, network_id,
                            channel, job_id,     attempt};
    PGresult *res = NULL;
    memset(out, 0, sizeof(*out));
    /* One round trip for what used to take four: a send is a handful of
     * statements, and at a thousand sends a second their round trips are
     * most of the database's work. */
    int rc = cf_pg_exec(
        conn,
        "SELECT s.status, s.gateway, s.reason, " CF_PG_UTC_MS(
            "s.created_at") ", p.patient_id IS NOT NULL, p.erased_at IS NOT NULL,"
                            " CASE WHEN p.erased_at IS NULL THEN p.record::text END,"
                            " a.record::text, EXISTS (SELECT 1 FROM reminders.opt_outs o"
                            " WHERE o.network_id = $4 AND o.phone = p.record->'phones'->>0"
                            " AND o.channel = $5),"
                            " coalesce(j.status = 'emitted' AND j.attempt = $7::int"
                            " AND " JOB_CURRENT_SQL ", false), coalesce(a.reminder_status, ''),"
                            " coalesce(j.status = 'pending' AND j.attempt = $7::int, false)"
                            " FROM (SELECT 1) AS one"
                            " LEFT JOIN reminders.sends s ON s.send_id = $1::uuid"
                            " LEFT JOIN reminders.patients p ON p.patient_id = $2::uuid"
                            " LEFT JOIN reminders.appointments a"
                            " ON a.appointment_id = $3::uuid"
                            " LEFT JOIN reminders.reminder_jobs j ON j.job_id = $6::uuid",
        7, params, &res, errbuf, errbuf_size);
    if (rc != 0 || PQntuples(res) != 1) {
        PQclear(res);
        return rc;
    }
    struct send_state *have = &out->have;
    if (!PQgetisnull(res, 0, 0)) {
        snprintf(have->status, sizeof(have->status), "%s", PQgetvalue(res, 0, 0));
        snprintf(have->gateway, sizeof(have->gateway), "%s",
                 PQgetisnull(res, 0, 1) ? "none" : PQgetvalue(res, 0, 1));
        snprintf(have->reason, sizeof(have->reason), "%s", PQgetvalue(res, 0, 2));
        cf_time_parse(PQgetvalue(res, 0, 3), &have->marked_ms);
    }
    out->patient_found = PQgetvalue(res, 0, 4)[0] == 't';
    out->patient_erased = PQgetvalue(res, 0, 5)[0] == 't';
    if (!PQgetisnull(res, 0, 6))
        out->patient = cf_json_loads(PQgetvalue(res, 0, 6), 0, NULL);
    if (!PQgetisnull(res, 0, 7))
        out->appointment = cf_json_loads(PQgetvalue(res, 0, 7), 0, NULL);
    out->opted_out = PQgetvalue(res, 0, 8)[0] == 't';
    out->job_live = PQgetvalue(res, 0, 9)[0] == 't';
    snprintf(out->reminder_status, sizeof(out->reminder_status), "%s", PQgetvalue(res, 0, 10));
    out->job_put_off = PQgetvalue(res, 0, 11)[0] == 't';
    PQclear(res);
    return 0;
}

void send_view_clear(struct send_view *v)
{
    json_decref(v->patient);
    json_decref(v->appointment);
    v->patient = v->appointment = NULL;
}

int send_store_recent(PGconn *conn, const char *patient_id, const char *channel, const char *job_id,
                      int64_t since_ms, char *errbuf, size_t errbuf_size)
{
    char since[32];
    cf_time_format(since_ms, since);
    const char *params[] = {patient_id, channel, job_id, since};
    int any = 0;
    int rc = cf_pg_exec_any(conn,
                            "SELECT 1 FROM reminders.sends WHERE patient_id = $1::uuid"
                            " AND channel = $2 AND status = 'sent' AND job_id <> $3::uuid"
                            " AND created_at >= $4::timestamptz LIMIT 1",
                            4, params, &any, errbuf, errbuf_size);
    return rc == 0 ? any : rc;
}

#define SEND_COLUMNS                                                                               \
    "(send_id, job_id, patient_id, clinic_id, channel, attempt, gateway, status, reason,"          \
    " http_status, phone, segments, cost_minor, provider_ref, currency)"
#define SEND_VALUES                                                                                \
    "($1::uuid, ($2::jsonb->>'job_id')::uuid, ($2::jsonb->>'patient_id')::uuid,"                   \
    " $2::jsonb->>'clinic_id', $2::jsonb->>'channel', ($2::jsonb->>'attempt')::int, $3, $4, $5,"   \
    " $6::int, $7, $8::int, $9::bigint, $10, $11)"

/* An SMS's cost as text parameters (NULL when none). */
struct cost_params {
    char segments[16], cost[24];
    const char *p_segments, *p_cost, *p_currency;
};

static void cost_params(const struct send_cost *c, struct cost_params *out)
{
    snprintf(out->segments, sizeof(out->segments), "%d", c->segments);
    snprintf(out->cost, sizeof(out->cost), "%lld", (long long)c->cost_minor);
    out->p_segments = c->segments > 0 ? out->segments : NULL;
    out->p_cost = c->segments > 0 ? out->cost : NULL;
    out->p_currency = c->segments > 0 ? c->currency : NULL;
}

int send_store_mark_sending(PGconn *conn, const char *send_id, const json_t *command,
                            const char *gateway, const char *phone, const struct send_cost *cost,
                            int *marked, char *errbuf, size_t errbuf_size)
{
    char *cmd = cf_json_dumps(command);
    struct cost_params c;
    cost_params(cost, &c);
    const char *params[] = {send_id, cmd,          gateway,  "sending", NULL,        NULL,
                            phone,   c.p_segments, c.p_cost, NULL,      c.p_currency};
    int rc = cf_pg_exec_any(conn,
                            "INSERT INTO reminders.sends " SEND_COLUMNS " VALUES " SEND_VALUES
                            " ON CONFLICT (send_id) DO NOTHING RETURNING 1",
                            11, params, marked, errbuf, errbuf_size);
    free(cmd);
    return rc;
}

int send_store_unmark(PGconn *conn, const char *send_id, char *errbuf, size_t errbuf_size)
{
    const char *params[] = {send_id};
    return cf_pg_exec(conn,
                      "DELETE FROM reminders.sends WHERE send_id = $1::uuid AND status = 'sending'",
                      1, params, NULL, errbuf, errbuf_size);
}

int send_store_job_later(PGconn *conn, const char *job_id, const char *attempt,
                         const char *command_id, int64_t due_ms, int *moved, char *errbuf,
                         size_t errbuf_size)
{
    char due[32];
    cf_time_format(due_ms, due);
    const char *params[] = {job_id, attempt, due, REMINDERS_DISPATCH_GROUP, command_id};
    /* the command is forgotten as applied: the scheduler's next one for the
     * job and attempt has its id, and is applied then */
    return cf_pg_exec_any(conn,
                          "WITH forgotten AS (DELETE FROM reminders.applied_events"
                          " WHERE group_id = $4 AND event_id = $5::uuid)"
                          " UPDATE reminders.reminder_jobs SET status = 'pending',"
                          " late_from = coalesce(late_from, due_at), due_at = $3::timestamptz,"
                          " updated_at = now()"
                          " WHERE job_id = $1::uuid AND status = 'emitted' AND attempt = $2::int"
                          " RETURNING 1",
                          5, params, moved, errbuf, errbuf_size);
}

int send_store_forget_command(PGconn *conn, const char *command_id, char *errbuf,
                              size_t errbuf_size)
{
    const char *params[] = {REMINDERS_DISPATCH_GROUP, command_id};
    return cf_pg_exec(conn,
                      "DELETE FROM reminders.applied_events WHERE group_id = $1"
                      " AND event_id = $2::uuid",
                      2, params, NULL, errbuf, errbuf_size);
}

int send_store_finish(PGconn *conn, const char *send_id, const json_t *command, const char *status,
                      const char *reason, long http_status, const char *phone,
                      const char *provider_ref, const struct send_cost *cost, int *reported,
                      char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    char *cmd = cf_json_dumps(command), code[16];
    struct cost_params c;
    snprintf(code, sizeof(code), "%ld", http_status);
    cost_params(cost, &c);
    const char *params[] = {
        send_id, cmd,          NULL,     status,       reason,      http_status > 0 ? code : NULL,
        phone,   c.p_segments, c.p_cost, provider_ref, c.p_currency};
    /* The gateway's report of the send came before its answer to the
     * request (a slow answer that timed out, a crash resumed after the
     * patient's key): the send went, whatever the dispatcher could tell. */
#define REPORTED                                                                                   \
    "EXCLUDED.status IN ('unknown', 'skipped') AND sends.outcome IS NOT NULL"                      \
    " AND sends.outcome NOT IN ('skipped', 'failed', 'unknown')"
    int rc =
        cf_pg_exec(conn,
                   "INSERT INTO reminders.sends " SEND_COLUMNS " VALUES " SEND_VALUES
                   " ON CONFLICT (send_id) DO UPDATE SET"
                   " status = CASE WHEN " REPORTED " THEN 'sent' ELSE EXCLUDED.status END,"
                   " reason = CASE WHEN " REPORTED " THEN sends.reason ELSE EXCLUDED.reason END,"
                   " http_status = EXCLUDED.http_status,"
                   /* the mark's: a patient erased while the request was
                    * out (their sends' phones cleared) gets it not back */
                   " phone = sends.phone,"
                   /* a resumed send may end before its text is made:
                    * the mark's cost stands */
                   " segments = coalesce(EXCLUDED.segments, sends.segments),"
                   " cost_minor = coalesce(EXCLUDED.cost_minor, sends.cost_minor),"
                   " currency = coalesce(EXCLUDED.currency, sends.currency),"
                   " provider_ref = coalesce(EXCLUDED.provider_ref, sends.provider_ref),"
                   " updated_at = now() RETURNING status",
                   11, params, &res, errbuf, errbuf_size);
#undef REPORTED
    if (rc == 0)
        *reported = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), status) != 0;
    PQclear(res);
    free(cmd);
    return rc;
}
