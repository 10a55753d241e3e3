/*
 * Local time in named zones and the schedules built on it. Expected UTC
 * instants are written as UTC calendar fields and converted with the C
 * library's timegm, independently of the code under test; the local
 * readings were checked against Python's zoneinfo over the same system
 * zone files (python3 -c 'from zoneinfo import ZoneInfo; ...').
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cftest.h"
#include "common/err.h"
#include "common/time.h"
#include "time_testable.h"

struct to_local_case {
    const char *tz;
    int utc[6];
    int local[6];
    int offset_min;
    int wday;
};

static const struct to_local_case to_local_cases[] = {
    /* New York, spring forward on 2026-03-08 and back on 2026-11-01 */
    {"America/New_York", {2026, 3, 8, 6, 59, 59}, {2026, 3, 8, 1, 59, 59}, -300, 6},
    {"America/New_York", {2026, 3, 8, 7, 0, 0}, {2026, 3, 8, 3, 0, 0}, -240, 6},
    {"America/New_York", {2026, 11, 1, 5, 30, 0}, {2026, 11, 1, 1, 30, 0}, -240, 6},
    {"America/New_York", {2026, 11, 1, 6, 30, 0}, {2026, 11, 1, 1, 30, 0}, -300, 6},
    /* past the file's table (2037): the footer's rule */
    {"America/New_York", {2050, 7, 1, 12, 0, 0}, {2050, 7, 1, 8, 0, 0}, -240, 4},
    {"America/New_York", {2050, 1, 15, 12, 0, 0}, {2050, 1, 15, 7, 0, 0}, -300, 5},
    {"Europe/Berlin", {2026, 3, 29, 0, 59, 59}, {2026, 3, 29, 1, 59, 59}, 60, 6},
    {"Europe/Berlin", {2026, 3, 29, 1, 0, 0}, {2026, 3, 29, 3, 0, 0}, 120, 6},
    /* Moscow: summer time until 2011, +4 all year until 2014, +3 since */
    {"Europe/Moscow", {2010, 7, 1, 12, 0, 0}, {2010, 7, 1, 16, 0, 0}, 240, 3},
    {"Europe/Moscow", {2013, 1, 1, 12, 0, 0}, {2013, 1, 1, 16, 0, 0}, 240, 1},
    {"Europe/Moscow", {2026, 12, 3, 21, 30, 0}, {2026, 12, 4, 0, 30, 0}, 180, 4},
    /* Kazakhstan moved to +5 on 2024-03-01 (ICU 72's data still says +6) */
    {"Asia/Almaty", {2023, 6, 1, 0, 0, 0}, {2023, 6, 1, 6, 0, 0}, 360, 3},
    {"Asia/Almaty", {2025, 1, 1, 0, 0, 0}, {2025, 1, 1, 5, 0, 0}, 300, 2},
    /* the south: summer in January */
    {"Australia/Sydney", {2026, 1, 15, 0, 0, 0}, {2026, 1, 15, 11, 0, 0}, 660, 3},
    {"Australia/Sydney", {2026, 7, 15, 0, 0, 0}, {2026, 7, 15, 10, 0, 0}, 600, 2},
    {"UTC", {1969, 12, 31, 23, 59, 59}, {1969, 12, 31, 23, 59, 59}, 0, 2},
};

static void test_to_local(void)
{
    for (size_t i = 0; i < sizeof(to_local_cases) / sizeof(to_local_cases[0]); i++) {
        const struct to_local_case *c = &to_local_cases[i];
        const int *u = c->utc;
        struct cf_time_local lt;
        int64_t ms = cf_test_utc_ms(u[0], u[1], u[2], u[3], u[4], u[5]) + 250;
        CHECK_INT(cf_time_to_local(c->tz, ms, &lt), 0);
        int got[6] = {lt.year, lt.month, lt.day, lt.hour, lt.minute, lt.second};
        if (memcmp(got, c->local, sizeof(got)) != 0)
            fprintf(stderr, "to_local case %zu (%s): %d-%d-%d %d:%d:%d\n", i, c->tz, got[0], got[1],
                    got[2], got[3], got[4], got[5]);
        CHECK(memcmp(got, c->local, sizeof(got)) == 0);
        CHECK_INT(lt.ms, 250);
        CHECK_INT(lt.utc_offset_s, c->offset_min * 60);
        CHECK_INT(lt.wday, c->wday);
    }
}

struct from_local_case {
    const char *tz;
    int local[6];
    int rc;
    int utc[6];
};

static const struct from_local_case from_local_cases[] = {
    {"Europe/Moscow", {2026, 6, 1, 10, 0, 0}, 0, {2026, 6, 1, 7, 0, 0}},
    /* a leap second as printed is the next minute */
    {"Europe/Moscow", {2026, 6, 1, 10, 0, 60}, 0, {2026, 6, 1, 7, 1, 0}},
    /* gap: 02:30 does not exist; read with the offset before (03:30 EDT) */
    {"America/New_York", {2026, 3, 8, 2, 30, 0}, 0, {2026, 3, 8, 7, 30, 0}},
    {"America/New_York", {2026, 3, 8, 1, 59, 59}, 0, {2026, 3, 8, 6, 59, 59}},
    {"America/New_York", {2026, 3, 8, 3, 0, 0}, 0, {2026, 3, 8, 7, 0, 0}},
    /* overlap: 01:30 happens twice; the first (EDT) */
    {"America/New_York", {2026, 11, 1, 1, 30, 0}, 0, {2026, 11, 1, 5, 30, 0}},
    {"America/New_York", {2026, 11, 1, 0, 59, 0}, 0, {2026, 11, 1, 4, 59, 0}},
    {"America/New_York", {2026, 11, 1, 2, 0, 0}, 0, {2026, 11, 1, 7, 0, 0}},
    {"America/New_York", {2050, 3, 13, 2, 30, 0}, 0, {2050, 3, 13, 7, 30, 0}},
    {"Europe/Berlin", {2026, 3, 29, 2, 30, 0}, 0, {2026, 3, 29, 1, 30, 0}},
    {"Europe/Berlin", {2026, 10, 25, 2, 30, 0}, 0, {2026, 10, 25, 0, 30, 0}},
    {"Australia/Sydney", {2026, 4, 5, 2, 30, 0}, 0, {2026, 4, 4, 15, 30, 0}},
    {"Australia/Sydney", {2026, 10, 4, 2, 30, 0}, 0, {2026, 10, 3, 16, 30, 0}},
    {"Europe/Moscow", {2026, 2, 29, 10, 0, 0}, CF_EINVAL, {0}},
    {"Europe/Moscow", {2026, 13, 1, 10, 0, 0}, CF_EINVAL, {0}},
    {"Europe/Moscow", {2026, 1, 1, 24, 0, 0}, CF_EINVAL, {0}},
    {"Mars/Olympus_Mons", {2026, 1, 1, 10, 0, 0}, CF_EINVAL, {0}},
};

