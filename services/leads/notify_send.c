/*
 * The clinics' outgoing webhooks, second half: a worker (any number of
 * instances run it) that sends the deliveries notify.c queued in
 * leads.deliveries. A round claims a few due rows with FOR UPDATE SKIP
 * LOCKED and leases them in the same statement (next_at moves past the
 * time their sends can take, attempts counts the attempt), so two
 * instances never send one delivery at once; the sends then run without
 * a transaction or a pooled connection held, and each outcome is written
 * back under the lease (the row's attempt count). An instance that dies
 * mid-send leaves its rows to come due again when the lease ends: a
 * delivery is at least once, and receivers drop repeats by the event id.
 *
 * Each attempt is signed anew (README.md: X-Clinicflow-Timestamp and
 * X-Clinicflow-Signature over the timestamp and the body) with the
 * clinic's current secret, so a rotated secret applies to retries. A 2xx
 * answer delivers; anything else, no answer within
 * CLINICFLOW_LEADS_NOTIFY_TIMEOUT_MS included, is retried after
 * CLINICFLOW_LEADS_NOTIFY_BACKOFF_MS doubling per failure (at most an
 * hour), and given up, and counted, after
 * CLINICFLOW_LEADS_NOTIFY_MAX_ATTEMPTS attempts.
 */
#include "leads.h"
#include "lead_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/testable.h"
#include "common/xmalloc.h"
#include "notify.h"
#include "notify_testable.h"

/* Deliveries one round claims at most: their sends run one after another
 * under one lease. */
#define CLAIM_MAX 8
/* The largest answer body read (the body is not used): a longer one ends
 * the exchange there and its status counts, so a receiver that answers 2xx
 * at length has the delivery (README.md), not a failure retried. */
#define ANSWER_MAX 65536

CF_TESTABLE void leads_notify_sign(const char *secret, int64_t timestamp_s, const char *body,
                                   size_t len, char out[LEADS_NOTIFY_SIG_LEN + 1])
{
    char t[24];
    int tn = snprintf(t, sizeof(t), "%" PRId64 ".", timestamp_s);
    size_t n = (size_t)tn + len;
    char *msg = cf_xmalloc(n + 1);
    uint8_t mac[32];

    memcpy(msg, t, (size_t)tn);
    if (len)
        memcpy(msg + tn, body, len);
    cf_hmac_sha256(secret, strlen(secret), msg, n, mac);
    memcpy(out, "v1=", 3);
    cf_hex(mac, sizeof(mac), out + 3);
    free(msg);
}

CF_TESTABLE long leads_notify_backoff_ms(long first_ms, long failed_attempts)
{
    long delay = first_ms;
    for (long i = 1; i < failed_attempts && delay < LEADS_NOTIFY_BACKOFF_CAP_MS; i++)
        delay *= 2;
    return delay < LEADS_NOTIFY_BACKOFF_CAP_MS ? delay : LEADS_NOTIFY_BACKOFF_CAP_MS;
}

CF_TESTABLE enum leads_notify_next leads_notify_after(long status, long attempts, long max_attempts,
                                                      long first_ms, long *delay_ms)
{
    if (status >= 200 && status < 300)
        return LEADS_NOTIFY_DONE;
    if (attempts >= max_attempts)
        return LEADS_NOTIFY_GIVE_UP;
    *delay_ms = leads_notify_backoff_ms(first_ms, attempts);
    return LEADS_NOTIFY_RETRY;
}

/* One claimed delivery (strings borrowed from the claim's result). */
struct delivery {
    const char *event_id, *network_id, *clinic_id, *type, *body;
    long attempts; /* this attempt's number: the lease is ours while the row has it */
};

/* Claims up to CLAIM_MAX due deliveries and leases them; *res holds them
 * (PQclear it). Blocks on conn. */
