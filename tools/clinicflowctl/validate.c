/*
 * The network document validator. It walks the document once, top to
 * bottom, carrying the JSON path of the value being checked, and stops at
 * the first problem with "<path>: <reason>". Every object is checked against
 * its list of allowed members first, so a misspelt optional member is
 * reported as unknown instead of being ignored. Cross references (clinic
 * ids, numbers used twice, overlapping tracking periods) are checked with
 * small linear "seen" lists: a network document has at most a few thousand
 * entries, so quadratic scans cost nothing and keep the code plain. Phone
 * numbers must already be in canonical E.164 form, so that services can
 * compare stored numbers byte for byte.
 */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/err.h"
#include "common/phone.h"
#include "common/xmalloc.h"
#include "calls.h" /* calls_proxies_parse: the service's own reading of allowed_sources */

#define PATH_MAX_LEN 256
#define ZONEINFO_DIR "/usr/share/zoneinfo"

struct seen_entry {
    char *key;
    char path[PATH_MAX_LEN];
    int from, to; /* tracking periods as YYYYMMDD; to = 99991231 when open */
};

struct seen {
    struct seen_entry *v;
    size_t n, cap;
};

struct vctx {
    char *errbuf;
    size_t errbuf_size;
    struct seen clinics;      /* clinic ids */
    struct seen channels;     /* channel ids */
    struct seen channel_nums; /* numbers mapped by telephony channels */
    struct seen tracking;     /* tracking numbers with periods */
    struct seen pool_ids;
    struct seen pool_nums; /* numbers of dynamic pools */
    struct seen blocked;
    struct seen agents;        /* "provider id clinic" of the agents map */
    struct seen staff_numbers; /* "number clinic" of the staff numbers map */
};

static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};

__attribute__((format(printf, 3, 4))) static int fail(struct vctx *v, const char *path,
                                                      const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(v->errbuf, v->errbuf_size, "%s: %s", path, reason);
    return CF_EINVAL;
}

static void seen_add(struct seen *s, const char *key, const char *path, int from, int to)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = cf_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    struct seen_entry *e = &s->v[s->n++];
    e->key = cf_xstrdup(key);
    snprintf(e->path, sizeof(e->path), "%s", path);
    e->from = from;
    e->to = to;
}

static const struct seen_entry *seen_find(const struct seen *s, const char *key)
{
    if (!key)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].key, key) == 0)
            return &s->v[i];
    }
    return NULL;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].key);
    free(s->v);
}

/* ---- paths ---- */

static int is_identifier(const char *key)
{
    if (!((*key >= 'a' && *key <= 'z') || (*key >= 'A' && *key <= 'Z') || *key == '_'))
        return 0;
    for (const char *p = key; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    }
    return 1;
}

static void path_key(char out[PATH_MAX_LEN], const char *path, const char *key)
{
    if (is_identifier(key))
        snprintf(out, PATH_MAX_LEN, "%s.%s", path, key);
    else
        snprintf(out, PATH_MAX_LEN, "%s[\"%s\"]", path, key);
}

static void path_index(char out[PATH_MAX_LEN], const char *path, size_t i)
{
    /* A path too long for the buffer is cut; it is only for messages. */
    if (snprintf(out, PATH_MAX_LEN, "%s[%zu]", path, i) >= PATH_MAX_LEN)
        out[PATH_MAX_LEN - 1] = '\0';
}

/* ---- scalar formats ---- */

static int in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++) {
        if (strcmp(s, list[i]) == 0)
            return 1;
    }
    return 0;
}

