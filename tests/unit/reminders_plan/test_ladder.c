/*
 * The reminder ladder: the seeds' robot call retried hourly up to three
 * times on no answer, then an SMS with the reminder not confirmed and a
 * front-desk task; a patient's digit ends it; 9 means no more calls. The
 * windows are the default ones (10:00-18:00, 20:00-21:00) in Moscow
 * (UTC+3 all year).
 */
#include "ladder_testable.h"

#include "cftest.h"
#include "common/err.h"

static int64_t msk(int y, int mo, int d, int h, int mi)
{
    return cf_test_utc_ms(y, mo, d, h, mi, 0) - 3 * 3600000;
}

static struct plan_policy policy(const char *net_json)
{
    struct plan_policy p;
    char errbuf[256];
    json_t *j_net = net_json ? json_loads(net_json, 0, NULL) : NULL;
    json_t *j_clinic = json_object();
    CHECK_INT(plan_policy_build(j_net, "Europe/Moscow", j_clinic, &p, errbuf, sizeof(errbuf)), 0);
    json_decref(j_net);
    json_decref(j_clinic);
    return p;
}

static void check(const struct ladder_next *n, const char *status, const char *task,
                  const char *channel, int attempt, int64_t due)
{
    CHECK_STR(n->reminder_status ? n->reminder_status : "", status ? status : "");
    CHECK_STR(n->task ? n->task : "", task ? task : "");
    CHECK_STR(n->next_channel ? n->next_channel : "", channel ? channel : "");
    if (channel) {
        CHECK_INT(n->next_attempt, attempt);
        CHECK_INT(n->next_due_ms, due);
    }
}

static void test_no_answer_three_retries_then_sms(void)
{
    struct plan_policy p = policy(NULL);
    struct ladder_next n;
    const int64_t visit = msk(2026, 12, 8, 11, 0);
    int64_t now = msk(2026, 12, 7, 11, 0);

    CHECK_INT(ladder_after(&p, "call", 1, "no_answer", now, visit, &n), 0);
    check(&n, NULL, NULL, "call", 2, msk(2026, 12, 7, 12, 0));
    CHECK_INT(ladder_after(&p, "call", 2, "busy", msk(2026, 12, 7, 12, 0), visit, &n), 0);
    check(&n, NULL, NULL, "call", 3, msk(2026, 12, 7, 13, 0));
    CHECK_INT(ladder_after(&p, "call", 3, "voicemail", msk(2026, 12, 7, 13, 0), visit, &n), 0);
    check(&n, NULL, NULL, "call", 4, msk(2026, 12, 7, 14, 0));
    /* the fourth call unanswered: the SMS now, not confirmed, a task */
    now = msk(2026, 12, 7, 14, 1);
    CHECK_INT(ladder_after(&p, "call", 4, "no_answer", now, visit, &n), 0);
    check(&n, "not_confirmed", "not_confirmed", "sms", 5, now);
    CHECK(n.opt_out == NULL);
    /* the SMS's own outcomes: nothing follows, but a reply may come while
     * it is out */
    CHECK_INT(ladder_after(&p, "sms", 5, "sms_sent", now, visit, &n), 0);
    check(&n, NULL, NULL, NULL, 0, 0);
    CHECK_INT(n.waits, 1);
    CHECK_INT(ladder_after(&p, "sms", 5, "sms_failed", now, visit, &n), 0);
    check(&n, NULL, NULL, NULL, 0, 0);
    CHECK_INT(n.waits, 0);
    plan_policy_free(&p);
}

static void test_retries_stay_in_windows_and_before_the_visit(void)
{
    struct plan_policy p = policy(NULL);
    struct ladder_next n;

    /* no answer at 17:30: 18:30 is between the windows, so 20:00 */
    CHECK_INT(ladder_after(&p, "call", 1, "no_answer", msk(2026, 12, 7, 17, 30),
                           msk(2026, 12, 8, 11, 0), &n),
              0);
    check(&n, NULL, NULL, "call", 2, msk(2026, 12, 7, 20, 0));

    /* a visit at 12:00, no answer at 11:30: no call fits, the SMS goes */
    const int64_t now = msk(2026, 12, 8, 11, 30);
    CHECK_INT(ladder_after(&p, "call", 1, "busy", now, msk(2026, 12, 8, 12, 0), &n), 0);
    check(&n, "not_confirmed", "not_confirmed", "sms", 2, now);

    /* at 21:30 for a visit at 09:00: windows closed until after the
     * visit: nothing can go, the front desk calls */
    CHECK_INT(ladder_after(&p, "call", 2, "no_answer", msk(2026, 12, 7, 21, 30),
                           msk(2026, 12, 8, 9, 0), &n),
              0);
    check(&n, "not_confirmed", "not_confirmed", NULL, 0, 0);
    plan_policy_free(&p);
}

