/*
 * Retention chunks, leases and the worker loop (retention.h). Deletes go by
 * ctid through a LIMITed subquery: each statement removes a bounded number
 * of rows, so a table years behind its retention is caught up in short
 * transactions that never hold many row locks or a long snapshot.
 */
#include "common/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/service.h"
#include "common/xmalloc.h"

#define LEASE "retention"

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
    int held = 0;
    int rc = cf_pg_exec_any(conn, sql, 3, params, &held, errbuf, errbuf_size);
    free(sql);
    return rc == 0 ? held : rc;
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

/* One chunk of t: how many rows went (>= 0), or the database error. */
static int delete_chunk(PGconn *conn, const struct cf_retention_table *t, long chunk, char *errbuf,
                        size_t errbuf_size)
{
    if (!t->sql)
        return cf_retention_delete(conn, t->table, t->column, t->days, chunk, errbuf, errbuf_size);
    char sdays[24], schunk[24];
    PGresult *res = NULL;
    snprintf(sdays, sizeof(sdays), "%ld", t->days);
    snprintf(schunk, sizeof(schunk), "%ld", chunk);
    const char *params[] = {sdays, schunk};
    int rc = cf_pg_exec(conn, t->sql, 2, params, &res, errbuf, errbuf_size);
    if (rc == 0)
        rc = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

/* Deletes the rows of t past its retention while the lease stays ours:
 * 0, 1 when the lease was lost or the service stops, or the error. */
static int sweep_table(const struct cf_retention_conf *conf, PGconn *conn,
                       const struct cf_retention_table *t, const char *holder, long ttl_ms,
                       char *errbuf, size_t errbuf_size)
{
    char name[128], labels[64];
    snprintf(name, sizeof(name), "%s_removed_total", conf->metric_prefix);
    snprintf(labels, sizeof(labels), "table=\"%s\"", t->name);
    for (;;) {
        int rc =
            cf_retention_lease_take(conn, conf->schema, LEASE, holder, ttl_ms, errbuf, errbuf_size);
        if (rc != 1)
            return rc < 0 ? rc : 1;
        rc = delete_chunk(conn, t, conf->chunk, errbuf, errbuf_size);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            cf_metrics_add(name, labels, rc);
            cf_debug("retention: removed %d rows of %s", rc, t->table);
        }
        if (rc < conf->chunk)
            return 0;
        if (cf_service_sleep(conf->svc, 0))
            return 1;
    }
}

/* One round: 1 if this instance held the lease and swept, 0 if another
 * holds it, or the error. */
static int sweep_round(const struct cf_retention_conf *conf, PGconn *conn, const char *holder,
                       long ttl_ms, char *errbuf, size_t errbuf_size)
{
    int rc =
        cf_retention_lease_take(conn, conf->schema, LEASE, holder, ttl_ms, errbuf, errbuf_size);
    if (rc != 1)
        return rc;
    for (size_t i = 0; i < conf->ntables; i++) {
        if (conf->tables[i].days == 0)
            continue;
        rc = sweep_table(conf, conn, &conf->tables[i], holder, ttl_ms, errbuf, errbuf_size);
        if (rc != 0)
            return rc < 0 ? rc : 1;
    }
    return 1;
}

void cf_retention_run(const struct cf_retention_conf *conf)
{
    char holder[128], errbuf[256], removed[128], rounds[128], busy[128];
    /* Renewed every round: a holder late by up to an interval and half a
     * minute (a slow round, a busy machine) keeps it. */
    const long ttl_ms = (2 * conf->interval_s + 30) * 1000;

    snprintf(removed, sizeof(removed), "%s_removed_total", conf->metric_prefix);
    snprintf(rounds, sizeof(rounds), "%s_rounds_total", conf->metric_prefix);
    snprintf(busy, sizeof(busy), "%s_lease_busy_total", conf->metric_prefix);
    cf_metrics_describe(removed, "counter", "Rows deleted past their retention, by table");
    cf_metrics_describe(rounds, "counter", "Retention rounds this instance ran holding the lease");
    cf_metrics_describe(busy, "counter",
                        "Retention rounds skipped because another instance held the lease");
    cf_retention_lease_holder(holder, sizeof(holder));
    do {
        PGconn *conn = cf_pg_pool_acquire(conf->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_warn("retention: %s", errbuf);
            continue;
        }
        const int rc = sweep_round(conf, conn, holder, ttl_ms, errbuf, sizeof(errbuf));
        if (rc < 0)
            cf_warn("retention: %s", errbuf);
        else
            cf_metrics_add(rc == 1 ? rounds : busy, "", 1);
        cf_pg_pool_release(conf->svc->pg, conn);
    } while (!cf_service_sleep(conf->svc, conf->interval_s * 1000));

    /* Stopping: another instance may take over at once. */
    PGconn *conn = cf_pg_pool_acquire(conf->svc->pg, errbuf, sizeof(errbuf));
    if (conn &&
        cf_retention_lease_release(conn, conf->schema, LEASE, holder, errbuf, sizeof(errbuf)) != 0)
        cf_warn("retention: could not give the lease up: %s", errbuf);
    cf_pg_pool_release(conf->svc->pg, conn);
}
