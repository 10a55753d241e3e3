/*
 * What a reminder job is, in SQL, for the stores that read one beside its
 * appointment (send_store.c before a send, outcome_store.c after it).
 */
#ifndef CF_REMINDERS_JOB_SQL_H
#define CF_REMINDERS_JOB_SQL_H

/* The campaign kinds: contacts that ask a patient to book (paced, and
 * ending in a front-desk call when unanswered). */
#define CAMPAIGN_KINDS "('reinvite', 'recall')"

/* A boolean: job j (reminders.reminder_jobs) is still about its visit, a
 * (the job's appointment, LEFT JOINed): the visit is where the job was
 * planned for, the patient's and at the clinic the job names, and in the
 * state the job's kind is for (a reminder a booked visit, a re-invite a
 * missed one, a survey a completed one). A recall has no visit and is
 * always current. */
#define JOB_CURRENT_SQL                                                                            \
    "(j.kind = 'recall' OR coalesce(a.starts_at = j.visit_at AND a.patient_id = j.patient_id"      \
    " AND a.clinic_id = j.clinic_id AND CASE j.kind"                                               \
    " WHEN 'reminder' THEN a.status IN ('booked', 'rescheduled')"                                  \
    " WHEN 'reinvite' THEN a.status = 'no_show' ELSE a.status = 'completed' END, false))"

/* A boolean: campaign job j's patient has booked since its SMS s went (a
 * visit of theirs other than j's own is ahead, or has begun since): the
 * campaign's question is answered by the booking, not by a reply. */
#define CAMPAIGN_BOOKED_SQL                                                                        \
    "(j.kind IN " CAMPAIGN_KINDS " AND EXISTS (SELECT 1 FROM reminders.appointments b"             \
    " WHERE b.patient_id = j.patient_id AND b.appointment_id IS DISTINCT FROM j.appointment_id"    \
    " AND ((b.status IN ('booked', 'rescheduled') AND b.starts_at > now())"                        \
    " OR (b.status IN ('arrived', 'completed') AND b.starts_at > s.created_at))))"

#endif
