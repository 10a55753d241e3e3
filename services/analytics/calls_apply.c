/*
 * The consumer of calls.v1 and tasks.v1 (group clinicflow-analytics-calls).
 * Each event carries its call or task as folded so far, and a key's events
 * are in order on one partition, so a batch needs only each key's last
 * state: it replaces the stored row, and what the call adds to the hourly
 * rollup moves by the difference between the new row's counts and the
 * stored row's. A batch is a few statements however many events it
 * holds: the stored calls read (and locked), the locks of the calls a
 * callback task copies from (an_call_locks), the calls saved, the rollup's
 * deltas added (one row per clinic, hour and dimensions), the callers'
 * people touched (their first and last non-direct contact; mis_facts.c),
 * the missed calls' dimensions moved onto their tasks, the tasks saved.
 * The runner commits the consumed offsets in the same transaction, so a
 * redelivered event never counts twice.
 */
#include "analytics.h"
#include "call_store.h"
#include "mis_store.h"
#include "mis_facts_testable.h"
#include "person_store.h"
#include "call_facts_testable.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/metrics.h"
#include "common/netconf.h"
#include "common/topics.h"

#define CALL_TYPE "clinicflow.call."
#define TASK_TYPE "clinicflow.task."

/* The zone a network's hours are counted in: its own (UTC for a network
 * the configuration no longer holds). */
static const char *network_tz(const struct cf_netconf_snapshot *snap, const char *network_id)
{
    const struct cf_network *net = cf_netconf_network(snap, network_id);
    return net && net->tz ? net->tz : "UTC";
}

/* 1 when a call's state got is older than had (an event replayed from
 * the DLQ after the call's later ones: a call's events come in order on
 * its partition, an ended call never starts again, and each state counts
 * the provider facts folded into it). States of as many facts cannot be
 * told apart by it (a staff result, a unique flag corrected): the later
 * one read is taken. */
static int older_state(const json_t *had, const json_t *got)
{
    const char *had_status = json_string_value(json_object_get(had, "status"));
    const char *got_status = json_string_value(json_object_get(got, "status"));
    const json_t *had_facts = json_object_get(had, "facts");
    const json_t *got_facts = json_object_get(got, "facts");
    return (had_status && got_status && strcmp(had_status, "ended") == 0 &&
            strcmp(got_status, "ended") != 0) ||
           (json_is_integer(had_facts) && json_is_integer(got_facts) &&
            json_integer_value(got_facts) < json_integer_value(had_facts));
}

/* A call's state older than its stored one is not applied: the call
 * keeps its state, the rollup its counts. */
static void drop_older_states(json_t *calls, const json_t *stored)
{
    const char *id;
    json_t *row, *tmp;
    json_object_foreach_safe(calls, tmp, id, row)
    {
        const json_t *old = json_object_get(stored, id);
        if (old && older_state(old, row))
            json_object_del(calls, id);
    }
}

/* Each call's and task's last row in the batch (id -> row), in calls and
 * tasks (a call's newest: one replayed after a later one of it, in the
 * same batch, is older); in missed, the ids of the calls missed in any of their rows (a
 * missed call and the late report that it was answered, in one batch).
 * CF_EINVAL for an event that cannot be placed. */
static int last_rows(const struct cf_netconf_snapshot *snap, const struct cf_event *const *evs,
                     size_t n, json_t *calls, json_t *tasks, json_t *missed, char *errbuf,
                     size_t errbuf_size)
{
    for (size_t i = 0; i < n; i++) {
        const struct cf_event *ev = evs[i];
        const int call = ev && strncmp(ev->type, CALL_TYPE, strlen(CALL_TYPE)) == 0;
        const int task = ev && strncmp(ev->type, TASK_TYPE, strlen(TASK_TYPE)) == 0;
        if (!call && !task)
            continue; /* an event type this consumer does not read */
        const char *tz = network_tz(snap, ev->networkid);
        json_t *row = call ? an_call_row(ev->data, ev->networkid, tz, errbuf, errbuf_size)
                           : an_task_row(ev->data, ev->networkid, tz, errbuf, errbuf_size);
        if (!row)
            return CF_EINVAL;
        const char *id = json_string_value(json_object_get(row, call ? "call_id" : "task_id"));
        if (call && json_integer_value(json_object_get(row, "missed")))
            json_object_set_new(missed, id, json_true());
        const json_t *had = call ? json_object_get(calls, id) : NULL;
        if (had && older_state(had, row))
            json_decref(row);
        else
            json_object_set_new(call ? calls : tasks, id, row);
    }
    return 0;
}

