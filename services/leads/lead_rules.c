/*
 * The lead fold's rules (fold_testable.h), pure: the merge window, the
 * keys a request brings and those a lead gains, where a lead's ad tags
 * come from (the request's own, then an attribution code's, then a CTWA
 * referral), the first-response clock in the clinic's working hours, and
 * the status rules (the first outcome closes the lead and stands). Kept
 * apart from fold.c so each rule is tested without PostgreSQL or Kafka.
 */
#include "fold_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/xmalloc.h"

const char *const leads_lost_reasons[] = {
    "no_answer", "price", "chose_other_clinic", "not_relevant", "duplicate", "other", NULL};

/* The kinds of contact keys, strongest first. */
static const char *const key_kinds[] = {"phone", "email", "messenger", NULL};

long leads_merge_window_s(const struct cf_clinic *clinic, long default_s)
{
    const json_t *v = clinic ? json_object_get(clinic->doc, "lead_merge_window_s") : NULL;

    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return (long)json_integer_value(v);
    return default_s;
}

int leads_merges(int64_t received_ms, int64_t last_ms, int64_t request_ms, long window_s)
{
    const int64_t window_ms = (int64_t)window_s * 1000;
    return window_s > 0 && request_ms - last_ms <= window_ms &&
           received_ms - request_ms <= window_ms;
}

int leads_apart_by_erasure(const json_t *j_lead, const json_t *j_fact)
{
    return json_is_true(json_object_get(j_lead, "erased")) &&
           !json_is_true(json_object_get(j_fact, "erased"));
}

/* The kind of the contact_key of a fact: the strongest member of its
 * contact_keys naming it, else what the key looks like (DESIGN.md: a
 * phone's key is plain hex; "email:" and "<provider>:" keys are hashed
 * too, so it cannot be told: a phone by default). */
static const char *kind_of(const json_t *j_keys, const char *key)
{
    for (const char *const *k = key_kinds; *k; k++) {
        const char *v = json_string_value(json_object_get(j_keys, *k));
        if (v && strcmp(v, key) == 0)
            return *k;
    }
    return NULL;
}

json_t *leads_fact_keys(const json_t *j_fact)
{
    const json_t *j_keys = json_object_get(j_fact, "contact_keys");
    const char *main_key = json_string_value(json_object_get(j_fact, "contact_key"));
    json_t *out = json_array();

    for (const char *const *k = key_kinds; *k; k++) {
        const char *v = json_string_value(json_object_get(j_keys, *k));
        if (v && *v)
            json_array_append_new(out, json_pack("{s:s, s:s}", "kind", *k, "key", v));
    }
    if (main_key && *main_key && !kind_of(j_keys, main_key)) {
        /* a fact whose contact_keys leave its own key out: the strongest
         * kind it lacks (a fact with no contact_keys at all: its phone's
         * when it has a phone, else e-mail's, else a messenger's) */
        const json_t *j_contact = json_object_get(j_fact, "contact");
        const char *kind = json_object_get(json_object_get(j_contact, "phone"), "e164") ? "phone"
                           : json_object_get(j_contact, "email")                        ? "email"
                                                                 : "messenger";
        json_array_append_new(out, json_pack("{s:s, s:s}", "kind", kind, "key", main_key));
    }
    return out;
}

json_t *leads_erased_fact(const json_t *j_fact)
{
    static const char *const gone[] = {"text", "text_truncated", "subject", "external"};
    json_t *j = json_copy((json_t *)j_fact);

    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        json_object_del(j, gone[i]);
    json_object_set_new(j, "contact", json_object());
    json_object_set_new(j, "erased", json_true());
    return j;
}

