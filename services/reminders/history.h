/*
 * What the system before this one sent (history_routes.c): a visit's
 * reminders (PUT and GET /v1/appointments/{id}/reminders) and a patient's
 * recall (PUT /v1/patients/{id}/recall-history). The rules in
 * history_rules.c (history_testable.h), the statements in
 * history_store.c. Each is imported once; a visit's only when it has
 * started and this service did not remind it, a recall only for a
 * patient this service's recall has not had. Each send becomes a
 * reminder.outcome event dated when it happened, a recall also a
 * campaign.member dated when the patient was asked.
 */
#ifndef CF_REMINDERS_HISTORY_H
#define CF_REMINDERS_HISTORY_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "history_testable.h"

/* The visit a history is for, read under its row lock. */
struct history_visit {
    int found;
    int64_t starts_ms;
    char patient_id[CF_UUID_STR_LEN + 1];
    char clinic_id[72];
    char network_id[72];
    int reminded_here; /* a reminder of this service went out for it */
    json_t *stored;    /* the history imported before, or NULL; the caller's */
};

/* Reads appointment_id's visit, with its row locked until the transaction
 * ends (lock 1) or as it is (lock 0). 0 (v->found 0 when there is no such
 * appointment), or the database's error. */
int history_store_visit(PGconn *conn, const char *appointment_id, int lock, struct history_visit *v,
                        char *errbuf, size_t errbuf_size);
/* Stores the visit's history under its job, and its final reminder status
 * where the visit has none. */
int history_store_put(PGconn *conn, const char *job_id, const char *appointment_id,
                      const struct history_visit *v, const json_t *history,
                      const char *final_status, char *errbuf, size_t errbuf_size);

/* A patient's recall import of clinic_id, under the recall worker's locks
 * of that clinic and of the patient's (held until the transaction ends):
 * the history stored under job_id before (*stored, the caller's; NULL
 * none), and whether this service's own recall has had the patient
 * (*recalled_here). */
int history_store_recall(PGconn *conn, const char *job_id, const char *patient_id,
                         const char *network_id, const char *clinic_id, json_t **stored,
                         int *recalled_here, char *errbuf, size_t errbuf_size);
/* Stores it, and its job: done, reason imported, created when the patient
 * was asked (so the recall does not ask again within recall_again_days). */
int history_store_put_recall(PGconn *conn, const char *job_id, const char *network_id,
                             const char *patient_id, const json_t *history, char *errbuf,
                             size_t errbuf_size);

#endif
