/*
 * A clinic's schedule in its own zone: working hours with split shifts,
 * holidays and extra working dates, and the calling windows reminders keep
 * to. Built once from the network configuration, then read by any thread:
 * is it open now, when does it open next, how many working seconds lie
 * between two instants (a lead's response time).
 */
#include "common/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "common/xmalloc.h"
#include "time_internal.h"

/* --- schedules ------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_dated(const void *a, const void *b)
{
    return cmp_i64(&((const struct cf_time_dated *)a)->date,
                   &((const struct cf_time_dated *)b)->date);
}

/* "HH:MM" at p as minutes (24:00 allowed): 0, or -1. */
static int read_hhmm(const char *p, int *out)
{
    if (p[0] < '0' || p[0] > '2' || p[1] < '0' || p[1] > '9' || p[2] != ':' || p[3] < '0' ||
        p[3] > '5' || p[4] < '0' || p[4] > '9')
        return -1;
    int h = (p[0] - '0') * 10 + (p[1] - '0'), m = (p[3] - '0') * 10 + (p[4] - '0');
    if (h > 24 || (h == 24 && m != 0))
        return -1;
    *out = h * 60 + m;
    return 0;
}

/* An array of "HH:MM-HH:MM", in order and not overlapping, into *day. */
static int parse_day(const json_t *j_arr, struct cf_time_day *day, const char *what, char *errbuf,
                     size_t errbuf_size)
{
    size_t i;
    json_t *j_item;

    memset(day, 0, sizeof(*day));
    if (!json_is_array(j_arr) || json_array_size(j_arr) > CF_TIME_SPANS_MAX) {
        cf_seterr(errbuf, errbuf_size, "%s: expected an array of at most %d \"HH:MM-HH:MM\"", what,
                  CF_TIME_SPANS_MAX);
        return CF_EINVAL;
    }
    json_array_foreach(j_arr, i, j_item)
    {
        const char *s = json_string_value(j_item);
        struct cf_time_span *sp = &day->spans[i];
        if (!s || strlen(s) != 11 || read_hhmm(s, &sp->start) != 0 || s[5] != '-' ||
            read_hhmm(s + 6, &sp->end) != 0 || sp->start >= sp->end ||
            (i > 0 && sp->start < day->spans[i - 1].end)) {
            cf_seterr(errbuf, errbuf_size,
                      "%s[%zu]: expected \"HH:MM-HH:MM\", start before end, in order and not "
                      "overlapping",
                      what, i);
            return CF_EINVAL;
        }
        day->n++;
    }
    return 0;
}

void cf_time_hours_free(struct cf_time_hours *h)
{
    free(h->holidays);
    free(h->extra);
    memset(h, 0, sizeof(*h));
}

int cf_time_hours_parse(const char *tz, const json_t *j_week, const json_t *j_holidays,
                        const json_t *j_extra, struct cf_time_hours *out, char *errbuf,
                        size_t errbuf_size)
{
    static const char *const names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    const char *key;
    json_t *j_val;
    size_t i;
    int rc = CF_EINVAL;

    memset(out, 0, sizeof(*out));
    if (!(out->zone = cf_time_zone_get(tz))) {
        cf_seterr(errbuf, errbuf_size, "unknown time zone \"%s\"", tz ? tz : "");
        return CF_EINVAL;
    }
    if (!json_is_object(j_week)) {
        cf_seterr(errbuf, errbuf_size, "working hours: expected an object with members mon..sun");
        goto out;
    }
    json_object_foreach((json_t *)j_week, key, j_val)
    {
        int d = 0;
        while (d < 7 && strcmp(key, names[d]) != 0)
            d++;
        if (d == 7) {
            cf_seterr(errbuf, errbuf_size, "working hours: unknown day \"%s\"", key);
            goto out;
        }
        if (parse_day(j_val, &out->week[d], key, errbuf, errbuf_size) != 0)
            goto out;
    }
    if (j_holidays && !json_is_array(j_holidays)) {
        cf_seterr(errbuf, errbuf_size, "holidays: expected an array of \"YYYY-MM-DD\"");
        goto out;
    }
    out->holidays = cf_xcalloc(json_array_size(j_holidays) + 1, sizeof(*out->holidays));
    json_array_foreach(j_holidays, i, j_val)
    {
        const char *s = json_string_value(j_val);
        if (!s || cf_time_date_parse(s, &out->holidays[i]) != 0) {
            cf_seterr(errbuf, errbuf_size, "holidays[%zu]: expected a date \"YYYY-MM-DD\"", i);
            goto out;
        }
        out->n_holidays++;
    }
    qsort(out->holidays, out->n_holidays, sizeof(*out->holidays), cmp_i64);
    if (j_extra && !json_is_object(j_extra)) {
        cf_seterr(errbuf, errbuf_size, "working dates: expected an object of dates");
        goto out;
    }
    out->extra = cf_xcalloc(json_object_size(j_extra) + 1, sizeof(*out->extra));
    json_object_foreach((json_t *)j_extra, key, j_val)
    {
        struct cf_time_dated *e = &out->extra[out->n_extra];
        if (cf_time_date_parse(key, &e->date) != 0) {
            cf_seterr(errbuf, errbuf_size, "working dates: \"%s\" is not a date \"YYYY-MM-DD\"",
                      key);
            goto out;
        }
        if (bsearch(&e->date, out->holidays, out->n_holidays, sizeof(*out->holidays), cmp_i64)) {
            cf_seterr(errbuf, errbuf_size, "%s is both a holiday and a working date", key);
            goto out;
        }
        if (parse_day(j_val, &e->day, key, errbuf, errbuf_size) != 0)
            goto out;
        out->n_extra++;
    }
    qsort(out->extra, out->n_extra, sizeof(*out->extra), cmp_dated);
    rc = 0;
out:
    if (rc != 0)
        cf_time_hours_free(out);
    return rc;
}

