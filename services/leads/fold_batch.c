/*
 * A run of request facts at once (fold_consumer.c finds the runs in a
 * batch), in a number of statements that does not grow with the run. A
 * run takes every lock its requests would take one by one (their contact
 * keys' and the ids of the leads they would open) in one sorted round,
 * reads its people's leads (open, or closed since its earliest request:
 * leads_pick_open decides for each request), the facts waiting for the leads it
 * may open and its people's unclaimed calls (answered_calls.h), then
 * applies the requests in their order in memory, with the rules the fold
 * applies one at a time (fold_steps.h): a second request of one person in
 * the run finds the lead the first opened or merged into, as it would
 * have found it stored. Then every lead it touched is saved in one
 * statement. The locks held keep what it read true until the commit.
 */
#include "leads.h"
#include "lead_store.h"
#include "fold_steps.h"
#include "fold_testable.h"
#include "answered_calls.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/patients.h"
#include "common/time.h"
#include "common/xmalloc.h"

struct run {
    json_t *leads;    /* lead id -> document: the leads found, and those opened */
    json_t *by_key;   /* "network/key" -> the ids of the leads holding it */
    json_t *patients; /* "network/key" -> its patient, for the keys that have one */
    json_t *waiting;  /* lead id -> the facts waiting for it ([{"event_id", "event"}]) */
    json_t *saves;    /* lead id -> {"n", "doc", "keys"}: the leads to save */
    json_t *taken;    /* the ids of the waiting facts applied */
    json_t *calls;    /* "network/key" -> its unclaimed calls (answered_calls.h) */
    json_t *claims;   /* [{"call_id", "lead_id"}]: those new leads took */
};

/* The rows of the run's look-ups: every contact key ({"n", "k", "t": the
 * request's time}) and every
 * lead id a request would open ({"l", "n"}). */
static void lookup_rows(const struct cf_event *const *evs, size_t n, const json_t *keys,
                        json_t *key_rows, json_t *lead_rows)
{
    for (size_t i = 0; i < n; i++) {
        size_t k;
        json_t *j_k;
        json_array_foreach(json_array_get(keys, i), k, j_k)
        {
            json_array_append_new(key_rows,
                                  json_pack("{s:I, s:s, s:O, s:I}", "i",
                                            (json_int_t)json_array_size(key_rows), "n",
                                            evs[i]->networkid, "k", json_object_get(j_k, "key"),
                                            "t", (json_int_t)evs[i]->time_ms));
        }
        char lead_id[CF_UUID_STR_LEN + 1];
        leads_new_lead_id(evs[i]->networkid, evs[i]->id, lead_id);
        json_array_append_new(lead_rows,
                              json_pack("{s:s, s:s}", "l", lead_id, "n", evs[i]->networkid));
    }
}

/* The patients of key_rows' contacts into r->patients, in one statement. */
static int read_patients(struct leads_ctx *ctx, PGconn *conn, struct run *r, const json_t *key_rows,
                         char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    int rc =
        json_array_size(key_rows) == 0
            ? 0
            : cf_patients_lookup_many(&ctx->patients, conn, key_rows, &res, errbuf, errbuf_size);

    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        const json_t *row = json_array_get(key_rows, strtoul(PQgetvalue(res, i, 0), NULL, 10));
        char *lock = leads_key_lock(json_string_value(json_object_get(row, "n")),
                                    json_string_value(json_object_get(row, "k")));
        json_object_set_new(r->patients, lock, cf_patients_row(res, i, 1));
        free(lock);
    }
    PQclear(res);
    return rc;
}

/* The leads holding any of keys in network_id, as the look-up would find
 * them now (new array of documents, each once). */
static json_t *candidates(const struct run *r, const char *network_id, const json_t *keys)
{
    json_t *cands = json_array();
    size_t k, j;
    json_t *j_k, *j_id;

    json_array_foreach(keys, k, j_k)
    {
        char *lock = leads_key_lock(network_id, json_string_value(json_object_get(j_k, "key")));
        json_array_foreach(json_object_get(r->by_key, lock), j, j_id)
        {
            json_t *j_lead = json_object_get(r->leads, json_string_value(j_id));
            size_t c;
            json_t *j_c;
            int seen = 0;
            json_array_foreach(cands, c, j_c) seen |= j_c == j_lead;
            if (j_lead && !seen)
                json_array_append(cands, j_lead);
        }
        free(lock);
    }
    return cands;
}

