/*
 * The sends' store (dispatch.h): every statement on reminders.sends.
 */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"

int send_store_status(PGconn *conn, const char *send_id, char status[16], char gateway[32],
                      char *errbuf, size_t errbuf_size)
{
    const char *params[] = {send_id};
    PGresult *res = NULL;
    status[0] = '\0';
    gateway[0] = '\0';
    int rc = cf_pg_exec(
        conn,
        "SELECT status, coalesce(gateway, 'none') FROM reminders.sends WHERE send_id = $1::uuid", 1,
        params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1) {
        snprintf(status, 16, "%s", PQgetvalue(res, 0, 0));
        snprintf(gateway, 32, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return rc;
}

#define SEND_COLUMNS                                                                               \
    "(send_id, job_id, patient_id, clinic_id, channel, attempt, gateway, status, reason,"          \
    " http_status)"
#define SEND_VALUES                                                                                \
    "($1::uuid, ($2::jsonb->>'job_id')::uuid, ($2::jsonb->>'patient_id')::uuid,"                   \
    " $2::jsonb->>'clinic_id', $2::jsonb->>'channel', ($2::jsonb->>'attempt')::int, $3, $4, $5,"   \
    " $6::int)"

int send_store_mark_sending(PGconn *conn, const char *send_id, const json_t *command,
                            const char *gateway, char *errbuf, size_t errbuf_size)
{
    char *cmd = json_dumps(command, JSON_COMPACT);
    const char *params[] = {send_id, cmd, gateway, "sending", NULL, NULL};
    int rc = cf_pg_exec(conn,
                        "INSERT INTO reminders.sends " SEND_COLUMNS " VALUES " SEND_VALUES
                        " ON CONFLICT (send_id) DO NOTHING",
                        6, params, NULL, errbuf, errbuf_size);
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

int send_store_finish(PGconn *conn, const char *send_id, const json_t *command, const char *status,
                      const char *reason, long http_status, char *errbuf, size_t errbuf_size)
{
    char *cmd = json_dumps(command, JSON_COMPACT), code[16];
    snprintf(code, sizeof(code), "%ld", http_status);
    const char *params[] = {send_id, cmd, NULL, status, reason, http_status > 0 ? code : NULL};
    int rc = cf_pg_exec(conn,
                        "INSERT INTO reminders.sends " SEND_COLUMNS " VALUES " SEND_VALUES
                        " ON CONFLICT (send_id) DO UPDATE SET status = EXCLUDED.status,"
                        " reason = EXCLUDED.reason, http_status = EXCLUDED.http_status,"
                        " updated_at = now()",
                        6, params, NULL, errbuf, errbuf_size);
    free(cmd);
    return rc;
}
