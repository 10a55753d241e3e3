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
 * The loop, the lease and the chunks are common/retention.h's; this file
 * says which tables, how old, and by which statement. The README says why
 * each default is what it is.
 */
#include "calls.h"

#include "common/retention.h"

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

void calls_retention_sweeper(void *vctx)
{
    struct calls_ctx *ctx = vctx;
    const struct cf_retention_table tables[] = {
        {"applied_events", "calls.applied_events", "applied_at",
         ctx->cfg.retention_applied_events_days, NULL},
        {"dni_sessions", "calls.dni_sessions", "held_until", ctx->cfg.retention_dni_sessions_days,
         NULL},
        {"calls", "calls.calls", "started_at", ctx->cfg.retention_calls_days, DELETE_CALLS},
        {"tasks", "calls.tasks", "updated_at", ctx->cfg.retention_tasks_days, DELETE_TASKS},
    };
    const struct cf_retention_conf conf = {
        .svc = ctx->svc,
        .schema = "calls",
        .metric_prefix = "clinicflow_calls_retention",
        .tables = tables,
        .ntables = sizeof(tables) / sizeof(tables[0]),
        .interval_s = ctx->cfg.retention_interval_s,
        .chunk = ctx->cfg.retention_chunk,
    };
    cf_retention_run(&conf);
}
