/*
 * The callback task store: every statement on calls.tasks, calls.task_calls
 * and the staged sweeper events (calls.outbox) that the callbacks consumer
 * (tasks.c, tasks_batch.c) and the sweeper (sweeper.c) share, each for one
 * task or contact and, for the batch apply, for a batch's rows at once (one
 * JSON array parameter, one statement whatever the batch's size). All run on
 * conn inside the caller's transaction.
 */
#include "tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/pg.h"

/* how long a tasks event waits for the fold's commit (tasks.h) */
#define CALLS_TASKS_FOLD_WAIT_MS (10 * 60 * 1000)

/* The callback look-up's FROM: calls of network n with contact k answered
 * by a person (not a staff leg still unreported) from `from` to `until`,
 * the first of them. */
#define CALLS_TASKS_CALLBACK_SQL(n, k, from, until)                                                \
    "calls.calls WHERE network_id = " n " AND contact_key = " k " AND answered_at >= " from        \
    " AND answered_at <= " until " AND outcome = 'answered' AND NOT doc ? 'agent_pending'"         \
    " ORDER BY answered_at LIMIT 1"

json_t *calls_tasks_row(const char *network_id, const char *contact_key, const json_t *j_task)
{
    static const char *const copied[] = {"task_id", "clinic_id", "status",       "opened_at",
                                         "due_at",  "closed_at", "missed_calls", NULL};
    json_t *j_row = json_pack("{s:s, s:s, s:O}", "network_id", network_id, "contact_key",
                              contact_key, "doc", j_task);
    for (const char *const *k = copied; *k; k++) {
        json_t *v = json_object_get(j_task, *k);
        json_object_set_new(j_row, *k, v ? json_incref(v) : json_null());
    }
    return j_row;
}

int calls_tasks_erase(PGconn *conn, const char *patient_id, const json_t *contacts, char *errbuf,
                      size_t errbuf_size)
{
    char *contacts_text = cf_json_dumps(contacts);
    const char *params[] = {contacts_text, patient_id};
    /* a task calling back a call that is not the erased patient's
     * (CALLS_ERASED_CALL_SQL: another patient's, or a stranger's on a
     * number the patient gave up) is not the patient's */
    int rc = cf_pg_exec(
        conn,
        "UPDATE calls.tasks t SET doc = t.doc - 'contact'"
        " FROM " CF_PATIENTS_ERASED_KEYS_SQL " AS q"
        " WHERE t.network_id = q.n AND t.contact_key = q.k AND t.doc ? 'contact'"
        " AND NOT EXISTS (SELECT 1 FROM calls.task_calls tc JOIN calls.calls c USING (call_id)"
        " WHERE tc.task_id = t.task_id AND NOT " CALLS_ERASED_CALL_SQL("c", "q") ")",
        2, params, NULL, errbuf, errbuf_size);
    free(contacts_text);
    return rc;
}

int calls_tasks_save_many(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(rows) == 0)
        return 0;
    return cf_pg_exec_json(
        conn,
        "INSERT INTO calls.tasks (task_id, network_id, clinic_id, contact_key, status,"
        " opened_at, due_at, closed_at, missed_calls, doc)"
        " SELECT task_id, network_id, clinic_id, contact_key, status, opened_at, due_at,"
        " closed_at, missed_calls, doc FROM jsonb_to_recordset($1::jsonb) AS r(task_id uuid,"
        " network_id text, clinic_id text, contact_key text, status text,"
        " opened_at timestamptz, due_at timestamptz, closed_at timestamptz,"
        " missed_calls integer, doc jsonb) ORDER BY task_id"
        " ON CONFLICT (task_id) DO UPDATE SET status = EXCLUDED.status,"
        " opened_at = EXCLUDED.opened_at, due_at = EXCLUDED.due_at,"
        " closed_at = EXCLUDED.closed_at, missed_calls = EXCLUDED.missed_calls,"
        " doc = EXCLUDED.doc, updated_at = now()",
        rows, NULL, errbuf, errbuf_size);
}

int calls_tasks_save(PGconn *conn, const char *network_id, const char *contact_key,
                     const json_t *j_task, char *errbuf, size_t errbuf_size)
{
    json_t *j_rows = json_array();
    json_array_append_new(j_rows, calls_tasks_row(network_id, contact_key, j_task));
    int rc = calls_tasks_save_many(conn, j_rows, errbuf, errbuf_size);
    json_decref(j_rows);
    return rc;
}

/* The open task of the contact (FOR UPDATE), or NULL. */
int calls_tasks_load_open(PGconn *conn, const char *network_id, const char *contact_key,
                          json_t **out, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    const char *params[] = {network_id, contact_key};
    json_error_t jerr;

    *out = NULL;
    int rc =
        cf_pg_exec(conn,
                   "SELECT doc::text FROM calls.tasks WHERE network_id = $1 AND contact_key = $2"
                   " AND status = 'open' FOR UPDATE",
                   2, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0)
        *out = cf_json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    return rc;
}

