/*
 * The lead fold: facts on leads.raw (a person wrote, staff answered, an
 * outcome was told) become leads, one open lead per person, and lead.*
 * events on leads.v1. A request merges into the open lead of any of its
 * contact keys (one told late: the lead it was part of at its date,
 * leads_pick_open, closed since or not) when it comes within the clinic's
 * merge window of that lead's last request (lead.merged: no new lead, the clock not restarted,
 * a key it brings is gained, a callback it asks for opens the lead's
 * callback task if none was asked before), else opens a lead (lead.received, with its
 * ad tags and the patient class from the phone -> patient view). The
 * first response after a lead arrived stops its clock (lead.responded,
 * once); the first outcome closes it (lead.status_changed). The contact
 * keys of a request are locked in one sorted round before the look-up, so
 * two instances never open two leads for one person. Output ids are
 * uuid5(fact id, "lead.<verb>") and a lead's id uuid5(network, "lead",
 * the id of the request that opened it): applying a fact again yields the
 * same events. A new lead received before a call with its contact that a
 * person answered, and stored after it (a webhook retried late), takes
 * that call as its first response (answered_calls.h). A response or
 * status naming a lead that is not stored (a replay of it before its
 * request; one sent while the request that opens the lead commits on
 * another runner; a made-up id) waits in leads.pending_facts, and the fold
 * goes on: the request that opens the lead takes and applies it, or it
 * expires to the DLQ (pending.c). The rules are in lead_rules.c, the SQL
 * in lead_store.c.
 */
#include "leads.h"
#include "lead_store.h"
#include "fold_steps.h"
#include "fold_testable.h"
#include "answered_calls.h"
#include "task_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/patients.h"
#include "common/topics.h"
#include "common/xmalloc.h"

/* Emits lead.<verb> about j_lead with data (stolen). */
static void emit(struct cf_outbox *out, const struct cf_event *in, const char *verb,
                 const json_t *j_lead, json_t *data)
{
    struct cf_event ev = {0};
    char kind[32];
    const char *lead_id = json_string_value(json_object_get(j_lead, "lead_id"));

    snprintf(kind, sizeof(kind), "lead.%s", verb);
    cf_event_derive(&ev, in->id, kind, NULL, "leads/fold", lead_id, in->time_ms, in->networkid,
                    json_string_value(json_object_get(j_lead, "clinic_id")), data);
    /* kept: the tasks step reads it back in this batch (tasks.c) */
    cf_outbox_add_kept(out, CF_TOPIC_LEADS, lead_id, &ev);
}

/* data with the members keys (NULL-terminated) of j_lead that it has. */
static json_t *with_members(json_t *data, const json_t *j_lead, const char *const *keys)
{
    for (const char *const *k = keys; *k; k++) {
        json_t *v = json_object_get(j_lead, *k);
        if (v && !json_is_null(v))
            json_object_set(data, *k, v);
    }
    return data;
}

/* ev's own staff (its fact's staff_id) into data and into j_lead as key:
 * an event names who did what it reports, never who did an earlier one. */
static json_t *with_staff(json_t *data, json_t *j_lead, const char *key, const struct cf_event *ev)
{
    json_t *staff = json_object_get(ev->data, "staff_id");
    if (json_is_string(staff)) {
        json_object_set(data, "staff_id", staff);
        json_object_set(j_lead, key, staff);
    }
    return data;
}

/* The clinic's merge window and working hours (*has_hours 0 when it names
 * none: the response clock is then the wall clock). */
static long clinic_rules(struct leads_ctx *ctx, const char *network_id, const char *clinic_id,
                         struct cf_time_hours *hours, int *has_hours)
{
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    const struct cf_network *net = cf_netconf_network(snap, network_id);
    const struct cf_clinic *clinic = net && clinic_id ? cf_netconf_clinic(net, clinic_id) : NULL;
    long window = leads_merge_window_s(clinic, ctx->cfg.merge_window_s);

    if (hours)
        *has_hours = leads_clinic_hours(clinic, hours) == 0;
    cf_netconf_release(snap);
    return window;
}

/* The "network/key" lock keys of keys (leads_fact_keys's), new array;
 * the keys themselves are appended to plain. */