static void join_list(char *out, size_t out_size, const char *const *list)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; list && list[i] && used < out_size; i++) {
        int w = snprintf(out + used, out_size - used, "%s%s", i ? ", " : "", list[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

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

int ctl_valid_timezone(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '/' || name[0] == '.')
        return 0;
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return 0;
        if (*p == '/' && (p[1] == '.' || p[1] == '/' || p[1] == '\0'))
            return 0;
    }
    char file[128];
    snprintf(file, sizeof(file), "%s/%s", ZONEINFO_DIR, name);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    char magic[4] = {0};
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read(fd, magic, 4) == 4 &&
             memcmp(magic, "TZif", 4) == 0;
    close(fd);
    return ok;
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
static int parse_date(const char *s)
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

static int valid_language(const char *s)
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

/* "https://host[:port]" or "http://host[:port]": an origin, no path. */
static int valid_origin(const char *s)
{
    const char *p;
    if (strncmp(s, "https://", 8) == 0)
        p = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        p = s + 7;
    else
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

/* ---- structural helpers ---- */

static int check_members(struct vctx *v, const char *path, const json_t *j_obj,
                         const char *const *allowed)
{
    const char *key;
    json_t *j_val;
    json_object_foreach((json_t *)j_obj, key, j_val)
    {
        if (!in_list(key, allowed)) {
            char child[PATH_MAX_LEN];
            path_key(child, path, key);
            return fail(v, child, "unknown member");
        }
    }
    return 0;
}

/* Fetches member key of j_obj; a missing required member is an error, a
 * missing optional one leaves *out NULL. */
static int member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                  int required, json_t **out)
{
    *out = json_object_get(j_obj, key);
    if (!*out && required)
        return fail(v, path, "missing member \"%s\"", key);
    return 0;
}

/* A string member: non-empty, at most maxlen bytes. */
static int string_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                         int required, size_t maxlen, const char **out)
{
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc = member(v, path, j_obj, key, required, &j_val);
    *out = NULL;
    if (rc != 0 || !j_val)
        return rc;
    path_key(child, path, key);
    if (!json_is_string(j_val))
        return fail(v, child, "expected a string");
    if (json_string_length(j_val) == 0)
        return fail(v, child, "must not be empty");
    if (json_string_length(j_val) > maxlen)
        return fail(v, child, "longer than %zu characters", maxlen);
    if (strlen(json_string_value(j_val)) != json_string_length(j_val))
        return fail(v, child, "must not contain NUL characters");
    *out = json_string_value(j_val);
    return 0;
}

static int slug_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                       int required, const char **out)
{
    char child[PATH_MAX_LEN];
    int rc = string_member(v, path, j_obj, key, required, 64, out);
    if (rc != 0 || !*out)
        return rc;
    path_key(child, path, key);
    if (!valid_slug(*out))
        return fail(v, child, "expected an id of 1-64 characters from a-z, 0-9 and \"-\"");
    return 0;
}

static int tz_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                     int required)
{
    const char *tz;
    char child[PATH_MAX_LEN];
    int rc = string_member(v, path, j_obj, key, required, 64, &tz);
    if (rc != 0 || !tz)
        return rc;
    path_key(child, path, key);
    if (!ctl_valid_timezone(tz))
        return fail(v, child,
                    "unknown time zone \"%s\"; expected an IANA name like "
                    "\"Europe/Moscow\"",
                    tz);
    return 0;
}

/* A phone number value at path: a string already in E.164 form. */
static int check_phone(struct vctx *v, const char *path, const json_t *j_val, const char **out)
{
    char e164[CF_PHONE_MAX];
    *out = NULL;
    if (!json_is_string(j_val))
        return fail(v, path, "expected a phone number string in E.164 form like \"+74950000000\"");
    const char *raw = json_string_value(j_val);
    if (cf_phone_normalize(raw, "7", e164, sizeof(e164)) != CF_PHONE_E164)
        return fail(v, path, "\"%s\" is not a phone number; expected E.164 like \"+74950000000\"",
                    raw);
    if (strcmp(raw, e164) != 0)
        return fail(v, path, "expected E.164 form \"%s\"", e164);
    *out = raw;
    return 0;
}

static int check_clinic_ref(struct vctx *v, const char *path, const char *clinic_id)
{
    if (!seen_find(&v->clinics, clinic_id))
        return fail(v, path, "unknown clinic \"%s\"", clinic_id);
    return 0;
}

/* An array of "HH:MM-HH:MM", in order, not overlapping. */
static int check_intervals(struct vctx *v, const char *path, const json_t *j_arr)
{
    char child[PATH_MAX_LEN];
    int prev_end = -1;
    size_t i;
    json_t *j_item;
    if (!json_is_array(j_arr))
        return fail(v, path, "expected an array of \"HH:MM-HH:MM\"");
    json_array_foreach(j_arr, i, j_item)
    {
        int start, end;
        path_index(child, path, i);
        if (!json_is_string(j_item) || !parse_interval(json_string_value(j_item), &start, &end))
            return fail(v, child, "expected \"HH:MM-HH:MM\"");
        if (start >= end)
            return fail(v, child, "start must be before end");
        if (start < prev_end)
            return fail(v, child, "intervals must be in order and must not overlap");
        prev_end = end;
    }
    return 0;
}

/* ---- sections ---- */

