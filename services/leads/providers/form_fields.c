/*
 * Form fields to a lead fact (form_fields.h). A form's field names are the
 * site's: the channel's field_map wins, the provider's defaults fill in,
 * and names match without regard to case. Values are trimmed; an empty
 * field is an absent one, so a blank optional input never becomes "".
 */
#include "form_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/strbuf.h"
#include "common/time.h"
#include "common/validate.h"
#include "common/xmalloc.h"

/* Our fields: where each goes on the fact (tags: into "tags"). */
static const struct {
    const char *ours;
    const char *member;
    int tag;
} fields[] = {
    {"name", "name", 0},
    {"phone", "phone", 0},
    {"email", "email", 0},
    {"comment", "text", 0},
    {"service", "service", 0},
    {"clinic_id", "clinic_id", 0},
    {"clinic", "clinic_id", 0},
    {"consent", "consent", 0},
    {"form_id", "form_id", 0},
    {"utm_source", "utm_source", 1},
    {"utm_medium", "utm_medium", 1},
    {"utm_campaign", "utm_campaign", 1},
    {"utm_term", "utm_term", 1},
    {"utm_content", "utm_content", 1},
    {"gclid", "gclid", 1},
    {"yclid", "yclid", 1},
    {"fbclid", "fbclid", 1},
    {"ym_uid", "ym_uid", 1},
    {"client_id", "client_id", 1},
    {"referrer", "referrer", 1},
    {"page_url", "page_url", 1},
};

/* The member of obj whose key equals name without regard to case (an exact
 * match first), or NULL. */
static const json_t *get_nocase(const json_t *obj, const char *name)
{
    const char *key;
    json_t *j_val;
    const json_t *exact = json_object_get(obj, name);

    if (exact)
        return exact;
    json_object_foreach((json_t *)obj, key, j_val)
    {
        if (strcasecmp(key, name) == 0)
            return j_val;
    }
    return NULL;
}

/* A new copy of s[0..n) without leading and trailing white space, or NULL
 * when nothing is left. */
static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (n == 0)
        return NULL;
    char *out = cf_xmalloc(n + 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

char *leads_form_value(const json_t *j_fields, const char *name)
{
    const json_t *j_val = name ? get_nocase(j_fields, name) : NULL;
    char buf[32];

    if (json_is_string(j_val))
        return trimmed(json_string_value(j_val), json_string_length(j_val));
    if (json_is_integer(j_val)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(j_val));
        return cf_xstrdup(buf);
    }
    if (json_is_array(j_val)) {
        /* checkboxes and multiple selects: the chosen values, joined */
        size_t i, len = 0;
        const json_t *j_item;
        json_array_foreach(j_val, i, j_item)
        {
            if (json_is_string(j_item))
                len += json_string_length(j_item) + 2;
        }
        char *joined = cf_xmalloc(len + 1), *out;
        size_t off = 0;
        json_array_foreach(j_val, i, j_item)
        {
            if (!json_is_string(j_item) || json_string_length(j_item) == 0)
                continue;
            if (off > 0) {
                memcpy(joined + off, ", ", 2);
                off += 2;
            }
            memcpy(joined + off, json_string_value(j_item), json_string_length(j_item));
            off += json_string_length(j_item);
        }
        out = trimmed(joined, off);
        free(joined);
        return out;
    }
    return NULL;
}

/* A consent checkbox's value: unticked boxes are usually not sent at all,
 * but some forms send "no", "0", "off" or "false". */
static int consent_value(const char *s)
{
    static const char *const no[] = {"0", "no", "off", "false", "нет"};

    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return 1;
}

/* The value of our field `ours`: the field the channel's map names (only
 * it, when it names one), else the first default present. New string or
 * NULL. */
static char *field_value(const json_t *j_fields, const json_t *j_map, const char *ours,
                         const struct leads_form_default *defaults, size_t n)
{
    const char *mapped = cf_hook_str(j_map, ours);

    if (mapped)
        return leads_form_value(j_fields, mapped);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(defaults[i].ours, ours) != 0)
            continue;
        char *v = leads_form_value(j_fields, defaults[i].theirs);
        if (v)
            return v;
    }
    return NULL;
}

