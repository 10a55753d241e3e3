/*
 * The MIS records (patients, appointments) and their events: the store
 * (mis_store.c: every statement on reminders.patients and
 * reminders.appointments) and the envelopes (mis_events.c: the one place
 * patient.upserted and appointment.upserted are built).
 */
#ifndef CF_REMINDERS_MIS_H
#define CF_REMINDERS_MIS_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/envelope.h"
#include "mis_testable.h"

/* The kinds of record, with what differs between them. */
enum mis_kind { MIS_PATIENT, MIS_APPOINTMENT };

/* A record as stored, read under its row lock. */
struct mis_stored {
    int found;
    int erased;      /* a patient erased: ids and version only */
    int64_t version; /* when found */
    json_t *record;  /* when found and not erased; the caller's to release */
    char updated_at[32];
    char reminder_status[32]; /* an appointment's, "" when none yet */
};

/* The SET of an appointment's reminder_status written again (old: the
 * stored row's alias and a dot, or "" for the row an UPDATE changes; the
 * new version's start, patient and status as SQL expressions). What the
 * patient answered was of the visit as it was: moved to a new time ahead,
 * given to another patient, or booked again from a status that is not
 * reminded (cancelled or missed, or an MIS's correction of one that came),
 * it has no answer (a kept one would make the dispatcher skip its
 * reminders as answered). One moved into the past is the record of when
 * it happened, and keeps it. */
#define MIS_REMINDER_STATUS_SQL(old, starts, patient, status)                                      \
    " reminder_status = CASE WHEN (" old "starts_at IS DISTINCT FROM " starts " AND " starts       \
    " > now()) OR " old "patient_id IS DISTINCT FROM " patient " OR (" old "status NOT IN"         \
    " ('booked', 'rescheduled') AND " status " IN ('booked', 'rescheduled')) THEN NULL"            \
    " ELSE " old "reminder_status END"

/* Reads record id of kind with its row locked until the transaction ends
 * (lock = 1), or as it is (lock = 0). */
int mis_store_get(PGconn *conn, enum mis_kind kind, const char *id, int lock,
                  struct mis_stored *out, char *errbuf, size_t errbuf_size);

/* Writes version of the record (inserted = 1 for a new row: a row another
 * request inserted meanwhile makes it CF_ECONFLICT, and the caller reads
 * again). */
int mis_store_put(PGconn *conn, enum mis_kind kind, const char *id, const char *network_id,
                  const char *mis_id, int64_t version, const json_t *record, int insert,
                  char *errbuf, size_t errbuf_size);

/* Erases a patient's personal data: the row keeps its ids and version. */
int mis_store_erase(PGconn *conn, const char *patient_id, char *errbuf, size_t errbuf_size);

/* The event of a record's version (ev's strings and data are set; clear
 * it): patient.upserted on clinicflow.patients.v1, appointment.upserted on
 * clinicflow.appointments.v1; data is taken. */
void mis_event(struct cf_event *ev, enum mis_kind kind, const char *network_id, const char *id,
               const char *mis_id, int64_t version, const char *clinic_id, json_t *data);
/* Its topic. */
const char *mis_topic(enum mis_kind kind);

#endif
