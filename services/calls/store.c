/*
 * The call store: one row per call in calls.calls, the folded document in
 * doc (what calls.v1 carries, plus the private "reported" facts the fold
 * derives from) and the columns an operator queries by; and the results
 * that came before their call (calls.pending_results), which the save that
 * first stores the call takes. Only the fold consumer writes here, inside
 * its transaction.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/pg.h"
#include "common/pg_copy.h"
#include "common/testable.h"
#include "store_testable.h"
#include "common/json_text.h"
#include "common/xmalloc.h"

char *calls_contact_lock_key(const char *network_id, const char *contact_key)
{
    return cf_xasprintf("%s/%s", network_id, contact_key);
}

static int strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void calls_sort_strings(json_t *j_arr)
{
    const size_t n = json_array_size(j_arr);
    char **v = cf_xcalloc(n + 1, sizeof(*v));

    for (size_t i = 0; i < n; i++)
        v[i] = cf_xstrdup(json_string_value(json_array_get(j_arr, i)));
    qsort(v, n, sizeof(*v), strcmp_p);
    json_array_clear(j_arr);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(j_arr, json_string(v[i]));
        free(v[i]);
    }
    free(v);
}

int calls_store_load(PGconn *conn, const char *call_id, const char *network_id,
                     const char *contact_lock, json_t **out, char *errbuf, size_t errbuf_size)
{
    const char *params[] = {call_id, contact_lock};
    PGresult *res = NULL;
    json_error_t jerr;
    int rc;

    *out = NULL;
    /* the contact's lock before the row's, as a batch takes them (all its
     * contacts in one sorted round, then its calls): a fact folded on its
     * own never holds a call another batch waits for while it waits for
     * that batch's contact */
    rc = contact_lock ? cf_pg_exec(conn, "SELECT " CALLS_UNIQUE_LOCK_SQL("$1"), 1, params + 1, NULL,
                                   errbuf, errbuf_size)
                      : 0;
    if (rc == 0)
        rc = cf_pg_exec(conn,
                        "SELECT doc::text, network_id FROM calls WHERE call_id = $1 FOR UPDATE", 1,
                        params, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        rc = CF_ENOTFOUND;
        goto out;
    }
    /* Call ids are derived from the network, so this is a message naming
     * another tenant's call: never applied to it. */
    if (strcmp(PQgetvalue(res, 0, 1), network_id) != 0) {
        snprintf(errbuf, errbuf_size, "call %s belongs to another network", call_id);
        rc = CF_EINVAL;
        goto out;
    }
    *out = cf_json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    if (!*out) {
        snprintf(errbuf, errbuf_size, "stored call %s is not JSON: %s", call_id, jerr.text);
        rc = CF_EINTERNAL;
    }
out:
    PQclear(res);
    return rc;
}

static const char *str_or_null(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static char *int_or_null(const json_t *j, const char *key, char *buf, size_t size)
{
    const json_t *v = json_object_get(j, key);

    if (!json_is_integer(v))
        return NULL;
    snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    return buf;
}

/* The upsert of a call row from its document ($1 .. $17). */
#define SAVE_SQL                                                                                   \
    "INSERT INTO calls (call_id, network_id, clinic_id, direction, status, contact_key,"           \
    " started_at, answered_at, ended_at, outcome, ring_seconds, talk_seconds, provider,"           \
    " provider_call_id, facts, doc, result, updated_at)"                                           \
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"         \
    " now())"                                                                                      \
    " ON CONFLICT (call_id) DO UPDATE SET clinic_id = EXCLUDED.clinic_id,"                         \
    " status = EXCLUDED.status, contact_key = EXCLUDED.contact_key,"                               \
    " started_at = EXCLUDED.started_at, answered_at = EXCLUDED.answered_at,"                       \
    " ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome,"                                   \
    " ring_seconds = EXCLUDED.ring_seconds, talk_seconds = EXCLUDED.talk_seconds,"                 \
    " facts = EXCLUDED.facts, doc = EXCLUDED.doc, result = EXCLUDED.result,"                       \
    " updated_at = now()"

