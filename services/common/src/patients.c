/*
 * The phone -> patient view (common/patients.h), one copy per service
 * schema. Statements name the schema in their text, built per call: the
 * statement cache keys prepared statements by text, so each schema's
 * statements are prepared once per connection.
 */
#include "common/patients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* Seconds an answer stays cached; its version key lives twice as long. */
#define CACHE_TTL_S 300
/* a look-up's column after the last visit: the first visit as the MIS
 * gave it (RFC 3339 text, read by cf_patients_row), or NULL */
#define FIRST_VISIT_SQL "p.doc->>'first_visit_at'"
/* Contacts whose versions one script call moves. */
#define VERSIONS_PER_CALL 500

static char *version_key(const char *schema, const char *network_id, const char *contact_key)
{
    return cf_xasprintf("cf:%s:patient-version:%s:%s", schema, network_id, contact_key);
}

/* Notes the version keys of the contacts of res (network_id, contact_key
 * in its first two columns) for batch_done, and appends them to contacts
 * when not NULL. */
static void touch_contacts(struct cf_patients *pv, PGresult *res, json_t *contacts)
{
    if (!pv->touched)
        pv->touched = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        const char *n = PQgetvalue(res, i, 0), *k = PQgetvalue(res, i, 1);
        char *vkey = version_key(pv->schema, n, k);
        json_array_append_new(pv->touched, json_string(vkey));
        free(vkey);
        if (contacts)
            json_array_append_new(contacts, json_pack("{s:s, s:s}", "n", n, "k", k));
    }
}

void cf_patients_batch_done(struct cf_patients *pv)
{
    static const char script[] =
        "for i = 2, #KEYS do"
        " redis.call('SET', KEYS[i], redis.call('INCR', KEYS[1]), 'EX', 600)"
        " end";
    const char *argv[4 + VERSIONS_PER_CALL];
    char nkeys[16];
    const size_t n = json_array_size(pv->touched);
    char *seq = cf_xasprintf("cf:%s:patient-version-seq", pv->schema);

    for (size_t from = 0; from < n; from += VERSIONS_PER_CALL) {
        size_t count = n - from < VERSIONS_PER_CALL ? n - from : VERSIONS_PER_CALL;
        int argc = 0;
        snprintf(nkeys, sizeof(nkeys), "%zu", count + 1);
        argv[argc++] = "EVAL";
        argv[argc++] = script;
        argv[argc++] = nkeys;
        argv[argc++] = seq;
        for (size_t i = 0; i < count; i++)
            argv[argc++] = json_string_value(json_array_get(pv->touched, from + i));
        redisReply *r = cf_redis_command_argv(pv->redis, argc, argv, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR)
            cf_warn("patients: cache versions not moved (%s); old answers live up to %d s",
                    r ? r->str : "Redis unavailable", CACHE_TTL_S);
        if (r)
            freeReplyObject(r);
    }
    free(seq);
    json_decref(pv->touched);
    pv->touched = NULL;
}

/* Deletes the patient and its contacts; contacts (when not NULL) gets the
 * contacts the view held for it. */
static int delete_patient(struct cf_patients *pv, PGconn *conn, const char *patient_id,
                          json_t *contacts, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    const char *params[] = {patient_id};
    char *sql = cf_xasprintf("DELETE FROM %s.patient_contacts WHERE patient_id = $1::uuid"
                             " RETURNING network_id, contact_key",
                             pv->schema);
    int rc = cf_pg_exec(conn, sql, 1, params, &res, errbuf, errbuf_size);
    free(sql);
    if (rc == 0)
        touch_contacts(pv, res, contacts);
    PQclear(res);
    if (rc != 0)
        return rc;
    sql = cf_xasprintf("DELETE FROM %s.patients WHERE patient_id = $1::uuid", pv->schema);
    rc = cf_pg_exec(conn, sql, 1, params, NULL, errbuf, errbuf_size);
    free(sql);
    return rc;
}

