/*
 * The helpers provider adapters share (common/hook.h): member lookups on
 * the decoded request, the notes parse leaves for the hooks route, the
 * URL-token check and form decoding.
 */
#include "common/hook.h"

#include <string.h>

#include "common/err.h"
#include "common/form.h"
#include "common/validate.h"
#include "common/xmalloc.h"

const char *cf_hook_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

const char *cf_hook_lookup(const char *const (*table)[2], size_t rows, const char *key)
{
    for (size_t i = 0; key && i < rows; i++) {
        if (strcmp(key, table[i][0]) == 0)
            return table[i][1];
    }
    return NULL;
}

const char *cf_hook_credential(const struct cf_hook *h, const char *name)
{
    return cf_hook_str(json_object_get(h->channel, "credentials"), name);
}

const char *cf_hook_header(const struct cf_hook *h, const char *name)
{
    return cf_hook_str(h->headers, name);
}

int cf_hook_ignored(const struct cf_hook *h, const char *reason)
{
    if (h->notes)
        h->notes->ignored = reason;
    return 0;
}

int cf_hook_ignored_value(const struct cf_hook *h, const char *reason, const char *value)
{
    if (!h->notes)
        return 0;
    h->notes->ignored = reason;
    size_t n = 0;
    /* bytes from 0x80 (UTF-8 letters) are kept, control characters are not;
     * a cut may split a letter, which the log shows as it is */
    for (const char *p = value ? value : ""; *p && n < sizeof(h->notes->detail) - 1; p++) {
        char c = *p;
        if ((unsigned char)c < 0x20 || c == 0x7f)
            c = '?';
        h->notes->detail[n++] = c;
    }
    h->notes->detail[n] = '\0';
    return 0;
}

int cf_hook_refused(const struct cf_hook *h, const char *reason)
{
    if (h->notes)
        h->notes->refused = reason;
    return CF_EAUTH;
}

void cf_hook_amended(const struct cf_hook *h, const char *reason)
{
    if (h->notes)
        h->notes->amended = reason;
}

int cf_hook_verify_url_token(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    return cf_form_check_token(cf_hook_credential(h, "url_token"), cf_hook_str(h->query, "token"),
                               errbuf, errbuf_size);
}

char *cf_hook_form_decode(const char *s, size_t n)
{
    char *out;

    return cf_form_decode(s, n, &out, NULL) == 0 ? out : NULL;
}

int cf_hook_parse_urlencoded(const char *s, size_t n, json_t *obj, char **invalid)
{
    struct cf_form form;
    int rc = cf_form_parse(s, n, CF_HOOK_FORM_FIELDS_MAX, &form, NULL, 0);

    if (invalid)
        *invalid = NULL;
    for (size_t i = 0; i < form.n; i++) {
        const struct cf_form_field *f = &form.fields[i];
        /* a name that is no text cannot be looked up, nor named in an error */
        if (f->name_len == 0 ||
            cf_validate_utf8_valid_prefix(f->name, f->name_len) != f->name_len ||
            json_object_get(obj, f->name))
            continue;
        /* A value that is no text (a page in another charset, a %00) would
         * be read as missing or cut short (a name gone, a honeypot passed):
         * the caller refuses the request instead, naming the field. */
        if (cf_validate_utf8_valid_prefix(f->value, f->value_len) == f->value_len) {
            json_object_set_new(obj, f->name, json_string(f->value));
        } else if (rc == 0) {
            rc = CF_EINVAL;
            if (invalid)
                *invalid = cf_xstrdup(f->name);
        }
    }
    cf_form_free(&form);
    return rc;
}
