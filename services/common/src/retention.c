/*
 * Retention chunks and leases (retention.h). Deletes go by ctid through a
 * LIMITed subquery: each statement removes a bounded number of rows, so a
 * table years behind its retention is caught up in short transactions that
 * never hold many row locks or a long snapshot.
 */
#include "common/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/envelope.h"
#include "common/pg.h"
#include "common/xmalloc.h"

void cf_retention_lease_holder(char *out, size_t size)
{
    char host[64] = "";
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "unknown");
    snprintf(out, size, "%s:%ld:%lld", host, (long)getpid(), (long long)cf_time_now_ms());
}

int cf_retention_lease_take(PGconn *conn, const char *schema, const char *name, const char *holder,
                            long ttl_ms, char *errbuf, size_t errbuf_size)
{
    char ttl[24];
    PGresult *res = NULL;
    snprintf(ttl, sizeof(ttl), "%ld", ttl_ms);
    /* A conflicting row is updated only when it is ours or has expired;
     * the row lock makes a second taker see the first one's row. */
    char *sql = cf_xasprintf(
        "INSERT INTO %s.leases AS l (name, holder, expires_at)"
        " VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3::bigint / 1000.0))"
        " ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder,"
        " expires_at = EXCLUDED.expires_at"
        " WHERE l.holder = EXCLUDED.holder OR l.expires_at < clock_timestamp()"
        " RETURNING holder",
        schema);
    const char *params[] = {name, holder, ttl};
    int rc = cf_pg_exec(conn, sql, 3, params, &res, errbuf, errbuf_size);
    free(sql);
    if (rc == 0)
        rc = PQntuples(res) == 1;
    PQclear(res);
    return rc;
}

int cf_retention_lease_release(PGconn *conn, const char *schema, const char *name,
                               const char *holder, char *errbuf, size_t errbuf_size)
{
    char *sql = cf_xasprintf("DELETE FROM %s.leases WHERE name = $1 AND holder = $2", schema);
    const char *params[] = {name, holder};
    int rc = cf_pg_exec(conn, sql, 2, params, NULL, errbuf, errbuf_size);
    free(sql);
    return rc;
}

int cf_retention_delete(PGconn *conn, const char *table, const char *column, long days, long chunk,
                        char *errbuf, size_t errbuf_size)
{
    char sdays[24], schunk[24];
    PGresult *res = NULL;
    snprintf(sdays, sizeof(sdays), "%ld", days);
    snprintf(schunk, sizeof(schunk), "%ld", chunk);
    char *sql = cf_xasprintf("DELETE FROM %s WHERE ctid = ANY(ARRAY(SELECT ctid FROM %s"
                             " WHERE %s < now() - make_interval(days => $1::int) LIMIT $2::int))",
                             table, table, column);
    const char *params[] = {sdays, schunk};
    int rc = cf_pg_exec(conn, sql, 2, params, &res, errbuf, errbuf_size);
    free(sql);
    if (rc == 0)
        rc = (int)strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return rc;
}