static void test_policy_changes_the_ladder(void)
{
    struct plan_policy p = policy("{\"call_retries\": 0, \"sms_fallback\": false,"
                                  " \"retry_minutes\": 30, \"duplicate_hours\": 2}");
    struct ladder_next n;
    CHECK_INT(p.retry_ms, 30 * 60000);
    CHECK_INT(p.duplicate_ms, 2 * 3600000);
    CHECK_INT(ladder_after(&p, "call", 1, "no_answer", msk(2026, 12, 7, 11, 0),
                           msk(2026, 12, 8, 11, 0), &n),
              0);
    check(&n, "not_confirmed", "not_confirmed", NULL, 0, 0);
    plan_policy_free(&p);

    p = policy("{\"call_retries\": 1, \"retry_minutes\": 30}");
    const int64_t now = msk(2026, 12, 7, 11, 0);
    CHECK_INT(ladder_after(&p, "call", 1, "failed", now, msk(2026, 12, 8, 11, 0), &n), 0);
    check(&n, NULL, NULL, "call", 2, now + 30 * 60000);
    CHECK_INT(ladder_after(&p, "call", 2, "failed", now, msk(2026, 12, 8, 11, 0), &n), 0);
    check(&n, "not_confirmed", "not_confirmed", "sms", 3, now);
    plan_policy_free(&p);
}

static void test_answers_and_opt_outs(void)
{
    struct plan_policy p = policy(NULL);
    struct ladder_next n;
    const int64_t now = msk(2026, 12, 7, 11, 0), visit = msk(2026, 12, 8, 11, 0);

    CHECK_INT(ladder_after(&p, "call", 2, "confirmed", now, visit, &n), 0);
    check(&n, "confirmed", NULL, NULL, 0, 0);
    CHECK_INT(ladder_after(&p, "call", 1, "declined", now, visit, &n), 0);
    check(&n, "declined", "declined", NULL, 0, 0);
    CHECK_INT(ladder_after(&p, "call", 1, "reschedule", now, visit, &n), 0);
    check(&n, "reschedule_requested", "reschedule", NULL, 0, 0);
    /* a digit by SMS counts the same */
    CHECK_INT(ladder_after(&p, "sms", 5, "confirmed", now, visit, &n), 0);
    check(&n, "confirmed", NULL, NULL, 0, 0);

    /* 9: never called again, the SMS rung next */
    CHECK_INT(ladder_after(&p, "call", 1, "opt_out_calls", now, visit, &n), 0);
    CHECK_STR(n.opt_out, "call");
    check(&n, "not_confirmed", "not_confirmed", "sms", 2, now);
    CHECK_INT(ladder_after(&p, "sms", 2, "opt_out_sms", now, visit, &n), 0);
    CHECK_STR(n.opt_out, "sms");
    check(&n, NULL, NULL, NULL, 0, 0);

    /* a call that could not be made (no consent) is not retried */
    CHECK_INT(ladder_after(&p, "call", 1, "skipped", now, visit, &n), 0);
    check(&n, "not_confirmed", "not_confirmed", "sms", 2, now);
    /* unknown: nothing resent; the front desk is asked to call */
    CHECK_INT(ladder_after(&p, "call", 1, "unknown", now, visit, &n), 0);
    check(&n, "not_confirmed", "not_confirmed", NULL, 0, 0);

    CHECK_INT(ladder_after(&p, "call", 1, "maybe", now, visit, &n), CF_EINVAL);
    CHECK_INT(ladder_after(&p, NULL, 1, "confirmed", now, visit, &n), CF_EINVAL);
    plan_policy_free(&p);
}

static void test_task_due(void)
{
    struct plan_policy p = policy(NULL);
    const int64_t visit = msk(2026, 12, 8, 15, 0);
    /* not confirmed the day before: the visit day's first window moment */
    CHECK_INT(ladder_task_due(&p, "Europe/Moscow", "not_confirmed", msk(2026, 12, 7, 14, 0), visit),
              msk(2026, 12, 8, 10, 0));
    /* on the day, after it opened: now */
    CHECK_INT(ladder_task_due(&p, "Europe/Moscow", "not_confirmed", msk(2026, 12, 8, 11, 0), visit),
              msk(2026, 12, 8, 11, 0));
    /* a visit at 09:00, before the windows open: now */
    CHECK_INT(ladder_task_due(&p, "Europe/Moscow", "not_confirmed", msk(2026, 12, 7, 14, 0),
                              msk(2026, 12, 8, 9, 0)),
              msk(2026, 12, 7, 14, 0));
    /* a reschedule asked at 19:00: half an hour after the 20:00 window */
    CHECK_INT(ladder_task_due(&p, "Europe/Moscow", "reschedule", msk(2026, 12, 7, 19, 0), visit),
              msk(2026, 12, 7, 20, 30));
    plan_policy_free(&p);
}

