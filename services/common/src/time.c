/*
 * Local time in named zones from the system's TZif files (RFC 8536), and
 * the schedules computed in it. The files are the same data PostgreSQL and
 * the C library use and follow Debian's tzdata updates; the ICU in Debian
 * 12 carries its own copy from 2022 (it still puts Asia/Almaty at +06).
 *
 * A zone is loaded once into an immutable struct kept for the process's
 * life in a list under zones_lock; lookups take the lock only to find it.
 * An instant's offset is a binary search in the transition table; past the
 * table's end the file's footer (a POSIX TZ rule) gives the transitions of
 * any year. Wall time to UTC walks the offset periods around the reading
 * (see cf_time_from_local in time.h for gaps and overlaps).
 */
#include "common/time.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/testable.h"
#include "common/xmalloc.h"
#include "time_testable.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define TZIF_MAX_BYTES (1 << 20)
#define DAY_S 86400
/* No offset is beyond +-26 h (RFC 8536 3.2), so the instant of a wall time
 * is within this of it read as UTC. */
#define OFFSET_MAX_S 93599
#define NO_TIME INT64_MAX
/* Seconds of 0001-01-01 and 10000-01-01 since the epoch. */
#define SECONDS_MIN (-62135596800LL)
#define SECONDS_END 253402300800LL

struct ttype {
    int32_t off;
};

/* One end of a POSIX TZ rule: Jn (kind 'J'), n ('N') or Mm.w.d ('M'),
 * at time seconds of local time. */
struct rule_date {
    char kind;
    int n, m, w, d;
    int32_t time;
};

struct rule {
    int32_t std_off, dst_off; /* local minus UTC */
    int has_dst;
    struct rule_date start, end;
};

struct cf_time_zone {
    struct cf_time_zone *next;
    char name[CF_TIME_ZONE_MAX + 1];
    int64_t *at; /* transition instants, ascending */
    uint8_t *idx;
    size_t n;
    struct ttype *types;
    size_t ntypes;
    int has_rule;
    struct rule rule;
};

static pthread_mutex_t zones_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cf_time_zone *zones;

/* --- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) -- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t cf_time_days_from_civil(int year, int month, int day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void cf_time_civil_from_days(int64_t days, int *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(yoe + era * 400 + (m <= 2));
    *month = (int)m;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* 0 Monday .. 6 Sunday (1970-01-01 was a Thursday). */
static int weekday(int64_t days)
{
    return (int)(days + 3 - floor_div(days + 3, 7) * 7);
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
    if (v[0] < 1 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > month_days(v[0], v[1]))
        return CF_EINVAL;
    *days_out = cf_time_days_from_civil(v[0], v[1], v[2]);
    return 0;
}

/* --- POSIX TZ rules (the TZif footer) ------------------------------------ */

/* Reads [+-]hh[:mm[:ss]] (hh up to max_h) at *p as seconds: 0, or -1. */
static int read_hms(const char **p, int max_h, int32_t *out)
{
    int sign = 1, part[3] = {0, 0, 0}, k = 0;

    if (**p == '+' || **p == '-')
        sign = *(*p)++ == '-' ? -1 : 1;
    for (;;) {
        int digits = 0;
        while (**p >= '0' && **p <= '9' && digits < 3) {
            part[k] = part[k] * 10 + (*(*p)++ - '0');
            digits++;
        }
        if (digits == 0 || (k > 0 && part[k] > 59))
            return -1;
        if (++k == 3 || **p != ':')
            break;
        (*p)++;
    }
    if (part[0] > max_h)
        return -1;
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return 0;
}

/* Skips a zone abbreviation: 3+ letters, or <...> with letters, digits, +, -. */
static int skip_abbr(const char **p)
{
    const char *s = *p;

    if (*s == '<') {
        while (*++s && *s != '>') {
            if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                  (*s >= '0' && *s <= '9') || *s == '+' || *s == '-'))
                return -1;
        }
        if (*s != '>' || s - *p < 4)
            return -1;
        *p = s + 1;
        return 0;
    }
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
        s++;
    if (s - *p < 3)
        return -1;
    *p = s;
    return 0;
}

