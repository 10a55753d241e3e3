/*
 * The lead store: one row per lead in leads.leads (the document in doc,
 * the columns an operator and the fold query by), every contact key a
 * lead has held in leads.lead_contacts, the facts waiting for a lead not
 * stored yet in leads.pending_facts, and the attribution codes the codes
 * route records in leads.codes (read here). All of the fold's SQL is in
 * this file; only the fold consumer (and the patients view's erasure, and
 * the expiry of waiting facts) writes these tables, inside a transaction.
 */
#include "lead_store.h"
#include "fold_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/patients.h"
#include "common/pg.h"
#include "common/pg_array.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* The lock id of a contact key ("network/key"); seed 2 keeps it apart from
 * other locks on the same text. */
#define LEAD_LOCK_ID_SQL(param) "hashtextextended(" param ", 2)"

int leads_store_lock_keys(PGconn *conn, const json_t *locks, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(locks) == 0)
        return 0;
    /* One sorted round (byte order, alike on every instance): two folds
     * wait for each other's keys at most one way round. PostgreSQL takes
     * each lock after the sort (a volatile output after ORDER BY). */
    return cf_pg_exec_json(
        conn,
        "SELECT pg_advisory_xact_lock(" LEAD_LOCK_ID_SQL(
            "k") ")"
                 " FROM (SELECT DISTINCT jsonb_array_elements_text($1::jsonb) AS k) AS u"
                 " ORDER BY k COLLATE \"C\"",
        locks, NULL, errbuf, errbuf_size);
}

int leads_store_try_lock_key(PGconn *conn, const char *lock, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    const char *params[] = {lock};
    int rc = cf_pg_exec(conn, "SELECT pg_try_advisory_xact_lock(" LEAD_LOCK_ID_SQL("$1") ")", 1,
                        params, &res, errbuf, errbuf_size);
    if (rc == 0)
        rc = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

static int one_doc(PGresult *res, json_t **out, char *errbuf, size_t errbuf_size)
{
    json_error_t jerr;

    if (PQntuples(res) == 0)
        return CF_ENOTFOUND;
    *out = cf_json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    if (!*out) {
        snprintf(errbuf, errbuf_size, "stored lead is not JSON: %s", jerr.text);
        return CF_EINTERNAL;
    }
    return 0;
}

int leads_store_find_open(PGconn *conn, const char *network_id, const json_t *keys, int64_t at_ms,
                          const json_t *j_fact, json_t **out, json_t **next, char *errbuf,
                          size_t errbuf_size)
{
    json_t *rows = json_array(), *leads = json_object(), *by_key = json_object();
    json_t *cands = json_array();
    size_t i;
    json_t *j_key;
    const char *id;
    json_t *j_lead;

    *out = NULL;
    if (next)
        *next = NULL;
    /* the run's look-up for one request, and the run's choice among the
     * leads it finds (fold_batch.c): one way to find a person's lead */
    json_array_foreach(keys, i, j_key)
    {
        json_array_append_new(rows, json_pack("{s:s, s:O, s:I}", "n", network_id, "k", j_key, "t",
                                              (json_int_t)at_ms));
    }
    int rc = leads_store_find_open_by_keys(conn, rows, leads, by_key, errbuf, errbuf_size);
    json_object_foreach(leads, id, j_lead) json_array_append(cands, j_lead);
    const int pick = rc == 0 ? leads_pick_open(cands, at_ms, j_fact) : -1;
    if (rc == 0 && pick < 0)
        rc = CF_ENOTFOUND;
    if (rc == 0)
        *out = json_incref(json_array_get(cands, (size_t)pick));
    const int after = rc == 0 && next ? leads_pick_next(cands, at_ms, j_fact) : -1;
    if (after >= 0)
        *next = json_incref(json_array_get(cands, (size_t)after));
    json_decref(cands);
    json_decref(by_key);
    json_decref(leads);
    json_decref(rows);
    return rc;
}

int leads_store_find_open_by_keys(PGconn *conn, const json_t *rows, json_t *leads, json_t *by_key,
                                  char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    json_error_t jerr;

    if (json_array_size(rows) == 0)
        return 0;
    /* planned each time, for the run's size and the tables' (common/pg.h) */
    int rc = cf_pg_exec_json_planned(
        conn,
        "SELECT q.n, q.k, l.lead_id::text, l.doc::text"
        " FROM (SELECT n, k, to_timestamp(min(t) / 1000.0) AS t"
        "  FROM jsonb_to_recordset($1::jsonb) AS r(n text, k text, t bigint) GROUP BY n, k) q"
        " JOIN leads.lead_contacts c ON c.network_id = q.n AND c.contact_key = q.k"
        " JOIN leads.leads l ON l.lead_id = c.lead_id"
        "  AND (l.status = 'open' OR l.closed_at >= q.t)"
        " ORDER BY l.lead_id FOR UPDATE OF l",
        rows, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 2);
        if (!json_object_get(leads, id)) {
            json_t *j_doc = cf_json_loads(PQgetvalue(res, i, 3), 0, &jerr);
            if (!j_doc) {
                snprintf(errbuf, errbuf_size, "stored lead is not JSON: %s", jerr.text);
                rc = CF_EINTERNAL;
                break;
            }
            json_object_set_new(leads, id, j_doc);
        }
        char *lock = leads_key_lock(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        json_t *j_ids = json_object_get(by_key, lock);
        if (!j_ids) {
            j_ids = json_array();
            json_object_set_new(by_key, lock, j_ids);
        }
        json_array_append_new(j_ids, json_string(id));
        free(lock);
    }
    PQclear(res);
    return rc;
}

int leads_store_load(PGconn *conn, const char *lead_id, const char *network_id, json_t **out,
                     char *errbuf, size_t errbuf_size)
{
    const char *params[] = {lead_id};
    PGresult *res = NULL;

    *out = NULL;
    if (!cf_uuid_valid(lead_id)) {
        snprintf(errbuf, errbuf_size, "lead id is not a UUID");
        return CF_EINVAL;
    }
    int rc = cf_pg_exec(conn,
                        "SELECT doc::text, network_id FROM leads.leads WHERE lead_id = $1::uuid"
                        " FOR UPDATE",
                        1, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 1), network_id) != 0) {
        snprintf(errbuf, errbuf_size, "lead %s belongs to another network", lead_id);
        rc = CF_EINVAL;
    }
    if (rc == 0)
        rc = one_doc(res, out, errbuf, errbuf_size);
    PQclear(res);
    return rc;
}

