/*
 * The reminder jobs' store (plan.h): every statement on
 * reminders.reminder_jobs that planning runs, inside the appointment's
 * transaction.
 */
#include "plan.h"

#include <stdlib.h>

#include "common/json_text.h"
#include "common/pg.h"

int plan_store_replace(PGconn *conn, const char *network_id, const char *clinic_id,
                       const char *appointment_id, const char *patient_id, const char *visit_at,
                       const char *status, const json_t *jobs, const char *reason, char *errbuf,
                       size_t errbuf_size)
{
    char *text = cf_json_dumps(jobs);
    const char *params[] = {appointment_id, text, reason, status};
    int rc = cf_pg_exec(conn,
                        "UPDATE reminders.reminder_jobs SET status = 'cancelled', reason = $3,"
                        " updated_at = now() WHERE appointment_id = $1::uuid AND status = 'pending'"
                        " AND job_id NOT IN (SELECT (j->>'job_id')::uuid"
                        " FROM jsonb_array_elements($2::jsonb) AS j)"
                        " AND NOT" PLAN_STORE_CAMPAIGN_KEPT("coalesce($4::text, '')"),
                        4, params, NULL, errbuf, errbuf_size);
    const char *ins[] = {appointment_id, text, network_id, clinic_id, patient_id, visit_at};
    if (rc == 0 && json_array_size(jobs) > 0)
        rc = cf_pg_exec(conn,
                        "INSERT INTO reminders.reminder_jobs (job_id, appointment_id, network_id,"
                        " clinic_id, patient_id, offset_hours, visit_at, due_at, status, reason,"
                        " kind, channel)"
                        " SELECT j.job_id, $1::uuid, $3, $4, $5::uuid, j.offset_hours,"
                        " $6::timestamptz, j.due_at, j.status, j.reason, j.kind, j.channel"
                        " FROM jsonb_to_recordset($2::jsonb) AS j(job_id uuid, offset_hours int,"
                        " due_at timestamptz, status text, reason text, kind text, channel text)"
                        " ON CONFLICT (job_id) DO UPDATE" PLAN_STORE_REVIVE_SQL,
                        6, ins, NULL, errbuf, errbuf_size);
    free(text);
    return rc;
}

int plan_store_cancel_patient(PGconn *conn, const char *patient_id, const char *reason,
                              char *errbuf, size_t errbuf_size)
{
    const char *params[] = {patient_id, reason};
    return cf_pg_exec(conn,
                      "UPDATE reminders.reminder_jobs SET status = 'cancelled', reason = $2,"
                      " updated_at = now() WHERE patient_id = $1::uuid AND status = 'pending'",
                      2, params, NULL, errbuf, errbuf_size);
}