static json_t *lock_keys(const char *network_id, const json_t *keys, json_t *plain)
{
    json_t *locks = json_array();
    size_t i;
    json_t *j_k;

    json_array_foreach(keys, i, j_k)
    {
        const char *key = json_string_value(json_object_get(j_k, "key"));
        char *lock = leads_key_lock(network_id, key);
        json_array_append_new(locks, json_string(lock));
        json_array_append_new(plain, json_string(key));
        free(lock);
    }
    return locks;
}

int leads_fold_open(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                    const json_t *keys, const json_t *patients, json_t **out_lead,
                    struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    static const char *const copied[] = {
        "provider",     "channel", "external",       "contact", "contact_key",
        "contact_keys", "text",    "text_truncated", "subject", "service",
        "consent",      "form_id", "referral",       "code",    "callback_requested",
        "erased",       NULL};
    json_t *j_lead = json_object(), *j_code_tags = NULL, *j_pat = NULL;
    const char *code = json_string_value(json_object_get(ev->data, "code"));
    char lead_id[CF_UUID_STR_LEN + 1];
    int rc = 0;

    leads_new_lead_id(ev->networkid, ev->id, lead_id);
    json_object_set_new(j_lead, "lead_id", json_string(lead_id));
    if (ev->clinicid)
        json_object_set_new(j_lead, "clinic_id", json_string(ev->clinicid));
    with_members(j_lead, ev->data, copied);
    leads_gain_keys(j_lead, keys);
    cf_time_json_set(j_lead, "received_at", ev->time_ms);
    cf_time_json_set(j_lead, "last_message_at", ev->time_ms);
    json_object_set_new(j_lead, "messages", json_integer(1));
    json_object_set_new(j_lead, "status", json_string("open"));

    if (code && *code)
        rc = leads_store_code_tags(conn, ev->networkid, code, ev->time_ms, &j_code_tags, errbuf,
                                   errbuf_size);
    if (rc == 0)
        leads_attribute(j_lead, ev->data, j_code_tags);
    const char *ckey = json_string_value(json_object_get(j_lead, "contact_key"));
    if (rc == 0 && ckey && patients) {
        char *lock = leads_key_lock(ev->networkid, ckey);
        j_pat = json_incref(json_object_get(patients, lock));
        free(lock);
    } else if (rc == 0 && ckey) {
        rc = cf_patients_lookup(&ctx->patients, conn, ev->networkid, ckey, &j_pat, errbuf,
                                errbuf_size);
    }
    if (rc == 0) {
        json_object_set_new(j_lead, "patient_class",
                            json_string(cf_patients_class(j_pat, ev->time_ms)));
        if (j_pat)
            json_object_set(j_lead, "patient_id", json_object_get(j_pat, "patient_id"));
        emit(out, ev, "received", j_lead, leads_public_lead(j_lead));
        *out_lead = j_lead;
        j_lead = NULL;
    }
    json_decref(j_pat);
    json_decref(j_code_tags);
    json_decref(j_lead);
    return rc;
}

/* Applies the response ev to j_lead: its first response after it arrived
 * stops its clock once (lead.responded). 1 when it changed j_lead (the
 * caller saves it), else 0. */
static int answer_lead(struct leads_ctx *ctx, const struct cf_event *ev, json_t *j_lead,
                       struct cf_outbox *out)
{
    static const char *const members[] = {
        "lead_id",          "received_at",     "responded_at", "via", "call_id",
        "response_seconds", "working_seconds", "contact_key",  NULL};
    struct cf_time_hours hours;
    int has_hours = 0;

    clinic_rules(ctx, ev->networkid, json_string_value(json_object_get(j_lead, "clinic_id")),
                 &hours, &has_hours);
    const int changed = leads_respond(j_lead, ev->time_ms, has_hours ? &hours : NULL);
    if (changed) {
        /* an answered call's id: the callback task closes with it */
        static const char *const from_fact[] = {"via", "call_id", NULL};
        with_members(j_lead, ev->data, from_fact);
        if (!json_object_get(j_lead, "via"))
            json_object_set(j_lead, "via", json_object_get(ev->data, "provider"));
        emit(out, ev, "responded", j_lead,
             with_staff(with_members(json_object(), j_lead, members), j_lead, "responded_by", ev));
    }
    if (has_hours)
        cf_time_hours_free(&hours);
    return changed;
}