/* The lead row's columns, in the order of save_rows's arrays: each is the
 * document's member of that name (a string, or the messages' count). */
static const char *const lead_columns[] = {
    "lead_id",     "clinic_id",   "provider",        "channel",  "status",
    "contact_key", "received_at", "last_message_at", "messages", "responded_at",
    "via",         "closed_at",   "patient_id"};
#define NCOLS (sizeof(lead_columns) / sizeof(lead_columns[0]))
/* the arrays: the columns, the network, the document, the contacts' four */
#define NARRAYS (NCOLS + 2 + 4)

/* Saves the leads of rows ([{"n": network, "doc": lead document, "keys":
 * leads_fact_keys's or null}], each lead once): the row from its document,
 * its contacts, and when take is "true" the facts of its network that
 * waited for it, returned in their order on the partition. One statement
 * (prepared: it looks up nothing but primary keys) for one lead or many,
 * its columns as binary text[] arrays (common/pg_array.h): the server
 * checks each document as JSON and parses nothing else. */
static int save_rows(PGconn *conn, const json_t *rows, const char *take, PGresult **res,
                     char *errbuf, size_t errbuf_size)
{
    struct cf_pg_array arrays[NARRAYS];
    const char *params[NARRAYS + 1];
    int lengths[NARRAYS + 1], formats[NARRAYS + 1];
    struct cf_strbuf doc = {0};
    size_t i, k;
    json_t *row, *j_k;
    int rc = 0;

    memset(arrays, 0, sizeof(arrays));
    json_array_foreach(rows, i, row)
    {
        const json_t *j_lead = json_object_get(row, "doc");
        const char *id = json_string_value(json_object_get(j_lead, "lead_id"));
        const char *network = json_string_value(json_object_get(row, "n"));
        for (size_t c = 0; c < NCOLS; c++) {
            const json_t *v = json_object_get(j_lead, lead_columns[c]);
            char num[24];
            if (json_is_integer(v)) {
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                cf_pg_array_add(&arrays[c], num);
            } else {
                cf_pg_array_add(&arrays[c], json_string_value(v));
            }
        }
        cf_pg_array_add(&arrays[NCOLS], network);
        doc.len = 0;
        if (cf_json_dump_to(&doc, j_lead) != 0) {
            cf_seterr(errbuf, errbuf_size, "lead %s: its document cannot be written", id);
            rc = CF_EINTERNAL;
            goto out;
        }
        cf_pg_array_addn(&arrays[NCOLS + 1], doc.p, doc.len);
        json_array_foreach(json_object_get(row, "keys"), k, j_k)
        {
            cf_pg_array_add(&arrays[NCOLS + 2], id);
            cf_pg_array_add(&arrays[NCOLS + 3], network);
            cf_pg_array_add(&arrays[NCOLS + 4], json_string_value(json_object_get(j_k, "key")));
            cf_pg_array_add(&arrays[NCOLS + 5], json_string_value(json_object_get(j_k, "kind")));
        }
    }
    for (size_t a = 0; a < NARRAYS; a++) {
        params[a] = cf_pg_array_bytes(&arrays[a], &lengths[a]);
        formats[a] = 1;
    }
    params[NARRAYS] = take;
    lengths[NARRAYS] = 0;
    formats[NARRAYS] = 0;
    rc = cf_pg_exec_binary(
        conn,
        "WITH r AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],"
        " $12::text[], $13::text[], $14::text[], $15::text[])"
        " AS r(id, clinic_id, provider, channel, status, contact_key, received_at,"
        " last_message_at, messages, responded_at, via, closed_at, patient_id, n, doc)),"
        " saved AS (INSERT INTO leads.leads (lead_id, network_id, clinic_id, provider, channel,"
        " status, contact_key, received_at, last_message_at, messages, responded_at, via,"
        " closed_at, patient_id, doc, updated_at)"
        " SELECT id::uuid, n, clinic_id, provider, channel, status, contact_key,"
        " received_at::timestamptz, last_message_at::timestamptz,"
        " coalesce(messages::integer, 1), responded_at::timestamptz, via,"
        " closed_at::timestamptz, patient_id, doc::json, now() FROM r"
        " ON CONFLICT (lead_id) DO UPDATE SET clinic_id = EXCLUDED.clinic_id,"
        " status = EXCLUDED.status, contact_key = EXCLUDED.contact_key,"
        " last_message_at = EXCLUDED.last_message_at, messages = EXCLUDED.messages,"
        " responded_at = EXCLUDED.responded_at, via = EXCLUDED.via,"
        " closed_at = EXCLUDED.closed_at, patient_id = EXCLUDED.patient_id,"
        " doc = EXCLUDED.doc, updated_at = now()"
        " RETURNING lead_id, network_id),"
        " contacts AS (INSERT INTO leads.lead_contacts (lead_id, network_id, contact_key, kind)"
        " SELECT DISTINCT ON (c.id, c.key) c.id::uuid, c.n, c.key, c.kind"
        " FROM unnest($16::text[], $17::text[], $18::text[], $19::text[]) AS c(id, n, key, kind)"
        " ON CONFLICT (lead_id, contact_key) DO NOTHING),"
        " taken AS (DELETE FROM leads.pending_facts p USING saved s"
        " WHERE $20::boolean AND p.lead_id = s.lead_id AND p.network_id = s.network_id"
        " RETURNING p.raw_partition, p.raw_offset, p.event)"
        " SELECT event FROM taken ORDER BY raw_partition, raw_offset",
        NARRAYS + 1, params, lengths, formats, res, errbuf, errbuf_size);
out:
    for (size_t a = 0; a < NARRAYS; a++)
        cf_pg_array_clear(&arrays[a]);
    free(doc.p);
    return rc;
}

