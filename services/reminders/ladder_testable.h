/*
 * The reminder ladder as a pure function (ladder_rules.c): what one
 * outcome of a reminder's attempt leads to. No I/O; unit-tested.
 *
 * The seeds' ladder: a robot call; on no answer or busy, the call again
 * every retry_minutes up to call_retries times; then an SMS, the
 * reminder "not_confirmed", and a front-desk task to call on the visit
 * day. A call picked up with no key pressed reached nobody either: a
 * person who hung up, or a machine nobody could tell apart. A patient's
 * answer ends it: 1 confirmed, 2 declined, 3 a reschedule asked for (a
 * front-desk task either way but confirmed), 9 no more calls to that
 * number.
 */
#ifndef CF_REMINDERS_LADDER_TESTABLE_H
#define CF_REMINDERS_LADDER_TESTABLE_H

#include <stdint.h>

#include "plan_testable.h"

/* An attempt's outcomes, as the gateways' adapters name them: a robot
 * call's (confirmed, declined, reschedule, no_answer, busy, voicemail,
 * no_reply: picked up and ended with no key pressed, failed,
 * opt_out_calls), an SMS's (sms_sent, sms_delivered, sms_failed,
 * opt_out_sms, and a digit reply: confirmed, declined, reschedule), and
 * the dispatcher's own when nothing went out (skipped) or nobody knows
 * (unknown). */
int ladder_outcome_known(const char *outcome);

/* 1 when outcome (a known one) can be the fate of a send on channel
 * ("call" or "sms"): an SMS's delivery news and its STOP are no robot
 * call's, a call's end (no_answer, busy, voicemail, no_reply) and its 9
 * no SMS's; the patient's answer, failed, skipped and unknown fit both.
 * A report that does not fit is refused (a dialer's mistake would
 * otherwise end the ladder with nobody told). */
int ladder_outcome_fits(const char *channel, const char *outcome);

/* 1 when an appointment's reminder_status is the patient's answer
 * (confirmed, declined, reschedule_requested): its later reminders are not
 * sent (skipped as answered), and no reminder's not_confirmed writes over
 * it. */
int ladder_answered(const char *reminder_status);

/* 1 for a reminder's send held back because its visit was answered
 * already (skipped, reason answered): the ladder ends there, and sets no
 * status and opens no task. */
int ladder_ends_quietly(const char *outcome, const char *reason);

/* Where a job stands when a report about one of its sends comes. */
struct ladder_job {
    int current;        /* the visit is still booked for the job's time */
    const char *status; /* pending, emitted, done, cancelled, skipped */
    int attempt;        /* its rung now */
    const char *result; /* the outcome that moved it last, or NULL */
};

/* What a report does. */
enum ladder_take {
    LADDER_IGNORE, /* nothing recorded, nothing told */
    LADDER_TELL,   /* recorded on the send and told; the job stays where it is */
    LADDER_MOVE,   /* recorded, told, and the job takes the outcome's step */
};

/* How outcome got, reported for the send of attempt send_attempt whose
 * recorded outcome is had (NULL: none), is taken. Only the job's latest
 * rung moves it: a report of an earlier rung, of a job done, or of a visit
 * moved or cancelled since is told and decides nothing; the same outcome
 * again is ignored. One call's reports may come in either order (Twilio
 * posts the <Gather> digit and the call's end separately), and the
 * patient's key wins: a report that the call reached nobody after the
 * patient's answer on it is ignored, and the answer after such a report
 * moves the job from the rung that report led to (or from the end it
 * led to), unless a patient's answer since decided the job. An SMS's
 * reports may come out of order too: one older than the state recorded
 * (handed over after delivered or failed, either after the patient's
 * reply) is ignored. A send whose outcome nobody could tell (unknown)
 * ended the ladder; the patient's answer reported for it after all (also
 * after the gateway's word that it went) moves the job from there. Pure. */
enum ladder_take ladder_take(const char *had, const char *got, int send_attempt,
                             const struct ladder_job *job);

/* What follows an outcome. */
struct ladder_next {
    const char *reminder_status; /* the appointment's, after: confirmed, declined,
                                    reschedule_requested, not_confirmed; NULL: as it was */
    const char *task;            /* a front-desk task to open, by reason: declined,
                                    reschedule, not_confirmed; NULL: none */
    const char *opt_out;         /* the phone opted out of a channel: call, sms; NULL */
    const char *next_channel;    /* the next rung (call, sms); NULL: the job is done, */
    int waits;                   /* ... unless an SMS is out: a reply may still come */
    int next_attempt;
    int64_t next_due_ms;
};

/* The outcome of attempt (1 is the first call) on channel of a reminder
 * for a visit at visit_ms, known at now_ms, under the clinic's policy.
 * A call again goes retry_ms later, moved into the calling windows, and
 * only while a minute of a window is left before the visit; otherwise the
 * SMS goes next (the first moment of a window from now, before the
 * visit); when nothing can go before the visit the ladder ends
 * not_confirmed. Returns 0, or CF_EINVAL for an outcome it does not know. */
int ladder_after(const struct plan_policy *p, const char *channel, int attempt, const char *outcome,
                 int64_t now_ms, int64_t visit_ms, struct ladder_next *out);

/* The outcome of a campaign's SMS (kind "reinvite": a missed visit's
 * re-invite; "recall": a patient not seen for a while; "nps": a survey):
 * for a re-invite or a recall, 1 (confirmed) asks for a call to book, a
 * front-desk task of the kind's name; a stop word opts the
 * number out; anything else ends it. Never a reminder status. 0, or
 * CF_EINVAL for an unknown outcome. */
int ladder_campaign_after(const char *kind, const char *outcome, struct ladder_next *out);

/* next for a patient erased since the send went: no next rung, no task,
 * no opt-out of a phone no longer kept, no waiting for a reply; a status
 * only when it is the patient's own answer (confirmed, declined,
 * reschedule_requested), never not_confirmed. */
void ladder_patient_erased(struct ladder_next *next);

/* When a front-desk task of this reason (ladder_next.task) is due: a
 * reminder not confirmed, at the first calling-window moment of the visit's
 * day in the clinic's zone tz (now when that has passed, or comes only
 * after the visit); a decline or a reschedule, LADDER_ANSWER_TASK_MS after
 * the next window moment from now (a person calls back soon). */
#define LADDER_ANSWER_TASK_MS (30 * 60000)
int64_t ladder_task_due(const struct plan_policy *p, const char *tz, const char *reason,
                        int64_t now_ms, int64_t visit_ms);

#endif
