/*
 * The consumer runner's internals that its unit test reaches: the runner
 * structure, and the steps of a batch that are pure (offsets,
 * the id and offset arrays its statements take, the DLQ entry) or that
 * run one statement in the caller's transaction (dedupe, offsets, one
 * message under a savepoint).
 * Shared by the runner's files (consumer.c: the thread and the batch's
 * transaction; consumer_apply.c: the batch's messages applied;
 * consumer_store.c: its statements; consumer_dlq.c: DLQ entries;
 * consumer_lag.c: the lag gauge) and its
 * unit test; not part of the library's interface (common/consumer.h).
 */
#ifndef CF_COMMON_CONSUMER_TESTABLE_H
#define CF_COMMON_CONSUMER_TESTABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "common/consumer.h"
#include "common/envelope.h"

struct cf_consumer {
    char *group_id;
    char **topics;
    size_t ntopics;
    char *schema;
    char *ident; /* schema quoted as an identifier */
    cf_apply_fn apply;
    cf_apply_batch_fn apply_batch;
    void (*batch_done)(void *ctx, int committed);
    int (*wanted)(void *ctx);
    void *ctx;
    size_t batch_max;
    char *dsn;
    PGconn *conn;
    rd_kafka_t *rk;
    struct cf_producer *producer;
    /* the largest output key plus value the producer takes
     * (cf_kafka_producer_max_message); 0: not checked */
    size_t max_output;
    /* Under it, each topic whose output Kafka refused: the size under
     * which its outputs go (cf_consumer_refused_output; a topic's
     * max.message.bytes is its own). Runner thread only. */
    struct cf_consumer_limit {
        char *topic;
        size_t max;
    } * limits;
    size_t nlimits;
    pthread_t thread;
    atomic_int stop;
    atomic_llong lag;
    int rebalanced; /* set by the rebalance callback; runner thread only */
    /* The runner's partitions that have a row, each at the next offset
     * the runner knows PostgreSQL to hold for it (whatever its value: an
     * operator may have written a negative one), read on assignment and
     * moved by each batch it commits: what the batch's offsets statement
     * moves them from. A partition not in it has no row. NULL before any.
     * Runner thread only (the rebalance callback runs in its poll). */
    rd_kafka_topic_partition_list_t *stored;
    int failures; /* batches failed in a row; runner thread only */
    int64_t lag_refreshed_ms;
    /* Per topic, this runner's share of clinicflow_consumer_lag{group,
     * topic}: runners of one group in a process add their shares to the
     * one gauge (runner thread only). */
    long long *published_lag;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished; /* under mu: the thread is about to return */
};

/* Sets each partition of parts to the next offset the group stored in
 * PostgreSQL (one without a row keeps its offset), waiting as long as the
 * read fails (reconnecting, with a backoff up to 5 s): the stored offsets
 * are the only truth, and Kafka's committed ones may be ahead of them (an
 * operator rewound the stored ones, or restored the database) or gone.
 * The rebalance callback (consumer.c) assigns nothing before. 0, or
 * CF_EUNAVAIL when the runner is asked to stop meanwhile. */
int cf_consumer_load_offsets_wait(struct cf_consumer *c, rd_kafka_topic_partition_list_t *parts);

/* Lag = cached high watermark - position, per topic and in total, into
 * c->lag and c's share of clinicflow_consumer_lag (consumer_lag.c). Runner
 * thread only. */
void cf_consumer_refresh_lag(struct cf_consumer *c);

/* A message of a batch, parsed. */
struct cf_consumer_msg {
    struct cf_event ev;
    int parsed; /* ev holds the envelope; 0 for a tombstone or one sent to the DLQ */
    int apply;  /* not applied before (nor earlier in this batch): apply it */
};

/* The partitions of a batch with their first offsets (to seek back to) and
 * next offsets (to store and commit), in the order they first appear. The
 * caller destroys both lists. */
void cf_consumer_batch_offsets(rd_kafka_message_t **batch, size_t n,
                               rd_kafka_topic_partition_list_t **firsts_out,
                               rd_kafka_topic_partition_list_t **nexts_out);

/* The ids of the parsed messages as a PostgreSQL uuid[] literal, in order
 * ("{id,id}"), or NULL when none is parsed. free() it. */
char *cf_consumer_ids_literal(const struct cf_consumer_msg *msgs, size_t n);

/* Marks apply on each parsed message whose id is among the ids the dedupe
 * statement returned (those it had not seen); each returned id is claimed
 * by one message, the first with it. Returns how many were marked. */
size_t cf_consumer_mark_new(struct cf_consumer_msg *msgs, size_t n, const char *const *ids,
                            size_t nids);

/* The four array literals of store_offsets' one statement: topics
 * (text[]), partitions (int[]), next offsets (bigint[]) of nexts, in its
 * order, and the offset each is expected to move from (bigint[]): its
 * offset in stored (NULL: no list), NULL for a partition not in it (no
 * row). free() each. */
