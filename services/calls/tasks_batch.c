/*
 * The callbacks consumer's fast path: a batch of calls.v1 at once, in a
 * number of statements that does not grow with the batch (consumer.h's
 * cf_apply_batch_fn), with the outcome of applying its messages one by one
 * in their order (tasks.c).
 *
 * Contacts are independent: a task, its calls and its events belong to one
 * contact, so only the order of a contact's own messages matters. The
 * batch takes every contact's lock at once (sorted), waits while the
 * sweeper has events about any of them staged, and asks which have an
 * open task, or a finished one a miss of theirs in the batch may belong to
 * (told after its callback). Then each contact's first message is decided
 * here when that is plain:
 *   - a callback for a contact with no open task does nothing;
 *   - a missed call of a contact with no open task opens one (unless the
 *     call already opened one, closed since), closed at once by a callback
 *     the call store holds: the calls linked before, the callbacks, the
 *     new tasks and their links are one statement each for the batch.
 * Everything else (a contact with an open task, a contact's later
 * messages) goes message by message through tasks.c after those writes,
 * in the batch's order: the careful rules see the store as the messages
 * before them left it.
 */
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "common/err.h"
#include "common/log.h"
#include "common/time.h"
#include "task_rules.h"
#include "tasks.h"

/* What the batch does with a message. */
enum plan {
    PLAN_NOTHING = 0, /* not for the callbacks, or a callback with no open task */
    PLAN_OPEN,        /* a contact's first message, a miss with no open task */
    PLAN_ONE_BY_ONE,  /* through tasks.c, after the batch's own writes */
};

/* row's integer member key becomes at when it is absent or later. */
static void keep_earliest(json_t *row, const char *key, int64_t at)
{
    const json_t *j_at = json_object_get(row, key);
    if (at >= 0 && (!j_at || at < json_integer_value(j_at)))
        json_object_set_new(row, key, json_integer(at));
}

/* The sorted, distinct lock keys of the batch's contacts and the contacts
 * themselves ({"n", "k", "l": the lost-after seconds, "s" and "t": the
 * earliest start and end of their misses in the batch}), from the
 * messages the callbacks act on. */
static void batch_contacts(const struct calls_settings *cfg, const struct cf_event *const *evs,
                           const enum calls_task_input *inputs, size_t n, json_t *lock_keys,
                           json_t *contacts)
{
    json_t *seen = json_object(); /* lock key -> its contact's row */
    for (size_t i = 0; i < n; i++) {
        if (inputs[i] == CALLS_TASK_IGNORE)
            continue;
        const char *ck = json_string_value(json_object_get(evs[i]->data, "contact_key"));
        char *key = calls_contact_lock_key(evs[i]->networkid, ck);
        json_t *row = json_object_get(seen, key);
        if (!row) {
            row = json_pack("{s:s, s:s, s:I}", "n", evs[i]->networkid, "k", ck, "l",
                            (json_int_t)cfg->task_lost_after_s);
            json_object_set_new(seen, key, row);
            json_array_append_new(lock_keys, json_string(key));
            json_array_append(contacts, row);
        }
        if (inputs[i] == CALLS_TASK_MISSED) {
            keep_earliest(row, "t", calls_task_miss_end(evs[i]->data));
            keep_earliest(row, "s", calls_task_miss_start(evs[i]->data));
        }
        free(key);
    }
    json_decref(seen);
}

/* Each message's plan: a contact's first message is decided here when
 * plain (open: the contacts with a task it may concern); the rest of its
 * messages go one by one. */
static void batch_plan(const struct cf_event *const *evs, const enum calls_task_input *inputs,
                       size_t n, const json_t *open, enum plan *plans)
{
    json_t *touched = json_object(); /* contacts a message of the batch may change */
    for (size_t i = 0; i < n; i++) {
        plans[i] = PLAN_NOTHING;
        if (inputs[i] == CALLS_TASK_IGNORE)
            continue;
        const char *ck = json_string_value(json_object_get(evs[i]->data, "contact_key"));
        char *key = calls_contact_lock_key(evs[i]->networkid, ck);
        if (json_object_get(touched, key) || json_object_get(open, key)) {
            plans[i] = PLAN_ONE_BY_ONE;
        } else if (inputs[i] == CALLS_TASK_MISSED) {
            plans[i] = PLAN_OPEN;
            json_object_set_new(touched, key, json_true());
        } /* else a callback with no task to close */
        free(key);
    }
    json_decref(touched);
}

/* Opens the tasks of the PLAN_OPEN messages (tasks.c's open_task for each,
 * with the look-ups and writes of all of them at once). */
