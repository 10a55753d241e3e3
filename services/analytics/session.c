/*
 * Dashboard sessions in Redis (session.h). The value of
 * cf:analytics:session:<sha256 of the id> is "<sha256 of the key in
 * hex> <end in Unix seconds>", set with NX and the session's lifetime as
 * its expiry, so Redis forgets a session when it ends.
 */
#include "session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/time.h"

static int valid_id(const char *sid)
{
    if (strlen(sid) != ANALYTICS_SESSION_ID_LEN)
        return 0;
    for (const char *p = sid; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* The Redis key of session sid. */
static void redis_key(const char *sid, char out[96])
{
    uint8_t h[32];
    char hex[CF_SHA256_HEX_LEN + 1];
    cf_sha256(sid, strlen(sid), h);
    cf_hex(h, sizeof(h), hex);
    snprintf(out, 96, "cf:analytics:session:%s", hex);
}

int analytics_session_create(struct analytics_ctx *ctx, const uint8_t key_hash[32],
                             char sid[ANALYTICS_SESSION_ID_LEN + 1], int64_t *expires_s)
{
    uint8_t raw[32];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return CF_EUNAVAIL;
        got += (size_t)n;
    }
    cf_hex(raw, sizeof(raw), sid);
    explicit_bzero(raw, sizeof(raw));

    char key[96], hash_hex[CF_SHA256_HEX_LEN + 1], value[128];
    redis_key(sid, key);
    cf_hex(key_hash, 32, hash_hex);
    *expires_s = cf_time_now_ms() / 1000 + ctx->cfg.session_ttl_s;
    snprintf(value, sizeof(value), "%s %" PRId64, hash_hex, *expires_s);
    redisReply *r = cf_redis_command(ctx->svc->redis, "SET %s %s EX %ld NX", key, value,
                                     ctx->cfg.session_ttl_s);
    int ok = r && r->type == REDIS_REPLY_STATUS; /* nil: the id exists, which 256 bits rule out */
    if (r)
        freeReplyObject(r);
    return ok ? 0 : CF_EUNAVAIL;
}

int analytics_session_find(struct analytics_ctx *ctx, const char *sid, struct an_session *out)
{
    if (!valid_id(sid))
        return CF_EAUTH;
    char key[96];
    redis_key(sid, key);
    redisReply *r = cf_redis_command(ctx->svc->redis, "GET %s", key);
    if (!r)
        return CF_EUNAVAIL;
    int rc = CF_EAUTH;
    char hash_hex[CF_SHA256_HEX_LEN + 1];
    long long expires = 0;
    if (r->type == REDIS_REPLY_STRING &&
        sscanf(r->str, "%64[0-9a-f] %lld", hash_hex, &expires) == 2 &&
        strlen(hash_hex) == CF_SHA256_HEX_LEN && expires > cf_time_now_ms() / 1000 &&
        cf_unhex(hash_hex, sizeof(out->key_hash), out->key_hash) == 0) {
        out->expires_s = expires;
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

int analytics_session_end(struct analytics_ctx *ctx, const char *sid)
{
    if (!valid_id(sid))
        return 0;
    char key[96];
    redis_key(sid, key);
    redisReply *r = cf_redis_command(ctx->svc->redis, "DEL %s", key);
    if (!r)
        return CF_EUNAVAIL;
    freeReplyObject(r);
    return 0;
}
