/*
 * Missed calls become callback work (proto/README.md). A consumer of our own
 * calls.v1 keeps one open callback task per contact in calls.tasks:
 *
 *   - an inbound call that ended missed, abandoned, busy, failed or in
 *     voicemail, not from a blocked number, opens a task for its contact
 *     (opened at the call's end, due an SLA later), or, if one is open,
 *     adds to its missed_calls (task.updated); one that ended before the
 *     open task opened moves its opening, due time and source to itself,
 *     and a callback answered in between closes the task; one whose whole
 *     wait (to its lost time) ended before the open task opened, with no
 *     callback in it, is a task of its own, expired at once, as it would
 *     have been in order; one seen after the task it belonged to closed or
 *     expired (it started by that task's callback, or ended by its lost
 *     time; or it ended before its opening, not apart from it) joins that
 *     finished task (task.updated), so the callback that closed it does
 *     not close a second task, even with a later task open;
 *   - a call with the contact answered by a person (its outcome, so once it
 *     is over: a voicemail answers the line too), either direction,
 *     anywhere in the network, closes the open task with the time from the
 *     missed call to its answer and whether that was on time (task.closed):
 *     the earliest such call the call store holds, which may be one whose
 *     event this consumer has not applied yet (another partition).
 *     Calls of one contact are on different partitions, so either can be
 *     seen first: a callback seen before the missed call is found in the
 *     call store when the task opens, and closes it at once; missed calls
 *     that joined the task but came after the callback move to a new task
 *     when it closes. A missed call answered after all (a retried or late
 *     fact) is withdrawn from its task, which closes with that call (its
 *     closing_call_id is its source_call_id) if no other missed call is
 *     left;
 *   - a call still waiting for its staff leg (agent_pending: Twilio answered
 *     it itself) does neither: its call.updated with the staff's outcome does;
 *     the sweeper reports a leg still unreported after a while as missed;
 *   - a sweeper (a worker; each task under its contact's lock, taken only
 *     if free, so any number of instances run it) expires tasks still open
 *     after the lost-after period as lost (task.expired), once: the row
 *     changes status in the transaction that stages the event in
 *     calls.outbox, and the event is produced after the commit (again
 *     after a failure, with the same id), so a task the topic reports
 *     expired is expired in the store, and no callback closes it after
 *     that. It first asks the call store for a callback: one
 *     the fold stored but this consumer has not applied yet (it is behind,
 *     or down while the fold runs elsewhere) closes the task instead,
 *     with event ids from the task id. And a task waits until the fold
 *     has stored every fact acknowledged before its deadline
 *     (common/fold_progress.h); a callback answered before the deadline but
 *     reported after it is not waited for.
 *
 * The rules are pure functions (task_rules.c); this file is the consumer and
 * the task store, the sweeper is sweeper.c. Rules run on event time; the
 * sweeper on the wall clock. Work on one
 * contact is serialized by a transaction-scoped advisory lock on it.
 * Event ids: uuid5(input event id, "task.<verb>"); the sweeper's
 * uuid5(task id, "task.<verb>").
 */
#include "tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/fold_progress.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/topics.h"
#include "task_rules.h"

void calls_tasks_emit(struct cf_outbox *out, const char *id_base, const char *verb,
                      const json_t *j_task, const char *network_id, int64_t time_ms)
{
    struct cf_event ev;
    calls_task_event(&ev, id_base, verb, j_task, network_id, time_ms);
    cf_outbox_add(out, CF_TOPIC_TASKS, ev.subject, &ev);
    cf_event_clear(&ev);
}

static int open_task(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                     const char *contact_key, const json_t *j_call, int lost, const char *id_base,
                     struct cf_outbox *out, char *errbuf, size_t errbuf_size);