int leads_store_save(PGconn *conn, const char *network_id, const json_t *j_lead, const json_t *keys,
                     json_t **pending_out, char *errbuf, size_t errbuf_size)
{
    json_t *rows = json_pack("[{s:s, s:O, s:O?}]", "n", network_id, "doc", j_lead, "keys", keys);
    PGresult *res = NULL;
    int rc = save_rows(conn, rows, pending_out ? "true" : "false", &res, errbuf, errbuf_size);

    if (rc == 0 && pending_out) {
        *pending_out = json_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_array_append_new(*pending_out, json_string(PQgetvalue(res, i, 0)));
    }
    PQclear(res);
    json_decref(rows);
    return rc;
}

int leads_store_save_many(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(rows) == 0)
        return 0;
    return save_rows(conn, rows, "false", NULL, errbuf, errbuf_size);
}

int leads_store_pending_of(PGconn *conn, const json_t *rows, json_t *out, char *errbuf,
                           size_t errbuf_size)
{
    PGresult *res = NULL;

    if (json_array_size(rows) == 0)
        return 0;
    int rc = cf_pg_exec_json_planned(
        conn,
        "SELECT p.lead_id::text, p.event_id::text, p.event FROM leads.pending_facts p"
        " JOIN jsonb_to_recordset($1::jsonb) AS q(l uuid, n text)"
        " ON p.lead_id = q.l AND p.network_id = q.n"
        " ORDER BY p.raw_partition, p.raw_offset FOR UPDATE OF p",
        rows, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        json_t *j_facts = json_object_get(out, id);
        if (!j_facts) {
            j_facts = json_array();
            json_object_set_new(out, id, j_facts);
        }
        json_array_append_new(j_facts, json_pack("{s:s, s:s}", "event_id", PQgetvalue(res, i, 1),
                                                 "event", PQgetvalue(res, i, 2)));
    }
    PQclear(res);
    return rc;
}

