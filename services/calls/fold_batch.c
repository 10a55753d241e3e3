/*
 * The fold's fast path: a batch of facts about calls applied at once, in a
 * number of statements that does not grow with the batch, with the rules
 * fold.c applies one message at a time (fold_steps.h): the batch's locks
 * in one sorted round, its calls loaded in one statement, folded in
 * memory in the batch's order, saved in one.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/log.h"
#include "fold_steps.h"

/* ------------------------------------------------------------------------ */
/* A batch at once (the fast path)                                           */
/* ------------------------------------------------------------------------ */

/* What the batch's statements take: the call ids (a JSON array, each
 * once, in order), the calls its facts may create (those not stored:
 * {"c": call id, "n": network} of the call's first fact; filled in after
 * the load), the contacts whose unique-decision locks its inbound facts
 * take (sorted "network/contact key"). Pure. */
void calls_batch_plan(const struct cf_event *const *evs, size_t n, json_t *ids, json_t *first_nets,
                      json_t *locks)
{
    json_t *seen = json_object(), *lock_set = json_object();
    const char *key;
    json_t *j_v;

    for (size_t i = 0; i < n; i++) {
        const struct cf_event *ev = evs[i];
        if (!ev || !ev->subject)
            continue;
        const int fact = strcmp(ev->type, "clinicflow.call.reported") == 0;
        if (!json_object_get(seen, ev->subject)) {
            json_object_set_new(seen, ev->subject, json_true());
            json_array_append_new(ids, json_string(ev->subject));
        }
        if (fact && !json_object_get(first_nets, ev->subject))
            json_object_set_new(first_nets, ev->subject, json_string(ev->networkid));
        const char *contact = json_string_value(json_object_get(ev->data, "contact_key"));
        const char *dir = json_string_value(json_object_get(ev->data, "direction"));
        if (fact && contact && dir && strcmp(dir, "inbound") == 0) {
            char *lock = calls_contact_lock_key(ev->networkid, contact);
            json_object_set_new(lock_set, lock, json_true());
            free(lock);
        }
    }
    json_object_foreach(lock_set, key, j_v) json_array_append_new(locks, json_string(key));
    calls_sort_strings(locks);
    json_decref(lock_set);
    json_decref(seen);
}

/* One pass over the batch, in memory: what calls_fold_apply does for each
 * message in turn, with the calls of lk->calls (deep copies of loaded)
 * for the rows, the results of taken (call id -> envelopes) for those
 * waiting in PostgreSQL, and the results of the batch that wait for a
 * call not stored yet held here until a fact creates it; those left at
 * the end go to left (calls_store_pend_row's rows). */
