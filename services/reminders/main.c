/*
 * clinicflow-reminders: the clinic's MIS pushes patients and appointments
 * (mis_routes.c, a record API); their events reach clinicflow.patients.v1
 * and clinicflow.appointments.v1 through the outbox (relay.c); each
 * appointment's reminders are planned with it (plan.c), and the scheduler
 * turns due ones into commands (scheduler.c).
 */
#include "reminders.h"
#include "reminders/schema.h"
#include "dispatch.h"
#include "recall.h"
#include "scheduler.h"

#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/topics.h"

static struct reminders_ctx ctx;

int main(void)
{
    static struct cf_service svc;

    ctx.svc = &svc;
    /* Settings (settings.c), the shared ones with the service's own, and
     * the schema brought up to date. A bad setting exits 2. */
    size_t nvars = 0;
    const struct cf_config_var *vars = reminders_settings_table(&ctx.cfg, &nvars);
    if (cf_service_init(&svc, "reminders", 8083, vars, nvars, "reminders", cf_reminders_migrations,
                        cf_reminders_migrations_n) != 0)
        return 1;
    char errbuf[256];
    if (reminders_settings_check(&ctx.cfg, errbuf, sizeof(errbuf)) != 0) {
        cf_error("%s", errbuf);
        cf_service_discard(&svc);
        return 2;
    }

    static const char *const produced[] = {CF_TOPIC_PATIENTS, CF_TOPIC_APPOINTMENTS,
                                           CF_TOPIC_REMINDER_COMMANDS, CF_TOPIC_REMINDER_OUTCOMES,
                                           CF_TOPIC_TASKS};
    cf_kafka_producer_warm(svc.producer, produced, 5);
    reminders_relay_init(&ctx);
    reminders_mis_routes(&ctx);
    reminders_history_routes(&ctx);
    reminders_hooks_routes(&ctx);
    reminders_nps_routes(&ctx);
    /* Dispatch: reminders.commands.v1 -> the clinics' gateways. */
    static const char *const commands[] = {CF_TOPIC_REMINDER_COMMANDS};
    struct cf_consumer_conf dispatch = {
        .group_id = REMINDERS_DISPATCH_GROUP,
        .topics = commands,
        .ntopics = 1,
        .schema = "reminders",
        .apply = reminders_dispatch_apply,
        .batch_done = reminders_dispatch_batch_done,
        .ctx = &ctx,
        .batch_max = 50,
    };
    cf_metrics_describe("clinicflow_reminders_sends_total", "counter",
                        "sends by gateway and status: sent, failed, skipped, unknown (a process "
                        "died mid-send, or no answer in time)");
    for (long r = 0; r < ctx.cfg.dispatch_runners; r++)
        if (cf_service_add_consumer(&svc, &dispatch) != 0)
            return 1;
    if (cf_service_add_worker(&svc, "outbox relay", reminders_relay, &ctx) != 0 ||
        cf_service_add_worker(&svc, "scheduler", reminders_scheduler, &ctx) != 0 ||
        cf_service_add_worker(&svc, "recall", reminders_recall, &ctx) != 0 ||
        cf_service_add_worker(&svc, "silent calls", reminders_silent_calls, &ctx) != 0 ||
        cf_service_add_worker(&svc, "retention sweeper", reminders_retention, &ctx) != 0)
        return 1;

    /* POST /v1/mis/batch: a streaming listener of its own (mis_batch.c). */
    if (reminders_batch_start(&ctx) != 0)
        return 1;
    /* Start HTTP, then wait for SIGTERM and shut down in order. */
    if (cf_service_start(&svc) != 0)
        return 1;
    int rc = cf_service_run(&svc);
    reminders_relay_destroy(&ctx);
    return rc;
}