/* Records that lead_id (j_lead) holds keys now, and is to be saved with
 * them. */
static void touched(struct run *r, const char *network_id, const char *lead_id, json_t *j_lead,
                    const json_t *keys)
{
    size_t k;
    json_t *j_k;
    json_t *save = json_object_get(r->saves, lead_id);

    if (!save) {
        save = json_pack("{s:s, s:O, s:[]}", "n", network_id, "doc", j_lead, "keys");
        json_object_set_new(r->saves, lead_id, save);
    }
    json_array_foreach(keys, k, j_k)
    {
        json_array_append(json_object_get(save, "keys"), j_k);
        char *lock = leads_key_lock(network_id, json_string_value(json_object_get(j_k, "key")));
        json_t *j_ids = json_object_get(r->by_key, lock);
        if (!j_ids) {
            j_ids = json_array();
            json_object_set_new(r->by_key, lock, j_ids);
        }
        size_t i;
        json_t *j_id;
        int held = 0;
        json_array_foreach(j_ids, i, j_id) held |= strcmp(json_string_value(j_id), lead_id) == 0;
        if (!held)
            json_array_append_new(j_ids, json_string(lead_id));
        free(lock);
    }
}

/* The request ev (its keys) applied to the run's leads: merged into the
 * lead of its keys at its date, else into the one that came first after
 * it, or a new lead, which applies the facts waiting for it. */