static int claim(struct leads_ctx *ctx, PGconn *conn, PGresult **res, char *errbuf,
                 size_t errbuf_size)
{
    char lease[32], limit[16];
    snprintf(lease, sizeof(lease), "%ld", (ctx->cfg.notify_timeout_ms * CLAIM_MAX + 30000) / 1000);
    snprintf(limit, sizeof(limit), "%d", CLAIM_MAX);
    const char *params[] = {lease, limit};
    /* A delivery of a lead whose person was erased goes unsent: the
     * erasure deletes the deliveries it sees, and one the notify consumer
     * committed beside it (each statement blind to the other's) is
     * deleted here. */
    int rc = cf_pg_exec(conn,
                        "DELETE FROM leads.deliveries d USING leads.leads l"
                        " WHERE d.status = 'pending' AND d.next_at <= now()"
                        " AND l.lead_id = d.lead_id AND " LEADS_ERASED_SQL("l"),
                        0, NULL, NULL, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    return cf_pg_exec(conn,
                      "UPDATE leads.deliveries SET attempts = attempts + 1,"
                      " next_at = now() + make_interval(secs => $1::int)"
                      " WHERE event_id IN (SELECT d.event_id FROM leads.deliveries d"
                      " WHERE d.status = 'pending' AND d.next_at <= now()"
                      " AND NOT EXISTS (SELECT 1 FROM leads.leads l WHERE l.lead_id = d.lead_id"
                      " AND " LEADS_ERASED_SQL(
                          "l") ")"
                               " ORDER BY d.next_at LIMIT $2::int FOR UPDATE OF d SKIP LOCKED)"
                               " RETURNING event_id::text, network_id, clinic_id, event_type, body,"
                               " attempts",
                      2, params, res, errbuf, errbuf_size);
}

/* One attempt: signs and POSTs d's body to the clinic's webhook as the
 * network config names it now. Returns the HTTP status, or 0 with the
 * reason in why when there was no answer (or no webhook: *gone is set).
 * Blocks up to the attempt's timeout. */
static long attempt(struct leads_ctx *ctx, const struct delivery *d, int *gone, char *why,
                    size_t why_size)
{
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    const struct cf_network *net = cf_netconf_network(snap, d->network_id);
    const struct cf_clinic *clinic = net ? cf_netconf_clinic(net, d->clinic_id) : NULL;
    const char *url, *secret;
    struct cf_http_client_response answer = {0};
    long status = 0;

    *gone = 0;
    if (!clinic || !leads_notify_webhook(clinic->doc, &url, &secret)) {
        *gone = 1;
        snprintf(why, why_size, "the clinic names no lead_webhook any more");
        goto out;
    }
    const int64_t t = cf_time_now_ms() / 1000;
    const size_t len = strlen(d->body);
    char sig[LEADS_NOTIFY_SIG_LEN + 1];
    leads_notify_sign(secret, t, d->body, len, sig);
    char h_ts[64], h_sig[128], h_id[96], h_type[160], h_attempt[48];
    snprintf(h_ts, sizeof(h_ts), "X-Clinicflow-Timestamp: %" PRId64, t);
    snprintf(h_sig, sizeof(h_sig), "X-Clinicflow-Signature: %s", sig);
    snprintf(h_id, sizeof(h_id), "X-Clinicflow-Event-Id: %s", d->event_id);
    snprintf(h_type, sizeof(h_type), "X-Clinicflow-Event-Type: %s", d->type);
    snprintf(h_attempt, sizeof(h_attempt), "X-Clinicflow-Attempt: %ld", d->attempts);
    const char *headers[] = {"Content-Type: application/json",
                             "User-Agent: clinicflow-leads",
                             h_ts,
                             h_sig,
                             h_id,
                             h_type,
                             h_attempt};
    struct cf_http_client_request req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .n_headers = sizeof(headers) / sizeof(headers[0]),
        .body = d->body,
        .body_len = len,
        .timeout_ms = ctx->cfg.notify_timeout_ms,
        .max_response = ANSWER_MAX,
        .cut_at_max = 1,
    };
    int rc = cf_http_client_do(&req, &answer, why, why_size);
    if (rc == 0) {
        status = answer.status;
        snprintf(why, why_size, "answered %ld", status);
    }
    cf_http_client_response_free(&answer);

out:
    cf_netconf_release(snap);
    return status;
}

