/*
 * Time: the clocks, RFC 3339 as the events carry it, and the calendar
 * arithmetic the zones (time_zone.c) and the clinics' schedules
 * (time_hours.c) are computed with. Dates are days since 1970-01-01 in the
 * proleptic Gregorian calendar; instants are Unix milliseconds, UTC.
 */
#include "common/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "common/err.h"
#include "time_internal.h"

/* --- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) -- */

int64_t cf_time_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t cf_time_days_from_civil(int year, int month, int day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = cf_time_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void cf_time_civil_from_days(int64_t days, int *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = cf_time_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(yoe + era * 400 + (m <= 2));
    *month = (int)m;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
}

int cf_time_is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int cf_time_month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && cf_time_is_leap(y) ? 29 : days[m - 1];
}

/* 0 Monday .. 6 Sunday (1970-01-01 was a Thursday). */
int cf_time_weekday(int64_t days)
{
    return (int)(days + 3 - cf_time_floor_div(days + 3, 7) * 7);
}

int cf_time_date_parse(const char *s, int64_t *days_out)
{
    int v[3] = {0, 0, 0};
    static const int width[3] = {4, 2, 2};

    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < width[f]; i++, s++) {
            if (*s < '0' || *s > '9')
                return CF_EINVAL;
            v[f] = v[f] * 10 + (*s - '0');
        }
        if (*s != (f < 2 ? '-' : '\0'))
            return CF_EINVAL;
        s++;
    }
    if (v[0] < 1 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > cf_time_month_days(v[0], v[1]))
        return CF_EINVAL;
    *days_out = cf_time_days_from_civil(v[0], v[1], v[2]);
    return 0;
}

/* --- RFC 3339 and the clocks --------------------------------------------- */

void cf_time_format(int64_t ms, char out[32])
{
    int64_t secs = cf_time_floor_div(ms, 1000);
    int millis = (int)(ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    size_t n = 0;
    if (gmtime_r(&t, &tm))
        n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0 || n > 25) {
        /* Outside what a 32-byte RFC 3339 string can hold: the epoch. */
        n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &(struct tm){.tm_year = 70, .tm_mday = 1});
        millis = 0;
    }
    out[n++] = '.';
    out[n++] = (char)('0' + millis / 100);
    out[n++] = (char)('0' + millis / 10 % 10);
    out[n++] = (char)('0' + millis % 10);
    out[n++] = 'Z';
    out[n] = '\0';
}

/* Reads exactly n digits at *p into *out and advances *p; -1 if not digits. */
int cf_time_read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
        return 29;
    return days[month - 1];
}