/* 0 once the fold has stored every fact acknowledged by lost_at, or, when
 * lost_at is ahead of the clock (a miss dated ahead), by
 * CALLS_FOLD_SEEN_MARGIN_MS ago; CF_EWAIT before: a callback that settles
 * what ended by lost_at may still be on calls.raw (a fold runner behind
 * another contact), as the sweeper waits for it before a task is lost. A
 * fold behind longer than CALLS_FOLD_WAIT_MAX_MS is waited for no more. */
static int fold_has_come(struct calls_ctx *ctx, PGconn *conn, int64_t lost_at, const char *what,
                         char *errbuf, size_t errbuf_size)
{
    const int64_t now = cf_time_now_ms();
    int64_t behind = 0;
    if (cf_fold_progress_ask(ctx->fold_seen, ctx->svc->producer, conn, &behind) >=
        (lost_at <= now ? lost_at : now - CALLS_FOLD_SEEN_MARGIN_MS))
        return 0;
    if (behind > CALLS_FOLD_WAIT_MAX_MS) {
        cf_warn("callbacks: %s is past its lost time and the fold has been behind for %lld s: "
                "settled from the call store as it is",
                what, (long long)(behind / 1000));
        cf_metrics_add("clinicflow_calls_tasks_settled_unseen_total", "", 1);
        return 0;
    }
    snprintf(errbuf, errbuf_size,
             "%s is past its lost time: waiting for the fold to store what may have called it "
             "back",
             what);
    return CF_EWAIT;
}

/* Whether a miss that ended at ended, before j_task opened, stays apart
 * from it: a callback answered in between settled the miss (*apart), or
 * its whole wait (to its lost time) passed before the task opened with no
 * callback (*apart and *lost: in order, its task would have expired
 * before that one opened), or before the callback that closed it (in
 * order, the task would have opened at the miss and been lost, not called
 * back a day or more after it). */
static int apart_from(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                      const char *contact_key, const json_t *j_task, int64_t ended, int *apart,
                      int *lost, char *errbuf, size_t errbuf_size)
{
    char cb_call[CF_UUID_STR_LEN + 1];
    int64_t cb_ms = 0;
    int rc = calls_tasks_find_callback(conn, network_id, contact_key, ended,
                                       calls_task_settled_until(&ctx->cfg, j_task, ended), cb_call,
                                       &cb_ms, errbuf, errbuf_size);
    const int64_t lost_at = calls_task_lost_at(&ctx->cfg, ended);
    const int64_t closed_at = cf_time_json_get(j_task, "closed_at");
    *lost = rc == 0 && !cb_call[0] &&
            (lost_at < cf_time_json_get(j_task, "opened_at") ||
             (closed_at >= 0 && lost_at < closed_at));
    /* lost only once no callback can still come from the fold */
    if (*lost)
        rc = fold_has_come(ctx, conn, lost_at, "a miss told late", errbuf, errbuf_size);
    *apart = rc == 0 && (cb_call[0] || *lost);
    return rc;
}

/* Counts the miss j_call (ended at ended) in j_task: linked once, its
 * count up, and, with earlier (it ended before the task opened), the
 * task's source, its opening and due time (a task closed already keeps
 * its callback, with the time to it and whether it was on time counted
 * from the new opening); task.updated. An open task whose number a
 * patient's erasure took gets the caller's number again: the person
 * called since, and the front desk needs it to call back. Nothing when
 * the call was linked. */