static void test_from_local(void)
{
    for (size_t i = 0; i < sizeof(from_local_cases) / sizeof(from_local_cases[0]); i++) {
        const struct from_local_case *c = &from_local_cases[i];
        const int *l = c->local, *u = c->utc;
        struct cf_time_local lt = {.year = l[0],
                                   .month = l[1],
                                   .day = l[2],
                                   .hour = l[3],
                                   .minute = l[4],
                                   .second = l[5],
                                   .ms = 7};
        int64_t ms = 0;
        int rc = cf_time_from_local(c->tz, &lt, &ms);
        CHECK_INT(rc, c->rc);
        if (rc == 0 && c->rc == 0) {
            if (ms != cf_test_utc_ms(u[0], u[1], u[2], u[3], u[4], u[5]) + 7)
                fprintf(stderr, "from_local case %zu (%s)\n", i, c->tz);
            CHECK_INT(ms, cf_test_utc_ms(u[0], u[1], u[2], u[3], u[4], u[5]) + 7);
        }
    }
}

/* Every quarter hour of two years: local and back gives the instant, but
 * for the second pass through an overlap, which reads as the first. */
static void test_round_trip(void)
{
    static const char *const zones[] = {"America/New_York", "Europe/Berlin", "Australia/Sydney",
                                        "Europe/Moscow", "America/Santiago"};
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        int bad = 0;
        for (int64_t t = cf_test_utc_ms(2026, 1, 1, 0, 0, 0);
             t < cf_test_utc_ms(2028, 1, 1, 0, 0, 0); t += 15 * 60 * 1000) {
            struct cf_time_local lt, later;
            int64_t back = 0;
            cf_time_to_local(zones[z], t, &lt);
            cf_time_from_local(zones[z], &lt, &back);
            cf_time_to_local(zones[z], back, &later);
            int overlap_second = back < t && later.utc_offset_s > lt.utc_offset_s &&
                                 t - back == (int64_t)(later.utc_offset_s - lt.utc_offset_s) * 1000;
            bad += back != t && !overlap_second;
        }
        if (bad)
            fprintf(stderr, "round trip %s: %d wrong\n", zones[z], bad);
        CHECK_INT(bad, 0);
    }
}

/* The footer's POSIX rules against the tables zic wrote for the same
 * years: hour by hour through 2030, the offsets agree. */
