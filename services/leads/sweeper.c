/*
 * The SLA sweeper: a worker (any number of instances run it) that emits
 * lead.sla_breached once per lead whose respond task is still open past
 * its due time, and relays what it staged. Each sweep takes the overdue,
 * unreported respond tasks with FOR UPDATE SKIP LOCKED, marks their
 * breach (breached_at) and stages the events in leads.outbox in the same
 * transaction: a task another instance (or the fold closing it) holds
 * is skipped, and one marked is never taken again, so a breach is
 * decided once. The events are produced after the commit, and again until
 * Kafka has them (cf_outbox_relay), with ids from the lead id: a relay
 * retried after a failure repeats the same event. Due times were fixed in
 * the clinic's working hours when the task opened (tasks.c); the sweeper
 * compares them with the wall clock, up to how far the fold has come
 * (common/fold_progress.h): a response acknowledged onto leads.raw before
 * the due time but not folded yet keeps its lead from breaching until the
 * fold has stored it, which closes the lead's tasks in the same
 * transaction. (A task whose lead the fold's record says was answered in
 * time is not breached either: an earlier version, whose tasks consumer
 * trailed the fold, may have left such tasks open.)
 * A call with the lead's contact answered in time and not over yet holds
 * the breach until its outcome says whether a person answered it
 * (leads.calls_under_way, call_responses.c): the callback that is talking
 * to the patient at the due time is a response. Once over, an answered
 * call reaches leads.raw through the calls consumer (call_responses.c)
 * first, so the horizon is also how far that consumer has read calls.v1,
 * and folded what it wrote (both_horizon): a call answered before the
 * due time, on calls.v1 while the consumer lags, keeps the lead from
 * breaching until its response is folded. (The calls service's own lag
 * before calls.v1 is not seen here.)
 *
 * It also expires the tasks nobody answered, as calls' sweeper does its
 * callback tasks: a task (either kind) still open
 * CLINICFLOW_LEADS_TASK_EXPIRE_S after it opened, by the same horizon,
 * becomes `expired` (closed_at the deadline) and gives task.expired on
 * clinicflow.tasks.v1, staged in leads.outbox in the transaction that
 * expires it, from rows taken FOR UPDATE SKIP LOCKED (taken once), with an
 * id from the task id (a retried relay repeats the same event). A respond
 * task expires only once its breach is decided: each sweep decides the
 * breaches before the expiries, so one past both is breached, then
 * expired. The open tasks of an erased person's leads (nobody can answer
 * them) expire the same way at the erasure, once the horizon has passed
 * it; a respond task erased by its due time is never breached. A lead
 * event after the expiry finds no open task and closes
 * nothing. Each sweep also forgets the calls answered a day ago
 * (answered_calls.h).
 */
#include "tasks.h"
#include "answered_calls.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/fold_progress.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/topics.h"

#define SWEEP_BATCH 100
#define CALLS_STEPS 32

/* How far the calls consumer has come, counted only once its responses
 * are folded too: it writes a call's response to leads.raw before it
 * stores its offset, so a horizon of calls.v1 seen at seen_ms covers the
 * responses of those calls once the fold has reached a sample of
 * leads.raw taken after seen_ms. The steps wait for that, oldest first. */
struct calls_horizon {
    struct {
        int64_t calls_ms, seen_ms;
    } steps[CALLS_STEPS];
    int n;
    int64_t safe_ms; /* -1: none yet */
};

/* The horizon up to which both the fold and the calls consumer's
 * responses are known, given their horizons now (calls_ms seen at now_ms). */
static int64_t both_horizon(struct calls_horizon *ch, int64_t fold_ms, int64_t calls_ms,
                            int64_t now_ms)
{
    const int64_t last = ch->n ? ch->steps[ch->n - 1].calls_ms : ch->safe_ms;
    if (calls_ms > last) {
        if (ch->n == CALLS_STEPS) /* the newest step stands for the one it replaces */
            ch->n--;
        ch->steps[ch->n].calls_ms = calls_ms;
        ch->steps[ch->n].seen_ms = now_ms;
        ch->n++;
    }
    int used = 0;
    while (used < ch->n && ch->steps[used].seen_ms <= fold_ms)
        ch->safe_ms = ch->steps[used++].calls_ms;
    memmove(ch->steps, ch->steps + used, (size_t)(ch->n - used) * sizeof(ch->steps[0]));
    ch->n -= used;
    return ch->safe_ms < fold_ms ? ch->safe_ms : fold_ms;
}

