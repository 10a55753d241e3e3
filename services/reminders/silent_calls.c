/*
 * Robot calls nobody reported on. A call a gateway took (the send `sent`)
 * ends only when the gateway reports it: a key pressed, no answer, busy.
 * A dialer that crashed after taking it, or a status callback lost on its
 * way, would leave the reminder waiting for good: no SMS rung, no
 * front-desk task, the visit neither confirmed nor not. This worker gives
 * such a call, once CLINICFLOW_REMINDERS_CALL_REPORT_WAIT_S has passed
 * since it went, the outcome `unknown` (reason `no_report`), as a send
 * whose gateway never answered has: the ladder does not call again
 * blindly, the reminder is not_confirmed and the front desk is asked to
 * call (ladder_rules.c). A report that comes after all still tells
 * (ladder_take). Any number of instances run it: each call is given its
 * outcome in a transaction of its own that locks its visit, then the send
 * (the order of a report and of the MIS's changes: two sends of one round
 * locked in the other order would deadlock with them), and checks again
 * that no report came meanwhile; its events are staged in the outbox in
 * the same transaction.
 */
#include "reminders.h"
#include "outcome.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/netconf.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/time.h"

#define SILENT_BATCH 100
/* the look's period: a quarter of the wait, at most a minute */
#define SILENT_EVERY_MAX_MS 60000L

/* The call send_id given unknown in a transaction of its own, if it is
 * still silent once its visit and it are locked: 1 applied, 0 not (a
 * report came, or another instance took it), or an error. */
static int silent_one(struct reminders_ctx *ctx, PGconn *conn,
                      const struct cf_netconf_snapshot *snap, const char *send_id, const char *wait,
                      char *errbuf, size_t errbuf_size)
{
    const char *params[] = {send_id, wait};
    struct cf_outbox *out = cf_outbox_new();
    int applied = 0, still = 0, misfit = 0; /* unknown fits every send */

    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0)
        rc = outcome_store_lock_visit(conn, send_id, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec_any(conn,
                            "SELECT 1 FROM reminders.sends WHERE send_id = $1::uuid"
                            " AND status = 'sent' AND outcome IS NULL"
                            " AND updated_at < now() - make_interval(secs => $2::int)"
                            " FOR UPDATE SKIP LOCKED",
                            2, params, &still, errbuf, errbuf_size);
    if (rc == 0 && still) {
        const struct reminders_outcome o = {
            .send_id = send_id,
            .outcome = "unknown",
            .reason = "no_report",
            .duration_s = -1,
        };
        rc = reminders_outcome_apply(conn, snap, NULL, &o, cf_time_now_ms(), out, &applied, &misfit,
                                     errbuf, errbuf_size);
    }
    rc = cf_outbox_stage_commit(conn, "reminders", out, rc, errbuf, errbuf_size);
    if (rc < 0)
        return rc;
    if (rc > 0)
        reminders_relay_kick(ctx);
    return applied;
}

/* One round: up to SILENT_BATCH such calls given unknown, each committed
 * with its events. How many were looked at, or an error. */
static int silent_round(struct reminders_ctx *ctx, PGconn *conn, char *errbuf, size_t errbuf_size)
{
    char wait[24], limit[16];
    snprintf(wait, sizeof(wait), "%ld", ctx->cfg.call_report_wait_s);
    snprintf(limit, sizeof(limit), "%d", SILENT_BATCH);
    const char *params[] = {wait, limit};
    PGresult *res = NULL;
    int n = 0, rc = cf_pg_exec(conn,
                               "SELECT send_id FROM reminders.sends WHERE status = 'sent'"
                               " AND channel = 'call' AND outcome IS NULL"
                               " AND updated_at < now() - make_interval(secs => $1::int)"
                               " ORDER BY updated_at LIMIT $2::int",
                               2, params, &res, errbuf, errbuf_size);
    const int looked = rc == 0 ? PQntuples(res) : 0;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    for (int i = 0; rc >= 0 && i < looked; i++) {
        rc = silent_one(ctx, conn, snap, PQgetvalue(res, i, 0), wait, errbuf, errbuf_size);
        n += rc > 0;
    }
    cf_netconf_release(snap);
    PQclear(res);
    if (rc < 0)
        return rc;
    if (n > 0) {
        cf_warn("silent calls: %d robot call(s) with no report %ld s after they went: unknown", n,
                ctx->cfg.call_report_wait_s);
        cf_metrics_add("clinicflow_reminders_calls_unreported_total", NULL, n);
    }
    return looked;
}

void reminders_silent_calls(void *vctx)
{
    struct reminders_ctx *ctx = vctx;
    char errbuf[256];
    long every = ctx->cfg.call_report_wait_s * 1000 / 4;

    if (every > SILENT_EVERY_MAX_MS)
        every = SILENT_EVERY_MAX_MS;
    cf_metrics_describe("clinicflow_reminders_calls_unreported_total", "counter",
                        "robot calls a gateway took and never reported on within "
                        "CLINICFLOW_REMINDERS_CALL_REPORT_WAIT_S: given the outcome unknown "
                        "(the front desk asked to call)");
    while (!cf_service_sleep(ctx->svc, every)) {
        PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_debug("silent calls: %s", errbuf);
            continue;
        }
        int n;
        while ((n = silent_round(ctx, conn, errbuf, sizeof(errbuf))) == SILENT_BATCH &&
               !cf_service_sleep(ctx->svc, 0))
            ;
        if (n < 0)
            cf_warn("silent calls: not looked for: %s", errbuf);
        cf_pg_pool_release(ctx->svc->pg, conn);
    }
}
