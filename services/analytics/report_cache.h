/*
 * The reports' cache in Redis (report_cache.c), under a generation read
 * from PostgreSQL: every committed consumer batch and every spend write
 * moves it, in its own transaction, so a cached answer never outlives a
 * change of what it read, whatever Redis did meanwhile.
 */
#ifndef CF_ANALYTICS_REPORT_CACHE_H
#define CF_ANALYTICS_REPORT_CACHE_H

#include <jansson.h>

#include "analytics.h"

/* Reads the store's id (the cache's namespace): 0, or -1 (logged). */
int analytics_cache_start(struct analytics_ctx *ctx);

/* The statement tail of a write of the service's own (spend) that makes
 * every cached answer stale with it: a CTE over the write, named w, whose
 * rows move the generation when there are any. */
#define ANALYTICS_CACHE_BUMP_SQL                                                                   \
    " UPDATE analytics.store SET spend_generation = spend_generation + 1"                          \
    " WHERE EXISTS (SELECT 1 FROM w)"

/* The key of a report's answer (report name, network, parameters, the
 * generation), or NULL when there is no cache now (the TTL is 0, or the
 * generation cannot be read): the answer is then computed and not kept.
 * free() it. */
char *analytics_cache_key(struct analytics_ctx *ctx, const char *report, const char *network_id,
                          const json_t *params);
/* The cached answer under key (NULL key, or none: NULL). */
json_t *analytics_cache_get(struct analytics_ctx *ctx, const char *key);
/* Keeps answer under key for the TTL (NULL key: nothing). */
void analytics_cache_put(struct analytics_ctx *ctx, const char *key, const json_t *answer);

#endif
