/*
 * clinicflow-analytics: the network's numbers from the topics. A consumer
 * of calls.v1 and tasks.v1 keeps each call's and task's latest state and
 * the calls' hourly rollup (calls_apply.c), committed with its offsets;
 * GET /v1/reports/calls answers from them (report_routes.c).
 */
#include "analytics.h"
#include "analytics/schema.h"

#include "common/metrics.h"
#include "common/topics.h"

static struct analytics_ctx ctx;

int main(void)
{
    static struct cf_service svc;

    ctx.svc = &svc;
    /* Settings (settings.c), the shared ones with the service's own, and
     * the schema brought up to date. A bad setting exits 2. */
    size_t nvars = 0;
    const struct cf_config_var *vars = analytics_settings_table(&ctx.cfg, &nvars);
    if (cf_service_init(&svc, "analytics", 8084, vars, nvars, "analytics", cf_analytics_migrations,
                        cf_analytics_migrations_n) != 0)
        return 1;

    analytics_report_routes(&ctx);
    cf_metrics_describe("clinicflow_analytics_events_applied_total", "counter",
                        "events applied to analytics' facts and rollups, by consumer group");
    cf_metrics_describe("clinicflow_analytics_report_cache_total", "counter",
                        "report answers by cache result: hit (from Redis) or miss (computed)");

    /* calls.v1 and tasks.v1 -> analytics.calls, analytics.tasks and the
     * hourly rollup, offsets in the same transaction. */
    static const char *const calls_topics[] = {CF_TOPIC_CALLS, CF_TOPIC_TASKS};
    struct cf_consumer_conf calls = {
        .group_id = ANALYTICS_CALLS_GROUP,
        .topics = calls_topics,
        .ntopics = 2,
        .schema = "analytics",
        .apply = analytics_calls_apply,
        .apply_batch = analytics_calls_apply_batch,
        .batch_done = analytics_calls_batch_done,
        .ctx = &ctx,
        .batch_max = (int)ctx.cfg.batch_max,
    };
    for (long r = 0; r < ctx.cfg.runners; r++)
        if (cf_service_add_consumer(&svc, &calls) != 0)
            return 1;

    /* Start HTTP, then wait for SIGTERM and shut down in order. */
    if (cf_service_start(&svc) != 0)
        return 1;
    return cf_service_run(&svc);
}