/* clang-format off */
#define LOAD_FINISHED_SQL                                                                          \
    "SELECT t.doc::text FROM calls.tasks t WHERE t.network_id = $1 AND t.contact_key = $2"       \
    " AND t.status <> 'open' AND "                                                                 \
    CALLS_TASKS_REACHES_SQL("$3::timestamptz", "$4::timestamptz", "$5::bigint")                  \
    " ORDER BY t.opened_at, t.task_id LIMIT 1 FOR UPDATE"
/* clang-format on */

int calls_tasks_load_finished(PGconn *conn, const char *network_id, const char *contact_key,
                              int64_t started_ms, int64_t ended_ms, long lost_after_s, json_t **out,
                              char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    char started[32], ended[32], lost[24];
    json_error_t jerr;
    cf_time_format(started_ms, started);
    cf_time_format(ended_ms, ended);
    snprintf(lost, sizeof(lost), "%ld", lost_after_s);
    const char *params[] = {network_id, contact_key, started, ended, lost};

    *out = NULL;
    int rc = cf_pg_exec(conn, LOAD_FINISHED_SQL, 5, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0)
        *out = cf_json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    return rc;
}

int calls_tasks_find_callback(PGconn *conn, const char *network_id, const char *contact_key,
                              int64_t from_ms, int64_t until_ms, char call_id[CF_UUID_STR_LEN + 1],
                              int64_t *answered_ms, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    char from[32], until[32];
    cf_time_format(from_ms, from);
    cf_time_format(until_ms, until);
    const char *params[] = {network_id, contact_key, from, until};
    int rc = cf_pg_exec(
        conn,
        "SELECT call_id::text, (extract(epoch FROM answered_at) * 1000)::bigint"
        " FROM " CALLS_TASKS_CALLBACK_SQL("$1", "$2", "$3::timestamptz", "$4::timestamptz"),
        4, params, &res, errbuf, errbuf_size);
    call_id[0] = '\0';
    if (rc == 0 && PQntuples(res) > 0) {
        snprintf(call_id, CF_UUID_STR_LEN + 1, "%s", PQgetvalue(res, 0, 0));
        *answered_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return rc;
}

int calls_tasks_lock_contact(PGconn *conn, const char *network_id, const char *contact_key, int try,
                             int *taken, char *errbuf, size_t errbuf_size)
{
    char *lock_key = calls_contact_lock_key(network_id, contact_key);
    PGresult *res = NULL;
    const char *params[] = {lock_key};
    int rc = cf_pg_exec(conn,
                        try ? "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))"
                            : "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        1, params, &res, errbuf, errbuf_size);
    if (taken)
        *taken = rc == 0 && (!try || strcmp(PQgetvalue(res, 0, 0), "t") == 0);
    PQclear(res);
    free(lock_key);
    return rc;
}

/* Events the sweeper staged about the contacts' tasks go out first: the
 * consumer's own events about those tasks would otherwise overtake them
 * (a task.updated before the task.opened of a task the sweeper opened).
 * While any are staged, the messages wait (retried after a back-off); the
 * relay produces them right after the sweeper's commit. A row staged more
 * than 10 minutes ago no longer holds the consumer up: whatever keeps it
 * (clinicflow_calls_outbox_pending) should not stop the callbacks too. */
int calls_tasks_wait_for_staged(PGconn *conn, const json_t *contacts, char *errbuf,
                                size_t errbuf_size)
{
    PGresult *res = NULL;

    if (json_array_size(contacts) == 0)
        return 0;
    int rc = cf_pg_exec_json(
        conn,
        /* keys are task ids; the CASE keeps any other key from failing the cast */
        "SELECT 1 FROM calls.outbox o JOIN calls.tasks t ON t.task_id ="
        " CASE WHEN o.key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"
        " THEN o.key::uuid END"
        " JOIN jsonb_to_recordset($1::jsonb) AS q(n text, k text)"
        " ON t.network_id = q.n AND t.contact_key = q.k"
        " WHERE o.staged_at > now() - interval '10 minutes' LIMIT 1",
        contacts, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0) {
        cf_seterr(errbuf, errbuf_size,
                  "the sweeper's events about this contact's tasks are not produced yet");
        rc = CF_EWAIT;
    }
    PQclear(res);
    return rc;
}

int calls_tasks_wait_for_staged_one(PGconn *conn, const char *network_id, const char *contact_key,
                                    char *errbuf, size_t errbuf_size)
{
    json_t *j_contacts = json_pack("[{s:s, s:s}]", "n", network_id, "k", contact_key);
    int rc = calls_tasks_wait_for_staged(conn, j_contacts, errbuf, errbuf_size);
    json_decref(j_contacts);
    return rc;
}

int calls_tasks_wait_for_fold(PGconn *conn, const json_t *calls, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;

    if (json_array_size(calls) == 0)
        return 0;
    int rc =
        cf_pg_exec_json(conn,
                        "SELECT q.c::text FROM jsonb_to_recordset($1::jsonb) AS q(c uuid, f int)"
                        " LEFT JOIN calls.calls c ON c.call_id = q.c"
                        " WHERE c.call_id IS NULL OR c.facts < q.f LIMIT 1",
                        calls, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0) {
        snprintf(errbuf, errbuf_size,
                 "the fold has not committed call %s as its event reports it yet",
                 PQgetvalue(res, 0, 0));
        rc = CF_EWAIT;
    }
    PQclear(res);
    return rc;
}

json_t *calls_tasks_fold_wanted(const struct cf_event *ev, const rd_kafka_message_t *rkm,
                                int64_t now_ms)
{
    rd_kafka_timestamp_type_t tstype;
    const int64_t produced = rkm ? rd_kafka_message_timestamp(rkm, &tstype) : -1;

    if (produced < 0 || now_ms - produced > CALLS_TASKS_FOLD_WAIT_MS)
        return NULL;
    return json_pack("{s:s, s:I}", "c", json_string_value(json_object_get(ev->data, "call_id")),
                     "f", (json_int_t)json_integer_value(json_object_get(ev->data, "facts")));
}

/* ------------------------------------------------------------------------ */
/* A batch's rows at once (tasks_batch.c)                                     */
/* ------------------------------------------------------------------------ */

int calls_tasks_lock_contacts(PGconn *conn, const json_t *lock_keys, char *errbuf,
                              size_t errbuf_size)
{
    if (json_array_size(lock_keys) == 0)
        return 0;
    /* in the array's order (sorted by the caller): any two batches take
     * their common contacts in the same order */
    return cf_pg_exec_json(conn,
                           "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))"
                           " FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS a(k, i)"
                           " ORDER BY i",
                           lock_keys, NULL, errbuf, errbuf_size);
}

/* Runs sql with the JSON parameter param; the first column of each row it
 * returns joins the set (an object of keys). */
static int rows_into_set(PGconn *conn, const char *sql, const json_t *param, json_t *set,
                         char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;

    if (json_array_size(param) == 0)
        return 0;
    int rc = cf_pg_exec_json(conn, sql, param, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        json_object_set_new(set, PQgetvalue(res, i, 0), json_true());
    PQclear(res);
    return rc;
}

/* clang-format off */
#define OPEN_CONTACTS_SQL                                                                          \
    "SELECT " CALLS_CONTACT_LOCK_KEY_SQL("t.network_id", "t.contact_key") " FROM calls.tasks t"  \
    " JOIN jsonb_to_recordset($1::jsonb) AS q(n text, k text, s bigint, t bigint, l bigint)"      \
    " ON t.network_id = q.n AND t.contact_key = q.k WHERE t.status = 'open' OR "                  \
    CALLS_TASKS_REACHES_SQL("to_timestamp(q.s / 1000.0)", "to_timestamp(q.t / 1000.0)", "q.l")
/* clang-format on */

int calls_tasks_open_contacts(PGconn *conn, const json_t *contacts, json_t *open, char *errbuf,
                              size_t errbuf_size)
{
    return rows_into_set(conn, OPEN_CONTACTS_SQL, contacts, open, errbuf, errbuf_size);
}

int calls_tasks_calls_linked(PGconn *conn, const json_t *call_ids, json_t *linked, char *errbuf,
                             size_t errbuf_size)
{
    return rows_into_set(conn,
                         "SELECT DISTINCT call_id::text FROM calls.task_calls"
                         " WHERE call_id = ANY (ARRAY(SELECT"
                         " jsonb_array_elements_text($1::jsonb)::uuid))",
                         call_ids, linked, errbuf, errbuf_size);
}

int calls_tasks_find_callbacks(PGconn *conn, const json_t *wanted, json_t *found, char *errbuf,
                               size_t errbuf_size)
{
    PGresult *res = NULL;

    if (json_array_size(wanted) == 0)
        return 0;
    int rc = cf_pg_exec_json(
        conn,
        "SELECT q.i, c.call_id::text, (extract(epoch FROM c.answered_at) * 1000)::bigint"
        " FROM jsonb_to_recordset($1::jsonb) AS q(i text, n text, k text, f timestamptz,"
        " u timestamptz) CROSS JOIN LATERAL (SELECT call_id, answered_at"
        " FROM " CALLS_TASKS_CALLBACK_SQL("q.n", "q.k", "q.f", "q.u") ") AS c",
        wanted, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        json_object_set_new(found, PQgetvalue(res, i, 0),
                            json_pack("{s:s, s:I}", "call_id", PQgetvalue(res, i, 1), "answered_ms",
                                      (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10)));
    PQclear(res);
    return rc;
}

int calls_tasks_link_many(PGconn *conn, const json_t *links, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(links) == 0)
        return 0;
    return cf_pg_exec_json(conn,
                           "INSERT INTO calls.task_calls (task_id, call_id)"
                           " SELECT task_id, call_id FROM jsonb_to_recordset($1::jsonb)"
                           " AS r(task_id uuid, call_id uuid) ORDER BY task_id, call_id",
                           links, NULL, errbuf, errbuf_size);
}
