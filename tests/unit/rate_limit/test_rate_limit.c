/*
 * common/rate_limit.h against a real Redis (CLINICFLOW_TEST_REDIS_URL):
 * several rules in one round trip, a refused request not counted, the
 * Retry-After of the rule at its limit, rules that are off, and Redis
 * unreachable: skipped, never refused, counted in the metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "common/rate_limit.h"
#include "common/redis.h"
#include "cftest.h"

static double metric(const char *line_start)
{
    char *text = cf_metrics_render();
    double v = 0;
    const char *p = strstr(text, line_start);
    if (p)
        v = strtod(p + strlen(line_start), NULL);
    free(text);
    return v;
}

int main(void)
{
    const char *url = cf_test_server("CLINICFLOW_TEST_REDIS_URL");
    struct cf_redis *r = cf_redis_new(url, 1000);
    char ip[64], contact[64];
    snprintf(ip, sizeof(ip), "cf:test:rl:ip:%d", (int)getpid());
    snprintf(contact, sizeof(contact), "cf:test:rl:contact:%d", (int)getpid());
    redisReply *reply = cf_redis_command(r, "DEL %s %s", ip, contact);
    freeReplyObject(reply);

    struct cf_rate_rule rules[] = {
        {"ip", ip, 3, 60},
        {"contact", contact, 2, 3600},
    };
    size_t which = 99;
    long retry = 0;
    /* the contact rule (2 an hour) runs out first */
    CHECK_INT(cf_rate_limit(r, "test", rules, 2, &which, &retry), CF_RATE_ALLOWED);
    CHECK_INT(cf_rate_limit(r, "test", rules, 2, &which, &retry), CF_RATE_ALLOWED);
    CHECK_INT(cf_rate_limit(r, "test", rules, 2, &which, &retry), CF_RATE_LIMITED);
    CHECK_INT((int)which, 1);
    CHECK(retry > 3500 && retry <= 3600);
    CHECK(metric("clinicflow_rate_limited_total{scope=\"test\",rule=\"contact\"} ") == 1);
    /* refused requests are not counted: the address has used 2 of 3 */
    reply = cf_redis_command(r, "GET %s", ip);
    CHECK(reply && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "2") == 0);
    freeReplyObject(reply);
    /* with the contact rule off, the address has one request left */
    rules[1].limit = 0;
    CHECK_INT(cf_rate_limit(r, "test", rules, 2, &which, &retry), CF_RATE_ALLOWED);
    CHECK_INT(cf_rate_limit(r, "test", rules, 2, &which, &retry), CF_RATE_LIMITED);
    CHECK_INT((int)which, 0);
    CHECK(retry > 50 && retry <= 60);
    /* no rule on: allowed without asking */
    rules[0].limit = 0;
    CHECK_INT(cf_rate_limit(NULL, "test", rules, 2, NULL, NULL), CF_RATE_ALLOWED);
    reply = cf_redis_command(r, "DEL %s %s", ip, contact);
    freeReplyObject(reply);
    cf_redis_destroy(r);

    /* Redis unreachable (a closed port): skipped, counted */
    rules[0].limit = 1;
    struct cf_redis *down = cf_redis_new("redis://127.0.0.1:1/0", 200);
    for (int i = 0; i < 3; i++)
        CHECK_INT(cf_rate_limit(down, "test", rules, 2, NULL, NULL), CF_RATE_SKIPPED);
    CHECK(metric("clinicflow_rate_limit_skipped_total{scope=\"test\"} ") == 3);
    cf_redis_destroy(down);
    return cf_test_done();
}
