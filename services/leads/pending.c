/*
 * The expiry of facts waiting for their lead. A response or status naming
 * a lead that is not stored waits in leads.pending_facts (fold.c), so
 * that it neither holds the fold nor is lost when it reaches leads.raw
 * before the request that opens its lead; the request's first save takes
 * it. One whose lead never comes (a made-up or mistyped id, or another
 * network's lead) leaves the table here after
 * CLINICFLOW_LEADS_PENDING_EXPIRE_S for the DLQ (unknown_lead), as the
 * fold's group would have sent it, counted on /metrics. Any instance that
 * folds runs it: rows are taken FOR UPDATE SKIP LOCKED, so two instances
 * never send one twice, and the fold's take waits for neither.
 */
#include "leads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/topics.h"

#define EXPIRE_ROUND 100 /* facts one transaction sends to the DLQ, at most */

/* Queues the DLQ entry of an expired fact: its message on leads.raw
 * (partition, offset, value as it was, keyed by its lead id as the events
 * route keys it), with the id the entry has whoever sends it. */
static void dlq_expired(struct cf_outbox *out, const char *network_id, const char *lead_id,
                        const char *partition, const char *offset, const char *value, long wait_s)
{
    char reason[160];
    snprintf(reason, sizeof(reason),
             "fact for lead %s: no lead of the network was stored within %ld s", lead_id, wait_s);
    const size_t klen = strlen(lead_id);
    char *entry = cf_consumer_dlq_entry(
        LEADS_FOLD_GROUP, LEADS_TOPIC_RAW, (int32_t)strtol(partition, NULL, 10),
        strtoll(offset, NULL, 10), lead_id, klen, value, strlen(value), network_id, NULL,
        "unknown_lead", reason, cf_time_now_ms());
    cf_outbox_push(out, CF_TOPIC_DLQ, lead_id, klen, entry, strlen(entry));
}

/* One round: up to EXPIRE_ROUND facts that waited past the setting leave
 * the table, in a transaction that commits only once Kafka has their DLQ
 * entries. A commit that fails after Kafka took them leaves the rows: the
 * next round sends the same entries (same ids) again. Returns how many,
 * or a negative error with the reason in errbuf. */
static int expire_once(struct leads_ctx *ctx, PGconn *conn, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    struct cf_outbox *out = cf_outbox_new();
    char wait[24], limit[16];
    snprintf(wait, sizeof(wait), "%ld", ctx->cfg.pending_expire_s);
    snprintf(limit, sizeof(limit), "%d", EXPIRE_ROUND);
    const char *params[] = {wait, limit};
    int n = 0;
    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec(conn,
                        "DELETE FROM leads.pending_facts WHERE event_id IN"
                        " (SELECT event_id FROM leads.pending_facts"
                        " WHERE received_at < now() - make_interval(secs => $1::integer)"
                        " ORDER BY received_at LIMIT $2::integer FOR UPDATE SKIP LOCKED)"
                        " RETURNING network_id, lead_id::text, raw_partition::text,"
                        " raw_offset::text, event",
                        2, params, &res, errbuf, errbuf_size);
    if (rc == 0) {
        n = PQntuples(res);
        for (int i = 0; i < n; i++)
            dlq_expired(out, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                        PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), ctx->cfg.pending_expire_s);
    }
    PQclear(res);
    if (rc == 0 && n > 0)
        rc = cf_outbox_produce(ctx->svc->producer, out, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_commit(conn, errbuf, errbuf_size);
    else
        cf_pg_rollback(conn);
    cf_outbox_free(out);
    if (rc != 0)
        return rc;
    if (n > 0) {
        cf_metrics_add("clinicflow_leads_pending_expired_total", "", n);
        cf_warn("%d facts expired without their lead (sent to the dlq)", n);
    }
    return n;
}

/* The worker: a round every tenth of the setting (at most a minute
 * apart), and the count of facts waiting on all instances. */
void leads_pending_expirer(void *vctx)
{
    struct leads_ctx *ctx = vctx;
    long interval_ms = ctx->cfg.pending_expire_s * 100;
    char errbuf[256];

    if (interval_ms > 60000)
        interval_ms = 60000;
    cf_metrics_describe("clinicflow_leads_pending_expired_total", "counter",
                        "Lead responses and statuses sent to the DLQ (unknown_lead) because no "
                        "lead of their network was stored within "
                        "CLINICFLOW_LEADS_PENDING_EXPIRE_S");
    cf_metrics_describe("clinicflow_leads_pending_waiting", "gauge",
                        "Lead responses and statuses waiting for their lead (all instances)");
    while (!cf_service_sleep(ctx->svc, interval_ms)) {
        PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_warn("pending expirer: %s", errbuf);
            continue;
        }
        int n;
        while ((n = expire_once(ctx, conn, errbuf, sizeof(errbuf))) == EXPIRE_ROUND)
            ;
        if (n < 0)
            cf_warn("pending expirer: %s", errbuf);
        PGresult *res = NULL;
        if (cf_pg_exec(conn, "SELECT count(*) FROM leads.pending_facts", 0, NULL, &res, errbuf,
                       sizeof(errbuf)) == 0)
            cf_metrics_set("clinicflow_leads_pending_waiting", "",
                           strtod(PQgetvalue(res, 0, 0), NULL));
        PQclear(res);
        cf_pg_pool_release(ctx->svc->pg, conn);
    }
}
