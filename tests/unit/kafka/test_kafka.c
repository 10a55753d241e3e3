/*
 * Unit tests for the producer's parts that need no broker: the breaker
 * state machine, reading broker states from librdkafka's statistics JSON,
 * and building the configuration from the settings.
 *
 * The statistics samples are shaped from the documented fields of
 * librdkafka's STATISTICS.md (2.0.x): a top-level "brokers" object keyed by
 * broker name, each with "name", "nodeid", "source" (learned, configured,
 * internal, logical) and "state" (INIT, DOWN, CONNECT, ..., UP, UPDATE).
 * A handle always lists its internal broker, which is UP.
 */
#include <stdint.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/kafka.h"
#include "cftest.h"
#include "kafka_testable.h"

static void test_breaker(void)
{
    const long iv = 2000;
    struct cf_breaker b = {0};

    /* Closed: everything passes; "up" and deliveries change nothing. */
    CHECK_INT(cf_breaker_admit(&b, 1000, iv), CF_BREAKER_PASS);
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_BROKER_UP, 1000, iv), 0);
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_DELIVERED, 1000, iv), 0);
    CHECK_INT(b.open, 0);

    /* All brokers down: opens; the first probe is one interval later. */
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_ALL_DOWN, 1000, iv), 1);
    CHECK_INT(b.open, 1);
    CHECK_INT(cf_breaker_admit(&b, 1000, iv), CF_BREAKER_REJECT);
    CHECK_INT(cf_breaker_admit(&b, 2999, iv), CF_BREAKER_REJECT);
    /* A repeated all-down neither changes state nor delays the probe. */
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_ALL_DOWN, 2500, iv), 0);
    /* Probe due: exactly one caller gets it. */
    CHECK_INT(cf_breaker_admit(&b, 3000, iv), CF_BREAKER_PROBE);
    CHECK_INT(cf_breaker_admit(&b, 3000, iv), CF_BREAKER_REJECT);
    CHECK_INT(cf_breaker_admit(&b, 4999, iv), CF_BREAKER_REJECT);
    /* The probe failed (no event): the next one comes an interval later. */
    CHECK_INT(cf_breaker_admit(&b, 5000, iv), CF_BREAKER_PROBE);
    CHECK_INT(b.open, 1);
    /* A broker UP in the statistics closes it. */
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_BROKER_UP, 5500, iv), 1);
    CHECK_INT(b.open, 0);
    CHECK_INT(cf_breaker_admit(&b, 5501, iv), CF_BREAKER_PASS);

    /* Open again; a delivered probe closes it too. */
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_ALL_DOWN, 10000, iv), 1);
    CHECK_INT(cf_breaker_admit(&b, 12000, iv), CF_BREAKER_PROBE);
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_DELIVERED, 12010, iv), 1);
    CHECK_INT(cf_breaker_admit(&b, 12011, iv), CF_BREAKER_PASS);
}

/* A message timing out is an outage only when the statistics see no broker
 * UP: right after one, a partition whose leader is still reconnecting must
 * not refuse every other partition's sends. */
static void test_breaker_timeouts(void)
{
    const long iv = 2000;
    struct cf_breaker b = {0};

    /* Statistics saw a broker UP: a timeout leaves it closed. */
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_BROKER_UP, 1000, iv), 0);
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_TIMED_OUT, 1100, iv), 0);
    CHECK_INT(b.open, 0);
    CHECK_INT(cf_breaker_admit(&b, 1101, iv), CF_BREAKER_PASS);

    /* None UP: remembered without opening; the next timeout opens. */
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_NONE_UP, 2000, iv), 0);
    CHECK_INT(b.open, 0);
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_TIMED_OUT, 2100, iv), 1);
    CHECK_INT(b.open, 1);
    CHECK_INT(cf_breaker_admit(&b, 2101, iv), CF_BREAKER_REJECT);
    CHECK_INT(cf_breaker_admit(&b, 4100, iv), CF_BREAKER_PROBE);

    /* A broker UP closes it; all-down forgets the UP, so a timeout that
     * follows an all-down keeps it open once reopened. */
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_BROKER_UP, 5000, iv), 1);
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_ALL_DOWN, 6000, iv), 1);
    CHECK_INT(b.broker_up, 0);
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_DELIVERED, 6500, iv), 1);
    CHECK_INT(cf_breaker_on_event(&b, CF_BREAKER_TIMED_OUT, 7000, iv), 1);
    CHECK_INT(b.open, 1);
}

struct stats_case {
    const char *name;
    const char *json;
    int want;
};