/* Applies the status ev to j_lead: the first outcome closes an open lead
 * (lead.status_changed). LEADS_STATUS_APPLY when it changed j_lead (the
 * caller saves it), LEADS_STATUS_IGNORE, or CF_EINVAL (leads_status_rule). */
static int close_lead(const struct cf_event *ev, json_t *j_lead, struct cf_outbox *out,
                      char *errbuf, size_t errbuf_size)
{
    static const char *const members[] = {"lead_id",        "status",      "reason",
                                          "appointment_id", "contact_key", NULL};
    int rc = leads_status_rule(j_lead, ev->data, errbuf, errbuf_size);

    if (rc == LEADS_STATUS_APPLY) {
        leads_close(j_lead, ev->data, ev->time_ms);
        emit(out, ev, "status_changed", j_lead,
             with_staff(with_members(json_object(), j_lead, members), j_lead, "closed_by", ev));
    }
    return rc;
}

/* Each waiting fact emits the event, with the id, it would have had after
 * the request. A fact that cannot apply (it was checked before it waited)
 * is logged and dropped. */
int leads_fold_apply_waiting(struct leads_ctx *ctx, json_t *j_lead, const json_t *j_pending,
                             struct cf_outbox *out)
{
    size_t i;
    json_t *j_text;
    int changed = 0;

    json_array_foreach(j_pending, i, j_text)
    {
        struct cf_event rev = {0};
        char reason[256] = "";
        const char *text = json_string_value(j_text);
        const char *kind = NULL;
        int rc = cf_event_parse(text, strlen(text), &rev, reason, sizeof(reason));
        if (rc == 0)
            kind = json_string_value(json_object_get(rev.data, "kind"));
        if (kind && strcmp(kind, "response") == 0) {
            changed |= answer_lead(ctx, &rev, j_lead, out);
        } else if (kind && strcmp(kind, "status") == 0) {
            rc = close_lead(&rev, j_lead, out, reason, sizeof(reason));
            changed |= rc == LEADS_STATUS_APPLY;
        } else {
            rc = CF_EINVAL;
        }
        if (rc < 0)
            cf_warn("fold: a fact that waited for lead %s dropped: %s",
                    json_string_value(json_object_get(j_lead, "lead_id")), reason);
        cf_event_clear(&rev);
    }
    return changed;
}

int leads_fold_merge(struct leads_ctx *ctx, const struct cf_event *ev, const json_t *keys,
                     json_t *j_lead, struct cf_outbox *out)
{
    static const char *const merged_members[] = {"lead_id", "messages", "contact_keys",
                                                 "contact_key", NULL};
    static const char *const from_fact[] = {"provider", "channel", "text", "text_truncated", NULL};
    const long window = clinic_rules(
        ctx, ev->networkid, json_string_value(json_object_get(j_lead, "clinic_id")), NULL, NULL);
    const int64_t last = cf_time_json_get(j_lead, "last_message_at");

    if (!leads_merges(cf_time_json_get(j_lead, "received_at"), last, ev->time_ms, window))
        return 0;
    json_int_t n = json_integer_value(json_object_get(j_lead, "messages"));
    json_object_set_new(j_lead, "messages", json_integer(n + 1));
    if (ev->time_ms > last)
        cf_time_json_set(j_lead, "last_message_at", ev->time_ms);
    leads_gain_keys(j_lead, keys);
    json_t *data = with_members(json_object(), j_lead, merged_members);
    with_members(data, ev->data, from_fact);
    cf_time_json_set(data, "merged_at", ev->time_ms);
    /* a callback asked of a lead not answered yet: the tasks step opens
     * the lead's callback task to that number (tasks.c), once a lead */
    const json_t *j_callback = leads_merge_callback_phone(j_lead, ev->data);
    if (j_callback) {
        json_object_set_new(data, "callback_phone", json_deep_copy(j_callback));
        json_object_set_new(j_lead, "callback_merged", json_true());
    }
    emit(out, ev, "merged", j_lead, data);
    return 1;
}

