/*
 * The response tasks' files and what they share: tasks.c (the fold's lead
 * events become tasks), task_store.c (every statement on leads.tasks),
 * sweeper.c (the worker emitting lead.sla_breached) and call_responses.c
 * (answered calls as responses). The decisions themselves are in task_rules.h. Not used
 * outside these files.
 */
#ifndef CF_LEADS_TASKS_H
#define CF_LEADS_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/hash.h"
#include "leads.h"
#include "task_rules.h"

/* task_store.c: all run on conn inside the caller's transaction. */

/* The row leads_tasks_insert_many inserts for the open task j_task
 * (leads_task_new's) of network_id, with the lead's channel and provider
 * (either may be NULL); erased: its lead was stored erased (the task is
 * given up as it is stored: leads_tasks_take_expiring). New reference. */
json_t *leads_tasks_row(const char *network_id, const json_t *j_task, const char *channel,
                        const char *provider, int erased);

/* Inserts the task rows (leads_tasks_row's) in one statement; inserted (an
 * object) gets task id -> true for each that was new (a lead that already
 * has a task of that kind keeps it: the lead seen again). */
int leads_tasks_insert_many(PGconn *conn, const json_t *rows, json_t *inserted, char *errbuf,
                            size_t errbuf_size);

/* The open tasks of the lead, locked (FOR UPDATE), into *out: an array
 * (new ref) of {"doc": the task, "row": the breach row (the task with the
 * lead's channel and provider), "breached": bool (its breach told, or
 * never to be: its person erased by its due time)}. */
int leads_tasks_load_open(PGconn *conn, const char *lead_id, json_t **out, char *errbuf,
                          size_t errbuf_size);

/* Writes j_task's status, closed_at and document; with breached set, its
 * breach as decided now (breached_at, once). */
int leads_tasks_save(PGconn *conn, const json_t *j_task, int breached, char *errbuf,
                     size_t errbuf_size);

/* The lead with open tasks (open, unanswered), or tasks a status closed
 * at or after at_ms (the call was answered while the lead was open: staff
 * booked it on the call), that holds or has held the contact key
 * contact_key in network_id, received at or before at_ms (the latest if
 * several): lead_id ("" if none). */
int leads_tasks_find_open_lead(PGconn *conn, const char *network_id, const char *contact_key,
                               int64_t at_ms, char lead_id[CF_UUID_STR_LEN + 1], char *errbuf,
                               size_t errbuf_size);

/* *held 1 when a call under way with a contact key the lead lead_id holds
 * or has held was answered in [from_ms, to_ms] (a respond task's opening
 * and due time), and is not another lead's response: the lead is not
 * breached while it is. */
int leads_tasks_call_holds(PGconn *conn, const char *lead_id, int64_t from_ms, int64_t to_ms,
                           int *held, char *errbuf, size_t errbuf_size);

/* The calls under way (leads_call_under_way's) that hold their contact's
 * leads from breaching, in leads.calls_under_way: note records or moves
 * the call (answered at answered_ms), answered says it is lead_id's
 * response (it holds that lead alone then, until the fold has stored the
 * response: the person's other leads were not answered by it), done
 * forgets it (its outcome is known, and nobody's response), and stale
 * forgets calls answered more than LEADS_CALL_UNDER_WAY_MAX_S ago whose
 * end never came. */
#define LEADS_CALL_UNDER_WAY_MAX_S (4 * 3600)
int leads_calls_under_way_note(PGconn *conn, const char *network_id, const char *call_id,
                               const char *contact_key, int64_t answered_ms, char *errbuf,
                               size_t errbuf_size);
int leads_calls_under_way_answered(PGconn *conn, const char *call_id, const char *lead_id,
                                   char *errbuf, size_t errbuf_size);
int leads_calls_under_way_done(PGconn *conn, const char *call_id, char *errbuf, size_t errbuf_size);
int leads_calls_under_way_stale(PGconn *conn, char *errbuf, size_t errbuf_size);

/* The sweeper's: up to limit respond tasks open past their due time at
 * now_ms (the wall clock, or how far the fold has come if less), and up to
 * limit closed past it whose breach the fold held for a call under way,
 * that call over and not answered by a person, locked, skipping those
 * another transaction holds, into *out: an array (new ref) of
 * {"network_id", "row"} (the breach row as leads_tasks_load_open's); and
 * their breach recorded. Held tasks whose call a person answered in time
 * are marked never to be breached (breach_waived_at) first. */
int leads_tasks_take_breached(PGconn *conn, int64_t now_ms, int limit, json_t **out, char *errbuf,
                              size_t errbuf_size);

/* The sweeper's: up to limit tasks (either kind) still open expire_s
 * after they opened, by until_ms (the wall clock, or how far the fold has
 * come if less), oldest first, and up to limit more whose person was
 * erased by until_ms (whatever their age), locked, skipping those another transaction holds,
 * into *out: an array (new ref) of {"network_id", "doc", "erased_ms"
 * (-1: not erased)}. A respond task only once its breach is decided
 * (breached_at), or when its person was erased before its due time
 * (never breached then); none whose lead the fold's record says was
 * answered or closed by the deadline (left open by an earlier version's
 * tasks consumer). */
int leads_tasks_take_expiring(PGconn *conn, int64_t until_ms, long expire_s, int limit,
                              json_t **out, char *errbuf, size_t errbuf_size);

/* Writes expired tasks in one statement: rows is an array of {"doc": the
 * expired task, "expired_at": when (its closed_at column)}. */
int leads_tasks_save_expired_many(PGconn *conn, const json_t *rows, char *errbuf,
                                  size_t errbuf_size);

#endif
