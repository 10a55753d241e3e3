/*
 * Meta's webhook mechanism, one for all its products (meta.h): a GET
 * handshake when the callback URL is configured, then signed POSTs.
 *
 * The handshake is answered here, before any signature (it carries none):
 * the challenge is echoed only when hub.verify_token equals the channel's
 * verify_token, compared in constant time. Meta's "Getting Started"
 * page asks for the challenge back and nothing else; the answer to a
 * wrong token is ours: 403 (Meta's own WhatsApp SDK answers 401: any
 * non-200 fails the dashboard's check).
 */
#include "meta.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "messenger.h"

/* The most of hub.challenge we echo (Meta sends an int); printable ASCII
 * only, so the answer is never markup or a header injection. */
#define CHALLENGE_MAX 256

static int challenge_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > CHALLENGE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '<' || s[i] == '>')
            return 0;
    }
    return 1;
}

int meta_precheck(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    const char *mode, *token, *challenge, *want;

    if (strcmp(h->method, "GET") != 0)
        return 0;
    mode = cf_hook_str(h->query, "hub.mode");
    token = cf_hook_str(h->query, "hub.verify_token");
    challenge = cf_hook_str(h->query, "hub.challenge");
    want = cf_hook_credential(h, "verify_token");
    reply->content_type = "text/plain";
    if (mode && strcmp(mode, "subscribe") == 0 && want && *want && token &&
        cf_ct_equal(want, strlen(want), token, strlen(token)) && challenge_ok(challenge)) {
        reply->status = 200;
        snprintf(reply->body, sizeof(reply->body), "%s", challenge);
        return 1;
    }
    reply->status = 403;
    reply->body[0] = '\0';
    return 1;
}

int meta_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    const char *secret = cf_hook_credential(h, "app_secret");
    const char *got = cf_hook_header(h, "x-hub-signature-256");

    if (!secret || !*secret) {
        cf_seterr(errbuf, errbuf_size, "the channel has no app_secret credential");
        return CF_EAUTH;
    }
    if (!got) {
        cf_seterr(errbuf, errbuf_size, "missing X-Hub-Signature-256");
        return CF_EAUTH;
    }
    if (strncmp(got, "sha256=", 7) != 0 || !msgr_hmac_hex_ok(secret, h, got + 7)) {
        cf_seterr(errbuf, errbuf_size, "wrong X-Hub-Signature-256");
        return CF_EAUTH;
    }
    return 0;
}
