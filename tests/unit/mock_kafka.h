/*
 * librdkafka's mock cluster in a unit test's own process, on loopback,
 * and the settings a producer of ours needs to reach it (quiet: no
 * librdkafka log lines). For the tests of what the producer does with
 * brokers that refuse, stall or go away: rdkafka_mock.h's error and RTT
 * injection on the cluster.
 */
#ifndef CF_TEST_MOCK_KAFKA_H
#define CF_TEST_MOCK_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/config.h"

struct mock_kafka {
    rd_kafka_t *owner; /* the handle the cluster lives in */
    rd_kafka_mock_cluster_t *mc;
};

/* Starts a cluster of `brokers` brokers: 0, or -1 (nothing to stop). */
static inline int mock_kafka_start(struct mock_kafka *m, int brokers)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    m->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    m->mc = m->owner ? rd_kafka_mock_cluster_new(m->owner, brokers) : NULL;
    if (m->mc)
        return 0;
    if (m->owner)
        rd_kafka_destroy(m->owner);
    return -1;
}

/* The settings of a producer for brokers (the cluster's, or any list),
 * quiet. */
static inline struct cf_settings mock_kafka_settings(const char *service, const char *brokers)
{
    static struct cf_kafka_prop quiet[] = {{"log_level", "0"}};
    struct cf_settings s = {0};
    s.service = (char *)service;
    s.kafka_brokers = (char *)brokers;
    s.kafka_props = quiet;
    s.kafka_props_n = 1;
    return s;
}

static inline void mock_kafka_stop(struct mock_kafka *m)
{
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->owner);
}

#endif