int calls_store_save(PGconn *conn, const char *network_id, const json_t *j_call,
                     json_t **pending_out, char *errbuf, size_t errbuf_size)
{
    char ring[24], talk[24], facts[24];
    char *doc = cf_json_dumps(j_call);
    PGresult *res = NULL;
    const char *params[] = {
        str_or_null(j_call, "call_id"),
        network_id,
        str_or_null(j_call, "clinic_id"),
        str_or_null(j_call, "direction"),
        str_or_null(j_call, "status"),
        str_or_null(j_call, "contact_key"),
        str_or_null(j_call, "started_at"),
        str_or_null(j_call, "answered_at"),
        str_or_null(j_call, "ended_at"),
        str_or_null(j_call, "outcome"),
        int_or_null(j_call, "ring_seconds", ring, sizeof(ring)),
        int_or_null(j_call, "talk_seconds", talk, sizeof(talk)),
        str_or_null(j_call, "provider"),
        str_or_null(j_call, "provider_call_id"),
        int_or_null(j_call, "facts", facts, sizeof(facts)),
        doc,
        str_or_null(json_object_get(j_call, "result"), "value"),
    };
    int rc;
    if (!pending_out) {
        rc = cf_pg_exec(conn, SAVE_SQL, 17, params, NULL, errbuf, errbuf_size);
        free(doc);
        return rc;
    }
    /* The same round trip takes the call's pending results of its network,
     * in the order they were on the partition. */
    *pending_out = json_array();
    rc = cf_pg_exec(conn,
                    "WITH saved AS (" SAVE_SQL "),"
                    " taken AS (DELETE FROM pending_results"
                    " WHERE call_id = $1::uuid AND network_id = $2 RETURNING raw_offset, event)"
                    " SELECT event FROM taken ORDER BY raw_offset",
                    17, params, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        json_array_append_new(*pending_out, json_string(PQgetvalue(res, i, 0)));
    PQclear(res);
    free(doc);
    return rc;
}

int calls_store_pend_result(PGconn *conn, const struct cf_event *ev, const rd_kafka_message_t *rkm,
                            char *errbuf, size_t errbuf_size)
{
    char partition[16], offset[32];
    snprintf(partition, sizeof(partition), "%d", (int)rkm->partition);
    snprintf(offset, sizeof(offset), "%lld", (long long)rkm->offset);
    char *value = cf_xmalloc(rkm->len + 1);
    memcpy(value, rkm->payload, rkm->len);
    value[rkm->len] = '\0';
    const char *params[] = {ev->id, ev->networkid, ev->subject, partition, offset, value};
    int rc = cf_pg_exec(conn,
                        "INSERT INTO pending_results (event_id, network_id, call_id, raw_partition,"
                        " raw_offset, event) VALUES ($1, $2, $3, $4, $5, $6)"
                        " ON CONFLICT (event_id) DO NOTHING",
                        6, params, NULL, errbuf, errbuf_size);
    free(value);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* A batch at once (the fold's fast path): one statement per step, its      */
/* rows as one JSON parameter (jsonb_to_recordset): nothing to escape.       */
/* ------------------------------------------------------------------------ */

int calls_store_load_many(PGconn *conn, const char *ids, json_t *loaded, char *errbuf,
                          size_t errbuf_size)
{
    const char *params[] = {ids};
    PGresult *res = NULL;
    json_error_t jerr;
    int rc = cf_pg_exec(conn,
                        "SELECT call_id::text, doc::text, network_id FROM calls"
                        " WHERE call_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)"
                        "::uuid)) ORDER BY call_id FOR UPDATE",
                        1, params, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        json_t *j_doc = cf_json_loads(PQgetvalue(res, i, 1), 0, &jerr);
        if (!j_doc) {
            snprintf(errbuf, errbuf_size, "stored call %s is not JSON: %s", PQgetvalue(res, i, 0),
                     jerr.text);
            rc = CF_EINTERNAL;
            break;
        }
        json_object_set_new(loaded, PQgetvalue(res, i, 0),
                            json_pack("{s:s, s:o}", "n", PQgetvalue(res, i, 2), "doc", j_doc));
    }
    PQclear(res);
    return rc;
}

json_t *calls_store_row(const char *network_id, const json_t *j_call)
{
    json_t *j_row = json_object();
    static const char *const strings[] = {
        "call_id",     "clinic_id", "direction", "status",   "contact_key",      "started_at",
        "answered_at", "ended_at",  "outcome",   "provider", "provider_call_id", NULL};
    static const char *const ints[] = {"ring_seconds", "talk_seconds", "facts", NULL};

    json_object_set_new(j_row, "network_id", json_string(network_id));
    for (const char *const *k = strings; *k; k++) {
        const json_t *v = json_object_get(j_call, *k);
        json_object_set_new(j_row, *k, json_is_string(v) ? json_copy((json_t *)v) : json_null());
    }
    for (const char *const *k = ints; *k; k++) {
        const json_t *v = json_object_get(j_call, *k);
        json_object_set_new(j_row, *k, json_is_integer(v) ? json_copy((json_t *)v) : json_null());
    }
    const json_t *j_result = json_object_get(json_object_get(j_call, "result"), "value");
    json_object_set_new(j_row, "result",
                        json_is_string(j_result) ? json_copy((json_t *)j_result) : json_null());
    json_object_set(j_row, "doc", (json_t *)j_call);
    return j_row;
}

/* ------------------------------------------------------------------------ */
/* The batch's save: its rows by COPY into a staging table, then one upsert  */
/* from there. COPY parses each document once (to jsonb); a JSON parameter   */
/* would be parsed twice (the parameter, then each document in it).          */
/* ------------------------------------------------------------------------ */

/* The staging table's columns, in the order of its lines (calls_copy_row)
 * and of SAVE_STAGE_SQL. */
static const char *const save_columns[] = {
    "call_id",    "network_id",       "clinic_id", "direction", "status",       "contact_key",
    "started_at", "answered_at",      "ended_at",  "outcome",   "ring_seconds", "talk_seconds",
    "provider",   "provider_call_id", "facts",     "doc",       "result",       NULL};

/* The session's staging table: made when a batch first saves in the
 * session (again after a batch that made it was rolled back: IF NOT
 * EXISTS), emptied by each commit in place (no new file, no dead rows, as
 * DELETE or TRUNCATE would leave). */
#define SAVE_STAGE_SQL                                                                             \
    "CREATE TEMP TABLE IF NOT EXISTS fold_saved_calls (call_id uuid, network_id text,"             \
    " clinic_id text, direction text, status text, contact_key text, started_at timestamptz,"      \
    " answered_at timestamptz, ended_at timestamptz, outcome text, ring_seconds integer,"          \
    " talk_seconds integer, provider text, provider_call_id text, facts integer, doc jsonb,"       \
    " result text) ON COMMIT DELETE ROWS"

CF_TESTABLE void calls_copy_row(struct cf_pg_copy *c, const json_t *j_row)
{
    for (const char *const *col = save_columns; *col; col++)
        cf_pg_copy_json(c, json_object_get(j_row, *col));
    cf_pg_copy_row_end(c);
}

int calls_store_save_many(PGconn *conn, const json_t *calls, char *errbuf, size_t errbuf_size)
{
    struct cf_pg_copy copy = {0};
    size_t i;
    json_t *j_c;

    if (json_array_size(calls) == 0)
        return 0;
    json_array_foreach(calls, i, j_c)
    {
        json_t *j_row = calls_store_row(json_string_value(json_object_get(j_c, "n")),
                                        json_object_get(j_c, "doc"));
        calls_copy_row(&copy, j_row);
        json_decref(j_row);
    }
    int rc = cf_pg_exec(conn, SAVE_STAGE_SQL, 0, NULL, NULL, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_copy_send(conn, "COPY fold_saved_calls FROM STDIN", &copy, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec(conn,
                        "INSERT INTO calls (call_id, network_id, clinic_id, direction, status,"
                        " contact_key, started_at, answered_at, ended_at, outcome, ring_seconds,"
                        " talk_seconds, provider, provider_call_id, facts, doc, result, updated_at)"
                        " SELECT call_id, network_id, clinic_id, direction, status, contact_key,"
                        " started_at, answered_at, ended_at, outcome, ring_seconds, talk_seconds,"
                        " provider, provider_call_id, facts, doc, result, now()"
                        " FROM fold_saved_calls ORDER BY call_id"
                        " ON CONFLICT (call_id) DO UPDATE SET clinic_id = EXCLUDED.clinic_id,"
                        " status = EXCLUDED.status, contact_key = EXCLUDED.contact_key,"
                        " started_at = EXCLUDED.started_at, answered_at = EXCLUDED.answered_at,"
                        " ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome,"
                        " ring_seconds = EXCLUDED.ring_seconds,"
                        " talk_seconds = EXCLUDED.talk_seconds, facts = EXCLUDED.facts,"
                        " doc = EXCLUDED.doc, result = EXCLUDED.result, updated_at = now()",
                        0, NULL, NULL, errbuf, errbuf_size);
    cf_pg_copy_clear(&copy);
    return rc;
}

int calls_store_take_pending(PGconn *conn, const json_t *want, json_t *taken, char *errbuf,
                             size_t errbuf_size)
{
    PGresult *res = NULL;

    if (json_array_size(want) == 0)
        return 0;
    int rc = cf_pg_exec_json(conn,
                             "WITH taken AS (DELETE FROM pending_results p"
                             " USING jsonb_to_recordset($1::jsonb) AS q(c uuid, n text)"
                             " WHERE p.call_id = q.c AND p.network_id = q.n"
                             " RETURNING p.call_id, p.raw_offset, p.event)"
                             " SELECT call_id::text, event FROM taken ORDER BY call_id, raw_offset",
                             want, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        json_t *j_list = json_object_get(taken, id);
        if (!j_list) {
            j_list = json_array();
            json_object_set_new(taken, id, j_list);
        }
        json_array_append_new(j_list, json_string(PQgetvalue(res, i, 1)));
    }
    PQclear(res);
    return rc;
}

json_t *calls_store_pend_row(const struct cf_event *ev, const rd_kafka_message_t *rkm)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:I, s:s%}", "event_id", ev->id, "network_id",
                     ev->networkid, "call_id", ev->subject, "raw_partition", (int)rkm->partition,
                     "raw_offset", (json_int_t)rkm->offset, "event", (const char *)rkm->payload,
                     rkm->len);
}

int calls_store_pend_many(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(rows) == 0)
        return 0;
    return cf_pg_exec_json(
        conn,
        "INSERT INTO pending_results (event_id, network_id, call_id, raw_partition,"
        " raw_offset, event) SELECT * FROM jsonb_to_recordset($1::jsonb) AS"
        " q(event_id uuid, network_id text, call_id uuid, raw_partition integer,"
        " raw_offset bigint, event text) ON CONFLICT (event_id) DO NOTHING",
        rows, NULL, errbuf, errbuf_size);
}

int calls_store_take_unique(PGconn *conn, const json_t *ids, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(ids) == 0)
        return 0;
    return cf_pg_exec_json(conn,
                           "UPDATE calls SET doc = jsonb_set(doc, '{unique}', 'false')"
                           " WHERE call_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)"
                           "::uuid))",
                           ids, NULL, errbuf, errbuf_size);
}