static int tombstone(struct cf_patients *pv, PGconn *conn, const rd_kafka_message_t *rkm,
                     char *errbuf, size_t errbuf_size)
{
    char patient_id[CF_UUID_STR_LEN + 1];

    if (!rkm->key || rkm->key_len != CF_UUID_STR_LEN)
        return 0;
    snprintf(patient_id, sizeof(patient_id), "%.*s", (int)rkm->key_len, (const char *)rkm->key);
    if (!cf_uuid_valid(patient_id))
        return 0;
    json_t *contacts = json_array();
    int rc = delete_patient(pv, conn, patient_id, contacts, errbuf, errbuf_size);
    if (rc == 0 && pv->erase)
        rc = pv->erase(pv->erase_arg, conn, patient_id, contacts, errbuf, errbuf_size);
    json_decref(contacts);
    return rc;
}

int cf_patients_add_held_contacts(PGconn *conn, const char *sql, const char *patient_id,
                                  json_t *contacts, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    const char *params[] = {patient_id};
    int rc = cf_pg_exec(conn, sql, 1, params, &res, errbuf, errbuf_size);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        json_array_append_new(contacts,
                              json_pack("{s:s, s:s, s:s}", "n", PQgetvalue(res, i, 0), "k",
                                        PQgetvalue(res, i, 1), "u", PQgetvalue(res, i, 2)));
    PQclear(res);
    return rc;
}

