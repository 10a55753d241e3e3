/*
 * Expiry of facts waiting for their entity (common/expire.h).
 */
#include "common/expire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/consumer.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/service.h"
#include "common/time.h"
#include "common/topics.h"
#include "common/xmalloc.h"

#define EXPIRE_ROUND 100 /* facts one transaction sends to the DLQ, at most */

/* Queues the DLQ entry of an expired fact: its message on the raw topic
 * (partition, offset, value as it was, keyed by its entity id), with the
 * id the entry has whoever sends it, so an expiry repeated after a failed
 * commit is the same entry. */
static void dlq_expired(const struct cf_expire *ex, struct cf_outbox *out, const char *network_id,
                        const char *key, const char *partition, const char *offset,
                        const char *value)
{
    char reason[160];
    snprintf(reason, sizeof(reason), "%s for %s %s: no %s of the network was stored within %ld s",
             ex->fact, ex->entity, key, ex->entity, ex->wait_s);
    const size_t klen = strlen(key);
    char *entry =
        cf_consumer_dlq_entry(ex->group, ex->raw_topic, (int32_t)strtol(partition, NULL, 10),
                              strtoll(offset, NULL, 10), key, klen, value, strlen(value),
                              network_id, NULL, ex->reason_code, reason, cf_time_now_ms());
    cf_outbox_push(out, CF_TOPIC_DLQ, key, klen > CF_DLQ_KEY_MAX ? CF_DLQ_KEY_MAX : klen, entry,
                   strlen(entry));
}

/* One round: up to EXPIRE_ROUND facts that waited past the bound leave the
 * table, and the fold group's record of their ids as applied with them, in
 * a transaction that commits only once Kafka has their DLQ entries. The
 * fold recorded a fact's id as applied when it parked it; left there, a
 * replay of the entry (its entity stored by then) would be skipped, where
 * a message sent to the DLQ must be applied when replayed. A commit that
 * fails after Kafka took them leaves the rows: the next round sends the
 * same entries (same ids) again, and an entity whose first fact comes in
 * between gets the fact applied although the DLQ has it too, the
 * at-least-once every produce-then-commit has. Returns how many, or a
 * negative error with the reason in errbuf. */
static int expire_once(const struct cf_expire *ex, const char *sql, PGconn *conn, char *errbuf,
                       size_t errbuf_size)
{
    PGresult *res = NULL;
    struct cf_outbox *out = cf_outbox_new();
    char wait[24], limit[16];
    snprintf(wait, sizeof(wait), "%ld", ex->wait_s);
    snprintf(limit, sizeof(limit), "%d", EXPIRE_ROUND);
    const char *params[] = {wait, limit, ex->group};
    int n = 0;
    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec(conn, sql, 3, params, &res, errbuf, errbuf_size);
    if (rc == 0) {
        n = PQntuples(res);
        for (int i = 0; i < n; i++)
            dlq_expired(ex, out, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                        PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
    }
    PQclear(res);
    if (rc == 0 && n > 0)
        rc = cf_outbox_produce(ex->svc->producer, out, NULL, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_commit(conn, errbuf, errbuf_size);
    else
        cf_pg_rollback(conn);
    cf_outbox_free(out);
    if (rc != 0)
        return rc;
    if (n > 0) {
        cf_metrics_add(ex->expired_metric, "", n);
        cf_warn("%d %s expired without their %s (sent to the dlq)", n, ex->facts, ex->entity);
    }
    return n;
}

void cf_expire_worker(void *vex)
{
    const struct cf_expire *ex = vex;
    long interval_ms = ex->wait_s * 100;
    char errbuf[256];
    /* One statement: the facts taken, and their ids forgotten as applied
     * in the consumers' record of the table's own schema */
    const int schema_len = (int)strcspn(ex->table, ".");
    char *take = cf_xasprintf("WITH taken AS (DELETE FROM %s WHERE event_id IN"
                              " (SELECT event_id FROM %s"
                              " WHERE received_at < now() - make_interval(secs => $1::integer)"
                              " ORDER BY received_at LIMIT $2::integer FOR UPDATE SKIP LOCKED)"
                              " RETURNING event_id, network_id, %s::text AS key, raw_partition,"
                              " raw_offset, event),"
                              " forgotten AS (DELETE FROM %.*s.applied_events a USING taken t"
                              " WHERE a.group_id = $3 AND a.event_id = t.event_id)"
                              " SELECT network_id, key, raw_partition::text, raw_offset::text,"
                              " event FROM taken",
                              ex->table, ex->table, ex->key_column, schema_len, ex->table);
    char *count = cf_xasprintf("SELECT count(*) FROM %s", ex->table);

    if (interval_ms > 60000)
        interval_ms = 60000;
    cf_metrics_describe(ex->expired_metric, "counter", ex->expired_help);
    cf_metrics_describe(ex->waiting_metric, "gauge", ex->waiting_help);
    while (!cf_service_sleep(ex->svc, interval_ms)) {
        PGconn *conn = cf_pg_pool_acquire(ex->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_warn("%s: %s", ex->name, errbuf);
            continue;
        }
        int n;
        while ((n = expire_once(ex, take, conn, errbuf, sizeof(errbuf))) == EXPIRE_ROUND)
            ;
        if (n < 0)
            cf_warn("%s: %s", ex->name, errbuf);
        PGresult *res = NULL;
        if (cf_pg_exec(conn, count, 0, NULL, &res, errbuf, sizeof(errbuf)) == 0)
            cf_metrics_set(ex->waiting_metric, "", strtod(PQgetvalue(res, 0, 0), NULL));
        PQclear(res);
        cf_pg_pool_release(ex->svc->pg, conn);
    }
    free(take);
    free(count);
}
