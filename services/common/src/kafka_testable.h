/*
 * The producer's breaker, a pure state machine, and the statistics reader
 * of kafka.c.
 * Included by the defining file and by its unit test, so both see one
 * declaration: static in normal builds, external in unit tests
 * (common/testable.h).
 */
#ifndef CF_COMMON_KAFKA_TESTABLE_H
#define CF_COMMON_KAFKA_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/testable.h"

enum cf_breaker_event {
    CF_BREAKER_ALL_DOWN,  /* error callback: ERR__ALL_BROKERS_DOWN */
    CF_BREAKER_BROKER_UP, /* statistics or a metadata answer: some broker is UP */
    CF_BREAKER_NONE_UP,   /* statistics: no broker is UP (remembered, opens nothing) */
    CF_BREAKER_TIMED_OUT, /* a message timed out: an outage only if no broker is UP */
    CF_BREAKER_DELIVERED  /* a delivery report said "written" */
};

enum cf_breaker_admit {
    CF_BREAKER_PASS,  /* closed: send */
    CF_BREAKER_PROBE, /* open, probe slot due: send this one */
    CF_BREAKER_REJECT /* open: fail at once */
};

struct cf_breaker {
    int open;
    int64_t next_probe_ms; /* when open: the earliest time the next probe may go */
    int broker_up;         /* the latest statistics saw some broker UP */
};

/* 1 when the breaker changed between open and closed. */
CF_TESTABLE int cf_breaker_on_event(struct cf_breaker *b, enum cf_breaker_event ev, int64_t now_ms,
                                    long probe_interval_ms);
/* Whether a send may go now; taking the probe slot moves the next one. */
CF_TESTABLE enum cf_breaker_admit cf_breaker_admit(struct cf_breaker *b, int64_t now_ms,
                                                   long probe_interval_ms);
/* 1 if any non-internal broker is "UP" in librdkafka's statistics JSON, 0 if
 * none, -1 if the JSON has no "brokers" object. */
CF_TESTABLE int cf_kafka_stats_any_broker_up(const char *json, size_t len);

#endif