static void test_reinvite(void)
{
    struct ladder_next n;
    CHECK_INT(ladder_campaign_after("reinvite", "confirmed", &n), 0);
    check(&n, NULL, "reinvite", NULL, 0, 0);
    CHECK_INT(ladder_campaign_after("reinvite", "declined", &n), 0);
    check(&n, NULL, NULL, NULL, 0, 0);
    CHECK_INT(ladder_campaign_after("reinvite", "sms_sent", &n), 0);
    check(&n, NULL, NULL, NULL, 0, 0);
    CHECK_INT(n.waits, 1);
    CHECK_INT(ladder_campaign_after("reinvite", "opt_out_sms", &n), 0);
    CHECK_STR(n.opt_out, "sms");
    CHECK_INT(ladder_campaign_after("reinvite", "nope", &n), CF_EINVAL);
    CHECK_INT(ladder_campaign_after("recall", "confirmed", &n), 0);
    check(&n, NULL, "recall", NULL, 0, 0);
    CHECK_INT(ladder_campaign_after("recall", "declined", &n), 0);
    check(&n, NULL, NULL, NULL, 0, 0);
    /* a survey's SMS answered 1 is no booking */
    CHECK_INT(ladder_campaign_after("nps", "confirmed", &n), 0);
    check(&n, NULL, NULL, NULL, 0, 0);
}

/* A Twilio call picked up with no key pressed (the call's end,
 * completed, and no <Gather> digit) is retried as no answer is, and after
 * the last retry falls to the SMS rung, not confirmed, with a task. */
static void test_no_reply_is_retried_like_no_answer(void)
{
    struct plan_policy p = policy(NULL);
    struct ladder_next n;
    const int64_t visit = msk(2026, 12, 8, 11, 0);

    CHECK(ladder_outcome_known("no_reply"));
    CHECK_INT(ladder_after(&p, "call", 1, "no_reply", msk(2026, 12, 7, 11, 0), visit, &n), 0);
    check(&n, NULL, NULL, "call", 2, msk(2026, 12, 7, 12, 0));
    /* at 17:30 the retry moves into the evening window */
    CHECK_INT(ladder_after(&p, "call", 3, "no_reply", msk(2026, 12, 7, 17, 30), visit, &n), 0);
    check(&n, NULL, NULL, "call", 4, msk(2026, 12, 7, 20, 0));
    const int64_t now = msk(2026, 12, 7, 20, 1);
    CHECK_INT(ladder_after(&p, "call", 4, "no_reply", now, visit, &n), 0);
    check(&n, "not_confirmed", "not_confirmed", "sms", 5, now);
    CHECK(n.opt_out == NULL);
    /* a campaign's SMS gets no such outcome; nothing follows it */
    CHECK_INT(ladder_campaign_after("nps", "no_reply", &n), 0);
    check(&n, NULL, NULL, NULL, 0, 0);
    plan_policy_free(&p);
}

/* Which outcomes a send's channel can have: a dialer reporting an SMS's
 * news about its call (or a call's end about an SMS) is refused, where
 * ladder_after would end the ladder with no status and no task. */
static void test_outcome_fits_channel(void)
{
    static const char *const both[] = {"confirmed", "declined", "reschedule",
                                       "failed",    "skipped",  "unknown"};
    static const char *const call_only[] = {"no_answer", "busy", "voicemail", "no_reply",
                                            "opt_out_calls"};
    static const char *const sms_only[] = {"sms_sent", "sms_delivered", "sms_failed",
                                           "opt_out_sms"};
    for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
        CHECK(ladder_outcome_fits("call", both[i]));
        CHECK(ladder_outcome_fits("sms", both[i]));
    }
    for (size_t i = 0; i < sizeof(call_only) / sizeof(call_only[0]); i++) {
        CHECK(ladder_outcome_fits("call", call_only[i]));
        CHECK(!ladder_outcome_fits("sms", call_only[i]));
    }
    for (size_t i = 0; i < sizeof(sms_only) / sizeof(sms_only[0]); i++) {
        CHECK(ladder_outcome_fits("sms", sms_only[i]));
        CHECK(!ladder_outcome_fits("call", sms_only[i]));
    }
    /* nothing fits a channel it does not know, nor an unknown outcome */
    CHECK(!ladder_outcome_fits("email", "confirmed"));
    CHECK(!ladder_outcome_fits(NULL, "confirmed"));
    CHECK(!ladder_outcome_fits("call", "maybe"));
    CHECK(!ladder_outcome_fits("call", NULL));
}

