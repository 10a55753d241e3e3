/*
 * The consumer runner: one thread, one Kafka consumer and one PostgreSQL
 * connection per runner. PostgreSQL, not Kafka, holds the truth about
 * progress: a batch's effects, the ids of the events it applied and each
 * partition's next offset commit in one transaction, and on assignment the
 * runner starts every partition from the offset stored there. A batch moves
 * a partition's stored offset only from the one the runner read or last
 * stored (consumer_store.c): a batch whose offsets moved under it is
 * rolled back, and the runner goes on from what is stored, so a runner the
 * group has dropped mid-batch cannot store its offsets over the new
 * owner's, and an operator can send a running group back. Kafka also
 * gets the offsets (asynchronously, after the PostgreSQL commit) only so that
 * lag stays visible to ordinary tools. Messages are taken one poll at a time
 * (the batch consume API is unsafe during rebalances); a rebalance in the
 * middle of collecting drops what was collected, since the new owner starts
 * from the stored offsets. Any transient failure rolls the whole batch back,
 * seeks its partitions back to the batch's first offsets and retries after a
 * growing back-off. A batch is first applied optimistically: one statement
 * records all its event ids and says which are new, and the messages are
 * applied with no savepoint between them. Only when a message is rejected
 * is the batch rolled back and applied again message by message, each
 * under a savepoint, so that the rejected one alone is undone and sent to
 * the DLQ (both ways in consumer_apply.c). Besides what apply runs, an optimistic batch costs the
 * same few statements however many messages and partitions it holds (begin, dedupe, offsets,
 * commit); a service with a batch apply (the fast path) applies the batch's messages in one call,
 * in statements of its own that do not grow with the batch either. Each batch's transaction sets
 * its search_path to the service schema, then public (SET LOCAL: behind a transaction-mode pooler
 * a session's setting may be another server connection's), so apply functions name their tables
 * unqualified.
 */
#include "common/consumer.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/xmalloc.h"
#include "consumer_testable.h"

#define CF_CONSUMER_BATCH_DEFAULT 500
#define CF_CONSUMER_POLL_MS 100
/* A batch closes this long after its first message at the latest: under a
 * steady stream (a broker answering fetches as data comes) it would
 * otherwise wait for batch_max messages, holding the first one back for
 * as long as that takes. A backlog still fills whole batches: messages
 * already fetched come at once. */
#define CF_CONSUMER_BATCH_WAIT_MS 100
#define CF_CONSUMER_BACKOFF_MIN_MS 100
#define CF_CONSUMER_BACKOFF_MAX_MS 5000
/* Attempts at a batch that keep failing before a conflict (a unique key
 * the message's data collides with; at first it may be another instance's
 * insert racing ours) is taken as the message's own fault: it then goes to
 * the DLQ, so one bad message never blocks a partition. An attempt that
 * found PostgreSQL or Kafka unreachable does not count, and a rebalance
 * starts the count again. Errors that point
 * at the environment (a missing column after a migration, a read-only
 * standby, I/O) are waited out however long, never blamed on a message:
 * otherwise every message would drain into the DLQ. */
#define CF_CONSUMER_POISON_AFTER 5
#define CF_CONSUMER_SEEK_TIMEOUT_MS 5000
#define CF_CONSUMER_LAG_IDLE_MS 1000

/* struct cf_consumer: consumer_testable.h */

/* ------------------------------------------------------------------------ */
/* PostgreSQL                                                                */
/* ------------------------------------------------------------------------ */

static int consumer_pg_connect(struct cf_consumer *c, char *errbuf, size_t errbuf_size)
{
    if (c->conn && PQstatus(c->conn) == CONNECTION_OK)
        return 0;
    PQfinish(c->conn);
    c->conn = cf_pg_connect(c->dsn, errbuf, errbuf_size);
    if (!c->conn)
        return CF_EUNAVAIL;
    if (!c->ident) {
        char *ident = PQescapeIdentifier(c->conn, c->schema, strlen(c->schema));
        if (!ident) {
            snprintf(errbuf, errbuf_size, "could not quote schema name");
            return CF_EINVAL;
        }
        c->ident = cf_xstrdup(ident);
        PQfreemem(ident);
    }
    return 0;
}

