/*
 * cf_kafka_watermarks against librdkafka's mock cluster, in this
 * process on loopback: a topic with more partitions than the caller's
 * arrays hold is answered with its partition count and nothing written,
 * so the caller can size them and ask again (the task sweeper reads
 * calls.raw this way, whatever its partition count); with room, each
 * partition's marks.
 */
#include <stdint.h>
#include <string.h>

#include "common/kafka.h"
#include "cftest.h"
#include "mock_kafka.h"

#define WIDE 100
#define TOPIC "clinicflow.calls.raw.v1"

int main(void)
{
    char errbuf[256] = "";
    struct mock_kafka m;
    CHECK_INT(mock_kafka_start(&m, 1), 0);
    if (!m.mc)
        return cf_test_done();
    CHECK_INT(rd_kafka_mock_topic_create(m.mc, TOPIC, WIDE, 1), 0);

    struct cf_settings s = mock_kafka_settings("calls", rd_kafka_mock_cluster_bootstraps(m.mc));
    struct cf_producer *p = cf_kafka_producer_new(&s, errbuf, sizeof(errbuf));
    CHECK(p != NULL);
    if (!p) {
        fprintf(stderr, "%s\n", errbuf);
        mock_kafka_stop(&m);
        return cf_test_done();
    }
    const char *msg = "{}";
    for (int i = 0; i < 3; i++) /* the key decides the partition: some hold one */
        CHECK_INT(cf_kafka_produce_sync(p, TOPIC, "k", 1, msg, strlen(msg), errbuf, sizeof(errbuf)),
                  0);

    /* Arrays of 64: the count, and nothing written past them or in them. */
    int64_t lo[WIDE + 1], hi[WIDE + 1];
    for (int i = 0; i <= WIDE; i++)
        lo[i] = hi[i] = -7;
    CHECK_INT(cf_kafka_watermarks(p, TOPIC, lo, hi, 64, 5000, errbuf, sizeof(errbuf)), WIDE);
    CHECK_INT(lo[0], -7);
    CHECK_INT(hi[0], -7);

    /* Sized from the count: every partition's marks, the three messages
     * among them. */
    int n = cf_kafka_watermarks(p, TOPIC, lo, hi, WIDE, 5000, errbuf, sizeof(errbuf));
    if (n != WIDE)
        fprintf(stderr, "%s\n", errbuf);
    CHECK_INT(n, WIDE);
    int64_t total = 0;
    for (int i = 0; i < WIDE && n == WIDE; i++) {
        CHECK(lo[i] == 0 && hi[i] >= 0);
        total += hi[i] - lo[i];
    }
    CHECK_INT(total, 3);
    CHECK_INT(hi[WIDE], -7);

    cf_kafka_producer_destroy(p, 1000);
    mock_kafka_stop(&m);
    return cf_test_done();
}
