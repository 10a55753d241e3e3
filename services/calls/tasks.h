/*
 * The callbacks' files and what they share: tasks.c (the consumer of
 * calls.v1, message by message), tasks_batch.c (the same for a batch at
 * once), task_store.c (the statements on the task tables), sweeper.c (the
 * worker expiring lost tasks and relaying calls.outbox, holding expiry
 * until the fold has come that far: common/fold_progress.h) and
 * staff_legs.c (staff legs that never reported). The decisions themselves
 * are in task_rules.h. Not used outside these files.
 */
#ifndef CF_CALLS_TASKS_H
#define CF_CALLS_TASKS_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "calls.h"
#include "common/hash.h"
#include "common/outbox.h"
#include "task_rules.h"

/* tasks.c: the callbacks consumer, message by message (the careful
 * path, and the batch's messages it cannot decide at once). */

/* Adds the task event clinicflow.task.<verb> about j_task to out, keyed by
 * the task id (calls_task_event has its id). */
void calls_tasks_emit(struct cf_outbox *out, const char *id_base, const char *verb,
                      const json_t *j_task, const char *network_id, int64_t time_ms);
/* Applies ev (classified as input, not CALLS_TASK_IGNORE) with its
 * contact locked and no sweeper event about it staged. */
int calls_tasks_apply_locked(struct calls_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                             enum calls_task_input input, struct cf_outbox *out, char *errbuf,
                             size_t errbuf_size);
/* Closes j_task (open, locked) with the call call_id answered at
 * answered_ms, at or after the task opened; missed calls of the task that
 * came after it go to a task of their own (those answered since leave it
 * for none). The events' ids come from id_base. */
int calls_tasks_close_with_callback(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                                    const char *contact_key, json_t *j_task, const char *call_id,
                                    int64_t answered_ms, const char *id_base, struct cf_outbox *out,
                                    char *errbuf, size_t errbuf_size);

/* Settles the open task j_task whose lost time has passed, as the sweeper
 * does and a miss after that time must first (add_missed): closed by a
 * callback the store holds within its window (*closed = 1), else expired,
 * dated at its lost time. The events' ids come from the task id, so
 * whichever settles it, they are the same. */
int calls_tasks_settle_lost(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                            const char *contact_key, json_t *j_task, struct cf_outbox *out,
                            int *closed, char *errbuf, size_t errbuf_size);

/* task_store.c: the task store. All run on conn inside the caller's
 * transaction. A contact in a batch's arrays is {"n": network, "k":
 * contact key}; sets are objects keyed by calls_contact_lock_key or call
 * id. */

/* The row calls_tasks_save_many writes for j_task (new ref). */
json_t *calls_tasks_row(const char *network_id, const char *contact_key, const json_t *j_task);
/* Inserts or replaces the task rows (calls_tasks_row's), in one statement. */
int calls_tasks_save_many(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);
/* An erased patient's tasks, by contacts (as calls_store_erase's), those
 * whose every call is the patient's (CALLS_ERASED_CALL_SQL): their
 * documents lose the contact (the number to call back). Before the calls
 * are erased, which takes their patient id. */
int calls_tasks_erase(PGconn *conn, const char *patient_id, const json_t *contacts, char *errbuf,
                      size_t errbuf_size);
/* Inserts or replaces the task row from its document. */
int calls_tasks_save(PGconn *conn, const char *network_id, const char *contact_key,
                     const json_t *j_task, char *errbuf, size_t errbuf_size);
/* The open task of the contact, locked (FOR UPDATE), or NULL in *out. */
int calls_tasks_load_open(PGconn *conn, const char *network_id, const char *contact_key,
                          json_t **out, char *errbuf, size_t errbuf_size);
/* SQL: whether the finished task t (calls.tasks) was still waiting for a
 * miss that started at started and ended at ended (timestamptz
 * expressions; lost_s its lost-after seconds): a closed task until its
 * callback (a miss that started after it is not the task's, as
 * take_later_misses has it), an expired one until its lost time. */
