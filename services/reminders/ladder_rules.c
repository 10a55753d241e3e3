/*
 * The reminder ladder (ladder_testable.h).
 */
#include "ladder_testable.h"

#include <string.h>

#include "common/err.h"
#include "common/time.h"

static const char *const outcomes[] = {
    "confirmed",     "declined",   "reschedule",  "no_answer",     "busy",
    "voicemail",     "no_reply",   "failed",      "opt_out_calls", "sms_sent",
    "sms_delivered", "sms_failed", "opt_out_sms", "skipped",       "unknown",
};

/* A patient's key on a robot call, and the reports that a call reached
 * nobody. */
static const char *const answers[] = {"confirmed", "declined", "reschedule", "opt_out_calls"};
static const char *const nobody[] = {"no_answer", "busy", "voicemail", "no_reply", "failed"};
/* An SMS's news, older to newer: handed over, then delivered or not, then
 * the patient's reply. Gateways may report them out of order (Twilio's
 * status callbacks are not ordered; a batch of SMS.ru's is resent). */
static const char *const sms_handed[] = {"sms_sent"};
static const char *const sms_fate[] = {"sms_delivered", "sms_failed"};
static const char *const sms_reply[] = {"confirmed", "declined", "reschedule", "opt_out_sms"};

static int in(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(set[i], s) == 0)
            return 1;
    return 0;
}

#define IN(s, set) in((s), (set), sizeof(set) / sizeof((set)[0]))

int ladder_outcome_known(const char *outcome)
{
    return IN(outcome, outcomes);
}

static int is(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

int ladder_outcome_fits(const char *channel, const char *outcome)
{
    static const char *const calls_only[] = {"no_answer", "busy", "voicemail", "no_reply",
                                             "opt_out_calls"};
    static const char *const sms_only[] = {"sms_sent", "sms_delivered", "sms_failed",
                                           "opt_out_sms"};
    if (!ladder_outcome_known(outcome))
        return 0;
    if (is(channel, "call"))
        return !IN(outcome, sms_only);
    if (is(channel, "sms"))
        return !IN(outcome, calls_only);
    return 0;
}

int ladder_answered(const char *reminder_status)
{
    static const char *const answered[] = {"confirmed", "declined", "reschedule_requested"};
    return IN(reminder_status, answered);
}

int ladder_ends_quietly(const char *outcome, const char *reason)
{
    return is(outcome, "skipped") && is(reason, "answered");
}

void ladder_patient_erased(struct ladder_next *next)
{
    const char *status = next->reminder_status;
    memset(next, 0, sizeof(*next));
    if (status && !is(status, "not_confirmed"))
        next->reminder_status = status;
}

enum ladder_take ladder_take(const char *had, const char *got, int send_attempt,
                             const struct ladder_job *job)
{
    if (is(had, got))
        return LADDER_IGNORE;
    /* the key was pressed: the call's end saying nobody did is older news */
    if (IN(had, answers) && IN(got, nobody))
        return LADDER_IGNORE;
    /* an SMS's state reported after a newer one: delivered then sent, or
     * the delivery after the reply */
    if ((IN(had, sms_fate) && IN(got, sms_handed)) ||
        (IN(had, sms_reply) && (IN(got, sms_handed) || IN(got, sms_fate))))
        return LADDER_IGNORE;
    if (!job->current)
        return LADDER_TELL;
    if (job->attempt == send_attempt && is(job->status, "emitted"))
        return LADDER_MOVE;
    /* nobody could tell whether the send went (unknown ended the ladder),
     * and the patient's answer to it comes after all: on its own, or after
     * the gateway's word that it went (an SMS handed over, delivered) */
    if ((is(had, "unknown") || IN(had, sms_handed) || IN(had, sms_fate)) &&
        (IN(got, answers) || IN(got, sms_reply)) && job->attempt == send_attempt &&
        is(job->status, "done") && is(job->result, "unknown"))
        return LADDER_MOVE;
    /* The key after the call's end: that end moved the job one rung on
     * (pending, out, or ended there) or ended the ladder at this rung; the
     * patient's answer takes it back, unless they answered since, on the
     * next rung (an SMS reply). */
    if (IN(had, nobody) && IN(got, answers) && !IN(job->result, answers) &&
        ((job->attempt == send_attempt + 1 &&
          (is(job->status, "pending") || is(job->status, "emitted") || is(job->status, "done"))) ||
         (job->attempt == send_attempt && is(job->status, "done"))))
        return LADDER_MOVE;
    return LADDER_TELL;
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
    /* never resent blindly: the front desk decides, so it is asked to (a
     * gateway's answer after this may still tell: ladder_take) */
    if (is(outcome, "unknown")) {
        out->reminder_status = "not_confirmed";
        out->task = "not_confirmed";
        return 0;
    }

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
