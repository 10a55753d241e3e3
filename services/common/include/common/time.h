/*
 * Time, for every service: the clocks and RFC 3339 (time.c), local time in
 * a named IANA zone (time_zone.c), and the clinic schedules computed in it
 * (time_hours.c):
 * working hours (split shifts, holidays, extra working dates) and calling
 * windows. Every function is thread-safe and never touches the process's
 * TZ: zones are read from the system's TZif files (zoneinfo), once per zone
 * and process, into an immutable cache.
 *
 * Wall time to UTC is not a function everywhere, so two rules hold
 * throughout:
 * - a wall time that a transition skips (a DST gap: 02:30 on the spring
 *   day in New York) is read with the offset in force before the gap, so
 *   it lands as far after the transition as it is after the gap's start
 *   (02:30 -> 03:30 EDT; the PBX's clock jumped, its reading did not);
 * - a wall time that occurs twice (the overlap when clocks go back) is the
 *   earlier instant, the first occurrence.
 * A schedule's edge is not a reading but the moment the clock gets there:
 * an opening or closing time a gap skips is where the clock jumps past it
 * (a window 02:30-04:00 on that New York night opens at 03:00 EDT, and one
 * ending at 02:30 has ended then).
 */
#ifndef CF_COMMON_TIME_H
#define CF_COMMON_TIME_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

/* The longest zone name taken ("America/Argentina/ComodRivadavia" is 32). */
#define CF_TIME_ZONE_MAX 64
/* Intervals a day may hold in a schedule. */
#define CF_TIME_SPANS_MAX 8

/* A wall-clock reading. from_local reads year..ms; to_local fills all. */
struct cf_time_local {
    int year;         /* 1..9999 */
    int month;        /* 1..12 */
    int day;          /* 1..days in the month */
    int hour;         /* 0..23 */
    int minute;       /* 0..59 */
    int second;       /* 0..59; 60 (a leap second as a PBX may print it) is the next minute */
    int ms;           /* 0..999 */
    int wday;         /* out: 0 Monday .. 6 Sunday */
    int utc_offset_s; /* out: local minus UTC, seconds */
};

/* 0 if tz names a zone of the system's database (loading it), CF_EINVAL if
 * the name is malformed or unknown, or the file is not a TZif zone. */
int cf_time_zone_check(const char *tz);

/* Unix milliseconds ms as wall time in zone tz: 0, or CF_EINVAL (unknown
 * zone, or outside years 1..9999). */
int cf_time_to_local(const char *tz, int64_t ms, struct cf_time_local *out);

/* Wall time lt in zone tz to Unix milliseconds, with the gap and overlap
 * rules above: 0, or CF_EINVAL (unknown zone, a field out of range). */
int cf_time_from_local(const char *tz, const struct cf_time_local *lt, int64_t *ms_out);

/* Days since 1970-01-01 of a proleptic Gregorian date (no range check),
 * and back. */
int64_t cf_time_days_from_civil(int year, int month, int day);
void cf_time_civil_from_days(int64_t days, int *year, int *month, int *day);

/* "YYYY-MM-DD" (a real date, years 1..9999) to days since 1970-01-01: 0,
 * or CF_EINVAL. */
int cf_time_date_parse(const char *s, int64_t *days_out);

/* --- schedules ------------------------------------------------------- */

/* [start, end) in minutes since local midnight, 0 <= start < end <= 1440. */
struct cf_time_span {
    int start;
    int end;
};

/* One day's intervals, in order and not overlapping (more than one is a
 * split shift); n == 0 is closed. */
struct cf_time_day {
    struct cf_time_span spans[CF_TIME_SPANS_MAX];
    int n;
};

struct cf_time_dated {
    int64_t date; /* days since 1970-01-01 */
    struct cf_time_day day;
};

struct cf_time_zone;

/* A week of local intervals in one zone, with dates that differ from it.
 * A date in holidays is closed; a date in extra has its own intervals (a
 * working Saturday, a short day); any other date has week[its weekday].
 * An interval ending at 24:00 and one starting at 00:00 the next day join:
 * a night shift is written as the two. Built by cf_time_hours_parse or
 * cf_time_windows_parse; read-only afterwards, so threads may share it. */
struct cf_time_hours {
    const struct cf_time_zone *zone;
    struct cf_time_day week[7]; /* [0] Monday .. [6] Sunday */
    int64_t *holidays;          /* sorted */
    size_t n_holidays;
    struct cf_time_dated *extra; /* sorted by date */
    size_t n_extra;
};

/* Builds *out from the network configuration's shapes: tz an IANA name;
 * j_week {"mon": ["09:00-14:00", "15:00-21:00"], ...} (a missing day is
 * closed); j_holidays ["2026-01-01", ...] or NULL; j_extra
 * {"2026-11-01": ["10:00-15:00"], ...} or NULL. 0, or CF_EINVAL with the
 * reason in errbuf (*out then needs no free). Free with
 * cf_time_hours_free. */
