/*
 * The CloudEvents 1.0 structured envelope (proto/README.md, The envelope). Building
 * emits the members in one fixed order; parsing is strict, because every
 * envelope on our topics is written by our own code: unknown top-level
 * members, a missing required member or a wrongly typed one reject the
 * message with a reason naming the member, and the consumer sends it to the
 * DLQ. Times are kept as unix milliseconds and converted with timegm and
 * gmtime_r, never through the process time zone.
 */
#include "common/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/xmalloc.h"

#define SPECVERSION "1.0"
#define CONTENT_TYPE "application/json"
#define SOURCE_PREFIX "/clinicflow/"
#define TYPE_PREFIX "clinicflow."

void cf_event_clear(struct cf_event *ev)
{
    free(ev->source);
    free(ev->type);
    free(ev->subject);
    free(ev->networkid);
    free(ev->clinicid);
    json_decref(ev->data);
    memset(ev, 0, sizeof(*ev));
}

void cf_event_derive(struct cf_event *ev, const char *in_id, const char *kind, const char *id_extra,
                     const char *stage, const char *subject, int64_t time_ms,
                     const char *network_id, const char *clinic_id, json_t *data)
{
    const char *parts[] = {in_id, kind, id_extra};

    cf_event_clear(ev);
    cf_uuid5(parts, id_extra ? 3 : 2, ev->id);
    ev->source = cf_xasprintf(SOURCE_PREFIX "%s", stage);
    ev->type = cf_xasprintf(TYPE_PREFIX "%s", kind);
    ev->subject = cf_xstrdup(subject);
    ev->time_ms = time_ms;
    ev->networkid = cf_xstrdup(network_id);
    ev->clinicid = clinic_id ? cf_xstrdup(clinic_id) : NULL;
    ev->data = data;
}

/* Sets key to a new string; 0, or -1 if value is NULL or not UTF-8. */
static int set_string(json_t *obj, const char *key, const char *value)
{
    if (!value)
        return -1;
    return json_object_set_new(obj, key, json_string(value));
}

/*
 * New reference to the envelope object, or NULL if a required member is
 * missing or a string is not valid UTF-8. clinicid is omitted when NULL;
 * data is shared (its reference count is raised), not copied.
 */
json_t *cf_event_to_json(const struct cf_event *ev)
{
    char time_buf[32];
    json_t *j_ev = json_object();
    if (!j_ev || !ev->data)
        goto fail;
    cf_time_format(ev->time_ms, time_buf);
    if (set_string(j_ev, "specversion", SPECVERSION) || set_string(j_ev, "id", ev->id) ||
        set_string(j_ev, "source", ev->source) || set_string(j_ev, "type", ev->type) ||
        set_string(j_ev, "subject", ev->subject) || set_string(j_ev, "time", time_buf) ||
        set_string(j_ev, "datacontenttype", CONTENT_TYPE) ||
        set_string(j_ev, "networkid", ev->networkid))
        goto fail;
    if (ev->clinicid && set_string(j_ev, "clinicid", ev->clinicid))
        goto fail;
    if (json_object_set(j_ev, "data", ev->data))
        goto fail;
    return j_ev;
fail:
    json_decref(j_ev);
    return NULL;
}

/* Compact JSON text of the envelope (free() it), or NULL as cf_event_to_json. */
char *cf_event_dumps(const struct cf_event *ev)
{
    json_t *j_ev = cf_event_to_json(ev);
    if (!j_ev)
        return NULL;
    char *text = json_dumps(j_ev, JSON_COMPACT);
    json_decref(j_ev);
    return text;
}

static const char *const known_members[] = {"specversion", "id",   "source",          "type",
                                            "subject",     "time", "datacontenttype", "networkid",
                                            "clinicid",    "data"};

/*
 * The string member key of j_ev: NULL with a reason in errbuf when it is
 * absent (and required), not a string, or empty. *present tells an absent
 * optional member from an error.
 */
static const char *get_string(json_t *j_ev, const char *key, int required, int *present,
                              char *errbuf, size_t errbuf_size)
{
    json_t *j_v = json_object_get(j_ev, key);
    *present = j_v != NULL;
    if (!j_v) {
        if (required)
            snprintf(errbuf, errbuf_size, "envelope: missing member '%s'", key);
        return NULL;
    }
    if (!json_is_string(j_v)) {
        snprintf(errbuf, errbuf_size, "envelope: member '%s' is not a string", key);
        return NULL;
    }
    const char *v = json_string_value(j_v);
    if (v[0] == '\0' || strlen(v) != json_string_length(j_v)) {
        snprintf(errbuf, errbuf_size, "envelope: member '%s' is empty or has a NUL byte", key);
        return NULL;
    }
    return v;
}

static int has_prefix(const char *s, const char *prefix)
{
    size_t plen = strlen(prefix);
    return strncmp(s, prefix, plen) == 0 && s[plen] != '\0';
}

/*
 * Parses and validates one envelope. ev need not be initialized; on success
 * it owns copies of the strings and a reference to data, on failure it is
 * zeroed. Never blocks; any thread.
 */