static void test_rules_match_tables(void)
{
    static const char *const pairs[][3] = {
        {"Test/New_York", "EST5EDT,M3.2.0,M11.1.0", "America/New_York"},
        {"Test/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3", "Europe/Berlin"},
        {"Test/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3", "Australia/Sydney"},
        {"Test/Santiago", "<-04>4<-03>,M9.1.6/24,M4.1.6/24", "America/Santiago"},
        {"Test/Moscow", "MSK-3", "Europe/Moscow"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        CHECK_INT(time_zone_add_rule(pairs[i][0], pairs[i][1]), 0);
        int bad = 0;
        for (int64_t t = cf_test_utc_ms(2030, 1, 1, 0, 0, 0);
             t < cf_test_utc_ms(2031, 1, 1, 0, 0, 0); t += 3600 * 1000) {
            struct cf_time_local a, b;
            cf_time_to_local(pairs[i][0], t, &a);
            cf_time_to_local(pairs[i][2], t, &b);
            bad += a.utc_offset_s != b.utc_offset_s;
        }
        if (bad)
            fprintf(stderr, "rule %s: %d hours differ from %s\n", pairs[i][1], bad, pairs[i][2]);
        CHECK_INT(bad, 0);
    }
    /* Jn skips 29 February, n counts it */
    struct cf_time_local lt;
    CHECK_INT(time_zone_add_rule("Test/Julian", "<+0330>-3:30<+0430>,J79/24,J263/24"), 0);
    CHECK_INT(cf_time_to_local("Test/Julian", cf_test_utc_ms(2024, 3, 20, 20, 29, 59), &lt), 0);
    CHECK_INT(lt.utc_offset_s, 12600);
    CHECK_INT(cf_time_to_local("Test/Julian", cf_test_utc_ms(2024, 3, 20, 20, 30, 0), &lt), 0);
    CHECK_INT(lt.utc_offset_s, 16200);
    CHECK_INT(time_zone_add_rule("Test/Zero", "AAA0BBB,59,300"), 0);
    CHECK_INT(cf_time_to_local("Test/Zero", cf_test_utc_ms(2024, 2, 29, 2, 0, 0), &lt), 0);
    CHECK_INT(lt.utc_offset_s, 3600);
    CHECK_INT(cf_time_to_local("Test/Zero", cf_test_utc_ms(2025, 3, 1, 1, 59, 0), &lt), 0);
    CHECK_INT(lt.utc_offset_s, 0);
    CHECK_INT(cf_time_to_local("Test/Zero", cf_test_utc_ms(2025, 3, 1, 2, 0, 0), &lt), 0);
    CHECK_INT(lt.utc_offset_s, 3600);
    /* DST without its rule, short names, junk */
    CHECK_INT(time_zone_add_rule("Test/Bad", "EST5EDT"), CF_EINVAL);
    CHECK_INT(time_zone_add_rule("Test/Bad", "E5"), CF_EINVAL);
    CHECK_INT(time_zone_add_rule("Test/Bad", "EST5EDT,M3.2.0,M13.1.0"), CF_EINVAL);
    CHECK_INT(time_zone_add_rule("Test/Bad", "EST5EDT,M3.2.0,M11.1.0x"), CF_EINVAL);
}

static void test_zone_check(void)
{
    CHECK_INT(cf_time_zone_check("Europe/Moscow"), 0);
    CHECK_INT(cf_time_zone_check("UTC"), 0);
    CHECK_INT(cf_time_zone_check("Etc/GMT-3"), 0);
    CHECK_INT(cf_time_zone_check("Europe/Mosco"), CF_EINVAL);
    CHECK_INT(cf_time_zone_check(""), CF_EINVAL);
    CHECK_INT(cf_time_zone_check(NULL), CF_EINVAL);
    CHECK_INT(cf_time_zone_check("../../etc/passwd"), CF_EINVAL);
    CHECK_INT(cf_time_zone_check("/etc/localtime"), CF_EINVAL);
    CHECK_INT(cf_time_zone_check("Europe"), CF_EINVAL);       /* a folder */
    CHECK_INT(cf_time_zone_check("zone1970/tab"), CF_EINVAL); /* malformed */
    CHECK_INT(cf_time_zone_check("zone.tab"), CF_EINVAL);     /* not TZif */
    CHECK_INT(cf_time_zone_check("right/UTC"), CF_EINVAL);    /* leap seconds */
}

static void test_dates(void)
{
    int64_t d = 0;
    int y, m, dd;
    CHECK_INT(cf_time_date_parse("1970-01-01", &d), 0);
    CHECK_INT(d, 0);
    CHECK_INT(cf_time_date_parse("2026-12-03", &d), 0);
    CHECK_INT(d * 86400 * 1000, cf_test_utc_ms(2026, 12, 3, 0, 0, 0));
    CHECK_INT(cf_time_date_parse("2024-02-29", &d), 0);
    cf_time_civil_from_days(d, &y, &m, &dd);
    CHECK(y == 2024 && m == 2 && dd == 29);
    CHECK_INT(cf_time_date_parse("2025-02-29", &d), CF_EINVAL);
    CHECK_INT(cf_time_date_parse("2026-1-01", &d), CF_EINVAL);
    CHECK_INT(cf_time_date_parse("2026-01-011", &d), CF_EINVAL);
    CHECK_INT(cf_time_days_from_civil(1969, 12, 31), -1);
    cf_time_civil_from_days(-719162, &y, &m, &dd);
    CHECK(y == 1 && m == 1 && dd == 1);
}

/* --- schedules --------------------------------------------------------- */

static int hours(const char *tz, const char *week, const char *holidays, const char *extra,
                 struct cf_time_hours *out)
{
    json_t *j_week = json_loads(week, 0, NULL);
    json_t *j_holidays = holidays ? json_loads(holidays, 0, NULL) : NULL;
    json_t *j_extra = extra ? json_loads(extra, 0, NULL) : NULL;
    char errbuf[256] = "";
    int rc = cf_time_hours_parse(tz, j_week, j_holidays, j_extra, out, errbuf, sizeof(errbuf));
    json_decref(j_week);
    json_decref(j_holidays);
    json_decref(j_extra);
    return rc;
}

/* Moscow (+03:00, no DST): a split shift on weekdays, Saturday short,
 * Sunday closed, three holidays, one working Sunday. */
static const char clinic_week[] =
    "{\"mon\":[\"09:00-14:00\",\"15:00-21:00\"],\"tue\":[\"09:00-14:00\",\"15:00-21:00\"],"
    "\"wed\":[\"09:00-14:00\",\"15:00-21:00\"],\"thu\":[\"09:00-14:00\",\"15:00-21:00\"],"
    "\"fri\":[\"09:00-14:00\",\"15:00-21:00\"],\"sat\":[\"10:00-16:00\"],\"sun\":[]}";

/* Moscow wall time as UTC milliseconds. */
static int64_t msk(int y, int mo, int d, int h, int mi)
{
    return cf_test_utc_ms(y, mo, d, h, mi, 0) - 3 * 3600 * 1000;
}

struct open_case {
    int at[5]; /* Moscow wall time */
    int open;
    int next[5]; /* next opening, Moscow wall time */
};

static const struct open_case open_cases[] = {
    {{2026, 12, 3, 13, 59}, 1, {2026, 12, 3, 13, 59}}, /* Thursday, morning shift */
    {{2026, 12, 3, 14, 0}, 0, {2026, 12, 3, 15, 0}},   /* the break of the split shift */
    {{2026, 12, 3, 15, 0}, 1, {2026, 12, 3, 15, 0}},
    {{2026, 12, 3, 21, 0}, 0, {2026, 12, 4, 9, 0}},   /* evening: across midnight */
    {{2026, 12, 5, 16, 0}, 0, {2026, 12, 7, 9, 0}},   /* Saturday after close: Monday */
    {{2026, 12, 6, 12, 0}, 0, {2026, 12, 7, 9, 0}},   /* Sunday */
    {{2026, 1, 1, 12, 0}, 0, {2026, 1, 3, 10, 0}},    /* two holidays, then Saturday */
    {{2025, 12, 31, 22, 0}, 0, {2026, 1, 3, 10, 0}},  /* across the year too */
    {{2026, 11, 1, 11, 0}, 1, {2026, 11, 1, 11, 0}},  /* a working Sunday */
    {{2026, 10, 31, 17, 0}, 0, {2026, 11, 1, 10, 0}}, /* ... opens on it */
};

static void test_open(void)
{
    struct cf_time_hours h;
    CHECK_INT(hours("Europe/Moscow", clinic_week, "[\"2026-01-01\",\"2026-01-02\",\"2026-01-07\"]",
                    "{\"2026-11-01\":[\"10:00-15:00\"]}", &h),
              0);
    for (size_t i = 0; i < sizeof(open_cases) / sizeof(open_cases[0]); i++) {
        const struct open_case *c = &open_cases[i];
        int64_t at = msk(c->at[0], c->at[1], c->at[2], c->at[3], c->at[4]), next = 0;
        if (cf_time_is_open(&h, at) != c->open)
            fprintf(stderr, "open case %zu\n", i);
        CHECK_INT(cf_time_is_open(&h, at), c->open);
        CHECK_INT(cf_time_next_open(&h, at, &next), 0);
        CHECK_INT(next, msk(c->next[0], c->next[1], c->next[2], c->next[3], c->next[4]));
    }
    /* one millisecond before closing is open, closing is not */
    CHECK_INT(cf_time_is_open(&h, msk(2026, 12, 3, 21, 0) - 1), 1);

    struct span_case {
        int a[5], b[5];
        int64_t seconds;
    } spans[] = {
        {{2026, 12, 3, 13, 0}, {2026, 12, 3, 16, 0}, 2 * 3600},               /* across the break */
        {{2026, 12, 4, 20, 0}, {2026, 12, 7, 10, 0}, (1 + 6 + 1) * 3600},     /* the weekend */
        {{2026, 12, 7, 0, 0}, {2026, 12, 14, 0, 0}, (5 * 11 + 6) * 3600},     /* a week */
        {{2025, 12, 31, 20, 30}, {2026, 1, 5, 9, 1}, (30 + 6 * 60 + 1) * 60}, /* holidays */
        {{2026, 12, 3, 14, 10}, {2026, 12, 3, 14, 50}, 0},                    /* in the break */
        {{2026, 12, 3, 16, 0}, {2026, 12, 3, 13, 0}, 0},                      /* backwards */
    };
    for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
        const int *a = spans[i].a, *b = spans[i].b;
        CHECK_INT(cf_time_working_seconds(&h, msk(a[0], a[1], a[2], a[3], a[4]),
                                          msk(b[0], b[1], b[2], b[3], b[4])),
                  spans[i].seconds);
    }
    /* a lead at 13:59:59.400 answered at 15:00:00.700: 1.3 s of working time */
    CHECK_INT(
        cf_time_working_seconds(&h, msk(2026, 12, 3, 14, 0) - 600, msk(2026, 12, 3, 15, 0) + 700),
        1);
    cf_time_hours_free(&h);
}

