/*
 * Fixed-window rate limits in one Redis round trip: a Lua script reads
 * every rule's counter, refuses when one is at its limit, and otherwise
 * increments them all, starting a counter's window (its expiry) with its
 * first request. A fixed window lets a client send up to twice the limit
 * across a window's edge; for the routes it guards (people filling in
 * forms) that is fine, and it costs one key per rule and client.
 */
#include "common/rate_limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "common/xmalloc.h"

/* KEYS: the counters. ARGV: limit and window (seconds) of each, in turn.
 * Returns {0, 0} when counted, {i, ms left in rule i's window} when rule i
 * (from 1) is at its limit. A counter found without an expiry (written by
 * hand, or left by a failed run) gets one, so it never blocks for ever. */
static const char limit_script[] =
    "for i = 1, #KEYS do\n"
    "  local c = tonumber(redis.call('GET', KEYS[i]) or '0') or 0\n"
    "  if c >= tonumber(ARGV[2 * i - 1]) then\n"
    "    local t = redis.call('PTTL', KEYS[i])\n"
    "    if t < 0 then\n"
    "      t = tonumber(ARGV[2 * i]) * 1000\n"
    "      redis.call('PEXPIRE', KEYS[i], t)\n"
    "    end\n"
    "    return {i, t}\n"
    "  end\n"
    "end\n"
    "for i = 1, #KEYS do\n"
    "  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i]) end\n"
    "end\n"
    "return {0, 0}\n";

static void count(const char *metric, const char *scope, const char *rule)
{
    char labels[128];
    if (rule)
        snprintf(labels, sizeof(labels), "scope=\"%s\",rule=\"%s\"", scope, rule);
    else
        snprintf(labels, sizeof(labels), "scope=\"%s\"", scope);
    cf_metrics_add(metric, labels, 1);
}

enum cf_rate_verdict cf_rate_limit(struct cf_redis *r, const char *scope,
                                   const struct cf_rate_rule *rules, size_t n, size_t *rule_out,
                                   long *retry_after_s)
{
    size_t *index = cf_xcalloc(n + 1, sizeof(*index)); /* script rule -> rules[] */
    const char **argv = cf_xcalloc(3 + 3 * n, sizeof(*argv));
    char(*nums)[24] = cf_xcalloc(2 * n + 1, sizeof(*nums));
    size_t on = 0;
    enum cf_rate_verdict verdict = CF_RATE_ALLOWED;
    redisReply *reply = NULL;

    for (size_t i = 0; i < n; i++)
        if (rules[i].limit > 0)
            index[on++] = i;
    if (on == 0)
        goto out;
    char nkeys[24];
    snprintf(nkeys, sizeof(nkeys), "%zu", on);
    size_t argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = limit_script;
    argv[argc++] = nkeys;
    for (size_t k = 0; k < on; k++)
        argv[argc++] = rules[index[k]].key;
    for (size_t k = 0; k < on; k++) {
        const struct cf_rate_rule *rule = &rules[index[k]];
        snprintf(nums[2 * k], sizeof(nums[0]), "%ld", rule->limit);
        snprintf(nums[2 * k + 1], sizeof(nums[0]), "%ld", rule->window_s > 0 ? rule->window_s : 1);
        argv[argc++] = nums[2 * k];
        argv[argc++] = nums[2 * k + 1];
    }
    reply = r ? cf_redis_command_argv(r, (int)argc, argv, NULL) : NULL;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER || reply->element[0]->integer < 0 ||
        (size_t)reply->element[0]->integer > on) {
        verdict = CF_RATE_SKIPPED;
        count("clinicflow_rate_limit_skipped_total", scope, NULL);
        goto out;
    }
    if (reply->element[0]->integer == 0)
        goto out;
    const size_t which = index[reply->element[0]->integer - 1];
    const long long ms = reply->element[1]->integer;
    verdict = CF_RATE_LIMITED;
    if (rule_out)
        *rule_out = which;
    if (retry_after_s)
        *retry_after_s = ms > 1000 ? (long)((ms + 999) / 1000) : 1;
    count("clinicflow_rate_limited_total", scope, rules[which].name);

out:
    freeReplyObject(reply);
    free(nums);
    free(argv);
    free(index);
    return verdict;
}

void cf_rate_limit_describe_metrics(void)
{
    cf_metrics_describe("clinicflow_rate_limited_total", "counter",
                        "Requests refused with 429 by a rate limit, by scope (the route) and rule");
    cf_metrics_describe("clinicflow_rate_limit_skipped_total", "counter",
                        "Requests let through without their rate limit because Redis could not "
                        "answer, by scope");
}
