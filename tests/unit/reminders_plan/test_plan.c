/*
 * Reminder planning: a day and two hours ahead by default, inside the
 * clinic's calling windows (10:00-18:00 and 20:00-21:00 by default) in its
 * own zone; early rather than late; skipped with a reason when it cannot
 * go in time. The figures are the seeds' (a robot reminder a day ahead);
 * the windows and zones are the demo network's.
 */
#include "plan_testable.h"

#include "cftest.h"
#include "common/err.h"

/* Moscow is UTC+3 all year. */
static int64_t msk(int y, int mo, int d, int h, int mi)
{
    return cf_test_utc_ms(y, mo, d, h, mi, 0) - 3 * 3600000;
}

static struct plan_policy policy(const char *net_json, const char *tz, const char *clinic_json)
{
    struct plan_policy p;
    char errbuf[256];
    json_t *j_net = net_json ? json_loads(net_json, 0, NULL) : NULL;
    json_t *j_clinic = clinic_json ? json_loads(clinic_json, 0, NULL) : json_object();
    int rc = plan_policy_build(j_net, tz, j_clinic, &p, errbuf, sizeof(errbuf));
    CHECK_INT(rc, 0);
    json_decref(j_net);
    json_decref(j_clinic);
    return p;
}

static void check_job(const struct plan_job *j, int offset_h, int64_t due, const char *skip)
{
    CHECK_INT(j->offset_h, offset_h);
    CHECK_STR(j->skip ? j->skip : "", skip ? skip : "");
    if (!skip)
        CHECK_INT(j->due_ms, due);
}

static void test_default_ladder(void)
{
    struct plan_policy p = policy(NULL, "Europe/Moscow", NULL);
    struct plan_job jobs[PLAN_OFFSETS_MAX];
    const int64_t now = msk(2026, 12, 4, 12, 0);

    /* a visit at 11:00: the day before at 11:00; two hours before is
     * 09:00, before the windows open, so the evening before at 20:59 */
    CHECK_INT((long)plan_reminders(&p, msk(2026, 12, 8, 11, 0), now, jobs, PLAN_OFFSETS_MAX), 2);
    check_job(&jobs[0], 24, msk(2026, 12, 7, 11, 0), NULL);
    check_job(&jobs[1], 2, msk(2026, 12, 7, 20, 59), NULL);

    /* a visit at 21:30: 19:30 falls between the windows, so 17:59 */
    plan_reminders(&p, msk(2026, 12, 8, 21, 30), now, jobs, PLAN_OFFSETS_MAX);
    check_job(&jobs[0], 24, msk(2026, 12, 7, 20, 59), NULL);
    check_job(&jobs[1], 2, msk(2026, 12, 8, 17, 59), NULL);

    /* booked three hours ahead: the day-ahead reminder is too late */
    plan_reminders(&p, msk(2026, 12, 8, 15, 0), msk(2026, 12, 8, 12, 0), jobs, PLAN_OFFSETS_MAX);
    check_job(&jobs[0], 24, 0, "too_late");
    check_job(&jobs[1], 2, msk(2026, 12, 8, 13, 0), NULL);

    /* booked at 07:00 for 10:30: 08:30 is outside the windows, and the
     * last window before it closed yesterday: never sent late */
    plan_reminders(&p, msk(2026, 12, 8, 10, 30), msk(2026, 12, 8, 7, 0), jobs, PLAN_OFFSETS_MAX);
    check_job(&jobs[0], 24, 0, "too_late");
    check_job(&jobs[1], 2, 0, "no_window");

    /* exactly the offset ahead, inside a window: it goes now */
    const int64_t at = msk(2026, 12, 8, 12, 0);
    plan_reminders(&p, at + 2 * 3600000, at, jobs, PLAN_OFFSETS_MAX);
    check_job(&jobs[1], 2, at, NULL);
    plan_policy_free(&p);
}

