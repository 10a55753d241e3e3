/*
 * The sends' store (dispatch.h): every statement on reminders.sends.
 */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "common/time.h"

int send_store_status(PGconn *conn, const char *send_id, struct send_state *out, char *errbuf,
                      size_t errbuf_size)
{
    const char *params[] = {send_id};
    PGresult *res = NULL;
    memset(out, 0, sizeof(*out));
    int rc = cf_pg_exec(conn,
                        "SELECT status, coalesce(gateway, 'none'), coalesce(reason, ''),"
                        " coalesce(segments, 0), coalesce(cost_minor, 0), " CF_PG_UTC_MS(
                            "created_at") " FROM reminders.sends WHERE send_id = $1::uuid",
                        1, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1) {
        snprintf(out->status, sizeof(out->status), "%s", PQgetvalue(res, 0, 0));
        snprintf(out->gateway, sizeof(out->gateway), "%s", PQgetvalue(res, 0, 1));
        snprintf(out->reason, sizeof(out->reason), "%s", PQgetvalue(res, 0, 2));
        out->segments = (int)strtol(PQgetvalue(res, 0, 3), NULL, 10);
        out->cost_minor = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        cf_time_parse(PQgetvalue(res, 0, 5), &out->marked_ms);
    }
    PQclear(res);
    return rc;
}

int send_store_recent(PGconn *conn, const char *patient_id, const char *channel, const char *job_id,
                      int64_t since_ms, char *errbuf, size_t errbuf_size)
{
    char since[32];
    cf_time_format(since_ms, since);
    const char *params[] = {patient_id, channel, job_id, since};
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn,
                        "SELECT 1 FROM reminders.sends WHERE patient_id = $1::uuid"
                        " AND channel = $2 AND status = 'sent' AND job_id <> $3::uuid"
                        " AND created_at >= $4::timestamptz LIMIT 1",
                        4, params, &res, errbuf, errbuf_size);
    if (rc == 0)
        rc = PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

#define SEND_COLUMNS                                                                               \
    "(send_id, job_id, patient_id, clinic_id, channel, attempt, gateway, status, reason,"          \
    " http_status, phone, segments, cost_minor, provider_ref)"
#define SEND_VALUES                                                                                \
    "($1::uuid, ($2::jsonb->>'job_id')::uuid, ($2::jsonb->>'patient_id')::uuid,"                   \
    " $2::jsonb->>'clinic_id', $2::jsonb->>'channel', ($2::jsonb->>'attempt')::int, $3, $4, $5,"   \
    " $6::int, $7, $8::int, $9::bigint, $10)"

int send_store_mark_sending(PGconn *conn, const char *send_id, const json_t *command,
                            const char *gateway, const char *phone, char *errbuf,
                            size_t errbuf_size)
{
    char *cmd = json_dumps(command, JSON_COMPACT);
    const char *params[] = {send_id, cmd, gateway, "sending", NULL, NULL, phone, NULL, NULL, NULL};
    int rc = cf_pg_exec(conn,
                        "INSERT INTO reminders.sends " SEND_COLUMNS " VALUES " SEND_VALUES
                        " ON CONFLICT (send_id) DO NOTHING",
                        10, params, NULL, errbuf, errbuf_size);
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
                      const char *reason, long http_status, const char *phone,
                      const char *provider_ref, int segments, int64_t cost_minor, char *errbuf,
                      size_t errbuf_size)
{
    char *cmd = json_dumps(command, JSON_COMPACT), code[16], nseg[16], cost[24];
    snprintf(code, sizeof(code), "%ld", http_status);
    snprintf(nseg, sizeof(nseg), "%d", segments);
    snprintf(cost, sizeof(cost), "%lld", (long long)cost_minor);
    const char *params[] = {send_id,
                            cmd,
                            NULL,
                            status,
                            reason,
                            http_status > 0 ? code : NULL,
                            phone,
                            segments > 0 ? nseg : NULL,
                            segments > 0 ? cost : NULL,
                            provider_ref};
    int rc = cf_pg_exec(conn,
                        "INSERT INTO reminders.sends " SEND_COLUMNS " VALUES " SEND_VALUES
                        " ON CONFLICT (send_id) DO UPDATE SET status = EXCLUDED.status,"
                        " reason = EXCLUDED.reason, http_status = EXCLUDED.http_status,"
                        " phone = coalesce(sends.phone, EXCLUDED.phone),"
                        " segments = EXCLUDED.segments, cost_minor = EXCLUDED.cost_minor,"
                        " provider_ref = coalesce(EXCLUDED.provider_ref, sends.provider_ref),"
                        " updated_at = now()",
                        10, params, NULL, errbuf, errbuf_size);
    free(cmd);
    return rc;
}
