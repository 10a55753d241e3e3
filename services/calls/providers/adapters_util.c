/*
 * Helpers every provider adapter uses: member lookups on the decoded
 * request, the URL-token check, and PBX local time to UTC.
 *
 * Local time conversion uses the C library's zone database through TZ and
 * mktime. TZ is process-wide, so the conversion holds tz_lock while TZ is
 * switched and leaves it at UTC; nothing else in the process reads local
 * time: logs and events format with gmtime_r, which TZ does not affect.
 */
#include "adapters.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/hash.h"
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
    for (const char *p = value ? value : ""; *p && n < sizeof(h->notes->detail) - 1; p++)
        h->notes->detail[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
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
    int64_t t = cf_json_time(j_fact, "time");
    int rc = 0;

    *field_out = NULL;
    if (t < lo || t > hi) {
        *field_out = "time";
        if (!amend)
            return -1;
        cf_json_set_time(j_fact, "time", received_ms);
        t = received_ms;
        rc = 1;
    }
    for (const char *const *k = times; *k; k++) {
        const json_t *v = json_object_get(j_fact, *k);
        if (!v)
            continue;
        int64_t m = cf_json_time(j_fact, *k);
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
    const char *want = calls_credential(h, "url_token");
    const char *got = calls_str(h->query, "token");

    if (!want || !*want) {
        cf_seterr(errbuf, errbuf_size, "the channel has no url_token credential");
        return CF_EAUTH;
    }
    if (!got || !cf_ct_equal(want, strlen(want), got, strlen(got))) {
        cf_seterr(errbuf, errbuf_size, "%s URL token", got ? "wrong" : "missing");
        return CF_EAUTH;
    }
    return 0;
}

/* A zone name as the config validator accepts it: Area/Location letters,
 * digits, '_', '-', '+', '/'; no "..", no leading '/'. Keeps TZ from naming
 * a file outside the zone database. */
static int tz_name_ok(const char *tz)
{
    if (!tz || !*tz || *tz == '/' || strstr(tz, "..") || strlen(tz) > 64)
        return 0;
    for (const char *p = tz; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("_-+/", *p))
            return 0;
    }
    return 1;
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

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

/* 0 if tz names a zone of the database, checked on disk: glibc would
 * silently take an unknown zone as UTC. */
static int tz_known(const char *tz)
{
    if (!tz_name_ok(tz))
        return -1;
    char path[128];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    (void)fclose(f);
    return 0;
}

/* Takes tz_lock and makes tz the process's zone until tz_leave. */
static void tz_enter(const char *tz)
{
    pthread_mutex_lock(&tz_lock);
    setenv("TZ", tz, 1); // NOLINT(concurrency-mt-unsafe): under tz_lock
    tzset();
}

/* Back to UTC, the only zone the rest of the process knows of. */
static void tz_leave(void)
{
    setenv("TZ", "UTC", 1); // NOLINT(concurrency-mt-unsafe): under tz_lock
    tzset();
    pthread_mutex_unlock(&tz_lock);
}

int calls_local_time(const char *local, const char *tz, int64_t *ms_out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, s;
    const char *p = local;

    if (!local)
        return CF_EINVAL;
    if (cf_read_digits(&p, 4, &y) || expect(&p, "-") || cf_read_digits(&p, 2, &mo) ||
        expect(&p, "-") || cf_read_digits(&p, 2, &d) || expect(&p, " T") ||
        cf_read_digits(&p, 2, &h) || expect(&p, ":") || cf_read_digits(&p, 2, &mi) ||
        expect(&p, ":") || cf_read_digits(&p, 2, &s) || *p != '\0' || mo < 1 || mo > 12 || d < 1 ||
        d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970)
        return CF_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;

    if (tz_known(tz) != 0)
        return CF_EINVAL;
    tz_enter(tz);
    time_t t = mktime(&tm);
    tz_leave();
    if (t == (time_t)-1)
        return CF_EINVAL;
    *ms_out = (int64_t)t * 1000;
    return 0;
}

int calls_local_date(int64_t ms, const char *tz, char out[11])
{
    if (tz_known(tz) != 0)
        return CF_EINVAL;
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    tz_enter(tz);
    int ok = localtime_r(&t, &tm) != NULL;
    tz_leave();
    if (!ok || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
        return CF_EINVAL;
    char buf[40];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    memcpy(out, buf, 10);
    out[10] = '\0';
    return 0;
}

char *calls_form_decode(const char *s, size_t n)
{
    char *out = cf_xmalloc(n + 1), *o = out;

    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%' && i + 2 < n && (hi = cf_hex_digit(s[i + 1])) >= 0 &&
                   (lo = cf_hex_digit(s[i + 2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

void calls_parse_urlencoded(const char *s, size_t n, json_t *obj)
{
    size_t i = 0;

    while (i < n) {
        size_t end = i;
        while (end < n && s[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && s[eq] != '=')
            eq++;
        if (eq > i) {
            char *name = calls_form_decode(s + i, eq - i);
            char *value = eq < end ? calls_form_decode(s + eq + 1, end - eq - 1) : cf_xstrdup("");
            if (!json_object_get(obj, name)) {
                json_t *v = json_string(value); /* NULL when not UTF-8: dropped */
                if (v)
                    json_object_set_new(obj, name, v);
            }
            free(name);
            free(value);
        }
        i = end + 1;
    }
}