static int read_int(const char **p, int lo, int hi, int *out)
{
    int v = 0, digits = 0;

    while (**p >= '0' && **p <= '9' && digits < 4) {
        v = v * 10 + (*(*p)++ - '0');
        digits++;
    }
    if (digits == 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int read_rule_date(const char **p, struct rule_date *rd)
{
    if (**p == 'J') {
        (*p)++;
        rd->kind = 'J';
        if (read_int(p, 1, 365, &rd->n) != 0)
            return -1;
    } else if (**p == 'M') {
        (*p)++;
        rd->kind = 'M';
        if (read_int(p, 1, 12, &rd->m) != 0 || *(*p)++ != '.' || read_int(p, 1, 5, &rd->w) != 0 ||
            *(*p)++ != '.' || read_int(p, 0, 6, &rd->d) != 0)
            return -1;
    } else {
        rd->kind = 'N';
        if (read_int(p, 0, 365, &rd->n) != 0)
            return -1;
    }
    rd->time = 2 * 3600;
    if (**p == '/') {
        (*p)++;
        /* RFC 8536 3.3.1 widens the hour to -167..167 */
        if (read_hms(p, 167, &rd->time) != 0)
            return -1;
    }
    return 0;
}

static int rule_parse(const char *s, struct rule *r)
{
    int32_t std, dst;

    memset(r, 0, sizeof(*r));
    if (skip_abbr(&s) != 0 || read_hms(&s, 24, &std) != 0)
        return -1;
    r->std_off = -std; /* POSIX counts hours west */
    if (*s == '\0') {
        r->dst_off = r->std_off;
        return 0;
    }
    if (skip_abbr(&s) != 0)
        return -1;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (read_hms(&s, 24, &dst) != 0)
            return -1;
        r->dst_off = -dst;
    }
    /* A footer with DST always carries its rule; the POSIX default rule is
     * a US one nobody should get by accident. */
    if (*s++ != ',' || read_rule_date(&s, &r->start) != 0 || *s++ != ',' ||
        read_rule_date(&s, &r->end) != 0 || *s != '\0')
        return -1;
    r->has_dst = 1;
    return 0;
}

static int64_t rule_day(const struct rule_date *rd, int year)
{
    int64_t jan1 = cf_time_days_from_civil(year, 1, 1);

    if (rd->kind == 'J')
        return jan1 + rd->n - 1 + (is_leap(year) && rd->n >= 60);
    if (rd->kind == 'N')
        return jan1 + rd->n;
    int64_t first = cf_time_days_from_civil(year, rd->m, 1);
    int first_sun0 = (weekday(first) + 1) % 7; /* 0 Sunday, as POSIX counts */
    int64_t day = first + (rd->d - first_sun0 + 7) % 7 + (int64_t)(rd->w - 1) * 7;
    while (day >= first + month_days(year, rd->m))
        day -= 7;
    return day;
}

/* The rule's two transitions of year y, in UTC seconds: DST starts at
 * out[0] and ends at out[1]. */
static void rule_year(const struct rule *r, int year, int64_t out[2])
{
    out[0] = rule_day(&r->start, year) * DAY_S + r->start.time - r->std_off;
    out[1] = rule_day(&r->end, year) * DAY_S + r->end.time - r->dst_off;
}

static int year_of(int64_t t)
{
    int y, m, d;
    cf_time_civil_from_days(floor_div(t, DAY_S), &y, &m, &d);
    return y;
}

/* The rule's offset at t: that after its last transition <= t. */
static int32_t rule_offset(const struct rule *r, int64_t t)
{
    int64_t best = NO_TIME;
    int32_t off = r->std_off;

    if (!r->has_dst)
        return r->std_off;
    for (int y = year_of(t) - 1; y <= year_of(t) + 1; y++) {
        int64_t tr[2];
        rule_year(r, y, tr);
        for (int k = 0; k < 2; k++) {
            if (tr[k] <= t && (best == NO_TIME || tr[k] >= best)) {
                best = tr[k];
                off = k == 0 ? r->dst_off : r->std_off;
            }
        }
    }
    return off;
}

/* The rule's first transition after t, or NO_TIME. */
static int64_t rule_next(const struct rule *r, int64_t t)
{
    int64_t best = NO_TIME;

    if (!r->has_dst)
        return NO_TIME;
    for (int y = year_of(t) - 1; y <= year_of(t) + 1; y++) {
        int64_t tr[2];
        rule_year(r, y, tr);
        for (int k = 0; k < 2; k++) {
            if (tr[k] > t && tr[k] < best)
                best = tr[k];
        }
    }
    return best;
}

/* --- TZif files ---------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void zone_free(struct cf_time_zone *z)
{
    if (!z)
        return;
    free(z->at);
    free(z->idx);
    free(z->types);
    free(z);
}

/* Parses a TZif file of len bytes into a new zone, or NULL (reason in
 * errbuf). Only the 64-bit block of version 2+ files is used; version 1
 * files are read from their 32-bit block. Leap-second zones ("right/")
 * are refused: their clock is not UTC's. */
static struct cf_time_zone *tzif_parse(const unsigned char *buf, size_t len, char *errbuf,
                                       size_t errbuf_size)
{
    struct cf_time_zone *z = NULL;
    size_t off = 0, tsize = 4;
    uint32_t cnt[6]; /* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */

    for (int pass = 0; pass < 2; pass++) {
        if (len - off < 44 || memcmp(buf + off, "TZif", 4) != 0) {
            cf_seterr(errbuf, errbuf_size, "not a TZif file");
            return NULL;
        }
        char version = (char)buf[off + 4];
        for (int i = 0; i < 6; i++)
            cnt[i] = be32(buf + off + 20 + (size_t)4 * i);
        if (cnt[3] > 100000 || cnt[4] == 0 || cnt[4] > 256 || cnt[5] > 65536 || cnt[2] > 10000 ||
            (cnt[0] != 0 && cnt[0] != cnt[4]) || (cnt[1] != 0 && cnt[1] != cnt[4])) {
            cf_seterr(errbuf, errbuf_size, "TZif header counts out of range");
            return NULL;
        }
        size_t data = (size_t)cnt[3] * (tsize + 1) + (size_t)cnt[4] * 6 + cnt[5] +
                      (size_t)cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
        if (len - off - 44 < data) {
            cf_seterr(errbuf, errbuf_size, "TZif file truncated");
            return NULL;
        }
        if (pass == 1 || version < '2')
            break;
        off += 44 + data; /* skip the 32-bit block */
        tsize = 8;
    }
    if (cnt[2] != 0) {
        cf_seterr(errbuf, errbuf_size, "zones with leap seconds are not supported");
        return NULL;
    }

    z = cf_xcalloc(1, sizeof(*z));
    z->n = cnt[3];
    z->ntypes = cnt[4];
    z->at = cf_xcalloc(z->n ? z->n : 1, sizeof(*z->at));
    z->idx = cf_xcalloc(z->n ? z->n : 1, 1);
    z->types = cf_xcalloc(z->ntypes, sizeof(*z->types));
    const unsigned char *p = buf + off + 44;
    for (size_t i = 0; i < z->n; i++, p += tsize) {
        z->at[i] = tsize == 8 ? (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4))
                              : (int64_t)(int32_t)be32(p);
        if (i > 0 && z->at[i] <= z->at[i - 1]) {
            cf_seterr(errbuf, errbuf_size, "TZif transitions out of order");
            goto fail;
        }
    }
    for (size_t i = 0; i < z->n; i++, p++) {
        z->idx[i] = *p;
        if (*p >= z->ntypes) {
            cf_seterr(errbuf, errbuf_size, "TZif transition names no type");
            goto fail;
        }
    }
    for (size_t i = 0; i < z->ntypes; i++, p += 6) {
        z->types[i].off = (int32_t)be32(p);
        if (z->types[i].off < -OFFSET_MAX_S || z->types[i].off > OFFSET_MAX_S) {
            cf_seterr(errbuf, errbuf_size, "TZif offset out of range");
            goto fail;
        }
    }
    p += cnt[5] + cnt[1] + cnt[0];

    /* The footer: "\n<POSIX TZ>\n". Without one (or one we cannot read)
     * the last type holds for ever. */
    if (tsize == 8 && p < buf + len && *p == '\n') {
        const unsigned char *end = memchr(p + 1, '\n', (size_t)(buf + len - p - 1));
        if (end && end - p - 1 < 128 && end > p + 1) {
            char tzs[128];
            memcpy(tzs, p + 1, (size_t)(end - p - 1));
            tzs[end - p - 1] = '\0';
            z->has_rule = rule_parse(tzs, &z->rule) == 0;
        }
    }
    return z;
fail:
    zone_free(z);
    return NULL;
}