/* Only the latest rung moves the job, and one call's reports in either
 * order end the same: the patient's key wins over the call's end. */
static void test_take(void)
{
    const struct ladder_job emitted1 = {1, "emitted", 1, NULL};
    /* the first report of the latest rung moves it; the same again is ignored */
    CHECK_INT(ladder_take(NULL, "no_reply", 1, &emitted1), LADDER_MOVE);
    CHECK_INT(ladder_take(NULL, "confirmed", 1, &emitted1), LADDER_MOVE);
    CHECK_INT(ladder_take("no_reply", "no_reply", 1, &emitted1), LADDER_IGNORE);

    /* the key first: the job is done; the call's end saying nobody pressed
     * one is older news, whichever way it says it */
    const struct ladder_job done1 = {1, "done", 1, "confirmed"};
    CHECK_INT(ladder_take("confirmed", "no_reply", 1, &done1), LADDER_IGNORE);
    CHECK_INT(ladder_take("declined", "no_answer", 1, &done1), LADDER_IGNORE);
    CHECK_INT(ladder_take("opt_out_calls", "voicemail", 1, &done1), LADDER_IGNORE);
    /* a second key on a done job is told, decides nothing */
    CHECK_INT(ladder_take("confirmed", "declined", 1, &done1), LADDER_TELL);

    /* an SMS's states out of order: an older one after a newer is ignored
     * (it would move the job back, or write over the patient's reply) */
    const struct ladder_job sms_wait = {1, "emitted", 2, "sms_delivered"};
    CHECK_INT(ladder_take("sms_delivered", "sms_sent", 2, &sms_wait), LADDER_IGNORE);
    CHECK_INT(ladder_take("sms_failed", "sms_sent", 2, &sms_wait), LADDER_IGNORE);
    const struct ladder_job sms_replied = {1, "done", 2, "confirmed"};
    CHECK_INT(ladder_take("confirmed", "sms_delivered", 2, &sms_replied), LADDER_IGNORE);
    CHECK_INT(ladder_take("declined", "sms_sent", 2, &sms_replied), LADDER_IGNORE);
    CHECK_INT(ladder_take("opt_out_sms", "sms_failed", 2, &sms_replied), LADDER_IGNORE);
    /* unknown ended the ladder; the gateway's answer for that send after
     * all moves it from there (and only the patient's answer) */
    const struct ladder_job unknown = {1, "done", 1, "unknown"};
    CHECK_INT(ladder_take("unknown", "confirmed", 1, &unknown), LADDER_MOVE);
    CHECK_INT(ladder_take("unknown", "declined", 1, &unknown), LADDER_MOVE);
    CHECK_INT(ladder_take("unknown", "no_answer", 1, &unknown), LADDER_TELL);
    CHECK_INT(ladder_take("unknown", "confirmed", 2, &unknown), LADDER_TELL);
    /* ... also once the gateway told that it went (its status then
     * recorded on the send, not the job's) */
    CHECK_INT(ladder_take("sms_delivered", "confirmed", 1, &unknown), LADDER_MOVE);
    CHECK_INT(ladder_take("sms_sent", "declined", 1, &unknown), LADDER_MOVE);
    CHECK_INT(ladder_take("sms_delivered", "sms_failed", 1, &unknown), LADDER_TELL);
    /* in order they go on as before */
    const struct ladder_job sms_sent = {1, "emitted", 2, "sms_sent"};
    CHECK_INT(ladder_take("sms_sent", "sms_delivered", 2, &sms_sent), LADDER_MOVE);
    CHECK_INT(ladder_take("sms_delivered", "confirmed", 2, &sms_wait), LADDER_MOVE);

    /* the call's end first moved the job to the retry (pending) or the SMS
     * rung (pending, or out already): the key takes it back */
    const struct ladder_job retry = {1, "pending", 2, "no_reply"};
    CHECK_INT(ladder_take("no_reply", "confirmed", 1, &retry), LADDER_MOVE);
    CHECK_INT(ladder_take("no_reply", "opt_out_calls", 1, &retry), LADDER_MOVE);
    const struct ladder_job sms_out = {1, "emitted", 5, "sms_sent"};
    CHECK_INT(ladder_take("no_reply", "reschedule", 4, &sms_out), LADDER_MOVE);
    const struct ladder_job sms_failed = {1, "done", 5, "sms_failed"};
    CHECK_INT(ladder_take("no_reply", "declined", 4, &sms_failed), LADDER_MOVE);
    /* ... or ended the ladder at its own rung (nothing could go before the visit) */
    const struct ladder_job ended = {1, "done", 4, "no_reply"};
    CHECK_INT(ladder_take("no_reply", "confirmed", 4, &ended), LADDER_MOVE);
    /* a generic dialer's no_answer corrected by the key: the same rule */
    CHECK_INT(ladder_take("no_answer", "confirmed", 1, &retry), LADDER_MOVE);

    /* but not when the patient answered since on the next rung, the job
     * went further, or the visit moved */
    const struct ladder_job replied = {1, "done", 5, "declined"};
    CHECK_INT(ladder_take("no_reply", "confirmed", 4, &replied), LADDER_TELL);
    const struct ladder_job further = {1, "pending", 3, "no_reply"};
    CHECK_INT(ladder_take("no_reply", "confirmed", 1, &further), LADDER_TELL);
    const struct ladder_job moved = {0, "pending", 2, "no_reply"};
    CHECK_INT(ladder_take("no_reply", "confirmed", 1, &moved), LADDER_TELL);
    const struct ladder_job cancelled = {1, "cancelled", 2, "no_reply"};
    CHECK_INT(ladder_take("no_reply", "confirmed", 1, &cancelled), LADDER_TELL);
    /* a late report of an earlier rung that is no key decides nothing */
    CHECK_INT(ladder_take(NULL, "busy", 1, &retry), LADDER_TELL);
    /* an SMS's own reports: the latest rung moves; its delivery reported
     * after the patient's reply is older news, ignored (told, it wrote over
     * the reply on the send) */
    const struct ladder_job sms = {1, "emitted", 5, "sms_sent"};
    CHECK_INT(ladder_take("sms_sent", "confirmed", 5, &sms), LADDER_MOVE);
    const struct ladder_job sms_done = {1, "done", 5, "confirmed"};
    CHECK_INT(ladder_take("confirmed", "sms_delivered", 5, &sms_done), LADDER_IGNORE);
}

