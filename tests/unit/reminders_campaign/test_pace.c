/*
 * Campaign pacing: a clinic's campaign contacts go at most seats x
 * tasks_per_seat_hour a clock hour (the seeds' 6-8 calls an hour per
 * administrator; 7 by default, one seat), only inside its calling windows;
 * the rest are due again at the next hour's first window moment. The
 * recall enrols no more than the hour's budget less what already waits.
 */
#include "pace_testable.h"

#include "cftest.h"
#include "policy.h"

/* Moscow is UTC+3 all year. */
static int64_t msk(int y, int mo, int d, int h, int mi)
{
    return cf_test_utc_ms(y, mo, d, h, mi, 0) - 3 * 3600000;
}

static void test_budget(void)
{
    struct plan_policy p = policy(NULL, NULL);
    CHECK_INT(p.seats, 1);
    CHECK_INT(p.tasks_per_seat_hour, 7);
    CHECK_INT(pace_budget(&p), 7);
    plan_policy_free(&p);
    /* the clinic's own over the network's, member by member */
    p = policy("{\"seats\": 3, \"tasks_per_seat_hour\": 6}",
               "{\"reminder_policy\": {\"tasks_per_seat_hour\": 8}}");
    CHECK_INT(pace_budget(&p), 24);
    plan_policy_free(&p);

    p = policy(NULL, NULL);
    CHECK_INT(pace_hour(&p, cf_test_utc_ms(2026, 12, 4, 10, 37, 12) + 5),
              cf_test_utc_ms(2026, 12, 4, 10, 0, 0));
    CHECK_INT(pace_hour(&p, cf_test_utc_ms(2026, 12, 4, 11, 0, 0)),
              cf_test_utc_ms(2026, 12, 4, 11, 0, 0));
    plan_policy_free(&p);
}

/* The hour is the clinic's own clock hour: in Kolkata (UTC+05:30) the
 * budget spent at 10:50 local comes back at 11:00 local, not at the UTC
 * hour's turn twenty minutes later. */
static void test_release_local_hour(void)
{
    struct plan_policy p = policy_in("Asia/Kolkata", NULL, NULL);
    int64_t later;
    const int64_t ten_fifty = cf_test_utc_ms(2026, 12, 4, 5, 20, 0); /* 10:50 IST */

    CHECK_INT(pace_hour(&p, ten_fifty), cf_test_utc_ms(2026, 12, 4, 4, 30, 0));
    CHECK_INT(pace_release(&p, ten_fifty, 7, &later), 0);
    CHECK_INT(later, cf_test_utc_ms(2026, 12, 4, 5, 30, 0));
    CHECK_INT(pace_release(&p, ten_fifty, 2, &later), 5);
    CHECK_INT(later, cf_test_utc_ms(2026, 12, 4, 5, 30, 0));
    plan_policy_free(&p);
}

static void test_release_in_windows(void)
{
    /* the default windows, 10:00-18:00 and 20:00-21:00 */
    struct plan_policy p = policy(NULL, NULL);
    int64_t later;

    /* the hour's budget, less what went in it */
    const int64_t noon = msk(2026, 12, 4, 12, 20);
    CHECK_INT(pace_release(&p, noon, 0, &later), 7);
    CHECK_INT(later, msk(2026, 12, 4, 13, 0));
    CHECK_INT(pace_release(&p, noon, 5, &later), 2);
    CHECK_INT(pace_release(&p, noon, 7, &later), 0);
    CHECK_INT(later, msk(2026, 12, 4, 13, 0));
    /* more than the budget went (a budget lowered mid-hour): none */
    CHECK_INT(pace_release(&p, noon, 9, &later), 0);

    /* spent in the windows' last hour: the next window moment after it */
    CHECK_INT(pace_release(&p, msk(2026, 12, 4, 17, 40), 7, &later), 0);
    CHECK_INT(later, msk(2026, 12, 4, 20, 0));
    CHECK_INT(pace_release(&p, msk(2026, 12, 4, 20, 30), 7, &later), 0);
    CHECK_INT(later, msk(2026, 12, 5, 10, 0));
    CHECK_INT(pace_release(&p, msk(2026, 12, 4, 20, 30), 3, &later), 4);
    CHECK_INT(later, msk(2026, 12, 5, 10, 0));

    /* never outside the windows, budget or not: a job taken late at 18:05
     * waits for 20:00 */
    CHECK_INT(pace_release(&p, msk(2026, 12, 4, 18, 5), 0, &later), 0);
    CHECK_INT(later, msk(2026, 12, 4, 20, 0));
    CHECK_INT(pace_release(&p, msk(2026, 12, 4, 23, 0), 0, &later), 0);
    CHECK_INT(later, msk(2026, 12, 5, 10, 0));
    plan_policy_free(&p);

    /* a window opening mid-hour: that hour's budget from its opening */
    p = policy(NULL, "{\"calling_windows\": [\"10:30-18:00\"]}");
    CHECK_INT(pace_release(&p, msk(2026, 12, 4, 10, 10), 0, &later), 0);
    CHECK_INT(later, msk(2026, 12, 4, 10, 30));
    CHECK_INT(pace_release(&p, msk(2026, 12, 4, 10, 45), 0, &later), 7);
    CHECK_INT(later, msk(2026, 12, 4, 11, 0));
    plan_policy_free(&p);

    /* round the clock, two seats of 3: the next hour, whatever the time */
    p = policy("{\"seats\": 2, \"tasks_per_seat_hour\": 3}",
               "{\"calling_windows\": [\"00:00-24:00\"]}");
    CHECK_INT(pace_release(&p, msk(2026, 12, 4, 23, 59), 6, &later), 0);
    CHECK_INT(later, msk(2026, 12, 5, 0, 0));
    CHECK_INT(pace_release(&p, msk(2026, 12, 5, 0, 0), 0, &later), 6);
    plan_policy_free(&p);
}

static void test_enrol(void)
{
    struct plan_policy p = policy(NULL, NULL);
    CHECK_INT(pace_enrol(&p, 0), 7);
    CHECK_INT(pace_enrol(&p, 5), 2);
    CHECK_INT(pace_enrol(&p, 7), 0);
    CHECK_INT(pace_enrol(&p, 40), 0);
    plan_policy_free(&p);
    p = policy(NULL, "{\"reminder_policy\": {\"seats\": 2, \"tasks_per_seat_hour\": 3}}");
    CHECK_INT(pace_enrol(&p, 1), 5);
    plan_policy_free(&p);
}

int main(void)
{
    test_budget();
    test_release_in_windows();
    test_release_local_hour();
    test_enrol();
    return cf_test_done();
}