static int batch_pass(struct calls_ctx *ctx, PGconn *conn, struct calls_lookups *lk,
                      const json_t *loaded, const json_t *taken, const struct cf_event *const *evs,
                      const rd_kafka_message_t *const *rkms, size_t n, struct cf_outbox *out,
                      json_t *left, char *errbuf, size_t errbuf_size)
{
    json_t *waiting = json_object(); /* call id -> [message index] */
    int rc = 0;

    const char *id;
    json_t *j_left;

    json_decref(lk->calls);
    json_decref(lk->by_contact);
    lk->calls = json_deep_copy(loaded);
    lk->by_contact = json_object();
    json_object_foreach(lk->calls, id, j_left)
    {
        calls_lookups_index(lk, id, json_string_value(json_object_get(j_left, "n")),
                            json_object_get(j_left, "doc"));
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct cf_event *ev = evs[i];
        json_t *j_e = json_object_get(lk->calls, ev->subject);
        if (j_e && strcmp(json_string_value(json_object_get(j_e, "n")), ev->networkid) != 0) {
            /* calls_store_load's rule: never applied to another tenant's call */
            snprintf(errbuf, errbuf_size, "call %s belongs to another network", ev->subject);
            rc = CF_EINVAL;
            break;
        }
        if (strcmp(ev->type, "clinicflow.call.result") == 0) {
            if (!j_e) {
                json_t *j_list = json_object_get(waiting, ev->subject);
                if (!j_list) {
                    j_list = json_array();
                    json_object_set_new(waiting, ev->subject, j_list);
                }
                json_array_append_new(j_list, json_integer((json_int_t)i));
            } else if (calls_fold_take_result(json_object_get(j_e, "doc"), ev, out)) {
                json_object_set_new(j_e, "dirty", json_true());
            }
            continue;
        }
        json_t *j_corrected = json_array();
        json_t *j_call = j_e ? json_incref(json_object_get(j_e, "doc")) : calls_fold_new_call(ev);
        rc = calls_fold_one_fact(ctx, conn, lk, ev, j_call, NULL, j_corrected, out, errbuf,
                                 errbuf_size);
        if (rc == 0 && !j_e) {
            /* Its first save would take the results waiting for it: those
             * in PostgreSQL, then the batch's own of its network. */
            json_t *j_pending = json_deep_copy(json_object_get(taken, ev->subject));
            json_t *j_list = json_object_get(waiting, ev->subject), *j_rest = json_array();
            size_t k;
            json_t *j_idx;
            if (!j_pending)
                j_pending = json_array();
            json_array_foreach(j_list, k, j_idx)
            {
                const size_t m = (size_t)json_integer_value(j_idx);
                if (strcmp(evs[m]->networkid, ev->networkid) == 0)
                    json_array_append_new(
                        j_pending, json_stringn((const char *)rkms[m]->payload, rkms[m]->len));
                else
                    json_array_append(j_rest, j_idx);
            }
            json_object_set(waiting, ev->subject, j_rest);
            json_decref(j_rest);
            calls_fold_apply_pending(j_call, j_pending, out);
            json_decref(j_pending);
            json_object_set_new(
                lk->calls, ev->subject,
                json_pack("{s:s, s:O, s:b}", "n", ev->networkid, "doc", j_call, "dirty", 1));
        } else if (rc == 0) {
            json_object_set_new(j_e, "dirty", json_true());
        }
        if (rc == 0) {
            calls_lookups_index(lk, ev->subject, ev->networkid, j_call);
            calls_fold_emit_corrected(out, ev, j_corrected);
        }
        json_decref(j_corrected);
        json_decref(j_call);
    }
    json_object_foreach(waiting, id, j_left)
    {
        size_t k;
        json_t *j_idx;
        json_array_foreach(j_left, k, j_idx)
        {
            const size_t m = (size_t)json_integer_value(j_idx);
            json_array_append_new(left, calls_store_pend_row(evs[m], rkms[m]));
        }
    }
    json_decref(waiting);
    return rc;
}

/*
 * The batch at once, in a number of statements that does not grow with it:
 * the unique-decision locks of its facts' contacts and of its stored calls
 * still undecided (one sorted round: two instances never wait for each
 * other both ways), its calls FOR UPDATE (in call id order), the results
 * waiting for the calls it creates;
 * a first pass in memory notes what enrich asks (calls_lookups), answered
 * by one statement per kind; the second pass folds each message in its
 * order with the same rules as calls_fold_apply, and the calls it changed
 * are saved by one upsert (one row per call, sent by COPY), with the unique flags it
 * took from calls stored before and the results still waiting. A message
 * it cannot fold is CF_EINVAL: the runner rolls back and goes the careful
 * way, message by message, where that one alone is rejected.
 */
