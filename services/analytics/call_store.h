/*
 * Every statement on analytics' fact tables and the calls' rollup. Rows
 * are JSON objects whose members are the columns (call_facts_testable.h); each
 * function is one statement over a whole batch, inside the caller's
 * transaction. 0, or the cf_pg_exec code with the reason in errbuf.
 */
#ifndef CF_ANALYTICS_CALL_STORE_H
#define CF_ANALYTICS_CALL_STORE_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

/* The stored rows of the calls call_ids (an array of ids), locked for the
 * transaction, into stored (call id -> row). */
int an_calls_stored(PGconn *conn, const json_t *call_ids, json_t *stored, char *errbuf,
                    size_t errbuf_size);

/* Inserts or replaces the calls rows. */
int an_calls_save(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);

/* Takes, in one sorted round, a lock on each call of call_ids (an array
 * of ids) held to the commit. A callback task copies its first missed
 * call's dimensions (an_tasks_save), and a call moves them on its tasks
 * (an_tasks_follow_calls): whichever of the two transactions takes the
 * call's lock second sees what the first committed, so a task and its
 * call arriving together on two runners never leave the copy behind. A
 * batch takes all its locks in this one round, before any other lock of
 * its own. */
int an_call_locks(PGconn *conn, const json_t *call_ids, char *errbuf, size_t errbuf_size);

/* The calls rows (call rows with their missed count) onto the tasks whose
 * first missed call they are: the call's dimensions as it is now, missed
 * or answered after all (a task keeps its call as its source). */
int an_tasks_follow_calls(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);

/* Inserts or replaces the tasks rows, each with the dimensions of its
 * first missed call (source_call_id) as stored now (NULL: not stored
 * yet). */
int an_tasks_save(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);

/* Adds the rollup rows (an_rollup_rows: deltas, sorted by key) to
 * calls_hourly, and their sums by network, hour and clinic to
 * calls_clinic_hourly. */
int an_rollup_save(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);

/* The calls' day snapshots of the (network, clinic, local day) the rollup
 * rows touch (an_rollup_rows' rows): for each, {network_id, clinic_id,
 * day, and the day's counts by name} appended to snapshots, as the
 * transaction sees them (its own changes included), each day locked to
 * the commit (another runner's change of the day waits or is counted);
 * and the load of each local hour they touch, {network_id, clinic_id, day,
 * hour (0-23), inbound, answered, missed, inbound_talk_seconds}, appended
 * to hours. */
int an_rollup_days(PGconn *conn, const json_t *rows, json_t *snapshots, json_t *hours, char *errbuf,
                   size_t errbuf_size);

#endif