/* A visit answered on one reminder: its other reminders are not sent, and
 * end there deciding nothing; the answer is not written over. */
static void test_answered_before(void)
{
    CHECK_INT(ladder_answered("confirmed"), 1);
    CHECK_INT(ladder_answered("declined"), 1);
    CHECK_INT(ladder_answered("reschedule_requested"), 1);
    CHECK_INT(ladder_answered("not_confirmed"), 0);
    CHECK_INT(ladder_answered(""), 0);
    CHECK_INT(ladder_answered(NULL), 0);
    CHECK_INT(ladder_ends_quietly("skipped", "answered"), 1);
    CHECK_INT(ladder_ends_quietly("skipped", "no_consent"), 0);
    CHECK_INT(ladder_ends_quietly("unknown", "answered"), 0);
    CHECK_INT(ladder_ends_quietly("skipped", NULL), 0);
}

/* A patient erased since the send went: the ladder stops there; only the
 * patient's own answer is kept as the visit's status. */
static void test_patient_erased(void)
{
    struct ladder_next n = {.reminder_status = "not_confirmed",
                            .task = "not_confirmed",
                            .opt_out = "call",
                            .next_channel = "sms",
                            .waits = 1,
                            .next_attempt = 3,
                            .next_due_ms = 1000};
    ladder_patient_erased(&n);
    CHECK(!n.reminder_status && !n.task && !n.opt_out && !n.next_channel && !n.waits);
    CHECK_INT(n.next_attempt, 0);
    n = (struct ladder_next){.reminder_status = "confirmed", .task = NULL};
    ladder_patient_erased(&n);
    CHECK_STR(n.reminder_status, "confirmed");
    n = (struct ladder_next){.reminder_status = "reschedule_requested", .task = "reschedule"};
    ladder_patient_erased(&n);
    CHECK_STR(n.reminder_status, "reschedule_requested");
    CHECK(n.task == NULL);
}

int main(void)
{
    test_patient_erased();
    test_no_reply_is_retried_like_no_answer();
    test_outcome_fits_channel();
    test_take();
    test_reinvite();
    test_task_due();
    test_no_answer_three_retries_then_sms();
    test_retries_stay_in_windows_and_before_the_visit();
    test_policy_changes_the_ladder();
    test_answers_and_opt_outs();
    test_answered_before();
    return cf_test_done();
}
