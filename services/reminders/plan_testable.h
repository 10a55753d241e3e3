/*
 * Reminder planning as pure functions (plan_rules.c): when each reminder
 * of an appointment goes, or why it does not. No I/O; unit-tested.
 */
#ifndef CF_REMINDERS_PLAN_TESTABLE_H
#define CF_REMINDERS_PLAN_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/hash.h"
#include "common/time.h"

#define PLAN_OFFSETS_MAX 8
/* A send needs a moment of its window: the latest a reminder is placed is
 * a minute before the window closes. */
#define PLAN_LEAD_MS 60000

/* A clinic's reminder policy: the network's reminder_policies with the
 * clinic's own (reminder_policy) over them, and the clinic's calling
 * windows in its zone. */
struct plan_policy {
    int64_t offsets_ms[PLAN_OFFSETS_MAX]; /* before the visit, as configured */
    int offsets_h[PLAN_OFFSETS_MAX];
    size_t n_offsets;
    struct cf_time_hours windows; /* free with plan_policy_free */
    /* the ladder after an unanswered robot call (ladder_rules.c) */
    int call_retries;     /* calls again after the first: call_retries (3) */
    int64_t retry_ms;     /* apart: retry_minutes (60) */
    int sms_fallback;     /* then an SMS: sms_fallback (true) */
    int64_t duplicate_ms; /* one message a patient a channel in: duplicate_hours (6) */
    double sms_price;     /* a segment's: sms_price_per_segment (0) */
    char currency[4];     /* currency ("RUB") */
    /* campaigns */
    int reinvite;              /* a missed visit's re-invite: reinvite (true) */
    int64_t reinvite_after_ms; /* after the missed visit: reinvite_after_hours (48) */
    int holdout_percent;       /* never contacted, to measure against: holdout_percent (10) */
    int nps;                   /* a completed visit's survey: nps (true) */
    int64_t nps_delay_ms;      /* after the visit's end: nps_delay_minutes (60) */
    int recall;                /* patients not seen for a while asked back: recall (false) */
    int recall_months;         /* since the last visit: recall_months[0] (6) */
    int recall_again_days;     /* a patient asked again at most this often: 60 */
    /* recall_months_by_category, {"implants": 12}: the clinic's categories
     * over the network's, one by one; recall_months for any other. Owned
     * (plan_policy_free); NULL when neither names one. */
    json_t *recall_by_category;
    /* pacing (pace_rules.c): campaign contacts released an hour, at most
     * seats (1) times tasks_per_seat_hour (7): what the front desk can
     * follow up */
    int seats;
    int tasks_per_seat_hour;
};

/* Builds the policy of a clinic from the network's reminder_policies
 * (j_network_policies, may be NULL) and the clinic's document (its
 * timezone, calling_windows and reminder_policy, may be NULL). Defaults:
 * offsets 24 h and 2 h, windows 10:00-18:00 and 20:00-21:00, 3 call
 * retries 60 min apart, then an SMS, one message in 6 h, SMS free in
 * RUB; a missed visit re-invited after 48 h, 10% held out; one seat
 * taking 7 campaign contacts an hour. 0 (free it with plan_policy_free),
 * or CF_EINVAL with the reason and nothing to free (clinicflowctl has
 * checked the shapes). */
int plan_policy_build(const json_t *j_network_policies, const char *tz, const json_t *j_clinic,
                      struct plan_policy *out, char *errbuf, size_t errbuf_size);
void plan_policy_free(struct plan_policy *p);

/* One planned reminder: due_ms when it goes, or skip (why it does not:
 * "too_late", the visit is nearer than the offset; "no_window", no
 * calling window between now and the visit leaves room for it;
 * "same_time", an earlier offset already goes at that moment). */
struct plan_job {
    int offset_h;
    int64_t due_ms;
    const char *skip;
};

/* The reminders of a visit at starts_ms planned at now_ms, one per offset
 * of the policy, in its order. A due time outside the windows moves to
 * the latest allowed moment before it, never after the visit and never
 * before now. Returns how many jobs were written to out. */
size_t plan_reminders(const struct plan_policy *p, int64_t starts_ms, int64_t now_ms,
                      struct plan_job *out, size_t max);