static int check_working_hours(struct vctx *v, const char *path, const json_t *j_hours)
{
    const char *key;
    json_t *j_day;
    char child[PATH_MAX_LEN];
    if (!json_is_object(j_hours))
        return fail(v, path, "expected an object with members mon..sun");
    json_object_foreach((json_t *)j_hours, key, j_day)
    {
        path_key(child, path, key);
        if (!in_list(key, days))
            return fail(v, child, "unknown day; expected one of mon, tue, wed, thu, fri, sat, sun");
        int rc = check_intervals(v, child, j_day);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int check_holidays(struct vctx *v, const char *path, const json_t *j_arr)
{
    char child[PATH_MAX_LEN];
    size_t i;
    json_t *j_item;
    if (!json_is_array(j_arr))
        return fail(v, path, "expected an array of dates \"YYYY-MM-DD\"");
    json_array_foreach(j_arr, i, j_item)
    {
        path_index(child, path, i);
        if (!json_is_string(j_item) || !parse_date(json_string_value(j_item)))
            return fail(v, child, "expected a date \"YYYY-MM-DD\"");
        for (size_t k = 0; k < i; k++) {
            if (json_equal(json_array_get(j_arr, k), j_item))
                return fail(v, child, "duplicate date");
        }
    }
    return 0;
}

static int check_string_array(struct vctx *v, const char *path, const json_t *j_arr,
                              int (*valid)(const char *), const char *expected, int nonempty)
{
    char child[PATH_MAX_LEN];
    size_t i;
    json_t *j_item;
    if (!json_is_array(j_arr) || (nonempty && json_array_size(j_arr) == 0))
        return fail(v, path, "expected %s array of strings", nonempty ? "a non-empty" : "an");
    json_array_foreach(j_arr, i, j_item)
    {
        path_index(child, path, i);
        if (!json_is_string(j_item) || !valid(json_string_value(j_item)))
            return fail(v, child, "expected %s", expected);
        for (size_t k = 0; k < i; k++) {
            if (json_equal(json_array_get(j_arr, k), j_item))
                return fail(v, child, "duplicate value");
        }
    }
    return 0;
}

static int check_clinic(struct vctx *v, const char *path, const json_t *j_clinic)
{
    static const char *const allowed[] = {
        "id",       "name",      "address",         "timezone",      "working_hours",
        "holidays", "languages", "calling_windows", "default_phone", "cors_origins",
        NULL};
    const char *id, *s;
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc;

    if (!json_is_object(j_clinic))
        return fail(v, path, "expected an object");
    if ((rc = check_members(v, path, j_clinic, allowed)) != 0 ||
        (rc = slug_member(v, path, j_clinic, "id", 1, &id)) != 0)
        return rc;
    const struct seen_entry *dup = seen_find(&v->clinics, id);
    path_key(child, path, "id");
    if (dup)
        return fail(v, child, "duplicate clinic id \"%s\" (also at %s)", id, dup->path);
    seen_add(&v->clinics, id, path, 0, 0);
    if ((rc = string_member(v, path, j_clinic, "name", 1, 200, &s)) != 0 ||
        (rc = string_member(v, path, j_clinic, "address", 1, 500, &s)) != 0 ||
        (rc = tz_member(v, path, j_clinic, "timezone", 1)) != 0)
        return rc;

    if ((rc = member(v, path, j_clinic, "working_hours", 1, &j_val)) != 0)
        return rc;
    path_key(child, path, "working_hours");
    if ((rc = check_working_hours(v, child, j_val)) != 0)
        return rc;

    if ((rc = member(v, path, j_clinic, "holidays", 0, &j_val)) != 0)
        return rc;
    path_key(child, path, "holidays");
    if (j_val && (rc = check_holidays(v, child, j_val)) != 0)
        return rc;

    if ((rc = member(v, path, j_clinic, "calling_windows", 0, &j_val)) != 0)
        return rc;
    path_key(child, path, "calling_windows");
    if (j_val && (rc = check_intervals(v, child, j_val)) != 0)
        return rc;

    if ((rc = member(v, path, j_clinic, "languages", 0, &j_val)) != 0)
        return rc;
    path_key(child, path, "languages");
    if (j_val && (rc = check_string_array(v, child, j_val, valid_language,
                                          "a language code like \"ru\"", 1)) != 0)
        return rc;

    if ((rc = member(v, path, j_clinic, "default_phone", 1, &j_val)) != 0)
        return rc;
    path_key(child, path, "default_phone");
    if ((rc = check_phone(v, child, j_val, &s)) != 0)
        return rc;

    if ((rc = member(v, path, j_clinic, "cors_origins", 0, &j_val)) != 0)
        return rc;
    path_key(child, path, "cors_origins");
    if (j_val && (rc = check_string_array(v, child, j_val, valid_origin,
                                          "an origin like \"https://clinic.example\"", 0)) != 0)
        return rc;
    return 0;
}

/* Channel providers and the credentials each one defines (PROVIDERS.md). */
struct provider_spec {
    const char *kind;
    const char *provider;
    const char *required[3];
    const char *optional[3];
};

static const struct provider_spec providers[] = {
    {"telephony", "twilio", {"auth_token"}, {"account_sid"}},
    {"telephony", "asterisk", {"url_token"}, {NULL}},
    {"telephony", "mango", {"vpbx_api_key", "vpbx_api_salt"}, {NULL}},
    {"telephony", "zadarma", {"secret"}, {"key", "api_base"}},
    {"telephony", "sipuni", {"url_token"}, {NULL}},
    {"telephony", "uis", {"url_token"}, {NULL}},
    {"telephony", "generic", {NULL}, {NULL}},
    {"messenger", "telegram", {"secret_token"}, {"bot_token"}},
    {"messenger", "whatsapp", {"app_secret", "verify_token"}, {"access_token"}},
    {"messenger", "vk", {"secret"}, {"confirmation"}},
    {"messenger", "viber", {"auth_token"}, {NULL}},
    {"messenger", "instagram", {"app_secret", "verify_token"}, {"access_token"}},
    {"messenger", "email", {"url_token"}, {NULL}},
    {"form", "tilda", {"url_token"}, {"api_key"}},
    {"form", "cf7", {"url_token"}, {NULL}},
    {"form", "jivo", {"url_token"}, {NULL}},
    {"form", "generic", {NULL}, {NULL}},
};

static const char *const kinds[] = {"telephony", "messenger", "form", NULL};

static const struct provider_spec *find_provider(const char *kind, const char *provider)
{
    if (!kind || !provider)
        return NULL;
    for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        if (strcmp(providers[i].kind, kind) == 0 && strcmp(providers[i].provider, provider) == 0)
            return &providers[i];
    }
    return NULL;
}

static void providers_of(const char *kind, char *out, size_t out_size)
{
    const char *list[sizeof(providers) / sizeof(providers[0]) + 1];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        if (kind && strcmp(providers[i].kind, kind) == 0)
            list[n++] = providers[i].provider;
    }
    list[n] = NULL;
    join_list(out, out_size, list);
}

