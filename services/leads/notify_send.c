/*
 * The clinics' outgoing webhooks, second half: a worker (any number of
 * instances run it) that sends the deliveries notify.c queued in
 * leads.deliveries. It claims due rows with FOR UPDATE SKIP LOCKED and
 * leases them in the same statement (next_at moves past the time a send
 * can take, attempts counts the attempt), so two instances never send one
 * delivery at once; each send then runs on a thread of its own, without a
 * transaction or a pooled connection held, up to SENDS_MAX at once and
 * RECEIVER_SENDS_MAX to one receiver (a webhook's scheme and host, which
 * several clinics, or networks, may name), and writes its outcome back
 * under the lease (the row's attempt count). A receiver that stops
 * answering holds only its own sends for the timeout: the others' go on. An instance
 * that dies mid-send leaves its rows to come due again when the lease
 * ends: a delivery is at least once, and receivers drop repeats by the
 * event id.
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

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/http_client.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/testable.h"
#include "common/xmalloc.h"
#include "notify.h"
#include "notify_testable.h"

/* Sends in flight on an instance at once, each on a thread of its own,
 * and of them at most this many to one receiver: a receiver that hangs
 * holds RECEIVER_SENDS_MAX of them for its timeout, whichever clinics
 * name it, and the others go on. */
#define SENDS_MAX 8
#define RECEIVER_SENDS_MAX 2
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

