/*
 * A visit's reminder history from the system before this one (PUT and GET
 * /v1/appointments/{id}/reminders, history_routes.c): the rules in
 * history_rules.c (history_testable.h), the statements here
 * (history_store.c). Imported once per visit, for a visit that has
 * started and that this service did not remind itself; each send becomes
 * a reminder.outcome event dated when it happened.
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
/* Stores the visit's history, and its final reminder status where the
 * visit has none. */
int history_store_put(PGconn *conn, const char *appointment_id, const struct history_visit *v,
                      const json_t *history, const char *final_status, char *errbuf,
                      size_t errbuf_size);

#endif
