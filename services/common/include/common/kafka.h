/*
 * The Kafka producer: one per process, idempotent, acks=all, polled by its
 * own thread. HTTP handlers call cf_kafka_produce_sync(), which waits for
 * that message's delivery report (never a flush) for a bounded time longer
 * than message.timeout.ms. A breaker opens on ERR__ALL_BROKERS_DOWN: sends
 * then fail at once with CF_EUNAVAIL without producing; it closes when the
 * statistics callback sees a broker UP again, or when a half-open probe
 * (one send let through per probe interval) is delivered.
 */
#ifndef CF_COMMON_KAFKA_H
#define CF_COMMON_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"

/* A configuration built from the settings: bootstrap.servers, the
 * CLINICFLOW_KAFKA_X_* pass-through props, every set checked. NULL with the
 * reason on a bad property. */
rd_kafka_conf_t *cf_kafka_conf_new(const struct cf_settings *s, char *errbuf, size_t errbuf_size);

struct cf_producer;

struct cf_producer *cf_kafka_producer_new(const struct cf_settings *s, char *errbuf,
                                          size_t errbuf_size);

/* One message to send; err is filled by the batch send (0 or a cf_err). */
struct cf_kmsg {
    const char *topic;
    const void *key;
    size_t keylen;
    const void *value;
    size_t valuelen;
    int err;
};

/* Produces one message and blocks until its delivery report. Returns 0 when
 * Kafka acknowledged it; CF_EUNAVAIL when the breaker is open or delivery
 * failed with the message certainly not written; CF_ETIMEOUT when it may
 * have been written (retry is safe: ids are deterministic). Thread-safe. */
int cf_kafka_produce_sync(struct cf_producer *p, const char *topic, const void *key, size_t keylen,
                          const void *value, size_t valuelen, char *errbuf, size_t errbuf_size);

/* Produces an event (its JSON envelope) to topic keyed by its subject, as
 * cf_kafka_produce_sync: the intake routes' one way to a raw topic. */
struct cf_event;
int cf_kafka_produce_event(struct cf_producer *p, const char *topic, const struct cf_event *ev,
                           char *errbuf, size_t errbuf_size);

/* Produces n messages and waits for all their reports. Returns 0 when all
 * were acknowledged, else the first failure's code; each msgs[i].err is set. */
int cf_kafka_produce_batch(struct cf_producer *p, struct cf_kmsg *msgs, size_t n, char *errbuf,
                           size_t errbuf_size);

/* The low and high watermarks of each partition of topic (lo[0..n-1],
 * hi[0..n-1]): the first offset still kept, and the offset the next
 * acknowledged message will take, so every message acknowledged before the
 * call is below it. Returns n, the topic's partition count; when it is
 * more than max, nothing is written (call again with arrays that large).
 * -1 with the reason when the brokers cannot say: within timeout_ms for
 * the topic's metadata, and as much again for all the partitions' marks.
 * Thread-safe. */
int cf_kafka_watermarks(struct cf_producer *p, const char *topic, int64_t *lo, int64_t *hi, int max,
                        int timeout_ms, char *errbuf, size_t errbuf_size);

/* 1 while the breaker is closed (a broker is reachable). */
int cf_kafka_available(const struct cf_producer *p);
/* Counters for /metrics. */
void cf_kafka_stats(const struct cf_producer *p, unsigned long *delivered, unsigned long *failed);

/* Flushes for at most timeout_ms, logs what is left, destroys the handle.
 * Returns the number of messages not delivered. */
/* Asks, without waiting, for the leaders of the topics the service
 * produces to (at most CF_KAFKA_WARM_MAX), so the first event of each does
 * not wait for the topic's metadata: a fold starting on a backlog sends its
 * first batch's events as fast as the rest. Unknown topics are no error
 * here; producing to them is. */
#define CF_KAFKA_WARM_MAX 16
void cf_kafka_producer_warm(struct cf_producer *p, const char *const *topics, size_t n);

/* The largest key plus value p sends: its message.max.bytes less
 * CF_KAFKA_RECORD_SLACK for the record's framing. A larger message is
 * refused (CF_ETOOBIG) and would be refused again: the consumer runner
 * sends the input that made one to the DLQ instead. */
#define CF_KAFKA_RECORD_SLACK 512
size_t cf_kafka_producer_max_message(const struct cf_producer *p);

int cf_kafka_producer_destroy(struct cf_producer *p, int timeout_ms);

#endif