int leads_gain_keys(json_t *j_lead, const json_t *keys)
{
    const json_t *j_had = json_object_get(j_lead, "contact_keys");
    json_t *j_have = NULL;
    size_t i;
    json_t *j_k;
    int gained = 0;

    json_array_foreach(keys, i, j_k)
    {
        const char *kind = json_string_value(json_object_get(j_k, "kind"));
        if (!kind || json_object_get(j_have ? j_have : j_had, kind))
            continue;
        /* a new object, never the old one changed: the lead's events in
         * the outbox share its members (common/outbox.h) */
        if (!j_have)
            j_have = json_is_object(j_had) ? json_copy((json_t *)j_had) : json_object();
        json_object_set(j_have, kind, json_object_get(j_k, "key"));
        gained = 1;
    }
    if (j_have)
        json_object_set_new(j_lead, "contact_keys", j_have);
    else if (!json_is_object(j_had))
        json_object_set_new(j_lead, "contact_keys", json_object());
    j_have = json_object_get(j_lead, "contact_keys");
    for (const char *const *k = key_kinds; *k; k++) {
        json_t *v = json_object_get(j_have, *k);
        if (json_is_string(v)) {
            json_object_set(j_lead, "contact_key", v);
            break;
        }
    }
    return gained;
}

/* Whether tags carry an ad tag (not only a referrer or page). */
static int has_ad_tags(const json_t *j_tags)
{
    static const char *const ad[] = {"utm_source", "utm_medium",  "utm_campaign",
                                     "utm_term",   "utm_content", "gclid",
                                     "yclid",      "fbclid",      NULL};

    for (const char *const *k = ad; *k; k++) {
        const char *v = json_string_value(json_object_get(j_tags, *k));
        if (v && *v)
            return 1;
    }
    return 0;
}

void leads_attribute(json_t *j_lead, const json_t *j_fact, const json_t *j_code_tags)
{
    const json_t *j_tags = json_object_get(j_fact, "tags");
    const json_t *j_ref = json_object_get(j_fact, "referral");
    const char *source = "none";
    json_t *j_out = NULL;

    if (json_is_object(j_tags) && has_ad_tags(j_tags)) {
        j_out = json_deep_copy(j_tags);
        source = "tags";
    } else if (json_is_object(j_code_tags) && json_object_size(j_code_tags) > 0) {
        j_out = json_deep_copy(j_code_tags);
        if (json_is_object(j_tags))
            json_object_update_missing(j_out, (json_t *)j_tags);
        source = "code";
    } else {
        if (json_is_object(j_ref) && json_object_size(j_ref) > 0)
            source = "referral";
        if (json_is_object(j_tags) && json_object_size(j_tags) > 0)
            j_out = json_deep_copy(j_tags);
    }
    if (j_out)
        json_object_set_new(j_lead, "tags", j_out);
    else
        json_object_del(j_lead, "tags");
    json_object_set_new(j_lead, "attribution", json_string(source));
}

int leads_respond(json_t *j_lead, int64_t at_ms, const struct cf_time_hours *hours)
{
    const int64_t received = cf_time_json_get(j_lead, "received_at");
    const int64_t closed = cf_time_json_get(j_lead, "closed_at");

    /* a closed lead's clock stopped at its close: a reply after it (the
     * booking confirmed in the chat) is not how fast it was answered */
    if (received < 0 || at_ms < received || (closed >= 0 && at_ms > closed) ||
        json_object_get(j_lead, "responded_at"))
        return 0;
    const int64_t wall = (at_ms - received) / 1000;
    cf_time_json_set(j_lead, "responded_at", at_ms);
    json_object_set_new(j_lead, "response_seconds", json_integer(wall));
    json_object_set_new(
        j_lead, "working_seconds",
        json_integer(hours ? cf_time_working_seconds(hours, received, at_ms) : wall));
    return 1;
}

int leads_awaits_response(const json_t *j_lead)
{
    const char *status = json_string_value(json_object_get(j_lead, "status"));
    return status && strcmp(status, "open") == 0 && !json_object_get(j_lead, "responded_at");
}

int leads_clinic_hours(const struct cf_clinic *clinic, struct cf_time_hours *out)
{
    char errbuf[128];
    const json_t *j_week = clinic ? json_object_get(clinic->doc, "working_hours") : NULL;

    if (!clinic || !clinic->tz || !json_is_object(j_week))
        return CF_ENOTFOUND;
    return cf_time_hours_parse(clinic->tz, j_week, json_object_get(clinic->doc, "holidays"), NULL,
                               out, errbuf, sizeof(errbuf));
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++) {
        if (s && strcmp(s, *list) == 0)
            return 1;
    }
    return 0;
}