/* The first response of j_lead, new or just merged into (keys:
 * leads_fact_keys's of the request, locked), when a call with one of them
 * was answered after the lead arrived and recorded unclaimed before the
 * lead held the key (answered_calls.h): that call's fact put among
 * j_pending (the facts waiting for the lead) by its time, then the facts
 * applied, and the call recorded as the lead's if it answered it (a
 * status before it may have closed the lead: it stays free for a later
 * lead). 1 in *changed when they changed j_lead. */
static int answer_with_call(struct leads_ctx *ctx, PGconn *conn, const char *network_id,
                            const json_t *keys, json_t *j_lead, json_t *j_pending,
                            struct cf_outbox *out, int *changed, char *errbuf, size_t errbuf_size)
{
    json_t *rows = json_array(), *calls = json_object(), *claims = json_array();
    size_t i;
    json_t *j_k;

    json_array_foreach(keys, i, j_k)
    {
        json_array_append_new(
            rows, json_pack("{s:s, s:O}", "n", network_id, "k", json_object_get(j_k, "key")));
    }
    int rc = leads_answered_calls_unclaimed(conn, rows, calls, errbuf, errbuf_size);
    if (rc == 0)
        leads_answered_call_take(calls, network_id, keys, j_lead, j_pending, claims);
    *changed = rc == 0 && leads_fold_apply_waiting(ctx, j_lead, j_pending, out);
    if (rc == 0) {
        leads_answered_call_untaken(claims, j_lead);
        rc = leads_answered_calls_claim(conn, claims, errbuf, errbuf_size);
    }
    json_decref(claims);
    json_decref(calls);
    json_decref(rows);
    return rc;
}

/* The request ev (its keys, leads_fact_keys's; their locks and its lead
 * id's held) merged into j_found (stolen: the lead of its keys at its
 * date, or NULL) when it is within the merge window, else into j_next
 * (stolen: the lead that came first after it, or NULL) when within that
 * one's, else a new lead, which takes the facts waiting for it. */
