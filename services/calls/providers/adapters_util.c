/*
 * Helpers telephony adapters use besides common/hook.h's: bounds on a
 * fact's times, and PBX local time to UTC.
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