int cf_event_parse(const void *buf, size_t len, struct cf_event *ev, char *errbuf,
                   size_t errbuf_size)
{
    json_error_t jerr;
    json_t *j_ev = NULL;
    const char *v;
    int present;
    int rc = CF_EINVAL;

    memset(ev, 0, sizeof(*ev));
    if (!buf || len == 0) {
        snprintf(errbuf, errbuf_size, "envelope: empty value");
        return CF_EINVAL;
    }
    j_ev = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j_ev) {
        snprintf(errbuf, errbuf_size, "envelope: not JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        return CF_EINVAL;
    }
    if (!json_is_object(j_ev)) {
        snprintf(errbuf, errbuf_size, "envelope: not a JSON object");
        goto out;
    }

    const char *key;
    json_t *j_member;
    json_object_foreach(j_ev, key, j_member)
    {
        size_t k = 0;
        size_t n_known = sizeof(known_members) / sizeof(known_members[0]);
        while (k < n_known && strcmp(key, known_members[k]) != 0)
            k++;
        if (k == n_known) {
            snprintf(errbuf, errbuf_size, "envelope: unknown member '%s'", key);
            goto out;
        }
    }

    if (!(v = get_string(j_ev, "specversion", 1, &present, errbuf, errbuf_size)))
        goto out;
    if (strcmp(v, SPECVERSION) != 0) {
        snprintf(errbuf, errbuf_size, "envelope: specversion must be \"" SPECVERSION "\"");
        goto out;
    }

    if (!(v = get_string(j_ev, "id", 1, &present, errbuf, errbuf_size)))
        goto out;
    if (!cf_uuid_valid(v)) {
        snprintf(errbuf, errbuf_size, "envelope: id is not a UUID");
        goto out;
    }
    memcpy(ev->id, v, CF_UUID_STR_LEN + 1);
    /* An uppercase id is the same event: compared as the database returns it. */
    cf_uuid_lower(ev->id);

    if (!(v = get_string(j_ev, "source", 1, &present, errbuf, errbuf_size)))
        goto out;
    if (!has_prefix(v, SOURCE_PREFIX)) {
        snprintf(errbuf, errbuf_size, "envelope: source must start with \"" SOURCE_PREFIX "\"");
        goto out;
    }
    ev->source = cf_xstrdup(v);

    if (!(v = get_string(j_ev, "type", 1, &present, errbuf, errbuf_size)))
        goto out;
    if (!has_prefix(v, TYPE_PREFIX)) {
        snprintf(errbuf, errbuf_size, "envelope: type must start with \"" TYPE_PREFIX "\"");
        goto out;
    }
    ev->type = cf_xstrdup(v);

    if (!(v = get_string(j_ev, "subject", 1, &present, errbuf, errbuf_size)))
        goto out;
    ev->subject = cf_xstrdup(v);

    if (!(v = get_string(j_ev, "time", 1, &present, errbuf, errbuf_size)))
        goto out;
    if (cf_time_parse(v, &ev->time_ms) != 0) {
        snprintf(errbuf, errbuf_size, "envelope: time is not an RFC 3339 timestamp");
        goto out;
    }

    if (!(v = get_string(j_ev, "networkid", 1, &present, errbuf, errbuf_size)))
        goto out;
    ev->networkid = cf_xstrdup(v);

    v = get_string(j_ev, "clinicid", 0, &present, errbuf, errbuf_size);
    if (present && !v)
        goto out;
    if (v)
        ev->clinicid = cf_xstrdup(v);

    v = get_string(j_ev, "datacontenttype", 0, &present, errbuf, errbuf_size);
    if (present && !v)
        goto out;
    if (v && strcmp(v, CONTENT_TYPE) != 0) {
        snprintf(errbuf, errbuf_size, "envelope: datacontenttype must be \"" CONTENT_TYPE "\"");
        goto out;
    }

    json_t *j_data = json_object_get(j_ev, "data");
    if (!j_data) {
        snprintf(errbuf, errbuf_size, "envelope: missing member 'data'");
        goto out;
    }
    if (!json_is_object(j_data)) {
        snprintf(errbuf, errbuf_size, "envelope: data is not an object");
        goto out;
    }
    ev->data = json_incref(j_data);
    rc = 0;

out:
    json_decref(j_ev);
    if (rc != 0)
        cf_event_clear(ev);
    return rc;
}

/* Floor division, so times before 1970 format correctly. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void cf_time_format(int64_t ms, char out[32])
{
    int64_t secs = floor_div(ms, 1000);
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
int cf_read_digits(const char **p, int n, int *out)
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

/*
 * RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm), 'T' and
 * 'Z' in either case. Fractions beyond milliseconds are truncated; a leap
 * second (:60) is accepted and lands on the next second. Returns 0 or
 * CF_EINVAL.
 */
int cf_time_parse(const char *s, int64_t *ms_out)
{
    int year, month, day, hour, minute, second, millis = 0;
    int off_h = 0, off_m = 0, off_sign = 0;
    const char *p = s;

    if (!s)
        return CF_EINVAL;
    if (cf_read_digits(&p, 4, &year) || expect(&p, '-') || cf_read_digits(&p, 2, &month) ||
        expect(&p, '-') || cf_read_digits(&p, 2, &day))
        return CF_EINVAL;
    if (*p != 'T' && *p != 't')
        return CF_EINVAL;
    p++;
    if (cf_read_digits(&p, 2, &hour) || expect(&p, ':') || cf_read_digits(&p, 2, &minute) ||
        expect(&p, ':') || cf_read_digits(&p, 2, &second))
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
        if (cf_read_digits(&p, 2, &off_h) || expect(&p, ':') || cf_read_digits(&p, 2, &off_m))
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
    *ms_out = secs * 1000 + millis;
    return 0;
}

int64_t cf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cf_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cf_json_time(const json_t *obj, const char *key)
{
    int64_t ms;
    const char *s = json_string_value(json_object_get(obj, key));
    return s && cf_time_parse(s, &ms) == 0 ? ms : -1;
}

void cf_json_set_time(json_t *obj, const char *key, int64_t ms)
{
    char buf[32];
    cf_time_format(ms, buf);
    json_object_set_new(obj, key, json_string(buf));
}
