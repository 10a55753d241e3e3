/*
 * The recall's store (recall.h): every statement the recall runs.
 */
#include "recall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"

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

int recall_store_eligible(PGconn *conn, const char *network_id, const char *clinic_id, int months,
                          int again_days, int limit, json_t **ids, char *errbuf, size_t errbuf_size)
{
    char m[16], d[16], n[16];
    snprintf(m, sizeof(m), "%d", months);
    snprintf(d, sizeof(d), "%d", again_days);
    snprintf(n, sizeof(n), "%d", limit);
    const char *params[] = {network_id, clinic_id, m, d, n};
    PGresult *res = NULL;
    *ids = NULL;
    int rc = cf_pg_exec(
        conn,
        "SELECT coalesce(json_agg(p.patient_id), '[]')::text FROM ("
        " SELECT p.patient_id FROM reminders.patients p"
        " WHERE p.network_id = $1 AND p.clinic_id = $2 AND p.record IS NOT NULL"
        " AND coalesce((p.record->>'recall_at')::timestamptz,"
        " greatest((p.record->>'last_visit_at')::timestamptz,"
        " (SELECT max(a.starts_at) FROM reminders.appointments a"
        " WHERE a.patient_id = p.patient_id AND a.status = 'completed'))"
        " + make_interval(months => $3::int)) <= now()"
        " AND NOT EXISTS (SELECT 1 FROM reminders.appointments a WHERE a.patient_id ="
        " p.patient_id AND a.status IN ('booked', 'rescheduled') AND a.starts_at > now())"
        " AND NOT EXISTS (SELECT 1 FROM reminders.reminder_jobs j WHERE j.patient_id ="
        " p.patient_id AND j.kind = 'recall'"
        " AND j.created_at > now() - make_interval(days => $4::int))"
        " ORDER BY p.patient_id LIMIT $5::int) p",
        5, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1)
        *ids = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (rc == 0 && !*ids)
        *ids = json_array();
    return rc;
}

int recall_store_jobs(PGconn *conn, const char *network_id, const char *clinic_id,
                      const json_t *jobs, json_t **inserted, char *errbuf, size_t errbuf_size)
{
    char *text = json_dumps(jobs, JSON_COMPACT);
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
        *inserted = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    free(text);
    if (rc == 0 && !*inserted)
        *inserted = json_array();
    return rc;
}
