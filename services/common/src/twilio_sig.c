/*
 * X-Twilio-Signature (twilio_sig.h): the fields are sorted through an
 * array of pointers, so the caller's form keeps its order; every accepted
 * form of the signature (URL with or without its port, repeated pairs once
 * or each time) is computed and compared, all in constant time.
 */
#include "common/twilio_sig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/hook.h"
#include "common/xmalloc.h"

static int field_cmp(const struct cf_form_field *a, const struct cf_form_field *b)
{
    int c = strcmp(a->name, b->name);

    return c ? c : strcmp(a->value, b->value);
}

static int field_ptr_cmp(const void *a, const void *b)
{
    return field_cmp(*(const struct cf_form_field *const *)a,
                     *(const struct cf_form_field *const *)b);
}

/* The fields of params sorted by name, then value: a new array of n
 * borrowed pointers (NULL when there are none). */
static const struct cf_form_field **sorted_fields(const struct cf_form *params, size_t *n)
{
    const struct cf_form_field **v;

    *n = params ? params->n : 0;
    if (*n == 0)
        return NULL;
    v = cf_xcalloc(*n, sizeof(const struct cf_form_field *));
    for (size_t i = 0; i < *n; i++)
        v[i] = &params->fields[i];
    qsort(v, *n, sizeof(const struct cf_form_field *), field_ptr_cmp);
    return v;
}

static void sign_sorted(const char *token, const char *url, const struct cf_form_field **v,
                        size_t n, int dedup, char out[CF_TWILIO_SIG_LEN + 1])
{
    size_t len = strlen(url), off;
    uint8_t mac[20];
    char *data;

    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]->name) + strlen(v[i]->value);
    data = cf_xmalloc(len + 1);
    off = strlen(url);
    memcpy(data, url, off);
    for (size_t i = 0; i < n; i++) {
        if (dedup && i > 0 && field_cmp(v[i - 1], v[i]) == 0)
            continue;
        size_t nl = strlen(v[i]->name), vl = strlen(v[i]->value);
        memcpy(data + off, v[i]->name, nl);
        memcpy(data + off + nl, v[i]->value, vl);
        off += nl + vl;
    }
    cf_hmac_sha1(token, strlen(token), data, off, mac);
    cf_base64(mac, sizeof(mac), out);
    free(data);
}

void cf_twilio_signature(const char *auth_token, const char *url, const struct cf_form *params,
                         int dedup, char out[CF_TWILIO_SIG_LEN + 1])
{
    size_t n;
    const struct cf_form_field **v = sorted_fields(params, &n);

    sign_sorted(auth_token, url, v, n, dedup, out);
    free(v);
}

/* The URL with its explicit port removed, or with the scheme's default port
 * added when it has none. A new string, or NULL when url is not absolute. */
static char *url_port_variant(const char *url)
{
    const char *auth = strstr(url, "://");
    if (!auth)
        return NULL;
    auth += 3;
    const char *end = auth + strcspn(auth, "/?#");
    const char *colon = NULL;
    for (const char *p = auth; p < end; p++) {
        if (*p == ':')
            colon = p;
        else if (*p == ']' || *p == '@')
            colon = NULL; /* IPv6 literal or user:password */
    }
    if (colon)
        return cf_xasprintf("%.*s%s", (int)(colon - url), url, end);
    const char *port = strncasecmp(url, "https:", 6) == 0 ? ":443" : ":80";
    return cf_xasprintf("%.*s%s%s", (int)(end - url), url, port, end);
}

int cf_twilio_signature_valid(const char *auth_token, const char *url, const struct cf_form *params,
                              const char *signature_header)
{
    size_t n;
    const struct cf_form_field **v;
    char *alt_url;
    char want[CF_TWILIO_SIG_LEN + 1];
    int ok = 0, has_dup = 0;

    if (!auth_token || !*auth_token || !signature_header || !*signature_header || !url)
        return 0;
    v = sorted_fields(params, &n);
    for (size_t i = 1; i < n; i++)
        has_dup |= field_cmp(v[i - 1], v[i]) == 0;
    alt_url = url_port_variant(url);
    for (int dedup = 1; dedup >= (has_dup ? 0 : 1); dedup--) {
        sign_sorted(auth_token, url, v, n, dedup, want);
        ok |= cf_ct_equal(want, strlen(want), signature_header, strlen(signature_header));
        if (alt_url) {
            sign_sorted(auth_token, alt_url, v, n, dedup, want);
            ok |= cf_ct_equal(want, strlen(want), signature_header, strlen(signature_header));
        }
    }
    free(alt_url);
    free(v);
    return ok;
}

int cf_twilio_verify_request(const char *auth_token, const char *url, const char *method,
                             const char *content_type, const char *body, size_t body_len,
                             const char *body_sha256, const char *signature_header, char *errbuf,
                             size_t errbuf_size)
{
    struct cf_form form = {0};
    int ok;

    if (!auth_token || !*auth_token) {
        cf_seterr(errbuf, errbuf_size, "the channel has no auth_token credential");
        return CF_EAUTH;
    }
    if (!signature_header || !*signature_header) {
        cf_seterr(errbuf, errbuf_size, "missing X-Twilio-Signature");
        return CF_EAUTH;
    }
    if (body_sha256) {
        /* A JSON-bodied webhook: the URL is signed without parameters and
         * carries the body's SHA-256. */
        uint8_t sum[32];
        char hex[CF_SHA256_HEX_LEN + 1];
        cf_sha256(body ? body : "", body ? body_len : 0, sum);
        cf_hex(sum, sizeof(sum), hex);
        if (!cf_ct_equal(hex, strlen(hex), body_sha256, strlen(body_sha256))) {
            cf_seterr(errbuf, errbuf_size, "wrong bodySHA256");
            return CF_EAUTH;
        }
    } else if (method && strcmp(method, "POST") == 0 && content_type &&
               strncasecmp(content_type, "application/x-www-form-urlencoded", 33) == 0) {
        if (cf_form_parse(body ? body : "", body ? body_len : 0, CF_HOOK_FORM_FIELDS_MAX, &form,
                          NULL, 0) != 0) {
            cf_seterr(errbuf, errbuf_size, "malformed form body");
            return CF_EAUTH;
        }
    } else if (body && body_len > 0) {
        /* signed over the URL alone, so a body would be taken unsigned: a
         * captured GET replayed with a body of one's own */
        cf_seterr(errbuf, errbuf_size, "a body Twilio does not sign (not a form POST)");
        return CF_EAUTH;
    }
    ok = cf_twilio_signature_valid(auth_token, url ? url : "", &form, signature_header);
    cf_form_free(&form);
    if (!ok) {
        cf_seterr(errbuf, errbuf_size, "wrong X-Twilio-Signature");
        return CF_EAUTH;
    }
    return 0;
}
