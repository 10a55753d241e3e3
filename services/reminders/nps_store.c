/*
 * The surveys' store (nps.h): every statement on reminders.nps_surveys.
 */
#include "nps.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/json_text.h"
#include "common/pg.h"
#include "common/time.h"

int nps_store_open(PGconn *conn, const char *token, const char *network_id, const json_t *command,
                   const char *doctor_id, const char *language, int64_t expires_ms, char *errbuf,
                   size_t errbuf_size)
{
    char expires[32];
    cf_time_format(expires_ms, expires);
    char *cmd = cf_json_dumps(command);
    const char *params[] = {token, cmd, network_id, doctor_id, language, expires};
    int rc = cf_pg_exec(conn,
                        "INSERT INTO reminders.nps_surveys (token, job_id, network_id, clinic_id,"
                        " patient_id, appointment_id, doctor_id, language, expires_at)"
                        " VALUES ($1, ($2::jsonb->>'job_id')::uuid, $3, $2::jsonb->>'clinic_id',"
                        " ($2::jsonb->>'patient_id')::uuid, ($2::jsonb->>'appointment_id')::uuid,"
                        " $4, $5, $6::timestamptz) ON CONFLICT DO NOTHING",
                        6, params, NULL, errbuf, errbuf_size);
    free(cmd);
    return rc;
}

/* The row (nps.h's) of the survey query finds by key ($1). */
static int get(PGconn *conn, const char *query, const char *key, json_t **row, char *errbuf,
               size_t errbuf_size)
{
    const char *params[] = {key};
    PGresult *res = NULL;
    *row = NULL;
    int rc = cf_pg_exec(conn, query, 1, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1)
        *row = cf_json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    return rc;
}

#define SURVEY_ROW                                                                                 \
    "SELECT json_build_object('token', token, 'job_id', job_id, 'network_id', network_id,"         \
    " 'clinic_id', clinic_id, 'patient_id', patient_id, 'appointment_id', appointment_id,"         \
    " 'doctor_id', doctor_id, 'language', language, 'expired', expires_at <= now(),"               \
    " 'answered', answered_at IS NOT NULL)::text FROM reminders.nps_surveys"

int nps_store_get(PGconn *conn, const char *token, int lock, json_t **row, char *errbuf,
                  size_t errbuf_size)
{
    return get(conn,
               lock ? SURVEY_ROW " WHERE token = $1 FOR UPDATE" : SURVEY_ROW " WHERE token = $1",
               token, row, errbuf, errbuf_size);
}

int nps_store_get_job(PGconn *conn, const char *job_id, json_t **row, char *errbuf,
                      size_t errbuf_size)
{
    return get(conn, SURVEY_ROW " WHERE job_id = $1::uuid FOR UPDATE", job_id, row, errbuf,
               errbuf_size);
}

int nps_store_answer(PGconn *conn, const char *token, int score, const char *comment, char *errbuf,
                     size_t errbuf_size)
{
    char n[8];
    snprintf(n, sizeof(n), "%d", score);
    const char *params[] = {token, n, comment};
    return cf_pg_exec(conn,
                      "UPDATE reminders.nps_surveys SET answered_at = now(), score = $2::int,"
                      " comment = $3 WHERE token = $1",
                      3, params, NULL, errbuf, errbuf_size);
}