static int count_miss(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                      const char *contact_key, json_t *j_task, const json_t *j_call, int64_t ended,
                      int earlier, const char *id_base, int64_t time_ms, struct cf_outbox *out,
                      char *errbuf, size_t errbuf_size)
{
    const char *call_id = json_string_value(json_object_get(j_call, "call_id"));
    PGresult *res = NULL;
    const char *params[] = {json_string_value(json_object_get(j_task, "task_id")), call_id};
    int rc = cf_pg_exec(conn,
                        "INSERT INTO calls.task_calls (task_id, call_id) VALUES ($1, $2)"
                        " ON CONFLICT DO NOTHING",
                        2, params, &res, errbuf, errbuf_size);
    const int added = rc == 0 && PQcmdTuples(res)[0] == '1';
    PQclear(res);
    if (rc != 0 || !added)
        return rc;
    json_object_set_new(
        j_task, "missed_calls",
        json_integer(json_integer_value(json_object_get(j_task, "missed_calls")) + 1));
    const json_t *j_caller = json_object_get(j_call, "caller");
    const char *kind = json_string_value(json_object_get(j_caller, "kind"));
    const char *status = json_string_value(json_object_get(j_task, "status"));
    if (!json_object_get(j_task, "contact") && json_is_object(j_caller) && kind &&
        strcmp(kind, "erased") != 0 && status && strcmp(status, "open") == 0)
        json_object_set_new(j_task, "contact", json_deep_copy(j_caller));
    if (earlier) {
        calls_task_set_source(j_task, &ctx->cfg, call_id, ended);
        const char *closing = json_string_value(json_object_get(j_task, "closing_call_id"));
        const int64_t closed_at = cf_time_json_get(j_task, "closed_at");
        if (status && strcmp(status, "closed") == 0 && closing && closed_at >= 0) {
            char cb[CF_UUID_STR_LEN + 1];
            snprintf(cb, sizeof(cb), "%s", closing);
            calls_task_close(j_task, cb, closed_at);
        }
    }
    rc = calls_tasks_save(conn, network_id, contact_key, j_task, errbuf, errbuf_size);
    if (rc == 0)
        calls_tasks_emit(out, id_base, "updated", j_task, network_id, time_ms);
    return rc;
}

/* A miss told after the task it belonged to finished (another
 * partition's callback closed that task first, or the provider reported
 * it late): the contact's earliest finished task whose wait it falls in
 * (closed: it started by the callback, as take_later_misses keeps a miss
 * in a task; expired: it ended by the lost time), or whose opening it
 * precedes and is not apart from, counts it (count_miss), as it would
 * have had the miss come in order, instead of a task of its own that the
 * same callback would close again or that would be lost twice. *joined 1
 * when it did; *lost as apart_from's for the task it stays apart from. */
static int join_finished(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                         const char *contact_key, const json_t *j_call, const char *id_base,
                         int64_t time_ms, struct cf_outbox *out, int *joined, int *lost,
                         char *errbuf, size_t errbuf_size)
{
    const int64_t ended = calls_task_miss_end(j_call);
    json_t *j_task = NULL;
    int apart = 0;

    *joined = 0;
    int rc =
        calls_tasks_load_finished(conn, network_id, contact_key, calls_task_miss_start(j_call),
                                  ended, ctx->cfg.task_lost_after_s, &j_task, errbuf, errbuf_size);
    if (rc != 0 || !j_task)
        return rc;
    const int earlier = calls_task_miss_before(j_task, j_call);
    if (earlier)
        rc = apart_from(ctx, conn, network_id, contact_key, j_task, ended, &apart, lost, errbuf,
                        errbuf_size);
    if (rc == 0 && !apart) {
        *joined = 1;
        rc = count_miss(ctx, conn, network_id, contact_key, j_task, j_call, ended, earlier, id_base,
                        time_ms, out, errbuf, errbuf_size);
    }
    json_decref(j_task);
    return rc;
}

/* The missed call j_call (as calls.v1 carries it) joins the contact's open
 * task or opens one; the task events' ids come from id_base and time_ms is
 * the update's time. */