static void test_policy_layers(void)
{
    struct plan_job jobs[PLAN_OFFSETS_MAX];
    const int64_t now = msk(2026, 12, 1, 12, 0);

    /* the network's offsets, then a clinic's own over them */
    struct plan_policy p = policy("{\"offsets_hours\": [48, 3, 2]}", "Europe/Moscow", NULL);
    CHECK_INT((long)plan_reminders(&p, msk(2026, 12, 8, 9, 30), now, jobs, PLAN_OFFSETS_MAX), 3);
    check_job(&jobs[0], 48, msk(2026, 12, 5, 20, 59), NULL); /* 09:30 is before 10:00 */
    /* 06:30 and 07:30 both move to the evening before: the second is
     * not a second call at the same moment */
    check_job(&jobs[1], 3, msk(2026, 12, 7, 20, 59), NULL);
    check_job(&jobs[2], 2, 0, "same_time");
    plan_policy_free(&p);

    p = policy("{\"offsets_hours\": [48, 3]}", "Europe/Moscow",
               "{\"reminder_policy\": {\"offsets_hours\": [6]},"
               " \"calling_windows\": [\"09:00-12:00\"]}");
    CHECK_INT((long)plan_reminders(&p, msk(2026, 12, 8, 16, 0), now, jobs, PLAN_OFFSETS_MAX), 1);
    check_job(&jobs[0], 6, msk(2026, 12, 8, 10, 0), NULL);
    plan_policy_free(&p);

    /* an offset listed twice is one reminder: two jobs of one id would
     * fail every booking's insert */
    p = policy("{\"offsets_hours\": [24, 2, 24]}", "Europe/Moscow", NULL);
    CHECK_INT((long)p.n_offsets, 2);
    CHECK_INT((long)plan_reminders(&p, msk(2026, 12, 8, 16, 0), now, jobs, PLAN_OFFSETS_MAX), 2);
    check_job(&jobs[0], 24, msk(2026, 12, 7, 16, 0), NULL);
    check_job(&jobs[1], 2, msk(2026, 12, 8, 14, 0), NULL);
    plan_policy_free(&p);

    /* shapes clinicflowctl refuses are refused here too */
    char errbuf[256];
    struct plan_policy bad;
    json_t *j_net = json_loads("{\"offsets_hours\": [0]}", 0, NULL);
    CHECK_INT(plan_policy_build(j_net, "Europe/Moscow", NULL, &bad, errbuf, sizeof(errbuf)),
              CF_EINVAL);
    json_decref(j_net);
    CHECK_INT(plan_policy_build(NULL, "Mars/Olympus", NULL, &bad, errbuf, sizeof(errbuf)),
              CF_EINVAL);
}

/* A zone with DST: the windows follow the local clock across the change. */
static void test_dst_zone(void)
{
    struct plan_policy p =
        policy(NULL, "America/New_York", "{\"calling_windows\": [\"09:00-12:00\"]}");
    struct plan_job jobs[PLAN_OFFSETS_MAX];
    /* a visit at 10:00 EDT on 2026-03-09 (14:00 UTC), the day after the
     * clocks went forward: the day before at 10:00 EDT (14:00 UTC), and two
     * hours before (08:00) moves to the day before's 11:59 EDT */
    plan_reminders(&p, cf_test_utc_ms(2026, 3, 9, 14, 0, 0), cf_test_utc_ms(2026, 3, 1, 0, 0, 0),
                   jobs, PLAN_OFFSETS_MAX);
    check_job(&jobs[0], 24, cf_test_utc_ms(2026, 3, 8, 14, 0, 0), NULL);
    check_job(&jobs[1], 2, cf_test_utc_ms(2026, 3, 8, 15, 59, 0), NULL);
    plan_policy_free(&p);
}

static void test_statuses_and_ids(void)
{
    CHECK(plan_status_reminds("booked"));
    CHECK(plan_status_reminds("rescheduled"));
    CHECK(!plan_status_reminds("cancelled"));
    CHECK(!plan_status_reminds("no_show"));
    CHECK(!plan_status_reminds("arrived"));
    CHECK(!plan_status_reminds("completed"));
    CHECK(!plan_status_reminds(NULL));

    char a[CF_UUID_STR_LEN + 1], b[CF_UUID_STR_LEN + 1];
    const char *appt = "55c572a7-da4c-5401-8357-ecd67637b35e";
    plan_job_id(appt, 1000, 24, a);
    plan_job_id(appt, 1000, 24, b);
    CHECK_STR(a, b); /* planned again: the same job */
    plan_job_id(appt, 1000, 2, b);
    CHECK(strcmp(a, b) != 0);
    plan_job_id(appt, 2000, 24, b); /* rescheduled: a new job */
    CHECK(strcmp(a, b) != 0);
}