/* One transaction: up to a batch of breaches decided and staged. Returns
 * how many, or an error (nothing decided). */
static int sweep_once(PGconn *conn, int64_t until_ms, char *errbuf, size_t errbuf_size)
{
    json_t *j_due = NULL;
    struct cf_outbox *out = cf_outbox_new();
    size_t i;
    json_t *j_item;

    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_tasks_take_breached(conn, until_ms, SWEEP_BATCH, &j_due, errbuf, errbuf_size);
    json_array_foreach(j_due, i, j_item)
    {
        if (rc != 0)
            break;
        const json_t *j_row = json_object_get(j_item, "row");
        struct cf_event ev;
        /* the event's time is the due time: the fold, closing a task late
         * before a sweep, tells the same event */
        leads_task_breach_event(&ev, j_row,
                                json_string_value(json_object_get(j_item, "network_id")),
                                cf_time_json_get(j_row, "due_at"));
        cf_outbox_add(out, CF_TOPIC_LEADS, ev.subject, &ev);
        cf_event_clear(&ev);
    }
    const int n = cf_outbox_stage_commit(conn, "leads", out, rc, errbuf, errbuf_size);
    json_decref(j_due);
    return n;
}

/* One transaction: up to a batch of tasks expired and their task.expired
 * staged. Returns how many, or an error (nothing expired). */
static int expire_once(PGconn *conn, int64_t until_ms, long expire_s, char *errbuf,
                       size_t errbuf_size)
{
    json_t *j_old = NULL;
    json_t *j_rows = json_array();
    struct cf_outbox *out = cf_outbox_new();
    size_t i;
    json_t *j_item;

    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_tasks_take_expiring(conn, until_ms, expire_s, SWEEP_BATCH, &j_old, errbuf,
                                       errbuf_size);
    json_array_foreach(j_old, i, j_item)
    {
        if (rc != 0)
            break;
        json_t *j_task = json_object_get(j_item, "doc");
        /* the deadline (or the person's erasure), not the sweep: the same
         * time whenever it runs */
        const int64_t at = leads_task_expires_at(
            j_task, expire_s, json_integer_value(json_object_get(j_item, "erased_ms")));
        leads_task_expire(j_task);
        json_t *j_row = json_pack("{s:O}", "doc", j_task);
        cf_time_json_set(j_row, "expired_at", at);
        json_array_append_new(j_rows, j_row);
        struct cf_event ev;
        leads_task_expired_event(&ev, j_task,
                                 json_string_value(json_object_get(j_item, "network_id")), at);
        cf_outbox_add(out, CF_TOPIC_TASKS, ev.subject, &ev);
        cf_event_clear(&ev);
    }
    if (rc == 0)
        rc = leads_tasks_save_expired_many(conn, j_rows, errbuf, errbuf_size);
    const int n = cf_outbox_stage_commit(conn, "leads", out, rc, errbuf, errbuf_size);
    json_decref(j_rows);
    json_decref(j_old);
    return n;
}

/* Produces what the sweeps staged: this one's, and any an earlier sweep
 * here or elsewhere could not produce (Kafka was down, the process died
 * after its commit). */
static void relay_outbox(struct leads_ctx *ctx, PGconn *conn)
{
    char errbuf[256];
    int n;
    while ((n = cf_outbox_relay(ctx->svc->producer, conn, "leads", 100, errbuf, sizeof(errbuf))) ==
           100)
        ;
    if (n < 0)
        cf_warn("sla sweeper: events staged, not yet produced: %s", errbuf);
}

/* What is still staged (a gauge). */
static void count_staged(PGconn *conn)
{
    char errbuf[256];
    PGresult *res = NULL;
    if (cf_pg_exec(conn, "SELECT count(*) FROM leads.outbox", 0, NULL, &res, errbuf,
                   sizeof(errbuf)) == 0)
        cf_metrics_set("clinicflow_leads_outbox_pending", "", strtod(PQgetvalue(res, 0, 0), NULL));
    PQclear(res);
}

