/*
 * What a reminder job is, in SQL, for the stores that read one beside its
 * appointment (send_store.c before a send, outcome_store.c after it).
 */
#ifndef CF_REMINDERS_JOB_SQL_H
#define CF_REMINDERS_JOB_SQL_H

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

#endif
