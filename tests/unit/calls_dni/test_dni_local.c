/*
 * dni_local.c with the clock given: the address's limit counts in minute
 * windows and the clinic's in second windows, each key on its own; the
 * count starts again in the next window; a hold is answered from memory
 * until it stops being fresh, and the sweep drops what has expired.
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
    const int64_t t = 1764000000000LL;

    CHECK_INT(calls_dni_local_get("c1", "visitor-0001", t, number, sizeof(number), &reserved), 0);
    calls_dni_local_put("c1", "visitor-0001", "+74950000111", t - 5000, t + 60000);
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0001", t + 59999, number, sizeof(number), &reserved), 1);
    CHECK_STR(number, "+74950000111");
    CHECK(reserved == t - 5000);
    /* Another clinic's visitor of the same id is someone else. */
    CHECK_INT(calls_dni_local_get("c2", "visitor-0001", t, number, sizeof(number), &reserved), 0);
    /* No longer fresh: Redis must be asked again. */
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0001", t + 60000, number, sizeof(number), &reserved), 0);
    /* A later extension makes it fresh again; the sweep keeps it until then. */
    calls_dni_local_put("c1", "visitor-0001", "+74950000111", t - 5000, t + 120000);
    calls_dni_local_sweep(t + 100000);
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0001", t + 100000, number, sizeof(number), &reserved),
        1);
    calls_dni_local_sweep(t + 120000);
    CHECK_INT(
        calls_dni_local_get("c1", "visitor-0001", t + 110000, number, sizeof(number), &reserved),
        0); /* swept, though the clock given here is earlier */
}

int main(void)
{
    test_limits();
    test_holds();
    calls_dni_local_free();
    return cf_test_done();
}