static int request_apply(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                         const json_t *keys, json_t *j_found, json_t *j_next, struct cf_outbox *out,
                         char *errbuf, size_t errbuf_size)
{
    json_t *j_lead = NULL, *j_pending = NULL;
    int rc = 0, changed = 0;

    /* the lead it belongs to at its date, else the one that came first
     * after it (a merge that does not take changes nothing) */
    if (j_found && leads_fold_merge(ctx, ev, keys, j_found, out)) {
        j_lead = j_found;
        j_found = NULL;
    } else if (j_next && leads_fold_merge(ctx, ev, keys, j_next, out)) {
        j_lead = j_next;
        j_next = NULL;
    }
    json_decref(j_found);
    json_decref(j_next);
    if (j_lead) {
        /* the keys the lead gained may have had their call already: an
         * e-mail lead whose number, from the mail, was called before the
         * form that gave it came */
        if (leads_awaits_response(j_lead)) {
            j_pending = json_array();
            rc = answer_with_call(ctx, conn, ev->networkid, keys, j_lead, j_pending, out, &changed,
                                  errbuf, errbuf_size);
        }
        if (rc == 0)
            rc = leads_store_save(conn, ev->networkid, j_lead, keys, NULL, errbuf, errbuf_size);
        goto out;
    }
    rc = leads_fold_open(ctx, conn, ev, keys, NULL, &j_lead, out, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_store_save(conn, ev->networkid, j_lead, keys, &j_pending, errbuf, errbuf_size);
    if (rc == 0)
        rc = answer_with_call(ctx, conn, ev->networkid, keys, j_lead, j_pending, out, &changed,
                              errbuf, errbuf_size);
    if (rc == 0 && changed)
        rc = leads_store_save(conn, ev->networkid, j_lead, NULL, NULL, errbuf, errbuf_size);
out:
    json_decref(j_pending);
    json_decref(j_lead);
    return rc;
}

/* rows (leads_store_erased's) of the contact keys of request number e,
 * of network_id, dated at_ms, appended. */
void leads_erased_rows(json_t *rows, size_t e, const char *network_id, const json_t *keys,
                       int64_t at_ms)
{
    size_t k;
    json_t *j_k;
    json_array_foreach(keys, k, j_k)
    {
        json_array_append_new(rows,
                              json_pack("{s:I, s:s, s:O, s:I}", "e", (json_int_t)e, "n", network_id,
                                        "k", json_object_get(j_k, "key"), "t", (json_int_t)at_ms));
    }
}

static int fold_request(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                        struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    json_t *keys = leads_fact_keys(ev->data), *plain = json_array(), *locks = NULL;
    json_t *j_lead = NULL, *j_next = NULL, *rows = json_array(), *erased = json_object();
    struct cf_event as_erased = {0};
    char lead_id[CF_UUID_STR_LEN + 1];
    int rc;

    /* The contact keys and the lead id it would open, in one round. The
     * lead id's lock is held while the new lead takes the facts waiting
     * for it, and a fact that finds no lead looks again under it before
     * it waits (lead_of): one of the two sees the other's commit, so no
     * fact waits for a lead stored meanwhile. A request with no key (a
     * phone that did not parse, nothing else) opens a lead nothing can
     * merge into. */
    leads_new_lead_id(ev->networkid, ev->id, lead_id);
    locks = lock_keys(ev->networkid, keys, plain);
    char *own = leads_lead_lock(lead_id);
    json_array_append_new(locks, json_string(own));
    free(own);
    rc = leads_store_lock_keys(conn, locks, errbuf, errbuf_size);
    /* a person erased since it was sent (still on leads.raw then): it is
     * stored as the erasure left their other leads */
    leads_erased_rows(rows, 0, ev->networkid, keys, ev->time_ms);
    if (rc == 0)
        rc = leads_store_erased(conn, rows, erased, errbuf, errbuf_size);
    /* unless another patient holds its number now (a family's phone): the
     * lead is theirs, as the erasure leaves the leads of another patient */
    const char *ckey = json_string_value(json_object_get(ev->data, "contact_key"));
    json_t *j_pat = NULL;
    if (rc == 0 && json_object_size(erased) > 0 && ckey)
        rc = cf_patients_lookup(&ctx->patients, conn, ev->networkid, ckey, &j_pat, errbuf,
                                errbuf_size);
    if (rc == 0 && json_object_size(erased) > 0 && !j_pat) {
        as_erased = *ev;
        as_erased.data = leads_erased_fact(ev->data);
        ev = &as_erased;
    }
    json_decref(j_pat);
    if (rc == 0)
        rc = json_array_size(plain) == 0
                 ? CF_ENOTFOUND
                 : leads_store_find_open(conn, ev->networkid, plain, ev->time_ms, ev->data, &j_lead,
                                         &j_next, errbuf, errbuf_size);
    if (rc == 0 || rc == CF_ENOTFOUND) {
        rc = request_apply(ctx, conn, ev, keys, j_lead, j_next, out, errbuf, errbuf_size);
        j_lead = j_next = NULL;
    }
    if (ev == &as_erased)
        json_decref(as_erased.data);
    json_decref(erased);
    json_decref(rows);
    json_decref(j_lead);
    json_decref(j_next);
    json_decref(locks);
    json_decref(plain);
    json_decref(keys);
    return rc;
}

/* The lead a response or status fact is about: the one it names (its
 * lead_id, *named set), or the lead of its contact keys at its date (as
 * a request's). 0 with *out, CF_ENOTFOUND when there is none (the lead
 * named is not stored, or the contact has no such lead, or the fact names
 * none), CF_EINVAL for a
 * lead of another network (never touched), or an error. */
static int lead_of(PGconn *conn, const struct cf_event *ev, int *named, json_t **out, char *errbuf,
                   size_t errbuf_size)
{
    const char *lead_id = json_string_value(json_object_get(ev->data, "lead_id"));
    int rc;

    *out = NULL;
    *named = lead_id != NULL;
    if (lead_id) {
        rc = leads_store_load(conn, lead_id, ev->networkid, out, errbuf, errbuf_size);
        if (rc != CF_ENOTFOUND)
            return rc;
        /* Not there: looked for again under the lead's lock, after the
         * commit of a request opening it on another runner (fold_request). */
        char id[CF_UUID_STR_LEN + 1];
        snprintf(id, sizeof(id), "%s", lead_id);
        cf_uuid_lower(id);
        json_t *locks = json_array();
        char *lock = leads_lead_lock(id);
        json_array_append_new(locks, json_string(lock));
        free(lock);
        rc = leads_store_lock_keys(conn, locks, errbuf, errbuf_size);
        json_decref(locks);
        return rc != 0 ? rc : leads_store_load(conn, id, ev->networkid, out, errbuf, errbuf_size);
    }
    /* Its keys locked as a request's are: a lead a request of the person
     * is opening on another runner is waited for, and then answered. */
    json_t *keys = leads_fact_keys(ev->data), *plain = json_array();
    json_t *locks = lock_keys(ev->networkid, keys, plain);
    rc = json_array_size(plain) == 0 ? CF_ENOTFOUND
                                     : leads_store_lock_keys(conn, locks, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_store_find_open(conn, ev->networkid, plain, ev->time_ms, NULL, out, NULL, errbuf,
                                   errbuf_size);
    json_decref(locks);
    json_decref(plain);
    json_decref(keys);
    return rc;
}

/* The fact ev names a lead that is not stored: it waits for it in
 * leads.pending_facts (the lead's first save takes it, or it expires to
 * the DLQ), and the fold goes on. */
static int wait_for_lead(PGconn *conn, const struct cf_event *ev, const rd_kafka_message_t *rkm,
                         char *errbuf, size_t errbuf_size)
{
    char id[CF_UUID_STR_LEN + 1];

    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(ev->data, "lead_id")));
    cf_uuid_lower(id);
    if (!rkm) {
        snprintf(errbuf, errbuf_size, "lead %s is not stored", id);
        return CF_EINVAL;
    }
    cf_debug("fold: fact %s waits for lead %s", ev->id, id);
    return leads_store_pend(conn, ev, rkm, id, errbuf, errbuf_size);
}

