/*
 * leads.unclaimed_calls (unclaimed_calls.h says what it is for): every
 * statement on it.
 */
#include "unclaimed_calls.h"
#include "fold_testable.h"
#include "task_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/pg.h"
#include "common/time.h"

int leads_unclaimed_call_note(PGconn *conn, const char *network_id, const json_t *j_call,
                              int64_t answered_ms, char *errbuf, size_t errbuf_size)
{
    struct cf_event fact;
    char at[32];

    leads_call_response_fact(&fact, network_id, j_call, NULL, answered_ms);
    /* the number stays with the call: the lead has its own */
    json_object_del(fact.data, "contact");
    char *text = cf_event_dumps(&fact);
    cf_time_format(answered_ms, at);
    const char *params[] = {json_string_value(json_object_get(j_call, "call_id")), network_id,
                            json_string_value(json_object_get(j_call, "contact_key")), at, text};
    int rc = cf_pg_exec(conn,
                        "INSERT INTO leads.unclaimed_calls (call_id, network_id, contact_key,"
                        " answered_at, fact) VALUES ($1::uuid, $2, $3, $4::timestamptz, $5)"
                        " ON CONFLICT (call_id) DO NOTHING",
                        5, params, NULL, errbuf, errbuf_size);
    free(text);
    cf_event_clear(&fact);
    return rc;
}

int leads_unclaimed_calls_of(PGconn *conn, const json_t *rows, json_t *out, char *errbuf,
                             size_t errbuf_size)
{
    PGresult *res = NULL;

    if (json_array_size(rows) == 0)
        return 0;
    int rc = cf_pg_exec_json_planned(
        conn,
        "SELECT u.network_id, u.contact_key, u.call_id::text,"
        " (extract(epoch FROM u.answered_at) * 1000)::bigint, u.fact"
        " FROM leads.unclaimed_calls u"
        " JOIN (SELECT DISTINCT n, k FROM jsonb_to_recordset($1::jsonb) AS r(n text, k text)) q"
        " ON u.network_id = q.n AND u.contact_key = q.k"
        " ORDER BY u.answered_at, u.call_id",
        rows, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        char *lock = leads_key_lock(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        json_t *j_calls = json_object_get(out, lock);
        if (!j_calls) {
            j_calls = json_array();
            json_object_set_new(out, lock, j_calls);
        }
        json_array_append_new(j_calls,
                              json_pack("{s:s, s:I, s:s}", "call_id", PQgetvalue(res, i, 2), "at",
                                        (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10),
                                        "fact", PQgetvalue(res, i, 4)));
        free(lock);
    }
    PQclear(res);
    return rc;
}

static int is_taken(const json_t *taken, const char *call_id)
{
    size_t i;
    json_t *j_id;

    json_array_foreach(taken, i, j_id)
    {
        if (strcmp(json_string_value(j_id), call_id) == 0)
            return 1;
    }
    return 0;
}

const json_t *leads_unclaimed_call_pick(const json_t *calls, const char *network_id,
                                        const json_t *keys, int64_t received_ms,
                                        const json_t *taken)
{
    const json_t *best = NULL;
    size_t k, c;
    json_t *j_k, *j_c;

    json_array_foreach(keys, k, j_k)
    {
        char *lock = leads_key_lock(network_id, json_string_value(json_object_get(j_k, "key")));
        json_array_foreach(json_object_get(calls, lock), c, j_c)
        {
            const json_int_t at = json_integer_value(json_object_get(j_c, "at"));
            if (at < received_ms ||
                is_taken(taken, json_string_value(json_object_get(j_c, "call_id"))))
                continue;
            if (!best || at < json_integer_value(json_object_get(best, "at")))
                best = j_c;
            break; /* earliest first: the rest of this key's are later */
        }
        free(lock);
    }
    return best;
}

int leads_unclaimed_calls_take(PGconn *conn, const json_t *call_ids, char *errbuf,
                               size_t errbuf_size)
{
    if (json_array_size(call_ids) == 0)
        return 0;
    return cf_pg_exec_json(conn,
                           "DELETE FROM leads.unclaimed_calls"
                           " WHERE call_id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)",
                           call_ids, NULL, errbuf, errbuf_size);
}

int leads_unclaimed_calls_expire(PGconn *conn, char *errbuf, size_t errbuf_size)
{
    char max_s[16];
    snprintf(max_s, sizeof(max_s), "%d", LEADS_UNCLAIMED_CALL_MAX_S);
    const char *params[] = {max_s};

    return cf_pg_exec(conn,
                      "DELETE FROM leads.unclaimed_calls"
                      " WHERE answered_at < now() - make_interval(secs => $1::int)",
                      1, params, NULL, errbuf, errbuf_size);
}
