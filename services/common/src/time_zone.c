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
#include "time_internal.h"
#include "time_testable.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define TZIF_MAX_BYTES (1 << 20)
/* No offset is beyond +-26 h (RFC 8536 3.2), so the instant of a wall time
 * is within this of it read as UTC. */
#define OFFSET_MAX_S 93599

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
        return jan1 + rd->n - 1 + (cf_time_is_leap(year) && rd->n >= 60);
    if (rd->kind == 'N')
        return jan1 + rd->n;
    int64_t first = cf_time_days_from_civil(year, rd->m, 1);
    int first_sun0 = (cf_time_weekday(first) + 1) % 7; /* 0 Sunday, as POSIX counts */
    int64_t day = first + (rd->d - first_sun0 + 7) % 7 + (int64_t)(rd->w - 1) * 7;
    while (day >= first + cf_time_month_days(year, rd->m))
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
    cf_time_civil_from_days(cf_time_floor_div(t, DAY_S), &y, &m, &d);
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
 * empty or starting with '.': the name stays inside the zone folder.
 * (clinicflowctl refuses "localtime" and the like in a new configuration;
 * one applied before it did is still read.) */
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
const struct cf_time_zone *cf_time_zone_get(const char *tz)
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
    return cf_time_zone_get(tz) ? 0 : CF_EINVAL;
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
int32_t cf_time_zone_offset(const struct cf_time_zone *z, int64_t t)
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
 * gap, the offset before the gap (edge 0) or the gap's end (edge 1). */
static int64_t wall_to_utc(const struct cf_time_zone *z, int64_t wall, int edge)
{
    int64_t t = wall - (int64_t)2 * OFFSET_MAX_S;
    int32_t off = cf_time_zone_offset(z, t), prev_off = off;

    for (;;) {
        int64_t end = next_change(z, t);
        if (wall < t + off) /* skipped: between the last period's end and this one's start */
            return edge ? t : wall - prev_off;
        if (end == NO_TIME || wall < end + off)
            return wall - off;
        prev_off = off;
        t = end;
        off = cf_time_zone_offset(z, t);
    }
}

int64_t cf_time_zone_wall_to_utc(const struct cf_time_zone *z, int64_t wall)
{
    return wall_to_utc(z, wall, 0);
}

int64_t cf_time_zone_edge_to_utc(const struct cf_time_zone *z, int64_t wall)
{
    return wall_to_utc(z, wall, 1);
}

/* --- conversions ------------------------------------------------------------ */

static void fill_local(const struct cf_time_zone *z, int64_t ms, struct cf_time_local *out)
{
    int64_t s = cf_time_floor_div(ms, 1000);
    int32_t off = cf_time_zone_offset(z, s);
    int64_t wall = s + off, days = cf_time_floor_div(wall, DAY_S), sod = wall - days * DAY_S;

    cf_time_civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(sod / 3600);
    out->minute = (int)(sod / 60 % 60);
    out->second = (int)(sod % 60);
    out->ms = (int)(ms - s * 1000);
    out->wday = cf_time_weekday(days);
    out->utc_offset_s = off;
}

int cf_time_to_local(const char *tz, int64_t ms, struct cf_time_local *out)
{
    const struct cf_time_zone *z = cf_time_zone_get(tz);

    if (!z || ms < (SECONDS_MIN + DAY_S) * 1000 || ms >= (SECONDS_END - DAY_S) * 1000)
        return CF_EINVAL;
    fill_local(z, ms, out);
    return 0;
}

int cf_time_from_local(const char *tz, const struct cf_time_local *lt, int64_t *ms_out)
{
    const struct cf_time_zone *z = cf_time_zone_get(tz);

    if (!z || lt->year < 1 || lt->year > 9999 || lt->month < 1 || lt->month > 12 || lt->day < 1 ||
        lt->day > cf_time_month_days(lt->year, lt->month) || lt->hour < 0 || lt->hour > 23 ||
        lt->minute < 0 || lt->minute > 59 || lt->second < 0 || lt->second > 60 || lt->ms < 0 ||
        lt->ms > 999)
        return CF_EINVAL;
    int64_t wall = cf_time_days_from_civil(lt->year, lt->month, lt->day) * DAY_S +
                   (int64_t)lt->hour * 3600 + (int64_t)lt->minute * 60 + lt->second;
    *ms_out = cf_time_zone_wall_to_utc(z, wall) * 1000 + lt->ms;
    return 0;
}