int leads_status_rule(const json_t *j_lead, const json_t *j_fact, char *errbuf, size_t errbuf_size)
{
    static const char *const outcomes[] = {"booked", "lost", "spam", NULL};
    const char *status = json_string_value(json_object_get(j_fact, "status"));
    const json_t *j_reason = json_object_get(j_fact, "reason");
    const char *cur = json_string_value(json_object_get(j_lead, "status"));

    if (!in_list(status, outcomes)) {
        snprintf(errbuf, errbuf_size, "status fact with an unknown status");
        return CF_EINVAL;
    }
    if (strcmp(status, "lost") == 0 && j_reason && !json_is_null(j_reason) &&
        !in_list(json_string_value(j_reason), leads_lost_reasons)) {
        snprintf(errbuf, errbuf_size, "lost with a reason not on the list");
        return CF_EINVAL;
    }
    return cur && strcmp(cur, "open") == 0 ? LEADS_STATUS_APPLY : LEADS_STATUS_IGNORE;
}

void leads_close(json_t *j_lead, const json_t *j_fact, int64_t at_ms)
{
    static const char *const copied[] = {"appointment_id", NULL};
    const char *status = json_string_value(json_object_get(j_fact, "status"));
    const char *reason = json_string_value(json_object_get(j_fact, "reason"));

    json_object_set_new(j_lead, "status", json_string(status));
    if (strcmp(status, "lost") == 0)
        json_object_set_new(j_lead, "reason", json_string(reason ? reason : "other"));
    for (const char *const *k = copied; *k; k++) {
        json_t *v = json_object_get(j_fact, *k);
        if (json_is_string(v))
            json_object_set(j_lead, *k, v);
    }
    /* never before the lead came: a backdated status would close it "on
     * time" whatever happened */
    const int64_t received = cf_time_json_get(j_lead, "received_at");
    cf_time_json_set(j_lead, "closed_at", at_ms > received ? at_ms : received);
}

json_t *leads_public_lead(const json_t *j_lead)
{
    static const char *const members[] = {"lead_id",
                                          "clinic_id",
                                          "provider",
                                          "channel",
                                          "external",
                                          "contact",
                                          "contact_key",
                                          "contact_keys",
                                          "text",
                                          "text_truncated",
                                          "subject",
                                          "service",
                                          "consent",
                                          "form_id",
                                          "tags",
                                          "referral",
                                          "attribution",
                                          "code",
                                          "received_at",
                                          "patient_class",
                                          "patient_id",
                                          "status",
                                          "callback_requested",
                                          "erased",
                                          NULL};
    json_t *j = json_object();

    for (const char *const *k = members; *k; k++) {
        json_t *v = json_object_get(j_lead, *k);
        /* a lead with no key (a phone that is no number) has no
         * contact_keys: lead.json wants one at least when present; an
         * erased person's contact is empty, and lead.json wants one */
        if (v && !json_is_null(v) &&
            !(json_is_object(v) && json_object_size(v) == 0 && strcmp(*k, "contact") != 0))
            json_object_set(j, *k, v);
    }
    return j;
}

char *leads_key_lock(const char *network_id, const char *key)
{
    return cf_xasprintf("%s/%s", network_id, key);
}

char *leads_lead_lock(const char *lead_id)
{
    return cf_xasprintf("lead/%s", lead_id);
}

void leads_new_lead_id(const char *network_id, const char *fact_id, char out[CF_UUID_STR_LEN + 1])
{
    const char *parts[] = {network_id, "lead", fact_id};

    cf_uuid5(parts, 3, out);
}

/* Adds lock to locks unless seen has it: 1, else 0 (it is in two). */
static int add_lock(json_t *seen, json_t *locks, char *lock)
{
    const int fresh = json_object_get(seen, lock) == NULL;

    if (fresh) {
        json_object_set_new(seen, lock, json_true());
        json_array_append_new(locks, json_string(lock));
    }
    free(lock);
    return fresh;
}

