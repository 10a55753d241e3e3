/*
 * The response-task store: every statement on leads.tasks that the fold's
 * tasks (tasks.c), the sweeper (sweeper.c) and the call bridge
 * (call_responses.c) run. A task row keeps the task document as tasks.v1
 * carries it, the columns the look-ups need, and what the breach event
 * needs of the lead (channel, provider). All run on conn inside the
 * caller's transaction.
 */
#include "tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/pg.h"

json_t *leads_tasks_row(const char *network_id, const json_t *j_task, const char *channel,
                        const char *provider, int erased)
{
    json_t *j_row = json_pack("{s:s, s:O, s:s?, s:s?}", "network_id", network_id, "doc", j_task,
                              "channel", channel, "provider", provider);
    if (erased)
        json_object_set_new(j_row, "erased", json_true());
    return j_row;
}

int leads_tasks_insert_many(PGconn *conn, const json_t *rows, json_t *inserted, char *errbuf,
                            size_t errbuf_size)
{
    PGresult *res = NULL;

    if (json_array_size(rows) == 0)
        return 0;
    int rc = cf_pg_exec_json(
        conn,
        "INSERT INTO leads.tasks (task_id, lead_id, kind, network_id, clinic_id, contact_key,"
        " channel, provider, status, opened_at, due_at, doc, erased_at)"
        " SELECT (doc->>'task_id')::uuid, (doc->>'lead_id')::uuid, doc->>'kind', network_id,"
        " doc->>'clinic_id', doc->>'contact_key', channel, provider,"
        " doc->>'status', (doc->>'opened_at')::timestamptz, (doc->>'due_at')::timestamptz, doc,"
        /* a request stored erased: its person was erased before it was
         * stored, so its tasks are given up as they open */
        " CASE WHEN erased THEN (doc->>'opened_at')::timestamptz END"
        " FROM jsonb_to_recordset($1::jsonb) AS r(network_id text, doc jsonb,"
        " channel text, provider text, erased boolean)"
        " ON CONFLICT DO NOTHING RETURNING task_id::text",
        rows, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        json_object_set_new(inserted, PQgetvalue(res, i, 0), json_true());
    PQclear(res);
    return rc;
}

/* The lead's contact key now (its strongest: the phone's once a merge
 * brought one), as the breach event names it; the task keeps the key the
 * lead had when it opened. Column BREACH_LEAD_KEY of the queries below. */
#define LEAD_KEY_NOW "(SELECT l.contact_key FROM leads.leads l WHERE l.lead_id = t.lead_id)"
#define BREACH_LEAD_KEY 4

/* The task document of row i of res (column 0) with the lead's channel
 * and provider (columns 1, 2) and its contact key now (BREACH_LEAD_KEY):
 * the row the breach event is built from. */
static json_t *breach_row(PGresult *res, int i, json_t **doc_out)
{
    json_error_t jerr;
    json_t *j_doc = cf_json_loads(PQgetvalue(res, i, 0), 0, &jerr);
    if (!j_doc)
        return NULL;
    json_t *j_row = json_deep_copy(j_doc);
    for (int c = 1; c <= 2; c++) {
        if (!PQgetisnull(res, i, c))
            json_object_set_new(j_row, c == 1 ? "channel" : "provider",
                                json_string(PQgetvalue(res, i, c)));
    }
    if (!PQgetisnull(res, i, BREACH_LEAD_KEY))
        json_object_set_new(j_row, "contact_key", json_string(PQgetvalue(res, i, BREACH_LEAD_KEY)));
    if (doc_out)
        *doc_out = j_doc;
    else
        json_decref(j_doc);
    return j_row;
}

int leads_tasks_load_open(PGconn *conn, const char *lead_id, json_t **out, char *errbuf,
                          size_t errbuf_size)
{
    PGresult *res = NULL;
    const char *params[] = {lead_id};

    *out = json_array();
    int rc = cf_pg_exec(conn,
                        "SELECT doc::text, channel, provider,"
                        /* its person erased before its due time: no breach
                         * is told of it (leads_tasks_take_breached) */
                        " breached_at IS NOT NULL OR erased_at <= due_at,"
                        " " LEAD_KEY_NOW " FROM leads.tasks t WHERE lead_id = $1"
                        " AND status = 'open' ORDER BY kind DESC FOR UPDATE OF t",
                        1, params, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        json_t *j_doc = NULL;
        json_t *j_row = breach_row(res, i, &j_doc);
        if (!j_row || !leads_task_doc_ok(j_doc)) {
            cf_seterr(errbuf, errbuf_size, "a task of lead %s is not a task document", lead_id);
            json_decref(j_row);
            json_decref(j_doc);
            rc = CF_EINTERNAL;
            break;
        }
        json_array_append_new(*out, json_pack("{s:o, s:o, s:b}", "doc", j_doc, "row", j_row,
                                              "breached", PQgetvalue(res, i, 3)[0] == 't'));
    }
    PQclear(res);
    return rc;
}

int leads_tasks_save(PGconn *conn, const json_t *j_task, int breached, char *errbuf,
                     size_t errbuf_size)
{
    json_t *j_param = json_pack("{s:O, s:b}", "doc", j_task, "breached", breached);
    int rc = cf_pg_exec_json(conn,
                             "UPDATE leads.tasks SET status = $1::jsonb #>> '{doc,status}',"
                             " closed_at = ($1::jsonb #>> '{doc,closed_at}')::timestamptz,"
                             " breached_at = CASE WHEN ($1::jsonb ->> 'breached')::boolean"
                             " THEN coalesce(breached_at, now()) ELSE breached_at END,"
                             " doc = $1::jsonb -> 'doc', updated_at = now()"
                             " WHERE task_id = ($1::jsonb #>> '{doc,task_id}')::uuid",
                             j_param, NULL, errbuf, errbuf_size);
    json_decref(j_param);
    return rc;
}

int leads_tasks_find_open_lead(PGconn *conn, const char *network_id, const char *contact_key,
                               int64_t at_ms, char lead_id[CF_UUID_STR_LEN + 1], char *errbuf,
                               size_t errbuf_size)
{
    PGresult *res = NULL;
    char at[32];
    cf_time_format(at_ms, at);
    const char *params[] = {network_id, contact_key, at};

    lead_id[0] = '\0';
    /* Every key a lead has held is the fold's record (lead_contacts, kept
     * in the transaction that opens or merges into the lead, as the
     * lead's tasks are). Planned each time: through the contacts' index,
     * whatever the tables held when the connection first ran it
     * (common/pg.h). */
    int rc = cf_pg_exec_planned(
        conn,
        "SELECT t.lead_id::text FROM leads.lead_contacts c"
        " JOIN leads.tasks t ON t.lead_id = c.lead_id AND (t.status = 'open'"
        " OR (t.status = 'closed' AND t.doc->>'closed_by' = 'status'"
        " AND t.closed_at >= $3::timestamptz))"
        " WHERE c.network_id = $1 AND c.contact_key = $2 AND t.opened_at <= $3::timestamptz"
        " ORDER BY t.opened_at DESC LIMIT 1",
        3, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0)
        snprintf(lead_id, CF_UUID_STR_LEN + 1, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

int leads_tasks_call_holds(PGconn *conn, const char *lead_id, int64_t from_ms, int64_t to_ms,
                           int *held, char *errbuf, size_t errbuf_size)
{
    char from[32], to[32];
    cf_time_format(from_ms, from);
    cf_time_format(to_ms, to);
    const char *params[] = {lead_id, from, to};

    return cf_pg_exec_any(conn,
                          "SELECT 1 FROM leads.lead_contacts c JOIN leads.calls_under_way w"
                          " ON w.network_id = c.network_id AND w.contact_key = c.contact_key"
                          " WHERE c.lead_id = $1::uuid AND w.answered_at >= $2::timestamptz"
                          " AND w.answered_at <= $3::timestamptz"
                          " AND (w.lead_id IS NULL OR w.lead_id = $1::uuid) LIMIT 1",
                          3, params, held, errbuf, errbuf_size);
}

int leads_calls_under_way_note(PGconn *conn, const char *network_id, const char *call_id,
                               const char *contact_key, int64_t answered_ms, char *errbuf,
                               size_t errbuf_size)
{
    char at[32];
    cf_time_format(answered_ms, at);
    const char *params[] = {call_id, network_id, contact_key, at};

    return cf_pg_exec(conn,
                      "INSERT INTO leads.calls_under_way (call_id, network_id, contact_key,"
                      " answered_at) VALUES ($1::uuid, $2, $3, $4::timestamptz)"
                      " ON CONFLICT (call_id) DO UPDATE SET contact_key = EXCLUDED.contact_key,"
                      " answered_at = EXCLUDED.answered_at",
                      4, params, NULL, errbuf, errbuf_size);
}

int leads_calls_under_way_answered(PGconn *conn, const char *call_id, const char *lead_id,
                                   char *errbuf, size_t errbuf_size)
{
    const char *params[] = {call_id, lead_id};

    return cf_pg_exec(conn,
                      "UPDATE leads.calls_under_way SET lead_id = $2::uuid"
                      " WHERE call_id = $1::uuid",
                      2, params, NULL, errbuf, errbuf_size);
}

int leads_calls_under_way_done(PGconn *conn, const char *call_id, char *errbuf, size_t errbuf_size)
{
    const char *params[] = {call_id};

    return cf_pg_exec(conn, "DELETE FROM leads.calls_under_way WHERE call_id = $1::uuid", 1, params,
                      NULL, errbuf, errbuf_size);
}

int leads_calls_under_way_stale(PGconn *conn, char *errbuf, size_t errbuf_size)
{
    char max_s[16];
    snprintf(max_s, sizeof(max_s), "%d", LEADS_CALL_UNDER_WAY_MAX_S);
    const char *params[] = {max_s};

    return cf_pg_exec(conn,
                      "DELETE FROM leads.calls_under_way"
                      " WHERE answered_at < now() - make_interval(secs => $1::int)",
                      1, params, NULL, errbuf, errbuf_size);
}

/* A respond task d not answered in time: neither answered nor closed by
 * its due time by the fold's record (the fold closes a lead's tasks in the
 * same transaction, but a version that left them to a consumer of their
 * own may have stopped before it closed them), nor held by a call with the
 * lead's contact answered in time and under way (whether a person
 * answered it is told at its end: a voicemail answers the line too). */
#define UNANSWERED_IN_TIME                                                                         \
    " AND NOT EXISTS (SELECT 1 FROM leads.leads l WHERE l.lead_id = d.lead_id"                     \
    " AND (l.responded_at <= d.due_at OR l.closed_at <= d.due_at))"                                \
    " AND NOT EXISTS (SELECT 1 FROM leads.lead_contacts c"                                         \
    " JOIN leads.calls_under_way w ON w.network_id = c.network_id"                                 \
    " AND w.contact_key = c.contact_key WHERE c.lead_id = d.lead_id"                               \
    " AND w.answered_at >= d.opened_at AND w.answered_at <= d.due_at"                              \
    " AND (w.lead_id IS NULL OR w.lead_id = d.lead_id))"

/* A respond task d closed past its due time (by $1) whose breach a call
 * under way held (tasks.c), that call over now, not breached yet nor
 * decided unbreached. */
#define HELD_BREACH                                                                                \
    " d.kind = 'respond' AND d.status = 'closed' AND d.breached_at IS NULL"                        \
    " AND d.breach_waived_at IS NULL AND d.closed_at > d.due_at AND d.due_at <= $1::timestamptz"   \
    " AND (d.erased_at IS NULL OR d.erased_at > d.due_at)" UNANSWERED_IN_TIME

/* A person answered a call with task d's lead's contact in time
 * (answered_calls.h keeps it for a day). */
#define CALL_ANSWERED_IN_TIME                                                                      \
    " EXISTS (SELECT 1 FROM leads.answered_calls a"                                                \
    " JOIN leads.lead_contacts c ON c.network_id = a.network_id"                                   \
    " AND c.contact_key = a.contact_key WHERE c.lead_id = d.lead_id"                               \
    " AND a.answered_at >= d.opened_at AND a.answered_at <= d.due_at)"

int leads_tasks_take_breached(PGconn *conn, int64_t now_ms, int limit, json_t **out, char *errbuf,
                              size_t errbuf_size)
{
    PGresult *res = NULL;
    char now[32], slimit[16];
    cf_time_format(now_ms, now);
    snprintf(slimit, sizeof(slimit), "%d", limit);
    const char *params[] = {now, slimit};

    /* A held task whose call a person answered in time is never breached:
     * decided on the task now, while the answered call that says so is
     * kept (a day; once it is gone the task would read as held by a
     * voicemail, and be breached a day late). */
    *out = json_array();
    int rc = cf_pg_exec(conn,
                        "UPDATE leads.tasks t SET breach_waived_at = now(), updated_at = now()"
                        " FROM (SELECT d.task_id FROM leads.tasks d WHERE" HELD_BREACH
                        " AND" CALL_ANSWERED_IN_TIME
                        " ORDER BY d.due_at LIMIT $2::int FOR UPDATE OF d SKIP LOCKED) AS w"
                        " WHERE t.task_id = w.task_id",
                        2, params, NULL, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    /* one statement: the rows are locked (those another sweeper or the
     * fold holds are skipped) and marked in the caller's transaction,
     * which also stages their events */
    rc = cf_pg_exec(conn,
                    "WITH due AS (SELECT d.task_id FROM leads.tasks d WHERE d.kind = 'respond'"
                    " AND d.status = 'open' AND d.breached_at IS NULL"
                    " AND d.due_at <= $1::timestamptz"
                    /* its person erased before the due time: nobody could
                     * answer it since (given up: leads_tasks_take_expiring) */
                    " AND (d.erased_at IS NULL OR d.erased_at > d.due_at)" UNANSWERED_IN_TIME
                    " ORDER BY d.due_at LIMIT $2::int FOR UPDATE OF d SKIP LOCKED),"
                    /* closed past the due time while a call answered in
                     * time was under way (tasks.c holds the breach then):
                     * breached once that call is over and was nobody's
                     * response (a voicemail), or forgotten as stale; not
                     * when a person answered a call with the lead's contact
                     * in time (answered_calls.h keeps it), though the lead
                     * took a later response first (a staff reply in the
                     * chat while the call was on) */
                    " held AS (SELECT d.task_id FROM leads.tasks d WHERE" HELD_BREACH
                    " AND NOT" CALL_ANSWERED_IN_TIME
                    " ORDER BY d.due_at LIMIT $2::int FOR UPDATE OF d SKIP LOCKED)"
                    " UPDATE leads.tasks t SET breached_at = now(), updated_at = now()"
                    " FROM (SELECT task_id FROM due UNION ALL SELECT task_id FROM held) AS b"
                    " WHERE t.task_id = b.task_id"
                    " RETURNING t.doc::text, t.channel, t.provider, t.network_id,"
                    " " LEAD_KEY_NOW,
                    2, params, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        json_t *j_row = breach_row(res, i, NULL);
        if (j_row)
            json_array_append_new(
                *out, json_pack("{s:s, s:o}", "network_id", PQgetvalue(res, i, 3), "row", j_row));
    }
    PQclear(res);
    return rc;
}

int leads_tasks_take_expiring(PGconn *conn, int64_t until_ms, long expire_s, int limit,
                              json_t **out, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    char until[32], sexpire[24], slimit[16];
    cf_time_format(until_ms, until);
    snprintf(sexpire, sizeof(sexpire), "%ld", expire_s);
    snprintf(slimit, sizeof(slimit), "%d", limit);
    const char *params[] = {until, sexpire, slimit};

    *out = json_array();
    /* locked for the caller's transaction, which expires them and stages
     * their events; those another sweeper or the fold holds are
     * skipped, and one expired is no longer open: taken once. Planned each
     * time (run once a sweep): through the open tasks' age index,
     * whatever the table held when the connection first ran it. */
    int rc = cf_pg_exec_planned(
        conn,
        "WITH aged AS (SELECT d.doc::text AS doc, d.network_id, d.erased_at FROM leads.tasks d"
        " WHERE d.status = 'open'"
        " AND d.opened_at <= $1::timestamptz - make_interval(secs => $2::bigint)"
        " AND (d.erased_at IS NULL OR d.erased_at > $1::timestamptz)"
        /* a respond task's breach is decided first (the sweep's breaches
         * run before its expiries): a breach is a fact whatever becomes
         * of the task */
        " AND (d.kind = 'callback' OR d.breached_at IS NOT NULL)"
        /* answered or closed before the deadline by the fold's record (tasks
         * an earlier version's tasks consumer left open, as above) */
        " AND NOT EXISTS (SELECT 1 FROM leads.leads l WHERE l.lead_id = d.lead_id"
        " AND (l.responded_at <= d.opened_at + make_interval(secs => $2::bigint)"
        " OR l.closed_at <= d.opened_at + make_interval(secs => $2::bigint)))"
        " ORDER BY d.opened_at LIMIT $3::int FOR UPDATE OF d SKIP LOCKED),"
        /* their person erased by the fold's horizon (a response
         * acknowledged before the erasure closes them first), whatever
         * their age: a respond task erased past its due time is breached
         * first, as above; one erased before it never is
         * (leads_tasks_take_breached) */
        " erased AS (SELECT d.doc::text AS doc, d.network_id, d.erased_at FROM leads.tasks d"
        " WHERE d.status = 'open' AND d.erased_at <= $1::timestamptz"
        " AND (d.kind = 'callback' OR d.breached_at IS NOT NULL OR d.erased_at <= d.due_at)"
        " ORDER BY d.erased_at LIMIT $3::int FOR UPDATE OF d SKIP LOCKED)"
        /* the rows as locked (a join back would read them as the
         * statement began: before an erasure that committed since) */
        " SELECT doc, network_id, coalesce((extract(epoch FROM erased_at) * 1000)::bigint, -1)"
        " FROM aged UNION ALL SELECT doc, network_id,"
        " (extract(epoch FROM erased_at) * 1000)::bigint FROM erased",
        3, params, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        json_error_t jerr;
        json_t *j_doc = cf_json_loads(PQgetvalue(res, i, 0), 0, &jerr);
        if (!j_doc || !leads_task_doc_ok(j_doc)) {
            cf_seterr(errbuf, errbuf_size, "an open task is not a task document");
            json_decref(j_doc);
            rc = CF_EINTERNAL;
            break;
        }
        json_array_append_new(
            *out, json_pack("{s:s, s:o, s:I}", "network_id", PQgetvalue(res, i, 1), "doc", j_doc,
                            "erased_ms", (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10)));
    }
    PQclear(res);
    return rc;
}

int leads_tasks_save_expired_many(PGconn *conn, const json_t *rows, char *errbuf,
                                  size_t errbuf_size)
{
    if (json_array_size(rows) == 0)
        return 0;
    return cf_pg_exec_json(conn,
                           "UPDATE leads.tasks t SET status = r.doc ->> 'status',"
                           " closed_at = r.expired_at, doc = r.doc, updated_at = now()"
                           " FROM jsonb_to_recordset($1::jsonb) AS r(doc jsonb,"
                           " expired_at timestamptz)"
                           " WHERE t.task_id = (r.doc ->> 'task_id')::uuid",
                           rows, NULL, errbuf, errbuf_size);
}
