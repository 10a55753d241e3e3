/*
 * Helpers every provider adapter uses: member lookups on the decoded
 * request, the URL-token check, and PBX local time to UTC.
 *
 * Local time conversion is common/time.h's (zone files read once, no TZ
 * switching), so it is thread-safe without a lock.
 */
#include "adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/form.h"
#include "common/hash.h"
#include "common/time.h"
#include "common/xmalloc.h"

const char *calls_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

const char *calls_lookup(const char *const (*table)[2], size_t rows, const char *key)
{
    for (size_t i = 0; key && i < rows; i++) {
        if (strcmp(key, table[i][0]) == 0)
            return table[i][1];
    }
    return NULL;
}

const char *calls_credential(const struct calls_hook *h, const char *name)
{
    return calls_str(json_object_get(h->channel, "credentials"), name);
}

const char *calls_header(const struct calls_hook *h, const char *name)
{
    return calls_str(h->headers, name);
}

int calls_ignored(const struct calls_hook *h, const char *reason)
{
    if (h->notes)
        h->notes->ignored = reason;
    return 0;
}

int calls_ignored_value(const struct calls_hook *h, const char *reason, const char *value)
{
    if (!h->notes)
        return 0;
    h->notes->ignored = reason;
    size_t n = 0;
    /* bytes from 0x80 (UTF-8 letters) are kept, control characters are not;
     * a cut may split a letter, which the log shows as it is */
    for (const char *p = value ? value : ""; *p && n < sizeof(h->notes->detail) - 1; p++) {
        char c = *p;
        if ((unsigned char)c < 0x20 || c == 0x7f)
            c = '?';
        h->notes->detail[n++] = c;
    }
    h->notes->detail[n] = '\0';
    return 0;
}

int calls_refused(const struct calls_hook *h, const char *reason)
{
    if (h->notes)
        h->notes->refused = reason;
    return CF_EAUTH;
}

void calls_amended(const struct calls_hook *h, const char *reason)
{
    if (h->notes)
        h->notes->amended = reason;
}

int calls_fact_bound_times(json_t *j_fact, int64_t received_ms, long max_age_s, long max_ahead_s,
                           int amend, const char **field_out)
{
    static const char *const times[] = {"started_at", "answered_at", "ended_at",
                                        "agent_answered_at", NULL};
    static const char *const durations[] = {"ring_seconds", "talk_seconds", "agent_talk_seconds",
                                            NULL};
    const int64_t lo = received_ms - (int64_t)max_age_s * 1000;
    const int64_t hi = received_ms + (int64_t)max_ahead_s * 1000;
    const int64_t day_ms = CALLS_SECONDS_MAX * 1000;
    int64_t t = cf_time_json_get(j_fact, "time");
    int rc = 0;

    *field_out = NULL;
    if (t < lo || t > hi) {
        *field_out = "time";
        if (!amend)
            return -1;
        cf_time_json_set(j_fact, "time", received_ms);
        t = received_ms;
        rc = 1;
    }
    for (const char *const *k = times; *k; k++) {
        const json_t *v = json_object_get(j_fact, *k);
        if (!v)
            continue;
        int64_t m = cf_time_json_get(j_fact, *k);
        if (m >= lo && m <= hi && m >= t - day_ms && m <= t + day_ms)
            continue;
        if (!*field_out)
            *field_out = *k;
        if (!amend)
            return -1;
        json_object_del(j_fact, *k);
        rc = 1;
    }
    for (const char *const *k = durations; *k; k++) {
        const json_t *v = json_object_get(j_fact, *k);
        if (!v || (json_is_integer(v) && json_integer_value(v) >= 0 &&
                   json_integer_value(v) <= CALLS_SECONDS_MAX))
            continue;
        if (!*field_out)
            *field_out = *k;
        if (!amend)
            return -1;
        json_object_del(j_fact, *k);
        rc = 1;
    }
    return rc;
}

int calls_verify_url_token(const struct calls_hook *h, char *errbuf, size_t errbuf_size)
{
    return cf_form_check_token(calls_credential(h, "url_token"), calls_str(h->query, "token"),
                               errbuf, errbuf_size);
}

/* Skips one character at *p if it is one of set (never the terminator):
 * 0, or -1. */
static int expect(const char **p, const char *set)
{
    if (**p == '\0' || !strchr(set, **p))
        return -1;
    (*p)++;
    return 0;
}

int calls_local_time(const char *local, const char *tz, int64_t *ms_out)
{
    struct cf_time_local lt = {0};
    int y, mo, d, h, mi, s;
    const char *p = local;

    if (!local)
        return CF_EINVAL;
    if (cf_time_read_digits(&p, 4, &y) || expect(&p, "-") || cf_time_read_digits(&p, 2, &mo) ||
        expect(&p, "-") || cf_time_read_digits(&p, 2, &d) || expect(&p, " T") ||
        cf_time_read_digits(&p, 2, &h) || expect(&p, ":") || cf_time_read_digits(&p, 2, &mi) ||
        expect(&p, ":") || cf_time_read_digits(&p, 2, &s) || *p != '\0' || mo < 1 || mo > 12 ||
        d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970)
        return CF_EINVAL;
    lt.year = y;
    lt.month = mo;
    lt.day = d;
    lt.hour = h;
    lt.minute = mi;
    lt.second = s;
    return cf_time_from_local(tz, &lt, ms_out);
}

int calls_local_date(int64_t ms, const char *tz, char out[11])
{
    struct cf_time_local lt;

    if (cf_time_to_local(tz, ms, &lt) != 0)
        return CF_EINVAL;
    char buf[40];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02d", lt.year, lt.month, lt.day);
    memcpy(out, buf, 10);
    out[10] = '\0';
    return 0;
}

char *calls_form_decode(const char *s, size_t n)
{
    char *out;

    return cf_form_decode(s, n, &out, NULL) == 0 ? out : NULL;
}

int calls_parse_urlencoded(const char *s, size_t n, json_t *obj)
{
    struct cf_form form;
    int rc = cf_form_parse(s, n, CALLS_FORM_FIELDS_MAX, &form, NULL, 0);

    for (size_t i = 0; i < form.n; i++) {
        const struct cf_form_field *f = &form.fields[i];
        if (f->name_len == 0 || strlen(f->name) != f->name_len || json_object_get(obj, f->name))
            continue;
        json_t *v = json_string(f->value); /* NULL when not UTF-8: dropped */
        if (v)
            json_object_set_new(obj, f->name, v);
    }
    cf_form_free(&form);
    return rc;
}