int cf_patients_apply(struct cf_patients *pv, PGconn *conn, const struct cf_event *ev,
                      const rd_kafka_message_t *rkm, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    char *doc = NULL, *keys_json = NULL, *sql = NULL;

    if (!ev)
        return tombstone(pv, conn, rkm, errbuf, errbuf_size);
    if (strcmp(ev->type, "clinicflow.patient.upserted") != 0)
        return 0; /* other patient events are not ours to read */
    const char *pid = json_string_value(json_object_get(ev->data, "patient_id"));
    const json_t *keys = json_object_get(ev->data, "contact_keys");
    if (!pid || !cf_uuid_valid(pid) || !json_is_array(keys) || !ev->networkid) {
        snprintf(errbuf, errbuf_size, "patient event without patient_id, contact_keys or network");
        return CF_EINVAL;
    }
    int rc = delete_patient(pv, conn, pid, NULL, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    const char *last = json_string_value(json_object_get(ev->data, "last_visit_at"));
    const char *recall = json_string_value(json_object_get(ev->data, "recall_at"));
    doc = cf_json_dumps(ev->data);
    const char *params[] = {ev->networkid, pid, last, recall, doc};
    sql = cf_xasprintf("INSERT INTO %s.patients (network_id, patient_id, last_visit_at, recall_at,"
                       " doc) VALUES ($1, $2::uuid, $3::timestamptz, $4::timestamptz, $5::jsonb)",
                       pv->schema);
    rc = cf_pg_exec(conn, sql, 5, params, NULL, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    free(sql);
    keys_json = cf_json_dumps(keys);
    const char *kparams[] = {ev->networkid, pid, keys_json};
    /* A phone moves to the patient who declares it last. A key listed twice
     * is one row: ON CONFLICT cannot touch a row twice in one statement, and
     * the error would hold the partition forever. */
    sql = cf_xasprintf("INSERT INTO %s.patient_contacts (network_id, contact_key, patient_id)"
                       " SELECT DISTINCT $1, k, $2::uuid"
                       " FROM jsonb_array_elements_text($3::jsonb) AS k"
                       " ON CONFLICT (network_id, contact_key) DO UPDATE"
                       " SET patient_id = EXCLUDED.patient_id"
                       " RETURNING network_id, contact_key",
                       pv->schema);
    rc = cf_pg_exec(conn, sql, 3, kparams, &res, errbuf, errbuf_size);
    if (rc == 0)
        touch_contacts(pv, res, NULL);
out:
    PQclear(res);
    free(sql);
    free(keys_json);
    free(doc);
    return rc;
}

json_t *cf_patients_row(const PGresult *res, int i, int col)
{
    json_t *j_pat = json_pack("{s:s}", "patient_id", PQgetvalue(res, i, col));
    char buf[32];
    int64_t first_ms;

    if (!PQgetisnull(res, i, col + 1)) {
        cf_time_format(strtoll(PQgetvalue(res, i, col + 1), NULL, 10), buf);
        json_object_set_new(j_pat, "last_visit_at", json_string(buf));
    }
    if (!PQgetisnull(res, i, col + 2) &&
        cf_time_parse(PQgetvalue(res, i, col + 2), &first_ms) == 0) {
        cf_time_format(first_ms, buf);
        json_object_set_new(j_pat, "first_visit_at", json_string(buf));
    }
    return j_pat;
}

int cf_patients_lookup(struct cf_patients *pv, PGconn *conn, const char *network_id,
                       const char *contact_key, json_t **out, char *errbuf, size_t errbuf_size)
{
    char version[32] = "0";
    json_error_t jerr;
    char *key = cf_xasprintf("cf:%s:patient-cache:%s:%s", pv->schema, network_id, contact_key);
    char *vkey = version_key(pv->schema, network_id, contact_key);
    char *cached = NULL, *sql = NULL;
    PGresult *res = NULL;
    redisReply *r;
    int rc = 0;

    *out = NULL;
    r = cf_redis_command(pv->redis, "MGET %s %s", key, vkey);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        const redisReply *entry = r->element[0], *ver = r->element[1];
        if (ver->type == REDIS_REPLY_STRING)
            snprintf(version, sizeof(version), "%s", ver->str);
        const size_t vlen = strlen(version);
        if (entry->type == REDIS_REPLY_STRING && strncmp(entry->str, version, vlen) == 0 &&
            entry->str[vlen] == '|') {
            if (strcmp(entry->str + vlen + 1, "none") != 0)
                *out = cf_json_loads(entry->str + vlen + 1, 0, &jerr);
            freeReplyObject(r);
            goto out;
        }
    }
    if (r)
        freeReplyObject(r);

    /* Cached under the version read before PostgreSQL: a change committed
     * meanwhile moves it, so this answer, old by then, is never used. */
    const char *params[] = {network_id, contact_key};
    sql = cf_xasprintf("SELECT p.patient_id::text,"
                       " (extract(epoch FROM p.last_visit_at) * 1000)::bigint, " FIRST_VISIT_SQL
                       " FROM %s.patient_contacts c"
                       " JOIN %s.patients p USING (network_id, patient_id)"
                       " WHERE c.network_id = $1 AND c.contact_key = $2",
                       pv->schema, pv->schema);
    rc = cf_pg_exec(conn, sql, 2, params, &res, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    if (PQntuples(res) > 0) {
        *out = cf_patients_row(res, 0, 0);
        cached = cf_json_dumps(*out);
    }
    r = cf_redis_command(pv->redis, "SET %s %s|%s EX %d", key, version, cached ? cached : "none",
                         CACHE_TTL_S);
    if (r)
        freeReplyObject(r);
out:
    PQclear(res);
    free(cached);
    free(sql);
    free(vkey);
    free(key);
    return rc;
}

int cf_patients_lookup_many(const struct cf_patients *pv, PGconn *conn, const json_t *rows,
                            PGresult **res, char *errbuf, size_t errbuf_size)
{
    char *sql =
        cf_xasprintf("SELECT q.i, p.patient_id::text,"
                     " (extract(epoch FROM p.last_visit_at) * 1000)::bigint, " FIRST_VISIT_SQL
                     " FROM jsonb_to_recordset($1::jsonb) AS q(i int, n text, k text)"
                     " CROSS JOIN LATERAL (SELECT p.patient_id, p.last_visit_at, p.doc"
                     " FROM %s.patient_contacts c"
                     " JOIN %s.patients p USING (network_id, patient_id)"
                     " WHERE c.network_id = q.n AND c.contact_key = q.k LIMIT 1) AS p",
                     pv->schema, pv->schema);
    int rc = cf_pg_exec_json_planned(conn, sql, rows, res, errbuf, errbuf_size);
    free(sql);
    return rc;
}

const char *cf_patients_class(const json_t *j_pat, int64_t at_ms)
{
    const int64_t last = cf_time_json_get(j_pat, "last_visit_at");
    const int64_t first = cf_time_json_get(j_pat, "first_visit_at");

    if (!j_pat || last < 0)
        return "new";
    /* a contact classed after the first visit it led to (the fold behind,
     * a late report): not yet a patient then. (Had they come before, the
     * visit before the contact is not known: a patient, as they were.) */
    if (last > at_ms && first > at_ms)
        return "new";
    return at_ms - last <= CF_PATIENTS_REPEAT_WITHIN_MS ? "repeat" : "lapsed";
}
