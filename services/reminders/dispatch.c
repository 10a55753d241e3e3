/*
 * The dispatcher: a consumer of clinicflow.reminders.commands.v1 (any
 * number of instances share its partitions) that sends each command
 * through its clinic's gateway channel, once. Right before the send it
 * reads the patient's record: no phone, or no consent for the channel
 * (calls for a robot call, SMS for an SMS), and the send is skipped with
 * that reason.
 *
 * Once, across crashes: each send has an id (UUIDv5 over the job and the
 * attempt) and a row in reminders.sends, written on a connection of its
 * own, outside the runner's transaction, so what a send did survives a
 * batch rolled back and retried. The row says "sending" (committed) before
 * the request leaves and its end right after the answer. A command found
 * with its send still "sending" was taken by a process that died between
 * the two: the request may have reached the gateway, and a webhook gateway
 * keeps no record we can ask, so the send becomes "unknown" (counted) and
 * is never made again blindly. A gateway that cannot be reached takes the
 * mark back and the command waits (CF_EWAIT: retried, never poison).
 */
#include "dispatch.h"
#include "gateway_testable.h"
#include "mis.h"
#include "reminders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/netconf.h"
#include "common/pg.h"

#define GATEWAY_ANSWER_MAX 65536

static void count_send(const char *gateway, const char *status)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "gateway=\"%s\",status=\"%s\"", gateway, status);
    cf_metrics_add("clinicflow_reminders_sends_total", labels, 1);
}

/* The clinic's gateway channel in the snapshot, or NULL. */
static const struct cf_channel *gateway_of(const struct cf_netconf_snapshot *snap,
                                           const char *network_id, const char *clinic_id)
{
    for (size_t i = 0; i < snap->nchannels; i++) {
        const struct cf_channel *ch = &snap->channels[i];
        const char *c = json_string_value(json_object_get(ch->doc, "clinic_id"));
        if (strcmp(ch->kind, "gateway") == 0 && strcmp(ch->network_id, network_id) == 0 && c &&
            strcmp(c, clinic_id) == 0)
            return ch;
    }
    return NULL;
}

/* What the clinic is called and where, for the message. */
static json_t *clinic_of(const struct cf_netconf_snapshot *snap, const char *network_id,
                         const char *clinic_id)
{
    const struct cf_network *net = cf_netconf_network(snap, network_id);
    const struct cf_clinic *c = net ? cf_netconf_clinic(net, clinic_id) : NULL;
    if (!c)
        return json_pack("{s:s}", "id", clinic_id);
    return json_pack("{s:s, s:s?, s:O?}", "id", clinic_id, "name", c->name, "address",
                     json_object_get(c->doc, "address"));
}

/* The POST to a webhook gateway: 0 with *status and *http set, or
 * CF_EUNAVAIL when it never reached the gateway. */
static int send_webhook(struct reminders_ctx *ctx, const struct cf_channel *ch, const char *body,
                        const char *send_id, const char **status, const char **reason, long *http,
                        char *errbuf, size_t errbuf_size)
{
    const json_t *cred = json_object_get(ch->doc, "credentials");
    char sig[8 + CF_SHA256_HEX_LEN], sig_h[128], key_h[96];
    gw_webhook_signature(json_string_value(json_object_get(cred, "secret")), body, strlen(body),
                         sig);
    snprintf(sig_h, sizeof(sig_h), GW_SIGNATURE_HEADER ": %s", sig);
    snprintf(key_h, sizeof(key_h), "Idempotency-Key: %s", send_id);
    const char *headers[] = {"Content-Type: application/json", sig_h, key_h};
    struct cf_http_client_request req = {
        .method = "POST",
        .url = json_string_value(json_object_get(cred, "url")),
        .headers = headers,
        .n_headers = 3,
        .body = body,
        .body_len = strlen(body),
        .timeout_ms = ctx->cfg.gateway_timeout_ms,
        .max_response = GATEWAY_ANSWER_MAX,
    };
    struct cf_http_client_response resp = {0};
    int rc = cf_http_client_do(&req, &resp, errbuf, errbuf_size);
    *http = resp.status;
    if (rc == CF_EUNAVAIL || rc == CF_EINVAL) {
        cf_http_client_response_free(&resp);
        return CF_EUNAVAIL;
    }
    if (rc != 0) { /* out, and no answer in time: it may have arrived */
        *status = "unknown";
        *reason = "no_answer_in_time";
    } else if (resp.status >= 200 && resp.status < 300) {
        *status = "sent";
    } else {
        *status = "failed";
        *reason = "gateway_refused";
    }
    cf_http_client_response_free(&resp);
    return 0;
}

