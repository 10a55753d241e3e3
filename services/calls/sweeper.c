/*
 * The task sweeper: a worker (any number of instances run it) that
 * expires the callback tasks still open after the lost-after period as
 * lost, once, relays the task events staged in calls.outbox, and reports
 * the staff legs that never reported (staff_legs.c). A task is expired
 * only in a transaction that stages its event, under its contact's lock
 * taken only if free, and only once the fold has stored every fact
 * acknowledged before its deadline (common/fold_progress.h): a callback the fold
 * stored but the callbacks consumer has not applied yet closes the task
 * instead. The rules are tasks.c's header comment.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/fold_progress.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/topics.h"
#include "task_rules.h"
#include "tasks.h"

/* What a sweep did. */
struct sweep_counts {
    int expired;
    int closed; /* by a callback the callbacks consumer had not applied yet */
};

/* One overdue task, in a transaction of its own under its contact's lock
 * (taken only if free: a busy contact is tried at the next sweep). Before
 * the task is given up as lost, the call store is asked for a callback:
 * the fold may have stored one that the callbacks consumer, behind on
 * calls.v1, has not applied yet; such a task closes with it as the
 * consumer would have closed it. The events commit with the change, in
 * calls.outbox; relay_outbox produces them. Returns 1 when the task
 * expired or closed, 0 when it was left, or an error. */
static int sweep_task(struct calls_ctx *ctx, PGconn *conn, const char *task_id,
                      const char *network_id, const char *contact_key, const char *lost_after,
                      const char *horizon, struct sweep_counts *counts, char *errbuf,
                      size_t errbuf_size)
{
    PGresult *res = NULL;
    json_error_t jerr;
    json_t *j_task = NULL;
    int taken = 0;
    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0)
        rc =
            calls_tasks_lock_contact(conn, network_id, contact_key, 1, &taken, errbuf, errbuf_size);
    const char *params[] = {task_id, lost_after, horizon};
    if (rc == 0 && taken)
        rc =
            cf_pg_exec(conn,
                       "SELECT doc::text, json_build_object('task_id', task_id, 'kind', 'callback',"
                       " 'status', status, 'clinic_id', clinic_id, 'contact_key', contact_key,"
                       " 'opened_at', " CF_PG_UTC_MS(
                           "opened_at") ","
                                        " 'due_at', " CF_PG_UTC_MS(
                                            "due_at") ","
                                                      " 'missed_calls', missed_calls)::text"
                                                      " FROM calls.tasks WHERE task_id = $1 AND "
                                                      "status = 'open'"
                                                      " AND opened_at < $3::timestamptz - "
                                                      "make_interval(secs => $2) FOR UPDATE",
                       3, params, &res, errbuf, errbuf_size);
    if (rc != 0 || !taken || PQntuples(res) == 0) {
        PQclear(res);
        cf_pg_rollback(conn);
        return rc;
    }
    j_task = cf_json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    if (j_task && !calls_task_doc_ok(j_task)) {
        json_decref(j_task); /* parses, but is not a task of ours */
        j_task = NULL;
        snprintf(jerr.text, sizeof(jerr.text), "a task's members are missing");
    }
    if (!j_task) { /* not our document: what the row's columns say of the task */
        cf_warn("task sweeper: task %s: its document does not parse (%s); expired from its "
                "columns",
                task_id, jerr.text);
        j_task = cf_json_loads(PQgetvalue(res, 0, 1), 0, &jerr);
        if (json_is_null(json_object_get(j_task, "clinic_id")))
            json_object_del(j_task, "clinic_id");
    }
    PQclear(res);
    if (!j_task) {
        cf_pg_rollback(conn);
        return CF_EINTERNAL;
    }

    struct cf_outbox *out = cf_outbox_new();
    int closed = 0;
    rc = calls_tasks_settle_lost(ctx, conn, network_id, contact_key, j_task, out, &closed, errbuf,
                                 errbuf_size);
    rc = cf_outbox_stage_commit(conn, "calls", out, rc, errbuf, errbuf_size);
    if (rc >= 0 && closed)
        counts->closed++;
    else if (rc >= 0)
        counts->expired++;
    json_decref(j_task);
    return rc >= 0 ? 1 : rc;
}

/* Produces what the sweeps staged: this one's, and any an earlier sweep
 * here or elsewhere could not produce (Kafka was down, the process died
 * after its commit). Returns 0, or -1 when Kafka did not take it all. */
static int relay_outbox(struct calls_ctx *ctx, PGconn *conn)
{
    char errbuf[256];
    int n;
    while ((n = cf_outbox_relay(ctx->svc->producer, conn, "calls", 100, errbuf, sizeof(errbuf))) ==
           100)
        ;
    if (n < 0)
        cf_warn("task sweeper: task events staged, not yet produced: %s", errbuf);
    return n < 0 ? -1 : 0;
}

/* What is still staged (a gauge). */
static void count_staged(PGconn *conn)
{
    char errbuf[256];
    PGresult *res = NULL;
    if (cf_pg_exec(conn, "SELECT count(*) FROM calls.outbox", 0, NULL, &res, errbuf,
                   sizeof(errbuf)) == 0)
        cf_metrics_set("clinicflow_calls_outbox_pending", "", strtod(PQgetvalue(res, 0, 0), NULL));
    PQclear(res);
}

