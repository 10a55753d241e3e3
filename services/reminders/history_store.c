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

int history_store_put(PGconn *conn, const char *appointment_id, const struct history_visit *v,
                      const json_t *history, const char *final_status, char *errbuf,
                      size_t errbuf_size)
{
    char *text = cf_json_dumps(history);
    const char *params[] = {appointment_id, v->network_id, text, final_status};
    int rc = cf_pg_exec(conn,
                        "WITH h AS (INSERT INTO reminders.histories (appointment_id, network_id,"
                        " history) VALUES ($1::uuid, $2, $3::jsonb))"
                        " UPDATE reminders.appointments SET reminder_status = $4"
                        " WHERE appointment_id = $1::uuid AND reminder_status IS NULL"
                        " AND $4::text IS NOT NULL",
                        4, params, NULL, errbuf, errbuf_size);
    free(text);
    return rc;
}
