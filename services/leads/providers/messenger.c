/*
 * The helpers the messenger adapters share (messenger.h). Provider
 * payloads are read tolerantly: a member of the wrong type is treated as
 * absent, never as an error of its own.
 */
#include "messenger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/time.h"
#include "common/xmalloc.h"

json_t *msgr_body_object(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    json_error_t jerr;
    json_t *j_body = cf_json_loadb(h->body ? h->body : "", h->body_len, 0, &jerr);

    if (!j_body) {
        cf_seterr(errbuf, errbuf_size, "the body is not JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(j_body)) {
        json_decref(j_body);
        cf_seterr(errbuf, errbuf_size, "the body is not a JSON object");
        return NULL;
    }
    return j_body;
}

json_t *msgr_fact_new(const char *event_key, const char *kind, int64_t time_ms)
{
    json_t *j_fact = json_object();

    json_object_set_new(j_fact, "event_key", json_string(event_key));
    json_object_set_new(j_fact, "kind", json_string(kind));
    cf_time_json_set(j_fact, "time", time_ms);
    return j_fact;
}

void msgr_set_str(json_t *j_fact, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new(j_fact, key, json_string(value));
}

void msgr_set_international(json_t *j_fact, const char *phone)
{
    if (!phone || !*phone)
        return;
    if (strspn(phone, "0123456789") != strlen(phone)) {
        json_object_set_new(j_fact, "phone", json_string(phone)); /* kept raw by hooks.c */
        return;
    }
    char *plus = cf_xasprintf("+%s", phone);
    json_object_set_new(j_fact, "phone", json_string(plus));
    free(plus);
}

int msgr_id(const json_t *v, char out[MSGR_ID_MAX + 1])
{
    if (json_is_integer(v)) {
        snprintf(out, MSGR_ID_MAX + 1, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= MSGR_ID_MAX &&
        strlen(json_string_value(v)) == json_string_length(v)) {
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        return 0;
    }
    return -1;
}

int msgr_set_id(json_t *j_fact, const char *key, const json_t *v)
{
    char id[MSGR_ID_MAX + 1];

    if (msgr_id(v, id) != 0)
        return 0;
    json_object_set_new(j_fact, key, json_string(id));
    return 1;
}

int64_t msgr_seconds_ms(const json_t *v, int64_t fallback_ms)
{
    long long s = -1;

    if (json_is_integer(v)) {
        s = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *p = json_string_value(v);
        size_t n = strlen(p);
        if (n > 0 && n <= 12 && strspn(p, "0123456789") == n) {
            s = 0;
            for (; *p; p++)
                s = s * 10 + (*p - '0');
        }
    }
    /* up to the year 5138: a value beyond is not seconds */
    if (s <= 0 || s > 99999999999LL)
        return fallback_ms;
    return (int64_t)s * 1000;
}

int msgr_hmac_hex_ok(const char *secret, const struct cf_hook *h, const char *got)
{
    uint8_t mac[32];
    char want[CF_SHA256_HEX_LEN + 1], lower[CF_SHA256_HEX_LEN + 1];
    size_t n = strlen(got);

    if (n != CF_SHA256_HEX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = got[i];
        lower[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    lower[n] = '\0';
    cf_hmac_sha256(secret, strlen(secret), h->body ? h->body : "", h->body_len, mac);
    cf_hex(mac, sizeof(mac), want);
    return cf_ct_equal(want, CF_SHA256_HEX_LEN, lower, n);
}