int calls_store_patient_contacts(PGconn *conn, const char *patient_id, json_t *contacts,
                                 char *errbuf, size_t errbuf_size)
{
    /* every number the fold found the patient by, the ones the patient
     * has since dropped too (the view keeps the latest only), with the
     * start of the last such call: the patient held it until then at
     * least, and someone else may hold it since */
    return cf_patients_add_held_contacts(
        conn,
        "SELECT network_id, contact_key, max(started_at) FROM calls.calls"
        " WHERE (doc #>> '{patient,patient_id}') = $1::uuid::text"
        " AND contact_key IS NOT NULL GROUP BY network_id, contact_key",
        patient_id, contacts, errbuf, errbuf_size);
}

int calls_store_erase(PGconn *conn, const char *patient_id, const json_t *contacts, char *errbuf,
                      size_t errbuf_size)
{
    char *contacts_text = cf_json_dumps(contacts);
    const char *params[] = {contacts_text, patient_id};
    /* the person's side of each call (the caller of an inbound call, the
     * called of an outbound one), the patient's id and the recording; the
     * call, its times, outcome and key stay, counted as before. A call the
     * fold found another patient by is that patient's (a number the
     * erased patient gave up, now someone else's) and stays, as does one
     * nobody was found by on a number the patient held until u only. */
    int rc = cf_pg_exec(
        conn,
        "UPDATE calls.calls c SET doc = (c.doc #- '{patient,patient_id}') - 'recording_url'"
        " || jsonb_build_object(CASE WHEN c.direction = 'inbound' THEN 'caller' ELSE 'called' END,"
        " '{\"raw\": \"\", \"kind\": \"erased\"}'::jsonb)"
        " FROM " CF_PATIENTS_ERASED_KEYS_SQL " AS q"
        " WHERE c.network_id = q.n AND c.contact_key = q.k AND " CALLS_ERASED_CALL_SQL("c", "q"),
        2, params, NULL, errbuf, errbuf_size);
    free(contacts_text);
    return rc;
}

