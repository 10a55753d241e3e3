/*
 * The value formats of a network document, and the members of those
 * formats: ids, IANA time zone names (read with the services' own zone
 * reader), "HH:MM-HH:MM" intervals, "YYYY-MM-DD" dates, language codes,
 * web origins and phone numbers, which must already be in canonical E.164
 * form.
 */
#include "validate_walk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/phone.h"
#include "common/time.h"
#include "validate.h"

static int valid_slug(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return 0;
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    }
    return 1;
}

int ctl_slug_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                    int required, const char **out)
{
    char child[PATH_MAX_LEN];
    int rc = ctl_string_member(v, path, j_obj, key, required, 64, out);
    if (rc != 0 || !*out)
        return rc;
    ctl_path_key(child, path, key);
    if (!valid_slug(*out))
        return ctl_fail(v, child, "expected an id of 1-64 characters from a-z, 0-9 and \"-\"");
    return 0;
}

int ctl_valid_timezone(const char *name)
{
    /* "localtime" links to the host's own zone; the other two are no
     * place's time. The rest is what the services load: their own reader
     * (which refuses, say, the "right/" zones that count leap seconds). */
    return strcmp(name, "localtime") != 0 && strcmp(name, "posixrules") != 0 &&
           strcmp(name, "Factory") != 0 && cf_time_zone_check(name) == 0;
}

int ctl_tz_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                  int required)
{
    const char *tz;
    char child[PATH_MAX_LEN];
    int rc = ctl_string_member(v, path, j_obj, key, required, 64, &tz);
    if (rc != 0 || !tz)
        return rc;
    ctl_path_key(child, path, key);
    if (!ctl_valid_timezone(tz))
        return ctl_fail(v, child,
                        "unknown time zone \"%s\"; expected an IANA name like "
                        "\"Europe/Moscow\"",
                        tz);
    return 0;
}

static int two_digits(const char *p, int *out)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
        return 0;
    *out = (p[0] - '0') * 10 + (p[1] - '0');
    return 1;
}

/* "HH:MM" -> minutes since midnight; "24:00" only when allow_24. */
static int parse_hhmm(const char *p, int allow_24, int *out)
{
    int h, m;
    if (!two_digits(p, &h) || p[2] != ':' || !two_digits(p + 3, &m))
        return 0;
    if (m > 59 || h > 24 || (h == 24 && (!allow_24 || m != 0)))
        return 0;
    *out = h * 60 + m;
    return 1;
}

/* "HH:MM-HH:MM": 1 when well-formed (start and end in minutes). */
static int parse_interval(const char *s, int *start, int *end)
{
    return strlen(s) == 11 && parse_hhmm(s, 0, start) && s[5] == '-' && parse_hhmm(s + 6, 1, end);
}

/* "YYYY-MM-DD" -> YYYYMMDD, 0 when not a real date. */
int ctl_parse_date(const char *s)
{
    int y1, y2, m, d;
    if (!s || strlen(s) != 10 || !two_digits(s, &y1) || !two_digits(s + 2, &y2) || s[4] != '-' ||
        !two_digits(s + 5, &m) || s[7] != '-' || !two_digits(s + 8, &d))
        return 0;
    int y = y1 * 100 + y2;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int max = mdays[m - 1] + (m == 2 && leap);
    if (d > max)
        return 0;
    return y * 10000 + m * 100 + d;
}

int ctl_valid_language(const char *s)
{
    size_t n = 0;
    while (s[n] >= 'a' && s[n] <= 'z')
        n++;
    if (n < 2 || n > 3)
        return 0;
    if (s[n] == '\0')
        return 1;
    return s[n] == '-' && s[n + 1] >= 'A' && s[n + 1] <= 'Z' && s[n + 2] >= 'A' &&
           s[n + 2] <= 'Z' && s[n + 3] == '\0';
}

/* What follows s's "https://" or "http://", or NULL for another scheme. */
static const char *after_scheme(const char *s)
{
    if (strncmp(s, "https://", 8) == 0)
        return s + 8;
    if (strncmp(s, "http://", 7) == 0)
        return s + 7;
    return NULL;
}

