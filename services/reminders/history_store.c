/*
 * The reminder histories' store (history.h): every statement on
 * reminders.histories, and the visit's reminder status they set.
 */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_text.h"
#include "common/pg.h"
#include "common/time.h"

/* The visit, whether this service reminded it, its stored history. */
#define VISIT_SQL                                                                                  \
    "SELECT " CF_PG_UTC_MS(                                                                        \
        "a.starts_at") ", a.patient_id, a.clinic_id, a.network_id,"                                \
                       " EXISTS (SELECT 1 FROM reminders.reminder_jobs j JOIN reminders.sends s"   \
                       " ON s.job_id = j.job_id WHERE j.appointment_id = a.appointment_id AND "    \
                       "j.kind = 'reminder'),"                                                     \
                       " (SELECT h.history::text FROM reminders.histories h"                       \
                       " WHERE h.appointment_id = a.appointment_id)"                               \
                       " FROM reminders.appointments a WHERE a.appointment_id = $1::uuid"

int history_store_visit(PGconn *conn, const char *appointment_id, int lock, struct history_visit *v,
                        char *errbuf, size_t errbuf_size)
{
    const char *params[] = {appointment_id};
    PGresult *res = NULL;
    memset(v, 0, sizeof(*v));
    int rc = cf_pg_exec(conn, lock ? VISIT_SQL " FOR UPDATE OF a" : VISIT_SQL, 1, params, &res,
                        errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1) {
        v->found = 1;
        cf_time_parse(PQgetvalue(res, 0, 0), &v->starts_ms);
        snprintf(v->patient_id, sizeof(v->patient_id), "%s", PQgetvalue(res, 0, 1));
        snprintf(v->clinic_id, sizeof(v->clinic_id), "%s", PQgetvalue(res, 0, 2));
        snprintf(v->network_id, sizeof(v->network_id), "%s", PQgetvalue(res, 0, 3));
        v->reminded_here = PQgetvalue(res, 0, 4)[0] == 't';
        if (!PQgetisnull(res, 0, 5))
            v->stored = cf_json_loads(PQgetvalue(res, 0, 5), 0, NULL);
    }
    PQclear(res);
    return rc;
}

int history_store_put(PGconn *conn, const char *job_id, const char *appointment_id,
                      const struct history_visit *v, const json_t *history,
                      const char *final_status, char *errbuf, size_t errbuf_size)
{
    char *text = cf_json_dumps(history);
    const char *params[] = {job_id,         v->network_id, v->patient_id,
                            appointment_id, text,          final_status};
    int rc = cf_pg_exec(conn,
                        "WITH h AS (INSERT INTO reminders.histories (job_id, network_id,"
                        " patient_id, appointment_id, history) VALUES ($1::uuid, $2, $3::uuid,"
                        " $4::uuid, $5::jsonb))"
                        " UPDATE reminders.appointments SET reminder_status = $6"
                        " WHERE appointment_id = $4::uuid AND reminder_status IS NULL"
                        " AND $6::text IS NOT NULL",
                        6, params, NULL, errbuf, errbuf_size);
    free(text);
    return rc;
}

int history_store_recall(PGconn *conn, const char *job_id, const char *patient_id,
                         const char *network_id, const char *clinic_id, json_t **stored,
                         int *recalled_here, char *errbuf, size_t errbuf_size)
{
    const char *params[] = {job_id, patient_id};
    const char *lock_params[] = {patient_id, network_id, clinic_id};
    PGresult *res = NULL;
    *stored = NULL;
    *recalled_here = 0;
    /* the recall worker's locks (recall_store.c) of the recall's clinic
     * and the patient's, in one order, waited for: a round of the worker
     * that could enrol the patient is over, and none starts until this
     * commits, when the next one sees the imported job */
    int rc = cf_pg_exec(conn,
                        "SELECT pg_advisory_xact_lock(hashtext('reminders.recall'),"
                        " hashtext($2 || '/' || c)) FROM (SELECT $3::text AS c UNION"
                        " SELECT p.clinic_id FROM reminders.patients p"
                        " WHERE p.patient_id = $1::uuid AND p.network_id = $2"
                        " AND p.clinic_id IS NOT NULL ORDER BY 1) x",
                        3, lock_params, NULL, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec(conn,
                        "SELECT EXISTS (SELECT 1 FROM reminders.reminder_jobs j"
                        " WHERE j.patient_id = $2::uuid AND j.kind = 'recall'"
                        " AND j.reason IS DISTINCT FROM 'imported'),"
                        " (SELECT h.history::text FROM reminders.histories h"
                        " WHERE h.job_id = $1::uuid)",
                        2, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1) {
        *recalled_here = PQgetvalue(res, 0, 0)[0] == 't';
        if (!PQgetisnull(res, 0, 1))
            *stored = cf_json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    }
    PQclear(res);
    return rc;
}

int history_store_put_recall(PGconn *conn, const char *job_id, const char *network_id,
                             const char *patient_id, const json_t *history, char *errbuf,
                             size_t errbuf_size)
{
    char *text = cf_json_dumps(history);
    const json_t *sends = json_object_get(history, "sends");
    const json_t *last = json_array_get(sends, json_array_size(sends) - 1);
    const char *result = last ? json_string_value(json_object_get(last, "outcome")) : "holdout";
    char attempt[16];
    snprintf(attempt, sizeof(attempt), "%zu", json_array_size(sends) ? json_array_size(sends) : 1);
    const char *params[] = {job_id, network_id, patient_id, text, result, attempt};
    int rc = cf_pg_exec(
        conn,
        "WITH h AS (INSERT INTO reminders.histories (job_id, network_id, patient_id, history)"
        " VALUES ($1::uuid, $2, $3::uuid, $4::jsonb))"
        " INSERT INTO reminders.reminder_jobs (job_id, network_id, clinic_id, patient_id,"
        " offset_hours, due_at, status, reason, kind, channel, attempt, result, created_at)"
        " VALUES ($1::uuid, $2, $4::jsonb->>'clinic_id', $3::uuid, 0,"
        " ($4::jsonb->>'asked_at')::timestamptz, 'done', 'imported', 'recall', 'sms', $6::int,"
        " $5, ($4::jsonb->>'asked_at')::timestamptz)",
        6, params, NULL, errbuf, errbuf_size);
    free(text);
    return rc;
}
