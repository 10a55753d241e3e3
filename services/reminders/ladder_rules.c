/*
 * The reminder ladder (ladder_testable.h).
 */
#include "ladder_testable.h"

#include <string.h>

#include "common/err.h"
#include "common/time.h"

static const char *const outcomes[] = {
    "confirmed",  "declined",    "reschedule",    "no_answer", "busy",
    "voicemail",  "failed",      "opt_out_calls", "sms_sent",  "sms_delivered",
    "sms_failed", "opt_out_sms", "skipped",       "unknown",
};

int ladder_outcome_known(const char *outcome)
{
    for (size_t i = 0; outcome && i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
        if (strcmp(outcomes[i], outcome) == 0)
            return 1;
    return 0;
}

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* The SMS rung, or the end of the ladder when no SMS can go before the
 * visit: not confirmed either way, and the front desk calls. */
static void sms_or_end(const struct plan_policy *p, int attempt, int64_t now_ms, int64_t visit_ms,
                       struct ladder_next *out)
{
    int64_t due;
    out->reminder_status = "not_confirmed";
    out->task = "not_confirmed";
    if (p->sms_fallback && cf_time_next_allowed(&p->windows, now_ms, &due) == 0 &&
        due + PLAN_LEAD_MS <= visit_ms) {
        out->next_channel = "sms";
        out->next_attempt = attempt + 1;
        out->next_due_ms = due;
    }
}

int ladder_after(const struct plan_policy *p, const char *channel, int attempt, const char *outcome,
                 int64_t now_ms, int64_t visit_ms, struct ladder_next *out)
{
    memset(out, 0, sizeof(*out));
    if (!ladder_outcome_known(outcome) || !channel)
        return CF_EINVAL;

    /* an answer ends the ladder, by call or by SMS */
    if (is(outcome, "confirmed")) {
        out->reminder_status = "confirmed";
        return 0;
    }
    if (is(outcome, "declined")) {
        out->reminder_status = "declined";
        out->task = "declined";
        return 0;
    }
    if (is(outcome, "reschedule")) {
        out->reminder_status = "reschedule_requested";
        out->task = "reschedule";
        return 0;
    }
    if (is(outcome, "unknown")) /* never resent blindly: the front desk decides */
        return 0;

    if (is(channel, "sms")) { /* the last rung: its task is open already */
        if (is(outcome, "opt_out_sms"))
            out->opt_out = "sms";
        out->waits = is(outcome, "sms_sent") || is(outcome, "sms_delivered");
        return 0;
    }

    if (strncmp(outcome, "sms_", 4) == 0) /* not a call's: nothing follows */
        return 0;
    /* a call that reached nobody */
    if (is(outcome, "opt_out_calls")) {
        out->opt_out = "call";
        sms_or_end(p, attempt, now_ms, visit_ms, out);
        return 0;
    }
    if (is(outcome, "opt_out_sms")) {
        out->opt_out = "sms";
        return 0;
    }
    /* skipped (no phone, no consent, opted out): calling again would not
     * change that; the SMS rung checks its own consent */
    if (!is(outcome, "skipped") && attempt <= p->call_retries) {
        int64_t due;
        if (cf_time_next_allowed(&p->windows, now_ms + p->retry_ms, &due) == 0 &&
            due + PLAN_LEAD_MS <= visit_ms) {
            out->next_channel = "call";
            out->next_attempt = attempt + 1;
            out->next_due_ms = due;
            return 0;
        }
    }
    sms_or_end(p, attempt, now_ms, visit_ms, out);
    return 0;
}

int ladder_campaign_after(const char *kind, const char *outcome, struct ladder_next *out)
{
    memset(out, 0, sizeof(*out));
    if (!ladder_outcome_known(outcome))
        return CF_EINVAL;
    if ((is(outcome, "confirmed") || is(outcome, "reschedule")) && kind &&
        (is(kind, "reinvite") || is(kind, "recall")))
        out->task = is(kind, "recall") ? "recall" : "reinvite"; /* a call to book */
    else if (is(outcome, "opt_out_sms"))
        out->opt_out = "sms";
    else if (is(outcome, "opt_out_calls"))
        out->opt_out = "call";
    out->waits = is(outcome, "sms_sent") || is(outcome, "sms_delivered");
    return 0;
}

int64_t ladder_task_due(const struct plan_policy *p, const char *tz, const char *reason,
                        int64_t now_ms, int64_t visit_ms)
{
    int64_t due;
    if (strcmp(reason, "not_confirmed") != 0)
        return (cf_time_next_allowed(&p->windows, now_ms, &due) == 0 ? due : now_ms) +
               LADDER_ANSWER_TASK_MS;
    struct cf_time_local day;
    int64_t midnight;
    if (cf_time_to_local(tz, visit_ms, &day) != 0)
        return now_ms;
    day.hour = day.minute = day.second = day.ms = 0;
    if (cf_time_from_local(tz, &day, &midnight) != 0 ||
        cf_time_next_allowed(&p->windows, midnight, &due) != 0 || due >= visit_ms || due < now_ms)
        return now_ms;
    return due;
}
