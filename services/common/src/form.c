/*
 * The one urlencoded decoder (see form.h for the contract). It works in two
 * passes: the fields are counted first, so an oversized form is refused
 * before anything is allocated for it, then decoded into an array sized
 * once.
 */
#include "common/form.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/xmalloc.h"

int cf_form_decode(const char *s, size_t n, char **out, size_t *out_len)
{
    char *buf = cf_xmalloc(n + 1), *o = buf;

    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%') {
            /* both digits must lie inside the n bytes */
            int hi = i + 2 < n ? cf_hex_digit((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? cf_hex_digit((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(buf);
                return CF_EINVAL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    if (out_len)
        *out_len = (size_t)(o - buf);
    *out = buf;
    return 0;
}

/* The number of non-empty '&'-separated pieces of n bytes of s. */
static size_t count_fields(const char *s, size_t n)
{
    size_t count = 0, start = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '&') {
            count += i > start;
            start = i + 1;
        }
    }
    return count;
}

int cf_form_parse(const char *s, size_t n, size_t max_fields, struct cf_form *form, char *errbuf,
                  size_t errbuf_size)
{
    size_t count = count_fields(s, n), i = 0;

    form->fields = NULL;
    form->n = 0;
    if (count > max_fields) {
        cf_seterr(errbuf, errbuf_size, "the form has more than %zu fields", max_fields);
        return CF_ETOOBIG;
    }
    if (count == 0)
        return 0;
    form->fields = cf_xcalloc(count, sizeof(*form->fields));
    while (i < n) {
        size_t end = i, eq;
        while (end < n && s[end] != '&')
            end++;
        for (eq = i; eq < end && s[eq] != '='; eq++)
            ;
        if (end > i) {
            struct cf_form_field *f = &form->fields[form->n++];
            size_t vstart = eq < end ? eq + 1 : end;
            if (cf_form_decode(s + i, eq - i, &f->name, &f->name_len) != 0 ||
                cf_form_decode(s + vstart, end - vstart, &f->value, &f->value_len) != 0) {
                cf_seterr(errbuf, errbuf_size,
                          "field %zu of the form has a '%%' not followed by two hex digits",
                          form->n);
                cf_form_free(form);
                return CF_EINVAL;
            }
        }
        i = end + 1;
    }
    return 0;
}

void cf_form_free(struct cf_form *form)
{
    for (size_t i = 0; i < form->n; i++) {
        free(form->fields[i].name);
        free(form->fields[i].value);
    }
    free(form->fields);
    form->fields = NULL;
    form->n = 0;
}

const char *cf_form_get(const struct cf_form *form, const char *name)
{
    for (size_t i = 0; i < form->n; i++) {
        if (strcmp(form->fields[i].name, name) == 0)
            return form->fields[i].value;
    }
    return NULL;
}

int cf_form_check_token(const char *want, const char *got, char *errbuf, size_t errbuf_size)
{
    if (!want || !*want) {
        cf_seterr(errbuf, errbuf_size, "the channel has no url_token credential");
        return CF_EAUTH;
    }
    if (!got || !cf_ct_equal(want, strlen(want), got, strlen(got))) {
        cf_seterr(errbuf, errbuf_size, "%s URL token", got ? "wrong" : "missing");
        return CF_EAUTH;
    }
    return 0;
}