static void test_reinvite_and_holdout(void)
{
    struct plan_policy p =
        policy("{\"reinvite_after_hours\": 24, \"holdout_percent\": 20}", "Europe/Moscow", NULL);
    int64_t due;
    /* missed at 19:00: a day later is 19:00, between the windows: 20:00 */
    CHECK_INT(plan_reinvite(&p, msk(2026, 12, 7, 18, 0), msk(2026, 12, 7, 19, 0), &due), 0);
    CHECK_INT(due, msk(2026, 12, 8, 20, 0));
    CHECK_INT(p.holdout_percent, 20);
    /* told of a week later: still asked; of an older visit (a history
     * import, an old record corrected): nobody is asked about it */
    CHECK_INT(plan_reinvite(&p, msk(2026, 11, 30, 19, 0), msk(2026, 12, 7, 19, 0), &due), 0);
    CHECK_INT(plan_reinvite(&p, msk(2026, 11, 30, 18, 59), msk(2026, 12, 7, 19, 0), &due),
              CF_ENOTFOUND);
    plan_policy_free(&p);
    p = policy("{\"reinvite\": false}", "Europe/Moscow", NULL);
    CHECK_INT(plan_reinvite(&p, msk(2026, 12, 7, 18, 0), msk(2026, 12, 7, 19, 0), &due),
              CF_ENOTFOUND);
    CHECK_INT(p.holdout_percent, 10);
    plan_policy_free(&p);

    /* the holdout: the same patient every time, about the share asked */
    char id[CF_UUID_STR_LEN + 1], n[16];
    int held = 0;
    for (int i = 0; i < 10000; i++) {
        snprintf(n, sizeof(n), "%d", i);
        const char *parts[] = {"patient", n};
        cf_uuid5(parts, 2, id);
        int h = plan_holdout("reinvite", id, 10);
        CHECK_INT(plan_holdout("reinvite", id, 10), h);
        CHECK(!plan_holdout("reinvite", id, 0));
        CHECK(plan_holdout("reinvite", id, 100));
        held += h;
    }
    CHECK(held > 900 && held < 1100);
    /* a known value, the same in the tests' own reading (SHA-256 of
     * "reinvite" 0x1F the id, first two bytes big-endian, mod 100) */
    CHECK_INT(plan_holdout("reinvite", "00000000-0000-5000-8000-000000000000", 46), 0);
    CHECK_INT(plan_holdout("reinvite", "00000000-0000-5000-8000-000000000000", 47), 1);
    char a[CF_UUID_STR_LEN + 1], b[CF_UUID_STR_LEN + 1];
    plan_reinvite_id("55c572a7-da4c-5401-8357-ecd67637b35e", a);
    plan_reinvite_id("55c572a7-da4c-5401-8357-ecd67637b35e", b);
    CHECK_STR(a, b);
    plan_campaign_id("55c572a7-da4c-5401-8357-ecd67637b35e", "nps", b);
    CHECK(strcmp(a, b) != 0);
}

static void test_nps(void)
{
    struct plan_policy p = policy(NULL, "Europe/Moscow", NULL);
    int64_t due;
    /* a visit ended at 17:30, completed at once: 18:30 is between the
     * windows, so 20:00 */
    CHECK_INT(plan_nps(&p, msk(2026, 12, 7, 17, 30), msk(2026, 12, 7, 17, 31), &due), 0);
    CHECK_INT(due, msk(2026, 12, 7, 20, 0));
    /* marked completed two hours after it ended: an hour from then */
    CHECK_INT(plan_nps(&p, msk(2026, 12, 7, 11, 0), msk(2026, 12, 7, 13, 0), &due), 0);
    CHECK_INT(due, msk(2026, 12, 7, 14, 0));
    /* a visit of last month (a history import): never surveyed */
    CHECK_INT(plan_nps(&p, msk(2026, 11, 7, 11, 0), msk(2026, 12, 7, 13, 0), &due), CF_ENOTFOUND);
    plan_policy_free(&p);
    p = policy("{\"nps\": false}", "Europe/Moscow", NULL);
    CHECK_INT(plan_nps(&p, msk(2026, 12, 7, 11, 0), msk(2026, 12, 7, 11, 0), &due), CF_ENOTFOUND);
    plan_policy_free(&p);
    p = policy("{\"nps_delay_minutes\": 0}", "Europe/Moscow", NULL);
    CHECK_INT(plan_nps(&p, msk(2026, 12, 7, 11, 0), msk(2026, 12, 7, 11, 5), &due), 0);
    CHECK_INT(due, msk(2026, 12, 7, 11, 5));
    plan_policy_free(&p);
}

