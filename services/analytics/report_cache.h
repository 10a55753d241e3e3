/*
 * The reports' cache in Redis (report_cache.c). Consumers mark a batch
 * that applied events (analytics_mark_applied, on the runner's thread)
 * and, as their batch_done, call analytics_batch_done: a committed batch
 * makes every cached answer stale.
 */
#ifndef CF_ANALYTICS_REPORT_CACHE_H
#define CF_ANALYTICS_REPORT_CACHE_H

#include <jansson.h>

#include "analytics.h"

/* Reads the store's id (the cache's namespace): 0, or -1 (logged). */
int analytics_cache_start(struct analytics_ctx *ctx);

void analytics_mark_applied(void);
void analytics_batch_done(void *ctx, int committed);
/* Makes every cached answer stale now (after a write of the service's
 * own: spend). */
void analytics_cache_invalidate(struct analytics_ctx *ctx);

/* The key of a report's answer (report name, network, parameters), or
 * NULL when there is no cache now (Redis does not answer, or the TTL is
 * 0): the answer is then computed and not kept. free() it. */
char *analytics_cache_key(struct analytics_ctx *ctx, const char *report, const char *network_id,
                          const json_t *params);
/* The cached answer under key (NULL key, or none: NULL). */
json_t *analytics_cache_get(struct analytics_ctx *ctx, const char *key);
/* Keeps answer under key for the TTL (NULL key: nothing). */
void analytics_cache_put(struct analytics_ctx *ctx, const char *key, const json_t *answer);

#endif
