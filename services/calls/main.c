/*
 * clinicflow-calls: where a clinic network's telephony lands. The data path,
 * in order (README.md names the file of each step):
 *
 *   webhook route -> verify (key or provider signature) -> normalize to one
 *   fact -> produce to calls.raw (202 only after Kafka acknowledged) ->
 *   fold consumer: calls.raw -> call state in PostgreSQL (offsets in the
 *   same transaction) -> call.started|answered|ended|updated on calls.v1 ->
 *   callbacks consumer: missed calls open callback tasks, answered calls
 *   close them -> task.opened|updated|closed on tasks.v1; a sweeper expires
 *   the lost ones (task.expired).
 *
 * The HTTP handlers never write PostgreSQL: state that spans several
 * webhooks (the legs and events of one call) is built only by the fold.
 * main reads the settings (settings.c), then adds the routes, the workers
 * and the consumers in that order, starts HTTP and waits for a signal.
 */
#include "calls.h"

#include "common/fold_progress.h"
#include "common/log.h"
#include "common/metrics.h"
#include "calls/schema.h"
#include "common/topics.h"

static struct calls_ctx ctx;

/* The fold, the patient view and the callbacks with their sweeper: what an
 * intake-only instance (CLINICFLOW_CALLS_CONSUMERS=0) leaves to others. */
static int add_consumers(struct cf_service *svc)
{
    static const char *const fold_topics[] = {CF_TOPIC_CALLS_RAW};
    static const char *const tasks_topics[] = {CF_TOPIC_CALLS};
    static const char *const patients_topics[] = {CF_TOPIC_PATIENTS};

    /* How far the fold has come, for the callbacks' runners (tasks.c). */
    ctx.fold_seen =
        cf_fold_progress_new("calls", CALLS_FOLD_GROUP, CF_TOPIC_CALLS_RAW, "callbacks consumer");
    cf_metrics_describe("clinicflow_calls_tasks_settled_unseen_total", "counter",
                        "Callback tasks past their lost time settled from the call store while "
                        "the fold had been behind longer than the callbacks consumer waits for "
                        "it (a callback still on calls.raw then was not seen)");

    /* Fold: calls.raw -> call state -> calls.v1. */
    struct cf_consumer_conf fold = {
        .group_id = CALLS_FOLD_GROUP,
        .topics = fold_topics,
        .ntopics = 1,
        .schema = "calls",
        .apply = calls_fold_apply,
        .apply_batch = calls_fold_apply_batch,
        .ctx = &ctx,
        .batch_max = (int)ctx.cfg.fold_batch_max,
    };
    for (long r = 0; r < ctx.cfg.fold_runners; r++)
        if (cf_service_add_consumer(svc, &fold) != 0)
            return -1;
    if (cf_service_add_worker(svc, "result expirer", calls_results_expirer, &ctx) != 0)
        return -1;

    /* Who is calling: patients.v1 -> the phone -> patient view. */
    struct cf_consumer_conf patients = {
        .group_id = "clinicflow-calls-patients",
        .topics = patients_topics,
        .ntopics = 1,
        .schema = "calls",
        .apply = calls_patients_apply,
        .batch_done = calls_patients_batch_done,
        .ctx = &ctx,
    };
    if (cf_service_add_consumer(svc, &patients) != 0)
        return -1;

    /* Callbacks: calls.v1 -> callback tasks -> tasks.v1, and the sweeper
     * that expires the lost ones. */
    struct cf_consumer_conf tasks = {
        .group_id = "clinicflow-calls-tasks",
        .topics = tasks_topics,
        .ntopics = 1,
        .schema = "calls",
        .apply = calls_tasks_apply,
        .apply_batch = calls_tasks_apply_batch,
        .ctx = &ctx,
    };
    if (cf_service_add_consumer(svc, &tasks) != 0 ||
        cf_service_add_worker(svc, "task sweeper", calls_tasks_sweeper, &ctx) != 0)
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
    const struct cf_config_var *vars = calls_settings_table(&ctx.cfg, &nvars);
    if (cf_service_init(&svc, "calls", 8081, vars, nvars, "calls", cf_calls_migrations,
                        cf_calls_migrations_n) != 0)
        return 1;
    char errbuf[256];
    if (calls_settings_check(&ctx.cfg, errbuf, sizeof(errbuf)) != 0) {
        cf_error("%s", errbuf);
        cf_service_discard(&svc);
        return 2;
    }
    if (cf_proxies_parse(ctx.cfg.trusted_proxies, &ctx.proxies, errbuf, sizeof(errbuf)) != 0) {
        cf_error("CLINICFLOW_CALLS_TRUSTED_PROXIES: %s", errbuf); /* checked when loaded */
        cf_service_discard(&svc);
        return 2;
    }
    ctx.patients = (struct cf_patients){
        .schema = "calls", .redis = svc.redis, .erase = calls_erase_person, .erase_arg = &ctx};

    /* Intake: webhook -> verify -> normalize -> produce to calls.raw -> ack.
     * No PostgreSQL on that path: an intake-only instance stays ready
     * without it. */
    cf_service_routes_without_pg(&svc);
    cf_metrics_describe("clinicflow_calls_hooks_refused_total", "counter",
                        "Provider webhooks refused, by reason: signature (a bad signature or "
                        "URL token, 401), replay (a signed time older than the replay window, "
                        "401), source (not from the channel's allowed_sources, 401), time (a "
                        "time out of bounds, 400)");
    cf_metrics_describe("clinicflow_calls_hooks_ignored_total", "counter",
                        "Provider webhooks acknowledged without recording a fact, by provider "
                        "and reason");
    cf_metrics_describe("clinicflow_calls_hooks_amended_total", "counter",
                        "Provider webhooks recorded with a value replaced or left out (a time "
                        "that did not parse or was out of bounds), by provider and reason");
    calls_routes_register(&ctx);

    /* Dynamic number insertion: hold extensions written in batches (the
     * instance that answered the request holds them). */
    calls_dni_describe_metrics();
    if (cf_service_add_worker(&svc, "dni flusher", calls_dni_flusher, &ctx) != 0)
        return 1;

    /* The topics this service writes: the intake's, and the fold's and
     * callbacks' when it runs them. */
    static const char *const produced[] = {CF_TOPIC_CALLS_RAW, CF_TOPIC_CALLS, CF_TOPIC_TASKS};
    cf_kafka_producer_warm(svc.producer, produced, ctx.cfg.consumers ? 3 : 1);
    if (ctx.cfg.consumers && add_consumers(&svc) != 0)
        return 1;
    /* Upkeep of the tables the consumers fill (one instance at a time). */
    if (ctx.cfg.consumers &&
        cf_service_add_worker(&svc, "retention sweeper", calls_retention_sweeper, &ctx) != 0)
        return 1;

    /* Start HTTP, then wait for SIGTERM and shut down in order. */
    if (cf_service_start(&svc) != 0)
        return 1;
    int rc = cf_service_run(&svc);
    if (rc == 0 && ctx.fold_seen) /* else a consumer abandoned may still ask it */
        cf_fold_progress_free(ctx.fold_seen);
    cf_proxies_free(&ctx.proxies);
    return rc;
}
