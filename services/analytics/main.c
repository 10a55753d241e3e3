/*
 * clinicflow-analytics: the network's numbers from the topics. Four
 * consumer groups keep the facts, each batch committed with its offsets:
 * calls and tasks with the calls' hourly rollup (calls_apply.c), leads
 * (leads_apply.c), appointments and patients (mis_apply.c), reminder
 * outcomes (outcomes_apply.c). The routes answer from them: reports
 * (report_routes.c), the records behind them and the worklist
 * (records_routes.c), and take ad spend (spend_routes.c). The dashboard
 * (web_routes.c) reads them with a session (session_routes.c).
 */
#include "analytics.h"
#include "analytics/schema.h"
#include "report_cache.h"

#include <limits.h>

#include "common/kafka.h"
#include "common/log.h"
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

    if (analytics_cache_start(&ctx) != 0)
        return 1;
    static const char *const produced[] = {CF_TOPIC_METRICS};
    cf_kafka_producer_warm(svc.producer, produced, 1);
    analytics_report_routes(&ctx);
    analytics_spend_routes(&ctx);
    analytics_records_routes(&ctx);
    analytics_session_routes(&ctx);
    char errbuf[PATH_MAX + 128];
    if (analytics_web_routes(&ctx, errbuf, sizeof(errbuf)) != 0)
        cf_warn("%s: / answers 404; the API is not affected", errbuf);
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
        .apply_batch = analytics_calls_apply_batch,
        .ctx = &ctx,
        .batch_max = (int)ctx.cfg.batch_max,
    };
    for (long r = 0; r < ctx.cfg.runners; r++)
        if (cf_service_add_consumer(&svc, &calls) != 0)
            return 1;

    /* leads.v1 -> analytics.leads. */
    static const char *const leads_topics[] = {CF_TOPIC_LEADS};
    struct cf_consumer_conf leads = {
        .group_id = ANALYTICS_LEADS_GROUP,
        .topics = leads_topics,
        .ntopics = 1,
        .schema = "analytics",
        .apply_batch = analytics_leads_apply_batch,
        .ctx = &ctx,
        .batch_max = (int)ctx.cfg.batch_max,
    };
    if (cf_service_add_consumer(&svc, &leads) != 0)
        return 1;

    /* appointments.v1 and patients.v1 -> analytics.appointments,
     * patients and their contact keys. */
    static const char *const mis_topics[] = {CF_TOPIC_APPOINTMENTS, CF_TOPIC_PATIENTS};
    struct cf_consumer_conf mis = {
        .group_id = ANALYTICS_MIS_GROUP,
        .topics = mis_topics,
        .ntopics = 2,
        .schema = "analytics",
        .apply_batch = analytics_mis_apply_batch,
        .ctx = &ctx,
        .batch_max = (int)ctx.cfg.batch_max,
    };
    if (cf_service_add_consumer(&svc, &mis) != 0)
        return 1;

    /* reminders.outcomes.v1 -> analytics.reminder_outcomes,
     * campaign_members, nps_answers. */
    static const char *const outcome_topics[] = {CF_TOPIC_REMINDER_OUTCOMES};
    struct cf_consumer_conf outcomes = {
        .group_id = ANALYTICS_REMINDERS_GROUP,
        .topics = outcome_topics,
        .ntopics = 1,
        .schema = "analytics",
        .apply_batch = analytics_outcomes_apply_batch,
        .ctx = &ctx,
        .batch_max = (int)ctx.cfg.batch_max,
    };
    if (cf_service_add_consumer(&svc, &outcomes) != 0)
        return 1;

    /* Start HTTP, then wait for SIGTERM and shut down in order. */
    if (cf_service_start(&svc) != 0)
        return 1;
    int code = cf_service_run(&svc);
    analytics_web_free(&ctx);
    return code;
}
