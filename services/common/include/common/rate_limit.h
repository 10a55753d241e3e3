/*
 * Rate limits in Redis for the routes a browser calls (a form, an
 * attribution code): fixed-window counters, several rules (per address,
 * per contact, ...) checked and counted in one round trip. Redis is never
 * required: when it cannot answer, the limit is skipped (counted in
 * /metrics), never the request.
 */
#ifndef CF_COMMON_RATE_LIMIT_H
#define CF_COMMON_RATE_LIMIT_H

#include <stddef.h>

#include "common/redis.h"

/* One rule: at most `limit` requests per `window_s` seconds on `key`. */
struct cf_rate_rule {
    const char *name; /* the metrics label ("ip", "contact"): a short static string */
    const char *key;  /* the counter's Redis key, e.g. "cf:leads:rl:ip:<address>"; never a
                         phone or e-mail in clear (use a contact key) */
    long limit;       /* 0 or less: the rule is off */
    long window_s;    /* at least 1 */
};

enum cf_rate_verdict {
    CF_RATE_ALLOWED = 0, /* counted against every rule */
    CF_RATE_LIMITED,     /* a rule is at its limit: nothing was counted */
    CF_RATE_SKIPPED,     /* Redis could not answer: allowed, not counted */
};

/*
 * Checks the rules that are on and, when every one has room, counts the
 * request against all of them (one EVAL). A refused request is not
 * counted, so a client that keeps retrying is let in again when the window
 * that refused it ends. On CF_RATE_LIMITED, *rule_out (may be NULL) gets
 * the index of the rule at its limit and *retry_after_s the seconds until
 * its window ends (at least 1). Counts clinicflow_rate_limited_total and
 * clinicflow_rate_limit_skipped_total by scope (a short static string:
 * "leads_form") and rule. r may be NULL (skipped). Blocks up to the Redis
 * timeout; thread-safe.
 */
enum cf_rate_verdict cf_rate_limit(struct cf_redis *r, const char *scope,
                                   const struct cf_rate_rule *rules, size_t n, size_t *rule_out,
                                   long *retry_after_s);

/* Describes the two metrics above (once, at start). */
void cf_rate_limit_describe_metrics(void);

#endif
