/*
 * generic: our own form endpoint, for any site form (the page script
 * web/clinicflow-leads.js, a plain HTML form, a site builder's webhook).
 * The body is JSON (an object of fields) or application/x-www-form-urlencoded;
 * the channel's field_map names the form's field for each of ours (our name
 * when it has none), its honeypot names a field a person leaves empty. The
 * channel's token (credentials.token) comes as "Authorization: Bearer
 * <token>", or, for a form that cannot set headers, as the "token" query
 * parameter or form field; it is compared in constant time. A form whose
 * honeypot is filled in is acknowledged like a lead and dropped. A request
 * without a phone or an e-mail address is no lead: 400 naming the phone
 * field (the e-mail's, when it gave one that is not an address). Its event
 * key is the form's own event_id or request_id when it sends one, else a
 * hash of the channel, the body and the ten minutes it came in, so a
 * browser's retry of the same post is the same event, and the same form
 * sent again another day a new one (PROVIDERS.md). A form
 * forwarded late by the site's backend may say when it was filled in
 * (submitted_at, RFC 3339): that is only a claim, which ingest.c believes
 * within CLINICFLOW_LEADS_FORM_TIME_MAX_AGE_S of the arrival.
 */
#include "adapters.h"
#include "form_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* Our fields: the fact member each fills, and the form field it is read
 * from when the channel's field_map does not name one. */
enum target { T_TOP, T_TAG, T_CONSENT };
static const struct {
    const char *ours;
    const char *fact; /* the member in the fact (or in its tags) */
    enum target where;
    const char *form; /* the default form field */
} fields[] = {
    {"name", "name", T_TOP, "name"},
    {"phone", "phone", T_TOP, "phone"},
    {"email", "email", T_TOP, "email"},
    {"comment", "text", T_TOP, "comment"},
    {"service", "service", T_TOP, "service"},
    {"clinic", "clinic_id", T_TOP, "clinic"},
    {"code", "code", T_TOP, "code"},
    {"consent", "consent", T_CONSENT, "consent"},
    {"utm_source", "utm_source", T_TAG, "utm_source"},
    {"utm_medium", "utm_medium", T_TAG, "utm_medium"},
    {"utm_campaign", "utm_campaign", T_TAG, "utm_campaign"},
    {"utm_term", "utm_term", T_TAG, "utm_term"},
    {"utm_content", "utm_content", T_TAG, "utm_content"},
    {"gclid", "gclid", T_TAG, "gclid"},
    {"yclid", "yclid", T_TAG, "yclid"},
    {"fbclid", "fbclid", T_TAG, "fbclid"},
    {"ym_uid", "ym_uid", T_TAG, "_ym_uid"},
    {"client_id", "client_id", T_TAG, "client_id"},
    {"referrer", "referrer", T_TAG, "referrer"},
    {"submitted_at", "claimed_time", T_TOP, "submitted_at"},
    {"page_url", "page_url", T_TAG, "page_url"},
};

static int is_json(const struct cf_hook *h)
{
    return h->content_type && strncasecmp(h->content_type, "application/json", 16) == 0;
}

static int is_form(const struct cf_hook *h)
{
    return h->content_type &&
           strncasecmp(h->content_type, "application/x-www-form-urlencoded", 33) == 0;
}

static int verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    const char *want = cf_hook_credential(h, "token");
    const char *auth = cf_hook_header(h, "authorization");
    const char *got = NULL;

    if (!want || !*want) {
        snprintf(errbuf, errbuf_size, "the channel has no token (credentials.token)");
        return CF_EAUTH;
    }
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        got = auth + 7;
    else if (cf_hook_str(h->query, "token"))
        got = cf_hook_str(h->query, "token");
    else if (cf_hook_str(h->form, "token"))
        got = cf_hook_str(h->form, "token");
    if (!got) {
        snprintf(errbuf, errbuf_size, "no token (Authorization: Bearer, or a token field)");
        return CF_EAUTH;
    }
    if (!cf_ct_equal(got, strlen(got), want, strlen(want))) {
        snprintf(errbuf, errbuf_size, "the token is not the channel's");
        return CF_EAUTH;
    }
    return 0;
}

/* A field's value as a string (new ref): strings as they are, numbers as
 * their digits (a phone sent as a number), booleans as "true"/"false";
 * NULL when absent, empty or of another type. */
static json_t *value_of(const json_t *j_body, const char *name)
{
    const json_t *v = json_object_get(j_body, name);
    char num[64];

    if (json_is_string(v))
        return json_string_length(v) > 0 ? json_incref((json_t *)v) : NULL;
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_string(num);
    }
    if (json_is_boolean(v))
        return json_string(json_is_true(v) ? "true" : "false");
    return NULL;
}

