/*
 * Retention of the calls schema's growing tables: a worker deletes rows
 * past their age (CLINICFLOW_CALLS_RETENTION_<TABLE>_DAYS, 0 keeps them)
 * every CLINICFLOW_CALLS_RETENTION_INTERVAL_S, in chunks of
 * CLINICFLOW_CALLS_RETENTION_CHUNK rows, each its own short statement.
 * One instance does it at a time: the lease row "retention" in
 * calls.leases, renewed before each chunk; the others find it held and
 * skip the round. The lease lasts two intervals and half a minute, so a
 * holder that died is replaced after at most that, and one that stops
 * gives it up.
 *
 *   applied_events  by applied_at: the ids the consumers drop as applied
 *   dni_sessions    by held_until: the visitor sessions calls are
 *                   attributed to
 *   calls           by started_at, but not a call an open callback task
 *                   counts: the task's rules read its calls from the store
 *                   (a withdrawn source's successor, the misses left), so
 *                   it stays until the task closes or expires
 *   tasks           closed or expired, by updated_at (when it closed or
 *                   expired), their task_calls links deleted in the same
 *                   statement; an open task never
 *
 * The README says why each default is what it is.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/retention.h"

#define LEASE "retention"

struct retained {
    const char *name;   /* the metric's label */
    const char *table;  /* schema-qualified */
    const char *column; /* the row's age */
    long days;          /* 0: kept for ever */
    const char *sql;    /* the chunk's own statement ($1 days, $2 rows), its one value how
                           many rows went; NULL: the rows whose column is past the days */
};

/* Calls past their age that no open task counts. */
#define DELETE_CALLS                                                                               \
    "WITH gone AS (DELETE FROM calls.calls WHERE ctid = ANY(ARRAY(SELECT c.ctid"                   \
    " FROM calls.calls c WHERE c.started_at < now() - make_interval(days => $1::int)"              \
    " AND NOT EXISTS (SELECT 1 FROM calls.task_calls tc JOIN calls.tasks t"                        \
    " ON t.task_id = tc.task_id WHERE tc.call_id = c.call_id AND t.status = 'open')"               \
    " LIMIT $2::int)) RETURNING 1)"                                                                \
    " SELECT count(*) FROM gone"

/* Finished tasks past their age, with their links in the same statement
 * (task_calls references tasks; the key is checked at its end). The
 * conditions are said again on the row deleted: a task reopened meanwhile
 * (its own call missed again after it was withdrawn) is open by then, and
 * stays with its links. */
#define DELETE_TASKS                                                                               \
    "WITH gone AS (DELETE FROM calls.tasks WHERE task_id IN (SELECT task_id FROM calls.tasks"      \
    " WHERE status <> 'open' AND updated_at < now() - make_interval(days => $1::int)"              \
    " LIMIT $2::int) AND status <> 'open'"                                                         \
    " AND updated_at < now() - make_interval(days => $1::int) RETURNING task_id),"                 \
    " links AS (DELETE FROM calls.task_calls tc USING gone WHERE tc.task_id = gone.task_id)"       \
    " SELECT count(*) FROM gone"

/* One chunk of t: how many rows went (>= 0), or the database error. */
static int delete_chunk(PGconn *conn, const struct retained *t, long chunk, char *errbuf,
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
static int sweep_table(struct calls_ctx *ctx, PGconn *conn, const struct retained *t,
                       const char *holder, long ttl_ms, char *errbuf, size_t errbuf_size)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "table=\"%s\"", t->name);
    for (;;) {
        int rc = cf_retention_lease_take(conn, "calls", LEASE, holder, ttl_ms, errbuf, errbuf_size);
        if (rc != 1)
            return rc < 0 ? rc : 1;
        rc = delete_chunk(conn, t, ctx->cfg.retention_chunk, errbuf, errbuf_size);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            cf_metrics_add("clinicflow_calls_retention_removed_total", labels, rc);
            cf_debug("retention: removed %d rows of %s", rc, t->table);
        }
        if (rc < ctx->cfg.retention_chunk)
            return 0;
        if (cf_service_sleep(ctx->svc, 0))
            return 1;
    }
}

/* One round: 1 if this instance held the lease and swept, 0 if another
 * holds it, or the error. */
static int sweep_round(struct calls_ctx *ctx, PGconn *conn, const char *holder, long ttl_ms,
                       char *errbuf, size_t errbuf_size)
{
    const struct retained tables[] = {
        {"applied_events", "calls.applied_events", "applied_at",
         ctx->cfg.retention_applied_events_days, NULL},
        {"dni_sessions", "calls.dni_sessions", "held_until", ctx->cfg.retention_dni_sessions_days,
         NULL},
        {"calls", "calls.calls", "started_at", ctx->cfg.retention_calls_days, DELETE_CALLS},
        {"tasks", "calls.tasks", "updated_at", ctx->cfg.retention_tasks_days, DELETE_TASKS},
    };
    int rc = cf_retention_lease_take(conn, "calls", LEASE, holder, ttl_ms, errbuf, errbuf_size);
    if (rc != 1)
        return rc;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        if (tables[i].days == 0)
            continue;
        rc = sweep_table(ctx, conn, &tables[i], holder, ttl_ms, errbuf, errbuf_size);
        if (rc != 0)
            return rc < 0 ? rc : 1;
    }
    return 1;
}

void calls_retention_sweeper(void *vctx)
{
    struct calls_ctx *ctx = vctx;
    char holder[128], errbuf[256];
    /* Renewed every round: a holder late by up to an interval and half a
     * minute (a slow round, a busy machine) keeps it. */
    const long ttl_ms = (2 * ctx->cfg.retention_interval_s + 30) * 1000;

    cf_metrics_describe("clinicflow_calls_retention_removed_total", "counter",
                        "Rows deleted past their retention, by table");
    cf_metrics_describe("clinicflow_calls_retention_rounds_total", "counter",
                        "Retention rounds this instance ran holding the lease");
    cf_metrics_describe("clinicflow_calls_retention_lease_busy_total", "counter",
                        "Retention rounds skipped because another instance held the lease");
    cf_retention_lease_holder(holder, sizeof(holder));
    do {
        PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_warn("retention: %s", errbuf);
            continue;
        }
        const int rc = sweep_round(ctx, conn, holder, ttl_ms, errbuf, sizeof(errbuf));
        if (rc < 0)
            cf_warn("retention: %s", errbuf);
        else
            cf_metrics_add(rc == 1 ? "clinicflow_calls_retention_rounds_total"
                                   : "clinicflow_calls_retention_lease_busy_total",
                           "", 1);
        cf_pg_pool_release(ctx->svc->pg, conn);
    } while (!cf_service_sleep(ctx->svc, ctx->cfg.retention_interval_s * 1000));

    /* Stopping: another instance may take over at once. */
    PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
    if (conn &&
        cf_retention_lease_release(conn, "calls", LEASE, holder, errbuf, sizeof(errbuf)) != 0)
        cf_warn("retention: could not give the lease up: %s", errbuf);
    cf_pg_pool_release(ctx->svc->pg, conn);
}
