/*
 * The callbacks' files and what they share: tasks.c (the consumer of
 * calls.v1, and the task store it reads and writes), sweeper.c (the
 * worker expiring lost tasks and relaying calls.outbox), fold_progress.c
 * (how far the fold has come, so that expiry waits for it) and
 * staff_legs.c (staff legs that never reported). The decisions themselves
 * are in task_rules.h. Not used outside these files.
 */
#ifndef CF_CALLS_TASKS_H
#define CF_CALLS_TASKS_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "calls.h"
#include "common/hash.h"
#include "common/outbox.h"

/* tasks.c: the task store and the steps the sweeper shares with the
 * consumer. All run on conn inside the caller's transaction. */

/* Adds the task event clinicflow.task.<verb> about j_task to out, keyed by
 * the task id (calls_task_event has its id). */
void calls_tasks_emit(struct cf_outbox *out, const char *id_base, const char *verb,
                      const json_t *j_task, const char *network_id, int64_t time_ms);
/* Inserts or replaces the task row from its document. */
int calls_tasks_save(PGconn *conn, const char *network_id, const char *contact_key,
                     const json_t *j_task, char *errbuf, size_t errbuf_size);
/* The first call with the contact answered by a person from from_ms to
 * until_ms that the call store holds: call_id ("" if none) and
 * *answered_ms. */
int calls_tasks_find_callback(PGconn *conn, const char *network_id, const char *contact_key,
                              int64_t from_ms, int64_t until_ms, char call_id[CF_UUID_STR_LEN + 1],
                              int64_t *answered_ms, char *errbuf, size_t errbuf_size);
/* Work on one contact is serialized by a transaction-scoped advisory lock:
 * waits for it, or with try set only takes it if free (*taken says). */
int calls_tasks_lock_contact(PGconn *conn, const char *network_id, const char *contact_key, int try,
                             int *taken, char *errbuf, size_t errbuf_size);
/* Closes j_task (open, locked) with the call call_id answered at
 * answered_ms, at or after the task opened; missed calls of the task that
 * came after it go to a task of their own. The events' ids come from
 * id_base. */
int calls_tasks_close_with_callback(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                                    const char *contact_key, json_t *j_task, const char *call_id,
                                    int64_t answered_ms, const char *id_base, struct cf_outbox *out,
                                    char *errbuf, size_t errbuf_size);

/* fold_progress.c: how far the fold has come, on the sweeper's thread
 * only. */
struct calls_fold_progress;
struct calls_fold_progress *calls_fold_progress_new(void);
void calls_fold_progress_free(struct calls_fold_progress *fp);
/* Samples the high watermarks of calls.raw (may wait on Kafka up to 1 s
 * per try: call it before a connection is held). */
void calls_fold_progress_sample(struct calls_ctx *ctx, struct calls_fold_progress *fp);
/* The horizon: the time of the newest sample the fold's stored offsets
 * have reached in every partition, in ms, or -1 when none yet. */
int64_t calls_fold_progress_horizon(struct calls_fold_progress *fp, PGconn *conn);

/* staff_legs.c: reports the staff legs still unreported after
 * CLINICFLOW_CALLS_STAFF_LEG_WAIT_S as missed (through calls.raw).
 * Returns how many, or a negative error. Blocks on Kafka per fact. */
int calls_staff_legs_report(struct calls_ctx *ctx, PGconn *conn, char *errbuf, size_t errbuf_size);

#endif
