/*
 * The NPS survey's page and store (nps_routes.c, nps_store.c): the
 * dispatcher opens a survey when its SMS goes (nps_store_open), the
 * patient answers on GET/POST /nps/{token} or by replying to the SMS with
 * the score (hooks.c); either way through nps_answer, once.
 */
#ifndef CF_REMINDERS_NPS_H
#define CF_REMINDERS_NPS_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/outbox.h"
#include "nps_testable.h"

/* How long a survey's link works. */
#define NPS_TTL_MS (7 * 86400000LL)

/* The survey of a command's job ({"job_id", "clinic_id", "patient_id",
 * "appointment_id"}), kept under token until expires_ms; opened again it
 * stays as it is. */
int nps_store_open(PGconn *conn, const char *token, const char *network_id, const json_t *command,
                   const char *doctor_id, const char *language, int64_t expires_ms, char *errbuf,
                   size_t errbuf_size);

/* The survey under token: *row {"token", "job_id", "network_id",
 * "clinic_id", "patient_id", "appointment_id", "doctor_id", "language",
 * "expired", "answered"}, or NULL when there is none. lock: FOR UPDATE. */
int nps_store_get(PGconn *conn, const char *token, int lock, json_t **row, char *errbuf,
                  size_t errbuf_size);
/* The same, of the survey job job_id (its SMS's), locked. */
int nps_store_get_job(PGconn *conn, const char *job_id, json_t **row, char *errbuf,
                      size_t errbuf_size);

/* The answer stored (the caller checked the survey is open, under lock). */
int nps_store_answer(PGconn *conn, const char *token, int score, const char *comment, char *errbuf,
                     size_t errbuf_size);

/* nps_routes.c. The answer to the open survey row (nps_store_get's,
 * locked, in the caller's transaction) stored and its event
 * (clinicflow.nps.answered, the same whether the page or an SMS gave it)
 * added to out. comment NULL: none. 0, or the database's error. */
int nps_answer(PGconn *conn, const json_t *row, int score, const char *comment, int64_t now_ms,
               struct cf_outbox *out, char *errbuf, size_t errbuf_size);

#endif