static int check_credentials(struct vctx *v, const char *path, const json_t *j_cred,
                             const struct provider_spec *spec)
{
    const char *key;
    json_t *j_val;
    char child[PATH_MAX_LEN];
    if (!json_is_object(j_cred))
        return fail(v, path, "expected an object");
    json_object_foreach((json_t *)j_cred, key, j_val)
    {
        path_key(child, path, key);
        if (!in_list(key, spec->required) && !in_list(key, spec->optional)) {
            char names[128];
            const char *all[7];
            size_t n = 0;
            for (size_t i = 0; i < 3 && spec->required[i]; i++)
                all[n++] = spec->required[i];
            for (size_t i = 0; i < 3 && spec->optional[i]; i++)
                all[n++] = spec->optional[i];
            all[n] = NULL;
            join_list(names, sizeof(names), all);
            if (n == 0)
                return fail(v, child, "unknown member; %s takes no credentials", spec->provider);
            return fail(v, child, "unknown member; %s credentials are: %s", spec->provider, names);
        }
        if (!json_is_string(j_val) || json_string_length(j_val) == 0)
            return fail(v, child, "expected a non-empty string");
    }
    for (size_t i = 0; i < 3 && spec->required[i]; i++) {
        if (!json_object_get(j_cred, spec->required[i]))
            return fail(v, path, "missing member \"%s\" (required by %s)", spec->required[i],
                        spec->provider);
    }
    if (strcmp(spec->provider, "telegram") == 0) {
        /* Telegram allows 1-256 characters A-Z a-z 0-9 _ - in the secret. */
        const char *t = json_string_value(json_object_get(j_cred, "secret_token"));
        size_t n = strlen(t);
        path_key(child, path, "secret_token");
        if (n > 256 || strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789_-") != n)
            return fail(v, child, "expected 1-256 characters from A-Z, a-z, 0-9, _ and -");
    }
    return 0;
}

static int check_channel_numbers(struct vctx *v, const char *path, const json_t *j_nums,
                                 const char *channel_path)
{
    const char *key;
    json_t *j_val;
    char child[PATH_MAX_LEN];
    if (!json_is_object(j_nums))
        return fail(v, path, "expected an object mapping E.164 numbers to clinic ids");
    json_object_foreach((json_t *)j_nums, key, j_val)
    {
        const char *num;
        json_t *j_key = json_string(key);
        path_key(child, path, key);
        int rc = check_phone(v, child, j_key, &num);
        json_decref(j_key);
        if (rc != 0)
            return rc;
        const struct seen_entry *dup = seen_find(&v->channel_nums, key);
        if (dup)
            return fail(v, child, "number is already mapped by %s", dup->path);
        seen_add(&v->channel_nums, key, channel_path, 0, 0);
        if (!json_is_string(j_val))
            return fail(v, child, "expected a clinic id");
        if ((rc = check_clinic_ref(v, child, json_string_value(j_val))) != 0)
            return rc;
    }
    return 0;
}

static int check_channel(struct vctx *v, const char *path, const json_t *j_ch)
{
    static const char *const allowed[] = {
        "id",      "kind",      "provider",  "clinic_id",       "credentials", "timezone",
        "numbers", "field_map", "staff_leg", "allowed_sources", NULL};
    const char *id, *kind, *provider, *clinic_id;
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc;

    if (!json_is_object(j_ch))
        return fail(v, path, "expected an object");
    if ((rc = check_members(v, path, j_ch, allowed)) != 0 ||
        (rc = slug_member(v, path, j_ch, "id", 1, &id)) != 0)
        return rc;
    const struct seen_entry *dup = seen_find(&v->channels, id);
    path_key(child, path, "id");
    if (dup)
        return fail(v, child, "duplicate channel id \"%s\" (also at %s)", id, dup->path);
    seen_add(&v->channels, id, path, 0, 0);

    if ((rc = string_member(v, path, j_ch, "kind", 1, 32, &kind)) != 0)
        return rc;
    path_key(child, path, "kind");
    if (!in_list(kind, kinds))
        return fail(v, child, "expected one of telephony, messenger, form");
    if ((rc = string_member(v, path, j_ch, "provider", 1, 32, &provider)) != 0)
        return rc;
    const struct provider_spec *spec = find_provider(kind, provider);
    if (!spec) {
        char names[256];
        providers_of(kind, names, sizeof(names));
        path_key(child, path, "provider");
        return fail(v, child, "unknown %s provider \"%s\"; expected one of %s", kind, provider,
                    names);
    }

    if ((rc = string_member(v, path, j_ch, "clinic_id", 0, 64, &clinic_id)) != 0)
        return rc;
    path_key(child, path, "clinic_id");
    if (clinic_id && (rc = check_clinic_ref(v, child, clinic_id)) != 0)
        return rc;

    if ((rc = member(v, path, j_ch, "credentials", spec->required[0] != NULL, &j_val)) != 0)
        return rc;
    path_key(child, path, "credentials");
    if (j_val && (rc = check_credentials(v, child, j_val, spec)) != 0)
        return rc;

    if ((rc = tz_member(v, path, j_ch, "timezone", 0)) != 0)
        return rc;

    if ((rc = member(v, path, j_ch, "numbers", 0, &j_val)) != 0)
        return rc;
    path_key(child, path, "numbers");
    if (j_val && strcmp(kind, "telephony") != 0)
        return fail(v, child, "only telephony channels map numbers to clinics");
    if (j_val && (rc = check_channel_numbers(v, child, j_val, path)) != 0)
        return rc;

    if ((rc = member(v, path, j_ch, "staff_leg", 0, &j_val)) != 0)
        return rc;
    path_key(child, path, "staff_leg");
    if (j_val && !json_is_boolean(j_val))
        return fail(v, child, "expected true or false");
    if (json_is_true(j_val) && strcmp(provider, "twilio") != 0)
        return fail(v, child, "only twilio channels have a staff leg");

    /* The provider's source addresses, read as clinicflow-calls reads them
     * (a request from elsewhere is refused) */
    if ((rc = member(v, path, j_ch, "allowed_sources", 0, &j_val)) != 0)
        return rc;
    path_key(child, path, "allowed_sources");
    if (j_val && strcmp(kind, "telephony") != 0)
        return fail(v, child, "only telephony channels have allowed sources");
    if (j_val && (!json_is_array(j_val) || json_array_size(j_val) == 0))
        return fail(v, child, "expected a non-empty array of addresses or CIDR networks");
    size_t i;
    json_t *j_src;
    json_array_foreach(j_val, i, j_src)
    {
        char src_path[PATH_MAX_LEN], errbuf[256];
        struct calls_proxies nets = {0};
        path_index(src_path, child, i);
        const char *s = json_string_value(j_src);
        const int bad = !s || !*s || strpbrk(s, ", ") ||
                        calls_proxies_parse(s, &nets, errbuf, sizeof(errbuf)) != 0;
        calls_proxies_free(&nets);
        if (bad)
            return fail(v, src_path, "expected an address or CIDR network (203.0.113.0/24)");
    }

    if ((rc = member(v, path, j_ch, "field_map", 0, &j_val)) != 0)
        return rc;
    path_key(child, path, "field_map");
    if (j_val) {
        const char *key;
        json_t *j_field;
        if (!json_is_object(j_val))
            return fail(v, child, "expected an object of strings");
        json_object_foreach(j_val, key, j_field)
        {
            char field_path[PATH_MAX_LEN];
            path_key(field_path, child, key);
            if (!json_is_string(j_field) || json_string_length(j_field) == 0)
                return fail(v, field_path, "expected a non-empty string");
        }
    }
    return 0;
}

static int check_tracking_number(struct vctx *v, const char *path, const json_t *j_tn)
{
    static const char *const allowed[] = {"number",   "clinic_id",  "source",   "medium",
                                          "campaign", "valid_from", "valid_to", NULL};
    const char *number, *s;
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc, from, to = 99991231;

    if (!json_is_object(j_tn))
        return fail(v, path, "expected an object");
    if ((rc = check_members(v, path, j_tn, allowed)) != 0 ||
        (rc = member(v, path, j_tn, "number", 1, &j_val)) != 0)
        return rc;
    path_key(child, path, "number");
    if ((rc = check_phone(v, child, j_val, &number)) != 0)
        return rc;
    if ((rc = string_member(v, path, j_tn, "clinic_id", 1, 64, &s)) != 0)
        return rc;
    path_key(child, path, "clinic_id");
    if ((rc = check_clinic_ref(v, child, s)) != 0)
        return rc;
    if ((rc = string_member(v, path, j_tn, "source", 1, 100, &s)) != 0 ||
        (rc = string_member(v, path, j_tn, "medium", 0, 100, &s)) != 0 ||
        (rc = string_member(v, path, j_tn, "campaign", 0, 200, &s)) != 0 ||
        (rc = string_member(v, path, j_tn, "valid_from", 1, 64, &s)) != 0)
        return rc;
    path_key(child, path, "valid_from");
    if (!(from = parse_date(s)))
        return fail(v, child, "expected a date \"YYYY-MM-DD\"");
    if ((rc = member(v, path, j_tn, "valid_to", 0, &j_val)) != 0)
        return rc;
    path_key(child, path, "valid_to");
    if (j_val) {
        if (!json_is_string(j_val) || !(to = parse_date(json_string_value(j_val))))
            return fail(v, child, "expected a date \"YYYY-MM-DD\"");
        if (to < from)
            return fail(v, child, "must not be before valid_from");
    }
    for (size_t i = 0; i < v->tracking.n; i++) {
        const struct seen_entry *e = &v->tracking.v[i];
        if (number && strcmp(e->key, number) == 0 && from <= e->to && e->from <= to) {
            path_key(child, path, "number");
            return fail(v, child, "%s is already tracked for an overlapping period at %s", number,
                        e->path);
        }
    }
    seen_add(&v->tracking, number, path, from, to);
    return 0;
}

static int check_pool(struct vctx *v, const char *path, const json_t *j_pool)
{
    static const char *const allowed[] = {"id", "clinic_id", "numbers", "hold_seconds", NULL};
    const char *id, *s;
    json_t *j_val, *j_num;
    char child[PATH_MAX_LEN], num_path[PATH_MAX_LEN];
    size_t i;
    int rc;

    if (!json_is_object(j_pool))
        return fail(v, path, "expected an object");
    if ((rc = check_members(v, path, j_pool, allowed)) != 0 ||
        (rc = slug_member(v, path, j_pool, "id", 1, &id)) != 0)
        return rc;
    const struct seen_entry *dup = seen_find(&v->pool_ids, id);
    path_key(child, path, "id");
    if (dup)
        return fail(v, child, "duplicate pool id \"%s\" (also at %s)", id, dup->path);
    seen_add(&v->pool_ids, id, path, 0, 0);
    if ((rc = string_member(v, path, j_pool, "clinic_id", 1, 64, &s)) != 0)
        return rc;
    path_key(child, path, "clinic_id");
    if ((rc = check_clinic_ref(v, child, s)) != 0)
        return rc;

    if ((rc = member(v, path, j_pool, "numbers", 1, &j_val)) != 0)
        return rc;
    path_key(child, path, "numbers");
    if (!json_is_array(j_val) || json_array_size(j_val) == 0)
        return fail(v, child, "expected a non-empty array of phone numbers");
    json_array_foreach(j_val, i, j_num)
    {
        const char *number;
        path_index(num_path, child, i);
        if ((rc = check_phone(v, num_path, j_num, &number)) != 0)
            return rc;
        const struct seen_entry *used = seen_find(&v->pool_nums, number);
        if (!used)
            used = seen_find(&v->tracking, number);
        if (used)
            return fail(v, num_path, "%s is already used at %s", number, used->path);
        seen_add(&v->pool_nums, number, num_path, 0, 0);
    }

    if ((rc = member(v, path, j_pool, "hold_seconds", 0, &j_val)) != 0)
        return rc;
    path_key(child, path, "hold_seconds");
    if (j_val && (!json_is_integer(j_val) || json_integer_value(j_val) < CTL_MIN_HOLD_SECONDS ||
                  json_integer_value(j_val) > CTL_MAX_HOLD_SECONDS))
        return fail(v, child, "expected an integer from %d to %d", CTL_MIN_HOLD_SECONDS,
                    CTL_MAX_HOLD_SECONDS);
    return 0;
}

static int check_blocklist(struct vctx *v, const char *path, const json_t *j_arr)
{
    char child[PATH_MAX_LEN];
    size_t i;
    json_t *j_num;
    if (!json_is_array(j_arr))
        return fail(v, path, "expected an array of phone numbers");
    json_array_foreach(j_arr, i, j_num)
    {
        const char *number;
        int rc;
        path_index(child, path, i);
        if ((rc = check_phone(v, child, j_num, &number)) != 0)
            return rc;
        const struct seen_entry *dup = seen_find(&v->blocked, number);
        if (dup)
            return fail(v, child, "duplicate number (also at %s)", dup->path);
        seen_add(&v->blocked, number, child, 0, 0);
    }
    return 0;
}

/* ---- agent groups: who answers for the call centre, who for reception ---- */

static const char *const agent_groups[] = {"call_center", "reception", NULL};

/* The members an agents or staff_numbers entry shares: group (required),
 * name, clinic_id; and the entry's duplicate key (what, clinic) in seen. */
static int check_agent_common(struct vctx *v, const char *path, const json_t *j_e,
                              struct seen *seen, const char *what, const char *dup_what)
{
    const char *group, *name, *clinic_id;
    char child[PATH_MAX_LEN], key[512];
    int rc;

    if ((rc = string_member(v, path, j_e, "group", 1, 32, &group)) != 0)
        return rc;
    path_key(child, path, "group");
    if (!in_list(group, agent_groups))
        return fail(v, child, "unknown group \"%s\"; expected one of call_center, reception",
                    group);
    if ((rc = string_member(v, path, j_e, "name", 0, 200, &name)) != 0 ||
        (rc = string_member(v, path, j_e, "clinic_id", 0, 64, &clinic_id)) != 0)
        return rc;
    path_key(child, path, "clinic_id");
    if (clinic_id && (rc = check_clinic_ref(v, child, clinic_id)) != 0)
        return rc;
    snprintf(key, sizeof(key), "%s%c%s", what, '\x1f', clinic_id ? clinic_id : "");
    const struct seen_entry *dup = seen_find(seen, key);
    if (dup)
        return fail(v, path, "duplicate %s%s%s (also at %s)", dup_what,
                    clinic_id ? " for clinic " : "", clinic_id ? clinic_id : "", dup->path);
    seen_add(seen, key, path, 0, 0);
    return 0;
}

/* {"provider", "id", "group", "name"?, "clinic_id"?}: an agent as the
 * provider reports who answered (extension, SIP login, employee id). */
static int check_agent(struct vctx *v, const char *path, const json_t *j_agent)
{
    static const char *const allowed[] = {"provider", "id", "group", "name", "clinic_id", NULL};
    const char *provider, *id;
    char child[PATH_MAX_LEN], what[256], dup_what[256];
    int rc;

    if (!json_is_object(j_agent))
        return fail(v, path, "expected an object");
    if ((rc = check_members(v, path, j_agent, allowed)) != 0 ||
        (rc = string_member(v, path, j_agent, "provider", 1, 32, &provider)) != 0)
        return rc;
    if (!find_provider("telephony", provider)) {
        char names[256];
        providers_of("telephony", names, sizeof(names));
        path_key(child, path, "provider");
        return fail(v, child, "unknown telephony provider \"%s\"; expected one of %s", provider,
                    names);
    }
    if ((rc = string_member(v, path, j_agent, "id", 1, 128, &id)) != 0)
        return rc;
    snprintf(what, sizeof(what), "%s%c%s", provider, '\x1f', id);
    snprintf(dup_what, sizeof(dup_what), "%s agent \"%.128s\"", provider, id);
    return check_agent_common(v, path, j_agent, &v->agents, what, dup_what);
}

/* {"number", "group", "name"?, "clinic_id"?}: a staff phone calls are
 * forwarded to. */
static int check_staff_number(struct vctx *v, const char *path, const json_t *j_staff)
{
    static const char *const allowed[] = {"number", "group", "name", "clinic_id", NULL};
    const char *number;
    json_t *j_val;
    char child[PATH_MAX_LEN], dup_what[64];
    int rc;

    if (!json_is_object(j_staff))
        return fail(v, path, "expected an object");
    if ((rc = check_members(v, path, j_staff, allowed)) != 0 ||
        (rc = member(v, path, j_staff, "number", 1, &j_val)) != 0)
        return rc;
    path_key(child, path, "number");
    if ((rc = check_phone(v, child, j_val, &number)) != 0)
        return rc;
    snprintf(dup_what, sizeof(dup_what), "staff number %s", number);
    return check_agent_common(v, path, j_staff, &v->staff_numbers, number, dup_what);
}

static int int_array_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                            long min, long max, const char *unit)
{
    json_t *j_val, *j_item;
    char child[PATH_MAX_LEN];
    size_t i;
    int rc = member(v, path, j_obj, key, 0, &j_val);
    if (rc != 0 || !j_val)
        return rc;
    path_key(child, path, key);
    if (!json_is_array(j_val) || json_array_size(j_val) == 0)
        return fail(v, child, "expected a non-empty array of %s from %ld to %ld", unit, min, max);
    json_array_foreach(j_val, i, j_item)
    {
        char item_path[PATH_MAX_LEN];
        path_index(item_path, child, i);
        if (!json_is_integer(j_item) || json_integer_value(j_item) < min ||
            json_integer_value(j_item) > max)
            return fail(v, item_path, "expected %s from %ld to %ld", unit, min, max);
    }
    return 0;
}

