/*
 * clinicflow-calls: where a clinic network's telephony lands. The data path,
 * in order:
 *
 *   webhook route -> verify (key or provider signature) -> normalize to one
 *   fact -> produce to calls.raw (202 only after Kafka acknowledged) ->
 *   fold consumer: calls.raw -> call state in PostgreSQL (offsets in the
 *   same transaction) -> call.started|answered|ended|updated on calls.v1.
 *
 * The HTTP handlers never write PostgreSQL: state that spans several
 * webhooks (the legs and events of one call) is built only by the fold.
 */
#include "calls.h"

#include "common/schemas.h"
#include "common/topics.h"

static struct calls_ctx ctx;

static const struct cf_config_var calls_vars[] = {
    {"CLINICFLOW_CALLS_ABANDONED_RING_S", CF_CONF_INT, "10", &ctx.cfg.abandoned_ring_s, 0, 3600, 0,
     "a missed inbound call that rang less than this many seconds is abandoned"},
    {"CLINICFLOW_CALLS_TARGETED_TALK_S", CF_CONF_INT, "20", &ctx.cfg.targeted_talk_s, 0, 86400, 0,
     "an answered inbound call with at least this much talk time is targeted"},
    {"CLINICFLOW_CALLS_DEFAULT_COUNTRY", CF_CONF_STRING, "7", &ctx.cfg.default_cc, 0, 0, 0,
     "country calling code assumed for national number forms"},
};

int main(void)
{
    static struct cf_service svc;
    static const char *const fold_topics[] = {CF_TOPIC_CALLS_RAW};

    ctx.svc = &svc;
    if (cf_service_init(&svc, "calls", 8081, calls_vars, sizeof(calls_vars) / sizeof(calls_vars[0]),
                        "calls", cf_calls_migrations, cf_calls_migrations_n) != 0)
        return 1;

    /* Intake: webhook -> verify -> normalize -> produce to calls.raw -> ack. */
    calls_routes_register(&ctx);

    /* Fold: calls.raw -> call state -> calls.v1. */
    struct cf_consumer_conf fold = {
        .group_id = "clinicflow-calls-fold",
        .topics = fold_topics,
        .ntopics = 1,
        .schema = "calls",
        .apply = calls_fold_apply,
        .ctx = &ctx,
    };
    if (cf_service_add_consumer(&svc, &fold) != 0)
        return 1;

    if (cf_service_start(&svc) != 0)
        return 1;
    return cf_service_run(&svc);
}