/* The batch's last event (a batch with calls has one). */
static const struct cf_event *last_event(const struct cf_event *const *evs, size_t n)
{
    for (size_t i = n; i > 0; i--)
        if (evs[i - 1])
            return evs[i - 1];
    return NULL;
}

/* Each clinic day (and hour) the batch changed, as a snapshot on
 * metrics.v1 (keyed network/clinic/day[/hour], so a compacted topic keeps
 * the latest of each),
 * derived from the batch's last event: a replay of the batch after a
 * crash yields the same events. */
static void emit_snapshots(const json_t *snapshots, const char *kind, const struct cf_event *last,
                           struct cf_outbox *out)
{
    size_t i;
    const json_t *s;
    json_array_foreach(snapshots, i, s)
    {
        const char *net = json_string_value(json_object_get(s, "network_id"));
        const char *clinic = json_string_value(json_object_get(s, "clinic_id"));
        const json_t *hour = json_object_get(s, "hour");
        char key[300];
        if (hour)
            snprintf(key, sizeof(key), "%s/%s/%s/%02d", net, clinic,
                     json_string_value(json_object_get(s, "day")), (int)json_integer_value(hour));
        else
            snprintf(key, sizeof(key), "%s/%s/%s", net, clinic,
                     json_string_value(json_object_get(s, "day")));
        json_t *data = json_deep_copy(s);
        json_object_del(data, "network_id");
        if (!*clinic)
            json_object_set_new(data, "clinic_id", json_null());
        struct cf_event ev = {0};
        cf_event_derive(&ev, last->id, kind, key, "analytics/metrics", key, last->time_ms, net,
                        *clinic ? clinic : NULL, data);
        cf_outbox_add(out, CF_TOPIC_METRICS, key, &ev);
        cf_event_clear(&ev);
    }
}

/* The calls a callback task's copy of their dimensions can follow (missed
 * now, earlier in the batch (missed: their ids), or as stored: one that
 * turns out answered keeps its tasks' copy current, even when the batch
 * had its missed state and its answer both and the task was saved
 * before) into follow, and their ids with each task's first missed
 * call's into locks. */
static void calls_to_follow(const json_t *calls, const json_t *stored, const json_t *missed,
                            const json_t *tasks, json_t *follow, json_t *locks)
{
    const char *id;
    json_t *row;

    json_object_foreach((json_t *)calls, id, row)
    {
        const json_t *old = json_object_get(stored, id);
        if (json_integer_value(json_object_get(row, "missed")) || json_object_get(missed, id) ||
            (old && json_integer_value(json_object_get(old, "missed")))) {
            json_array_append(follow, row);
            json_array_append_new(locks, json_string(id));
        }
    }
    json_object_foreach((json_t *)tasks, id, row)
    {
        const json_t *source = json_object_get(row, "source_call_id");
        if (json_is_string(source))
            json_array_append(locks, (json_t *)source);
    }
}

/* The calls' rows saved (stored: their rows before), the rollup moved
 * from their stored rows' counts to theirs, and the clinic days it moved
 * told on metrics.v1. */