int cf_time_windows_parse(const char *tz, const json_t *j_windows, struct cf_time_hours *out,
                          char *errbuf, size_t errbuf_size)
{
    json_t *j_own, *j_week = json_object();
    int rc;

    if (j_windows && !json_is_array(j_windows)) {
        cf_seterr(errbuf, errbuf_size, "calling windows: expected an array of \"HH:MM-HH:MM\"");
        json_decref(j_week);
        return CF_EINVAL;
    }
    /* a copy of our own: j_windows is usually the configuration's, which
     * every thread reads, and each reference taken on it writes its count */
    j_own = j_windows ? json_deep_copy(j_windows) : json_pack("[ss]", "10:00-18:00", "20:00-21:00");
    for (int d = 0; d < 7; d++) {
        static const char *const names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
        json_object_set(j_week, names[d], j_own);
    }
    rc = cf_time_hours_parse(tz, j_week, NULL, NULL, out, errbuf, errbuf_size);
    json_decref(j_week);
    json_decref(j_own);
    return rc;
}

/* The intervals of local date `date`. */
static const struct cf_time_day *day_of(const struct cf_time_hours *h, int64_t date)
{
    static const struct cf_time_day closed;
    const struct cf_time_dated *e;

    if (bsearch(&date, h->holidays, h->n_holidays, sizeof(*h->holidays), cmp_i64))
        return &closed;
    e = bsearch(&date, h->extra, h->n_extra, sizeof(*h->extra), cmp_dated);
    return e ? &e->day : &h->week[cf_time_weekday(date)];
}

/* Span k of local date `date` as UTC milliseconds [*s, *e): from the first
 * instant the clock reads its start to the first it reads its end (an
 * edge the clock skips is where it jumps past it; a repeated hour counts
 * once, its first pass). */
static void span_utc(const struct cf_time_hours *h, int64_t date, const struct cf_time_span *sp,
                     int64_t *s, int64_t *e)
{
    *s = cf_time_zone_edge_to_utc(h->zone, date * DAY_S + (int64_t)sp->start * 60) * 1000;
    *e = cf_time_zone_edge_to_utc(h->zone, date * DAY_S + (int64_t)sp->end * 60) * 1000;
    if (*e < *s) /* cannot happen with ordered spans; kept empty if it did */
        *e = *s;
}

/* The local date at instant ms. */
static int64_t local_date(const struct cf_time_hours *h, int64_t ms)
{
    int64_t s = cf_time_floor_div(ms, 1000);
    return cf_time_floor_div(s + cf_time_zone_offset(h->zone, s), DAY_S);
}

/* 1 if at lies in the years the schedules take (1..9999, a day's margin
 * either side), so the date arithmetic cannot overflow. */
static int in_range(int64_t at)
{
    return at >= (SECONDS_MIN + DAY_S) * 1000 && at < (SECONDS_END - DAY_S) * 1000;
}

int64_t cf_time_hour_start(const struct cf_time_hours *h, int64_t at)
{
    const int64_t s = cf_time_floor_div(at, 1000);
    const int64_t wall_ms = at + (int64_t)cf_time_zone_offset(h->zone, s) * 1000;
    return at - (wall_ms - cf_time_floor_div(wall_ms, 3600000) * 3600000);
}

int cf_time_is_open(const struct cf_time_hours *h, int64_t at)
{
    if (!in_range(at))
        return 0;
    int64_t today = local_date(h, at);

    /* the days either side too: where clocks go back across midnight the
     * next day's first hour comes before the last of today's, and the
     * reverse across a gap */
    for (int64_t date = today - 1; date <= today + 1; date++) {
        const struct cf_time_day *day = day_of(h, date);
        for (int k = 0; k < day->n; k++) {
            int64_t s, e;
            span_utc(h, date, &day->spans[k], &s, &e);
            if (s <= at && at < e)
                return 1;
        }
    }
    return 0;
}