/* Letters, digits, '_', '-', '+', '/' in Area/Location parts; no part
 * empty or starting with '.': the name stays inside the zone folder. */
static int zone_name_ok(const char *tz)
{
    size_t n = strlen(tz);

    if (n == 0 || n > CF_TIME_ZONE_MAX || tz[0] == '/' || tz[n - 1] == '/')
        return 0;
    for (const char *p = tz; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return 0;
        if (*p == '/' && p[1] == '/')
            return 0;
    }
    return 1;
}

static struct cf_time_zone *zone_load(const char *tz)
{
    char path[sizeof(ZONEINFO_DIR) + CF_TIME_ZONE_MAX + 1];
    unsigned char *buf = NULL;
    struct cf_time_zone *z = NULL;
    struct stat st;
    size_t got = 0;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", ZONEINFO_DIR, tz);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TZIF_MAX_BYTES)
        goto out;
    buf = cf_xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    z = tzif_parse(buf, got, NULL, 0);
    if (z)
        snprintf(z->name, sizeof(z->name), "%s", tz);
out:
    free(buf);
    close(fd);
    return z;
}

/* The zone named tz, loaded on first use; NULL when unknown. The result
 * lives as long as the process. */
static const struct cf_time_zone *zone_get(const char *tz)
{
    struct cf_time_zone *z;

    if (!tz || !zone_name_ok(tz))
        return NULL;
    pthread_mutex_lock(&zones_lock);
    for (z = zones; z; z = z->next) {
        if (strcmp(z->name, tz) == 0)
            break;
    }
    /* Loaded under the lock: a zone is read once, and only names that
     * exist as files are ever kept, so the list stays small. */
    if (!z && (z = zone_load(tz)) != NULL) {
        z->next = zones;
        zones = z;
    }
    pthread_mutex_unlock(&zones_lock);
    return z;
}