/* Writes an attempt's outcome back, if the lease is still ours. */
static int record(struct leads_ctx *ctx, PGconn *conn, const struct delivery *d, long status,
                  int gone, const char *why, char *errbuf, size_t errbuf_size)
{
    char labels[160], st[24], att[24], delay_s[32];
    long delay_ms = 0;
    enum leads_notify_next next =
        gone ? LEADS_NOTIFY_GIVE_UP
             : leads_notify_after(status, d->attempts, ctx->cfg.notify_max_attempts,
                                  ctx->cfg.notify_backoff_ms, &delay_ms);
    const char *state = next == LEADS_NOTIFY_DONE      ? "delivered"
                        : next == LEADS_NOTIFY_GIVE_UP ? "given_up"
                                                       : "pending";
    snprintf(st, sizeof(st), "%ld", status);
    snprintf(att, sizeof(att), "%ld", d->attempts);
    snprintf(delay_s, sizeof(delay_s), "%.3f", (double)delay_ms / 1000.0);
    const char *params[] = {
        d->event_id, state, status ? st : NULL, next == LEADS_NOTIFY_DONE ? NULL : why,
        delay_s,     att};
    int rc = cf_pg_exec(conn,
                        "UPDATE leads.deliveries SET status = $2, last_status = $3::int,"
                        " last_error = $4,"
                        " next_at = CASE WHEN $2 = 'pending'"
                        "  THEN now() + make_interval(secs => $5::float8) ELSE next_at END,"
                        " done_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END"
                        " WHERE event_id = $1 AND attempts = $6::int AND status = 'pending'",
                        6, params, NULL, errbuf, errbuf_size);
    snprintf(labels, sizeof(labels), "clinic=\"%s\"", d->clinic_id);
    switch (next) {
    case LEADS_NOTIFY_DONE:
        cf_metrics_add("clinicflow_leads_notify_delivered_total", labels, 1);
        break;
    case LEADS_NOTIFY_RETRY:
        cf_metrics_add("clinicflow_leads_notify_failed_attempts_total", labels, 1);
        cf_info("lead webhook of clinic %s: event %s attempt %ld failed (%s), retry in %ld ms",
                d->clinic_id, d->event_id, d->attempts, why, delay_ms);
        break;
    case LEADS_NOTIFY_GIVE_UP:
        cf_metrics_add("clinicflow_leads_notify_failed_attempts_total", labels, 1);
        cf_metrics_add("clinicflow_leads_notify_given_up_total", labels, 1);
        cf_warn("lead webhook of clinic %s: event %s given up after %ld attempts (%s)",
                d->clinic_id, d->event_id, d->attempts, why);
        break;
    }
    return rc;
}

/* Gives back claimed deliveries that were not attempted (the service is
 * stopping): due at once, their attempt not counted. */
static void unclaim(PGconn *conn, const struct delivery *d)
{
    char att[24], errbuf[256];
    snprintf(att, sizeof(att), "%ld", d->attempts);
    const char *params[] = {d->event_id, att};
    if (cf_pg_exec(conn,
                   "UPDATE leads.deliveries SET attempts = attempts - 1, next_at = now()"
                   " WHERE event_id = $1 AND attempts = $2::int AND status = 'pending'",
                   2, params, NULL, errbuf, sizeof(errbuf)) != 0)
        cf_warn("notifier: could not give back delivery %s: %s", d->event_id, errbuf);
}

/* One round: claims, sends, records. Returns how many were claimed, or a
 * negative error. Holds a pooled connection only for the statements. */
