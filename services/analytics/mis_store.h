/*
 * The statements on analytics.appointments, patients and patient_keys:
 * each one over a whole batch, inside the caller's transaction.
 * 0, or the cf_pg_exec code with the reason in errbuf.
 */
#ifndef CF_ANALYTICS_MIS_STORE_H
#define CF_ANALYTICS_MIS_STORE_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

/* Appointment rows (one per id): a newer version replaces the stored
 * one, an older one only moves booked_at earlier. */
int an_appointments_save(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);

/* Patient rows (one per id): a newer version replaces the stored one and
 * its contact keys. */
int an_patients_save(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);

/* Erases the patients (an array of ids, from tombstones): their contact
 * keys are dropped (and the key their reminder tasks hold: the task's own
 * patient's, or its visit's) and the row is marked erased, so an older
 * version cannot bring them back (a patient not stored yet gets an erased
 * row of its own, version -1); their appointments keep only ids and
 * counts, and their first visit stays, so the counts that rest on it do
 * not move. */
int an_patients_erase(PGconn *conn, const json_t *ids, char *errbuf, size_t errbuf_size);

/* The locks of the patients rows name (tasks: their patient_id and
 * their visit's patient; appointments: theirs), which an erasure takes
 * too: taken before rows are saved (a task) or their erased patients
 * looked at (an_tasks_forget_erased), the erasure and the rows are one
 * after the other, whether or not the patient has a row yet. */
int an_tasks_lock_patients(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);

/* The contact key dropped from the reminder tasks of rows' appointments
 * (rows: objects with "appointment_id"), and from rows' tasks (objects
 * with "task_id" and "patient_id"), whose patient is erased: a task or an
 * appointment read after the patient's
 * tombstone (the calls group, which saves tasks, reads apart from this
 * one; an appointment comes on a topic of its own) would link the erased
 * person to their phone again.
 * The caller took an_tasks_lock_patients(rows) first. */
int an_tasks_forget_erased(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);

#endif