/* Due times: seconds of open time after an instant (a lead's respond task). */
static void test_add_working(void)
{
    struct cf_time_hours h;
    CHECK_INT(hours("Europe/Moscow", clinic_week, "[\"2026-01-01\",\"2026-01-02\",\"2026-01-07\"]",
                    "{\"2026-11-01\":[\"10:00-15:00\"]}", &h),
              0);
    struct due_case {
        int at[5];
        int64_t seconds;
        int due[5]; /* Moscow wall time */
    } cases[] = {
        {{2026, 12, 3, 10, 0}, 600, {2026, 12, 3, 10, 10}},     /* open: plain */
        {{2026, 12, 3, 13, 55}, 600, {2026, 12, 3, 15, 5}},     /* across the split shift's break */
        {{2026, 12, 3, 14, 30}, 600, {2026, 12, 3, 15, 10}},    /* in the break */
        {{2026, 12, 3, 23, 0}, 600, {2026, 12, 4, 9, 10}},      /* 23:00: after the next opening */
        {{2026, 12, 3, 21, 0}, 600, {2026, 12, 4, 9, 10}},      /* exactly at closing */
        {{2026, 12, 3, 20, 50}, 600, {2026, 12, 3, 21, 0}},     /* due exactly at closing */
        {{2026, 12, 3, 20, 55}, 600, {2026, 12, 4, 9, 5}},      /* 5 minutes today, 5 tomorrow */
        {{2026, 12, 5, 16, 0}, 600, {2026, 12, 7, 9, 10}},      /* Saturday's closing: Monday */
        {{2026, 12, 6, 12, 0}, 600, {2026, 12, 7, 9, 10}},      /* a lead on a day off */
        {{2026, 1, 1, 12, 0}, 600, {2026, 1, 3, 10, 10}},       /* on a holiday: two, then Sat */
        {{2025, 12, 31, 20, 55}, 600, {2026, 1, 3, 10, 5}},     /* across the holidays */
        {{2026, 10, 31, 17, 0}, 600, {2026, 11, 1, 10, 10}},    /* a working Sunday (extra date) */
        {{2026, 12, 4, 20, 0}, 3 * 3600, {2026, 12, 5, 12, 0}}, /* over several shifts */
        {{2026, 12, 3, 14, 30}, 0, {2026, 12, 3, 15, 0}},       /* 0: the next opening */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct due_case *c = &cases[i];
        int64_t at = msk(c->at[0], c->at[1], c->at[2], c->at[3], c->at[4]), due = 0;
        CHECK_INT(cf_time_add_working(&h, at, c->seconds, &due), 0);
        if (due != msk(c->due[0], c->due[1], c->due[2], c->due[3], c->due[4]))
            fprintf(stderr, "due case %zu\n", i);
        CHECK_INT(due, msk(c->due[0], c->due[1], c->due[2], c->due[3], c->due[4]));
    }
    /* the inverse of cf_time_working_seconds, every 7 minutes of a week */
    for (int64_t at = msk(2026, 12, 3, 0, 0); at < msk(2026, 12, 10, 0, 0); at += 7 * 60 * 1000) {
        int64_t due = 0;
        CHECK_INT(cf_time_add_working(&h, at + 123, 3600, &due), 0);
        CHECK_INT(cf_time_working_seconds(&h, at + 123, due), 3600);
        CHECK_INT(cf_time_is_open(&h, due - 1), 1);
    }
    cf_time_hours_free(&h);

    /* Open on Saturdays only, the one Saturday ahead a holiday: closed for
     * thirteen days, more than a week and the holidays, still open again */
    CHECK_INT(hours("Europe/Moscow", "{\"sat\":[\"10:00-16:00\"]}", "[\"2026-05-09\"]", NULL, &h),
              0);
    int64_t next = 0, until = 0;
    CHECK_INT(cf_time_next_open(&h, msk(2026, 5, 3, 12, 0), &next), 0);
    CHECK_INT(next, msk(2026, 5, 16, 10, 0));
    CHECK_INT(cf_time_add_working(&h, msk(2026, 5, 3, 12, 0), 600, &until), 0);
    CHECK_INT(until, msk(2026, 5, 16, 10, 10));
    cf_time_hours_free(&h);
    /* a weekend clinic whose only weekend ahead is two holidays */
    CHECK_INT(hours("Europe/Moscow", "{\"sat\":[\"10:00-16:00\"],\"sun\":[\"10:00-16:00\"]}",
                    "[\"2026-01-03\",\"2026-01-04\"]", NULL, &h),
              0);
    CHECK_INT(cf_time_add_working(&h, msk(2025, 12, 29, 12, 0), 600, &until), 0);
    CHECK_INT(until, msk(2026, 1, 10, 10, 10));
    cf_time_hours_free(&h);

    /* New York across DST, in the clinic's own zone */
    CHECK_INT(hours("America/New_York",
                    "{\"sat\":[\"09:00-18:00\"],\"sun\":[\"09:00-18:00\"],"
                    "\"mon\":[\"09:00-18:00\"]}",
                    NULL, NULL, &h),
              0);
    int64_t due = 0;
    /* Saturday 17:55 EST, 5 minutes left; Sunday opens 09:00 EDT (13:00 UTC) */
    CHECK_INT(cf_time_add_working(&h, cf_test_utc_ms(2026, 3, 7, 22, 55, 0), 600, &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2026, 3, 8, 13, 5, 0));
    /* autumn: Saturday 17:55 EDT to Sunday 09:05 EST (14:05 UTC) */
    CHECK_INT(cf_time_add_working(&h, cf_test_utc_ms(2026, 10, 31, 21, 55, 0), 600, &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2026, 11, 1, 14, 5, 0));
    cf_time_hours_free(&h);
    /* hours a transition skips do not count, hours it repeats do */
    CHECK_INT(hours("America/New_York", "{\"sun\":[\"01:00-03:00\"]}", NULL, NULL, &h), 0);
    CHECK_INT(cf_time_add_working(&h, cf_test_utc_ms(2026, 3, 8, 5, 30, 0), 5400, &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2026, 3, 15, 5, 30, 0)); /* 1 h on the 8th, 30 min a week on */
    CHECK_INT(cf_time_add_working(&h, cf_test_utc_ms(2026, 11, 1, 4, 0, 0), 9000, &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2026, 11, 1, 7, 30, 0)); /* 02:30 EST, the third hour */
    cf_time_hours_free(&h);

    /* An edge the spring jump skips is where the clock jumps past it: on
     * 2026-03-08 New York goes from 02:00 EST to 03:00 EDT (07:00 UTC), so
     * a window ending at 02:30 has ended at 03:15 EDT, and one opening at
     * 02:30 is open then; not half an hour later by the offset before. */
    CHECK_INT(hours("America/New_York", "{\"sun\":[\"00:00-02:30\"]}", NULL, NULL, &h), 0);
    CHECK_INT(cf_time_is_open(&h, cf_test_utc_ms(2026, 3, 8, 6, 59, 0)), 1);
    CHECK_INT(cf_time_is_open(&h, cf_test_utc_ms(2026, 3, 8, 7, 15, 0)), 0);
    CHECK_INT(cf_time_working_seconds(&h, cf_test_utc_ms(2026, 3, 8, 5, 0, 0),
                                      cf_test_utc_ms(2026, 3, 8, 9, 0, 0)),
              2 * 3600);
    cf_time_hours_free(&h);
    CHECK_INT(hours("America/New_York", "{\"sun\":[\"02:30-04:00\"]}", NULL, NULL, &h), 0);
    CHECK_INT(cf_time_is_open(&h, cf_test_utc_ms(2026, 3, 8, 7, 15, 0)), 1);
    CHECK_INT(cf_time_next_open(&h, cf_test_utc_ms(2026, 3, 8, 5, 0, 0), &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2026, 3, 8, 7, 0, 0));
    CHECK_INT(cf_time_working_seconds(&h, cf_test_utc_ms(2026, 3, 8, 5, 0, 0),
                                      cf_test_utc_ms(2026, 3, 8, 9, 0, 0)),
              3600);
    cf_time_hours_free(&h);
    /* Santiago jumps at midnight (2026-09-06, 00:00 -04 to 01:00 -03):
     * a span from 00:30 opens at 01:00, when the clock has passed it */
    CHECK_INT(hours("America/Santiago", "{\"sun\":[\"00:30-03:30\"]}", NULL, NULL, &h), 0);
    CHECK_INT(cf_time_working_seconds(&h, cf_test_utc_ms(2026, 9, 6, 0, 0, 0),
                                      cf_test_utc_ms(2026, 9, 6, 12, 0, 0)),
              5 * 1800);
    cf_time_hours_free(&h);

    /* a night shift across midnight counts once */
    CHECK_INT(hours("Europe/Moscow", "{\"fri\":[\"20:00-24:00\"],\"sat\":[\"00:00-02:00\"]}", NULL,
                    NULL, &h),
              0);
    CHECK_INT(cf_time_add_working(&h, msk(2026, 12, 4, 23, 0), 2 * 3600, &due), 0);
    CHECK_INT(due, msk(2026, 12, 5, 1, 0));
    cf_time_hours_free(&h);

    /* never open, or only on dates that have passed */
    CHECK_INT(hours("Europe/Moscow", "{}", NULL, "{\"2026-11-01\":[\"10:00-15:00\"]}", &h), 0);
    CHECK_INT(cf_time_add_working(&h, msk(2026, 12, 4, 23, 0), 600, &due), CF_ENOTFOUND);
    CHECK_INT(cf_time_add_working(&h, msk(2026, 11, 1, 14, 55), 600, &due), CF_ENOTFOUND);
    CHECK_INT(cf_time_add_working(&h, msk(2026, 11, 1, 14, 0), 600, &due), 0);
    CHECK_INT(due, msk(2026, 11, 1, 14, 10));
    cf_time_hours_free(&h);
}