static int round_once(struct leads_ctx *ctx, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, errbuf_size);
    if (!conn)
        return CF_EUNAVAIL;
    int rc = claim(ctx, conn, &res, errbuf, errbuf_size);
    cf_pg_pool_release(ctx->svc->pg, conn);
    if (rc != 0)
        return rc;
    const int n = PQntuples(res);
    struct delivery *ds = cf_xcalloc((size_t)(n ? n : 1), sizeof(*ds));
    long *status = cf_xcalloc((size_t)(n ? n : 1), sizeof(*status));
    int *gone = cf_xcalloc((size_t)(n ? n : 1), sizeof(*gone));
    char(*why)[256] = cf_xcalloc((size_t)(n ? n : 1), sizeof(*why));
    int sent = 0;
    for (int i = 0; i < n; i++) {
        ds[i] = (struct delivery){PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                                  PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                                  PQgetvalue(res, i, 4), strtol(PQgetvalue(res, i, 5), NULL, 10)};
    }
    for (; sent < n && !cf_service_sleep(ctx->svc, 0); sent++)
        status[sent] = attempt(ctx, &ds[sent], &gone[sent], why[sent], sizeof(why[sent]));

    conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, errbuf_size);
    if (!conn) {
        /* The leases end and the rows come due again: sent ones are sent
         * again, which receivers drop by the event id. */
        rc = CF_EUNAVAIL;
    } else {
        for (int i = 0; i < n; i++) {
            if (i >= sent)
                unclaim(conn, &ds[i]);
            else if (record(ctx, conn, &ds[i], status[i], gone[i], why[i], errbuf, errbuf_size) !=
                     0)
                cf_warn("notifier: could not record delivery %s: %s", ds[i].event_id, errbuf);
        }
        PGresult *cnt = NULL;
        if (cf_pg_exec(conn, "SELECT count(*) FROM leads.deliveries WHERE status = 'pending'", 0,
                       NULL, &cnt, errbuf, errbuf_size) == 0)
            cf_metrics_set("clinicflow_leads_notify_pending", "",
                           strtod(PQgetvalue(cnt, 0, 0), NULL));
        PQclear(cnt);
        cf_pg_pool_release(ctx->svc->pg, conn);
    }
    free(ds);
    free(status);
    free(gone);
    free(why);
    PQclear(res);
    return rc != 0 ? rc : n;
}

void leads_notifier(void *vctx)
{
    struct leads_ctx *ctx = vctx;
    char errbuf[256];

    cf_metrics_describe("clinicflow_leads_notify_queued_total", "counter",
                        "Lead events queued for a clinic's outgoing webhook, by clinic");
    cf_metrics_describe("clinicflow_leads_notify_delivered_total", "counter",
                        "Outgoing webhook deliveries the receiver answered 2xx, by clinic");
    cf_metrics_describe("clinicflow_leads_notify_failed_attempts_total", "counter",
                        "Outgoing webhook attempts without a 2xx answer (retried or given up), "
                        "by clinic");
    cf_metrics_describe("clinicflow_leads_notify_given_up_total", "counter",
                        "Outgoing webhook deliveries given up after "
                        "CLINICFLOW_LEADS_NOTIFY_MAX_ATTEMPTS attempts (or whose clinic no "
                        "longer names a webhook), by clinic");
    cf_metrics_describe("clinicflow_leads_notify_pending", "gauge",
                        "Outgoing webhook deliveries waiting to be sent or retried (all "
                        "instances)");
    while (!cf_service_sleep(ctx->svc, ctx->cfg.notify_interval_ms)) {
        int n;
        /* A full claim means more may be due: go on at once. */
        while ((n = round_once(ctx, errbuf, sizeof(errbuf))) == CLAIM_MAX &&
               !cf_service_sleep(ctx->svc, 0))
            ;
        if (n < 0)
            cf_warn("notifier: %s", errbuf);
    }
}