int cf_time_hours_parse(const char *tz, const json_t *j_week, const json_t *j_holidays,
                        const json_t *j_extra, struct cf_time_hours *out, char *errbuf,
                        size_t errbuf_size);

/* Calling windows as a schedule: the same intervals every day, no
 * holidays. j_windows ["10:00-18:00", "20:00-21:00"], or NULL for that
 * default. 0 or CF_EINVAL, as cf_time_hours_parse. */
int cf_time_windows_parse(const char *tz, const json_t *j_windows, struct cf_time_hours *out,
                          char *errbuf, size_t errbuf_size);

void cf_time_hours_free(struct cf_time_hours *h);

/* The instant the local clock hour holding at began, in h's zone: 10:00
 * local for 10:37 in Moscow; 10:00 local (04:30 UTC) for 10:37 in Kolkata,
 * whose offset is not whole hours. Where clocks go back, the hour that
 * comes twice is two hours, each its own 60 minutes. */
int64_t cf_time_hour_start(const struct cf_time_hours *h, int64_t at);

/* 1 if the schedule is open at Unix milliseconds at, else 0. */
int cf_time_is_open(const struct cf_time_hours *h, int64_t at);

/* The first instant >= at when the schedule is open (at itself when open):
 * 0, or CF_ENOTFOUND when it never opens again. */
int cf_time_next_open(const struct cf_time_hours *h, int64_t at, int64_t *out);

/* The first instant >= at inside the calling windows w. Same as
 * cf_time_next_open; the name says what the caller asks. */
int cf_time_next_allowed(const struct cf_time_hours *w, int64_t at, int64_t *out);

/* The latest instant t in [not_before, not_after] inside the windows w
 * that leaves at least lead_ms of the same window after it (a call or a
 * message needs a moment): not_after itself when that holds there. 0, or
 * CF_ENOTFOUND when no window gives such a moment in the range. Cost is
 * linear in the days spanned. */
int cf_time_last_allowed(const struct cf_time_hours *w, int64_t not_after, int64_t lead_ms,
                         int64_t not_before, int64_t *out);

/* The instant `seconds` of open time after at: 0 with *out set, or
 * CF_ENOTFOUND when the schedule never gives that much again. Time before
 * the next opening does not count (a lead at 23:00 is due that long after
 * the clinic opens), nor do breaks, days off, holidays or an hour a DST
 * gap skips; at exactly a closing time counts from the next opening.
 * seconds 0 is cf_time_next_open. cf_time_working_seconds(h, at, *out) is
 * seconds. Cost is linear in the days spanned. */
int cf_time_add_working(const struct cf_time_hours *h, int64_t at, int64_t seconds, int64_t *out);

/* Open time in [a, b) in whole seconds (rounded down; 0 when b <= a): how
 * long a lead waited in working hours. Cost is linear in the days
 * spanned. */
int64_t cf_time_working_seconds(const struct cf_time_hours *h, int64_t a, int64_t b);

/* --- RFC 3339 and the clocks (time.c) --- */

/* RFC 3339 formatting/parsing. Parsing accepts "Z" or "+hh:mm"/"-hh:mm"
 * offsets and optional fractional seconds. */
/* The time in member key of obj as Unix ms, or -1 when it is absent or not
 * RFC 3339. */
int64_t cf_time_json_get(const json_t *obj, const char *key);
/* Sets member key of obj to the RFC 3339 form of ms. */
void cf_time_json_set(json_t *obj, const char *key, int64_t ms);
/* Reads exactly n decimal digits at *p into *out and advances *p: 0, or -1
 * (nothing moved) when they are not all digits. For parsers of fixed-width
 * times. */
int cf_time_read_digits(const char **p, int n, int *out);
void cf_time_format(int64_t ms, char out[32]);
int cf_time_parse(const char *s, int64_t *ms_out);
/* An RFC 2822 / RFC 7231 date ("Sun, 25 Mar 2018 09:53:19 +0000", "...
 * GMT") to Unix milliseconds: 0, or -1. Month names are also taken spelt
 * out or in four letters ("July", "Sept"), as Twilio's published
 * callbacks write them, and the weekday in any spelling (it is skipped). */
int cf_time_parse_rfc2822(const char *s, int64_t *ms_out);
/* Wall clock, unix milliseconds. */
int64_t cf_time_now_ms(void);
/* Monotonic clock, milliseconds: for deadlines and windows a wall-clock
 * step must not move. */
int64_t cf_time_mono_ms(void);
/* The moment ms milliseconds from now on clock (CLOCK_MONOTONIC, or
 * CLOCK_REALTIME where a wait needs it), for pthread_cond_timedwait. */
void cf_time_deadline(clockid_t clock, long ms, struct timespec *out);
/* Initializes cv to time its waits on CLOCK_MONOTONIC, the clock the
 * deadlines above are taken on for waits (a wall-clock step neither cuts
 * nor stretches them). */
void cf_time_cond_init_monotonic(pthread_cond_t *cv);

#endif
