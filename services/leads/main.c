/*
 * clinicflow-leads: where a clinic network's written requests land. The
 * data path, in order (README.md names the file of each step):
 *
 *   webhook or form route -> verify (the provider's signature or the
 *   channel's token) -> normalize to one lead fact -> produce to leads.raw
 *   (the provider's success reply only after Kafka acknowledged) ->
 *   fold: leads.raw -> lead state in PostgreSQL (one open lead per person,
 *   offsets in the same transaction) -> lead.* on leads.v1 ->
 *   tasks: a respond task per lead due in the clinic's working hours, a
 *   callback task for a form with a phone -> task.* on tasks.v1; a leased
 *   sweeper emits lead.sla_breached; answered calls on calls.v1 count as
 *   responses; a clinic's outgoing webhook hears of new and breached leads.
 *
 * The HTTP handlers never write PostgreSQL with Kafka: state that spans
 * several requests (merges, the clock) is built only by the fold.
 */
#include "leads.h"

#include "common/log.h"
#include "common/topics.h"
#include "leads/schema.h"

static struct leads_ctx ctx;

static int add_consumers(struct cf_service *svc)
{
    static const char *const raw_topics[] = {LEADS_TOPIC_RAW};
    static const char *const leads_topics[] = {CF_TOPIC_LEADS};
    static const char *const calls_topics[] = {CF_TOPIC_CALLS};
    static const char *const patients_topics[] = {CF_TOPIC_PATIENTS};

    /* Fold: leads.raw -> lead state and the leads' tasks -> leads.v1,
     * tasks.v1. */
    struct cf_consumer_conf fold = {
        .group_id = LEADS_FOLD_GROUP,
        .topics = raw_topics,
        .ntopics = 1,
        .schema = "leads",
        .apply = leads_fold_apply,
        .apply_batch = leads_fold_apply_batch,
        .ctx = &ctx,
        .batch_max = (int)ctx.cfg.fold_batch_max,
    };
    /* Who wrote: patients.v1 -> the phone -> patient view. */
    struct cf_consumer_conf patients = {
        .group_id = "clinicflow-leads-patients",
        .topics = patients_topics,
        .ntopics = 1,
        .schema = "leads",
        .apply = leads_patients_apply,
        .batch_done = leads_patients_batch_done,
        .ctx = &ctx,
    };
    /* Answered calls with a lead's contact: its first response. */
    struct cf_consumer_conf calls = {
        .group_id = LEADS_CALLS_GROUP,
        .topics = calls_topics,
        .ntopics = 1,
        .schema = "leads",
        .apply = leads_calls_apply,
        .ctx = &ctx,
    };
    /* The clinics' outgoing webhooks: leads.v1 -> deliveries. */
    struct cf_consumer_conf notify = {
        .group_id = "clinicflow-leads-notify",
        .topics = leads_topics,
        .ntopics = 1,
        .schema = "leads",
        .apply = leads_notify_apply,
        .wanted = leads_notify_any,
        .ctx = &ctx,
    };
    for (long r = 0; r < ctx.cfg.fold_runners; r++)
        if (cf_service_add_consumer(svc, &fold) != 0)
            return -1;
    if (cf_service_add_consumer(svc, &patients) != 0 || cf_service_add_consumer(svc, &calls) != 0 ||
        cf_service_add_consumer(svc, &notify) != 0 ||
        cf_service_add_worker(svc, "sla sweeper", leads_sweeper, &ctx) != 0 ||
        cf_service_add_worker(svc, "notifier", leads_notifier, &ctx) != 0 ||
        cf_service_add_worker(svc, "pending expirer", leads_pending_expirer, &ctx) != 0 ||
        cf_service_add_worker(svc, "retention sweeper", leads_retention_sweeper, &ctx) != 0)
        return -1;
    return 0;
}

int main(void)
{
    static struct cf_service svc;

    ctx.svc = &svc;
    /* Settings (settings.c), the shared ones with the service's own, and
     * the schema brought up to date. A bad setting exits 2. */
    size_t nvars = 0;
    const struct cf_config_var *vars = leads_settings_table(&ctx.cfg, &nvars);
    if (cf_service_init(&svc, "leads", 8082, vars, nvars, "leads", cf_leads_migrations,
                        cf_leads_migrations_n) != 0)
        return 1;
    char errbuf[256];
    if (leads_settings_check(&ctx.cfg, errbuf, sizeof(errbuf)) != 0) {
        cf_error("%s", errbuf);
        cf_service_discard(&svc);
        return 2;
    }

    /* Intake: no PostgreSQL on that path, so an intake-only instance stays
     * ready without it. */
    cf_service_routes_without_pg(&svc);
    if (cf_proxies_parse(ctx.cfg.trusted_proxies, &ctx.proxies, errbuf, sizeof(errbuf)) != 0) {
        cf_error("CLINICFLOW_LEADS_TRUSTED_PROXIES: %s", errbuf); /* checked when loaded */
        cf_service_discard(&svc);
        return 2;
    }
    leads_hooks_describe_metrics();
    leads_fold_describe_metrics();
    leads_routes_register(&ctx);

    leads_patients_init(&ctx);
    /* The topics this service writes: the intake's, and the fold's and
     * tasks' when it runs them. */
    static const char *const produced[] = {LEADS_TOPIC_RAW, CF_TOPIC_LEADS, CF_TOPIC_TASKS};
    cf_kafka_producer_warm(svc.producer, produced, ctx.cfg.consumers ? 3 : 1);
    if (ctx.cfg.consumers && add_consumers(&svc) != 0)
        return 1;

    /* Start HTTP, then wait for SIGTERM and shut down in order. */
    if (cf_service_start(&svc) != 0)
        return 1;
    int rc = cf_service_run(&svc);
    if (ctx.calls_fold) /* made by the calls consumer, which has stopped */
        cf_fold_progress_free(ctx.calls_fold);
    cf_proxies_free(&ctx.proxies);
    return rc;
}
