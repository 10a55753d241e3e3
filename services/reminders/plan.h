/*
 * Reminder planning in the appointment's transaction: the jobs of a booked
 * or rescheduled visit written, those of an older time or a cancelled
 * visit cancelled, before the appointment's change commits, so a reminder
 * for an old time is never due (plan.c, statements in plan_store.c).
 */
#ifndef CF_REMINDERS_PLAN_H
#define CF_REMINDERS_PLAN_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/netconf.h"
#include "common/outbox.h"
#include "plan_testable.h"

/* Plans (or cancels) the reminders of appointment_id as record now has
 * it, and a missed visit's re-invite, on conn inside the caller's
 * transaction; a campaign's events are added to out. */
int reminders_plan_appointment(PGconn *conn, const struct cf_network *net,
                               const char *appointment_id, const char *patient_id,
                               const json_t *record, int64_t now_ms, struct cf_outbox *out,
                               char *errbuf, size_t errbuf_size);

/* A patient made a member of a campaign (reinvite, recall) in group held
 * (1 holdout, 0 target), added to out as clinicflow.campaign.member at
 * time_ms: the one place the event is built (plan.c's re-invites,
 * recall.c's enrolment, history_routes.c's imported recalls).
 * appointment_id and missed_ms (the missed visit's, -1 none) are a
 * re-invite's; due_ms is the target's contact. */
struct plan_member {
    const char *campaign, *job_id, *patient_id, *appointment_id, *clinic_id, *network_id;
    int held, holdout_percent;
    int64_t missed_ms, due_ms;
};
void plan_member_event(struct cf_outbox *out, const struct plan_member *m, int64_t time_ms);

/* What planning does to a job it plans again (the ON CONFLICT tail of the
 * jobs' insert): a job's id is its visit's time and offset, so a visit
 * moved away and back, or cancelled and booked again for the same time,
 * plans the very ids it cancelled. Such a job is pending again with its
 * new due time (or skipped, as planned now), if it never went out (still
 * at its first rung: a command is emitted only from a pending job, and
 * each emission moves it on) and was not cancelled because its patient was
 * erased. A pending job of a visit the MIS gave another patient or clinic
 * (the same time) goes to them: its next command names the visit's patient
 * and clinic now (at its first rung planned again, for the clinic's
 * windows; at a later rung when that rung was due). A campaign's job (its
 * id the visit's and the campaign's, not the time's) takes the visit's
 * time as it is now, revived or still pending: a re-invite of a visit
 * moved and missed again is of the visit it is about (job_sql.h compares
 * the two). A campaign's job held out (skipped, "holdout") of a visit the
 * MIS gave another patient takes that patient's draw: the draw was the
 * first patient's. Any other existing job is kept as it is (one whose
 * command is out for the patient before is no longer current, job_sql.h,
 * and that command is not sent). */
#define PLAN_STORE_LATER_RUNG "reminder_jobs.status = 'pending' AND reminder_jobs.attempt > 1"
#define PLAN_STORE_REVIVE_SQL                                                                      \
    " SET status = CASE WHEN " PLAN_STORE_LATER_RUNG " THEN reminder_jobs.status"                  \
    " ELSE EXCLUDED.status END, reason = CASE WHEN " PLAN_STORE_LATER_RUNG                         \
    " THEN reminder_jobs.reason ELSE EXCLUDED.reason END, due_at = CASE "                          \
    "WHEN " PLAN_STORE_LATER_RUNG " THEN reminder_jobs.due_at ELSE EXCLUDED.due_at END,"           \
    " late_from = CASE WHEN " PLAN_STORE_LATER_RUNG " THEN reminder_jobs.late_from END,"           \
    " patient_id = EXCLUDED.patient_id, clinic_id = EXCLUDED.clinic_id,"                           \
    " visit_at = EXCLUDED.visit_at, updated_at = now()"                                            \
    " WHERE (reminder_jobs.status = 'cancelled' AND reminder_jobs.attempt = 1"                     \
    " AND reminder_jobs.reason IS DISTINCT FROM 'erased') OR (reminder_jobs.status = 'pending'"    \
    " AND (reminder_jobs.patient_id, reminder_jobs.clinic_id, reminder_jobs.visit_at)"             \
    " IS DISTINCT FROM (EXCLUDED.patient_id, EXCLUDED.clinic_id, EXCLUDED.visit_at))"              \
    " OR (reminder_jobs.status = 'skipped' AND reminder_jobs.reason = 'holdout'"                   \
    " AND reminder_jobs.patient_id IS DISTINCT FROM EXCLUDED.patient_id)"

/* Which pending campaign job a visit written again keeps, though not
 * planned this time (its visit now older than the campaign's freshness,
 * or written by a batch import, which plans none): a visit still missed
 * keeps its re-invite, one still completed its survey. status: the SQL
 * expression of the visit's new status, beside the job's row. */
#define PLAN_STORE_CAMPAIGN_KEPT(status)                                                           \
    " ((kind = 'reinvite' AND " status " = 'no_show')"                                             \
    " OR (kind = 'nps' AND " status " = 'completed'))"

/* plan_store.c: the jobs' rows ([{"job_id", "offset_hours", "kind",
 * "channel", "due_at" or null, "status", "reason"}]) of one appointment
 * whose status is now status: inserted when new (the same visit planned
 * again keeps its jobs), and every pending job of the appointment not
 * among them cancelled with reason, but for a campaign's the status still
 * calls for (PLAN_STORE_CAMPAIGN_KEPT). */
int plan_store_replace(PGconn *conn, const char *network_id, const char *clinic_id,
                       const char *appointment_id, const char *patient_id, const char *visit_at,
                       const char *status, const json_t *jobs, const char *reason, char *errbuf,
                       size_t errbuf_size);

/* plan_store.c: every pending job of the patient cancelled with reason
 * (an erased patient is reminded of nothing). */
int plan_store_cancel_patient(PGconn *conn, const char *patient_id, const char *reason,
                              char *errbuf, size_t errbuf_size);

#endif
