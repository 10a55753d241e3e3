/*
 * Missed calls become callback work (proto/README.md). A consumer of our own
 * calls.v1 keeps one open callback task per contact in calls.tasks:
 *
 *   - an inbound call that ended missed, abandoned, busy, failed or in
 *     voicemail, not from a blocked number, opens a task for its contact
 *     (opened at the call's end, due an SLA later), or, if one is open,
 *     adds to its missed_calls (task.updated); one that ended before the
 *     open task opened moves its opening, due time and source to itself,
 *     and a callback answered in between closes the task;
 *   - a call with the contact answered by a person (its outcome, so once it
 *     is over: a voicemail answers the line too), either direction,
 *     anywhere in the network, closes the open task with the time from the
 *     missed call to its answer and whether that was on time (task.closed).
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
 *     (fold_horizon below); a callback answered before the deadline but
 *     reported after it is not waited for.
 *
 * Rules run on event time; the sweeper on the wall clock. Work on one
 * contact is serialized by a transaction-scoped advisory lock on it.
 * Event ids: uuid5(input event id, "task.<verb>"); the sweeper's
 * uuid5(task id, "task.<verb>").
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/topics.h"
#include "common/xmalloc.h"

static const char *const missed_outcomes[] = {"missed", "abandoned", "busy",
                                              "failed", "voicemail", NULL};

static int is_missed(const json_t *j_call)
{
    const char *outcome = json_string_value(json_object_get(j_call, "outcome"));
    const char *status = json_string_value(json_object_get(j_call, "status"));
    const char *dir = json_string_value(json_object_get(j_call, "direction"));

    if (!outcome || !status || !dir || strcmp(status, "ended") != 0 ||
        strcmp(dir, "inbound") != 0 || json_is_true(json_object_get(j_call, "blocked")))
        return 0;
    for (const char *const *o = missed_outcomes; *o; o++) {
        if (strcmp(outcome, *o) == 0)
            return 1;
    }
    return 0;
}

static void task_event(struct cf_event *ev, const char *id_base, const char *verb,
                       const json_t *j_task, const char *network_id, int64_t time_ms)
{
    char kind[32];
    const char *parts[] = {id_base, kind};
    const char *clinic = json_string_value(json_object_get(j_task, "clinic_id"));

    memset(ev, 0, sizeof(*ev));
    snprintf(kind, sizeof(kind), "task.%s", verb);
    cf_uuid5(parts, 2, ev->id);
    ev->source = cf_xstrdup("/clinicflow/calls/fold");
    ev->type = cf_xasprintf("clinicflow.task.%s", verb);
    ev->subject = cf_xstrdup(json_string_value(json_object_get(j_task, "task_id")));
    ev->time_ms = time_ms;
    ev->networkid = cf_xstrdup(network_id);
    ev->clinicid = clinic ? cf_xstrdup(clinic) : NULL;
    ev->data = json_deep_copy(j_task);
}

static void emit(struct cf_outbox *out, const char *id_base, const char *verb, const json_t *j_task,
                 const char *network_id, int64_t time_ms)
{
    struct cf_event ev;
    task_event(&ev, id_base, verb, j_task, network_id, time_ms);
    cf_outbox_add(out, CF_TOPIC_TASKS, ev.subject, &ev);
    cf_event_clear(&ev);
}

static int save_task(PGconn *conn, const char *network_id, const char *contact_key,
                     const json_t *j_task, char *errbuf, size_t errbuf_size)
{
    char missed[24];
    char *doc = json_dumps(j_task, JSON_COMPACT);
    snprintf(missed, sizeof(missed), "%lld",
             (long long)json_integer_value(json_object_get(j_task, "missed_calls")));
    const char *params[] = {json_string_value(json_object_get(j_task, "task_id")),
                            network_id,
                            json_string_value(json_object_get(j_task, "clinic_id")),
                            contact_key,
                            json_string_value(json_object_get(j_task, "status")),
                            json_string_value(json_object_get(j_task, "opened_at")),
                            json_string_value(json_object_get(j_task, "due_at")),
                            json_string_value(json_object_get(j_task, "closed_at")),
                            missed,
                            doc};
    int rc =
        cf_pg_exec(conn,
                   "INSERT INTO calls.tasks (task_id, network_id, clinic_id, contact_key, status,"
                   " opened_at, due_at, closed_at, missed_calls, doc)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)"
                   " ON CONFLICT (task_id) DO UPDATE SET status = EXCLUDED.status,"
                   " opened_at = EXCLUDED.opened_at, due_at = EXCLUDED.due_at,"
                   " closed_at = EXCLUDED.closed_at, missed_calls = EXCLUDED.missed_calls,"
                   " doc = EXCLUDED.doc, updated_at = now()",
                   10, params, NULL, errbuf, errbuf_size);
    free(doc);
    return rc;
}

/* The open task of the contact (FOR UPDATE), or NULL. */
static int load_open(PGconn *conn, const char *network_id, const char *contact_key, json_t **out,
                     char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    const char *params[] = {network_id, contact_key};
    json_error_t jerr;

    *out = NULL;
    int rc =
        cf_pg_exec(conn,
                   "SELECT doc::text FROM calls.tasks WHERE network_id = $1 AND contact_key = $2"
                   " AND status = 'open' FOR UPDATE",
                   2, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0)
        *out = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    return rc;
}

