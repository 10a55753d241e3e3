/*
 * POST /v1/calls/{id}/result: the front desk or the CRM tags a call with
 * what came of it (booked, callback, arrived, refused, info, spam) and a
 * comment. Like every intake it is verified, produced to calls.raw and
 * acknowledged, and nothing else: the handler never reads PostgreSQL, so an
 * intake-only instance takes results while PostgreSQL is down, and a result
 * posted right after the call's own 202 (before the fold stored the call)
 * is not refused. Keyed by the call id, the result is on the call's
 * partition, after the call's facts the provider had delivered; the fold
 * applies it to a call of the key's network only (fold.c), and keeps one
 * whose call it has not stored yet until the call comes. A result whose
 * call never comes expires here: the worker below drops it to the DLQ after
 * CLINICFLOW_CALLS_RESULT_WAIT_S, counted on /metrics.
 *
 * The event id is uuid5(network, "call.result", call id, key) with the
 * sender's idempotency key (the body's event_id or the Idempotency-Key
 * header), so a retried request is the same event and the fold drops the
 * repeat. Without a key every post is a new result (a random id): the same
 * result posted twice, booked -> refused -> booked, is three results, and
 * the latest wins.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/err.h"
#include "common/expire.h"
#include "common/hash.h"
#include "common/http.h"
#include "common/json_text.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/topics.h"
#include "common/validate.h"
#include "common/xmalloc.h"

#define KEY_MAX 128 /* characters of an idempotency key, as of event_id */

static const char *const results[] = {"booked", "callback", "arrived", "refused",
                                      "info",   "spam",     NULL};

static const struct cf_field result_fields[] = {
    {"result", CF_FIELD_ENUM, 1, 0, 0, 0, 0, results},
    {"comment", CF_FIELD_STRING, 0, 0, 1000, 0, 0, NULL},
    {"event_id", CF_FIELD_STRING, 0, 1, KEY_MAX, 0, 0, NULL},
};

/* The sender's idempotency key: the body's event_id or the Idempotency-Key
 * header, which must agree when both are given. NULL with *field set to
 * the one at fault when they disagree or the header is not a key; NULL
 * with *field NULL when there is none. */
static const char *idempotency_key(const struct _u_request *req, const json_t *j_body,
                                   const char **field)
{
    const char *in_body = json_string_value(json_object_get(j_body, "event_id"));
    const char *header = cf_http_header(req, "Idempotency-Key");

    *field = NULL;
    if (header) {
        size_t n = 0;
        while (header[n] >= 0x20 && header[n] <= 0x7e && n <= KEY_MAX)
            n++;
        if (n == 0 || n > KEY_MAX || header[n] != '\0') {
            *field = "Idempotency-Key";
            return NULL;
        }
    }
    if (in_body && header && strcmp(in_body, header) != 0) {
        *field = "event_id";
        return NULL;
    }
    return in_body ? in_body : header;
}

int handle_call_result_post(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct calls_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = NULL;
    const struct cf_network *net = NULL;
    json_t *j_body = NULL, *j_reply = NULL;
    json_error_t jerr;
    char field[64], errbuf[256];
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
    j_body = cf_json_loadb(body ? body : "", body ? body_len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!j_body) {
        cf_http_error(resp, 400, "invalid_json", jerr.text, NULL);
        goto out;
    }
    if (cf_validate_object(j_body, result_fields, sizeof(result_fields) / sizeof(result_fields[0]),
                           field, sizeof(field), errbuf, sizeof(errbuf)) != 0) {
        cf_http_error(resp, 400, "invalid_field", errbuf, field);
        goto out;
    }
    const char *bad = NULL;
    const char *event_key = idempotency_key(req, j_body, &bad);
    if (bad) {
        cf_http_error(resp, 400, "invalid_field",
                      strcmp(bad, "event_id") == 0
                          ? "event_id and the Idempotency-Key header differ"
                          : "the Idempotency-Key header must be 1 to 128 printable ASCII "
                            "characters",
                      bad);
        goto out;
    }

    if (event_key) {
        const char *parts[] = {net->id, "call.result", call_id, event_key};
        cf_uuid5(parts, 4, ev.id);
    } else {
        cf_uuid4(ev.id);
    }
    ev.source = cf_xstrdup("/clinicflow/calls/results");
    ev.type = cf_xstrdup("clinicflow.call.result");
    ev.subject = cf_xstrdup(call_id);
    ev.time_ms = cf_time_now_ms();
    ev.networkid = cf_xstrdup(net->id);
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
    cf_event_clear(&ev);
    json_decref(j_reply);
    json_decref(j_body);
    if (snap)
        cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}

/* The worker that sends results whose call never came to the DLQ
 * (call_not_stored) after CLINICFLOW_CALLS_RESULT_WAIT_S (common/expire.h),
 * on any instance that folds. A commit that fails after Kafka took the
 * entries sends them again (same ids), and a call whose first fact comes in
 * between gets its result applied although the DLQ has it too. */
void calls_results_expirer(void *vctx)
{
    struct calls_ctx *ctx = vctx;
    struct cf_expire ex = {
        .svc = ctx->svc,
        .name = "result expirer",
        .table = "calls.pending_results",
        .key_column = "call_id",
        .group = CALLS_FOLD_GROUP,
        .raw_topic = CF_TOPIC_CALLS_RAW,
        .reason_code = "call_not_stored",
        .fact = "result",
        .facts = "call results",
        .entity = "call",
        .expired_metric = "clinicflow_calls_results_expired_total",
        .expired_help = "Call results dropped to the DLQ because no call of their network was "
                        "stored within CLINICFLOW_CALLS_RESULT_WAIT_S",
        .waiting_metric = "clinicflow_calls_results_waiting",
        .waiting_help = "Call results kept until their call is stored (all instances)",
        .wait_s = ctx->cfg.result_wait_s,
    };
    cf_expire_worker(&ex);
}
