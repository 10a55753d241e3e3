/*
 * dni_local.c with the clock given: the address's limit counts in minute
 * windows and the clinic's in second windows, each key on its own; the
 * count starts again in the next window; a hold is answered from memory
 * while Redis holds it at least a whole hold more, not after Redis lost its
 * data (another epoch); the sweep drops what has expired; the address
 * table is bounded; a clinic's peak demand halves every half-life and the
 * pool size it suggests follows it, with no cap at the pool's size.
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
                        t + local, "1764000000000");
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
                        t + local, "1763999999999");
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0003", t + hold, number, sizeof(number), &reserved), 0);
    /* A later epoch (Redis lost its data) forgets them all. */
    calls_dni_local_epoch("1764000005000");
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0001", t + hold, number, sizeof(number), &reserved), 0);

    /* The sweep drops a hold once it may have ended in Redis. */
    calls_dni_local_put("c1", "visitor-0002", "+74950000112", 1764000000000LL, t + 100, t + 100,
                        "1764000005000");
    calls_dni_local_sweep(t + 99);
    CHECK_INT(calls_dni_local_get("c1", "visitor-0002", t, number, sizeof(number), &reserved), 1);
    calls_dni_local_sweep(t + 100);
    CHECK_INT(calls_dni_local_get("c1", "visitor-0002", t, number, sizeof(number), &reserved), 0);
    /* and once it can no longer answer from memory (a whole hold no longer
     * left in Redis), though Redis still holds it */
    calls_dni_local_put("c1", "visitor-0004", "+74950000114", 1764000000000LL, t + hold + local,
                        t + local, "1764000005000");
    calls_dni_local_sweep(t + local - 1);
    CHECK_INT(calls_dni_local_get("c1", "visitor-0004", t, number, sizeof(number), &reserved), 1);
    calls_dni_local_sweep(t + local);
    CHECK_INT(calls_dni_local_get("c1", "visitor-0004", t, number, sizeof(number), &reserved), 0);
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

/* The advice: the peak plus a quarter, rounded up, at least one; a
 * fraction of a decayed peak counts as a visitor; nothing caps it (a pool
 * of 10 that turned 30 visitors away within a hold is told 50). */
static void test_suggested_pool(void)
{
    static const struct {
        double peak;
        long suggested;
    } cases[] = {
        {0, 1}, {1, 2}, {4, 5}, {5, 7}, {6, 8}, {8, 10}, {40, 50}, {5.2, 8}, {0.01, 2}, {100, 125},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(calls_dni_suggested_pool(cases[i].peak), cases[i].suggested);
}

static void test_peak_decay(void)
{
    const long hl = 3600; /* a half-life of an hour */
    const int64_t hl_ms = hl * 1000;
    CHECK(calls_dni_peak_decayed(10, 0, hl) == 10);
    CHECK(calls_dni_peak_decayed(10, -5, hl) == 10); /* a clock read out of order */
    CHECK(calls_dni_peak_decayed(10, hl_ms, hl) == 5);
    CHECK(calls_dni_peak_decayed(10, 2 * hl_ms, hl) == 2.5);

    /* The table: a demand above the decayed peak is the new peak, one
     * below it leaves the decayed peak. */
    const int64_t t = 9000000;
    CHECK(calls_dni_local_peak("pk", 12, t, hl) == 12); /* more than a pool of 5 */
    CHECK(calls_dni_local_peak("pk", 3, t, hl) == 12);
    CHECK(calls_dni_local_peak("pk", 2, t + hl_ms, hl) == 6);
    CHECK(calls_dni_local_peak("pk", 4, t + 2 * hl_ms, hl) == 4); /* 3 < 4 */
    CHECK(calls_dni_local_peak("other", 1, t + 2 * hl_ms, hl) == 1);
    /* Long quiet: the peak falls to what is asked now. */
    CHECK(calls_dni_local_peak("pk", 1, t + 30 * hl_ms, hl) == 1);
    CHECK_INT(calls_dni_suggested_pool(calls_dni_local_peak("pk", 0, t + 30 * hl_ms, hl)), 2);
}

/* The flusher republishes every clinic's peak decayed to now. */
static double seen_pk;
static int seen_n;
static void seen(const char *clinic, double peak, void *arg)
{
    (void)arg;
    seen_n++;
    if (strcmp(clinic, "pk2") == 0)
        seen_pk = peak;
}

static void test_peaks_each(void)
{
    const int64_t t = 20000000;
    calls_dni_local_peak("pk2", 8, t, 60);
    calls_dni_local_peaks_each(t + 120000, 60, seen, NULL);
    CHECK(seen_pk == 2);
    CHECK(seen_n >= 1);
}

int main(void)
{
    test_suggested_pool();
    test_peak_decay();
    test_peaks_each();
    test_limits();
    test_holds();
    test_address_table_bound();
    calls_dni_local_free();
    return cf_test_done();
}
