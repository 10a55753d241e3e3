/*
 * The lead fold: facts on leads.raw (a person wrote, staff answered, an
 * outcome was told) become leads, one open lead per person, and lead.*
 * events on leads.v1. A request merges into the open lead of any of its
 * contact keys when it comes within the clinic's merge window of that
 * lead's last request (lead.merged: no new lead, the clock not restarted,
 * a key it brings is gained), else opens a lead (lead.received, with its
 * ad tags and the patient class from the phone -> patient view). The
 * first response after a lead arrived stops its clock (lead.responded,
 * once); the first outcome closes it (lead.status_changed). The contact
 * keys of a request are locked in one sorted round before the look-up, so
 * two instances never open two leads for one person. Output ids are
 * uuid5(fact id, "lead.<verb>") and a lead's id uuid5(network, "lead",
 * the id of the request that opened it): applying a fact again yields the
 * same events. The rules are in lead_rules.c, the SQL in lead_store.c.
 */
#include "leads.h"
#include "fold.h"
#include "fold_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
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
    cf_outbox_add(out, CF_TOPIC_LEADS, lead_id, &ev);
    cf_event_clear(&ev);
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
        char *lock = cf_xasprintf("%s/%s", network_id, key);
        json_array_append_new(locks, json_string(lock));
        json_array_append_new(plain, json_string(key));
        free(lock);
    }
    return locks;
}

/* A new lead from the request ev: its contact, content, tags and patient. */
static int open_lead(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                     const json_t *keys, json_t **out, char *errbuf, size_t errbuf_size)
{
    static const char *const copied[] = {
        "provider",     "channel", "external",       "contact", "contact_key",
        "contact_keys", "text",    "text_truncated", "subject", "service",
        "consent",      "form_id", "referral",       "code",    NULL};
    const char *parts[] = {ev->networkid, "lead", ev->id};
    char lead_id[CF_UUID_STR_LEN + 1];
    json_t *j_lead = json_object(), *j_code_tags = NULL, *j_pat = NULL;
    const char *code = json_string_value(json_object_get(ev->data, "code"));
    int rc = 0;

    cf_uuid5(parts, 3, lead_id);
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
    if (rc == 0 && ckey)
        rc = cf_patients_lookup(&ctx->patients, conn, ev->networkid, ckey, &j_pat, errbuf,
                                errbuf_size);
    if (rc == 0) {
        json_object_set_new(j_lead, "patient_class",
                            json_string(cf_patients_class(j_pat, ev->time_ms)));
        if (j_pat)
            json_object_set(j_lead, "patient_id", json_object_get(j_pat, "patient_id"));
        *out = j_lead;
        j_lead = NULL;
    }
    json_decref(j_pat);
    json_decref(j_code_tags);
    json_decref(j_lead);
    return rc;
}