static void test_night_shift(void)
{
    struct cf_time_hours h;
    /* Friday 20:00 to Saturday 02:00, written as two intervals */
    CHECK_INT(hours("Europe/Moscow", "{\"fri\":[\"20:00-24:00\"],\"sat\":[\"00:00-02:00\"]}", NULL,
                    NULL, &h),
              0);
    int64_t next = 0;
    CHECK_INT(cf_time_is_open(&h, msk(2026, 12, 4, 23, 59)), 1);
    CHECK_INT(cf_time_is_open(&h, msk(2026, 12, 5, 0, 0)), 1);
    CHECK_INT(cf_time_is_open(&h, msk(2026, 12, 5, 2, 0)), 0);
    CHECK_INT(cf_time_working_seconds(&h, msk(2026, 12, 4, 22, 0), msk(2026, 12, 5, 3, 0)),
              4 * 3600);
    CHECK_INT(cf_time_next_open(&h, msk(2026, 12, 5, 2, 0), &next), 0);
    CHECK_INT(next, msk(2026, 12, 11, 20, 0)); /* next week's Friday */
    cf_time_hours_free(&h);

    /* never open */
    CHECK_INT(hours("Europe/Moscow", "{}", NULL, NULL, &h), 0);
    CHECK_INT(cf_time_next_open(&h, msk(2026, 12, 4, 23, 59), &next), CF_ENOTFOUND);
    CHECK_INT(cf_time_working_seconds(&h, msk(2026, 1, 1, 0, 0), msk(2027, 1, 1, 0, 0)), 0);
    cf_time_hours_free(&h);
}