int calls_fold_apply_batch(void *vctx, PGconn *conn, const struct cf_event *const *evs,
                           const rd_kafka_message_t *const *rkms, size_t n, struct cf_outbox *out,
                           char *errbuf, size_t errbuf_size)
{
    struct calls_ctx *ctx = vctx;
    struct calls_lookups lk = {0};
    json_t *ids = json_array(), *first_nets = json_object(), *locks = json_array();
    json_t *loaded = json_object(), *taken = json_object(), *want = json_array();
    json_t *left = json_array(), *save = json_array(), *late_locks = json_array();
    json_t *locked = json_object();
    char *ids_text = NULL;
    int rc = 0;
    int64_t tm[7] = {0}; /* when each step began, for the debug log */

    for (size_t i = 0; i < n && rc == 0; i++)
        rc = calls_fold_event_check(evs[i], errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    tm[0] = cf_time_mono_ms();
    calls_batch_plan(evs, n, ids, first_nets, locks);
    ids_text = cf_json_dumps(ids);
    rc = calls_store_lock_contacts(conn, locks, ids_text, locked, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_store_load_many(conn, ids_text, loaded, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    const char *id;
    json_t *j_v;
    json_object_foreach(first_nets, id, j_v)
    {
        if (!json_object_get(loaded, id))
            json_array_append_new(want, json_pack("{s:s, s:O}", "c", id, "n", j_v));
    }
    tm[1] = cf_time_mono_ms();
    rc = calls_store_take_pending(conn, want, taken, errbuf, errbuf_size);
    if (rc != 0)
        goto out;

    tm[2] = cf_time_mono_ms();
    lk.recording = 1;
    lk.attribution = json_object();
    lk.patients = json_object();
    lk.contacts = json_object();
    lk.corrected_ids = json_array();
    json_array_clear(left);
    rc = batch_pass(ctx, conn, &lk, loaded, taken, evs, rkms, n, NULL, left, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    /* The decisions' contacts were locked with the load (those of the
     * facts and of the calls stored undecided); one that turns up only now
     * (its call stored or changed by another instance meanwhile) is tried,
     * never waited for, out of that order. */
    json_object_foreach(lk.contacts, id, j_v)
    {
        char *lock = calls_contact_lock_key(json_string_value(json_object_get(j_v, "n")),
                                            json_string_value(json_object_get(j_v, "k")));
        if (!json_object_get(locked, lock))
            json_array_append_new(late_locks, json_string(lock));
        free(lock);
    }
    tm[3] = cf_time_mono_ms();
    rc = calls_store_try_lock_contacts(conn, late_locks, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_lookups_fetch(ctx, conn, &lk, ids_text, errbuf, errbuf_size);
    if (rc != 0)
        goto out;

    tm[4] = cf_time_mono_ms();
    lk.recording = 0;
    json_array_clear(left);
    rc = batch_pass(ctx, conn, &lk, loaded, taken, evs, rkms, n, out, left, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    json_object_foreach(lk.calls, id, j_v)
    {
        if (json_is_true(json_object_get(j_v, "dirty")))
            json_array_append(save, j_v);
        else if (json_is_true(json_object_get(j_v, "corrected")))
            json_array_append_new(lk.corrected_ids, json_string(id));
    }
    tm[5] = cf_time_mono_ms();
    rc = calls_store_save_many(conn, save, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_store_take_unique(conn, lk.corrected_ids, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_store_pend_many(conn, left, errbuf, errbuf_size);
    tm[6] = cf_time_mono_ms();
out:
    if (rc == 0)
        cf_debug("fold: batch of %zu in ms: locks and load %lld, pending %lld, first pass %lld,"
                 " lookups %lld, second pass %lld, saves %lld",
                 n, (long long)(tm[1] - tm[0]), (long long)(tm[2] - tm[1]),
                 (long long)(tm[3] - tm[2]), (long long)(tm[4] - tm[3]), (long long)(tm[5] - tm[4]),
                 (long long)(tm[6] - tm[5]));
    free(ids_text);
    json_decref(lk.calls);
    json_decref(lk.by_contact);
    json_decref(lk.attribution);
    json_decref(lk.patients);
    json_decref(lk.contacts);
    json_decref(lk.corrected_ids);
    json_decref(ids);
    json_decref(first_nets);
    json_decref(locks);
    json_decref(late_locks);
    json_decref(locked);
    json_decref(loaded);
    json_decref(taken);
    json_decref(want);
    json_decref(left);
    json_decref(save);
    return rc;
}