void leads_form_apply(json_t *j_fact, const json_t *j_fields, const json_t *j_channel,
                      const struct leads_form_default *defaults, size_t n)
{
    const json_t *j_map = json_object_get(j_channel, "field_map");
    json_t *j_tags = json_object();

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (!fields[i].tag && json_object_get(j_fact, fields[i].member))
            continue; /* clinic_id before clinic */
        char *v = field_value(j_fields, j_map, fields[i].ours, defaults, n);
        if (!v)
            continue;
        if (fields[i].tag) {
            if (!json_object_get(j_tags, fields[i].member))
                json_object_set_new(j_tags, fields[i].member, json_string(v));
        } else if (strcmp(fields[i].member, "consent") == 0) {
            json_object_set_new(j_fact, "consent", json_boolean(consent_value(v)));
        } else {
            json_object_set_new(j_fact, fields[i].member, json_string(v));
        }
        free(v);
    }
    if (json_object_size(j_tags) > 0)
        json_object_set(j_fact, "tags", j_tags);
    json_decref(j_tags);
}

char *leads_cookie_value(const char *cookies, const char *name)
{
    size_t nlen = strlen(name);

    for (const char *p = cookies; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = p + strcspn(p, ";");
        if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
            return trimmed(p + nlen + 1, (size_t)(end - p) - nlen - 1);
        p = end;
    }
    return NULL;
}

int leads_fact_has_contact(const json_t *j_fact)
{
    if (json_object_get(j_fact, "phone"))
        return 1;
    char *email = cf_validate_email(json_string_value(json_object_get(j_fact, "email")));
    free(email);
    return email != NULL;
}

const char *leads_fact_no_contact(const json_t *j_fact, char *errbuf, size_t errbuf_size)
{
    if (json_object_get(j_fact, "email")) {
        cf_seterr(errbuf, errbuf_size, "the e-mail is not an address, and there is no phone");
        return "email";
    }
    cf_seterr(errbuf, errbuf_size, "the form has no phone or e-mail");
    return "phone";
}

json_t *leads_form_fields(const struct cf_hook *h)
{
    const char *ct = h->content_type ? h->content_type : "";
    const int json_body = strncasecmp(ct, "application/json", 16) == 0 ||
                          (json_object_size(h->form) == 0 && h->body_len > 0 && h->body[0] == '{');

    if (json_body) {
        json_error_t jerr;
        json_t *j_body = cf_json_loadb(h->body, h->body_len, 0, &jerr);
        if (!json_is_object(j_body)) {
            json_decref(j_body);
            return NULL;
        }
        return j_body;
    }
    if (json_object_size(h->form) > 0 || !h->method || strcmp(h->method, "GET") != 0)
        return h->form ? json_deep_copy(h->form) : json_object();
    return h->query ? json_deep_copy(h->query) : json_object();
}

int leads_form_honeypot(const struct cf_hook *h, const json_t *j_fields)
{
    const char *field = cf_hook_str(h->channel, "honeypot");
    char *v = field && *field ? leads_form_value(j_fields, field) : NULL;

    const int filled = v != NULL;

    free(v);
    return filled;
}

int leads_form_period(int64_t received_ms, char out[32])
{
    return snprintf(out, 32, "\x1f%lld", (long long)(received_ms / LEADS_FORM_RESEND_MS));
}

void leads_form_digest(const json_t *j_fields, int64_t received_ms, char out[65])
{
    char *dump = json_dumps(j_fields, JSON_COMPACT | JSON_SORT_KEYS);
    struct cf_strbuf sb = {0};
    char period[32];
    uint8_t sum[32];

    leads_form_period(received_ms, period);
    cf_strbuf_add(&sb, dump ? dump : "");
    cf_strbuf_add(&sb, period);
    char *text = cf_strbuf_take(&sb);
    cf_sha256(text, strlen(text), sum);
    cf_hex(sum, sizeof(sum), out);
    free(text);
    free(dump);
}

json_t *leads_form_fact(const struct cf_hook *h, const json_t *j_fields, const char *event_key,
                        const struct leads_form_default *defaults, size_t n)
{
    char digest[65];
    json_t *j_fact;

    if (!event_key) {
        leads_form_digest(j_fields, h->received_ms, digest);
        event_key = digest;
    }
    j_fact = json_pack("{s:s, s:s}", "event_key", event_key, "kind", "request");
    cf_time_json_set(j_fact, "time", h->received_ms);
    leads_form_apply(j_fact, j_fields, h->channel, defaults, n);
    return j_fact;
}

int leads_form_emit(json_t *facts, json_t *j_fact, const char **field_out, char *errbuf,
                    size_t errbuf_size)
{
    if (!leads_fact_has_contact(j_fact)) {
        *field_out = leads_fact_no_contact(j_fact, errbuf, errbuf_size);
        return CF_EINVAL;
    }
    json_array_append(facts, j_fact);
    return 0;
}