static void test_dst_schedules(void)
{
    static const char all_day[] =
        "{\"mon\":[\"00:00-24:00\"],\"tue\":[\"00:00-24:00\"],\"wed\":[\"00:00-24:00\"],"
        "\"thu\":[\"00:00-24:00\"],\"fri\":[\"00:00-24:00\"],\"sat\":[\"00:00-24:00\"],"
        "\"sun\":[\"00:00-24:00\"]}";
    struct cf_time_hours h;
    struct cf_time_local lt = {.year = 2026, .month = 3, .day = 8};
    int64_t a, b, next;

    CHECK_INT(hours("America/New_York", all_day, NULL, NULL, &h), 0);
    /* the spring day has 23 hours, the autumn day 25 */
    cf_time_from_local("America/New_York", &lt, &a);
    lt.day = 9;
    cf_time_from_local("America/New_York", &lt, &b);
    CHECK_INT(cf_time_working_seconds(&h, a, b), 23 * 3600);
    lt.month = 11, lt.day = 1;
    cf_time_from_local("America/New_York", &lt, &a);
    lt.day = 2;
    cf_time_from_local("America/New_York", &lt, &b);
    CHECK_INT(cf_time_working_seconds(&h, a, b), 25 * 3600);
    cf_time_hours_free(&h);

    /* 01:00-03:00 on the spring day is one real hour; on the autumn day three */
    CHECK_INT(hours("America/New_York", "{\"sun\":[\"01:00-03:00\"]}", NULL, NULL, &h), 0);
    CHECK_INT(cf_time_working_seconds(&h, cf_test_utc_ms(2026, 3, 8, 0, 0, 0),
                                      cf_test_utc_ms(2026, 3, 9, 0, 0, 0)),
              3600);
    CHECK_INT(cf_time_working_seconds(&h, cf_test_utc_ms(2026, 11, 1, 0, 0, 0),
                                      cf_test_utc_ms(2026, 11, 2, 0, 0, 0)),
              3 * 3600);
    CHECK_INT(cf_time_is_open(&h, cf_test_utc_ms(2026, 3, 8, 6, 59, 59)), 1); /* 01:59:59 EST */
    CHECK_INT(cf_time_is_open(&h, cf_test_utc_ms(2026, 3, 8, 7, 0, 0)), 0);   /* 03:00 EDT */
    CHECK_INT(cf_time_next_open(&h, cf_test_utc_ms(2026, 3, 8, 7, 0, 0), &next), 0);
    CHECK_INT(next, cf_test_utc_ms(2026, 3, 15, 5, 0, 0)); /* next Sunday 01:00 EDT */
    cf_time_hours_free(&h);

    /* Berlin: an interval starting inside the gap starts when the gap ends
     * (the clock jumps from 02:00 CET to 03:00 CEST, past 02:30), not at
     * 03:30 CEST, 02:30 read with the offset before */
    CHECK_INT(hours("Europe/Berlin", "{\"sun\":[\"02:30-04:00\"]}", NULL, NULL, &h), 0);
    CHECK_INT(cf_time_next_open(&h, cf_test_utc_ms(2026, 3, 29, 0, 0, 0), &next), 0);
    CHECK_INT(next, cf_test_utc_ms(2026, 3, 29, 1, 0, 0)); /* 03:00 CEST */
    CHECK_INT(cf_time_working_seconds(&h, cf_test_utc_ms(2026, 3, 29, 0, 0, 0),
                                      cf_test_utc_ms(2026, 3, 30, 0, 0, 0)),
              60 * 60);
    cf_time_hours_free(&h);
    /* one interval ending inside the gap, the next starting at its end:
     * the first one ends where the gap does, as the second starts; the
     * time they cover together counts once, and the due time of 4 working
     * hours from the day's start is 4 working hours after it */
    CHECK_INT(hours("Europe/Berlin", "{\"sun\":[\"00:00-02:30\",\"03:00-05:00\"]}", NULL, NULL, &h),
              0);
    a = cf_test_utc_ms(2026, 3, 28, 23, 0, 0); /* Sunday 00:00 CET */
    CHECK_INT(cf_time_working_seconds(&h, a, cf_test_utc_ms(2026, 3, 30, 0, 0, 0)), 4 * 3600);
    CHECK_INT(cf_time_add_working(&h, a, 4 * 3600, &b), 0);
    CHECK_INT(cf_time_working_seconds(&h, a, b), 4 * 3600);
    cf_time_hours_free(&h);

    /* Clocks going back at 00:30 to 23:30 the day before: in the repeated
     * half hour the local date is Saturday again while Sunday's first
     * interval has begun. */
    CHECK_INT(time_zone_add_rule("Test/Midnight", "STD-1DST-2,M3.5.0,M10.5.0/0:30"), 0);
    CHECK_INT(hours("Test/Midnight", "{\"sun\":[\"00:00-01:00\"]}", NULL, NULL, &h), 0);
    CHECK_INT(cf_time_to_local("Test/Midnight", cf_test_utc_ms(2026, 10, 24, 22, 45, 0), &lt), 0);
    CHECK(lt.day == 24 && lt.hour == 23 && lt.minute == 45);
    CHECK_INT(cf_time_is_open(&h, cf_test_utc_ms(2026, 10, 24, 21, 59, 59)), 0);
    CHECK_INT(cf_time_is_open(&h, cf_test_utc_ms(2026, 10, 24, 22, 45, 0)), 1);
    CHECK_INT(cf_time_is_open(&h, cf_test_utc_ms(2026, 10, 25, 0, 0, 0)), 0);
    CHECK_INT(cf_time_working_seconds(&h, cf_test_utc_ms(2026, 10, 24, 0, 0, 0),
                                      cf_test_utc_ms(2026, 10, 26, 0, 0, 0)),
              2 * 3600);
    cf_time_hours_free(&h);
}