static int apply_request(struct leads_ctx *ctx, PGconn *conn, struct run *r,
                         const struct cf_event *ev, const json_t *keys, struct cf_outbox *out,
                         char *errbuf, size_t errbuf_size)
{
    json_t *cands = candidates(r, ev->networkid, keys);
    const int pick = leads_pick_open(cands, ev->time_ms, ev->data),
              next = leads_pick_next(cands, ev->time_ms, ev->data);
    json_t *j_lead = NULL;
    int rc = 0;

    /* the lead it belongs to at its date, else the one that came first
     * after it (fold.c, request_apply; a merge that does not take changes
     * nothing) */
    if (pick >= 0 && leads_fold_merge(ctx, ev, keys, json_array_get(cands, (size_t)pick), out))
        j_lead = json_array_get(cands, (size_t)pick);
    else if (next >= 0 && leads_fold_merge(ctx, ev, keys, json_array_get(cands, (size_t)next), out))
        j_lead = json_array_get(cands, (size_t)next);
    if (j_lead) {
        /* a key the lead gained may have had its call already (fold.c,
         * request_apply) */
        json_t *envelopes = json_array();
        if (leads_awaits_response(j_lead) &&
            leads_answered_call_take(r->calls, ev->networkid, keys, j_lead, envelopes, r->claims)) {
            leads_fold_apply_waiting(ctx, j_lead, envelopes, out);
            leads_answered_call_untaken(r->claims, j_lead);
        }
        json_decref(envelopes);
        touched(r, ev->networkid, json_string_value(json_object_get(j_lead, "lead_id")), j_lead,
                keys);
        goto out;
    }
    j_lead = NULL;
    rc = leads_fold_open(ctx, conn, ev, keys, r->patients, &j_lead, out, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    const char *id = json_string_value(json_object_get(j_lead, "lead_id"));
    json_object_set_new(r->leads, id, j_lead);
    json_t *j_waiting = json_object_get(r->waiting, id), *envelopes = json_array();
    size_t i;
    json_t *j_w;
    json_array_foreach(j_waiting, i, j_w)
    {
        json_array_append(envelopes, json_object_get(j_w, "event"));
        json_array_append(r->taken, json_object_get(j_w, "event_id"));
    }
    /* a call answered after the lead arrived, recorded before it was
     * stored: among the facts by its time */
    leads_answered_call_take(r->calls, ev->networkid, keys, j_lead, envelopes, r->claims);
    leads_fold_apply_waiting(ctx, j_lead, envelopes, out);
    leads_answered_call_untaken(r->claims, j_lead);
    json_decref(envelopes);
    touched(r, ev->networkid, id, j_lead, keys);
out:
    json_decref(cands);
    return rc;
}

/* 1 when the request ev's contact key has a patient in the run's
 * patients: another patient holds the number now (a family's phone), and
 * the lead is theirs, as the erasure leaves the leads of another patient
 * theirs (leads_store_erase). */
static int held_by_a_patient(const struct run *r, const struct cf_event *ev)
{
    const char *ckey = json_string_value(json_object_get(ev->data, "contact_key"));
    if (!ckey)
        return 0;
    char *lock = leads_key_lock(ev->networkid, ckey);
    const int held = json_object_get(r->patients, lock) != NULL;
    free(lock);
    return held;
}

int leads_fold_run(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *const *evs, size_t n,
                   struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    struct run r = {
        .leads = json_object(),
        .by_key = json_object(),
        .patients = json_object(),
        .waiting = json_object(),
        .saves = json_object(),
        .taken = json_array(),
        .calls = json_object(),
        .claims = json_array(),
    };
    json_t *locks = json_array(), *keys = json_array();
    json_t *key_rows = json_array(), *lead_rows = json_array(), *rows = json_array();
    json_t *erased_rows = json_array(), *erased = json_object();
    /* the requests as applied: a person erased since, as the erasure left it */
    const struct cf_event **use = cf_xcalloc(n ? n : 1, sizeof(*use));
    struct cf_event *as_erased = cf_xcalloc(n ? n : 1, sizeof(*as_erased));
    int rc = 0;

    if (!leads_batch_plan(evs, n, locks, keys)) {
        snprintf(errbuf, errbuf_size, "a fact twice in one batch");
        rc = CF_EINVAL;
        goto out;
    }
    int64_t tm[4];
    tm[0] = cf_time_mono_ms();
    lookup_rows(evs, n, keys, key_rows, lead_rows);
    rc = leads_store_lock_keys(conn, locks, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_store_find_open_by_keys(conn, key_rows, r.leads, r.by_key, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_store_pending_of(conn, lead_rows, r.waiting, errbuf, errbuf_size);
    if (rc == 0)
        rc = read_patients(ctx, conn, &r, key_rows, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_answered_calls_unclaimed(conn, key_rows, r.calls, errbuf, errbuf_size);
    for (size_t i = 0; i < n; i++) {
        use[i] = evs[i];
        leads_erased_rows(erased_rows, i, evs[i]->networkid, json_array_get(keys, i),
                          evs[i]->time_ms);
    }
    if (rc == 0)
        rc = leads_store_erased(conn, erased_rows, erased, errbuf, errbuf_size);
    const char *e;
    json_t *j_true;
    json_object_foreach(erased, e, j_true)
    {
        const size_t i = strtoul(e, NULL, 10);
        if (held_by_a_patient(&r, evs[i]))
            continue;
        as_erased[i] = *evs[i];
        as_erased[i].data = leads_erased_fact(evs[i]->data);
        use[i] = &as_erased[i];
    }
    tm[1] = cf_time_mono_ms();
    for (size_t i = 0; i < n && rc == 0; i++) {
        cf_log_set_request_id(use[i]->id);
        rc =
            apply_request(ctx, conn, &r, use[i], json_array_get(keys, i), out, errbuf, errbuf_size);
    }
    cf_log_set_request_id(NULL);
    const char *id;
    json_t *save;
    json_object_foreach(r.saves, id, save) json_array_append(rows, save);
    tm[2] = cf_time_mono_ms();
    if (rc == 0)
        rc = leads_store_save_many(conn, rows, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_store_take_pending(conn, r.taken, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_answered_calls_claim(conn, r.claims, errbuf, errbuf_size);
    tm[3] = cf_time_mono_ms();
    if (rc == 0)
        cf_debug("fold: run of %zu requests in ms: locks and look-ups %lld, rules %lld,"
                 " saves %lld (%zu leads)",
                 n, (long long)(tm[1] - tm[0]), (long long)(tm[2] - tm[1]),
                 (long long)(tm[3] - tm[2]), json_array_size(rows));
out:
    for (size_t i = 0; i < n; i++)
        json_decref(as_erased[i].data);
    free(as_erased);
    free(use);
    json_decref(erased);
    json_decref(erased_rows);
    json_decref(rows);
    json_decref(lead_rows);
    json_decref(key_rows);
    json_decref(keys);
    json_decref(locks);
    json_decref(r.claims);
    json_decref(r.calls);
    json_decref(r.taken);
    json_decref(r.saves);
    json_decref(r.waiting);
    json_decref(r.patients);
    json_decref(r.by_key);
    json_decref(r.leads);
    return rc;
}