static int open_tasks(struct calls_ctx *ctx, PGconn *conn, const struct cf_event *const *evs,
                      const enum plan *plans, size_t n, struct cf_outbox *out, char *errbuf,
                      size_t errbuf_size)
{
    json_t *call_ids = json_array(), *linked = json_object(), *wanted = json_array();
    json_t *found = json_object(), *rows = json_array(), *links = json_array();
    int rc = 0;

    for (size_t i = 0; i < n; i++)
        if (plans[i] == PLAN_OPEN)
            json_array_append(call_ids, json_object_get(evs[i]->data, "call_id"));
    if (json_array_size(call_ids) == 0)
        goto out;
    rc = calls_tasks_calls_linked(conn, call_ids, linked, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (plans[i] != PLAN_OPEN ||
            json_object_get(linked, json_string_value(json_object_get(evs[i]->data, "call_id"))))
            continue; /* this call opened a task before, closed since */
        const int64_t opened = calls_task_miss_end(evs[i]->data);
        char idx[24], from[32], until[32];
        snprintf(idx, sizeof(idx), "%zu", i);
        cf_time_format(opened, from);
        cf_time_format(calls_task_lost_at(&ctx->cfg, opened), until);
        json_array_append_new(
            wanted, json_pack("{s:s, s:s, s:s, s:s, s:s}", "i", idx, "n", evs[i]->networkid, "k",
                              json_string_value(json_object_get(evs[i]->data, "contact_key")), "f",
                              from, "u", until));
    }
    rc = calls_tasks_find_callbacks(conn, wanted, found, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    size_t k;
    json_t *j_want;
    json_array_foreach(wanted, k, j_want)
    {
        const char *idx = json_string_value(json_object_get(j_want, "i"));
        const struct cf_event *ev = evs[strtoul(idx, NULL, 10)];
        const char *ck = json_string_value(json_object_get(j_want, "k"));
        const int64_t opened = calls_task_miss_end(ev->data);
        json_t *j_task = calls_task_new(&ctx->cfg, ev->networkid, ck, ev->data);
        const json_t *j_cb = json_object_get(found, idx);
        const int64_t cb_ms = json_integer_value(json_object_get(j_cb, "answered_ms"));

        calls_tasks_emit(out, ev->id, "opened", j_task, ev->networkid, opened);
        if (j_cb) {
            calls_task_close(j_task, json_string_value(json_object_get(j_cb, "call_id")), cb_ms);
            calls_tasks_emit(out, ev->id, "closed", j_task, ev->networkid, cb_ms);
        }
        json_array_append_new(rows, calls_tasks_row(ev->networkid, ck, j_task));
        json_array_append_new(links,
                              json_pack("{s:O, s:O}", "task_id", json_object_get(j_task, "task_id"),
                                        "call_id", json_object_get(ev->data, "call_id")));
        json_decref(j_task);
    }
    rc = calls_tasks_save_many(conn, rows, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_tasks_link_many(conn, links, errbuf, errbuf_size);
out:
    json_decref(call_ids);
    json_decref(linked);
    json_decref(wanted);
    json_decref(found);
    json_decref(rows);
    json_decref(links);
    return rc;
}

int calls_tasks_apply_batch(void *vctx, PGconn *conn, const struct cf_event *const *evs,
                            const rd_kafka_message_t *const *rkms, size_t n, struct cf_outbox *out,
                            char *errbuf, size_t errbuf_size)
{
    struct calls_ctx *ctx = vctx;
    enum calls_task_input *inputs = calloc(n ? n : 1, sizeof(*inputs));
    enum plan *plans = calloc(n ? n : 1, sizeof(*plans));
    json_t *lock_keys = json_array(), *contacts = json_array(), *open = json_object();
    json_t *fold_wanted = json_array();
    int rc = 0;
    size_t one_by_one = 0;

    if (!inputs || !plans) {
        cf_seterr(errbuf, errbuf_size, "out of memory");
        rc = CF_EINTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        inputs[i] = evs[i] ? calls_task_input(evs[i]->type, evs[i]->networkid, evs[i]->data)
                           : CALLS_TASK_IGNORE;
    batch_contacts(&ctx->cfg, evs, inputs, n, lock_keys, contacts);
    if (json_array_size(contacts) == 0)
        goto out;
    calls_sort_strings(lock_keys);
    const int64_t now = cf_time_now_ms();
    for (size_t i = 0; i < n; i++) {
        json_t *j_row =
            inputs[i] == CALLS_TASK_IGNORE ? NULL : calls_tasks_fold_wanted(evs[i], rkms[i], now);
        if (j_row)
            json_array_append_new(fold_wanted, j_row);
    }
    rc = calls_tasks_wait_for_fold(conn, fold_wanted, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_tasks_lock_contacts(conn, lock_keys, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_tasks_wait_for_staged(conn, contacts, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_tasks_open_contacts(conn, contacts, open, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    batch_plan(evs, inputs, n, open, plans);
    rc = open_tasks(ctx, conn, evs, plans, n, out, errbuf, errbuf_size);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (plans[i] != PLAN_ONE_BY_ONE)
            continue;
        one_by_one++;
        rc = calls_tasks_apply_locked(ctx, conn, evs[i], inputs[i], out, errbuf, errbuf_size);
    }
    cf_debug("tasks: batch of %zu, %zu contacts, %zu one by one", n, json_array_size(contacts),
             one_by_one);
out:
    free(inputs);
    free(plans);
    json_decref(lock_keys);
    json_decref(contacts);
    json_decref(open);
    json_decref(fold_wanted);
    return rc;
}