#define CALLS_TASKS_REACHES_SQL(started, ended, lost_s)                                            \
    "((t.closed_at IS NOT NULL AND t.closed_at >= " started ") OR (t.closed_at IS NULL AND"        \
    " t.opened_at + make_interval(secs => " lost_s ") >= " ended "))"
/* The contact's earliest finished task (closed or expired, locked) still
 * waiting for a miss that started at started_ms and ended at ended_ms
 * (CALLS_TASKS_REACHES_SQL), or NULL in *out: the task such a miss, told
 * after the task finished, belonged to (or the first it may belong to). */
int calls_tasks_load_finished(PGconn *conn, const char *network_id, const char *contact_key,
                              int64_t started_ms, int64_t ended_ms, long lost_after_s, json_t **out,
                              char *errbuf, size_t errbuf_size);
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
/* CF_EWAIT while the sweeper has events about the contact's (contacts')
 * tasks staged and not yet produced. */
int calls_tasks_wait_for_staged_one(PGconn *conn, const char *network_id, const char *contact_key,
                                    char *errbuf, size_t errbuf_size);
int calls_tasks_wait_for_staged(PGconn *conn, const json_t *contacts, char *errbuf,
                                size_t errbuf_size);
/* The fold emits a call's events before it commits the call, and the
 * rules read other calls from the call store (a callback seen before the
 * miss it settles): an event is applied only once the call store holds
 * its call with at least the facts the event reports. CF_EWAIT until then
 * for calls, rows {"c": call id, "f": facts}. calls_tasks_fold_wanted
 * gives an event's row (new ref), or NULL for a message produced more
 * than ten minutes ago (task_store.c's CALLS_TASKS_FOLD_WAIT_MS): one the
 * fold never committed in that time (a call since removed by retention,
 * read again) does not hold the callbacks up. */
int calls_tasks_wait_for_fold(PGconn *conn, const json_t *calls, char *errbuf, size_t errbuf_size);
json_t *calls_tasks_fold_wanted(const struct cf_event *ev, const rd_kafka_message_t *rkm,
                                int64_t now_ms);

/* The batch's statements: the contacts' locks (lock keys, sorted: taken in
 * that order), which contacts ({"n", "k", "s" and "t": their batch's
 * earliest miss start and end in ms, when they have one; "l": the
 * lost-after seconds}) have an
 * open task, or a finished one a miss of theirs may belong to
 * (calls_tasks_load_finished's), into the set open: their messages go one
 * by one;
 * which calls a task already counts (into linked), the first callback for
 * each wanted row {"i", "n", "k", "f", "u"} (from/until as RFC 3339) into
 * found[i] = {"call_id", "answered_ms"}, and task_calls rows {"task_id",
 * "call_id"} added. */
int calls_tasks_lock_contacts(PGconn *conn, const json_t *lock_keys, char *errbuf,
                              size_t errbuf_size);
int calls_tasks_open_contacts(PGconn *conn, const json_t *contacts, json_t *open, char *errbuf,
                              size_t errbuf_size);
int calls_tasks_calls_linked(PGconn *conn, const json_t *call_ids, json_t *linked, char *errbuf,
                             size_t errbuf_size);
int calls_tasks_find_callbacks(PGconn *conn, const json_t *wanted, json_t *found, char *errbuf,
                               size_t errbuf_size);
int calls_tasks_link_many(PGconn *conn, const json_t *links, char *errbuf, size_t errbuf_size);

/* staff_legs.c: reports the staff legs still unreported after
 * CLINICFLOW_CALLS_STAFF_LEG_WAIT_S as missed (through calls.raw).
 * Returns how many, or a negative error. Blocks on Kafka per fact. */
int calls_staff_legs_report(struct calls_ctx *ctx, PGconn *conn, char *errbuf, size_t errbuf_size);

#endif