static int fold_response(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                         const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                         size_t errbuf_size)
{
    json_t *j_lead = NULL;
    int named = 0;
    int rc = lead_of(conn, ev, &named, &j_lead, errbuf, errbuf_size);

    if (rc == CF_ENOTFOUND) /* the lead to come, or no open lead of the contact */
        return named ? wait_for_lead(conn, ev, rkm, errbuf, errbuf_size) : 0;
    if (rc == 0 && answer_lead(ctx, ev, j_lead, out))
        rc = leads_store_save(conn, ev->networkid, j_lead, NULL, NULL, errbuf, errbuf_size);
    json_decref(j_lead);
    return rc;
}

static int fold_status(PGconn *conn, const struct cf_event *ev, const rd_kafka_message_t *rkm,
                       struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    json_t *j_lead = NULL;
    int named = 0;
    int rc;

    if (!json_is_string(json_object_get(ev->data, "lead_id"))) {
        snprintf(errbuf, errbuf_size, "status fact without a lead_id");
        return CF_EINVAL;
    }
    /* one that could never apply goes to the DLQ now, waiting or not */
    rc = leads_status_rule(NULL, ev->data, errbuf, errbuf_size);
    if (rc >= 0)
        rc = lead_of(conn, ev, &named, &j_lead, errbuf, errbuf_size);
    if (rc == CF_ENOTFOUND)
        return wait_for_lead(conn, ev, rkm, errbuf, errbuf_size);
    if (rc == 0 && close_lead(ev, j_lead, out, errbuf, errbuf_size) == LEADS_STATUS_APPLY)
        rc = leads_store_save(conn, ev->networkid, j_lead, NULL, NULL, errbuf, errbuf_size);
    json_decref(j_lead);
    return rc;
}

int leads_fold_apply_fact(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                          const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                          size_t errbuf_size)
{
    if (!ev) {
        snprintf(errbuf, errbuf_size, "unexpected tombstone");
        return CF_EINVAL;
    }
    if (strcmp(ev->type, "clinicflow.lead.reported") != 0) {
        snprintf(errbuf, errbuf_size, "unexpected event type %s", ev->type);
        return CF_EINVAL;
    }
    const char *kind = json_string_value(json_object_get(ev->data, "kind"));
    if (kind && strcmp(kind, "request") == 0)
        return fold_request(ctx, conn, ev, out, errbuf, errbuf_size);
    if (kind && strcmp(kind, "response") == 0)
        return fold_response(ctx, conn, ev, rkm, out, errbuf, errbuf_size);
    if (kind && strcmp(kind, "status") == 0)
        return fold_status(conn, ev, rkm, out, errbuf, errbuf_size);
    snprintf(errbuf, errbuf_size, "fact with an unknown kind");
    return CF_EINVAL;
}