/* One sweep over up to a batch of tasks overdue at the horizon (oldest
 * first). Returns how many were expired or closed, or a negative error. */
static int sweep_once(struct calls_ctx *ctx, PGconn *conn, const char *horizon,
                      struct sweep_counts *counts, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    char lost_after[24];
    snprintf(lost_after, sizeof(lost_after), "%ld", ctx->cfg.task_lost_after_s);
    const char *params[] = {lost_after, horizon};
    int rc = cf_pg_exec(conn,
                        "SELECT task_id::text, network_id, contact_key FROM calls.tasks"
                        " WHERE status = 'open'"
                        " AND opened_at < $2::timestamptz - make_interval(secs => $1)"
                        " ORDER BY opened_at LIMIT 100",
                        2, params, &res, errbuf, errbuf_size);
    int done = 0, relayed = 1;
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        int r = sweep_task(ctx, conn, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                           PQgetvalue(res, i, 2), lost_after, horizon, counts, errbuf, errbuf_size);
        if (r < 0)
            rc = r;
        else
            done += r;
        /* out at once: the consumer waits for it (wait_for_staged); after a
         * failure the sweep's last relay tries again, not one per task */
        if (r > 0 && relayed)
            relayed = relay_outbox(ctx, conn) == 0;
    }
    PQclear(res);
    return rc == 0 ? done : rc;
}

/* Overdue tasks that wait for the fold (a gauge). */
static void count_held(struct calls_ctx *ctx, PGconn *conn, const char *horizon)
{
    char lost_after[24], errbuf[256];
    PGresult *res = NULL;
    snprintf(lost_after, sizeof(lost_after), "%ld", ctx->cfg.task_lost_after_s);
    const char *params[] = {lost_after, horizon};
    if (cf_pg_exec(conn,
                   "SELECT count(*) FROM calls.tasks WHERE status = 'open'"
                   " AND opened_at < now() - make_interval(secs => $1)"
                   " AND opened_at >= $2::timestamptz - make_interval(secs => $1)",
                   2, params, &res, errbuf, sizeof(errbuf)) == 0)
        cf_metrics_set("clinicflow_calls_tasks_expiry_held", "",
                       strtod(PQgetvalue(res, 0, 0), NULL));
    PQclear(res);
}

void calls_tasks_sweeper(void *vctx)
{
    struct calls_ctx *ctx = vctx;
    char errbuf[256];

    cf_metrics_describe("clinicflow_calls_tasks_expired_total", "counter",
                        "Callback tasks expired as lost by the sweeper");
    cf_metrics_describe("clinicflow_calls_tasks_swept_closed_total", "counter",
                        "Overdue callback tasks the sweeper closed with a callback found in the "
                        "call store (the callbacks consumer had not applied it yet)");
    cf_metrics_describe("clinicflow_calls_staff_legs_unreported_total", "counter",
                        "Calls whose staff leg never reported, reported missed by the sweeper");
    cf_metrics_describe("clinicflow_calls_outbox_pending", "gauge",
                        "Task events the sweeper decided and committed that Kafka has not "
                        "acknowledged yet (one table for all instances: each reports it)");
    cf_metrics_describe("clinicflow_calls_tasks_expiry_held", "gauge",
                        "Overdue callback tasks not yet expired because the fold has not "
                        "stored every fact acknowledged before their deadline");
    struct cf_fold_progress *fp =
        cf_fold_progress_new("calls", CALLS_FOLD_GROUP, CF_TOPIC_CALLS_RAW, "task sweeper");
    while (!cf_service_sleep(ctx->svc, ctx->cfg.sweep_interval_ms)) {
        cf_fold_progress_sample(fp, ctx->svc->producer); /* before a connection is held */
        PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_warn("task sweeper: %s", errbuf);
            continue;
        }
        const int64_t horizon_ms = cf_fold_progress_horizon(fp, conn);
        char horizon[32] = "-infinity";
        if (horizon_ms >= 0)
            cf_time_format(horizon_ms, horizon);
        count_held(ctx, conn, horizon);
        struct sweep_counts counts = {0};
        int n = 0;
        while (horizon_ms >= 0 &&
               (n = sweep_once(ctx, conn, horizon, &counts, errbuf, sizeof(errbuf))) == 100)
            ;
        if (n < 0)
            cf_warn("task sweeper: %s", errbuf);
        relay_outbox(ctx, conn);
        count_staged(conn);
        if (counts.expired > 0) {
            cf_metrics_add("clinicflow_calls_tasks_expired_total", "", counts.expired);
            cf_info("task sweeper expired %d callback tasks", counts.expired);
        }
        if (counts.closed > 0) {
            cf_metrics_add("clinicflow_calls_tasks_swept_closed_total", "", counts.closed);
            cf_info("task sweeper closed %d overdue callback tasks with callbacks in the call "
                    "store",
                    counts.closed);
        }
        n = calls_staff_legs_report(ctx, conn, errbuf, sizeof(errbuf));
        if (n < 0)
            cf_warn("task sweeper: unreported staff legs: %s", errbuf);
        else if (n > 0)
            cf_info("task sweeper reported %d unreported staff legs as missed", n);
        cf_pg_pool_release(ctx->svc->pg, conn);
    }
    cf_fold_progress_free(fp);
}