static void test_windows(void)
{
    struct cf_time_hours w;
    int64_t next = 0;

    CHECK_INT(cf_time_windows_parse("Europe/Moscow", NULL, &w, NULL, 0), 0);
    struct {
        int at[2], next[3]; /* hour, minute; day offset, hour, minute */
    } cases[] = {
        {{9, 0}, {0, 10, 0}},   {{12, 0}, {0, 12, 0}},   {{18, 0}, {0, 20, 0}},
        {{18, 30}, {0, 20, 0}}, {{20, 59}, {0, 20, 59}}, {{21, 0}, {1, 10, 0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT(cf_time_next_allowed(&w, msk(2026, 12, 6, cases[i].at[0], cases[i].at[1]), &next),
                  0);
        CHECK_INT(next, msk(2026, 12, 6 + cases[i].next[0], cases[i].next[1], cases[i].next[2]));
    }
    cf_time_hours_free(&w);

    /* the clinic's own windows in its zone: 09:00 New York is 14:00 UTC in winter */
    json_t *j_win = json_pack("[s]", "09:00-12:00");
    CHECK_INT(cf_time_windows_parse("America/New_York", j_win, &w, NULL, 0), 0);
    CHECK_INT(cf_time_next_allowed(&w, cf_test_utc_ms(2026, 12, 6, 12, 0, 0), &next), 0);
    CHECK_INT(next, cf_test_utc_ms(2026, 12, 6, 14, 0, 0));
    CHECK_INT(cf_time_next_allowed(&w, cf_test_utc_ms(2026, 7, 6, 12, 0, 0), &next), 0);
    CHECK_INT(next, cf_test_utc_ms(2026, 7, 6, 13, 0, 0));
    cf_time_hours_free(&w);
    json_decref(j_win);
}

/* The local clock hour an instant falls in, whatever the zone's offset:
 * what a budget "an hour" counts in (reminders' campaign pacing). */
static void test_hour_start(void)
{
    struct {
        const char *tz;
        int at[6], start[6]; /* UTC */
    } cases[] = {
        /* whole-hour offsets: the UTC hour */
        {"Europe/Moscow", {2026, 12, 4, 10, 37, 12}, {2026, 12, 4, 10, 0, 0}},
        {"Europe/Moscow", {2026, 12, 4, 11, 0, 0}, {2026, 12, 4, 11, 0, 0}},
        /* +05:30: 10:37 local is 05:07 UTC, its hour began at 04:30 UTC */
        {"Asia/Kolkata", {2026, 12, 4, 5, 7, 0}, {2026, 12, 4, 4, 30, 0}},
        {"Asia/Kolkata", {2026, 12, 4, 4, 29, 59}, {2026, 12, 4, 3, 30, 0}},
        /* +05:45 */
        {"Asia/Kathmandu", {2026, 12, 4, 5, 0, 0}, {2026, 12, 4, 4, 15, 0}},
        /* New York going back on 2026-11-01: 01:30 EDT (05:30 UTC) and
         * 01:30 EST (06:30 UTC) are two hours */
        {"America/New_York", {2026, 11, 1, 5, 30, 0}, {2026, 11, 1, 5, 0, 0}},
        {"America/New_York", {2026, 11, 1, 6, 30, 0}, {2026, 11, 1, 6, 0, 0}},
        /* and going forward on 2026-03-08: 03:10 EDT began at 03:00 EDT */
        {"America/New_York", {2026, 3, 8, 7, 10, 0}, {2026, 3, 8, 7, 0, 0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cf_time_hours w;
        const int *a = cases[i].at, *b = cases[i].start;
        CHECK_INT(cf_time_windows_parse(cases[i].tz, NULL, &w, NULL, 0), 0);
        CHECK_INT(cf_time_hour_start(&w, cf_test_utc_ms(a[0], a[1], a[2], a[3], a[4], a[5]) + 7),
                  cf_test_utc_ms(b[0], b[1], b[2], b[3], b[4], b[5]));
        cf_time_hours_free(&w);
    }
}

/* The latest moment in the windows at or before a time, leaving a minute
 * of the window: where a reminder due outside them goes (never later). */
static void test_last_allowed(void)
{
    struct cf_time_hours w;
    int64_t t = 0;
    const int64_t minute = 60000;

    CHECK_INT(cf_time_windows_parse("Europe/Moscow", NULL, &w, NULL, 0), 0);
    const int64_t floor = msk(2026, 12, 1, 0, 0);
    struct {
        int at[2], want[3]; /* hour, minute; day offset, hour, minute */
    } cases[] = {
        {{12, 0}, {0, 12, 0}},  /* inside: itself */
        {{9, 0}, {-1, 20, 59}}, /* before 10:00: the evening window's last minute */
        {{19, 0}, {0, 17, 59}}, /* between the windows */
        {{18, 0}, {0, 17, 59}}, /* a window's end is outside it */
        {{17, 59}, {0, 17, 59}}, {{17, 59}, {0, 17, 59}},
        {{23, 30}, {0, 20, 59}}, {{10, 0}, {0, 10, 0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT(cf_time_last_allowed(&w, msk(2026, 12, 6, cases[i].at[0], cases[i].at[1]), minute,
                                       floor, &t),
                  0);
        CHECK_INT(t, msk(2026, 12, 6 + cases[i].want[0], cases[i].want[1], cases[i].want[2]));
    }
    /* nothing at or after not_before: not found, never a moment before it */
    CHECK_INT(cf_time_last_allowed(&w, msk(2026, 12, 6, 9, 0), minute, msk(2026, 12, 5, 21, 0), &t),
              CF_ENOTFOUND);
    CHECK_INT(
        cf_time_last_allowed(&w, msk(2026, 12, 6, 9, 0), minute, msk(2026, 12, 5, 20, 59), &t), 0);
    CHECK_INT(t, msk(2026, 12, 5, 20, 59));
    cf_time_hours_free(&w);

    /* a zone with DST: New York's 09:00-12:00 is 14:00-17:00 UTC in winter,
     * 13:00-16:00 in summer; 08:00 local the day after the clocks went
     * forward (2026-03-08) goes back to that day's 11:59, already EDT
     * (15:59 UTC, not the 16:59 standard time would give). */
    json_t *j_win = json_pack("[s]", "09:00-12:00");
    CHECK_INT(cf_time_windows_parse("America/New_York", j_win, &w, NULL, 0), 0);
    CHECK_INT(cf_time_last_allowed(&w, cf_test_utc_ms(2026, 3, 9, 12, 0, 0), minute,
                                   cf_test_utc_ms(2026, 3, 1, 0, 0, 0), &t),
              0);
    CHECK_INT(t, cf_test_utc_ms(2026, 3, 8, 15, 59, 0));
    CHECK_INT(cf_time_last_allowed(&w, cf_test_utc_ms(2026, 7, 6, 20, 0, 0), minute,
                                   cf_test_utc_ms(2026, 7, 1, 0, 0, 0), &t),
              0);
    CHECK_INT(t, cf_test_utc_ms(2026, 7, 6, 15, 59, 0));
    cf_time_hours_free(&w);
    json_decref(j_win);
}

static void test_parse_errors(void)
{
    static const char *const bad_weeks[] = {
        "{\"mon2\":[]}",
        "{\"mon\":[\"09:00-12:00\",\"11:00-13:00\"]}",
        "{\"mon\":[\"12:00-11:00\"]}",
        "{\"mon\":[\"25:00-26:00\"]}",
        "{\"mon\":[\"09:00-24:01\"]}",
        "{\"mon\":[\"9:00-12:00\"]}",
        "{\"mon\":\"09:00-12:00\"}",
        "[]",
    };
    struct cf_time_hours h;
    for (size_t i = 0; i < sizeof(bad_weeks) / sizeof(bad_weeks[0]); i++)
        CHECK_INT(hours("Europe/Moscow", bad_weeks[i], NULL, NULL, &h), CF_EINVAL);
    CHECK_INT(hours("Europe/Moscow", "{}", "[\"2026-02-30\"]", NULL, &h), CF_EINVAL);
    CHECK_INT(hours("Europe/Moscow", "{}", "[\"2026-11-01\"]", "{\"2026-11-01\":[]}", &h),
              CF_EINVAL);
    CHECK_INT(hours("Europe/Nowhere", "{}", NULL, NULL, &h), CF_EINVAL);
    json_t *j_bad = json_pack("{}");
    CHECK_INT(cf_time_windows_parse("Europe/Moscow", j_bad, &h, NULL, 0), CF_EINVAL);
    json_decref(j_bad);
}

/* RFC 2822 dates as Twilio writes them; a day the month does not have is
 * refused, not rolled on into the next month (31 February is no 3 March). */
static void test_rfc2822(void)
{
    static const struct {
        const char *s;
        int64_t want; /* -1: refused */
    } cases[] = {
        {"Sun, 25 Mar 2018 09:53:19 +0000", 1521971599000},
        {"Wed, 4 Sept 2024 10:00:00 GMT", 1725444000000},
        {"Thu, 29 Feb 2024 10:00:00 GMT", 1709200800000},
        {"Sat, 28 Feb 2026 23:59:59 +0300", 1772312399000},
        {"Tue, 31 Feb 2026 10:00:00 GMT", -1},
        {"Sun, 29 Feb 2026 10:00:00 GMT", -1},
        {"Thu, 31 Apr 2026 10:00:00 GMT", -1},
        {"Mon, 32 Mar 2026 10:00:00 GMT", -1},
        {"Mon, 0 Mar 2026 10:00:00 GMT", -1},
        {"Mon, 30 Mar 2026 24:00:00 GMT", -1},
        /* before 1970 in UTC, and an offset's minutes past 59 */
        {"Thu, 01 Jan 1970 00:30:00 +0100", -1},
        {"Sat, 28 Feb 2026 23:59:59 +0099", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = 0;
        const int rc = cf_time_parse_rfc2822(cases[i].s, &ms);
        if ((cases[i].want < 0) != (rc != 0) || (rc == 0 && ms != cases[i].want))
            fprintf(stderr, "rfc2822 '%s': %d, %lld\n", cases[i].s, rc, (long long)ms);
        CHECK_INT(rc, cases[i].want < 0 ? -1 : 0);
        if (cases[i].want >= 0)
            CHECK_INT(ms, cases[i].want);
    }
}

/* Threads loading and converting the same zones at once. */
static void *convert_many(void *arg)
{
    static const char *const zones[] = {"Asia/Tokyo", "America/Chicago", "Europe/Paris"};
    long bad = 0;
    (void)arg;
    for (int i = 0; i < 3000; i++) {
        struct cf_time_local lt;
        int64_t back = 0, t = cf_test_utc_ms(2026, 1, 1, 0, 0, 0) + (int64_t)i * 3600 * 1000;
        const char *tz = zones[i % 3];
        bad += cf_time_to_local(tz, t, &lt) != 0 || cf_time_from_local(tz, &lt, &back) != 0 ||
               (back != t && strcmp(tz, "Asia/Tokyo") == 0);
    }
    return (void *)bad;
}

static void test_threads(void)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, convert_many, NULL);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        CHECK(bad == NULL);
    }
}

int main(void)
{
    test_zone_check();
    test_dates();
    test_to_local();
    test_from_local();
    test_round_trip();
    test_rules_match_tables();
    test_open();
    test_add_working();
    test_night_shift();
    test_dst_schedules();
    test_windows();
    test_hour_start();
    test_last_allowed();
    test_parse_errors();
    test_rfc2822();
    test_threads();
    return cf_test_done();
}
