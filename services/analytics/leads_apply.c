/*
 * The consumer of leads.v1 (group clinicflow-analytics-leads). A lead's
 * events are in order on one partition (keyed by lead id) and each tells
 * part of it (lead_facts.c): a batch merges each lead's patches in order
 * and saves them in one statement, touches the people who wrote (their
 * first and last non-direct contact; mis_facts.c), with the offsets in
 * the same transaction.
 */
#include "analytics.h"
#include "lead_facts_testable.h"
#include "lead_store.h"
#include "mis_facts_testable.h"
#include "mis_store.h"

#include <string.h>

#include "common/err.h"
#include "common/metrics.h"
#include "common/netconf.h"

int analytics_leads_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                                const rd_kafka_message_t *const *rkms, size_t n,
                                struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    struct analytics_ctx *actx = ctx;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(actx->svc->netconf);
    json_t *by_lead = json_object(), *patches = NULL, *touches = json_object(), *patch;
    const char *id;
    int rc = 0;

    (void)rkms;
    (void)out;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!evs[i])
            continue;
        const struct cf_network *net = cf_netconf_network(snap, evs[i]->networkid);
        patch = an_lead_patch(evs[i]->type, evs[i]->data, evs[i]->time_ms, evs[i]->networkid,
                              net && net->tz ? net->tz : "UTC", errbuf, errbuf_size);
        if (!patch) {
            rc = CF_EINVAL;
            break;
        }
        json_t *touch = an_touch_of_lead(patch);
        if (touch)
            an_touch_add(touches, touch);
        json_decref(touch);
        if (json_object_size(patch)) {
            id = json_string_value(json_object_get(patch, "lead_id"));
            json_t *have = json_object_get(by_lead, id);
            if (have)
                an_lead_patch_merge(have, patch);
            else
                json_object_set(by_lead, id, patch);
        }
        json_decref(patch);
    }
    cf_netconf_release(snap);
    patches = analytics_values(by_lead);
    if (rc == 0 && json_array_size(patches))
        rc = an_leads_save(conn, patches, errbuf, errbuf_size);
    if (rc == 0)
        rc = an_persons_touch(conn, touches, errbuf, errbuf_size);
    if (rc == 0) {
        cf_metrics_add("clinicflow_analytics_events_applied_total", "group=\"leads\"", (double)n);
    }
    json_decref(by_lead);
    json_decref(patches);
    json_decref(touches);
    return rc;
}