#ifdef CF_UNIT_TEST
CF_TESTABLE int time_zone_add_rule(const char *name, const char *posix_tz)
{
    struct cf_time_zone *z = cf_xcalloc(1, sizeof(*z));

    if (!zone_name_ok(name) || rule_parse(posix_tz, &z->rule) != 0) {
        free(z);
        return CF_EINVAL;
    }
    snprintf(z->name, sizeof(z->name), "%s", name);
    z->has_rule = 1;
    z->ntypes = 1;
    z->types = cf_xcalloc(1, sizeof(*z->types));
    z->types[0].off = z->rule.std_off;
    pthread_mutex_lock(&zones_lock);
    z->next = zones;
    zones = z;
    pthread_mutex_unlock(&zones_lock);
    return 0;
}
#endif

int cf_time_zone_check(const char *tz)
{
    return zone_get(tz) ? 0 : CF_EINVAL;
}

/* --- offsets --------------------------------------------------------------- */

/* The index of the last transition <= t, or -1 when t precedes them all. */
static long last_at_or_before(const struct cf_time_zone *z, int64_t t)
{
    size_t lo = 0, hi = z->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (long)lo - 1;
}

/* Local minus UTC at instant t (seconds). Before the first transition the
 * first type holds (RFC 8536 3.2); after the last, the footer's rule. */
static int32_t offset_at(const struct cf_time_zone *z, int64_t t)
{
    long i = last_at_or_before(z, t);

    if (z->has_rule && (z->n == 0 || i == (long)z->n - 1))
        return rule_offset(&z->rule, t);
    return z->types[i < 0 ? 0 : z->idx[i]].off;
}

/* The first transition after t, or NO_TIME. */
static int64_t next_change(const struct cf_time_zone *z, int64_t t)
{
    long i = last_at_or_before(z, t);

    if (i + 1 < (long)z->n)
        return z->at[i + 1];
    return z->has_rule ? rule_next(&z->rule, t) : NO_TIME;
}

/* The instant (seconds) of wall time `wall` (local seconds since the epoch
 * as if UTC): the earliest period whose wall-clock range holds it; in a
 * gap, the offset before the gap. */
static int64_t wall_to_utc(const struct cf_time_zone *z, int64_t wall)
{
    int64_t t = wall - (int64_t)2 * OFFSET_MAX_S;
    int32_t off = offset_at(z, t), prev_off = off;

    for (;;) {
        int64_t end = next_change(z, t);
        if (wall < t + off) /* skipped: between the last period's end and this one's start */
            return wall - prev_off;
        if (end == NO_TIME || wall < end + off)
            return wall - off;
        prev_off = off;
        t = end;
        off = offset_at(z, t);
    }
}

/* --- conversions ------------------------------------------------------------ */

static void fill_local(const struct cf_time_zone *z, int64_t ms, struct cf_time_local *out)
{
    int64_t s = floor_div(ms, 1000);
    int32_t off = offset_at(z, s);
    int64_t wall = s + off, days = floor_div(wall, DAY_S), sod = wall - days * DAY_S;

    cf_time_civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(sod / 3600);
    out->minute = (int)(sod / 60 % 60);
    out->second = (int)(sod % 60);
    out->ms = (int)(ms - s * 1000);
    out->wday = weekday(days);
    out->utc_offset_s = off;
}