int leads_store_take_pending(PGconn *conn, const json_t *event_ids, char *errbuf,
                             size_t errbuf_size)
{
    if (json_array_size(event_ids) == 0)
        return 0;
    return cf_pg_exec_json(conn,
                           "DELETE FROM leads.pending_facts"
                           " WHERE event_id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)",
                           event_ids, NULL, errbuf, errbuf_size);
}

int leads_store_pend(PGconn *conn, const struct cf_event *ev, const rd_kafka_message_t *rkm,
                     const char *lead_id, char *errbuf, size_t errbuf_size)
{
    char partition[16], offset[32];
    snprintf(partition, sizeof(partition), "%d", (int)rkm->partition);
    snprintf(offset, sizeof(offset), "%lld", (long long)rkm->offset);
    char *value = cf_xstrndup(rkm->payload ? (const char *)rkm->payload : "", rkm->len);
    const char *params[] = {ev->id, ev->networkid, lead_id, partition, offset, value};
    int rc = cf_pg_exec(conn,
                        "INSERT INTO leads.pending_facts (event_id, network_id, lead_id,"
                        " raw_partition, raw_offset, event)"
                        " VALUES ($1::uuid, $2, $3::uuid, $4::integer, $5::bigint, $6)"
                        " ON CONFLICT (event_id) DO NOTHING",
                        6, params, NULL, errbuf, errbuf_size);
    free(value);
    return rc;
}

int leads_store_code_tags(PGconn *conn, const char *network_id, const char *code, int64_t at_ms,
                          json_t **out, char *errbuf, size_t errbuf_size)
{
    char at[32];
    PGresult *res = NULL;
    json_error_t jerr;

    *out = NULL;
    /* The codes part creates the table (migration 4): until it is there,
     * no code is known. Asked first, so a missing table never fails the
     * transaction. */
    int rc = cf_pg_exec(conn, "SELECT to_regclass('leads.codes') IS NOT NULL", 0, NULL, &res,
                        errbuf, errbuf_size);
    const int there = rc == 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    res = NULL;
    if (rc != 0 || !there)
        return rc;
    cf_time_format(at_ms, at);
    const char *params[] = {code, network_id, at};
    rc = cf_pg_exec(conn,
                    "SELECT tags::text FROM leads.codes WHERE code = $1 AND network_id = $2"
                    " AND (expires_at IS NULL OR expires_at > $3::timestamptz)",
                    3, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0) {
        *out = cf_json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
        if (!json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
        }
    }
    PQclear(res);
    return rc;
}

int leads_store_patient_contacts(PGconn *conn, const char *patient_id, json_t *contacts,
                                 char *errbuf, size_t errbuf_size)
{
    /* every contact key of the leads the fold found the patient by (the
     * numbers the patient has since given up too, and the e-mail and
     * messenger accounts those leads gained), with the last message of
     * such a lead: the person held it until then at least */
    return cf_patients_add_held_contacts(
        conn,
        "SELECT c.network_id, c.contact_key, max(l.last_message_at)"
        " FROM leads.leads l JOIN leads.lead_contacts c USING (lead_id)"
        " WHERE l.patient_id = $1::uuid::text GROUP BY c.network_id, c.contact_key",
        patient_id, contacts, errbuf, errbuf_size);
}