/* A consent checkbox: 1 ticked, 0 not, -1 not a yes/no value. */
static int consent_of(const char *s)
{
    static const char *const yes[] = {"on", "true", "yes", "1", "y", "да", "checked", NULL};
    static const char *const no[] = {"off", "false", "no", "0", "n", "нет", NULL};
    for (const char *const *p = yes; *p; p++)
        if (strcasecmp(s, *p) == 0)
            return 1;
    for (const char *const *p = no; *p; p++)
        if (strcasecmp(s, *p) == 0)
            return 0;
    return -1;
}

/* The event key: the form's own id, else sha256(channel, body, the
 * LEADS_FORM_RESEND_MS period it arrived in) in hex. */
static json_t *event_key_of(const struct cf_hook *h, const json_t *j_body)
{
    static const char *const own[] = {"event_id", "request_id"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = value_of(j_body, own[i]);
        if (v)
            return v;
    }
    const char *channel = cf_hook_str(h->channel, "id");
    uint8_t digest[32];
    char hex[CF_SHA256_HEX_LEN + 1];
    char period[32];
    const int plen = leads_form_period(h->received_ms, period);
    size_t clen = channel ? strlen(channel) : 0;
    char *buf = cf_xmalloc(clen + 1 + h->body_len + (size_t)plen);
    memcpy(buf, channel ? channel : "", clen);
    buf[clen] = '\x1f';
    memcpy(buf + clen + 1, h->body, h->body_len);
    memcpy(buf + clen + 1 + h->body_len, period, (size_t)plen);
    cf_sha256(buf, clen + 1 + h->body_len + (size_t)plen, digest);
    free(buf);
    cf_hex(digest, sizeof(digest), hex);
    return json_pack("s", hex);
}

static int parse(const struct cf_hook *h, json_t *facts, const char **field_out, char *errbuf,
                 size_t errbuf_size)
{
    const json_t *j_map = json_object_get(h->channel, "field_map");
    const char *honeypot = cf_hook_str(h->channel, "honeypot");
    json_t *j_body = NULL, *j_fact = NULL, *j_tags = NULL;
    json_error_t jerr;
    char time[32];
    int rc = 0;

    if (is_json(h)) {
        j_body = cf_json_loadb(h->body, h->body_len, 0, &jerr);
        if (!json_is_object(j_body)) {
            snprintf(errbuf, errbuf_size, "the body is not a JSON object%s%s", j_body ? "" : ": ",
                     j_body ? "" : jerr.text);
            rc = CF_EINVAL;
            goto out;
        }
    } else if (is_form(h)) {
        j_body = json_incref((json_t *)h->form);
    } else {
        snprintf(errbuf, errbuf_size,
                 "expected Content-Type application/json or application/x-www-form-urlencoded");
        rc = CF_EINVAL;
        goto out;
    }

    if (honeypot) {
        json_t *v = value_of(j_body, honeypot);
        const int filled = v != NULL;
        json_decref(v);
        if (filled) {
            cf_hook_ignored(h, "honeypot");
            goto out;
        }
    }

    j_fact = json_object();
    j_tags = json_object();
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *name = cf_hook_str(j_map, fields[i].ours);
        json_t *v = value_of(j_body, name ? name : fields[i].form);
        if (!v)
            continue;
        if (fields[i].where == T_CONSENT) {
            const int c = consent_of(json_string_value(v));
            if (c >= 0)
                json_object_set_new(j_fact, "consent", json_boolean(c));
            json_decref(v);
        } else {
            json_object_set_new(fields[i].where == T_TAG ? j_tags : j_fact, fields[i].fact, v);
        }
    }
    if (!leads_fact_has_contact(j_fact)) {
        const char *ours = leads_fact_no_contact(j_fact, errbuf, errbuf_size);
        const char *name = cf_hook_str(j_map, ours);
        *field_out = name ? name : ours;
        rc = CF_EINVAL;
        goto out;
    }
    if (json_object_size(j_tags) > 0)
        json_object_set(j_fact, "tags", j_tags);
    json_object_set_new(j_fact, "kind", json_string("request"));
    json_object_set_new(j_fact, "event_key", event_key_of(h, j_body));
    cf_time_format(h->received_ms, time);
    json_object_set_new(j_fact, "time", json_string(time));
    json_array_append(facts, j_fact);

out:
    json_decref(j_tags);
    json_decref(j_fact);
    json_decref(j_body);
    return rc;
}

/* 202 with a JSON body; hooks.c adds the lead event's id (it knows the
 * network the id is derived with). */
static void reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 202;
    reply->content_type = "application/json";
    snprintf(reply->body, sizeof(reply->body), "{\"status\":\"accepted\"}");
}

const struct leads_adapter leads_adapter_generic = {
    .provider = "generic",
    .verify = verify,
    .parse = parse,
    .reply_ok = reply_ok,
};
