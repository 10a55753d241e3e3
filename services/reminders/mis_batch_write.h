/*
 * The batch import's writer (mis_batch_write.c): up to
 * CLINICFLOW_REMINDERS_BATCH_WRITERS threads an import (lanes), each
 * writing sets of the import's records a transaction at a time on a
 * PostgreSQL connection of its own (the first lane on the import's), while
 * the request's connection thread reads and checks the next lines
 * (mis_batch.c). The connection thread fills one set while the lanes write
 * the others, so the parsing and PostgreSQL's work overlap instead of
 * taking turns, and two lanes keep two backends busy. A set that holds a
 * record a set in flight holds too waits for that one's transaction, so a
 * record's versions are written in the order of the lines; the committed
 * line is the last line of the sets written with every earlier set.
 *
 * Threads: the connection thread calls everything here; a lane's thread
 * owns its connection and the set handed to it until it is written. What
 * they share (the sets in hand, the first error, the counts, the committed
 * line, the policy cache) is under the writer's mutex.
 */
#ifndef CF_REMINDERS_MIS_BATCH_WRITE_H
#define CF_REMINDERS_MIS_BATCH_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "mis.h"
#include "plan.h"
#include "reminders.h"

#include "common/netconf.h"
#include "common/hash.h"

#define BATCH_LINES 1000    /* records a transaction */
#define BATCH_WRITERS_MAX 2 /* lanes an import */
#define BATCH_POOL_LEFT 2   /* pooled connections a second lane leaves free */
#define M_BATCH_LINES "clinicflow_reminders_batch_lines_total"
#define M_BATCH_REWRITTEN "clinicflow_reminders_batch_rewritten_total"

enum batch_result { BATCH_CREATED, BATCH_UPDATED, BATCH_UNCHANGED, BATCH_STALE, BATCH_RESULTS };
extern const char *const batch_result_names[BATCH_RESULTS];
extern const char *const batch_kind_names[2]; /* by enum mis_kind */

/* A good line waiting for its transaction. */
struct batch_row {
    size_t lineno;
    char id[CF_UUID_STR_LEN + 1];
    char mis_id[MIS_ID_MAX + 1];
    char patient_id[CF_UUID_STR_LEN + 1]; /* an appointment's patient (batch_row_prepare) */
    int64_t version;
    json_t *record;    /* as mis_rules.c stores it */
    char *record_text; /* its compact JSON (batch_row_prepare) */
    char *event;       /* its event should nothing be replaced (batch_row_prepare) */
    int found;         /* a stored row */
    int erased;        /* a stored patient erased */
    json_t *previous;  /* a stored appointment replaced: its record */
    int write;         /* newer than what is stored */
    enum batch_result result;
};

/* The rows of one transaction, by kind. */
struct batch_rows {
    struct batch_row *rows[2];
    size_t n[2];
    json_t *j_ids;    /* our ids in the set -> their row index */
    size_t last_line; /* every line up to it is in this set or an earlier one, or refused */
    uint64_t seq;     /* handed over as the seq-th set of the import */
};

struct batch_writer;

/* Makes what of r can be made before its transaction (on the connection
 * thread, so the writer's thread mostly sends): an appointment's patient
 * id, its record's text, and its event as it reads when the record
 * replaces nothing (the writer builds the event again for an appointment
 * that replaces a stored one). */
void batch_row_prepare(const struct cf_network *net, enum mis_kind k, struct batch_row *r);

/* Starts the writer of an import of net on conn (the import's, used by
 * the first lane alone from now on), with a second lane on a pooled
 * connection of its own when ctx's settings ask for two and the pool has
 * one to spare (BATCH_POOL_LEFT). NULL when no thread can be started. */
struct batch_writer *batch_writer_start(struct reminders_ctx *ctx, const struct cf_network *net,
                                        PGconn *conn);
/* The set the connection thread fills. */
struct batch_rows *batch_writer_rows(struct batch_writer *w);
/* Hands the set being filled to a lane (when it holds rows; every line up
 * to last_line is then in it or refused) once one is free and no set in
 * flight holds one of its records, and gives a free set to fill. 0, or the error that stopped
 * the writer (a set is handed over only while none failed). */
int batch_writer_hand_over(struct batch_writer *w, size_t last_line);
/* Waits until every set handed over is written. 0 or the writer's error. */
int batch_writer_drain(struct batch_writer *w);
/* What is written so far: every line up to *committed is committed or
 * refused; counts by kind and result are added to counts. */
void batch_writer_progress(struct batch_writer *w, size_t *committed,
                           long counts[2][BATCH_RESULTS]);
/* The reason of the writer's error (after batch_writer_hand_over or
 * batch_writer_drain returned it). */
const char *batch_writer_error(struct batch_writer *w);
/* The reminder policy of a clinic of the import's network, built once an
 * import; NULL with the reason when it cannot be built. Either thread. */
const struct plan_policy *batch_writer_policy(struct batch_writer *w, const char *clinic_id,
                                              char *errbuf, size_t errbuf_size);
/* How many lanes the import writes with (1 or 2). */
int batch_writer_count(const struct batch_writer *w);
/* Lets the lanes finish the sets in hand, joins them, gives the second
 * lane's connection back, frees everything. */
void batch_writer_stop(struct batch_writer *w);

#endif