/* Closes j_task with the answered call (id, answered at ms). */
static void close_task(json_t *j_task, const char *call_id, int64_t answered_ms)
{
    int64_t opened = cf_json_time(j_task, "opened_at"), due = cf_json_time(j_task, "due_at");
    json_object_set_new(j_task, "status", json_string("closed"));
    cf_json_set_time(j_task, "closed_at", answered_ms);
    json_object_set_new(j_task, "closing_call_id", json_string(call_id));
    json_object_set_new(j_task, "seconds_to_callback",
                        json_integer(answered_ms > opened ? (answered_ms - opened) / 1000 : 0));
    json_object_set_new(j_task, "on_time", json_boolean(answered_ms <= due));
}

/* The first call with the contact answered by a person at or after from_ms
 * that the call store already holds (a callback seen before the missed
 * call). */
/* When a task opened at opened_ms is lost: a callback answered later does
 * not close it (the sweeper expires it). */
static int64_t lost_at(const struct calls_ctx *ctx, int64_t opened_ms)
{
    return opened_ms + (int64_t)ctx->cfg.task_lost_after_s * 1000;
}

static int find_callback(PGconn *conn, const char *network_id, const char *contact_key,
                         int64_t from_ms, int64_t until_ms, char call_id[CF_UUID_STR_LEN + 1],
                         int64_t *answered_ms, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    char from[32], until[32];
    cf_time_format(from_ms, from);
    cf_time_format(until_ms, until);
    const char *params[] = {network_id, contact_key, from, until};
    int rc = cf_pg_exec(conn,
                        "SELECT call_id::text, (extract(epoch FROM answered_at) * 1000)::bigint"
                        " FROM calls.calls WHERE network_id = $1 AND contact_key = $2"
                        " AND answered_at >= $3::timestamptz AND answered_at <= $4::timestamptz"
                        " AND outcome = 'answered' AND NOT doc ? 'agent_pending'"
                        " ORDER BY answered_at LIMIT 1",
                        4, params, &res, errbuf, errbuf_size);
    call_id[0] = '\0';
    if (rc == 0 && PQntuples(res) > 0) {
        snprintf(call_id, CF_UUID_STR_LEN + 1, "%s", PQgetvalue(res, 0, 0));
        *answered_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return rc;
}

static int open_task(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                     const char *contact_key, const json_t *j_call, const char *id_base,
                     struct cf_outbox *out, char *errbuf, size_t errbuf_size);

/* When the wait for a callback began with the missed call j_call: its end,
 * or its start when the end is not known. */
static int64_t miss_end(const json_t *j_call)
{
    const int64_t ended = cf_json_time(j_call, "ended_at");
    return ended >= 0 ? ended : cf_json_time(j_call, "started_at");
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
    PGresult *res = NULL;
    int rc;

    rc = load_open(conn, network_id, contact_key, &j_task, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    /* A miss that ended before the open task opened (seen later: another
     * partition, a retried webhook) is when the wait began. If a callback
     * answered after it and before the task opened, that callback settled
     * it: it gets a task of its own, closed with that callback at once
     * (open_task), and the open task is left as it is. Otherwise it joins
     * the task, which opens at its end, due an SLA after it, with it as
     * source. */
    const int64_t ended = miss_end(j_call);
    const int64_t task_opened = j_task ? cf_json_time(j_task, "opened_at") : -1;
    const int earlier = j_task && ended >= 0 && ended < task_opened;
    if (earlier) {
        char cb_call[CF_UUID_STR_LEN + 1];
        int64_t cb_ms = 0, until = lost_at(ctx, ended);
        if (until >= task_opened)
            until = task_opened - 1;
        rc = find_callback(conn, network_id, contact_key, ended, until, cb_call, &cb_ms, errbuf,
                           errbuf_size);
        if (rc != 0 || cb_call[0]) {
            json_decref(j_task);
            j_task = NULL;
        }
        if (rc != 0)
            return rc;
    }
    if (j_task) {
        /* A call counts once, however many events it had. */
        const char *params[] = {json_string_value(json_object_get(j_task, "task_id")), call_id};
        rc = cf_pg_exec(conn,
                        "INSERT INTO calls.task_calls (task_id, call_id) VALUES ($1, $2)"
                        " ON CONFLICT DO NOTHING",
                        2, params, &res, errbuf, errbuf_size);
        int added = rc == 0 && PQcmdTuples(res)[0] == '1';
        PQclear(res);
        if (rc == 0 && added) {
            json_object_set_new(
                j_task, "missed_calls",
                json_integer(json_integer_value(json_object_get(j_task, "missed_calls")) + 1));
            if (earlier) {
                json_object_set_new(j_task, "source_call_id", json_string(call_id));
                cf_json_set_time(j_task, "opened_at", ended);
                cf_json_set_time(j_task, "due_at", ended + ctx->cfg.callback_sla_s * 1000);
            }
            rc = save_task(conn, network_id, contact_key, j_task, errbuf, errbuf_size);
            if (rc == 0)
                emit(out, id_base, "updated", j_task, network_id, time_ms);
        }
        json_decref(j_task);
        return rc;
    }

    /* No open task (or one this miss does not join): unless this call
     * already opened one (closed since), open one. */
    const char *exists[] = {call_id};
    rc = cf_pg_exec(conn, "SELECT 1 FROM calls.task_calls WHERE call_id = $1", 1, exists, &res,
                    errbuf, errbuf_size);
    int seen = rc == 0 && PQntuples(res) > 0;
    PQclear(res);
    if (rc != 0 || seen)
        return rc;
    return open_task(ctx, conn, network_id, contact_key, j_call, id_base, out, errbuf, errbuf_size);
}

/* Opens a task for the missed call j_call (the call as calls.v1 carries
 * it); id_base names the input event the task events come from. A callback
 * the call store already holds closes it at once. */
static int open_task(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                     const char *contact_key, const json_t *j_call, const char *id_base,
                     struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    const char *call_id = json_string_value(json_object_get(j_call, "call_id"));
    const int64_t opened = miss_end(j_call);
    char task_id[CF_UUID_STR_LEN + 1];
    const char *parts[] = {network_id, "callback", contact_key, call_id};
    cf_uuid5(parts, 4, task_id);
    json_t *j_task = json_pack("{s:s, s:s, s:s, s:s, s:O, s:i}", "task_id", task_id, "kind",
                               "callback", "status", "open", "contact_key", contact_key, "contact",
                               json_object_get(j_call, "caller"), "missed_calls", 1);
    json_t *j_clinic = json_object_get(j_call, "clinic_id");
    if (j_clinic)
        json_object_set(j_task, "clinic_id", j_clinic);
    json_object_set_new(j_task, "source_call_id", json_string(call_id));
    cf_json_set_time(j_task, "opened_at", opened);
    cf_json_set_time(j_task, "due_at", opened + ctx->cfg.callback_sla_s * 1000);

    /* The task.opened is of the open task; with a callback in the store
     * it is saved once, closed (another task of the contact may be open:
     * add_missed). */
    emit(out, id_base, "opened", j_task, network_id, opened);
    char cb_call[CF_UUID_STR_LEN + 1];
    int64_t cb_ms = 0;
    int rc = find_callback(conn, network_id, contact_key, opened, lost_at(ctx, opened), cb_call,
                           &cb_ms, errbuf, errbuf_size);
    if (rc == 0 && cb_call[0])
        close_task(j_task, cb_call, cb_ms);
    const char *link[] = {task_id, call_id};
    if (rc == 0)
        rc = save_task(conn, network_id, contact_key, j_task, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec(conn, "INSERT INTO calls.task_calls (task_id, call_id) VALUES ($1, $2)", 2,
                        link, NULL, errbuf, errbuf_size);
    if (rc == 0 && cb_call[0])
        emit(out, id_base, "closed", j_task, network_id, cb_ms);
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
        json_t *j_call = json_loads(PQgetvalue(res, i, 0), 0, &jerr);
        if (j_call)
            json_array_append_new(*moved, j_call);
    }
    PQclear(res);
    const json_int_t left = json_integer_value(json_object_get(j_task, "missed_calls")) -
                            (json_int_t)json_array_size(*moved);
    json_object_set_new(j_task, "missed_calls", json_integer(left > 1 ? left : 1));
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
        json_object_set_new(j_task, "source_call_id", json_string(PQgetvalue(res, 0, 0)));
        cf_json_set_time(j_task, "opened_at", opened);
        cf_json_set_time(j_task, "due_at", opened + ctx->cfg.callback_sla_s * 1000);
    } else if (rc == 0) {
        close_task(j_task, call_id, answered);
    }
    PQclear(res);
    if (rc == 0)
        rc = save_task(conn, ev->networkid, contact_key, j_task, errbuf, errbuf_size);
    if (rc == 0)
        emit(out, ev->id, left > 0 ? "updated" : "closed", j_task, ev->networkid, ev->time_ms);
    return rc;
}

/* Closes j_task (open, locked) with the call call_id answered at
 * answered_ms, at or after the task opened; missed calls of the task that
 * came after it go to a task of their own. The events' ids come from
 * id_base. */
static int close_with_callback(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                               const char *contact_key, json_t *j_task, const char *call_id,
                               int64_t answered, const char *id_base, struct cf_outbox *out,
                               char *errbuf, size_t errbuf_size)
{
    json_t *j_moved = NULL;
    int rc = take_later_misses(conn, j_task, answered, &j_moved, errbuf, errbuf_size);
    if (rc == 0) {
        close_task(j_task, call_id, answered);
        rc = save_task(conn, network_id, contact_key, j_task, errbuf, errbuf_size);
    }
    if (rc == 0)
        emit(out, id_base, "closed", j_task, network_id, answered);
    size_t i;
    json_t *j_call;
    json_array_foreach(j_moved, i, j_call)
    {
        if (rc != 0)
            break;
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
    int64_t answered = cf_json_time(ev->data, "answered_at");
    json_t *j_task = NULL;
    int rc = load_open(conn, ev->networkid, contact_key, &j_task, errbuf, errbuf_size);

    if (rc != 0 || !j_task)
        return rc;
    const char *source = json_string_value(json_object_get(j_task, "source_call_id"));
    const int64_t opened = cf_json_time(j_task, "opened_at");
    /* answered after the task was lost: left open for the sweeper to expire */
    if (answered >= opened && answered <= lost_at(ctx, opened))
        rc = close_with_callback(ctx, conn, ev->networkid, contact_key, j_task, call_id, answered,
                                 ev->id, out, errbuf, errbuf_size);
    else if (answered < opened && source && call_id && strcmp(source, call_id) == 0)
        rc =
            withdraw_source(ctx, conn, ev, contact_key, j_task, answered, out, errbuf, errbuf_size);
    json_decref(j_task);
    return rc;
}

/* Work on one contact is serialized by a transaction-scoped advisory lock:
 * waits for it, or with try set only takes it if free (*taken says). */
static int lock_contact(PGconn *conn, const char *network_id, const char *contact_key, int try,
                        int *taken, char *errbuf, size_t errbuf_size)
{
    char *lock_key = calls_contact_lock_key(network_id, contact_key);
    PGresult *res = NULL;
    const char *params[] = {lock_key};
    int rc = cf_pg_exec(conn,
                        try ? "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))"
                            : "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        1, params, &res, errbuf, errbuf_size);
    if (taken)
        *taken = rc == 0 && (!try || strcmp(PQgetvalue(res, 0, 0), "t") == 0);
    PQclear(res);
    free(lock_key);
    return rc;
}

/* Events the sweeper staged about the contact's tasks go out first: the
 * consumer's own events about those tasks would otherwise overtake them
 * (a task.updated before the task.opened of a task the sweeper opened).
 * While any are staged, the message waits (retried after a back-off); the
 * relay produces them right after the sweeper's commit. A row staged more
 * than 10 minutes ago no longer holds the consumer up: whatever keeps it
 * (clinicflow_calls_outbox_pending) should not stop the callbacks too. */
static int wait_for_staged(PGconn *conn, const char *network_id, const char *contact_key,
                           char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    const char *params[] = {network_id, contact_key};
    int rc = cf_pg_exec(
        conn,
        /* keys are task ids; the CASE keeps any other key from failing the cast */
        "SELECT 1 FROM calls.outbox o JOIN calls.tasks t ON t.task_id ="
        " CASE WHEN o.key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"
        " THEN o.key::uuid END"
        " WHERE t.network_id = $1 AND t.contact_key = $2"
        " AND o.staged_at > now() - interval '10 minutes' LIMIT 1",
        2, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0) {
        cf_seterr(errbuf, errbuf_size,
                  "the sweeper's events about this contact's tasks are not produced yet");
        rc = CF_EWAIT;
    }
    PQclear(res);
    return rc;
}

int calls_tasks_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                      const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                      size_t errbuf_size)
{
    struct calls_ctx *ctx = vctx;
    (void)rkm;

    if (!ev || strncmp(ev->type, "clinicflow.call.", 16) != 0 || !ev->networkid)
        return 0; /* not a call event: nothing to do here */
    /* The provider answered the caller itself and the staff leg has not
     * reported: neither a miss nor a callback yet (its call.updated is). */
    if (json_is_true(json_object_get(ev->data, "agent_pending")))
        return 0;
    const char *contact_key = json_string_value(json_object_get(ev->data, "contact_key"));
    int missed = is_missed(ev->data);
    /* Answered by a person: the outcome says so once the call is over. An
     * answer time alone is not enough: a voicemail or an answering machine
     * answers the line too. */
    const char *outcome = json_string_value(json_object_get(ev->data, "outcome"));
    int answered =
        outcome && strcmp(outcome, "answered") == 0 && cf_json_time(ev->data, "answered_at") >= 0;
    if (!contact_key || (!missed && !answered))
        return 0;

    /* One contact at a time, across partitions and instances. */
    int rc = lock_contact(conn, ev->networkid, contact_key, 0, NULL, errbuf, errbuf_size);
    if (rc == 0)
        rc = wait_for_staged(conn, ev->networkid, contact_key, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    if (missed)
        return add_missed(ctx, conn, ev->networkid, contact_key, ev->data, ev->id, ev->time_ms, out,
                          errbuf, errbuf_size);
    return on_answered(ctx, conn, ev, contact_key, out, errbuf, errbuf_size);
}

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
        rc = lock_contact(conn, network_id, contact_key, 1, &taken, errbuf, errbuf_size);
    const char *params[] = {task_id, lost_after, horizon};
    if (rc == 0 && taken)
        rc =
            cf_pg_exec(conn,
                       "SELECT doc::text, json_build_object('task_id', task_id, 'kind', 'callback',"
                       " 'status', status, 'clinic_id', clinic_id, 'contact_key', contact_key,"
                       " 'opened_at', to_char(opened_at AT TIME ZONE 'UTC',"
                       " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
                       " 'due_at', to_char(due_at AT TIME ZONE 'UTC',"
                       " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
                       " 'missed_calls', missed_calls)::text"
                       " FROM calls.tasks WHERE task_id = $1 AND status = 'open'"
                       " AND opened_at < $3::timestamptz - make_interval(secs => $2) FOR UPDATE",
                       3, params, &res, errbuf, errbuf_size);
    if (rc != 0 || !taken || PQntuples(res) == 0) {
        PQclear(res);
        cf_pg_rollback(conn);
        return rc;
    }
    j_task = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    if (j_task && (!json_is_string(json_object_get(j_task, "task_id")) ||
                   cf_json_time(j_task, "opened_at") < 0 || cf_json_time(j_task, "due_at") < 0 ||
                   !json_is_integer(json_object_get(j_task, "missed_calls")))) {
        json_decref(j_task); /* parses, but is not a task of ours */
        j_task = NULL;
        snprintf(jerr.text, sizeof(jerr.text), "a task's members are missing");
    }
    if (!j_task) { /* not our document: what the row's columns say of the task */
        cf_warn("task sweeper: task %s: its document does not parse (%s); expired from its "
                "columns",
                task_id, jerr.text);
        j_task = json_loads(PQgetvalue(res, 0, 1), 0, &jerr);
        if (json_is_null(json_object_get(j_task, "clinic_id")))
            json_object_del(j_task, "clinic_id");
    }
    PQclear(res);
    if (!j_task) {
        cf_pg_rollback(conn);
        return CF_EINTERNAL;
    }

    struct cf_outbox *out = cf_outbox_new();
    char cb_call[CF_UUID_STR_LEN + 1] = "";
    int64_t cb_ms = 0;
    const int64_t opened = cf_json_time(j_task, "opened_at");
    if (opened >= 0)
        rc = find_callback(conn, network_id, contact_key, opened, lost_at(ctx, opened), cb_call,
                           &cb_ms, errbuf, errbuf_size);
    if (rc == 0 && cb_call[0]) {
        rc = close_with_callback(ctx, conn, network_id, contact_key, j_task, cb_call, cb_ms,
                                 task_id, out, errbuf, errbuf_size);
    } else if (rc == 0) {
        json_object_set_new(j_task, "status", json_string("expired"));
        rc = save_task(conn, network_id, contact_key, j_task, errbuf, errbuf_size);
        if (rc == 0)
            emit(out, task_id, "expired", j_task, network_id, cf_now_ms());
    }
    if (rc == 0)
        rc = cf_outbox_stage(conn, "calls", out, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_commit(conn, errbuf, errbuf_size);
    else
        cf_pg_rollback(conn);
    if (rc == 0 && cb_call[0])
        counts->closed++;
    else if (rc == 0)
        counts->expired++;
    cf_outbox_free(out);
    json_decref(j_task);
    return rc == 0 ? 1 : rc;
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

/*
 * How far the fold has come. A task is lost only if no callback came
 * within the lost-after period, and a callback the fold has not stored yet
 * cannot be seen, so a task may expire only once the fold has stored every
 * fact acknowledged before its deadline. Each sweep samples the high
 * watermarks of calls.raw (every fact acknowledged before the sample is
 * below them); the horizon is the time of the newest sample that the
 * fold's stored offsets have reached in every partition. Tasks whose
 * deadline is past the horizon wait (clinicflow_calls_tasks_expiry_held:
 * under steady traffic a few, those whose deadline passed since the last
 * sample the fold reached). The samples live on the sweeper's thread
 * only.
 */
#define FOLD_SAMPLES 256
#define FOLD_PARTITIONS_FIRST 64 /* a first guess; the topic's own count wins */

struct fold_sample {
    int64_t at_ms;
    int n;       /* partitions */
    int64_t *hi; /* n high watermarks */
};

/* The samples the fold has not reached yet, oldest first, and the horizon
 * reached so far. When the fold is so far behind that the samples fill
 * up, every other one is dropped: the span they cover doubles, so a fold
 * that catches up after hours still finds the samples it passes. The
 * arrays are sized from calls.raw's partition count, which may grow. */
struct fold_progress {
    struct fold_sample samples[FOLD_SAMPLES];
    size_t count;
    int64_t horizon_ms; /* -1: none yet */
    int cap;            /* partitions lo and stored hold, at least any sample's n */
    int64_t *lo;
    int64_t *stored;
};

static void fold_progress_grow(struct fold_progress *fp, int cap)
{
    fp->cap = cap;
    fp->lo = cf_xrealloc(fp->lo, (size_t)cap * sizeof(*fp->lo));
    fp->stored = cf_xrealloc(fp->stored, (size_t)cap * sizeof(*fp->stored));
}

static void fold_progress_free(struct fold_progress *fp)
{
    for (size_t i = 0; i < fp->count; i++)
        free(fp->samples[i].hi);
    free(fp->lo);
    free(fp->stored);
    free(fp);
}

static void fold_sample_take(struct calls_ctx *ctx, struct fold_progress *fp)
{
    char errbuf[256];
    struct fold_sample s = {.at_ms = cf_now_ms()};
    int64_t *hi = cf_xcalloc((size_t)fp->cap, sizeof(*hi));
    s.n = cf_producer_watermarks(ctx->svc->producer, CF_TOPIC_CALLS_RAW, fp->lo, hi, fp->cap, 1000,
                                 errbuf, sizeof(errbuf));
    if (s.n > fp->cap) { /* more partitions than so far: asked again with room for them */
        fold_progress_grow(fp, s.n);
        hi = cf_xrealloc(hi, (size_t)fp->cap * sizeof(*hi));
        s.n = cf_producer_watermarks(ctx->svc->producer, CF_TOPIC_CALLS_RAW, fp->lo, hi, fp->cap,
                                     1000, errbuf, sizeof(errbuf));
        if (s.n > fp->cap)
            snprintf(errbuf, sizeof(errbuf), "the partitions of %s grew again while sampled",
                     CF_TOPIC_CALLS_RAW);
    }
    if (s.n < 0 || s.n > fp->cap) {
        cf_warn("task sweeper: %s (expiry waits for the next sample)", errbuf);
        free(hi);
        return;
    }
    s.hi = hi;
    /* A partition with nothing kept (empty, or all of it past retention)
     * asks nothing of the fold, which may never have stored an offset for
     * it. */
    for (int p = 0; p < s.n; p++)
        if (fp->lo[p] >= s.hi[p])
            s.hi[p] = 0;
    if (fp->count == FOLD_SAMPLES) {
        for (size_t i = 0; i < FOLD_SAMPLES / 2; i++) {
            free(fp->samples[2 * i].hi);
            fp->samples[i] = fp->samples[2 * i + 1];
        }
        fp->count = FOLD_SAMPLES / 2;
    }
    fp->samples[fp->count++] = s;
}

/* Moves the horizon to the newest sample the fold's stored offsets have
 * reached in every partition, and drops the samples up to it. Returns the
 * horizon in ms, or -1 when the fold has reached none yet. */
static int64_t fold_horizon(struct fold_progress *fp, PGconn *conn)
{
    char errbuf[256];
    if (cf_consumer_stored_offsets(conn, "calls", CALLS_FOLD_GROUP, CF_TOPIC_CALLS_RAW, fp->stored,
                                   fp->cap, errbuf, sizeof(errbuf)) != 0) {
        cf_warn("task sweeper: the fold's offsets: %s", errbuf);
        return fp->horizon_ms;
    }
    size_t reached = 0;                                  /* how many of the oldest samples */
    for (size_t k = fp->count; k > 0 && !reached; k--) { /* newest first */
        const struct fold_sample *s = &fp->samples[k - 1];
        int all = 1;
        for (int p = 0; p < s->n && all; p++)
            all = fp->stored[p] >= s->hi[p];
        if (all)
            reached = k;
    }
    if (reached > 0) {
        fp->horizon_ms = fp->samples[reached - 1].at_ms;
        for (size_t i = 0; i < reached; i++)
            free(fp->samples[i].hi);
        memmove(fp->samples, fp->samples + reached, (fp->count - reached) * sizeof(fp->samples[0]));
        fp->count -= reached;
    }
    return fp->horizon_ms;
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

/* Calls that ended waiting for a staff leg that never reported (the caller
 * hung up during the greeting, the TwiML had no <Dial>, the action request
 * was lost): after CLINICFLOW_CALLS_STAFF_LEG_WAIT_S the sweeper reports
 * the leg as missed, through calls.raw like any fact, so the fold ends the
 * wait and the callbacks open a task. Claiming a call moves its updated_at:
 * concurrent sweepers take disjoint calls, and a call whose fact could not
 * be produced is tried again after another wait. The fact's id is fixed per
 * call, so a repeat is dropped by the fold. Returns how many, or a negative
 * error. */
static int report_unreported_staff_legs(struct calls_ctx *ctx, PGconn *conn, char *errbuf,
                                        size_t errbuf_size)
{
    PGresult *res = NULL;
    char wait[24];
    snprintf(wait, sizeof(wait), "%ld", ctx->cfg.staff_leg_wait_s);
    const char *params[] = {wait};
    int rc = cf_pg_exec(conn,
                        "UPDATE calls.calls SET updated_at = now() WHERE call_id IN"
                        " (SELECT call_id FROM calls.calls WHERE status = 'ended'"
                        " AND doc ? 'agent_pending'"
                        " AND updated_at < now() - make_interval(secs => $1)"
                        " ORDER BY updated_at LIMIT 100 FOR UPDATE SKIP LOCKED)"
                        " RETURNING network_id, doc::text",
                        1, params, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    const int n = PQntuples(res);
    const int64_t now_ms = cf_now_ms();
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    for (int i = 0; i < n && rc == 0; i++) {
        json_error_t jerr;
        json_t *j_call = json_loads(PQgetvalue(res, i, 1), 0, &jerr);
        const struct cf_network *net = cf_netconf_network(snap, PQgetvalue(res, i, 0));
        const char *provider = json_string_value(json_object_get(j_call, "provider"));
        const char *pcid = json_string_value(json_object_get(j_call, "provider_call_id"));
        if (!net || !provider || !pcid) { /* the network is gone, or not our document */
            json_decref(j_call);
            continue;
        }
        json_t *j_fact = json_pack(
            "{s:s, s:O, s:O, s:O, s:s, s:i}", "event", "updated", "direction",
            json_object_get(j_call, "direction"), "from", json_object_get(j_call, "caller"), "to",
            json_object_get(j_call, "called"), "agent_outcome", "missed", "agent_talk_seconds", 0);
        if (!j_fact) { /* a stored call without its direction or parties */
            json_decref(j_call);
            continue;
        }
        json_t *j_ckey = json_object_get(j_call, "contact_key");
        if (j_ckey)
            json_object_set(j_fact, "contact_key", j_ckey);
        char *key = cf_xasprintf("%s:staff-leg-unreported", pcid);
        char event_id[CF_UUID_STR_LEN + 1], call_id[CF_UUID_STR_LEN + 1];
        rc = calls_ingest_fact(ctx, net, json_string_value(json_object_get(j_call, "clinic_id")),
                               provider, "-", key, pcid, now_ms, j_fact, event_id, call_id, errbuf,
                               errbuf_size); /* j_fact stolen */
        free(key);
        json_decref(j_call);
    }
    cf_netconf_release(snap);
    PQclear(res);
    if (rc == 0 && n > 0)
        cf_metrics_add("clinicflow_calls_staff_legs_unreported_total", "", n);
    return rc == 0 ? n : rc;
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
    struct fold_progress *fp = cf_xcalloc(1, sizeof(*fp));
    fp->horizon_ms = -1;
    fold_progress_grow(fp, FOLD_PARTITIONS_FIRST);
    while (!cf_service_sleep(ctx->svc, ctx->cfg.sweep_interval_ms)) {
        fold_sample_take(ctx, fp); /* before a connection is held: it may wait on Kafka */
        PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_warn("task sweeper: %s", errbuf);
            continue;
        }
        const int64_t horizon_ms = fold_horizon(fp, conn);
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
        n = report_unreported_staff_legs(ctx, conn, errbuf, sizeof(errbuf));
        if (n < 0)
            cf_warn("task sweeper: unreported staff legs: %s", errbuf);
        else if (n > 0)
            cf_info("task sweeper reported %d unreported staff legs as missed", n);
        cf_pg_pool_release(ctx->svc->pg, conn);
    }
    fold_progress_free(fp);
}