void leads_sweeper(void *vctx)
{
    struct leads_ctx *ctx = vctx;
    char errbuf[256];

    cf_metrics_describe("clinicflow_leads_sla_breached_total", "counter",
                        "Leads whose respond task passed its due time unanswered, reported by "
                        "the sweeper");
    cf_metrics_describe("clinicflow_leads_tasks_expired_total", "counter",
                        "Lead tasks still open CLINICFLOW_LEADS_TASK_EXPIRE_S after they opened, "
                        "or whose person was erased, expired by the sweeper (task.expired)");
    cf_metrics_describe(
        "clinicflow_leads_outbox_pending", "gauge",
        "Breaches and task expiries the sweeper decided and committed that Kafka has not "
        "acknowledged yet (one table for all instances: each reports it)");
    struct cf_fold_progress *fp =
        cf_fold_progress_new("leads", LEADS_FOLD_GROUP, LEADS_TOPIC_RAW, "sla sweeper");
    struct cf_fold_progress *fp_calls =
        cf_fold_progress_new("leads", LEADS_CALLS_GROUP, CF_TOPIC_CALLS, "sla sweeper (calls)");
    struct calls_horizon calls_h = {.safe_ms = -1};
    while (!cf_service_sleep(ctx->svc, ctx->cfg.sweep_interval_ms)) {
        /* before a connection is held */
        cf_fold_progress_sample(fp, ctx->svc->producer);
        cf_fold_progress_sample(fp_calls, ctx->svc->producer);
        PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_warn("sla sweeper: %s", errbuf);
            continue;
        }
        /* as far as both the fold and the calls consumer have come: an
         * answered call the consumer has not read yet is a response */
        const int64_t fold_ms = cf_fold_progress_horizon(fp, conn);
        const int64_t calls_ms = cf_fold_progress_horizon(fp_calls, conn);
        int64_t until_ms = both_horizon(&calls_h, fold_ms, calls_ms, cf_time_now_ms());
        const int64_t now_ms = cf_time_now_ms();
        if (until_ms > now_ms)
            until_ms = now_ms;
        int n = 0, total = 0;
        if (leads_calls_under_way_stale(conn, errbuf, sizeof(errbuf)) != 0)
            cf_warn("sla sweeper: calls under way: %s", errbuf);
        while (until_ms >= 0 && (n = sweep_once(conn, until_ms, errbuf, sizeof(errbuf))) > 0) {
            total += n;
            relay_outbox(ctx, conn); /* out at once, not after the whole backlog */
            if (n < SWEEP_BATCH)
                break;
        }
        if (n < 0)
            cf_warn("sla sweeper: %s", errbuf);
        /* after the breaches: a held breach an answered call waives is
         * decided while the call is kept (a call read a day late) */
        if (leads_answered_calls_expire(conn, errbuf, sizeof(errbuf)) != 0)
            cf_warn("sla sweeper: answered calls: %s", errbuf);
        /* after the breaches: a respond task past both is breached first */
        int expired = 0;
        n = 0;
        while (until_ms >= 0 && (n = expire_once(conn, until_ms, ctx->cfg.task_expire_s, errbuf,
                                                 sizeof(errbuf))) > 0) {
            expired += n;
            relay_outbox(ctx, conn);
            if (n < SWEEP_BATCH)
                break;
        }
        if (n < 0)
            cf_warn("sla sweeper: expiring tasks: %s", errbuf);
        relay_outbox(ctx, conn);
        count_staged(conn);
        if (total > 0) {
            cf_metrics_add("clinicflow_leads_sla_breached_total", "", total);
            cf_info("sla sweeper reported %d breached leads", total);
        }
        if (expired > 0) {
            cf_metrics_add("clinicflow_leads_tasks_expired_total", "", expired);
            cf_info("sla sweeper expired %d lead tasks", expired);
        }
        cf_pg_pool_release(ctx->svc->pg, conn);
    }
    cf_fold_progress_free(fp);
    cf_fold_progress_free(fp_calls);
}
