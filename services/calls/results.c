/*
 * POST /v1/calls/{id}/result: the front desk or the CRM tags a call with
 * what came of it (booked, callback, arrived, refused, info, spam) and a
 * comment. Like every intake it is produced to calls.raw, keyed by the call
 * id so it is ordered after the call's facts, and the fold turns it into a
 * call.updated event. The call must exist in the key's network: the handler
 * reads (never writes) the call store to say 404 at once.
 *
 * The event id is uuid5(network, "call.result", call id, event_id) with the
 * sender's optional event_id, else the SHA-256 of the body: a retried
 * request is the same event and the fold drops the duplicate.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/http.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/validate.h"
#include "common/xmalloc.h"

static const char *const results[] = {"booked", "callback", "arrived", "refused",
                                      "info",   "spam",     NULL};

static const struct cf_field result_fields[] = {
    {"result", CF_FIELD_ENUM, 1, 0, 0, 0, 0, results},
    {"comment", CF_FIELD_STRING, 0, 0, 1000, 0, 0, NULL},
    {"event_id", CF_FIELD_STRING, 0, 1, 128, 0, 0, NULL},
};

/* The call's clinic (strdup'd; NULL when it has none) if the call exists in
 * network_id: 0, CF_ENOTFOUND, or CF_EUNAVAIL when PostgreSQL cannot say. */
static int call_lookup(struct calls_ctx *ctx, const char *call_id, const char *network_id,
                       char **clinic_out, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    const char *params[] = {call_id, network_id};
    int rc = cf_pg_pool_exec(
        ctx->svc->pg,
        "SELECT clinic_id FROM calls.calls WHERE call_id = $1::uuid AND network_id = $2", 2, params,
        &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 0)
        rc = CF_ENOTFOUND;
    else if (rc == 0)
        *clinic_out = PQgetisnull(res, 0, 0) ? NULL : cf_xstrdup(PQgetvalue(res, 0, 0));
    else if (rc != CF_EINVAL)
        rc = CF_EUNAVAIL;
    PQclear(res);
    return rc;
}

int handle_call_result_post(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct calls_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = NULL;
    const struct cf_network *net = NULL;
    json_t *j_body = NULL, *j_reply = NULL;
    json_error_t jerr;
    char field[64], errbuf[256], *clinic = NULL;
    struct cf_event ev = {0};
    const char *body;
    size_t body_len;
    int rc;

    if (cf_service_authorize(ctx->svc, req, resp, CF_SCOPE_INGEST | CF_SCOPE_ADMIN, &snap, &net) !=
        0)
        return U_CALLBACK_COMPLETE;

    const char *given = u_map_get(req->map_url, "id");
    if (!given || !cf_uuid_valid(given)) {
        cf_http_error(resp, 404, "not_found", "no such call", NULL);
        goto out;
    }
    /* The call's own form: the Kafka key (so its partition) and the event id
     * must not depend on how the caller spelled it. */
    char call_id[CF_UUID_STR_LEN + 1];
    memcpy(call_id, given, sizeof(call_id));
    cf_uuid_lower(call_id);
    const char *ctype = cf_http_header(req, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
        cf_http_error(resp, 415, "unsupported_media_type", "expected Content-Type application/json",
                      NULL);
        goto out;
    }
    body = cf_http_body(req, &body_len);
    j_body = json_loadb(body ? body : "", body ? body_len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!j_body) {
        cf_http_error(resp, 400, "invalid_json", jerr.text, NULL);
        goto out;
    }
    if (cf_validate_object(j_body, result_fields, sizeof(result_fields) / sizeof(result_fields[0]),
                           field, sizeof(field), errbuf, sizeof(errbuf)) != 0) {
        cf_http_error(resp, 400, "invalid_field", errbuf, field);
        goto out;
    }
    rc = call_lookup(ctx, call_id, net->id, &clinic, errbuf, sizeof(errbuf));
    if (rc == CF_ENOTFOUND) {
        cf_http_error(resp, 404, "not_found", "no such call in this network", NULL);
        goto out;
    }
    if (rc != 0) {
        cf_warn("call lookup failed: %s", errbuf);
        cf_http_error_from(resp, CF_EUNAVAIL, "the call store is unavailable; retry later", NULL,
                           ctx->svc->settings.kafka_retry_after_s);
        goto out;
    }

    /* The event: its id from the sender's event id or the body itself. */
    char idem[CF_SHA256_HEX_LEN + 1];
    const char *event_key = json_string_value(json_object_get(j_body, "event_id"));
    if (!event_key) {
        uint8_t digest[32];
        char *canon = json_dumps(j_body, JSON_COMPACT | JSON_SORT_KEYS);
        cf_sha256(canon, strlen(canon), digest);
        cf_hex(digest, sizeof(digest), idem);
        free(canon);
        event_key = idem;
    }
    const char *parts[] = {net->id, "call.result", call_id, event_key};
    cf_uuid5(parts, 4, ev.id);
    ev.source = cf_xstrdup("/clinicflow/calls/results");
    ev.type = cf_xstrdup("clinicflow.call.result");
    ev.subject = cf_xstrdup(call_id);
    ev.time_ms = cf_now_ms();
    ev.networkid = cf_xstrdup(net->id);
    ev.clinicid = clinic;
    clinic = NULL;
    ev.data = json_pack("{s:O}", "result", json_object_get(j_body, "result"));
    json_t *j_comment = json_object_get(j_body, "comment");
    if (j_comment && json_string_length(j_comment) > 0)
        json_object_set(ev.data, "comment", j_comment);

    rc = calls_produce_raw(ctx, &ev, errbuf, sizeof(errbuf));
    if (rc != 0) {
        calls_answer_unstored(ctx, resp, rc, "call result", errbuf);
        goto out;
    }
    j_reply = json_pack("{s:s, s:s}", "id", ev.id, "call_id", call_id);
    cf_http_json(resp, 202, j_reply);

out:
    free(clinic);
    cf_event_clear(&ev);
    json_decref(j_reply);
    json_decref(j_body);
    if (snap)
        cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}