int cf_time_to_local(const char *tz, int64_t ms, struct cf_time_local *out)
{
    const struct cf_time_zone *z = zone_get(tz);

    if (!z || ms < (SECONDS_MIN + DAY_S) * 1000 || ms >= (SECONDS_END - DAY_S) * 1000)
        return CF_EINVAL;
    fill_local(z, ms, out);
    return 0;
}

int cf_time_from_local(const char *tz, const struct cf_time_local *lt, int64_t *ms_out)
{
    const struct cf_time_zone *z = zone_get(tz);

    if (!z || lt->year < 1 || lt->year > 9999 || lt->month < 1 || lt->month > 12 || lt->day < 1 ||
        lt->day > month_days(lt->year, lt->month) || lt->hour < 0 || lt->hour > 23 ||
        lt->minute < 0 || lt->minute > 59 || lt->second < 0 || lt->second > 60 || lt->ms < 0 ||
        lt->ms > 999)
        return CF_EINVAL;
    int64_t wall = cf_time_days_from_civil(lt->year, lt->month, lt->day) * DAY_S +
                   (int64_t)lt->hour * 3600 + (int64_t)lt->minute * 60 + lt->second;
    *ms_out = wall_to_utc(z, wall) * 1000 + lt->ms;
    return 0;
}

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
    if (!(out->zone = zone_get(tz))) {
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
    json_t *j_default = NULL, *j_week = json_object();
    int rc;

    if (!j_windows)
        j_windows = j_default = json_pack("[ss]", "10:00-18:00", "20:00-21:00");
    if (!json_is_array(j_windows)) {
        cf_seterr(errbuf, errbuf_size, "calling windows: expected an array of \"HH:MM-HH:MM\"");
        json_decref(j_week);
        return CF_EINVAL;
    }
    for (int d = 0; d < 7; d++) {
        static const char *const names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
        json_object_set(j_week, names[d], (json_t *)j_windows);
    }
    rc = cf_time_hours_parse(tz, j_week, NULL, NULL, out, errbuf, errbuf_size);
    json_decref(j_week);
    json_decref(j_default);
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
    return e ? &e->day : &h->week[weekday(date)];
}

/* Span k of local date `date` as UTC milliseconds [*s, *e). */
static void span_utc(const struct cf_time_hours *h, int64_t date, const struct cf_time_span *sp,
                     int64_t *s, int64_t *e)
{
    *s = wall_to_utc(h->zone, date * DAY_S + (int64_t)sp->start * 60) * 1000;
    *e = wall_to_utc(h->zone, date * DAY_S + (int64_t)sp->end * 60) * 1000;
    if (*e < *s) /* cannot happen with ordered spans; kept empty if it did */
        *e = *s;
}

/* The local date at instant ms. */
static int64_t local_date(const struct cf_time_hours *h, int64_t ms)
{
    int64_t s = floor_div(ms, 1000);
    return floor_div(s + offset_at(h->zone, s), DAY_S);
}

/* 1 if at lies in the years the schedules take (1..9999, a day's margin
 * either side), so the date arithmetic cannot overflow. */
static int in_range(int64_t at)
{
    return at >= (SECONDS_MIN + DAY_S) * 1000 && at < (SECONDS_END - DAY_S) * 1000;
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

int cf_time_next_open(const struct cf_time_hours *h, int64_t at, int64_t *out)
{
    if (!in_range(at))
        return CF_ENOTFOUND;
    int64_t today = local_date(h, at);
    /* Closed days in a row are at most the holidays plus a closed week,
     * unless only extra dates open: then up to the last of them. */
    int64_t last = today + 8 + (int64_t)h->n_holidays;

    if (h->n_extra > 0 && h->extra[h->n_extra - 1].date > last)
        last = h->extra[h->n_extra - 1].date;
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
    for (int64_t date = local_date(h, a) - 1, last = local_date(h, b); date <= last; date++) {
        const struct cf_time_day *day = day_of(h, date);
        for (int k = 0; k < day->n; k++) {
            int64_t s, e;
            span_utc(h, date, &day->spans[k], &s, &e);
            if (s < a)
                s = a;
            if (e > b)
                e = b;
            if (e > s)
                total += e - s;
        }
    }
    return total / 1000;
}