/* Reads 1..max decimal digits at *p into *out and advances *p: 0, or -1. */
static int rfc2822_num(const char **p, int max, int *out)
{
    int v = 0, n = 0;

    while (n < max && **p >= '0' && **p <= '9') {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *out = v;
    return n > 0 ? 0 : -1;
}

static void rfc2822_spaces(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

/* cf_time_parse_rfc2822 (time.h). */
int cf_time_parse_rfc2822(const char *s, int64_t *ms_out)
{
    static const char *const months[] = {"january",   "february", "march",    "april",
                                         "may",       "june",     "july",     "august",
                                         "september", "october",  "november", "december"};
    const char *p = s ? strchr(s, ',') : NULL;
    int day, mon = -1, year, hh, mm, ss = 0, off = 0;
    struct tm tm = {0};

    if (!s)
        return -1;
    p = p ? p + 1 : s;
    rfc2822_spaces(&p);
    if (rfc2822_num(&p, 2, &day) != 0)
        return -1;
    rfc2822_spaces(&p);
    /* The month: its first three letters, then nothing, a '.', or more of
     * its name ("Sept" is the one abbreviation that is not a prefix cut
     * at three: it is one). */
    size_t mlen = 0;
    while ((p[mlen] >= 'a' && p[mlen] <= 'z') || (p[mlen] >= 'A' && p[mlen] <= 'Z'))
        mlen++;
    for (int i = 0; i < 12 && mlen >= 3; i++) {
        if (mlen <= strlen(months[i]) && strncasecmp(p, months[i], mlen) == 0)
            mon = i;
    }
    if (mon < 0)
        return -1;
    p += mlen;
    if (*p == '.')
        p++;
    rfc2822_spaces(&p);
    if (rfc2822_num(&p, 4, &year) != 0)
        return -1;
    rfc2822_spaces(&p);
    if (rfc2822_num(&p, 2, &hh) != 0 || *p++ != ':' || rfc2822_num(&p, 2, &mm) != 0)
        return -1;
    if (*p == ':' && (p++, rfc2822_num(&p, 2, &ss) != 0))
        return -1;
    rfc2822_spaces(&p);
    size_t zlen = strcspn(p, " \t");
    if ((*p == '+' || *p == '-') && zlen == 5 && strspn(p + 1, "0123456789") == 4 &&
        (p[3] - '0') * 10 + (p[4] - '0') <= 59) {
        off = ((p[1] - '0') * 10 + (p[2] - '0')) * 60 + (p[3] - '0') * 10 + (p[4] - '0');
        if (*p == '-')
            off = -off;
    } else if (!((zlen == 3 && (strncmp(p, "GMT", 3) == 0 || strncmp(p, "UTC", 3) == 0)) ||
                 (zlen == 2 && strncmp(p, "UT", 2) == 0) || (zlen == 1 && *p == 'Z'))) {
        return -1;
    }
    p += zlen;
    rfc2822_spaces(&p);
    /* a day the month does not have (31 February) is refused, not rolled
     * on into the next month by timegm */
    if (*p || year < 1970 || day < 1 || day > days_in_month(year, mon + 1) || hh > 23 || mm > 59 ||
        ss > 60)
        return -1;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    const int64_t secs = (int64_t)t - (int64_t)off * 60;
    if (secs < 0) /* 1 January 1970 east of Greenwich: before 1970 */
        return -1;
    *ms_out = secs * 1000;
    return 0;
}

/*
 * RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm), 'T' and
 * 'Z' in either case. Fractions beyond milliseconds are truncated; a leap
 * second (:60) is accepted and lands on the next second. A time before
 * 1970-01-01T00:00:00Z is refused. Returns 0 or CF_EINVAL.
 */
int cf_time_parse(const char *s, int64_t *ms_out)
{
    int year, month, day, hour, minute, second, millis = 0;
    int off_h = 0, off_m = 0, off_sign = 0;
    const char *p = s;

    if (!s)
        return CF_EINVAL;
    if (cf_time_read_digits(&p, 4, &year) || expect(&p, '-') ||
        cf_time_read_digits(&p, 2, &month) || expect(&p, '-') || cf_time_read_digits(&p, 2, &day))
        return CF_EINVAL;
    if (*p != 'T' && *p != 't')
        return CF_EINVAL;
    p++;
    if (cf_time_read_digits(&p, 2, &hour) || expect(&p, ':') ||
        cf_time_read_digits(&p, 2, &minute) || expect(&p, ':') ||
        cf_time_read_digits(&p, 2, &second))
        return CF_EINVAL;
    if (*p == '.') {
        p++;
        int nfrac = 0;
        while (*p >= '0' && *p <= '9') {
            if (nfrac < 3)
                millis = millis * 10 + (*p - '0');
            nfrac++;
            p++;
        }
        if (nfrac == 0)
            return CF_EINVAL;
        for (int i = nfrac; i < 3; i++)
            millis *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        off_sign = *p == '+' ? 1 : -1;
        p++;
        if (cf_time_read_digits(&p, 2, &off_h) || expect(&p, ':') ||
            cf_time_read_digits(&p, 2, &off_m))
            return CF_EINVAL;
        if (off_h > 23 || off_m > 59)
            return CF_EINVAL;
    } else {
        return CF_EINVAL;
    }
    if (*p != '\0')
        return CF_EINVAL;
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
        minute > 59 || second > 60)
        return CF_EINVAL;

    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    time_t t = timegm(&tm);
    int64_t secs = (int64_t)t - (int64_t)off_sign * (off_h * 3600 + off_m * 60);
    /* before 1970: a time no event of ours has, and one that would read as
     * "none" wherever a time is kept as Unix milliseconds (-1); after 9999
     * (an offset from the last day): one cf_time_format cannot write */
    if (secs < 0 || secs >= SECONDS_END)
        return CF_EINVAL;
    *ms_out = secs * 1000 + millis;
    return 0;
}

int64_t cf_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cf_time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cf_time_deadline(clockid_t clock, long ms, struct timespec *out)
{
    clock_gettime(clock, out);
    out->tv_sec += ms / 1000;
    out->tv_nsec += (ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

int64_t cf_time_json_get(const json_t *obj, const char *key)
{
    int64_t ms;
    const char *s = json_string_value(json_object_get(obj, key));
    return s && cf_time_parse(s, &ms) == 0 ? ms : -1;
}

void cf_time_json_set(json_t *obj, const char *key, int64_t ms)
{
    char buf[32];
    cf_time_format(ms, buf);
    json_object_set_new(obj, key, json_string(buf));
}

void cf_time_cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}
