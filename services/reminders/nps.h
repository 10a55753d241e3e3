/*
 * The NPS survey's page and store (nps_routes.c, nps_store.c): the
 * dispatcher opens a survey when its SMS goes (nps_store_open), the
 * patient answers on GET/POST /nps/{token}.
 */
#ifndef CF_REMINDERS_NPS_H
#define CF_REMINDERS_NPS_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "nps_testable.h"

/* How long a survey's link works. */
#define NPS_TTL_MS (7 * 86400000LL)

/* The survey of a command's job ({"job_id", "clinic_id", "patient_id",
 * "appointment_id"}), kept under token until expires_ms; opened again it
 * stays as it is. */
int nps_store_open(PGconn *conn, const char *token, const char *network_id, const json_t *command,
                   const char *doctor_id, const char *language, int64_t expires_ms, char *errbuf,
                   size_t errbuf_size);

/* The survey under token: *row {"job_id", "network_id", "clinic_id",
 * "patient_id", "appointment_id", "doctor_id", "language", "expired",
 * "answered"}, or NULL when there is none. lock: FOR UPDATE. */
int nps_store_get(PGconn *conn, const char *token, int lock, json_t **row, char *errbuf,
                  size_t errbuf_size);

/* The answer stored (the caller checked the survey is open, under lock). */
int nps_store_answer(PGconn *conn, const char *token, int score, const char *comment, char *errbuf,
                     size_t errbuf_size);

#endif
