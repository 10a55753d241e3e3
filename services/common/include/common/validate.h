/*
 * Strict validation of our own APIs' JSON bodies from a table of fields:
 * unknown members, missing required members, wrong types and bounds are
 * rejected with the offending member named, so a 400 can carry "field".
 * Provider payloads are not validated this way: they are parsed tolerantly.
 */
#ifndef CF_COMMON_VALIDATE_H
#define CF_COMMON_VALIDATE_H

#include <stddef.h>

#include <jansson.h>

enum cf_field_type {
    CF_FIELD_STRING, /* length in characters within [min_len, max_len] */
    CF_FIELD_INT,    /* integer within [min, max] */
    CF_FIELD_TIME,   /* RFC 3339 string */
    CF_FIELD_ENUM,   /* one of values (NULL-terminated) */
    CF_FIELD_BOOL,
    CF_FIELD_NUMBER, /* a JSON number (integer or real) within [min, max] */
    CF_FIELD_ARRAY,  /* an array of at most max_len items (the caller checks them) */
    CF_FIELD_OBJECT  /* an object (the caller checks its members) */
};

struct cf_field {
    const char *name;
    enum cf_field_type type;
    int required;
    size_t min_len, max_len;   /* STRING */
    long long min, max;        /* INT */
    const char *const *values; /* ENUM */
};

/* Checks every member of j against the table. Returns 0, or CF_EINVAL with
 * the member's name in field (field_size bytes) and a message in errbuf. */
int cf_validate_object(const json_t *j, const struct cf_field *fields, size_t n, char *field,
                       size_t field_size, char *errbuf, size_t errbuf_size);

/* Lengths as JSON Schema's maxLength counts them: in characters (code
 * points) of UTF-8 text, which every Jansson string is. */
size_t cf_validate_utf8_chars(const char *s, size_t len);
/* The characters of a Jansson string, 0 for anything else. */
size_t cf_validate_json_chars(const json_t *v);
/* How many bytes of s (len bytes of UTF-8) its first max_chars characters
 * take: a cut there keeps whole characters. */
size_t cf_validate_utf8_prefix(const char *s, size_t len, size_t max_chars);
/* How many bytes of s (len bytes, perhaps cut mid-character or not UTF-8 at
 * all) are valid UTF-8 from the start, as Jansson takes strings: no NUL,
 * overlong form, surrogate or code point past U+10FFFF. */
size_t cf_validate_utf8_valid_prefix(const char *s, size_t len);
/* Cuts the string member name of obj to max_chars characters (unless it
 * is absent or not a string). Returns 1 when it was cut. */
int cf_validate_cut_string(json_t *obj, const char *name, size_t max_chars);
/* 1 when s is an ISO 4217 currency code as written: three capital
 * letters ("RUB"); 0 otherwise (NULL included). */
int cf_validate_currency(const char *s);

/* An e-mail address as given, trimmed of spaces and tabs, when it looks
 * like one (one '@' with text on both sides, no space or control
 * character, at most 254 bytes): new string, or NULL (s NULL too). */
char *cf_validate_email(const char *s);

#endif
