/*
 * The clinics' outgoing webhooks, first half: a consumer of leads.v1
 * (group clinicflow-leads-notify) that queues a delivery for each new and
 * each breached lead of a clinic whose network config names a
 * lead_webhook. The row (leads.deliveries) commits in the runner's
 * transaction with the consumer's offset, so every such event is queued
 * exactly once; notify_send.c sends it apart from this thread, so a slow
 * or dead receiver never holds up intake or the other consumers. The body
 * queued is the event as it is on the topic.
 */
#include "leads.h"
#include "lead_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/xmalloc.h"
#include "notify.h"

int leads_notify_wanted(const char *type)
{
    return type && (strcmp(type, "clinicflow.lead.received") == 0 ||
                    strcmp(type, "clinicflow.lead.sla_breached") == 0);
}

int leads_notify_too_old(int64_t broker_ms, int64_t now_ms, long max_age_s)
{
    return broker_ms >= 0 && broker_ms < now_ms - (int64_t)max_age_s * 1000;
}

int leads_notify_webhook(const json_t *j_clinic, const char **url, const char **secret)
{
    const json_t *j_hook = json_object_get(j_clinic, "lead_webhook");
    const char *u = json_string_value(json_object_get(j_hook, "url"));
    const char *s = json_string_value(json_object_get(j_hook, "secret"));
    if (!u || !*u || !s || !*s)
        return 0;
    *url = u;
    *secret = s;
    return 1;
}

int leads_notify_any(void *vctx)
{
    struct leads_ctx *ctx = vctx;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    const char *url, *secret;
    int any = 0;

    for (size_t i = 0; snap && i < snap->nnetworks && !any; i++) {
        const struct cf_network *net = &snap->networks[i];
        for (size_t c = 0; c < net->nclinics && !any; c++)
            any = leads_notify_webhook(net->clinics[c].doc, &url, &secret);
    }
    cf_netconf_release(snap);
    return any;
}

/* Runs on the notify consumer's thread inside its transaction; blocks on
 * conn. An event of another type, or of a clinic without a webhook, is
 * applied as nothing. */
int leads_notify_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                       const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                       size_t errbuf_size)
{
    struct leads_ctx *ctx = vctx;
    struct cf_netconf_snapshot *snap = NULL;
    char *body = NULL;
    const char *url, *secret;
    int rc = 0;
    (void)out;

    if (!ev || !leads_notify_wanted(ev->type))
        return 0;
    /* the envelope's clinic, else the lead's */
    const char *clinic_id =
        ev->clinicid ? ev->clinicid : json_string_value(json_object_get(ev->data, "clinic_id"));
    if (!clinic_id)
        return 0;
    snap = cf_netconf_acquire(ctx->svc->netconf);
    const struct cf_network *net = cf_netconf_network(snap, ev->networkid);
    const struct cf_clinic *clinic = net ? cf_netconf_clinic(net, clinic_id) : NULL;
    if (!clinic || !leads_notify_webhook(clinic->doc, &url, &secret))
        goto out;
    /* Old news: the group's first read of the topic (its 90 days, when a
     * release adds the notifier or a clinic its webhook), or an outage
     * longer than the bound. By the broker's time of the message: a
     * breach's event time is its due time, not when it was told. */
    rd_kafka_timestamp_type_t ts_type;
    const int64_t at = rd_kafka_message_timestamp(rkm, &ts_type);
    if (ts_type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE &&
        leads_notify_too_old(at, cf_time_now_ms(), ctx->cfg.notify_max_age_s)) {
        char labels[160];
        snprintf(labels, sizeof(labels), "clinic=\"%s\"", clinic->id);
        cf_metrics_add("clinicflow_leads_notify_too_old_total", labels, 1);
        goto out;
    }
    body = cf_xmalloc(rkm->len + 1);
    memcpy(body, rkm->payload, rkm->len);
    body[rkm->len] = '\0';
    /* the lead, by which a patient's tombstone finds the delivery */
    const char *lead_id = json_string_value(json_object_get(ev->data, "lead_id"));
    const char *params[] = {ev->id,     ev->networkid,
                            clinic->id, ev->type,
                            body,       lead_id && cf_uuid_valid(lead_id) ? lead_id : NULL};
    /* not for a lead whose person was erased meanwhile: the body is the
     * event as it went out, contact and text included */
    rc = cf_pg_exec(
        conn,
        "INSERT INTO leads.deliveries (event_id, network_id, clinic_id, event_type, body, lead_id)"
        " SELECT $1, $2, $3, $4, $5, $6::uuid WHERE NOT EXISTS (SELECT 1 FROM leads.leads l"
        " WHERE l.lead_id = $6::uuid AND " LEADS_ERASED_SQL(
            "l") ") ON CONFLICT (event_id) DO NOTHING",
        6, params, NULL, errbuf, errbuf_size);
    if (rc == 0) {
        char labels[160];
        snprintf(labels, sizeof(labels), "clinic=\"%s\"", clinic->id);
        cf_metrics_add("clinicflow_leads_notify_queued_total", labels, 1);
    }

out:
    free(body);
    cf_netconf_release(snap);
    return rc;
}