/* Whether an appointment in this status has reminders ahead: booked or
 * rescheduled. The others (cancelled, no_show, arrived, completed) cancel
 * what is still pending. */
int plan_status_reminds(const char *status);

/* Why a reminder's send may no longer go at now_ms, however long its
 * command waited (a gateway down, a backlog): "visit_started" once the
 * visit has begun, "late" more than grace_s past its rung's due time;
 * NULL while it may. The scheduler's rule when it takes a job
 * (scheduler.c), asked again as the send is about to leave. A survey
 * ("nps") is "late" more than grace_s past its due time, as the scheduler
 * has it. Campaigns (recall, re-invite) are never too late here: one put
 * off goes when its gateway is back. */
const char *plan_send_too_late(const char *kind, int64_t due_ms, int64_t visit_ms, int64_t now_ms,
                               long grace_s);

/* Where now_ms stands in the clinic's calling windows: 0 inside one; 1
 * outside, with *next_ms the moment the next one opens; CF_ENOTFOUND
 * outside, with none ahead. Nothing goes out while the windows are
 * closed: the scheduler holds a due job it takes then until the next one
 * opens (a visit's reminder whose visit comes first is skipped,
 * "no_window"), and the dispatcher skips a send whose command waited past
 * the window's close ("outside_window"; the ladder goes on to its next
 * rung, which it places in the windows). */
int plan_window_now(const struct plan_policy *p, int64_t now_ms, int64_t *next_ms);

/* A job's id: UUIDv5 over the appointment, the visit time it was planned
 * for and the offset, so planning the same visit again gives the same
 * jobs and a new time gives new ones. */
void plan_job_id(const char *appointment_id, int64_t starts_ms, int offset_h,
                 char out[CF_UUID_STR_LEN + 1]);

/* Whether a patient is in a campaign's holdout group (never contacted, so
 * the campaign's uplift can be measured against it): the first two bytes
 * of SHA-256(campaign 0x1F patient_id), big-endian, modulo 100, below
 * percent. Deterministic: the same patient is in or out every time. */
int plan_holdout(const char *campaign, const char *patient_id, int percent);

/* A missed visit's re-invite (an SMS asking the patient to book again):
 * due reinvite_after_ms after now, moved into the calling windows. Only
 * for a visit (missed_ms, its start) within PLAN_REINVITE_FRESH_MS of now:
 * a history import's old no-shows, or an MIS correcting an old record,
 * ask nobody about a visit long past. 0 with *due_ms, or CF_ENOTFOUND
 * when the visit is older, no window comes, or re-invites are off. */
#define PLAN_REINVITE_FRESH_MS (7 * 24 * 3600000LL)
int plan_reinvite(const struct plan_policy *p, int64_t missed_ms, int64_t now_ms, int64_t *due_ms);

/* A re-invite's job id: UUIDv5 over the appointment and "reinvite" (one a
 * missed visit). */
void plan_reinvite_id(const char *appointment_id, char out[CF_UUID_STR_LEN + 1]);

/* A completed visit's survey (an SMS with a link to a one-question page):
 * due nps_delay_ms after the visit ended (ended_ms; now when that is
 * later), moved into the calling windows. Only for a visit that ended
 * within PLAN_NPS_FRESH_MS of now: a history import's old visits are
 * never surveyed. 0 with *due_ms, or CF_ENOTFOUND. */
#define PLAN_NPS_FRESH_MS (24 * 3600000LL)
int plan_nps(const struct plan_policy *p, int64_t ended_ms, int64_t now_ms, int64_t *due_ms);

/* A recall job's id: UUIDv5 over the patient, "recall" and the period
 * (recall_again_days long) now_ms falls in: one a patient a period. */
void plan_recall_id(const char *patient_id, int again_days, int64_t now_ms,
                    char out[CF_UUID_STR_LEN + 1]);

/* A campaign job's id: UUIDv5 over the appointment and the campaign
 * ("reinvite", "nps"): one of each a visit. */
void plan_campaign_id(const char *appointment_id, const char *campaign,
                      char out[CF_UUID_STR_LEN + 1]);

#endif