static int int_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                      long min, long max)
{
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc = member(v, path, j_obj, key, 0, &j_val);
    if (rc != 0 || !j_val)
        return rc;
    path_key(child, path, key);
    if (!json_is_integer(j_val) || json_integer_value(j_val) < min ||
        json_integer_value(j_val) > max)
        return fail(v, child, "expected an integer from %ld to %ld", min, max);
    return 0;
}

/* The reminders service owns this object; only the members named here are
 * type-checked, others are kept as they are for it to interpret. */
static int check_reminder_policies(struct vctx *v, const char *path, const json_t *j_pol)
{
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc;
    if (!json_is_object(j_pol))
        return fail(v, path, "expected an object");
    if ((rc = int_array_member(v, path, j_pol, "offsets_hours", 1, 720, "whole hours")) != 0 ||
        (rc = int_member(v, path, j_pol, "retry_minutes", 1, 1440)) != 0 ||
        (rc = int_member(v, path, j_pol, "max_attempts", 0, 10)) != 0 ||
        (rc = int_array_member(v, path, j_pol, "recall_months", 1, 60, "months")) != 0 ||
        (rc = int_member(v, path, j_pol, "nps_delay_minutes", 0, 10080)) != 0)
        return rc;
    if ((j_val = json_object_get(j_pol, "sms_fallback")) && !json_is_boolean(j_val)) {
        path_key(child, path, "sms_fallback");
        return fail(v, child, "expected true or false");
    }
    return 0;
}

