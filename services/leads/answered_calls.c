/*
 * leads.answered_calls (answered_calls.h says what it is for): every
 * statement on it, and the choice of the call a new lead takes.
 */
#include "answered_calls.h"
#include "fold_testable.h"
#include "task_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/pg.h"
#include "common/time.h"

int leads_answered_call_note(PGconn *conn, const char *network_id, const json_t *j_call,
                             int64_t answered_ms, const char *lead_id, int *recorded, char *errbuf,
                             size_t errbuf_size)
{
    struct cf_event fact;
    char at[32];

    *recorded = 0;
    leads_call_response_fact(&fact, network_id, j_call, NULL, answered_ms);
    /* the number stays with the call: the lead has its own */
    json_object_del(fact.data, "contact");
    char *text = cf_event_dumps(&fact);
    cf_event_clear(&fact);
    if (!text) {
        snprintf(errbuf, errbuf_size, "the call's response fact cannot be written");
        return CF_EINTERNAL;
    }
    cf_time_format(answered_ms, at);
    const char *params[] = {json_string_value(json_object_get(j_call, "call_id")),
                            network_id,
                            json_string_value(json_object_get(j_call, "contact_key")),
                            at,
                            text,
                            lead_id};
    int rc = cf_pg_exec_any(conn,
                            "INSERT INTO leads.answered_calls (call_id, network_id, contact_key,"
                            " answered_at, fact, lead_id)"
                            " VALUES ($1::uuid, $2, $3, $4::timestamptz, $5, $6::uuid)"
                            /* recorded as nobody's (no lead held its contact
                             * then): the lead found now takes it */
                            " ON CONFLICT (call_id) DO UPDATE SET lead_id = EXCLUDED.lead_id"
                            " WHERE answered_calls.lead_id IS NULL AND EXCLUDED.lead_id IS NOT NULL"
                            " RETURNING 1",
                            6, params, recorded, errbuf, errbuf_size);
    free(text);
    return rc;
}

int leads_answered_calls_unclaimed(PGconn *conn, const json_t *rows, json_t *out, char *errbuf,
                                   size_t errbuf_size)
{
    PGresult *res = NULL;
    char max_s[16];

    if (json_array_size(rows) == 0)
        return 0;
    snprintf(max_s, sizeof(max_s), "%d", LEADS_ANSWERED_CALL_MAX_S);
    json_t *param = json_pack("{s:O, s:s}", "rows", rows, "max_s", max_s);
    int rc = cf_pg_exec_json_planned(
        conn,
        "SELECT u.network_id, u.contact_key, u.call_id::text,"
        " (extract(epoch FROM u.answered_at) * 1000)::bigint, u.fact"
        " FROM leads.answered_calls u"
        " JOIN (SELECT DISTINCT n, k FROM jsonb_to_recordset($1::jsonb -> 'rows')"
        " AS r(n text, k text)) q ON u.network_id = q.n AND u.contact_key = q.k"
        " WHERE u.lead_id IS NULL"
        " AND u.answered_at >= now() - make_interval(secs => ($1::jsonb ->> 'max_s')::int)"
        " ORDER BY u.answered_at, u.call_id",
        param, &res, errbuf, errbuf_size);
    json_decref(param);
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

/* 1 when a lead of claims took call_id. */
static int claimed(const json_t *claims, const char *call_id)
{
    size_t i;
    json_t *j_c;

    json_array_foreach(claims, i, j_c)
    {
        if (strcmp(json_string_value(json_object_get(j_c, "call_id")), call_id) == 0)
            return 1;
    }
    return 0;
}

/* The earliest call of calls on one of keys answered in [received_ms,
 * received_ms + LEADS_ANSWERED_CALL_MAX_S] and not in claims, or NULL. */
static const json_t *pick(const json_t *calls, const char *network_id, const json_t *keys,
                          int64_t received_ms, const json_t *claims)
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
                claimed(claims, json_string_value(json_object_get(j_c, "call_id"))))
                continue;
            /* earliest first: this key's first eligible call, if not too late */
            if (at - received_ms <= LEADS_ANSWERED_CALL_MAX_S * 1000LL &&
                (!best || at < json_integer_value(json_object_get(best, "at"))))
                best = j_c;
            break;
        }
        free(lock);
    }
    return best;
}

int leads_answered_call_take(const json_t *calls, const char *network_id, const json_t *keys,
                             const json_t *j_lead, json_t *envelopes, json_t *claims)
{
    const json_t *j_call =
        pick(calls, network_id, keys, cf_time_json_get(j_lead, "received_at"), claims);
    if (!j_call)
        return 0;
    const json_int_t at = json_integer_value(json_object_get(j_call, "at"));
    size_t i;
    json_t *j_text;

    json_array_foreach(envelopes, i, j_text)
    {
        struct cf_event ev = {0};
        char reason[64];
        const char *text = json_string_value(j_text);
        const int later = text &&
                          cf_event_parse(text, strlen(text), &ev, reason, sizeof(reason)) == 0 &&
                          ev.time_ms > at;
        cf_event_clear(&ev);
        if (later)
            break;
    }
    json_array_insert(envelopes, i, json_object_get(j_call, "fact"));
    json_array_append_new(claims,
                          json_pack("{s:O, s:O}", "call_id", json_object_get(j_call, "call_id"),
                                    "lead_id", json_object_get(j_lead, "lead_id")));
    return 1;
}

void leads_answered_call_untaken(json_t *claims, const json_t *j_lead)
{
    const size_t n = json_array_size(claims);
    const json_t *j_last = n ? json_array_get(claims, n - 1) : NULL;
    const char *lead = json_string_value(json_object_get(j_lead, "lead_id"));
    const char *claimed = json_string_value(json_object_get(j_last, "lead_id"));
    const char *call = json_string_value(json_object_get(j_last, "call_id"));
    const char *answered = json_string_value(json_object_get(j_lead, "call_id"));

    if (lead && claimed && call && strcmp(lead, claimed) == 0 &&
        !(answered && strcmp(answered, call) == 0))
        json_array_remove(claims, n - 1);
}

int leads_answered_calls_claim(PGconn *conn, const json_t *claims, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(claims) == 0)
        return 0;
    return cf_pg_exec_json(conn,
                           "UPDATE leads.answered_calls u SET lead_id = c.lead_id"
                           " FROM jsonb_to_recordset($1::jsonb) AS c(call_id uuid, lead_id uuid)"
                           " WHERE u.call_id = c.call_id",
                           claims, NULL, errbuf, errbuf_size);
}

int leads_answered_calls_expire(PGconn *conn, char *errbuf, size_t errbuf_size)
{
    char max_s[16];
    snprintf(max_s, sizeof(max_s), "%d", LEADS_ANSWERED_CALL_MAX_S);
    const char *params[] = {max_s};

    return cf_pg_exec(conn,
                      "DELETE FROM leads.answered_calls"
                      " WHERE answered_at < now() - make_interval(secs => $1::int)",
                      1, params, NULL, errbuf, errbuf_size);
}