void cf_consumer_offsets_literals(const rd_kafka_topic_partition_list_t *nexts,
                                  const rd_kafka_topic_partition_list_t *stored, char **topics,
                                  char **partitions, char **offsets, char **expected);

/* The value of the DLQ entry (proto/schemas/dlq.entry.json) for message
 * rkm of topic that group_id gives up on; orig is its envelope when it
 * parsed (its tenant is kept), else NULL. free() it. */
char *cf_consumer_dlq_value(const char *group_id, const char *topic, const rd_kafka_message_t *rkm,
                            const struct cf_event *orig, const char *reason_code,
                            const char *reason, int64_t now_ms);

/* cf_consumer_dlq_value whose entry, with rkm's key as the DLQ message
 * carries it, stays within max_bytes (0: no bound beyond
 * CF_DLQ_VALUE_MAX): the value kept is cut further when it must be
 * (value_truncated, value_bytes), to nothing when even that is too much.
 * For a broker that refused an output of max_bytes + 1 (dlq_add): an
 * entry it refuses too would stop the partition for good. */
char *cf_consumer_dlq_value_within(const char *group_id, const char *topic,
                                   const rd_kafka_message_t *rkm, const struct cf_event *orig,
                                   const char *reason_code, const char *reason, int64_t now_ms,
                                   size_t max_bytes);

/* One statement: records the ids of the parsed messages as applied by
 * c's group and marks those it had not seen (cf_consumer_mark_new). */
int cf_consumer_dedupe(struct cf_consumer *c, struct cf_consumer_msg *msgs, size_t n, char *errbuf,
                       size_t errbuf_size);

/* One statement: stores each partition's next offset in c's open
 * transaction, moving it from the one c->stored holds (a partition with
 * none there must have no row). 0; CF_CONSUMER_FENCED when any of them
 * is no longer stored as c->stored says (nothing is to be committed: the
 * caller rolls back and reads the stored offsets again); or the error. */
#define CF_CONSUMER_FENCED 2
int cf_consumer_store_offsets(struct cf_consumer *c, const rd_kafka_topic_partition_list_t *nexts,
                              char *errbuf, size_t errbuf_size);

/* Notes in c->stored the offsets a committed batch stored. */
void cf_consumer_stored_note(struct cf_consumer *c, const rd_kafka_topic_partition_list_t *nexts);

/* The optimistic way through a batch in c's open transaction: one dedupe
 * statement, then the messages to apply (new, and not sent to the DLQ for
 * an invalid envelope) to c's batch apply at once when it has one, else to
 * apply one by one with no savepoint. 0, CF_CONSUMER_BATCH_REJECTED when a
 * message was rejected (the caller rolls back and goes message by
 * message), or a transient error. */
#define CF_CONSUMER_BATCH_REJECTED 1
int cf_consumer_apply_optimistic(struct cf_consumer *c, rd_kafka_message_t **batch, size_t n,
                                 struct cf_outbox *out, char *errbuf, size_t errbuf_size);

/* A batch's produce answer err, when the broker refused an output to
 * topic as too big even sent alone (refused: its size, cf_outbox_produce's;
 * 0: none): the broker takes less than the producer (its
 * message.max.bytes, or the topic's max.message.bytes, set lower), and the
 * batch would be refused on every try. The topic's limit is lowered under
 * that size (other topics keep theirs) and the batch rejected
 * (CF_CONSUMER_BATCH_REJECTED, reason in errbuf): the careful way then
 * sends the message that made the output to the DLQ (output_too_large),
 * as one over the producer's own limit. Any other answer is returned as it
 * is. Runner thread only. */
int cf_consumer_refused_output(struct cf_consumer *c, int err, size_t refused, const char *topic,
                               char *errbuf, size_t errbuf_size);

/* The largest output key plus value c sends to topic: the producer's, or
 * what a refusal taught for that topic (0: not checked). *learnt, when not
 * NULL, is set when the limit is a refusal's. */
size_t cf_consumer_output_limit(const struct cf_consumer *c, const char *topic, int *learnt);

/* Applies one message under a savepoint in c's open transaction (the
 * careful way); a rejected one is undone, not recorded as applied, and
 * queued for the DLQ in out. seen (an object, or NULL) holds the event
 * ids of the batch's messages taken before: a repeat is skipped, as the
 * optimistic way applies a repeated id at its first occurrence only
 * (whatever the first one's apply did to its applied mark: a handler may
 * forget it, for the id to come again in a later batch). */
int cf_consumer_apply_one(struct cf_consumer *c, const rd_kafka_message_t *rkm,
                          struct cf_outbox *out, int last_resort, json_t *seen, char *errbuf,
                          size_t errbuf_size);

#endif
