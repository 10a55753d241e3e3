/*
 * The tail every lead route shares: an adapter's fact (providers/adapters.h)
 * becomes the one leads.raw fact the fold reads (README.md, "A fact on
 * clinicflow.leads.raw.v1"), is wrapped in the envelope and produced; the
 * route answers only after Kafka acknowledged it. Normalizing is a pure
 * function over the fact and the network, so what reaches the topic is
 * decided in one place and unit-tested: members of the wrong type never
 * pass, strings are bounded, a phone that does not parse is kept raw with
 * its kind (never refused: a provider would retry or give up on the hook),
 * and every contact key the fact has is computed here, with the network's
 * secret, so no other part needs it. Ids are deterministic (UUIDv5 over the
 * provider's own key), so a retried webhook is the same event.
 */
#include "ingest.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/hook.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/phone.h"
#include "common/validate.h"
#include "common/xmalloc.h"

/* The tags a fact keeps (adapters.h), with what each may hold. */
static const struct {
    const char *name;
    size_t max_chars;
} tag_names[] = {
    {"utm_source", LEADS_SHORT_MAX},   {"utm_medium", LEADS_SHORT_MAX},
    {"utm_campaign", LEADS_SHORT_MAX}, {"utm_term", LEADS_SHORT_MAX},
    {"utm_content", LEADS_SHORT_MAX},  {"gclid", LEADS_SHORT_MAX},
    {"yclid", LEADS_SHORT_MAX},        {"fbclid", LEADS_SHORT_MAX},
    {"ym_uid", LEADS_SHORT_MAX},       {"client_id", LEADS_SHORT_MAX},
    {"referrer", LEADS_LINK_MAX},      {"page_url", LEADS_LINK_MAX},
};
static const char *const referral_names[] = {"source_id", "source_type", "source_url",
                                             "headline",  "ctwa_clid",   NULL};

/* A string member as the fact keeps it (new ref), or NULL: a string, or an
 * integer (providers send ids as numbers), not empty, cut to max_chars
 * characters, or left out when longer and drop_long is set (a cut link
 * leads nowhere). */
static json_t *str_member(const json_t *obj, const char *key, size_t max_chars, int drop_long)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        char num[32];
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_string(num);
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    const char *s = json_string_value(v);
    const size_t len = json_string_length(v);
    const size_t keep = cf_validate_utf8_prefix(s, len, max_chars);
    if (keep < len && drop_long)
        return NULL;
    return json_stringn(s, keep);
}

/* Copies key from j_in into j_out as str_member makes it; 1 if present. */
static int copy_str(json_t *j_out, const char *out_key, const json_t *j_in, const char *key,
                    size_t max_chars, int drop_long)
{
    json_t *v = str_member(j_in, key, max_chars, drop_long);
    if (!v)
        return 0;
    json_object_set_new(j_out, out_key, v);
    return 1;
}

/* The phone object {raw, kind, e164?} of a raw value (new ref). */
static json_t *phone_of(const char *raw, const char *default_cc)
{
    char e164[CF_PHONE_MAX];
    const size_t raw_len = cf_validate_utf8_prefix(raw, strlen(raw), LEADS_SHORT_MAX);
    const char *kind = "invalid";

    switch (cf_phone_normalize(raw, default_cc, e164, sizeof(e164))) {
    case CF_PHONE_E164:
        return json_pack("{s:s%, s:s, s:s}", "raw", raw, raw_len, "kind", "e164", "e164", e164);
    case CF_PHONE_EXTENSION:
        kind = "extension";
        break;
    case CF_PHONE_ANONYMOUS:
        kind = "anonymous";
        break;
    default:
        break;
    }
    return json_pack("{s:s%, s:s}", "raw", raw, raw_len, "kind", kind);
}

/* Adds key kind -> HMAC(network secret, msg) to j_keys. */
static void add_key(json_t *j_keys, const char *kind, const char *secret, const char *msg)
{
    char key[CF_SHA256_HEX_LEN + 1];
    cf_contact_key(secret, msg, key);
    json_object_set_new(j_keys, kind, json_string(key));
}

/* 1 when e164 is one of the network's own numbers (a clinic's, a
 * tracking or pool number, a staff phone, a telephony channel's): written
 * in a message ("I called 8 800 ..., nobody answered"), it is not the
 * writer's, and would join everyone who wrote it into one person. */