/* BEGIN, and the batch's search_path (the service schema, then public) for
 * this transaction alone. */
static int begin_batch(struct cf_consumer *c, char *errbuf, size_t errbuf_size)
{
    int err = cf_pg_begin(c->conn, errbuf, errbuf_size);
    if (err)
        return err;
    char *sql = cf_xasprintf("SET LOCAL search_path TO %s, public", c->ident);
    err = cf_pg_exec(c->conn, sql, 0, NULL, NULL, errbuf, errbuf_size);
    free(sql);
    if (err)
        cf_pg_rollback(c->conn);
    return err;
}

/* ------------------------------------------------------------------------ */
/* Rebalance                                                                 */
/* ------------------------------------------------------------------------ */

/* Sets each partition of the list to the next offset stored for the group;
 * partitions without a row keep what they hold (RD_KAFKA_OFFSET_INVALID:
 * the committed offset, else auto.offset.reset). The rows found become
 * what the runner knows to be stored (c->stored, which has no entry for a
 * partition without a row). 0, or the error, with the connection
 * dropped. */
static int load_offsets(struct cf_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    char errbuf[512];
    PGresult *res = NULL;
    int err = consumer_pg_connect(c, errbuf, sizeof(errbuf));
    if (!err) {
        char *sql = cf_xasprintf("SELECT topic, partition, next_offset FROM %s.consumer_offsets"
                                 " WHERE group_id = $1",
                                 c->ident);
        const char *params[] = {c->group_id};
        err = cf_pg_exec(c->conn, sql, 1, params, &res, errbuf, sizeof(errbuf));
        free(sql);
    }
    if (err) {
        cf_warn("consumer %s: could not read stored offsets (retrying): %s", c->group_id, errbuf);
        /* a connection that died while idle says it is fine until used */
        PQfinish(c->conn);
        c->conn = NULL;
        return err;
    }
    rd_kafka_topic_partition_list_t *stored = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < PQntuples(res); i++) {
        const char *topic = PQgetvalue(res, i, 0);
        long partition = strtol(PQgetvalue(res, i, 1), NULL, 10);
        long long next = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        rd_kafka_topic_partition_t *rktpar =
            rd_kafka_topic_partition_list_find(parts, topic, (int32_t)partition);
        if (rktpar) {
            rktpar->offset = next;
            rd_kafka_topic_partition_list_add(stored, topic, (int32_t)partition)->offset = next;
        }
    }
    PQclear(res);
    if (c->stored)
        rd_kafka_topic_partition_list_destroy(c->stored);
    c->stored = stored;
    return 0;
}

/* The next wait of a backoff: twice the last, up to the most. */
static long backoff_next(long ms)
{
    return ms * 2 > CF_CONSUMER_BACKOFF_MAX_MS ? CF_CONSUMER_BACKOFF_MAX_MS : ms * 2;
}