/* "https://host[:port]" or "http://host[:port]": an origin, no path. */
int ctl_valid_origin(const char *s)
{
    const char *p = after_scheme(s);
    if (!p)
        return 0;
    size_t host = 0;
    while ((p[host] >= 'a' && p[host] <= 'z') || (p[host] >= 'A' && p[host] <= 'Z') ||
           (p[host] >= '0' && p[host] <= '9') || p[host] == '.' || p[host] == '-')
        host++;
    if (host == 0 || p[0] == '.' || p[0] == '-' || p[host - 1] == '.')
        return 0;
    p += host;
    if (*p == ':') {
        size_t digits = 0;
        p++;
        while (p[digits] >= '0' && p[digits] <= '9')
            digits++;
        if (digits < 1 || digits > 5 || strtol(p, NULL, 10) > 65535)
            return 0;
        p += digits;
    }
    return *p == '\0';
}

/* An origin as a browser's Origin header gives it, which the services
 * compare as a string: ctl_valid_origin's, its host in lower case, without
 * its scheme's default port. */
int ctl_valid_browser_origin(const char *s)
{
    if (!ctl_valid_origin(s))
        return 0;
    const int https = strncmp(s, "https://", 8) == 0;
    const char *host = s + (https ? 8 : 7);
    for (const char *p = host; *p && *p != ':'; p++) {
        if (*p >= 'A' && *p <= 'Z')
            return 0;
    }
    const char *port = strchr(host, ':');
    return !port || strcmp(port + 1, https ? "443" : "80") != 0;
}

/* "http(s)://host[:port][/path][?query]": no user info, no fragment, no
 * spaces or control characters. */
int ctl_valid_http_url(const char *s)
{
    const char *p = after_scheme(s);
    if (!p)
        return 0;
    size_t authority = strcspn(p, "/?#");
    char origin[300];
    if (authority == 0 || authority > 255 || memchr(p, '@', authority))
        return 0;
    snprintf(origin, sizeof(origin), "%.*s%.*s", (int)(p - s), s, (int)authority, p);
    if (!ctl_valid_origin(origin))
        return 0;
    for (const unsigned char *q = (const unsigned char *)p + authority; *q; q++) {
        if (*q <= ' ' || *q == 0x7f || *q == '#')
            return 0;
    }
    return 1;
}

/* A phone number value at path: a string already in E.164 form. */
int ctl_check_phone(struct vctx *v, const char *path, const json_t *j_val, const char **out)
{
    char e164[CF_PHONE_MAX];
    *out = NULL;
    if (!json_is_string(j_val))
        return ctl_fail(v, path,
                        "expected a phone number string in E.164 form like \"+74950000000\"");
    const char *raw = json_string_value(j_val);
    if (cf_phone_normalize(raw, "7", e164, sizeof(e164)) != CF_PHONE_E164)
        return ctl_fail(v, path,
                        "\"%s\" is not a phone number; expected E.164 like \"+74950000000\"", raw);
    if (strcmp(raw, e164) != 0)
        return ctl_fail(v, path, "expected E.164 form \"%s\"", e164);
    *out = raw;
    return 0;
}

/* An array of "HH:MM-HH:MM", in order, not overlapping, at most as many
 * as the services read (CF_TIME_SPANS_MAX). */
int ctl_check_intervals(struct vctx *v, const char *path, const json_t *j_arr)
{
    char child[PATH_MAX_LEN];
    int prev_end = -1;
    size_t i;
    json_t *j_item;
    if (!json_is_array(j_arr))
        return ctl_fail(v, path, "expected an array of \"HH:MM-HH:MM\"");
    if (json_array_size(j_arr) > CF_TIME_SPANS_MAX)
        return ctl_fail(v, path, "at most %d intervals", CF_TIME_SPANS_MAX);
    json_array_foreach(j_arr, i, j_item)
    {
        int start, end;
        ctl_path_index(child, path, i);
        if (!json_is_string(j_item) || !parse_interval(json_string_value(j_item), &start, &end))
            return ctl_fail(v, child, "expected \"HH:MM-HH:MM\"");
        if (start >= end)
            return ctl_fail(v, child, "start must be before end");
        if (start < prev_end)
            return ctl_fail(v, child, "intervals must be in order and must not overlap");
        prev_end = end;
    }
    return 0;
}