int calls_store_lock_contacts(PGconn *conn, const json_t *keys, const char *ids, json_t *locked,
                              char *errbuf, size_t errbuf_size)
{
    char *keys_text = cf_json_dumps(keys);
    const char *params[] = {keys_text, ids};
    PGresult *res = NULL;
    /* One sorted round (byte order: every instance sorts alike), so two
     * batches wait for each other's contacts at most one way round. Each
     * key is locked after the sort (PostgreSQL evaluates a volatile output
     * after ORDER BY). The stored calls' contacts are those the unique
     * decision may yet need: inbound, with a contact, still undecided. */
    int rc = cf_pg_exec(
        conn,
        "SELECT k, " CALLS_UNIQUE_LOCK_SQL(
            "k") " FROM (SELECT jsonb_array_elements_text($1::jsonb) AS k"
                 " UNION SELECT " CALLS_CONTACT_LOCK_KEY_SQL(
                     "network_id",
                     "contact_key") " FROM calls"
                                    " WHERE call_id = ANY (ARRAY(SELECT "
                                    "jsonb_array_elements_text($2::jsonb)::uuid))"
                                    " AND direction = 'inbound' AND contact_key IS NOT NULL"
                                    " AND NOT doc ? 'unique') AS u ORDER BY k COLLATE \"C\"",
        2, params, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        json_object_set_new(locked, PQgetvalue(res, i, 0), json_true());
    PQclear(res);
    free(keys_text);
    return rc;
}

int calls_store_try_lock_contacts(PGconn *conn, const json_t *keys, char *errbuf,
                                  size_t errbuf_size)
{
    PGresult *res = NULL;

    if (json_array_size(keys) == 0)
        return 0;
    /* Never waits: a lock taken out of the sorted order could close a
     * circle with another batch. Each key is tried (those free are held to
     * the end of the transaction either way). */
    int rc = cf_pg_exec_json(
        conn,
        "SELECT count(*) FILTER (WHERE NOT pg_try_advisory_xact_lock(" CALLS_UNIQUE_LOCK_ID_SQL(
            "k") ")) FROM jsonb_array_elements_text($1::jsonb) AS a(k)",
        keys, &res, errbuf, errbuf_size);
    if (rc == 0 && strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
        snprintf(errbuf, errbuf_size,
                 "%s contacts turned up after the batch's locks and are held by another"
                 " transaction",
                 PQgetvalue(res, 0, 0));
        rc = CF_EUNAVAIL;
    }
    PQclear(res);
    return rc;
}
