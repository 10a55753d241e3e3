/*
 * The outbox relay: produces what the record API staged in
 * reminders.outbox, right after the commit that staged it (the handler
 * kicks this thread) and every relay_every_ms for what an earlier relay
 * here or in another instance could not send (Kafka down, a process that
 * died after its commit), and again within RELAY_AGAIN_MS while events
 * are left after a round that failed nothing (another instance's relay
 * held the lock). cf_outbox_relay takes one relay per schema at a time, so
 * instances never reorder each other's events. The wake-up flag
 * and its condition variable are guarded by relay_mu; this thread alone
 * waits on them.
 */
#include "reminders.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/time.h"

#define RELAY_LIMIT 500
#define RELAY_AGAIN_MS 25

void reminders_relay_init(struct reminders_ctx *ctx)
{
    pthread_condattr_t cattr;
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_mutex_init(&ctx->relay_mu, NULL);
    pthread_cond_init(&ctx->relay_cv, &cattr);
    pthread_condattr_destroy(&cattr);
    cf_metrics_describe("clinicflow_reminders_outbox_pending", "gauge",
                        "events staged by the record API and not yet acknowledged by Kafka");
}

void reminders_relay_destroy(struct reminders_ctx *ctx)
{
    pthread_cond_destroy(&ctx->relay_cv);
    pthread_mutex_destroy(&ctx->relay_mu);
}

void reminders_relay_kick(struct reminders_ctx *ctx)
{
    pthread_mutex_lock(&ctx->relay_mu);
    ctx->kicked = 1;
    pthread_cond_signal(&ctx->relay_cv);
    pthread_mutex_unlock(&ctx->relay_mu);
}

/* Waits for a kick or up to ms; the kick stays set for the caller to see
 * (it clears it when it relays). */
static void wait_kick(struct reminders_ctx *ctx, long ms)
{
    struct timespec until;
    cf_time_deadline(CLOCK_MONOTONIC, ms, &until);
    pthread_mutex_lock(&ctx->relay_mu);
    while (!ctx->kicked) {
        if (pthread_cond_timedwait(&ctx->relay_cv, &ctx->relay_mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&ctx->relay_mu);
}

/* The gauge of staged events: the span of their sequence numbers, read at
 * the key index's two ends (a count would read every row, and the dead
 * ones a busy relay leaves behind until vacuum). Exact while events leave
 * in order, as the relay sends them; at most once a relay_every_ms. */
static void count_pending(PGconn *conn)
{
    char errbuf[256];
    PGresult *res = NULL;
    if (cf_pg_exec(conn, "SELECT coalesce(max(seq) - min(seq) + 1, 0) FROM reminders.outbox", 0,
                   NULL, &res, errbuf, sizeof(errbuf)) == 0)
        cf_metrics_set("clinicflow_reminders_outbox_pending", "",
                       strtod(PQgetvalue(res, 0, 0), NULL));
    PQclear(res);
}

/* 1 when any staged event is left (the oldest, through the key's index), 0
 * when none or it cannot tell. */
static int any_pending(PGconn *conn)
{
    char errbuf[256];
    int any = 0;
    cf_pg_exec_any(conn, "SELECT seq FROM reminders.outbox ORDER BY seq LIMIT 1", 0, NULL, &any,
                   errbuf, sizeof(errbuf));
    return any;
}

void reminders_relay(void *vctx)
{
    struct reminders_ctx *ctx = vctx;
    char errbuf[256];

    /* A short wait between looks keeps the shutdown prompt; the database is
     * asked only on a kick or once relay_every_ms has passed. */
    const long step_ms = ctx->cfg.relay_every_ms < 250 ? ctx->cfg.relay_every_ms : 250;
    long idle_ms = ctx->cfg.relay_every_ms;
    int64_t counted_ms = 0;
    while (!cf_service_sleep(ctx->svc, 0)) {
        if (idle_ms < ctx->cfg.relay_every_ms) {
            pthread_mutex_lock(&ctx->relay_mu);
            const int kicked = ctx->kicked;
            pthread_mutex_unlock(&ctx->relay_mu);
            if (!kicked) {
                wait_kick(ctx, step_ms);
                idle_ms += step_ms;
                continue;
            }
        }
        idle_ms = 0;
        pthread_mutex_lock(&ctx->relay_mu);
        ctx->kicked = 0;
        pthread_mutex_unlock(&ctx->relay_mu);
        PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_debug("outbox relay: %s", errbuf);
            continue;
        }
        /* A long backlog (a first load's events) is sent a round at a
         * time, and a shutdown stops it between rounds: what is left stays
         * staged for the next relay. */
        int n;
        while ((n = cf_outbox_relay(ctx->svc->producer, conn, "reminders", RELAY_LIMIT, errbuf,
                                    sizeof(errbuf))) == RELAY_LIMIT &&
               !cf_service_sleep(ctx->svc, 0))
            ;
        if (n < 0)
            cf_warn("outbox relay: events staged, not yet produced: %s", errbuf);
        const int left = n >= 0 && any_pending(conn);
        const int64_t now = cf_time_mono_ms();
        if (now - counted_ms >= ctx->cfg.relay_every_ms) {
            count_pending(conn);
            counted_ms = now;
        }
        cf_pg_pool_release(ctx->svc->pg, conn);
        /* Left behind, and Kafka took what we sent: another instance's
         * relay held the lock (its look may have come before our commit),
         * or events were staged meanwhile. Looked at again after a short
         * wait rather than at the next kick or relay_every_ms, so a due
         * reminder never waits a whole interval in the outbox. A relay
         * that failed waits the interval (Kafka is down). */
        if (left) {
            wait_kick(ctx, RELAY_AGAIN_MS);
            idle_ms = ctx->cfg.relay_every_ms;
        }
    }
}