int leads_batch_plan(const struct cf_event *const *evs, size_t n, json_t *locks, json_t *keys)
{
    json_t *seen = json_object();
    int ok = n > 0;

    for (size_t i = 0; i < n && ok; i++) {
        const struct cf_event *ev = evs[i];
        const char *kind = ev ? json_string_value(json_object_get(ev->data, "kind")) : NULL;
        if (!kind || strcmp(kind, "request") != 0 ||
            strcmp(ev->type, "clinicflow.lead.reported") != 0) {
            ok = 0;
            break;
        }
        json_t *j_keys = leads_fact_keys(ev->data);
        size_t k;
        json_t *j_k;
        json_array_foreach(j_keys, k, j_k)
        {
            const char *key = json_string_value(json_object_get(j_k, "key"));
            add_lock(seen, locks, leads_key_lock(ev->networkid, key)); /* one person twice */
        }
        char lead_id[CF_UUID_STR_LEN + 1];
        leads_new_lead_id(ev->networkid, ev->id, lead_id);
        ok &= add_lock(seen, locks, leads_lead_lock(lead_id)); /* not one fact twice */
        json_array_append_new(keys, j_keys);
    }
    json_decref(seen);
    return ok;
}

/* 1 when lead a (last message at a_at, id a_id) goes before the best so
 * far: the latest last message, the lowest id among equals. */
static int later(int64_t a_at, const char *a_id, int best, int64_t best_at, const char *best_id)
{
    return best < 0 || a_at > best_at || (a_at == best_at && strcmp(a_id, best_id) < 0);
}

/* leads_pick_open's candidates: live, after and open (-1: none). */
static void pick(const json_t *j_leads, int64_t at_ms, const json_t *j_fact, int *live_out,
                 int *after_out, int *open_out)
{
    /* live: open then (received by at_ms, open now or closed since);
     * after: received after at_ms (open, or closed since); open: open now,
     * its arrival unknown */
    int live = -1, after = -1, open = -1;
    int64_t live_at = 0, after_at = 0, open_at = 0;
    const char *live_id = NULL, *after_id = NULL, *open_id = NULL;
    size_t i;
    json_t *j_lead;

    json_array_foreach(j_leads, i, j_lead)
    {
        const char *status = json_string_value(json_object_get(j_lead, "status"));
        const char *id = json_string_value(json_object_get(j_lead, "lead_id"));
        if (!status || !id || (j_fact && leads_apart_by_erasure(j_lead, j_fact)))
            continue;
        const int is_open = strcmp(status, "open") == 0;
        const int64_t received = cf_time_json_get(j_lead, "received_at");
        const int64_t last = cf_time_json_get(j_lead, "last_message_at");
        if (!is_open && cf_time_json_get(j_lead, "closed_at") < at_ms)
            continue; /* closed before the request: never its lead */
        if (received >= 0 && received <= at_ms && later(last, id, live, live_at, live_id)) {
            live = (int)i;
            live_at = last;
            live_id = id;
        }
        /* the first that came after it: the request was its first message
         * (the merge window before a lead decides) */
        if (received > at_ms && (after < 0 || received < after_at ||
                                 (received == after_at && strcmp(id, after_id) < 0))) {
            after = (int)i;
            after_at = received;
            after_id = id;
        }
        if (is_open && received < 0 && later(last, id, open, open_at, open_id)) {
            open = (int)i;
            open_at = last;
            open_id = id;
        }
    }
    *live_out = live;
    *after_out = after;
    *open_out = open;
}

int leads_pick_open(const json_t *j_leads, int64_t at_ms, const json_t *j_fact)
{
    int live, after, open;
    pick(j_leads, at_ms, j_fact, &live, &after, &open);
    return live >= 0 ? live : after >= 0 ? after : open;
}

int leads_pick_next(const json_t *j_leads, int64_t at_ms, const json_t *j_fact)
{
    int live, after, open;
    pick(j_leads, at_ms, j_fact, &live, &after, &open);
    return live >= 0 && after >= 0 ? after : -1;
}