static int add_missed(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                      const char *contact_key, const json_t *j_call, const char *id_base,
                      int64_t time_ms, struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    const char *call_id = json_string_value(json_object_get(j_call, "call_id"));
    json_t *j_task = NULL;
    int rc;

    /* A call counts once, in the task it joined or opened first: seen again
     * (a result, a recording, or a later call taking its unique flag make
     * it a miss again), it changes nothing, not even when that task has
     * been closed or has expired and another of the contact's is open. */
    const char *exists[] = {call_id};
    int seen = 0;
    rc = cf_pg_exec_any(conn, "SELECT 1 FROM calls.task_calls WHERE call_id = $1", 1, exists, &seen,
                        errbuf, errbuf_size);
    if (rc != 0 || seen)
        return rc;
    rc = calls_tasks_load_open(conn, network_id, contact_key, &j_task, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    /* A miss that ended before the open task opened (seen later: another
     * partition, a retried webhook) is when the wait began. If a callback
     * answered after it and before the task opened, that callback settled
     * it: it gets a task of its own, closed with that callback at once
     * (open_task), and the open task is left as it is. Otherwise it joins
     * the task, which opens at its end, due an SLA after it, with it as
     * source. */
    const int64_t ended = calls_task_miss_end(j_call);
    int earlier = j_task && calls_task_miss_before(j_task, j_call);
    int lost = 0;
    /* A miss that ended after the open task's lost time (the sweeper has
     * not come to it yet) cannot join a task that was over by then: the
     * task is settled first, as the sweeper would (closed by a callback
     * in its window, else expired at its lost time, with the sweeper's
     * event ids), and the miss gets a task of its own, once the fold has
     * come that far (fold_has_come): a callback in the task's window
     * closes it. */
    const int64_t opened_at = j_task ? cf_time_json_get(j_task, "opened_at") : -1;
    const int64_t lost_at = opened_at >= 0 ? calls_task_lost_at(&ctx->cfg, opened_at) : -1;
    if (j_task && !earlier && opened_at >= 0 && ended > lost_at) {
        rc = fold_has_come(ctx, conn, lost_at, "the open task", errbuf, errbuf_size);
        if (rc != 0) {
            json_decref(j_task);
            return rc;
        }
        int closed = 0;
        rc = calls_tasks_settle_lost(ctx, conn, network_id, contact_key, j_task, out, &closed,
                                     errbuf, errbuf_size);
        json_decref(j_task);
        j_task = NULL;
        /* a callback settling it moves the misses after the callback to a
         * task of their own (take_later_misses): that one is open now */
        if (rc == 0)
            rc = calls_tasks_load_open(conn, network_id, contact_key, &j_task, errbuf, errbuf_size);
        if (rc != 0)
            return rc;
        earlier = j_task && calls_task_miss_before(j_task, j_call);
    }
    /* No open task, or one it ended before: the finished task it belonged
     * to, told after that task finished, comes first (a task that expired
     * or was called back between it and the open task's opening). */
    if (!j_task || earlier) {
        int joined = 0;
        rc = join_finished(ctx, conn, network_id, contact_key, j_call, id_base, time_ms, out,
                           &joined, &lost, errbuf, errbuf_size);
        if (rc != 0 || joined) {
            json_decref(j_task);
            return rc;
        }
    }
    if (earlier) {
        int apart = 0;
        rc = apart_from(ctx, conn, network_id, contact_key, j_task, ended, &apart, &lost, errbuf,
                        errbuf_size);
        if (rc != 0 || apart) {
            json_decref(j_task);
            j_task = NULL;
        }
        if (rc != 0)
            return rc;
    }
    if (j_task) {
        rc = count_miss(ctx, conn, network_id, contact_key, j_task, j_call, ended, earlier, id_base,
                        time_ms, out, errbuf, errbuf_size);
        json_decref(j_task);
        return rc;
    }

    /* No task it joins: a task of its own (lost at once when its wait
     * passed before a task it stays apart from opened or was called back). */
    return open_task(ctx, conn, network_id, contact_key, j_call, lost, id_base, out, errbuf,
                     errbuf_size);
}

int calls_tasks_settle_lost(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                            const char *contact_key, json_t *j_task, struct cf_outbox *out,
                            int *closed, char *errbuf, size_t errbuf_size)
{
    const char *task_id = json_string_value(json_object_get(j_task, "task_id"));
    const int64_t opened = cf_time_json_get(j_task, "opened_at");
    const int64_t lost_at = calls_task_lost_at(&ctx->cfg, opened);
    char cb_call[CF_UUID_STR_LEN + 1] = "";
    int64_t cb_ms = 0;
    int rc = calls_tasks_find_callback(conn, network_id, contact_key, opened, lost_at, cb_call,
                                       &cb_ms, errbuf, errbuf_size);
    *closed = rc == 0 && cb_call[0];
    if (rc == 0 && cb_call[0])
        return calls_tasks_close_with_callback(ctx, conn, network_id, contact_key, j_task, cb_call,
                                               cb_ms, task_id, out, errbuf, errbuf_size);
    if (rc == 0) {
        json_object_set_new(j_task, "status", json_string("expired"));
        rc = calls_tasks_save(conn, network_id, contact_key, j_task, errbuf, errbuf_size);
    }
    /* dated when it was lost, whenever it is found so */
    if (rc == 0)
        calls_tasks_emit(out, task_id, "expired", j_task, network_id, lost_at);
    return rc;
}

/* Opens a task for the missed call j_call (the call as calls.v1 carries
 * it); id_base names the input event the task events come from. A callback
 * the call store already holds closes it at once; with lost (its lost time
 * is past, and the store holds no callback within it) it expires at once,
 * dated at its lost time. */
static int open_task(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                     const char *contact_key, const json_t *j_call, int lost, const char *id_base,
                     struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    const char *call_id = json_string_value(json_object_get(j_call, "call_id"));
    const int64_t opened = calls_task_miss_end(j_call);
    json_t *j_task = calls_task_new(&ctx->cfg, network_id, contact_key, j_call);
    const char *task_id = json_string_value(json_object_get(j_task, "task_id"));

    /* The task.opened is of the open task; with a callback in the store
     * it is saved once, closed (another task of the contact may be open:
     * add_missed). */
    calls_tasks_emit(out, id_base, "opened", j_task, network_id, opened);
    char cb_call[CF_UUID_STR_LEN + 1];
    int64_t cb_ms = 0;
    int rc = calls_tasks_find_callback(conn, network_id, contact_key, opened,
                                       calls_task_lost_at(&ctx->cfg, opened), cb_call, &cb_ms,
                                       errbuf, errbuf_size);
    if (rc == 0 && cb_call[0])
        calls_task_close(j_task, cb_call, cb_ms);
    else if (rc == 0 && lost)
        json_object_set_new(j_task, "status", json_string("expired"));
    const char *link[] = {task_id, call_id};
    if (rc == 0)
        rc = calls_tasks_save(conn, network_id, contact_key, j_task, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec(conn, "INSERT INTO calls.task_calls (task_id, call_id) VALUES ($1, $2)", 2,
                        link, NULL, errbuf, errbuf_size);
    if (rc == 0 && cb_call[0])
        calls_tasks_emit(out, id_base, "closed", j_task, network_id, cb_ms);
    else if (rc == 0 && lost)
        calls_tasks_emit(out, id_base, "expired", j_task, network_id,
                         calls_task_lost_at(&ctx->cfg, opened));
    json_decref(j_task);
    return rc;
}

/* Takes the task's missed calls that started after the callback answered
 * at answered_ms out of it (a call on another partition can be seen before
 * the callback that precedes it): *moved gets their calls, oldest first,
 * and the task's count drops by as many. */
static int take_later_misses(PGconn *conn, json_t *j_task, int64_t answered_ms, json_t **moved,
                             char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    char after[32];
    json_error_t jerr;
    cf_time_format(answered_ms, after);
    const char *params[] = {json_string_value(json_object_get(j_task, "task_id")), after};

    *moved = json_array();
    int rc = cf_pg_exec(conn,
                        "WITH moved AS (DELETE FROM calls.task_calls tc USING calls.calls c"
                        " WHERE tc.task_id = $1 AND c.call_id = tc.call_id"
                        " AND c.started_at > $2::timestamptz"
                        " RETURNING c.call_id, c.started_at, c.doc)"
                        " SELECT doc::text FROM moved ORDER BY started_at, call_id",
                        2, params, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        json_t *j_call = cf_json_loads(PQgetvalue(res, i, 0), 0, &jerr);
        if (j_call)
            json_array_append_new(*moved, j_call);
    }
    PQclear(res);
    calls_task_take_misses(j_task, json_array_size(*moved));
    return rc;
}

/* The call that opened j_task was answered after all: it leaves the task
 * (once: later events of the call find it gone). With missed calls left,
 * the earliest of them is the task's source, its end the opening and the
 * due time counted from it; with none, the task closes with that call. */
static int withdraw_source(struct calls_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                           const char *contact_key, json_t *j_task, int64_t answered,
                           struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    const char *call_id = json_string_value(json_object_get(ev->data, "call_id"));
    const char *task_id = json_string_value(json_object_get(j_task, "task_id"));
    const char *params[] = {task_id, call_id};
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn, "DELETE FROM calls.task_calls WHERE task_id = $1 AND call_id = $2", 2,
                        params, &res, errbuf, errbuf_size);
    const int removed = rc == 0 && PQcmdTuples(res)[0] == '1';
    PQclear(res);
    if (rc != 0 || !removed)
        return rc;
    const char *left_params[] = {task_id};
    rc = cf_pg_exec(conn,
                    "SELECT c.call_id::text,"
                    " (extract(epoch FROM coalesce(c.ended_at, c.started_at)) * 1000)::bigint,"
                    " count(*) OVER ()"
                    " FROM calls.task_calls tc JOIN calls.calls c ON c.call_id = tc.call_id"
                    " WHERE tc.task_id = $1 ORDER BY coalesce(c.ended_at, c.started_at) LIMIT 1",
                    1, left_params, &res, errbuf, errbuf_size);
    const int left =
        rc == 0 && PQntuples(res) > 0 ? (int)strtol(PQgetvalue(res, 0, 2), NULL, 10) : 0;
    if (rc == 0 && left > 0) {
        const int64_t opened = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        json_object_set_new(j_task, "missed_calls", json_integer(left));
        calls_task_set_source(j_task, &ctx->cfg, PQgetvalue(res, 0, 0), opened);
    } else if (rc == 0) {
        calls_task_close(j_task, call_id, answered);
    }
    PQclear(res);
    if (rc == 0)
        rc = calls_tasks_save(conn, ev->networkid, contact_key, j_task, errbuf, errbuf_size);
    if (rc == 0)
        calls_tasks_emit(out, ev->id, left > 0 ? "updated" : "closed", j_task, ev->networkid,
                         ev->time_ms);
    return rc;
}

int calls_tasks_close_with_callback(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                                    const char *contact_key, json_t *j_task, const char *call_id,
                                    int64_t answered, const char *id_base, struct cf_outbox *out,
                                    char *errbuf, size_t errbuf_size)
{
    json_t *j_moved = NULL;
    int rc = take_later_misses(conn, j_task, answered, &j_moved, errbuf, errbuf_size);
    if (rc == 0) {
        calls_task_close(j_task, call_id, answered);
        rc = calls_tasks_save(conn, network_id, contact_key, j_task, errbuf, errbuf_size);
    }
    if (rc == 0)
        calls_tasks_emit(out, id_base, "closed", j_task, network_id, answered);
    size_t i;
    json_t *j_call;
    json_array_foreach(j_moved, i, j_call)
    {
        if (rc != 0)
            break;
        /* one answered since (a staff leg's late report): only unlinked,
         * no task of its own to expire as a lost call */
        if (!calls_task_is_missed(j_call))
            continue;
        char base[CF_UUID_STR_LEN + 1];
        const char *parts[] = {id_base, "task.moved",
                               json_string_value(json_object_get(j_call, "call_id"))};
        cf_uuid5(parts, 3, base);
        rc = add_missed(ctx, conn, network_id, contact_key, j_call, base, answered, out, errbuf,
                        errbuf_size);
    }
    json_decref(j_moved);
    return rc;
}

/* A call with the contact answered by a person. It closes the open task if
 * it came at or after the task opened and not after the task was lost (a
 * task still open then, the sweeper not having run or held while the fold
 * was behind, is left for the sweeper to expire). If it is the very call that opened
 * the task (reported missed, then answered after all: a retried or late
 * fact), it is withdrawn from the task, which closes with it when no other
 * missed call is left. */
static int on_answered(struct calls_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                       const char *contact_key, struct cf_outbox *out, char *errbuf,
                       size_t errbuf_size)
{
    const char *call_id = json_string_value(json_object_get(ev->data, "call_id"));
    int64_t answered = cf_time_json_get(ev->data, "answered_at");
    json_t *j_task = NULL;
    int rc = calls_tasks_load_open(conn, ev->networkid, contact_key, &j_task, errbuf, errbuf_size);

    if (rc != 0 || !j_task)
        return rc;
    switch (calls_task_on_answer(&ctx->cfg, j_task, call_id, answered)) {
    case CALLS_TASK_CLOSE: {
        /* an earlier callback the fold stored, its event not applied yet
         * (another partition, behind): the task was settled then */
        char cb_call[CF_UUID_STR_LEN + 1];
        int64_t cb_ms = answered;
        rc = calls_tasks_find_callback(conn, ev->networkid, contact_key,
                                       cf_time_json_get(j_task, "opened_at"), answered, cb_call,
                                       &cb_ms, errbuf, errbuf_size);
        if (rc == 0)
            rc = calls_tasks_close_with_callback(
                ctx, conn, ev->networkid, contact_key, j_task, cb_call[0] ? cb_call : call_id,
                cb_call[0] ? cb_ms : answered, ev->id, out, errbuf, errbuf_size);
        break;
    }
    case CALLS_TASK_WITHDRAW:
        rc =
            withdraw_source(ctx, conn, ev, contact_key, j_task, answered, out, errbuf, errbuf_size);
        break;
    case CALLS_TASK_KEEP: /* answered after the task was lost: the sweeper expires it */
        break;
    }
    json_decref(j_task);
    return rc;
}

int calls_tasks_apply_locked(struct calls_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                             enum calls_task_input input, struct cf_outbox *out, char *errbuf,
                             size_t errbuf_size)
{
    const char *contact_key = json_string_value(json_object_get(ev->data, "contact_key"));

    if (input == CALLS_TASK_MISSED)
        return add_missed(ctx, conn, ev->networkid, contact_key, ev->data, ev->id, ev->time_ms, out,
                          errbuf, errbuf_size);
    return on_answered(ctx, conn, ev, contact_key, out, errbuf, errbuf_size);
}

int calls_tasks_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                      const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                      size_t errbuf_size)
{
    struct calls_ctx *ctx = vctx;

    const enum calls_task_input input =
        ev ? calls_task_input(ev->type, ev->networkid, ev->data) : CALLS_TASK_IGNORE;
    if (input == CALLS_TASK_IGNORE)
        return 0; /* not a missed call nor a callback: nothing to do here */
    const char *contact_key = json_string_value(json_object_get(ev->data, "contact_key"));

    /* One contact at a time, across partitions and instances. */
    int rc =
        calls_tasks_lock_contact(conn, ev->networkid, contact_key, 0, NULL, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_tasks_wait_for_staged_one(conn, ev->networkid, contact_key, errbuf, errbuf_size);
    json_t *j_wanted = json_array();
    json_t *j_row = calls_tasks_fold_wanted(ev, rkm, cf_time_now_ms());
    if (j_row)
        json_array_append_new(j_wanted, j_row);
    if (rc == 0)
        rc = calls_tasks_wait_for_fold(conn, j_wanted, errbuf, errbuf_size);
    json_decref(j_wanted);
    if (rc == 0)
        rc = calls_tasks_apply_locked(ctx, conn, ev, input, out, errbuf, errbuf_size);
    return rc;
}
