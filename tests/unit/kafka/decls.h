/*
 * Functions of services/common/src/kafka.c that are static in normal builds
 * and visible to unit tests (CF_TESTABLE). The breaker types mirror the
 * definitions in kafka.c and must be kept identical to them.
 */
#ifndef CF_TESTS_UNIT_KAFKA_DECLS_H
#define CF_TESTS_UNIT_KAFKA_DECLS_H

#include <stddef.h>
#include <stdint.h>

#include "common/kafka.h"

enum cf_breaker_event { CF_BREAKER_ALL_DOWN, CF_BREAKER_BROKER_UP, CF_BREAKER_DELIVERED };

enum cf_breaker_admit { CF_BREAKER_PASS, CF_BREAKER_PROBE, CF_BREAKER_REJECT };

struct cf_breaker {
    int open;
    int64_t next_probe_ms;
};

/* 1 when the breaker changed between open and closed. */
int cf_breaker_on_event(struct cf_breaker *b, enum cf_breaker_event ev, int64_t now_ms,
                        long probe_interval_ms);
/* Whether a send may go now; taking the probe slot moves the next one. */
enum cf_breaker_admit cf_breaker_admit(struct cf_breaker *b, int64_t now_ms,
                                       long probe_interval_ms);
/* 1 if any non-internal broker is "UP" in librdkafka's statistics JSON, 0 if
 * none, -1 if the JSON has no "brokers" object. */
int cf_kafka_stats_any_broker_up(const char *json, size_t len);

#endif