CF_TESTABLE void leads_notify_receiver(const char *url, char *out, size_t out_size)
{
    const char *p = strstr(url, "://");
    const char *authority = p ? p + 3 : url;
    size_t n = strcspn(authority, "/?#");
    /* a user's name and password are not the receiver */
    const char *at = memchr(authority, '@', n);
    const size_t scheme = p ? (size_t)(p + 3 - url) : 0;
    if (at) {
        n -= (size_t)(at + 1 - authority);
        authority = at + 1;
    }
    size_t o = 0;
    for (size_t i = 0; i < scheme && o + 1 < out_size; i++)
        out[o++] = (char)tolower((unsigned char)url[i]);
    for (size_t i = 0; i < n && o + 1 < out_size; i++)
        out[o++] = (char)tolower((unsigned char)authority[i]);
    if (out_size)
        out[o] = '\0';
    /* the scheme's own port said is the same receiver */
    const size_t len = strlen(out);
    if (len > 12 && strncmp(out, "https://", 8) == 0 && strcmp(out + len - 4, ":443") == 0)
        out[len - 4] = '\0';
    else if (len > 11 && strncmp(out, "http://", 7) == 0 && strcmp(out + len - 3, ":80") == 0)
        out[len - 3] = '\0';
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

/* One claimed delivery. */
struct delivery {
    const char *event_id, *network_id, *clinic_id, *type, *body;
    long attempts; /* this attempt's number: the lease is ours while the row has it */
};

/* A send in flight: its thread, and the delivery it owns (copied from the
 * claim's result: its first SLOT_STRINGS columns). */
#define SLOT_STRINGS 5
struct send_slot {
    struct leads_ctx *ctx;
    pthread_t thread;
    int used;                    /* a thread runs or ran here and is not joined yet */
    atomic_int done;             /* its thread has recorded the outcome */
    char *strings[SLOT_STRINGS]; /* what d points to */
    struct delivery d;
};

/* Claims up to `room` due deliveries and leases them for one attempt;
 * receivers ({"<network>/<clinic>": its webhook's receiver,
 * leads_notify_receiver}) and in_flight ({receiver: sends to it in flight
 * here}) keep a receiver to RECEIVER_SENDS_MAX at once (a clinic the map
 * lacks, its webhook gone, is a receiver of its own). A receiver's first
 * attempts go before its retries, and the claim's first attempts before
 * its retries: other clinics' new leads do not queue behind a dead
 * receiver's retries. *res holds them (PQclear it). Blocks on conn. */
static int claim(struct leads_ctx *ctx, PGconn *conn, int room, const json_t *receivers,
                 const json_t *in_flight, PGresult **res, char *errbuf, size_t errbuf_size)
{
    char lease[32], limit[16], per_receiver[16];
    snprintf(lease, sizeof(lease), "%ld", (ctx->cfg.notify_timeout_ms + 30000) / 1000);
    snprintf(limit, sizeof(limit), "%d", room);
    snprintf(per_receiver, sizeof(per_receiver), "%d", RECEIVER_SENDS_MAX);
    char *busy = cf_json_dumps(in_flight), *names = cf_json_dumps(receivers);
    const char *params[] = {lease, limit, busy, per_receiver, names};
    /* A delivery of a lead whose person was erased goes unsent: the
     * erasure deletes the deliveries it sees, and one the notify consumer
     * committed beside it (each statement blind to the other's) is
     * deleted here. */
    int rc = cf_pg_exec(conn,
                        "DELETE FROM leads.deliveries d USING leads.leads l"
                        " WHERE d.status = 'pending' AND d.next_at <= now()"
                        " AND l.lead_id = d.lead_id AND " LEADS_ERASED_SQL("l"),
                        0, NULL, NULL, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec(
            conn,
            "UPDATE leads.deliveries SET attempts = attempts + 1,"
            " next_at = now() + make_interval(secs => $1::int)"
            " WHERE event_id IN (SELECT d.event_id FROM leads.deliveries d"
            " WHERE d.event_id IN (SELECT q.event_id FROM (SELECT c.event_id, c.receiver,"
            " row_number() OVER (PARTITION BY c.receiver"
            " ORDER BY c.attempts > 0, c.next_at) AS n"
            " FROM (SELECT c.*, coalesce($5::jsonb ->> (c.network_id || '/' || c.clinic_id),"
            " c.network_id || '/' || c.clinic_id) AS receiver FROM leads.deliveries c) c"
            " WHERE c.status = 'pending' AND c.next_at <= now()"
            " AND NOT EXISTS (SELECT 1 FROM leads.leads l WHERE l.lead_id = c.lead_id"
            " AND " LEADS_ERASED_SQL(
                "l") ")) q"
                     " WHERE q.n + coalesce(($3::jsonb ->> q.receiver)::int, 0) <= $4::int)"
                     " AND d.status = 'pending' AND d.next_at <= now()"
                     " ORDER BY d.attempts > 0, d.next_at LIMIT $2::int FOR UPDATE OF d SKIP "
                     "LOCKED)"
                     " RETURNING event_id::text, network_id, clinic_id, event_type, body, attempts",
            5, params, res, errbuf, errbuf_size);
    free(names);
    free(busy);
    return rc;
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

/* The pending gauge: every instance's deliveries waiting. */
static void count_pending(PGconn *conn)
{
    char errbuf[256];
    PGresult *cnt = NULL;
    if (cf_pg_exec(conn, "SELECT count(*) FROM leads.deliveries WHERE status = 'pending'", 0, NULL,
                   &cnt, errbuf, sizeof(errbuf)) == 0)
        cf_metrics_set("clinicflow_leads_notify_pending", "", strtod(PQgetvalue(cnt, 0, 0), NULL));
    PQclear(cnt);
}

/* A send's thread: the attempt, then its outcome written back. Without a
 * connection for that the lease ends and the row comes due again: a sent
 * delivery is sent again, which receivers drop by the event id. */
static void *send_one(void *arg)
{
    struct send_slot *slot = arg;
    struct leads_ctx *ctx = slot->ctx;
    char why[256] = "", errbuf[256];
    int gone = 0;
    const long status = attempt(ctx, &slot->d, &gone, why, sizeof(why));
    PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
    if (!conn) {
        cf_warn("notifier: could not record delivery %s: %s", slot->d.event_id, errbuf);
    } else {
        if (record(ctx, conn, &slot->d, status, gone, why, errbuf, sizeof(errbuf)) != 0)
            cf_warn("notifier: could not record delivery %s: %s", slot->d.event_id, errbuf);
        cf_pg_pool_release(ctx->svc->pg, conn);
    }
    atomic_store(&slot->done, 1);
    return NULL;
}

/* Frees the delivery's strings the slot owned. */
static void slot_clear(struct send_slot *slot)
{
    for (size_t i = 0; i < SLOT_STRINGS; i++)
        free(slot->strings[i]);
    memset(slot->strings, 0, sizeof(slot->strings));
}

/* Joins the slot's finished thread and frees what it owned. */
static void reap(struct send_slot *slot)
{
    pthread_join(slot->thread, NULL);
    slot_clear(slot);
    slot->used = 0;
}

/* {"<network>/<clinic>": its webhook's receiver} of every clinic that
 * names a webhook now (a new object). */
static json_t *receivers_now(struct leads_ctx *ctx)
{
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    json_t *receivers = json_object();
    const char *url, *secret;
    for (size_t i = 0; snap && i < snap->nnetworks; i++) {
        const struct cf_network *net = &snap->networks[i];
        for (size_t c = 0; c < net->nclinics; c++) {
            if (!leads_notify_webhook(net->clinics[c].doc, &url, &secret))
                continue;
            char key[256], receiver[256];
            snprintf(key, sizeof(key), "%s/%s", net->id, net->clinics[c].id);
            leads_notify_receiver(url, receiver, sizeof(receiver));
            json_object_set_new(receivers, key, json_string(receiver));
        }
    }
    cf_netconf_release(snap);
    return receivers;
}

/* Starts the sends of the due deliveries the free slots can take: joins
 * the finished ones, claims for the rest (no receiver above
 * RECEIVER_SENDS_MAX in flight) and starts a thread for each. Returns how
 * many it started, or a negative error. The notifier's thread only. */
static int fill(struct leads_ctx *ctx, struct send_slot *slots, char *errbuf, size_t errbuf_size)
{
    json_t *in_flight = json_object(), *receivers = receivers_now(ctx);
    int room = 0;
    for (int i = 0; i < SENDS_MAX; i++) {
        if (slots[i].used && atomic_load(&slots[i].done))
            reap(&slots[i]);
        if (!slots[i].used) {
            room++;
            continue;
        }
        /* counted against the receiver its clinic names now (a send to
         * the one it named before ends within its timeout) */
        char key[256];
        snprintf(key, sizeof(key), "%s/%s", slots[i].d.network_id, slots[i].d.clinic_id);
        const char *receiver = json_string_value(json_object_get(receivers, key));
        if (!receiver)
            receiver = key;
        json_object_set_new(
            in_flight, receiver,
            json_integer(json_integer_value(json_object_get(in_flight, receiver)) + 1));
    }
    PGresult *res = NULL;
    PGconn *conn = room ? cf_pg_pool_acquire(ctx->svc->pg, errbuf, errbuf_size) : NULL;
    int rc = !room   ? 0
             : !conn ? CF_EUNAVAIL
                     : claim(ctx, conn, room, receivers, in_flight, &res, errbuf, errbuf_size);
    if (conn) {
        count_pending(conn); /* the gauge, once a look (not once a send) */
        cf_pg_pool_release(ctx->svc->pg, conn);
    }
    json_decref(receivers);
    json_decref(in_flight);
    int started = 0;
    for (int i = 0, r = 0; rc == 0 && res && r < PQntuples(res) && i < SENDS_MAX; i++) {
        struct send_slot *slot = &slots[i];
        if (slot->used)
            continue;
        for (size_t f = 0; f < SLOT_STRINGS; f++)
            slot->strings[f] = cf_xstrdup(PQgetvalue(res, r, (int)f));
        slot->d = (struct delivery){slot->strings[0], slot->strings[1],
                                    slot->strings[2], slot->strings[3],
                                    slot->strings[4], strtol(PQgetvalue(res, r, 5), NULL, 10)};
        slot->ctx = ctx;
        atomic_store(&slot->done, 0);
        if (pthread_create(&slot->thread, NULL, send_one, slot) != 0) {
            /* its lease ends and it comes due again */
            cf_warn("notifier: could not start a send of delivery %s", slot->d.event_id);
            slot_clear(slot);
            break;
        }
        slot->used = 1;
        started++;
        r++;
    }
    PQclear(res);
    return rc != 0 ? rc : started;
}

void leads_notifier(void *vctx)
{
    struct leads_ctx *ctx = vctx;
    char errbuf[256];

    cf_metrics_describe("clinicflow_leads_notify_queued_total", "counter",
                        "Lead events queued for a clinic's outgoing webhook, by clinic");
    cf_metrics_describe("clinicflow_leads_notify_too_old_total", "counter",
                        "Lead events not queued for a clinic's outgoing webhook because they "
                        "were older than CLINICFLOW_LEADS_NOTIFY_MAX_AGE_S when read, by clinic");
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
    struct send_slot slots[SENDS_MAX];
    memset(slots, 0, sizeof(slots));
    while (!cf_service_sleep(ctx->svc, ctx->cfg.notify_interval_ms)) {
        int n;
        /* Sends started may mean more are due: look again at once (a
         * sleep of 0 only asks whether the service stops). */
        while ((n = fill(ctx, slots, errbuf, sizeof(errbuf))) > 0 && !cf_service_sleep(ctx->svc, 0))
            ;
        if (n < 0)
            cf_warn("notifier: %s", errbuf);
    }
    /* stopping: the sends in flight end within their timeout */
    for (int i = 0; i < SENDS_MAX; i++)
        if (slots[i].used)
            reap(&slots[i]);
}