static const struct stats_case stats_cases[] = {
    {"learned broker up",
     "{\"name\":\"rdkafka#producer-1\",\"type\":\"producer\",\"brokers\":{"
     "\"127.0.0.1:39001/bootstrap\":{\"name\":\"127.0.0.1:39001/bootstrap\",\"nodeid\":-1,"
     "\"source\":\"configured\",\"state\":\"DOWN\"},"
     "\"127.0.0.1:39002/2\":{\"name\":\"127.0.0.1:39002/2\",\"nodeid\":2,"
     "\"source\":\"learned\",\"state\":\"UP\"}}}",
     1},
    {"configured bootstrap broker up",
     "{\"brokers\":{\"localhost:9092/bootstrap\":{\"nodeid\":-1,\"source\":\"configured\","
     "\"state\":\"UP\"}}}",
     1},
    {"only the internal broker is up",
     "{\"brokers\":{\":0/internal\":{\"name\":\":0/internal\",\"nodeid\":-1,"
     "\"source\":\"internal\",\"state\":\"UP\"},"
     "\"127.0.0.1:39002/2\":{\"nodeid\":2,\"source\":\"learned\",\"state\":\"CONNECT\"},"
     "\"127.0.0.1:39003/3\":{\"nodeid\":3,\"source\":\"learned\",\"state\":\"DOWN\"}}}",
     0},
    {"logical coordinator alias up, real brokers down",
     "{\"brokers\":{\"GroupCoordinator\":{\"nodeid\":1,\"source\":\"logical\",\"state\":\"UP\"},"
     "\"127.0.0.1:39001/1\":{\"nodeid\":1,\"source\":\"learned\",\"state\":\"TRY_CONNECT\"}}}",
     0},
    {"apiversion query is not up yet",
     "{\"brokers\":{\"b/1\":{\"nodeid\":1,\"source\":\"learned\",\"state\":\"APIVERSION_QUERY\"}}}",
     0},
    {"no brokers at all", "{\"brokers\":{}}", 0},
    {"missing brokers object", "{\"name\":\"rdkafka#producer-1\"}", -1},
    {"brokers not an object", "{\"brokers\":[]}", -1},
    {"not json", "{\"brokers\":", -1},
};

static void test_stats(void)
{
    for (size_t i = 0; i < sizeof(stats_cases) / sizeof(stats_cases[0]); i++) {
        const struct stats_case *tc = &stats_cases[i];
        int got = cf_kafka_stats_any_broker_up(tc->json, strlen(tc->json));
        if (got != tc->want)
            fprintf(stderr, "stats case: %s\n", tc->name);
        CHECK_INT(got, tc->want);
    }
}

static void test_conf(void)
{
    char errbuf[512];
    struct cf_kafka_prop good[] = {{"linger.ms", "2"}, {"socket.keepalive.enable", "true"}};
    struct cf_settings s = {0};
    s.service = "calls";
    s.kafka_brokers = "127.0.0.1:9092,127.0.0.1:9093";
    s.kafka_props = good;
    s.kafka_props_n = 2;

    errbuf[0] = '\0';
    rd_kafka_conf_t *conf = cf_kafka_conf_new(&s, errbuf, sizeof(errbuf));
    CHECK(conf != NULL);
    if (conf) {
        char value[256];
        size_t size = sizeof(value);
        CHECK(rd_kafka_conf_get(conf, "bootstrap.servers", value, &size) == RD_KAFKA_CONF_OK);
        CHECK_STR(value, "127.0.0.1:9092,127.0.0.1:9093");
        size = sizeof(value);
        CHECK(rd_kafka_conf_get(conf, "client.id", value, &size) == RD_KAFKA_CONF_OK);
        CHECK_STR(value, "clinicflow-calls");
        size = sizeof(value);
        CHECK(rd_kafka_conf_get(conf, "linger.ms", value, &size) == RD_KAFKA_CONF_OK);
        CHECK_STR(value, "2");
        rd_kafka_conf_destroy(conf);
    }

    /* An unknown property is named in the reason. */
    struct cf_kafka_prop unknown[] = {{"linger.ms", "2"}, {"no.such.property", "1"}};
    s.kafka_props = unknown;
    errbuf[0] = '\0';
    CHECK(cf_kafka_conf_new(&s, errbuf, sizeof(errbuf)) == NULL);
    CHECK(strstr(errbuf, "no.such.property") != NULL);

    /* A bad value is named by its property, and the value is not echoed
     * (a pass-through value may be a password). */
    struct cf_kafka_prop bad_value[] = {{"acks", "sometimes-secret"}};
    s.kafka_props = bad_value;
    s.kafka_props_n = 1;
    errbuf[0] = '\0';
    CHECK(cf_kafka_conf_new(&s, errbuf, sizeof(errbuf)) == NULL);
    CHECK(strstr(errbuf, "acks") != NULL);
    CHECK(strstr(errbuf, "sometimes-secret") == NULL);
}

int main(void)
{
    test_breaker();
    test_breaker_timeouts();
    test_stats();
    test_conf();
    return cf_test_done();
}