static int check_array_section(struct vctx *v, const json_t *j_net, const char *key, int required,
                               int (*check)(struct vctx *, const char *, const json_t *))
{
    json_t *j_arr, *j_item;
    char path[PATH_MAX_LEN], child[PATH_MAX_LEN];
    size_t i;
    int rc = member(v, "$", j_net, key, required, &j_arr);
    if (rc != 0 || !j_arr)
        return rc;
    path_key(path, "$", key);
    if (!json_is_array(j_arr))
        return fail(v, path, "expected an array");
    json_array_foreach(j_arr, i, j_item)
    {
        path_index(child, path, i);
        if ((rc = check(v, child, j_item)) != 0)
            return rc;
    }
    return 0;
}

static int check_network(struct vctx *v, const json_t *j_net)
{
    static const char *const allowed[] = {"id",
                                          "name",
                                          "secret",
                                          "timezone",
                                          "clinics",
                                          "channels",
                                          "tracking_numbers",
                                          "number_pools",
                                          "blocklist",
                                          "reminder_policies",
                                          "agents",
                                          "staff_numbers",
                                          NULL};
    const char *s;
    json_t *j_val;
    int rc;

    if (!json_is_object(j_net))
        return fail(v, "$", "expected an object");
    if ((rc = check_members(v, "$", j_net, allowed)) != 0 ||
        (rc = slug_member(v, "$", j_net, "id", 1, &s)) != 0 ||
        (rc = string_member(v, "$", j_net, "name", 1, 200, &s)) != 0 ||
        (rc = string_member(v, "$", j_net, "secret", 1, 256, &s)) != 0)
        return rc;
    if (!s || strlen(s) < 16)
        return fail(v, "$.secret", "must be at least 16 characters");
    if ((rc = tz_member(v, "$", j_net, "timezone", 1)) != 0)
        return rc;
    /* Clinics first: every other section refers to them. */
    if ((rc = check_array_section(v, j_net, "clinics", 1, check_clinic)) != 0 ||
        (rc = check_array_section(v, j_net, "channels", 0, check_channel)) != 0 ||
        (rc = check_array_section(v, j_net, "tracking_numbers", 0, check_tracking_number)) != 0 ||
        (rc = check_array_section(v, j_net, "number_pools", 0, check_pool)) != 0)
        return rc;
    if ((rc = check_array_section(v, j_net, "agents", 0, check_agent)) != 0 ||
        (rc = check_array_section(v, j_net, "staff_numbers", 0, check_staff_number)) != 0)
        return rc;
    if ((rc = member(v, "$", j_net, "blocklist", 0, &j_val)) != 0)
        return rc;
    if (j_val && (rc = check_blocklist(v, "$.blocklist", j_val)) != 0)
        return rc;
    if ((rc = member(v, "$", j_net, "reminder_policies", 0, &j_val)) != 0)
        return rc;
    if (j_val && (rc = check_reminder_policies(v, "$.reminder_policies", j_val)) != 0)
        return rc;
    return 0;
}

int ctl_validate_network(const json_t *j_net, char *errbuf, size_t errbuf_size)
{
    struct vctx v = {.errbuf = errbuf, .errbuf_size = errbuf_size};
    if (errbuf_size > 0)
        errbuf[0] = '\0';
    int rc = check_network(&v, j_net);
    seen_free(&v.clinics);
    seen_free(&v.channels);
    seen_free(&v.channel_nums);
    seen_free(&v.tracking);
    seen_free(&v.pool_ids);
    seen_free(&v.pool_nums);
    seen_free(&v.blocked);
    seen_free(&v.agents);
    seen_free(&v.staff_numbers);
    return rc;
}
