/*
 * The producer's breaker against librdkafka's mock cluster, in this
 * process on loopback: a producer whose brokers were never reached is not
 * available (readiness must not pass a wrong address for Kafka); and one
 * partition's leader too slow to answer within the delivery wait fails
 * that partition's send alone, not every other partition's while the
 * other brokers are up.
 */
#include <string.h>

#include "common/err.h"
#include "common/kafka.h"
#include "cftest.h"
#include "mock_kafka.h"

#define SLOW_TOPIC "breaker-test.slow"
#define QUICK_TOPIC "breaker-test.quick"

static struct cf_settings settings(const char *brokers)
{
    struct cf_settings s = mock_kafka_settings("breaker-test", brokers);
    s.kafka_message_timeout_ms = 1000;
    s.kafka_delivery_wait_ms = 1500;
    return s;
}

static void test_never_reached(void)
{
    char errbuf[256] = "";
    struct cf_settings s = settings("127.0.0.1:1"); /* nothing listens there */
    struct cf_producer *p = cf_kafka_producer_new(&s, errbuf, sizeof(errbuf));
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_INT(cf_kafka_available(p), 0);
    cf_kafka_producer_destroy(p, 100);
}

static void test_one_slow_leader(void)
{
    char errbuf[256] = "";
    struct mock_kafka m;
    CHECK_INT(mock_kafka_start(&m, 2), 0);
    if (!m.mc)
        return;
    rd_kafka_mock_cluster_t *mc = m.mc;
    CHECK_INT(rd_kafka_mock_topic_create(mc, SLOW_TOPIC, 1, 1), 0);
    CHECK_INT(rd_kafka_mock_topic_create(mc, QUICK_TOPIC, 1, 1), 0);
    CHECK_INT(rd_kafka_mock_partition_set_leader(mc, SLOW_TOPIC, 0, 1), 0);
    CHECK_INT(rd_kafka_mock_partition_set_leader(mc, QUICK_TOPIC, 0, 2), 0);
    struct cf_settings s = settings(rd_kafka_mock_cluster_bootstraps(mc));
    struct cf_producer *p = cf_kafka_producer_new(&s, errbuf, sizeof(errbuf));
    CHECK(p != NULL);
    if (p) {
        CHECK_INT(cf_kafka_available(p), 1);
        CHECK_INT(cf_kafka_produce_sync(p, SLOW_TOPIC, "k", 1, "{}", 2, errbuf, sizeof(errbuf)), 0);
        CHECK_INT(cf_kafka_produce_sync(p, QUICK_TOPIC, "k", 1, "{}", 2, errbuf, sizeof(errbuf)),
                  0);
        /* broker 1 now answers after 5 s: its partition's send fails ... */
        CHECK_INT(rd_kafka_mock_broker_set_rtt(mc, 1, 5000), 0);
        CHECK(cf_kafka_produce_sync(p, SLOW_TOPIC, "k", 1, "{}", 2, errbuf, sizeof(errbuf)) != 0);
        /* ... and the other broker's partition still takes its events */
        CHECK_INT(cf_kafka_available(p), 1);
        CHECK_INT(cf_kafka_produce_sync(p, QUICK_TOPIC, "k", 1, "{}", 2, errbuf, sizeof(errbuf)),
                  0);
        CHECK_INT(rd_kafka_mock_broker_set_rtt(mc, 1, 0), 0);
        cf_kafka_producer_destroy(p, 6000);
    }
    mock_kafka_stop(&m);
}

int main(void)
{
    test_never_reached();
    test_one_slow_leader();
    return cf_test_done();
}
