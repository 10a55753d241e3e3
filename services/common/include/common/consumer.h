/*
 * The consumer runner: one thread per runner with its own PGconn and Kafka
 * consumer. It applies a batch of messages and the partitions' next offsets
 * in one PostgreSQL transaction (exactly-once effects), seeks to the stored
 * offsets on assignment, and also commits to Kafka so lag stays visible.
 * Output events collected in a cf_outbox are produced (deterministic ids)
 * and acknowledged before the transaction commits. A message whose envelope
 * is invalid, or that apply rejects with CF_EINVAL, goes to the DLQ with
 * its original bytes and a reason, and the runner moves on. An event id the
 * group has applied before is skipped. A batch moves each partition's
 * stored offset only from the one the runner knows stored: one whose
 * offsets moved under it (another runner took the partition while this
 * one's batch outlived max.poll.interval.ms, or an operator sent the group
 * back or on) is rolled back, and the runner reads on from what is stored.
 *
 * Tables it needs in the service schema (include CF_CONSUMER_TABLES_SQL in
 * the service's first migration):
 *   consumer_offsets(group_id, topic, partition, next_offset)
 *   applied_events(group_id, event_id, applied_at)
 */
#ifndef CF_COMMON_CONSUMER_H
#define CF_COMMON_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/envelope.h"
#include "common/kafka.h"
#include "common/outbox.h"

#define CF_CONSUMER_TABLES_SQL                                                                     \
    "CREATE TABLE IF NOT EXISTS consumer_offsets ("                                                \
    " group_id text NOT NULL, topic text NOT NULL, partition int NOT NULL,"                        \
    " next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"                 \
    " PRIMARY KEY (group_id, topic, partition));"                                                  \
    "CREATE TABLE IF NOT EXISTS applied_events ("                                                  \
    " group_id text NOT NULL, event_id uuid NOT NULL,"                                             \
    " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (group_id, event_id));"

/*
 * Applies one event inside the runner's open transaction on conn.
 * Returns 0 when applied; CF_EINVAL when the message can never be applied
 * (it goes to the DLQ with errbuf as reason); any other code is transient:
 * the batch is rolled back and retried after a back-off. CF_EWAIT says the
 * message must wait for something on its way: retried the same way, but
 * not counted as a failure (failures in a row end in message-by-message
 * application, where a lasting conflict goes to the DLQ).
 * A tombstone (a null value, on compacted topics) is passed with ev == NULL:
 * apply reads the key from rkm, and must be idempotent (no event id to skip).
 */
typedef int (*cf_apply_fn)(void *ctx, PGconn *conn, const struct cf_event *ev,
                           const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                           size_t errbuf_size);

/*
 * Optional: applies the messages of an optimistic batch at once, in
 * their order (evs[i] NULL for a tombstone; rkms[i] is its message),
 * inside the runner's open transaction: what cf_apply_fn does for one
 * message, for all, in a number of statements that does not grow with n
 * (the fast path). The messages are those the runner has not applied
 * before; it keeps dedupe, offsets and produce-before-commit. Same codes
 * as cf_apply_fn: CF_EINVAL sends the batch, rolled back, to the careful
 * path, where apply (which the runner still needs) takes each message
 * under a savepoint and a rejected one alone goes to the DLQ; a batch apply
 * may also answer CF_EINVAL for a batch it cannot apply at once.
 */
typedef int (*cf_apply_batch_fn)(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                                 const rd_kafka_message_t *const *rkms, size_t n,
                                 struct cf_outbox *out, char *errbuf, size_t errbuf_size);

struct cf_consumer_conf {
    const char *group_id;
    const char *const *topics;
    size_t ntopics;
    const char *schema;            /* where consumer_offsets and applied_events live */
    cf_apply_fn apply;             /* NULL: apply_batch takes each message alone */
    cf_apply_batch_fn apply_batch; /* optional (with apply): the fast path */
    void *ctx;
    int batch_max; /* messages per transaction (default 500 if 0) */
    /* Optional: called on the runner thread once a batch is over, committed
     * or rolled back (a batch retried message by message is one batch).
     * Work that must follow the commit goes here: a cache entry dropped
     * inside the transaction could be filled again from the old rows
     * before the commit. */
    void (*batch_done)(void *ctx, int committed);
    /* Optional: asked once a batch, before its messages are parsed; 0 when
     * the group wants none of what it reads right now (a consumer of a
     * feature no network has set up: no clinic has a webhook). The batch's
     * offsets are then committed without parsing or applying it, as apply
     * would have done for each message, only without the cost. */
    int (*wanted)(void *ctx);
};

struct cf_consumer;

/* Connects (own PGconn, own rd_kafka_t), subscribes and starts the thread.
 * NULL with the reason on failure. */
struct cf_consumer *cf_consumer_start(const struct cf_settings *s, struct cf_producer *producer,
                                      const struct cf_consumer_conf *cc, char *errbuf,
                                      size_t errbuf_size);

/* Asks the thread to stop and returns at once. A process stopping several
 * consumers asks them all first, then waits for each (cf_consumer_stop):
 * runners of one group then leave it together, instead of one leaving
 * while another is still a member (a rebalance the other waits out). */
void cf_consumer_stop_begin(struct cf_consumer *c);

/* Asks the thread to stop, waits up to timeout_ms for it to commit, close
 * the consumer (leave the group) and exit. Returns 0, or CF_ETIMEOUT when it
 * did not finish in time (the thread is abandoned; the caller exits 1). */
int cf_consumer_stop(struct cf_consumer *c, int timeout_ms);

/* The next offset group_id has stored for each partition of topic in
 * schema.consumer_offsets (the runner's progress: every message below it
 * is applied): next_offsets[p] for p from 0 to npartitions - 1, 0 for a
 * partition with none stored. The caller sizes the array from the topic's
 * partition count (stored partitions beyond it are not read). Returns 0 or
 * the query's error with the reason in errbuf. Blocks on conn; any thread
 * with a connection of its own. */
int cf_consumer_stored_offsets(PGconn *conn, const char *schema, const char *group_id,
                               const char *topic, int64_t *next_offsets, int npartitions,
                               char *errbuf, size_t errbuf_size);

/* The largest key and value a DLQ entry carries whole: the first bytes of
 * a larger one are kept, and the entry says so (value_truncated,
 * value_bytes; key_truncated). So an entry fits the producer's default
 * message.max.bytes (1,000,000) whatever it gave up on: an entry too large
 * to produce would hold its partition up for good. */
#define CF_DLQ_VALUE_MAX (512 * 1024)
#define CF_DLQ_KEY_MAX 1024

/* The DLQ entry (proto/schemas/dlq.entry.json) for the message at topic,
 * partition and offset, with its key and value as they were (up to the
 * sizes above), that group_id gives up on (network_id and clinic_id: its
 * tenant, when known). Its id is uuid5(topic, partition, offset, group):
 * giving up on the message again yields the same entry. The value to
 * produce to CF_TOPIC_DLQ keyed as the message was (its first
 * CF_DLQ_KEY_MAX bytes); free() it. For the runner and for a service's own
 * workers that give up on a message they held (an expired call result). */
char *cf_consumer_dlq_entry(const char *group_id, const char *topic, int32_t partition,
                            int64_t offset, const void *key, size_t keylen, const void *value,
                            size_t valuelen, const char *network_id, const char *clinic_id,
                            const char *reason_code, const char *reason, int64_t now_ms);

/* Sum of the lag of the assigned partitions (high watermark - position),
 * refreshed after each batch; -1 when unknown. */
long long cf_consumer_lag(const struct cf_consumer *c);

#endif
