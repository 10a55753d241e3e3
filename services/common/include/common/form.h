/*
 * application/x-www-form-urlencoded bodies and query strings, decoded from
 * the raw bytes, and the URL-token check of providers that sign nothing.
 *
 * The decoder keeps every field in the order it came, repeated names
 * included (Twilio signs all of them), because the HTTP framework's parsed
 * form keeps one value per name. It is strict where browsers are lenient:
 * a '%' not followed by two hex digits is an error, not a literal, so a
 * value means one thing to us and to whoever signed it.
 */
#ifndef CF_COMMON_FORM_H
#define CF_COMMON_FORM_H

#include <stddef.h>

/* One decoded field. name and value are NUL-terminated and may also hold
 * NUL bytes (from %00): the lengths are the whole decoded bytes. */
struct cf_form_field {
    char *name;
    char *value;
    size_t name_len;
    size_t value_len;
};

struct cf_form {
    struct cf_form_field *fields; /* in the order of the input */
    size_t n;
};

/* Decodes n bytes of s ('+' is a space, %XX a byte) into a new string
 * (*out, free it; *out_len its decoded length, may be NULL). 0, or
 * CF_EINVAL for a malformed escape, leaving *out NULL. Pure. */
int cf_form_decode(const char *s, size_t n, char **out, size_t *out_len);

/* Decodes "a=1&b=2&a=3" (n bytes, no leading '?') into *form: fields split
 * on '&', empty pieces skipped, a piece without '=' has the value "".
 * Returns 0; CF_EINVAL for a malformed escape; CF_ETOOBIG when there are
 * more than max_fields fields (counted before any is decoded). On error
 * *form is empty and the reason is in errbuf. Free with cf_form_free().
 * Pure and thread-safe. */
int cf_form_parse(const char *s, size_t n, size_t max_fields, struct cf_form *form, char *errbuf,
                  size_t errbuf_size);

/* Frees the fields and empties *form (a zeroed or emptied form is fine). */
void cf_form_free(struct cf_form *form);

/* The value of the first field named name, or NULL. Borrowed from form. */
const char *cf_form_get(const struct cf_form *form, const char *name);

/* The URL-token check: want is the channel's secret token, got the one the
 * request carries (NULL when absent). 0 when both are set and equal,
 * compared in constant time; otherwise CF_EAUTH with the reason (no token
 * configured, missing, wrong) in errbuf. */
int cf_form_check_token(const char *want, const char *got, char *errbuf, size_t errbuf_size);

#endif