static int save_calls(PGconn *conn, const json_t *calls, const json_t *stored,
                      const struct cf_event *last, struct cf_outbox *out, char *errbuf,
                      size_t errbuf_size)
{
    json_t *deltas = json_object(), *row;
    json_t *rows = NULL, *rollup = NULL;
    const char *id;
    int rc;

    json_t *touches = json_object(), *withdrawn = json_array();
    json_object_foreach((json_t *)calls, id, row)
    {
        const json_t *old = json_object_get(stored, id);
        if (old)
            an_rollup_add(deltas, old, -1);
        an_rollup_add(deltas, row, +1);
        json_t *touch = an_touch_of_call(row);
        json_t *was = old ? an_touch_of_call(old) : NULL;
        if (touch)
            an_touch_add(touches, touch);
        if (an_touch_withdrawn(was, touch))
            json_array_append_new(
                withdrawn, json_pack("{s:O, s:O}", "network_id", json_object_get(was, "network_id"),
                                     "contact_key", json_object_get(was, "contact_key")));
        json_decref(touch);
        json_decref(was);
    }
    rows = analytics_values(calls);
    rollup = an_rollup_rows(deltas);
    if ((rc = an_calls_save(conn, rows, errbuf, errbuf_size)) == 0)
        rc = an_rollup_save(conn, rollup, errbuf, errbuf_size);
    if (rc == 0)
        rc = an_persons_touch(conn, touches, errbuf, errbuf_size);
    if (rc == 0)
        rc = an_persons_last_again(conn, withdrawn, errbuf, errbuf_size);
    json_decref(touches);
    json_decref(withdrawn);
    json_t *days = json_array(), *hours = json_array();
    if (rc == 0 && json_array_size(rollup) &&
        (rc = an_rollup_days(conn, rollup, days, hours, errbuf, errbuf_size)) == 0) {
        emit_snapshots(days, "metrics.calls_daily", last, out);
        emit_snapshots(hours, "metrics.load_hourly", last, out);
    }
    json_decref(days);
    json_decref(hours);
    json_decref(deltas);
    json_decref(rows);
    json_decref(rollup);
    return rc;
}

int analytics_calls_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                                const rd_kafka_message_t *const *rkms, size_t n,
                                struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    struct analytics_ctx *actx = ctx;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(actx->svc->netconf);
    json_t *calls = json_object(), *tasks = json_object(), *rows = NULL;
    json_t *ids = json_array(), *stored = json_object(), *follow = json_array();
    json_t *locks = json_array(), *missed = json_object();
    const char *id;
    json_t *row;
    int rc = last_rows(snap, evs, n, calls, tasks, missed, errbuf, errbuf_size);

    (void)rkms;
    cf_netconf_release(snap);
    json_object_foreach(calls, id, row)
    {
        json_array_append_new(ids, json_string(id));
    }
    if (rc == 0 && json_array_size(ids))
        rc = an_calls_stored(conn, ids, stored, errbuf, errbuf_size);
    if (rc == 0)
        drop_older_states(calls, stored);
    if (rc == 0) {
        calls_to_follow(calls, stored, missed, tasks, follow, locks);
        rc = an_call_locks(conn, locks, errbuf, errbuf_size);
    }
    if (rc == 0 && json_object_size(calls))
        rc = save_calls(conn, calls, stored, last_event(evs, n), out, errbuf, errbuf_size);
    if (rc == 0)
        rc = an_tasks_follow_calls(conn, follow, errbuf, errbuf_size);
    if (rc == 0 && json_object_size(tasks)) {
        rows = analytics_values(tasks);
        rc = an_tasks_lock_patients(conn, rows, errbuf, errbuf_size);
        if (rc == 0)
            rc = an_tasks_save(conn, rows, errbuf, errbuf_size);
        if (rc == 0) /* a reminder's task of a patient erased since */
            rc = an_tasks_forget_erased(conn, rows, errbuf, errbuf_size);
    }
    if (rc == 0) {
        cf_metrics_add("clinicflow_analytics_events_applied_total", "group=\"calls\"", (double)n);
    }
    json_decref(locks);
    json_decref(missed);
    json_decref(follow);
    json_decref(stored);
    json_decref(ids);
    json_decref(calls);
    json_decref(tasks);
    json_decref(rows);
    return rc;
}