static int own_number(const json_t *j_net, const char *e164)
{
    const json_t *j_item, *j_num;
    size_t i, k;
    const char *key;
    json_array_foreach(json_object_get(j_net, "clinics"), i, j_item)
    {
        const char *phone = json_string_value(json_object_get(j_item, "default_phone"));
        if (phone && strcmp(phone, e164) == 0)
            return 1;
    }
    static const char *const listed[] = {"tracking_numbers", "staff_numbers"};
    for (size_t l = 0; l < 2; l++)
        json_array_foreach(json_object_get(j_net, listed[l]), i, j_item)
        {
            const char *phone = json_string_value(json_object_get(j_item, "number"));
            if (phone && strcmp(phone, e164) == 0)
                return 1;
        }
    json_array_foreach(json_object_get(j_net, "number_pools"), i, j_item)
        json_array_foreach(json_object_get(j_item, "numbers"), k, j_num)
    {
        if (json_is_string(j_num) && strcmp(json_string_value(j_num), e164) == 0)
            return 1;
    }
    json_array_foreach(json_object_get(j_net, "channels"), i, j_item)
        json_object_foreach((json_t *)json_object_get(j_item, "numbers"), key, j_num)
    {
        if (strcmp(key, e164) == 0)
            return 1;
    }
    return 0;
}

/* A message that names no phone of its own (a messenger's text) but has
 * one written in it ("my number is 8 916 ..."): that phone (the first
 * that is not the network's own), marked as read from the text, and its
 * key, so the person is found by it. */
static void phone_in_text(const struct leads_norm *n, const json_t *j_in, json_t *j_contact,
                          json_t *j_keys)
{
    const json_t *j_text = json_object_get(j_in, "text");
    char e164[CF_PHONE_MAX];
    size_t from = 0, at, len;
    if (!json_is_string(j_text))
        return;
    const char *text = json_string_value(j_text);
    const size_t end =
        cf_validate_utf8_prefix(text, json_string_length(j_text), (size_t)n->text_max);
    for (;;) {
        if (from >= end ||
            !cf_phone_find(text + from, end - from, n->default_cc, e164, sizeof(e164), &at, &len))
            return;
        at += from;
        if (!own_number(n->net->doc, e164))
            break;
        from = at + len;
    }
    json_object_set_new(
        j_contact, "phone",
        json_pack("{s:s%, s:s, s:s}", "raw", text + at, len, "kind", "e164", "e164", e164));
    json_object_set_new(j_contact, "phone_from_text", json_true());
    add_key(j_keys, "phone", n->net->secret, e164);
}

