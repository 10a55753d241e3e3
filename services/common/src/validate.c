/*
 * Table-driven validation of strict API bodies (see validate.h). Unknown
 * members are checked first so that a misspelt optional field is reported
 * as such rather than silently ignored.
 */
#include "common/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/xmalloc.h"

/* A continuation byte (10xxxxxx) never starts a character. */
static int starts_char(unsigned char c)
{
    return (c & 0xC0) != 0x80;
}

size_t cf_validate_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += (size_t)starts_char((unsigned char)s[i]);
    return n;
}

size_t cf_validate_json_chars(const json_t *v)
{
    return json_is_string(v) ? cf_validate_utf8_chars(json_string_value(v), json_string_length(v))
                             : 0;
}

size_t cf_validate_utf8_prefix(const char *s, size_t len, size_t max_chars)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        if (starts_char((unsigned char)s[i]) && chars++ == max_chars)
            return i;
    }
    return len;
}

/* The length of the UTF-8 sequence starting with lead byte c that encodes
 * code point cp's range rules (RFC 3629), or 0 when c cannot start one. */
static size_t seq_len(unsigned char c)
{
    return c < 0x80                 ? 1
           : c >= 0xC2 && c <= 0xDF ? 2
           : c >= 0xE0 && c <= 0xEF ? 3
           : c >= 0xF0 && c <= 0xF4 ? 4
                                    : 0;
}

size_t cf_validate_utf8_valid_prefix(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        const size_t n = seq_len(u[i]);
        if (n == 0 || i + n > len)
            return i;
        uint32_t cp = n == 1 ? u[i] : u[i] & (0x7Fu >> n);
        for (size_t k = 1; k < n; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (u[i + k] & 0x3Fu);
        }
        /* overlong forms, surrogates and past U+10FFFF are not UTF-8 */
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || (n == 1 && cp == 0))
            return i;
        i += n;
    }
    return len;
}

int cf_validate_cut_string(json_t *obj, const char *name, size_t max_chars)
{
    json_t *v = json_object_get(obj, name);
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    const size_t len = json_string_length(v);
    const size_t keep = cf_validate_utf8_prefix(s, len, max_chars);
    if (keep == len)
        return 0;
    json_object_set_new(obj, name, json_stringn(s, keep));
    return 1;
}

static const struct cf_field *find_field(const struct cf_field *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    }
    return NULL;
}

static int fail(const char *name, char *field, size_t field_size, char *errbuf, size_t errbuf_size,
                const char *what)
{
    snprintf(field, field_size, "%s", name);
    snprintf(errbuf, errbuf_size, "%s: %s", name, what);
    return CF_EINVAL;
}

static int check_value(const struct cf_field *f, const json_t *v, const char **what)
{
    switch (f->type) {
    case CF_FIELD_STRING: {
        if (!json_is_string(v)) {
            *what = "expected a string";
            return CF_EINVAL;
        }
        size_t len = cf_validate_json_chars(v);
        if (len < f->min_len || len > f->max_len) {
            *what = "string length out of range";
            return CF_EINVAL;
        }
        return 0;
    }
    case CF_FIELD_INT: {
        if (!json_is_integer(v)) {
            *what = "expected an integer";
            return CF_EINVAL;
        }
        json_int_t x = json_integer_value(v);
        if (x < f->min || x > f->max) {
            *what = "integer out of range";
            return CF_EINVAL;
        }
        return 0;
    }
    case CF_FIELD_TIME: {
        int64_t ms;
        if (!json_is_string(v) || cf_time_parse(json_string_value(v), &ms) != 0) {
            *what = "expected an RFC 3339 date-time";
            return CF_EINVAL;
        }
        return 0;
    }
    case CF_FIELD_ENUM: {
        if (json_is_string(v)) {
            for (const char *const *p = f->values; *p; p++) {
                if (strcmp(*p, json_string_value(v)) == 0)
                    return 0;
            }
        }
        *what = "not one of the allowed values";
        return CF_EINVAL;
    }
    case CF_FIELD_BOOL:
        if (!json_is_boolean(v)) {
            *what = "expected true or false";
            return CF_EINVAL;
        }
        return 0;
    case CF_FIELD_NUMBER:
        if (!json_is_number(v)) {
            *what = "expected a number";
            return CF_EINVAL;
        }
        if (json_number_value(v) < (double)f->min || json_number_value(v) > (double)f->max) {
            *what = "number out of range";
            return CF_EINVAL;
        }
        return 0;
    case CF_FIELD_ARRAY:
        if (!json_is_array(v)) {
            *what = "expected an array";
            return CF_EINVAL;
        }
        if (json_array_size(v) > f->max_len) {
            *what = "too many items";
            return CF_EINVAL;
        }
        return 0;
    case CF_FIELD_OBJECT:
        if (!json_is_object(v)) {
            *what = "expected an object";
            return CF_EINVAL;
        }
        return 0;
    }
    *what = "unsupported field type";
    return CF_EINVAL;
}

int cf_validate_object(const json_t *j, const struct cf_field *fields, size_t n, char *field,
                       size_t field_size, char *errbuf, size_t errbuf_size)
{
    const char *key;
    json_t *v;
    const char *what = NULL;

    if (!json_is_object(j))
        return fail("", field, field_size, errbuf, errbuf_size, "expected a JSON object");

    json_object_foreach((json_t *)j, key, v)
    {
        const struct cf_field *f = find_field(fields, n, key);
        if (!f)
            return fail(key, field, field_size, errbuf, errbuf_size, "unknown field");
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *jv = json_object_get(j, fields[i].name);
        if (!jv || json_is_null(jv)) {
            if (fields[i].required)
                return fail(fields[i].name, field, field_size, errbuf, errbuf_size,
                            "required field missing");
            continue;
        }
        if (check_value(&fields[i], jv, &what) != 0)
            return fail(fields[i].name, field, field_size, errbuf, errbuf_size, what);
    }
    return 0;
}

int cf_validate_currency(const char *s)
{
    if (!s || strlen(s) != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
    return 1;
}

char *cf_validate_email(const char *s)
{
    if (!s)
        return NULL;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    const char *at = memchr(s, '@', n);
    if (n == 0 || n > 254 || !at || at == s || at == s + n - 1 ||
        memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return NULL;
    char *out = cf_xmalloc(n + 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}
