/*
 * The recall's store (recall.h): every statement the recall runs.
 */
#include "recall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_text.h"
#include "common/pg.h"
#include "common/time.h"

int recall_store_lock(PGconn *conn, const char *network_id, const char *clinic_id, char *errbuf,
                      size_t errbuf_size)
{
    const char *params[] = {network_id, clinic_id};
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn,
                        "SELECT pg_try_advisory_xact_lock(hashtext('reminders.recall'),"
                        " hashtext($1 || '/' || $2))",
                        2, params, &res, errbuf, errbuf_size);
    if (rc == 0)
        rc = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return rc;
}

int recall_store_candidates(PGconn *conn, const char *network_id, const char *clinic_id,
                            int64_t now_ms, int min_months, int again_days, const char *after,
                            int limit, json_t **candidates, char *errbuf, size_t errbuf_size)
{
    char now[32], m[16], d[16], n[16];
    cf_time_format(now_ms, now);
    snprintf(m, sizeof(m), "%d", min_months);
    snprintf(d, sizeof(d), "%d", again_days);
    snprintf(n, sizeof(n), "%d", limit);
    const char *params[] = {network_id, clinic_id, m, d, n, after, now};
    PGresult *res = NULL;
    *candidates = NULL;
    /* months are added in UTC, as recall_add_months adds them: the
     * session's zone must not move a patient across the line */
    int rc = cf_pg_exec(
        conn,
        "SELECT coalesce(json_agg(e ORDER BY e.patient_id), '[]')::text FROM ("
        " SELECT p.patient_id,"
        " (extract(epoch FROM (p.record->>'recall_at')::timestamptz) * 1000)::bigint AS recall_at,"
        " (extract(epoch FROM (p.record->>'last_visit_at')::timestamptz) * 1000)::bigint"
        " AS last_visit_at, coalesce(v.visits, '{}'::json) AS visits"
        " FROM reminders.patients p LEFT JOIN LATERAL ("
        " SELECT json_object_agg(c.category, (extract(epoch FROM c.at) * 1000)::bigint) AS visits,"
        " min(c.at) AS oldest FROM ("
        " SELECT coalesce(a.record->>'service_category', '') AS category, max(a.starts_at) AS at"
        " FROM reminders.appointments a WHERE a.patient_id = p.patient_id"
        " AND a.status = 'completed' GROUP BY 1) c) v ON true"
        " WHERE p.network_id = $1 AND p.clinic_id = $2 AND p.record IS NOT NULL"
        " AND p.patient_id > $6::uuid"
        " AND ((p.record->>'recall_at')::timestamptz <= $7::timestamptz"
        " OR ((least(v.oldest, (p.record->>'last_visit_at')::timestamptz) AT TIME ZONE 'UTC')"
        " + make_interval(months => $3::int)) AT TIME ZONE 'UTC' <= $7::timestamptz)"
        /* a visit ahead, or one begun within the day (in the clinic now,
         * or just out: the MIS may not have marked it yet) */
        " AND NOT EXISTS (SELECT 1 FROM reminders.appointments a WHERE a.patient_id ="
        " p.patient_id AND a.status IN ('booked', 'rescheduled', 'arrived')"
        " AND a.starts_at > $7::timestamptz - interval '1 day')"
        " AND NOT EXISTS (SELECT 1 FROM reminders.reminder_jobs j WHERE j.patient_id ="
        " p.patient_id AND j.kind = 'recall'"
        " AND j.created_at > $7::timestamptz - make_interval(days => $4::int))"
        " ORDER BY p.patient_id LIMIT $5::int) e",
        7, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1)
        *candidates = cf_json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (rc == 0 && !*candidates)
        *candidates = json_array();
    return rc;
}

int recall_store_pending(PGconn *conn, const char *network_id, const char *clinic_id,
                         int64_t next_ms, int *pending, char *errbuf, size_t errbuf_size)
{
    char next[32];
    cf_time_format(next_ms, next);
    const char *params[] = {network_id, clinic_id, next};
    PGresult *res = NULL;
    *pending = 0;
    int rc = cf_pg_exec(conn,
                        "SELECT count(*) FROM reminders.reminder_jobs WHERE status = 'pending'"
                        " AND network_id = $1 AND clinic_id = $2 AND (kind = 'recall'"
                        " OR (kind = 'reinvite' AND due_at < $3::timestamptz + interval '1 hour'))",
                        3, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1)
        *pending = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

int recall_store_jobs(PGconn *conn, const char *network_id, const char *clinic_id,
                      const json_t *jobs, json_t **inserted, char *errbuf, size_t errbuf_size)
{
    char *text = cf_json_dumps(jobs);
    const char *params[] = {text, network_id, clinic_id};
    PGresult *res = NULL;
    *inserted = NULL;
    int rc = cf_pg_exec(
        conn,
        "WITH ins AS (INSERT INTO reminders.reminder_jobs (job_id, network_id, clinic_id,"
        " patient_id, offset_hours, due_at, status, reason, kind, channel)"
        " SELECT j.job_id, $2, $3, j.patient_id, 0, j.due_at, j.status, j.reason, 'recall', 'sms'"
        " FROM jsonb_to_recordset($1::jsonb) AS j(job_id uuid, patient_id uuid,"
        " due_at timestamptz, status text, reason text)"
        " ON CONFLICT (job_id) DO NOTHING RETURNING job_id)"
        " SELECT coalesce(json_agg(job_id), '[]')::text FROM ins",
        3, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1)
        *inserted = cf_json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    free(text);
    if (rc == 0 && !*inserted)
        *inserted = json_array();
    return rc;
}