/* The contact, and its keys into j_keys. */
static json_t *contact_of(const struct leads_norm *n, const json_t *j_in, json_t *j_keys)
{
    json_t *j_contact = json_object();
    json_t *j_user = str_member(j_in, "user_id", LEADS_SHORT_MAX, 0);
    json_t *j_phone = str_member(j_in, "phone", LEADS_SHORT_MAX, 0);
    json_t *j_email = str_member(j_in, "email", 320, 1);

    copy_str(j_contact, "name", j_in, "name", LEADS_SHORT_MAX, 0);
    const char *handle = cf_hook_str(j_in, "handle");
    if (handle && handle[0] == '@')
        handle++;
    if (handle && *handle) {
        json_t *j_h = json_pack("{s:s}", "h", handle);
        copy_str(j_contact, "handle", j_h, "h", LEADS_SHORT_MAX, 0);
        json_decref(j_h);
    }
    if (j_phone) {
        json_t *j_p = phone_of(json_string_value(j_phone), n->default_cc);
        const char *e164 = json_string_value(json_object_get(j_p, "e164"));
        if (e164)
            add_key(j_keys, "phone", n->net->secret, e164);
        json_object_set_new(j_contact, "phone", j_p);
    } else if (strcmp(n->provider, "email") != 0) {
        /* (not a mail's: its quoted replies and signatures carry the
         * clinic's own numbers and others') */
        phone_in_text(n, j_in, j_contact, j_keys);
    }
    char *email = cf_validate_email(json_string_value(j_email));
    if (email) {
        json_object_set_new(j_contact, "email", json_string(email));
        char *msg = cf_xasprintf("email:%s", email);
        for (char *p = msg; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        add_key(j_keys, "email", n->net->secret, msg);
        free(msg);
        free(email);
    }
    if (j_user) {
        json_object_set(j_contact, "user_id", j_user);
        char *msg = cf_xasprintf("%s:%s", n->provider, json_string_value(j_user));
        add_key(j_keys, "messenger", n->net->secret, msg);
        free(msg);
    }
    json_decref(j_user);
    json_decref(j_phone);
    json_decref(j_email);
    return j_contact;
}

/* The members only a request has. */
static void request_members(const struct leads_norm *n, const json_t *j_in, json_t *j_data)
{
    json_t *j_ext = json_object();
    copy_str(j_ext, "message_id", j_in, "message_id", LEADS_SHORT_MAX, 0);
    copy_str(j_ext, "chat_id", j_in, "chat_id", LEADS_SHORT_MAX, 0);
    copy_str(j_ext, "user_id", j_in, "user_id", LEADS_SHORT_MAX, 0);
    if (json_object_size(j_ext) > 0)
        json_object_set(j_data, "external", j_ext);
    json_decref(j_ext);

    const json_t *j_text = json_object_get(j_in, "text");
    if (json_is_string(j_text) && json_string_length(j_text) > 0) {
        const char *s = json_string_value(j_text);
        const size_t len = json_string_length(j_text);
        const size_t keep = cf_validate_utf8_prefix(s, len, (size_t)n->text_max);
        json_object_set_new(j_data, "text", json_stringn(s, keep));
        if (keep < len)
            json_object_set_new(j_data, "text_truncated", json_true());
    }
    copy_str(j_data, "subject", j_in, "subject", 1000, 0);
    copy_str(j_data, "service", j_in, "service", LEADS_SHORT_MAX, 0);
    copy_str(j_data, "form_id", j_in, "form_id", LEADS_SHORT_MAX, 0);
    copy_str(j_data, "code", j_in, "code", 64, 1);
    const json_t *j_consent = json_object_get(j_in, "consent");
    if (json_is_boolean(j_consent))
        json_object_set(j_data, "consent", (json_t *)j_consent);
    if (json_is_true(json_object_get(j_in, "callback_requested")))
        json_object_set_new(j_data, "callback_requested", json_true());

    const json_t *j_in_tags = json_object_get(j_in, "tags");
    json_t *j_tags = json_object();
    for (size_t i = 0; i < sizeof(tag_names) / sizeof(tag_names[0]); i++)
        copy_str(j_tags, tag_names[i].name, j_in_tags, tag_names[i].name, tag_names[i].max_chars,
                 tag_names[i].max_chars == LEADS_LINK_MAX);
    if (json_object_size(j_tags) > 0)
        json_object_set(j_data, "tags", j_tags);
    json_decref(j_tags);

    const json_t *j_in_ref = json_object_get(j_in, "referral");
    json_t *j_ref = json_object();
    for (const char *const *p = referral_names; *p; p++)
        copy_str(j_ref, *p, j_in_ref, *p, strcmp(*p, "source_url") == 0 ? LEADS_LINK_MAX : 1000,
                 strcmp(*p, "source_url") == 0);
    if (json_object_size(j_ref) > 0)
        json_object_set(j_data, "referral", j_ref);
    json_decref(j_ref);
}

int leads_fact_normalize(const struct leads_norm *n, const json_t *j_in, struct leads_fact *out,
                         char *errbuf, size_t errbuf_size)
{
    const char *event_key = cf_hook_str(j_in, "event_key");
    const char *kind = cf_hook_str(j_in, "kind");

    memset(out, 0, sizeof(*out));
    if (!event_key || !*event_key || !kind ||
        (strcmp(kind, "request") != 0 && strcmp(kind, "response") != 0)) {
        cf_seterr(errbuf, errbuf_size, "the %s adapter produced an incomplete fact", n->provider);
        return CF_EINVAL;
    }
    out->event_key = cf_xstrdup(event_key);
    if (cf_time_parse(cf_hook_str(j_in, "time"), &out->time_ms) != 0) {
        out->time_ms = n->received_ms;
    } else if (out->time_ms < n->received_ms - n->time_max_age_ms ||
               out->time_ms > n->received_ms + n->time_max_ahead_ms) {
        out->time_ms = n->received_ms;
        out->time_amended = 1;
    }
    /* a time the sender states but nobody signs: believed within bounds */
    int64_t claimed;
    if (cf_time_parse(cf_hook_str(j_in, "claimed_time"), &claimed) == 0 &&
        claimed <= n->received_ms && n->received_ms - claimed <= n->claimed_max_age_ms)
        out->time_ms = claimed;

    json_t *j_data = json_object();
    json_t *j_keys = json_object();
    json_object_set_new(j_data, "kind", json_string(kind));
    json_object_set_new(j_data, "provider", json_string(n->provider));
    json_object_set_new(j_data, "channel", json_string(n->channel));
    json_object_set_new(j_data, "provider_event_id", json_string(event_key));
    cf_validate_cut_string(j_data, "provider_event_id", LEADS_SHORT_MAX);
    json_t *j_contact = contact_of(n, j_in, j_keys);
    if (json_object_size(j_contact) > 0)
        json_object_set(j_data, "contact", j_contact);
    json_decref(j_contact);
    /* the strongest key: the phone's, else the e-mail's, else the account's */
    static const char *const strength[] = {"phone", "email", "messenger"};
    for (size_t i = 0; i < 3; i++) {
        json_t *j_key = json_object_get(j_keys, strength[i]);
        if (j_key) {
            json_object_set(j_data, "contact_key", j_key);
            break;
        }
    }
    if (json_object_size(j_keys) > 0)
        json_object_set(j_data, "contact_keys", j_keys);
    json_decref(j_keys);

    if (strcmp(kind, "request") == 0) {
        request_members(n, j_in, j_data);
    } else {
        json_object_set_new(j_data, "via", json_string(n->provider));
        copy_str(j_data, "staff_id", j_in, "staff_id", LEADS_SHORT_MAX, 0);
    }

    /* the clinic the form names, if the network has it; else the channel's */
    const char *clinic = cf_hook_str(j_in, "clinic_id");
    const struct cf_clinic *c = clinic ? cf_netconf_clinic(n->net, clinic) : NULL;
    if (!c && n->channel_clinic)
        c = cf_netconf_clinic(n->net, n->channel_clinic);
    out->clinic_id = c ? c->id : NULL;
    out->data = j_data;
    out->contact_key = json_string_value(json_object_get(j_data, "contact_key"));
    return 0;
}

int leads_fact_names_nobody(const struct leads_fact *f)
{
    const char *kind = cf_hook_str(f->data, "kind");
    return kind && strcmp(kind, "request") == 0 && !f->contact_key &&
           !json_object_get(json_object_get(f->data, "contact"), "phone");
}

void leads_fact_answers(struct leads_fact *response, const struct leads_fact *request)
{
    const json_t *j_key = json_object_get(request->data, "contact_key");
    const json_t *j_keys = json_object_get(request->data, "contact_keys");
    if (!j_key || !j_keys)
        return;
    json_object_set_new(response->data, "contact_key", json_deep_copy(j_key));
    json_object_set_new(response->data, "contact_keys", json_deep_copy(j_keys));
    response->contact_key = json_string_value(json_object_get(response->data, "contact_key"));
}

void leads_fact_clear(struct leads_fact *f)
{
    json_decref(f->data);
    free(f->event_key);
    memset(f, 0, sizeof(*f));
}

int leads_ingest_fact(struct leads_ctx *ctx, const struct leads_norm *n, const struct leads_fact *f,
                      char *event_id_out, char *errbuf, size_t errbuf_size)
{
    const char *parts[] = {n->net->id, n->provider, n->channel, f->event_key};
    struct cf_event ev = {0};

    cf_uuid5(parts, 4, event_id_out);
    memcpy(ev.id, event_id_out, sizeof(ev.id));
    ev.source = cf_xasprintf("/clinicflow/leads/%s/%s", n->provider, n->channel);
    ev.type = cf_xstrdup("clinicflow.lead.reported");
    /* Keyed by the messenger account when the fact has one, so that a
     * conversation (the person's messages and the staff's replies, which
     * carry the account alone) keeps its order on one partition: a reply
     * folded before the request that opens its lead would find no lead.
     * Else by the contact key; a fact with no key (a phone that did not
     * parse, nothing else) is its own subject: the fold opens a lead it
     * cannot merge. */
    const char *account =
        json_string_value(json_object_get(json_object_get(f->data, "contact_keys"), "messenger"));
    ev.subject = cf_xstrdup(account ? account : f->contact_key ? f->contact_key : event_id_out);
    ev.time_ms = f->time_ms;
    ev.networkid = cf_xstrdup(n->net->id);
    ev.clinicid = f->clinic_id ? cf_xstrdup(f->clinic_id) : NULL;
    ev.data = json_incref(f->data);

    int rc = leads_produce_raw(ctx, &ev, errbuf, errbuf_size);
    cf_event_clear(&ev);
    return rc;
}

int leads_produce_raw(struct leads_ctx *ctx, const struct cf_event *ev, char *errbuf,
                      size_t errbuf_size)
{
    return cf_kafka_produce_event(ctx->svc->producer, LEADS_TOPIC_RAW, ev, errbuf, errbuf_size);
}

void leads_answer_unstored(struct leads_ctx *ctx, struct _u_response *resp, int rc,
                           const char *what, const char *errbuf)
{
    cf_http_answer_unstored(resp, rc, what, errbuf, ctx->svc->settings.kafka_retry_after_s);
}