/* Sleeps up to ms, waking early when asked to stop. */
static void backoff_sleep(struct cf_consumer *c, long ms)
{
    for (long slept = 0; slept < ms && !atomic_load(&c->stop); slept += 50) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int cf_consumer_load_offsets_wait(struct cf_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    long backoff = CF_CONSUMER_BACKOFF_MIN_MS;
    while (load_offsets(c, parts) != 0) {
        if (atomic_load(&c->stop))
            return CF_EUNAVAIL;
        backoff_sleep(c, backoff);
        backoff = backoff_next(backoff);
    }
    return 0;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t kerr,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct cf_consumer *c = opaque;
    c->rebalanced = 1;
    c->failures = 0; /* the next batch is another: its own tries count */
    rd_kafka_resp_err_t aerr;
    char labels[256];
    snprintf(labels, sizeof(labels), "group=\"%s\",change=\"%s\"", c->group_id,
             kerr == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assigned" : "revoked");
    cf_metrics_add("clinicflow_consumer_rebalances_total", labels, 1);
    if (kerr == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++)
            parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        if (cf_consumer_load_offsets_wait(c, parts) != 0)
            return; /* stopping: nothing assigned, nothing read */
        cf_info("consumer %s: assigned %d partitions", c->group_id, parts->cnt);
        aerr = rd_kafka_assign(rk, parts);
    } else {
        if (kerr != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            cf_warn("consumer %s: rebalance error: %s", c->group_id, rd_kafka_err2str(kerr));
        else
            cf_info("consumer %s: %d partitions revoked", c->group_id, parts->cnt);
        aerr = rd_kafka_assign(rk, NULL);
        if (c->stored)
            rd_kafka_topic_partition_list_destroy(c->stored);
        c->stored = NULL;
    }
    if (aerr)
        cf_error("consumer %s: assign failed: %s", c->group_id, rd_kafka_err2str(aerr));
}

static void on_consumer_error(rd_kafka_t *rk, int kerr, const char *reason, void *opaque)
{
    (void)rk;
    struct cf_consumer *c = opaque;
    /* Connection failures are already logged by librdkafka's log callback. */
    enum cf_log_level lvl =
        kerr == RD_KAFKA_RESP_ERR__TRANSPORT || kerr == RD_KAFKA_RESP_ERR__RESOLVE ? CF_LOG_DEBUG
                                                                                   : CF_LOG_WARN;
    cf_log(lvl, "consumer %s: kafka error %s: %s", c->group_id,
           rd_kafka_err2name((rd_kafka_resp_err_t)kerr), reason);
}

/* ------------------------------------------------------------------------ */
/* The batch                                                                 */
/* ------------------------------------------------------------------------ */

static void destroy_messages(rd_kafka_message_t **batch, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        rd_kafka_message_destroy(batch[i]);
    *n = 0;
}

/* Polls one message at a time until batch_max, a quiet poll or stop. A
 * rebalance during collection drops what was collected. Returns the count. */
static size_t collect(struct cf_consumer *c, rd_kafka_message_t **batch)
{
    size_t n = 0;
    int64_t close_at = 0;
    c->rebalanced = 0;
    while (n < c->batch_max && !atomic_load(&c->stop)) {
        int wait_ms = CF_CONSUMER_POLL_MS;
        if (n > 0) {
            const int64_t left = close_at - cf_time_mono_ms();
            if (left <= 0)
                break;
            wait_ms = left < wait_ms ? (int)left : wait_ms;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, wait_ms);
        if (c->rebalanced) {
            destroy_messages(batch, &n);
            c->rebalanced = 0;
        }
        if (!rkm)
            break;
        if (rkm->err) {
            if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                cf_warn("consumer %s: %s", c->group_id, rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            continue;
        }
        if (n == 0)
            close_at = cf_time_mono_ms() + CF_CONSUMER_BATCH_WAIT_MS;
        batch[n++] = rkm;
    }
    return n;
}

void cf_consumer_batch_offsets(rd_kafka_message_t **batch, size_t n,
                               rd_kafka_topic_partition_list_t **firsts_out,
                               rd_kafka_topic_partition_list_t **nexts_out)
{
    rd_kafka_topic_partition_list_t *firsts = rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_partition_list_t *nexts = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(batch[i]->rkt);
        int32_t partition = batch[i]->partition;
        rd_kafka_topic_partition_t *next =
            rd_kafka_topic_partition_list_find(nexts, topic, partition);
        if (!next) {
            rd_kafka_topic_partition_list_add(firsts, topic, partition)->offset = batch[i]->offset;
            next = rd_kafka_topic_partition_list_add(nexts, topic, partition);
        }
        next->offset = batch[i]->offset + 1;
    }
    *firsts_out = firsts;
    *nexts_out = nexts;
}

/* apply_batch's answer when a message was rejected (not a CF_E* code). */
#define BATCH_REJECTED CF_CONSUMER_BATCH_REJECTED

/* One attempt at a batch in one transaction, optimistic or message by
 * message (careful). Returns 0 when committed, else the error after
 * rolling back. */
static int run_batch(struct cf_consumer *c, rd_kafka_message_t **batch, size_t n,
                     const rd_kafka_topic_partition_list_t *nexts, int careful, int last_resort,
                     struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    int64_t tm[4];
    tm[0] = cf_time_mono_ms();
    int err = begin_batch(c, errbuf, errbuf_size);
    if (err)
        return err;
    if (c->wanted && !c->wanted(c->ctx)) {
        /* nothing to do for any message: only the offsets move */
    } else if (careful) {
        json_t *seen = json_object();
        for (size_t i = 0; i < n && !err; i++)
            err = cf_consumer_apply_one(c, batch[i], out, last_resort, seen, errbuf, errbuf_size);
        json_decref(seen);
    } else {
        err = cf_consumer_apply_optimistic(c, batch, n, out, errbuf, errbuf_size);
    }
    tm[1] = cf_time_mono_ms();
    /* the offsets first: a batch fenced off them (consumer_store.c)
     * publishes nothing, neither its events nor its DLQ entries */
    if (!err)
        err = cf_consumer_store_offsets(c, nexts, errbuf, errbuf_size);
    if (!err) {
        struct cf_outbox_refused refused = {0};
        err = cf_outbox_produce(c->producer, out, &refused, errbuf, errbuf_size);
        /* no report in time, or "possibly written": Kafka's trouble, not
         * the messages' (a batch that finds Kafka away is no failure) */
        if (err == CF_ETIMEOUT)
            err = CF_EUNAVAIL;
        err = cf_consumer_refused_output(c, err, refused.bytes, refused.topic, errbuf, errbuf_size);
    }
    tm[2] = cf_time_mono_ms();
    if (!err)
        err = cf_pg_commit(c->conn, errbuf, errbuf_size);
    tm[3] = cf_time_mono_ms();
    if (err)
        cf_pg_rollback(c->conn);
    else
        cf_debug("consumer %s: batch of %zu (%zu out) in ms: apply %lld, offsets and produce"
                 " %lld, commit %lld",
                 c->group_id, n, out->n, (long long)(tm[1] - tm[0]), (long long)(tm[2] - tm[1]),
                 (long long)(tm[3] - tm[2]));
    return err;
}

/* Applies a batch in one transaction: optimistically, and message by
 * message only when one of them was rejected, or as a last resort after
 * the batch kept failing. Returns 0 when committed, else a transient error
 * after rolling back (the caller seeks back and retries). */
static int process_batch(struct cf_consumer *c, rd_kafka_message_t **batch, size_t n,
                         const rd_kafka_topic_partition_list_t *nexts)
{
    char errbuf[512] = "";
    struct cf_outbox out = {0};
    const int last_resort = c->failures >= CF_CONSUMER_POISON_AFTER;
    int err = consumer_pg_connect(c, errbuf, sizeof(errbuf));
    if (!err)
        err = run_batch(c, batch, n, nexts, last_resort, last_resort, &out, errbuf, sizeof(errbuf));
    const char *way = last_resort ? "one_by_one" : "batch";
    if (err == BATCH_REJECTED) {
        cf_debug("consumer %s: %s; applying the batch message by message", c->group_id, errbuf);
        cf_outbox_truncate(&out, 0);
        err = run_batch(c, batch, n, nexts, 1, 0, &out, errbuf, sizeof(errbuf));
        way = "one_by_one";
    }
    char labels[256];
    if (!err) {
        snprintf(labels, sizeof(labels), "group=\"%s\",way=\"%s\"", c->group_id, way);
        cf_metrics_add("clinicflow_consumer_batches_total", labels, 1);
        cf_metrics_add("clinicflow_consumer_messages_total", labels, (double)n);
    } else if (err == CF_CONSUMER_FENCED) {
        snprintf(labels, sizeof(labels), "group=\"%s\"", c->group_id);
        cf_metrics_add("clinicflow_consumer_fenced_total", labels, 1);
        cf_warn("consumer %s: batch of %zu rolled back, reading on from the stored offsets: %s",
                c->group_id, n, errbuf);
    } else {
        snprintf(labels, sizeof(labels), "group=\"%s\"", c->group_id);
        cf_metrics_add("clinicflow_consumer_retries_total", labels, 1);
        if (err == CF_EWAIT)
            cf_info("consumer %s: batch of %zu waits: %s", c->group_id, n, errbuf);
        else
            cf_warn("consumer %s: batch of %zu rolled back, will retry: %s", c->group_id, n,
                    errbuf);
    }
    if (c->batch_done)
        c->batch_done(c->ctx, !err);
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
    return err;
}

/* Sets the assignment again, each partition at the offset PostgreSQL
 * holds for it (the rolled-back batch's first where it holds none, else
 * Kafka's committed one), read once PostgreSQL answers: a way back that
 * does not depend on a seek. 0, or the assign's error
 * (RD_KAFKA_RESP_ERR__STATE when stopping). */
static rd_kafka_resp_err_t reassign(struct cf_consumer *c,
                                    const rd_kafka_topic_partition_list_t *firsts)
{
    rd_kafka_topic_partition_list_t *asg = NULL;
    rd_kafka_resp_err_t kerr = rd_kafka_assignment(c->rk, &asg);
    if (kerr || !asg) {
        if (asg)
            rd_kafka_topic_partition_list_destroy(asg);
        return kerr ? kerr : RD_KAFKA_RESP_ERR__STATE;
    }
    for (int i = 0; i < asg->cnt; i++) {
        const rd_kafka_topic_partition_t *first = rd_kafka_topic_partition_list_find(
            firsts, asg->elems[i].topic, asg->elems[i].partition);
        asg->elems[i].offset = first ? first->offset : RD_KAFKA_OFFSET_INVALID;
    }
    if (cf_consumer_load_offsets_wait(c, asg) != 0) {
        rd_kafka_topic_partition_list_destroy(asg);
        return RD_KAFKA_RESP_ERR__STATE; /* stopping */
    }
    kerr = rd_kafka_assign(c->rk, asg);
    rd_kafka_topic_partition_list_destroy(asg);
    return kerr;
}

/* Sets the assignment again from the stored offsets (reassign), retrying
 * with a backoff until it takes or the runner stops. */
static void reassign_until_set(struct cf_consumer *c, const rd_kafka_topic_partition_list_t *firsts)
{
    long backoff = CF_CONSUMER_BACKOFF_MIN_MS;
    rd_kafka_resp_err_t kerr;
    while (!atomic_load(&c->stop) && (kerr = reassign(c, firsts))) {
        cf_error("consumer %s: assignment not set again (retrying): %s", c->group_id,
                 rd_kafka_err2str(kerr));
        backoff_sleep(c, backoff);
        backoff = backoff_next(backoff);
    }
}

/* Moves the batch's partitions back to its first offsets after a rollback.
 * A seek that fails would leave the consumer past the batch, and the next
 * batch's commit would store offsets beyond messages never applied: the
 * assignment is then set again from the stored offsets, until it takes. */
static void seek_back(struct cf_consumer *c, rd_kafka_topic_partition_list_t *firsts)
{
    rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, firsts, CF_CONSUMER_SEEK_TIMEOUT_MS);
    int failed = error != NULL;
    if (error) {
        cf_error("consumer %s: seek back failed: %s", c->group_id, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    for (int i = 0; !failed && i < firsts->cnt; i++) {
        if (firsts->elems[i].err) {
            cf_error("consumer %s: seek back of %s [%d] failed: %s", c->group_id,
                     firsts->elems[i].topic, (int)firsts->elems[i].partition,
                     rd_kafka_err2str(firsts->elems[i].err));
            failed = 1;
        }
    }
    if (failed)
        reassign_until_set(c, firsts);
}

/* Names the calling thread after the group, without the suite's prefix
 * ("leads-fold"), as top -H, ps -L and perf show it: an operator sees which
 * consumer spends the CPU. The kernel keeps 15 characters. */
static void name_thread(const char *group_id)
{
    static const char prefix[] = "clinicflow-";
    char name[16];
    if (strncmp(group_id, prefix, sizeof(prefix) - 1) == 0)
        group_id += sizeof(prefix) - 1;
    snprintf(name, sizeof(name), "%s", group_id);
    (void)prctl(PR_SET_NAME, name, 0, 0, 0); /* a name is a courtesy: no error to act on */
}

static void *consumer_main(void *arg)
{
    struct cf_consumer *c = arg;
    name_thread(c->group_id);
    rd_kafka_message_t **batch = cf_xcalloc(c->batch_max, sizeof(rd_kafka_message_t *));
    long backoff = CF_CONSUMER_BACKOFF_MIN_MS;

    while (!atomic_load(&c->stop)) {
        size_t n = collect(c, batch);
        if (n == 0) {
            if (cf_time_mono_ms() - c->lag_refreshed_ms >= CF_CONSUMER_LAG_IDLE_MS)
                cf_consumer_refresh_lag(c);
            continue;
        }
        rd_kafka_topic_partition_list_t *firsts, *nexts;
        cf_consumer_batch_offsets(batch, n, &firsts, &nexts);
        const int err = process_batch(c, batch, n, nexts);
        if (err == 0) {
            cf_consumer_stored_note(c, nexts);
            c->failures = 0;
            backoff = CF_CONSUMER_BACKOFF_MIN_MS;
            rd_kafka_resp_err_t kerr = rd_kafka_commit(c->rk, nexts, 1);
            if (kerr)
                cf_warn("consumer %s: kafka commit failed: %s", c->group_id,
                        rd_kafka_err2str(kerr));
            cf_consumer_refresh_lag(c);
        } else if (err == CF_CONSUMER_FENCED) {
            /* Neither the messages' failure nor a dependency's: what is
             * stored moved under the runner. It goes on from there, or
             * (the partition another's now) until its revocation, with
             * other messages: their own tries count. */
            c->failures = 0;
            backoff = CF_CONSUMER_BACKOFF_MIN_MS;
            reassign_until_set(c, firsts);
        } else {
            /* a wait, or PostgreSQL or Kafka unreachable, is no failure of
             * the batch's messages: none of them is made poison by it */
            if (err != CF_EWAIT && err != CF_EUNAVAIL)
                c->failures++;
            seek_back(c, firsts);
            backoff_sleep(c, backoff);
            backoff = backoff_next(backoff);
        }
        destroy_messages(batch, &n);
        rd_kafka_topic_partition_list_destroy(firsts);
        rd_kafka_topic_partition_list_destroy(nexts);
    }
    free(batch);

    /* Leave the group (revokes through the rebalance callback), then close. */
    rd_kafka_resp_err_t kerr = rd_kafka_consumer_close(c->rk);
    if (kerr)
        cf_warn("consumer %s: close failed: %s", c->group_id, rd_kafka_err2str(kerr));
    rd_kafka_destroy(c->rk);
    c->rk = NULL;
    PQfinish(c->conn);
    c->conn = NULL;
    if (c->stored)
        rd_kafka_topic_partition_list_destroy(c->stored);
    c->stored = NULL;

    pthread_mutex_lock(&c->mu);
    c->finished = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Start and stop                                                            */
/* ------------------------------------------------------------------------ */

static void consumer_free(struct cf_consumer *c)
{
    for (size_t i = 0; c->published_lag && i < c->ntopics; i++) {
        char labels[512];
        snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\"", c->group_id, c->topics[i]);
        cf_metrics_add("clinicflow_consumer_lag", labels, (double)-c->published_lag[i]);
    }
    free(c->published_lag);
    for (size_t i = 0; i < c->nlimits; i++)
        free(c->limits[i].topic);
    free(c->limits);
    if (c->rk)
        rd_kafka_destroy(c->rk);
    PQfinish(c->conn);
    for (size_t i = 0; i < c->ntopics; i++)
        free(c->topics[i]);
    free(c->topics);
    free(c->group_id);
    free(c->schema);
    free(c->ident);
    free(c->dsn);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int consumer_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                             char *errbuf, size_t errbuf_size)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        snprintf(errbuf, errbuf_size, "kafka property %s: %s", name, errstr);
        return CF_EINVAL;
    }
    return 0;
}

static rd_kafka_t *consumer_kafka_new(struct cf_consumer *c, const struct cf_settings *s,
                                      char *errbuf, size_t errbuf_size)
{
    rd_kafka_conf_t *conf = cf_kafka_conf_new(s, errbuf, errbuf_size);
    if (!conf)
        return NULL;
    long session = s->kafka_session_timeout_ms > 0 ? s->kafka_session_timeout_ms : 10000;
    char session_ms[32], heartbeat_ms[32], fetch_wait_ms[32];
    snprintf(session_ms, sizeof(session_ms), "%ld", session);
    snprintf(fetch_wait_ms, sizeof(fetch_wait_ms), "%ld",
             s->kafka_fetch_wait_ms > 0 ? s->kafka_fetch_wait_ms : 100);
    snprintf(heartbeat_ms, sizeof(heartbeat_ms), "%ld", session / 3 > 100 ? session / 3 : 100);
    if (consumer_conf_set(conf, "group.id", c->group_id, errbuf, errbuf_size) ||
        consumer_conf_set(conf, "enable.auto.commit", "false", errbuf, errbuf_size) ||
        consumer_conf_set(conf, "enable.auto.offset.store", "false", errbuf, errbuf_size) ||
        consumer_conf_set(conf, "auto.offset.reset", "earliest", errbuf, errbuf_size) ||
        consumer_conf_set(conf, "session.timeout.ms", session_ms, errbuf, errbuf_size) ||
        consumer_conf_set(conf, "heartbeat.interval.ms", heartbeat_ms, errbuf, errbuf_size) ||
        consumer_conf_set(conf, "partition.assignment.strategy", "range", errbuf, errbuf_size) ||
        consumer_conf_set(conf, "fetch.wait.max.ms", fetch_wait_ms, errbuf, errbuf_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_error_cb(conf, on_consumer_error);
    rd_kafka_conf_set_opaque(conf, c);

    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        snprintf(errbuf, errbuf_size, "could not create kafka consumer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

struct cf_consumer *cf_consumer_start(const struct cf_settings *s, struct cf_producer *producer,
                                      const struct cf_consumer_conf *cc, char *errbuf,
                                      size_t errbuf_size)
{
    assert(s && producer && cc && cc->group_id && cc->schema && (cc->apply || cc->apply_batch) &&
           cc->ntopics > 0);
    struct cf_consumer *c = cf_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    atomic_store(&c->lag, -1);
    c->group_id = cf_xstrdup(cc->group_id);
    c->schema = cf_xstrdup(cc->schema);
    c->apply = cc->apply;
    c->apply_batch = cc->apply_batch;
    c->batch_done = cc->batch_done;
    c->wanted = cc->wanted;
    c->ctx = cc->ctx;
    c->batch_max = cc->batch_max > 0 ? (size_t)cc->batch_max : CF_CONSUMER_BATCH_DEFAULT;
    c->dsn = cf_xstrdup(s->pg_dsn ? s->pg_dsn : "");
    c->producer = producer;
    c->max_output = cf_kafka_producer_max_message(producer);
    c->ntopics = cc->ntopics;
    c->topics = cf_xcalloc(cc->ntopics, sizeof(*c->topics));
    c->published_lag = cf_xcalloc(cc->ntopics, sizeof(*c->published_lag));
    for (size_t i = 0; i < cc->ntopics; i++)
        c->topics[i] = cf_xstrdup(cc->topics[i]);

    if (consumer_pg_connect(c, errbuf, errbuf_size))
        goto fail;
    c->rk = consumer_kafka_new(c, s, errbuf, errbuf_size);
    if (!c->rk)
        goto fail;

    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)cc->ntopics);
    for (size_t i = 0; i < cc->ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, cc->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (kerr) {
        snprintf(errbuf, errbuf_size, "could not subscribe: %s", rd_kafka_err2str(kerr));
        goto fail;
    }

    char labels[256];
    cf_metrics_describe("clinicflow_consumer_lag", "gauge",
                        "Messages behind the high watermark, by consumer group and topic");
    cf_metrics_describe("clinicflow_consumer_retries_total", "counter",
                        "Batches rolled back to be tried again (a dependency down, a conflict, "
                        "events the consumer must wait for), by consumer group");
    cf_metrics_describe("clinicflow_consumer_batches_total", "counter",
                        "Batches committed, by consumer group and way: batch (all messages at "
                        "once) or one_by_one (each under a savepoint: a message was rejected, "
                        "or the batch kept failing)");
    cf_metrics_describe("clinicflow_consumer_messages_total", "counter",
                        "Messages in the batches committed (applied, skipped as applied before, "
                        "or sent to the DLQ), by consumer group and way");
    cf_metrics_describe("clinicflow_consumer_fenced_total", "counter",
                        "Batches rolled back because their partitions' stored offsets had "
                        "moved under the runner (another runner took a partition over while "
                        "this one's batch outlived max.poll.interval.ms, or an operator moved "
                        "the group); the runner goes on from the stored offsets");
    cf_metrics_describe("clinicflow_consumer_rebalances_total", "counter",
                        "Partition assignments a consumer was given (change=assigned) and "
                        "took back (change=revoked), by consumer group: a revocation stops "
                        "the group's work until the next assignment, so one rising outside "
                        "deploys means instances keep joining and leaving");
    snprintf(labels, sizeof(labels), "group=\"%s\"", c->group_id);
    cf_metrics_add("clinicflow_consumer_retries_total", labels, 0);
    cf_metrics_add("clinicflow_consumer_fenced_total", labels, 0);
    snprintf(labels, sizeof(labels), "group=\"%s\",change=\"revoked\"", c->group_id);
    cf_metrics_add("clinicflow_consumer_rebalances_total", labels, 0);
    for (size_t i = 0; i < cc->ntopics; i++) {
        snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\"", c->group_id, cc->topics[i]);
        cf_metrics_add("clinicflow_consumer_lag", labels, 0);
    }

    int rc = pthread_create(&c->thread, NULL, consumer_main, c);
    if (rc) {
        snprintf(errbuf, errbuf_size, "could not start consumer thread: %s", cf_strerror(rc));
        goto fail;
    }
    cf_info("consumer %s started on %zu topics", c->group_id, c->ntopics);
    return c;
fail:
    if (c->rk) {
        rd_kafka_consumer_close(c->rk);
    }
    consumer_free(c);
    return NULL;
}

void cf_consumer_stop_begin(struct cf_consumer *c)
{
    if (c)
        atomic_store(&c->stop, 1);
}

int cf_consumer_stop(struct cf_consumer *c, int timeout_ms)
{
    if (!c)
        return 0;
    atomic_store(&c->stop, 1);

    struct timespec deadline;
    cf_time_deadline(CLOCK_REALTIME, timeout_ms > 0 ? timeout_ms : 0, &deadline);
    pthread_mutex_lock(&c->mu);
    while (!c->finished) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) == ETIMEDOUT)
            break;
    }
    int finished = c->finished;
    pthread_mutex_unlock(&c->mu);
    if (!finished) {
        /* The thread may be stuck in librdkafka (consumer close after
         * brokers went down and up): abandon it and its memory. */
        cf_error("consumer %s did not stop within %d ms", c->group_id, timeout_ms);
        return CF_ETIMEOUT;
    }
    pthread_join(c->thread, NULL);
    cf_info("consumer %s stopped", c->group_id);
    consumer_free(c);
    return 0;
}

long long cf_consumer_lag(const struct cf_consumer *c)
{
    return atomic_load(&c->lag);
}
