/*
 * Reading a topic without a consumer group (clinicflowctl dlq: the dead
 * letters, and a compacted topic's later records of their keys): its
 * partitions' watermarks taken now, and each partition read from a given
 * offset up to them.
 */
#ifndef CTL_TOPIC_READ_H
#define CTL_TOPIC_READ_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/kafka.h"

/* What ctl_topic_read does with each message of a partition below its
 * high watermark. */
typedef void (*ctl_take_fn)(void *arg, const rd_kafka_message_t *rkm);

/* The watermarks of every partition of topic, taken now (waiting up to
 * timeout_ms): *n of them in *lo and *hi (new arrays, free them whatever
 * is returned). 0 or CF_EUNAVAIL with the reason. */
int ctl_topic_watermarks(struct cf_producer *producer, const char *topic, long timeout_ms,
                         int64_t **lo, int64_t **hi, int *n, char *errbuf, size_t errbuf_size);

/* Reads the partitions of topic that hold messages from from[p] on
 * (from[p] < hi[p]) up to hi[p], each message to take, with the settings
 * s's Kafka. A start no longer on the topic (deleted or compacted away
 * since) reads from the earliest message kept. Fails when no partition
 * moves for timeout_ms. 0 or CF_EUNAVAIL with the reason. */
int ctl_topic_read(const struct cf_settings *s, const char *topic, const int64_t *from,
                   const int64_t *hi, int n, long timeout_ms, ctl_take_fn take, void *arg,
                   char *errbuf, size_t errbuf_size);

#endif