int leads_store_erase(PGconn *conn, const char *patient_id, const json_t *contacts, char *errbuf,
                      size_t errbuf_size)
{
    char *contacts_text = cf_json_dumps(contacts);
    const char *params[] = {contacts_text, patient_id};

    /* The person's leads: the patient's, and those of one of its contact
     * keys that name no patient and came while the person held the key
     * (any time for a key the view holds, up to u for one given up: a
     * stranger may hold the number since; another patient's leads stay
     * theirs). Their documents lose what the person wrote and how to
     * reach them; the callback tasks the number to call, and the open
     * tasks are marked for the sweeper to give up (nobody can answer
     * them now: leads_tasks_take_expiring); the webhook
     * deliveries of their events (the whole event, sent or not) go. Each
     * key is kept with the erasure's time (leads.erasures): a request of
     * the person dated before it, still on leads.raw now, is stored erased
     * when it is folded (leads_store_erased). */
    int rc = cf_pg_exec(
        conn,
        "WITH e AS (SELECT p.lead_id FROM leads.leads p WHERE p.patient_id = $2::uuid::text"
        " UNION SELECT l.lead_id FROM " CF_PATIENTS_ERASED_KEYS_SQL " AS q"
        " JOIN leads.lead_contacts c ON c.network_id = q.n AND c.contact_key = q.k"
        " JOIN leads.leads l ON l.lead_id = c.lead_id"
        " WHERE l.patient_id IS NULL AND (q.u IS NULL OR l.received_at <= q.u)),"
        " x AS (INSERT INTO leads.erasures (network_id, contact_key, erased_at, held_until)"
        " SELECT q.n, q.k, now(), q.u FROM " CF_PATIENTS_ERASED_KEYS_SQL " AS q"
        " ON CONFLICT DO NOTHING),"
        " t AS (UPDATE leads.tasks SET doc = doc - 'contact', erased_at = CASE"
        " WHEN status = 'open' THEN coalesce(erased_at, now()) ELSE erased_at END"
        " WHERE lead_id IN (SELECT lead_id FROM e)"
        " AND (doc ? 'contact' OR (status = 'open' AND erased_at IS NULL))),"
        " d AS (DELETE FROM leads.deliveries WHERE lead_id IN (SELECT lead_id FROM e))"
        " UPDATE leads.leads SET doc = ((doc::jsonb - 'contact' - 'text' - 'subject'"
        " - 'text_truncated' - 'external') || '{\"erased\": true}'::jsonb)::json,"
        " updated_at = now()"
        " WHERE lead_id IN (SELECT lead_id FROM e)",
        2, params, NULL, errbuf, errbuf_size);
    free(contacts_text);
    return rc;
}

int leads_store_erased(PGconn *conn, const json_t *rows, json_t *erased, char *errbuf,
                       size_t errbuf_size)
{
    if (json_array_size(rows) == 0)
        return 0;
    PGresult *res = NULL;
    /* the table is empty but for the days after an erasure: the rows
     * are not even read then */
    int rc = cf_pg_exec_json(conn,
                             "SELECT DISTINCT r.e FROM json_to_recordset($1::json)"
                             " AS r(e int, n text, k text, t bigint)"
                             " JOIN leads.erasures x ON x.network_id = r.n AND x.contact_key = r.k"
                             " WHERE EXISTS (SELECT 1 FROM leads.erasures)"
                             " AND to_timestamp(r.t / 1000.0) <= x.erased_at"
                             " AND (x.held_until IS NULL"
                             " OR to_timestamp(r.t / 1000.0) <= x.held_until)",
                             rows, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        json_object_set_new(erased, PQgetvalue(res, i, 0), json_true());
    PQclear(res);
    return rc;
}

int leads_erase_person(void *arg, PGconn *conn, const char *patient_id, const json_t *contacts,
                       char *errbuf, size_t errbuf_size)
{
    (void)arg;
    /* The view holds the patient's latest numbers only; the leads the
     * patient sent from an earlier one name the patient, and give it. */
    json_t *all = json_deep_copy(contacts), *locks = json_array(), *held = NULL;
    int rc = leads_store_patient_contacts(conn, patient_id, all, errbuf, errbuf_size);
    /* The fold's locks of those keys, in its sorted round: a lead of the
     * person it is opening now (the patient looked up before this erasure
     * commits, the lead not yet committed) is committed first and then
     * erased here, not left whole; the keys are read again under them. */
    size_t i;
    json_t *j_c;
    json_array_foreach(all, i, j_c)
    {
        char *lock = leads_key_lock(json_string_value(json_object_get(j_c, "n")),
                                    json_string_value(json_object_get(j_c, "k")));
        json_array_append_new(locks, json_string(lock));
        free(lock);
    }
    if (rc == 0)
        rc = leads_store_lock_keys(conn, locks, errbuf, errbuf_size);
    if (rc == 0) {
        held = json_deep_copy(contacts);
        rc = leads_store_patient_contacts(conn, patient_id, held, errbuf, errbuf_size);
    }
    if (rc == 0)
        rc = leads_store_erase(conn, patient_id, held, errbuf, errbuf_size);
    json_decref(held);
    json_decref(locks);
    json_decref(all);
    return rc;
}