int reminders_dispatch_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                             const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                             size_t errbuf_size)
{
    struct reminders_ctx *ctx = vctx;
    struct cf_netconf_snapshot *snap = NULL;
    struct mis_stored st = {0};
    PGconn *mc = NULL;
    char send_id[CF_UUID_STR_LEN + 1], have[16], had_gateway[32], attempt[16];
    char *body = NULL;
    const char *status = NULL, *reason = NULL, *gateway = "none", *phone = NULL;
    long http = 0;
    int rc = 0;
    (void)rkm;
    (void)out;

    if (!ev || strcmp(ev->type, "clinicflow.reminder.command") != 0)
        return 0;
    const json_t *cmd = ev->data;
    const char *job_id = json_string_value(json_object_get(cmd, "job_id"));
    const char *patient_id = json_string_value(json_object_get(cmd, "patient_id"));
    const char *clinic_id = json_string_value(json_object_get(cmd, "clinic_id"));
    if (!job_id || !patient_id || !clinic_id || !cf_uuid_valid(patient_id)) {
        snprintf(errbuf, errbuf_size, "command without job_id, patient_id or clinic_id");
        return CF_EINVAL;
    }
    snprintf(attempt, sizeof(attempt), "%lld",
             (long long)json_integer_value(json_object_get(cmd, "attempt")));
    const char *parts[] = {job_id, "send", attempt};
    cf_uuid5(parts, 3, send_id);

    if (!(mc = cf_pg_pool_acquire(ctx->svc->pg, errbuf, errbuf_size)))
        return CF_EUNAVAIL;
    if ((rc = send_store_status(mc, send_id, have, had_gateway, errbuf, errbuf_size)) != 0)
        goto out;
    if (strcmp(have, "sending") == 0) { /* its process died mid-send */
        status = "unknown";
        reason = "crashed_mid_send";
        gateway = had_gateway;
        goto finish;
    }
    if (have[0]) /* done already: a command read again */
        goto out;

    if ((rc = mis_store_get(conn, MIS_PATIENT, patient_id, 0, &st, errbuf, errbuf_size)) != 0)
        goto out;
    const char *channel = json_string_value(json_object_get(cmd, "channel"));
    if (!st.found || st.erased || !st.record) {
        status = "skipped";
        reason = "no_patient";
        goto finish;
    }
    if ((reason = gw_may_send(st.record, channel, &phone))) {
        status = "skipped";
        goto finish;
    }
    snap = cf_netconf_acquire(ctx->svc->netconf);
    const struct cf_channel *ch = gateway_of(snap, ev->networkid, clinic_id);
    if (!ch) {
        status = "skipped";
        reason = "no_gateway";
        goto finish;
    }
    gateway = ch->provider;
    json_t *contact = json_pack("{s:s, s:O?, s:O?}", "phone", phone, "first_name",
                                json_object_get(st.record, "first_name"), "language",
                                json_object_get(st.record, "language"));
    json_t *clinic = clinic_of(snap, ev->networkid, clinic_id);
    body = gw_webhook_body(send_id, cmd, contact, clinic);
    json_decref(contact);
    json_decref(clinic);

    if ((rc = send_store_mark_sending(mc, send_id, cmd, gateway, errbuf, errbuf_size)) != 0)
        goto out;
    rc = send_webhook(ctx, ch, body, send_id, &status, &reason, &http, errbuf, errbuf_size);
    if (rc == CF_EUNAVAIL) { /* never reached the gateway: the command waits */
        cf_warn("dispatch: gateway %s of clinic %s: %s", ch->id, clinic_id, errbuf);
        char ignored[128];
        rc = send_store_unmark(mc, send_id, ignored, sizeof(ignored)) == 0 ? CF_EWAIT : CF_EUNAVAIL;
        goto out;
    }
finish:
    rc = send_store_finish(mc, send_id, cmd, status, reason, http, errbuf, errbuf_size);
    if (rc == 0)
        count_send(gateway, status);
out:
    free(body);
    json_decref(st.record);
    if (snap)
        cf_netconf_release(snap);
    cf_pg_pool_release(ctx->svc->pg, mc);
    return rc;
}
