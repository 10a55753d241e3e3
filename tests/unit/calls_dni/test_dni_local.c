/*
 * dni_local.c with the clock given: the address's limit counts in minute
 * windows and the clinic's in second windows, each key on its own; the
 * count starts again in the next window; a hold is answered from memory
 * while Redis holds it at least a whole hold more, not after Redis lost its
 * data (another epoch); the sweep drops what has expired; the address
 * table is bounded.
 */
#include <stdint.h>
#include <string.h>

#include "calls.h"
#include "cftest.h"

static void test_limits(void)
{
    const struct calls_settings cfg = {.dni_ip_per_minute = 3, .dni_clinic_per_second = 4};
    const int64_t t = 1764000000000LL; /* the start of a minute: a multiple of 60,000 ms */

    /* Three from an address in a minute pass, the fourth is over. */
    for (int i = 0; i < 3; i++)
        CHECK_INT(calls_dni_local_limit(&cfg, "10.0.0.1", "c1", t + i), 0);
    CHECK_INT(calls_dni_local_limit(&cfg, "10.0.0.1", "c1", t + 10), 1);
    /* Another address has its own count. The clinic counted 4 in this
     * second (not the one its address refused): the next is over. */
    CHECK_INT(calls_dni_local_limit(&cfg, "10.0.0.2", "c1", t + 20), 0);
    CHECK_INT(calls_dni_local_limit(&cfg, "10.0.0.3", "c1", t + 30), 2);
    /* Another clinic, and the next second, start afresh for the clinic. */
    CHECK_INT(calls_dni_local_limit(&cfg, "10.0.0.4", "c2", t + 40), 0);
    CHECK_INT(calls_dni_local_limit(&cfg, "10.0.0.5", "c1", t + 1000), 0);
    /* The first address is still over until the minute ends. */
    CHECK_INT(calls_dni_local_limit(&cfg, "10.0.0.1", "c3", t + 59999), 1);
    CHECK_INT(calls_dni_local_limit(&cfg, "10.0.0.1", "c3", t + 60000), 0);
}

static void test_holds(void)
{
    char number[64] = "";
    int64_t reserved = 0;
    const int64_t t = 5000000; /* monotonic */
    const int64_t hold = 1800000, local = 60000;

    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0001", t + hold, number, sizeof(number), &reserved), 0);
    calls_dni_local_epoch("1764000000000");
    /* Redis took the hold at t for hold + local. */
    calls_dni_local_put("c1", "visitor-0001", "+74950000111", 1764000000000LL, t + hold + local,
                        "1764000000000");
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0001", t + hold, number, sizeof(number), &reserved), 1);
    CHECK_STR(number, "+74950000111");
    CHECK(reserved == 1764000000000LL);
    /* Answered while a whole hold is still left in Redis, not a moment after. */
    CHECK_INT(calls_dni_local_get("c1", "visitor-0001", t + local + hold, number, sizeof(number),
                                  &reserved),
              1);
    CHECK_INT(calls_dni_local_get("c1", "visitor-0001", t + local + 1 + hold, number,
                                  sizeof(number), &reserved),
              0);
    /* A longer hold (a reloaded pool) than Redis keeps: ask Redis. */
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0001", t + 2 * hold, number, sizeof(number), &reserved),
        0);
    /* Another clinic's visitor of the same id is someone else. */
    CHECK_INT(
        calls_dni_local_get("c2", "visitor-0001", t + hold, number, sizeof(number), &reserved), 0);

    /* The same epoch keeps the holds, and so does an older one (a slow
     * answer); a hold learnt in an older epoch is not kept. */
    calls_dni_local_epoch("1764000000000");
    calls_dni_local_epoch("1763999999999");
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0001", t + hold, number, sizeof(number), &reserved), 1);
    calls_dni_local_put("c1", "visitor-0003", "+74950000113", 1764000000000LL, t + hold + local,
                        "1763999999999");
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0003", t + hold, number, sizeof(number), &reserved), 0);
    /* A later epoch (Redis lost its data) forgets them all. */
    calls_dni_local_epoch("1764000005000");
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0001", t + hold, number, sizeof(number), &reserved), 0);

    /* The sweep drops a hold once it may have ended in Redis. */
    calls_dni_local_put("c1", "visitor-0002", "+74950000112", 1764000000000LL, t + 100,
                        "1764000005000");
    calls_dni_local_sweep(t + 99);
    CHECK_INT(calls_dni_local_get("c1", "visitor-0002", t, number, sizeof(number), &reserved), 1);
    calls_dni_local_sweep(t + 100);
    CHECK_INT(calls_dni_local_get("c1", "visitor-0002", t, number, sizeof(number), &reserved), 0);
}

/* An address table full between sweeps counts no new address (-1: the
 * request goes to Redis, which counts it) and keeps counting the others. */
static void test_address_table_bound(void)
{
    const struct calls_settings cfg = {.dni_ip_per_minute = 2, .dni_clinic_per_second = 1000000};
    const int64_t t = 7200000;
    char ip[32];
    int full = 0, i = 0;

    calls_dni_local_sweep(t + 3600000); /* start empty */
    for (; i < 1000000 && !full; i++) {
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        full = calls_dni_local_limit(&cfg, ip, "c9", t) == -1;
    }
    CHECK(full);
    CHECK(i > 1000); /* the bound is far above a small clinic's traffic */
    CHECK_INT(calls_dni_local_limit(&cfg, "10.0.0.0", "c9", t), 0); /* counted: 2 */
    CHECK_INT(calls_dni_local_limit(&cfg, "10.0.0.0", "c9", t), 1);
    /* A sweep in the next minute empties it. */
    calls_dni_local_sweep(t + 60000);
    CHECK_INT(calls_dni_local_limit(&cfg, "192.0.2.1", "c9", t + 60000), 0);
}

int main(void)
{
    test_limits();
    test_holds();
    test_address_table_bound();
    calls_dni_local_free();
    return cf_test_done();
}
