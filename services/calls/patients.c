/*
 * The phone -> patient view the call tags come from: a consumer of
 * clinicflow.patients.v1 (a compacted topic, keyed by patient id) keeps
 * calls.patients and calls.patient_contacts (contact key -> patient) as the
 * latest upsert says, deletes a patient on its tombstone (right to
 * erasure), and, once the batch is over, moves the cache version of every
 * contact key it touched (calls.h), so no answer the fold cached from the
 * rows before the change is used after it. Dropping the entries
 * inside the transaction would not do: a call folded before the commit
 * reads the old rows and caches them again.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/redis.h"
#include "common/xmalloc.h"

/* Notes the version keys of the contacts of res (network_id, contact_key)
 * for batch_done. */
static void touch_contacts(struct calls_ctx *ctx, PGresult *res)
{
    if (!ctx->patients_touched)
        ctx->patients_touched = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        char *key =
            cf_xasprintf(CALLS_PATIENT_VERSION_KEY, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        json_array_append_new(ctx->patients_touched, json_string(key));
        free(key);
    }
}

/* Contacts whose versions one script call moves. */
#define VERSIONS_PER_CALL 500

void calls_patients_batch_done(void *vctx, int committed)
{
    struct calls_ctx *ctx = vctx;
    /* Rolled back too: a commit whose answer was lost looks like one, and
     * its events are skipped as applied when the batch comes again. A
     * version moved for nothing only costs a cache miss. Each version is
     * kept past the entries' 300 s, though one that expired is never handed
     * out again anyway. */
    static const char script[] =
        "for i = 2, #KEYS do"
        " redis.call('SET', KEYS[i], redis.call('INCR', KEYS[1]), 'EX', 600)"
        " end";
    const char *argv[4 + VERSIONS_PER_CALL];
    char nkeys[16];
    const size_t n = json_array_size(ctx->patients_touched);

    (void)committed;
    for (size_t from = 0; from < n; from += VERSIONS_PER_CALL) {
        size_t count = n - from < VERSIONS_PER_CALL ? n - from : VERSIONS_PER_CALL;
        int argc = 0;
        snprintf(nkeys, sizeof(nkeys), "%zu", count + 1);
        argv[argc++] = "EVAL";
        argv[argc++] = script;
        argv[argc++] = nkeys;
        argv[argc++] = CALLS_PATIENT_VERSION_SEQ;
        for (size_t i = 0; i < count; i++)
            argv[argc++] = json_string_value(json_array_get(ctx->patients_touched, from + i));
        redisReply *r = cf_redis_command_argv(ctx->svc->redis, argc, argv, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR)
            cf_warn("patients: cache versions not moved (%s); old answers live up to 300 s",
                    r ? r->str : "Redis unavailable");
        if (r)
            freeReplyObject(r);
    }
    json_decref(ctx->patients_touched);
    ctx->patients_touched = NULL;
}

static int delete_patient(struct calls_ctx *ctx, PGconn *conn, const char *patient_id, char *errbuf,
                          size_t errbuf_size)
{
    PGresult *res = NULL;
    const char *params[] = {patient_id};
    int rc = cf_pg_exec(conn,
                        "DELETE FROM calls.patient_contacts WHERE patient_id = $1::uuid"
                        " RETURNING network_id, contact_key",
                        1, params, &res, errbuf, errbuf_size);
    if (rc == 0)
        touch_contacts(ctx, res);
    PQclear(res);
    if (rc == 0)
        rc = cf_pg_exec(conn, "DELETE FROM calls.patients WHERE patient_id = $1::uuid", 1, params,
                        NULL, errbuf, errbuf_size);
    return rc;
}

int calls_patients_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                         const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                         size_t errbuf_size)
{
    struct calls_ctx *ctx = vctx;
    char patient_id[CF_UUID_STR_LEN + 1];
    (void)out;

    if (!ev) { /* tombstone: the key is the patient id */
        if (!rkm->key || rkm->key_len != CF_UUID_STR_LEN)
            return 0;
        snprintf(patient_id, sizeof(patient_id), "%.*s", (int)rkm->key_len, (const char *)rkm->key);
        if (!cf_uuid_valid(patient_id))
            return 0;
        return delete_patient(ctx, conn, patient_id, errbuf, errbuf_size);
    }
    if (strcmp(ev->type, "clinicflow.patient.upserted") != 0)
        return 0; /* other patient events are not ours to read */
    const char *pid = json_string_value(json_object_get(ev->data, "patient_id"));
    const json_t *keys = json_object_get(ev->data, "contact_keys");
    if (!pid || !cf_uuid_valid(pid) || !json_is_array(keys) || !ev->networkid) {
        snprintf(errbuf, errbuf_size, "patient event without patient_id, contact_keys or network");
        return CF_EINVAL;
    }
    int rc = delete_patient(ctx, conn, pid, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    const char *last = json_string_value(json_object_get(ev->data, "last_visit_at"));
    const char *recall = json_string_value(json_object_get(ev->data, "recall_at"));
    char *doc = json_dumps(ev->data, JSON_COMPACT);
    const char *params[] = {ev->networkid, pid, last, recall, doc};
    rc = cf_pg_exec(conn,
                    "INSERT INTO calls.patients (network_id, patient_id, last_visit_at, recall_at,"
                    " doc) VALUES ($1, $2::uuid, $3::timestamptz, $4::timestamptz, $5::jsonb)",
                    5, params, NULL, errbuf, errbuf_size);
    free(doc);
    if (rc != 0)
        return rc;
    char *keys_json = json_dumps(keys, JSON_COMPACT);
    const char *kparams[] = {ev->networkid, pid, keys_json};
    PGresult *res = NULL;
    /* A phone moves to the patient who declares it last. A key listed twice
     * is one row: ON CONFLICT cannot touch a row twice in one statement, and
     * the error would hold the partition forever. */
    rc = cf_pg_exec(conn,
                    "INSERT INTO calls.patient_contacts (network_id, contact_key, patient_id)"
                    " SELECT DISTINCT $1, k, $2::uuid"
                    " FROM jsonb_array_elements_text($3::jsonb) AS k"
                    " ON CONFLICT (network_id, contact_key) DO UPDATE"
                    " SET patient_id = EXCLUDED.patient_id"
                    " RETURNING network_id, contact_key",
                    3, kparams, &res, errbuf, errbuf_size);
    if (rc == 0)
        touch_contacts(ctx, res);
    PQclear(res);
    free(keys_json);
    return rc;
}