/* The last date on which the schedule differs from its plain week (a
 * holiday, an extra date), INT64_MIN when none: past it the week repeats,
 * so it opens within 7 days or never. Before it, a holiday on the only
 * open weekday closes a whole week, and an extra date may be the only
 * opening. */
static int64_t last_special(const struct cf_time_hours *h)
{
    int64_t last = INT64_MIN;
    if (h->n_holidays > 0)
        last = h->holidays[h->n_holidays - 1];
    if (h->n_extra > 0 && h->extra[h->n_extra - 1].date > last)
        last = h->extra[h->n_extra - 1].date;
    return last;
}

int cf_time_next_open(const struct cf_time_hours *h, int64_t at, int64_t *out)
{
    if (!in_range(at))
        return CF_ENOTFOUND;
    int64_t today = local_date(h, at);
    /* past the last holiday or extra date, a week and a day more */
    const int64_t special = last_special(h);
    const int64_t last = (special > today ? special : today) + 8;

    for (int64_t date = today - 1; date <= last; date++) {
        const struct cf_time_day *day = day_of(h, date);
        for (int k = 0; k < day->n; k++) {
            int64_t s, e;
            span_utc(h, date, &day->spans[k], &s, &e);
            if (e > at && e > s) {
                *out = s > at ? s : at;
                return 0;
            }
        }
    }
    return CF_ENOTFOUND;
}

int cf_time_last_allowed(const struct cf_time_hours *w, int64_t not_after, int64_t lead_ms,
                         int64_t not_before, int64_t *out)
{
    if (!in_range(not_after) || !in_range(not_before) || not_after < not_before)
        return CF_ENOTFOUND;
    const int64_t first = local_date(w, not_before) - 1;
    for (int64_t date = local_date(w, not_after) + 1; date >= first; date--) {
        const struct cf_time_day *day = day_of(w, date);
        for (int k = day->n - 1; k >= 0; k--) {
            int64_t s, e;
            span_utc(w, date, &day->spans[k], &s, &e);
            /* the latest start that still leaves lead_ms inside the span */
            int64_t t = e - lead_ms < not_after ? e - lead_ms : not_after;
            if (t >= s && t >= not_before && e > s) {
                *out = t;
                return 0;
            }
        }
    }
    return CF_ENOTFOUND;
}

int cf_time_next_allowed(const struct cf_time_hours *w, int64_t at, int64_t *out)
{
    return cf_time_next_open(w, at, out);
}

int64_t cf_time_working_seconds(const struct cf_time_hours *h, int64_t a, int64_t b)
{
    int64_t total = 0;

    if (a < (SECONDS_MIN + DAY_S) * 1000)
        a = (SECONDS_MIN + DAY_S) * 1000;
    if (b > (SECONDS_END - DAY_S) * 1000)
        b = (SECONDS_END - DAY_S) * 1000;
    if (b <= a)
        return 0;
    /* the cursor keeps spans that meet or overlap (a night shift across
     * midnight, an edge in a DST gap moved past the next span's start) from
     * counting twice, as in cf_time_add_working, whose inverse this is */
    int64_t cursor = a;
    for (int64_t date = local_date(h, a) - 1, last = local_date(h, b); date <= last; date++) {
        const struct cf_time_day *day = day_of(h, date);
        for (int k = 0; k < day->n; k++) {
            int64_t s, e;
            span_utc(h, date, &day->spans[k], &s, &e);
            if (s < cursor)
                s = cursor;
            if (e > b)
                e = b;
            if (e > s) {
                total += e - s;
                cursor = e;
            }
        }
    }
    return total / 1000;
}

int cf_time_add_working(const struct cf_time_hours *h, int64_t at, int64_t seconds, int64_t *out)
{
    if (!in_range(at) || seconds < 0 || seconds > (SECONDS_END - SECONDS_MIN))
        return CF_ENOTFOUND;
    int64_t left = seconds * 1000, cursor = at;
    int64_t date = local_date(h, at) - 1;
    /* Closed days in a row past which it never opens again: as in
     * cf_time_next_open, a week and a day past the last holiday or extra
     * date. */
    const int64_t special = last_special(h);
    int64_t closed_run = 0;

    for (; date < SECONDS_END / DAY_S - 1; date++) {
        const struct cf_time_day *day = day_of(h, date);
        int64_t gained = 0;
        for (int k = 0; k < day->n; k++) {
            int64_t s, e;
            span_utc(h, date, &day->spans[k], &s, &e);
            /* the cursor keeps spans that meet (a night shift across
             * midnight) or overlap (clocks going back) from counting twice */
            if (s < cursor)
                s = cursor;
            if (e <= s)
                continue;
            if (e - s >= left) {
                *out = s + left;
                return 0;
            }
            left -= e - s;
            gained += e - s;
            cursor = e;
        }
        closed_run = gained > 0 ? 0 : closed_run + 1;
        if (closed_run > 8 && date > special + 8)
            return CF_ENOTFOUND;
    }
    return CF_ENOTFOUND;
}
