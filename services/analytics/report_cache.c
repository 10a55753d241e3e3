/*
 * Report answers cached in Redis (report_cache.h): under the report, the
 * network, the parameters and a generation, so a cached answer never
 * outlives a change of the figures it read (and an old generation's
 * entries expire by their TTL). The generation is PostgreSQL's: the sum
 * of every consumer's stored offsets, which each batch moves in the
 * transaction that applies it, and the spend's count of writes, moved by
 * each spend statement. It is read before the report's own snapshot, so
 * an answer is never older than its key says. (A mark kept in Redis and
 * moved after each commit was lost whenever that command failed: answers
 * computed before a batch were served until their TTL.) Keys are
 * namespaced by the store's id (analytics.store), so stores sharing a
 * Redis never read each other's answers. Redis down: every answer is
 * computed.
 */
#include "report_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/redis.h"
#include "common/xmalloc.h"

int analytics_cache_start(struct analytics_ctx *ctx)
{
    PGresult *res = NULL;
    char errbuf[256];
    int rc = cf_pg_pool_exec(ctx->svc->pg, "SELECT id::text FROM analytics.store LIMIT 1", 0, NULL,
                             &res, errbuf, sizeof(errbuf));
    if (rc == 0 && PQntuples(res) == 1)
        snprintf(ctx->store_id, sizeof(ctx->store_id), "%s", PQgetvalue(res, 0, 0));
    else
        cf_error("analytics: the store's id cannot be read: %s",
                 rc ? errbuf : "analytics.store is empty");
    PQclear(res);
    return ctx->store_id[0] ? 0 : -1;
}

char *analytics_cache_key(struct analytics_ctx *ctx, const char *report, const char *network_id,
                          const json_t *params)
{
    if (ctx->cfg.cache_ttl_s == 0)
        return NULL;
    PGresult *res = NULL;
    char errbuf[256];
    if (cf_pg_pool_exec(ctx->svc->pg,
                        "SELECT (SELECT coalesce(sum(next_offset), 0)"
                        " FROM analytics.consumer_offsets)::text || '.' || spend_generation"
                        " FROM analytics.store LIMIT 1",
                        0, NULL, &res, errbuf, sizeof(errbuf)) != 0 ||
        PQntuples(res) != 1) {
        PQclear(res);
        return NULL;
    }
    char *text = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    char *name = cf_xasprintf("%s\x1f%s\x1f%s", report, network_id, text);
    uint8_t digest[32];
    char hex[65];
    cf_sha256(name, strlen(name), digest);
    cf_hex(digest, sizeof(digest), hex);
    char *key =
        cf_xasprintf("cf:analytics:%s:report:%s:%s", ctx->store_id, PQgetvalue(res, 0, 0), hex);
    free(text);
    free(name);
    PQclear(res);
    return key;
}

json_t *analytics_cache_get(struct analytics_ctx *ctx, const char *key)
{
    redisReply *r = key ? cf_redis_command(ctx->svc->redis, "GET %s", key) : NULL;
    json_t *j = r && r->type == REDIS_REPLY_STRING ? cf_json_loadb(r->str, r->len, 0, NULL) : NULL;
    if (r)
        freeReplyObject(r);
    return j;
}

void analytics_cache_put(struct analytics_ctx *ctx, const char *key, const json_t *answer)
{
    if (!key)
        return;
    char *text = cf_json_dumps(answer);
    redisReply *r =
        cf_redis_command(ctx->svc->redis, "SET %s %s EX %ld", key, text, ctx->cfg.cache_ttl_s);
    if (r)
        freeReplyObject(r);
    free(text);
}