static void test_recall(void)
{
    struct plan_policy p = policy(NULL, "Europe/Moscow", NULL);
    CHECK_INT(p.recall, 0); /* off unless a policy turns it on */
    CHECK_INT(p.recall_months, 6);
    CHECK_INT(p.recall_again_days, 60);
    plan_policy_free(&p);
    p = policy("{\"recall\": true, \"recall_months\": [12, 6], \"recall_again_days\": 30}",
               "Europe/Moscow", NULL);
    CHECK_INT(p.recall, 1);
    CHECK_INT(p.recall_months, 12);
    CHECK_INT(p.recall_again_days, 30);
    plan_policy_free(&p);

    /* one job a patient a period: the same within it, a new one after */
    char a[CF_UUID_STR_LEN + 1], b[CF_UUID_STR_LEN + 1];
    const char *patient = "244e1222-763e-56d9-9d00-10c45553ef28";
    const int64_t day = 86400000LL, start = 20000 * 60 * day; /* a period's first moment */
    plan_recall_id(patient, 60, start, a);
    plan_recall_id(patient, 60, start + 59 * day, b);
    CHECK_STR(a, b);
    plan_recall_id(patient, 60, start + 60 * day, b);
    CHECK(strcmp(a, b) != 0);
}

/* The late rule at send time: a reminder whose command waited (the gateway
 * down, a backlog) is not sent once its visit began, nor more than the
 * grace past its rung's due time, nor is a survey; campaigns are never
 * late here. */
static void test_send_too_late(void)
{
    const int64_t due = 1800000000000, visit = due + 2 * 3600000;
    CHECK(plan_send_too_late("reminder", due, visit, due, 900) == NULL);
    CHECK(plan_send_too_late("reminder", due, visit, due + 900000, 900) == NULL); /* the edge */
    CHECK_STR(plan_send_too_late("reminder", due, visit, due + 900001, 900), "late");
    CHECK_STR(plan_send_too_late("reminder", due, visit, visit, 900), "visit_started");
    /* a visit already begun wins over a due time still inside the grace */
    CHECK_STR(plan_send_too_late("reminder", due, due + 60000, due + 60000, 900), "visit_started");
    CHECK_STR(plan_send_too_late("reminder", due, visit, due + 1, 0), "late");
    /* no due time or visit on the command: nothing to judge by */
    CHECK(plan_send_too_late("reminder", -1, -1, due, 900) == NULL);
    CHECK(plan_send_too_late("recall", due, -1, due + 86400000, 900) == NULL);
    /* a survey put off while its gateway was away: the grace, as a
     * reminder's (its visit is over: that decides nothing) */
    CHECK(plan_send_too_late("nps", due, due - 3600000, due + 900000, 900) == NULL);
    CHECK_STR(plan_send_too_late("nps", due, due - 3600000, due + 900001, 900), "late");
    CHECK(plan_send_too_late("reinvite", due, visit, due + 86400000, 900) == NULL);
    CHECK(plan_send_too_late(NULL, due, visit, visit, 900) == NULL);
}

/* Inside the windows, between them, after the last of a day, and with
 * none at all: nothing goes while they are closed. */
static void test_window_now(void)
{
    struct plan_policy p = policy(NULL, "Europe/Moscow", NULL); /* 10-18, 20-21 */
    int64_t next = 0;

    CHECK_INT(plan_window_now(&p, msk(2026, 12, 8, 17, 59), &next), 0);
    /* the reminder placed at 17:59 taken at 18:05: the evening window */
    CHECK_INT(plan_window_now(&p, msk(2026, 12, 8, 18, 5), &next), 1);
    CHECK_INT(next, msk(2026, 12, 8, 20, 0));
    CHECK_INT(plan_window_now(&p, msk(2026, 12, 8, 18, 0), &next), 1); /* the close is out */
    CHECK_INT(plan_window_now(&p, msk(2026, 12, 8, 21, 0), &next), 1);
    CHECK_INT(next, msk(2026, 12, 9, 10, 0));
    CHECK_INT(plan_window_now(&p, msk(2026, 12, 9, 10, 0), &next), 0);
    plan_policy_free(&p);

    p = policy(NULL, "Europe/Moscow", "{\"calling_windows\": []}");
    CHECK_INT(plan_window_now(&p, msk(2026, 12, 8, 12, 0), &next), CF_ENOTFOUND);
    plan_policy_free(&p);
}

int main(void)
{
    test_window_now();
    test_send_too_late();
    test_recall();
    test_reinvite_and_holdout();
    test_nps();
    test_default_ladder();
    test_policy_layers();
    test_dst_zone();
    test_statuses_and_ids();
    return cf_test_done();
}