static int fold_request(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                        struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    static const char *const merged_members[] = {"lead_id", "messages", "contact_keys",
                                                 "contact_key", NULL};
    json_t *keys = leads_fact_keys(ev->data), *plain = json_array(), *locks = NULL;
    json_t *j_lead = NULL;
    int rc;

    /* A request with no key (a phone that did not parse, nothing else)
     * opens a lead nothing can merge into. */
    locks = lock_keys(ev->networkid, keys, plain);
    rc = leads_store_lock_keys(conn, locks, errbuf, errbuf_size);
    if (rc == 0)
        rc = json_array_size(plain) == 0
                 ? CF_ENOTFOUND
                 : leads_store_find_open(conn, ev->networkid, plain, &j_lead, errbuf, errbuf_size);
    if (rc == 0) {
        const long window =
            clinic_rules(ctx, ev->networkid,
                         json_string_value(json_object_get(j_lead, "clinic_id")), NULL, NULL);
        const int64_t last = cf_time_json_get(j_lead, "last_message_at");
        if (leads_merges(last, ev->time_ms, window)) {
            json_int_t n = json_integer_value(json_object_get(j_lead, "messages"));
            json_object_set_new(j_lead, "messages", json_integer(n + 1));
            if (ev->time_ms > last)
                cf_time_json_set(j_lead, "last_message_at", ev->time_ms);
            leads_gain_keys(j_lead, keys);
            rc = leads_store_save(conn, ev->networkid, j_lead, keys, errbuf, errbuf_size);
            if (rc == 0) {
                static const char *const from_fact[] = {"provider", "channel", "text",
                                                        "text_truncated", NULL};
                json_t *data = with_members(json_object(), j_lead, merged_members);
                with_members(data, ev->data, from_fact);
                cf_time_json_set(data, "merged_at", ev->time_ms);
                emit(out, ev, "merged", j_lead, data);
            }
            goto out;
        }
        json_decref(j_lead);
        j_lead = NULL;
    } else if (rc != CF_ENOTFOUND) {
        goto out;
    }
    rc = open_lead(ctx, conn, ev, keys, &j_lead, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_store_save(conn, ev->networkid, j_lead, keys, errbuf, errbuf_size);
    if (rc == 0)
        emit(out, ev, "received", j_lead, leads_public_lead(j_lead));
out:
    json_decref(j_lead);
    json_decref(locks);
    json_decref(plain);
    json_decref(keys);
    return rc;
}

/* A fact naming a lead that is not stored: CF_EWAIT while the fold may
 * still be committing it (CLINICFLOW_LEADS_WAIT_FOR_LEAD_S after the fact
 * reached leads.raw: the fold emits a lead's events before it commits the
 * lead, so a status sent for a lead seen on leads.v1 may come first), then
 * CF_EINVAL (the DLQ). */
static int wait_for_lead(struct leads_ctx *ctx, const struct cf_event *ev,
                         const rd_kafka_message_t *rkm, const char *lead_id, char *errbuf,
                         size_t errbuf_size)
{
    int64_t arrived = rkm ? rd_kafka_message_timestamp(rkm, NULL) : -1;

    if (arrived < 0)
        arrived = ev->time_ms;
    if (cf_time_now_ms() - arrived < (int64_t)ctx->cfg.wait_for_lead_s * 1000) {
        snprintf(errbuf, errbuf_size, "lead %s is not stored yet", lead_id);
        return CF_EWAIT;
    }
    snprintf(errbuf, errbuf_size, "lead %s is unknown", lead_id);
    return CF_EINVAL;
}

/* The lead a response or status fact is about: the one it names, or the
 * open lead of its contact keys (by_contact). 0 with *out, CF_ENOTFOUND
 * when it has none to name it by, or an error. */
static int lead_of(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                   const rd_kafka_message_t *rkm, int by_contact, json_t **out, char *errbuf,
                   size_t errbuf_size)
{
    const char *lead_id = json_string_value(json_object_get(ev->data, "lead_id"));
    int rc;

    *out = NULL;
    if (lead_id) {
        rc = leads_store_load(conn, lead_id, ev->networkid, out, errbuf, errbuf_size);
        return rc == CF_ENOTFOUND ? wait_for_lead(ctx, ev, rkm, lead_id, errbuf, errbuf_size) : rc;
    }
    if (!by_contact) {
        snprintf(errbuf, errbuf_size, "status fact without a lead_id");
        return CF_EINVAL;
    }
    /* Its keys locked as a request's are: a lead a request of the person
     * is opening on another runner is waited for, and then answered. */
    json_t *keys = leads_fact_keys(ev->data), *plain = json_array();
    json_t *locks = lock_keys(ev->networkid, keys, plain);
    rc = json_array_size(plain) == 0 ? CF_ENOTFOUND
                                     : leads_store_lock_keys(conn, locks, errbuf, errbuf_size);
    if (rc == 0)
        rc = leads_store_find_open(conn, ev->networkid, plain, out, errbuf, errbuf_size);
    json_decref(locks);
    json_decref(plain);
    json_decref(keys);
    return rc;
}

static int fold_response(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                         const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                         size_t errbuf_size)
{
    static const char *const members[] = {
        "lead_id",          "received_at",     "responded_at", "via", "staff_id",
        "response_seconds", "working_seconds", "contact_key",  NULL};
    struct cf_time_hours hours;
    int has_hours = 0;
    json_t *j_lead = NULL;
    int rc = lead_of(ctx, conn, ev, rkm, 1, &j_lead, errbuf, errbuf_size);

    if (rc == CF_ENOTFOUND) /* no open lead of the contact: nothing to answer */
        return 0;
    if (rc != 0)
        return rc;
    clinic_rules(ctx, ev->networkid, json_string_value(json_object_get(j_lead, "clinic_id")),
                 &hours, &has_hours);
    if (leads_respond(j_lead, ev->time_ms, has_hours ? &hours : NULL)) {
        static const char *const from_fact[] = {"via", "staff_id", NULL};
        with_members(j_lead, ev->data, from_fact);
        if (!json_object_get(j_lead, "via"))
            json_object_set(j_lead, "via", json_object_get(ev->data, "provider"));
        rc = leads_store_save(conn, ev->networkid, j_lead, NULL, errbuf, errbuf_size);
        if (rc == 0)
            emit(out, ev, "responded", j_lead, with_members(json_object(), j_lead, members));
    }
    if (has_hours)
        cf_time_hours_free(&hours);
    json_decref(j_lead);
    return rc;
}

static int fold_status(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                       const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                       size_t errbuf_size)
{
    static const char *const members[] = {"lead_id",  "status",      "reason", "appointment_id",
                                          "staff_id", "contact_key", NULL};
    json_t *j_lead = NULL;
    int rc = lead_of(ctx, conn, ev, rkm, 0, &j_lead, errbuf, errbuf_size);

    if (rc == 0)
        rc = leads_status_rule(j_lead, ev->data, errbuf, errbuf_size);
    if (rc == LEADS_STATUS_APPLY) {
        leads_close(j_lead, ev->data, ev->time_ms);
        rc = leads_store_save(conn, ev->networkid, j_lead, NULL, errbuf, errbuf_size);
        if (rc == 0)
            emit(out, ev, "status_changed", j_lead, with_members(json_object(), j_lead, members));
    }
    json_decref(j_lead);
    return rc;
}

int leads_fold_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                     const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                     size_t errbuf_size)
{
    struct leads_ctx *ctx = vctx;

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
        return fold_status(ctx, conn, ev, rkm, out, errbuf, errbuf_size);
    snprintf(errbuf, errbuf_size, "fact with an unknown kind");
    return CF_EINVAL;
}
