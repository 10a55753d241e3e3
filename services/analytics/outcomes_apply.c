/*
 * The consumer of reminders.outcomes.v1 (group
 * clinicflow-analytics-reminders): each event is a row of its own (a
 * send's outcome, a campaign member, an NPS answer; outcome_facts.c),
 * inserted in one statement per kind with the offsets in the same
 * transaction.
 */
#include "analytics.h"
#include "outcome_facts_testable.h"
#include "outcome_store.h"

#include "common/err.h"
#include "common/metrics.h"
#include "common/netconf.h"

int analytics_outcomes_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                                   const rd_kafka_message_t *const *rkms, size_t n,
                                   struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    struct analytics_ctx *actx = ctx;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(actx->svc->netconf);
    json_t *rows[AN_OUTCOME_OTHER];
    int rc = 0;

    (void)rkms;
    (void)out;
    for (int k = 0; k < AN_OUTCOME_OTHER; k++)
        rows[k] = json_array();
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct cf_event *ev = evs[i];
        const enum an_outcome_kind kind = ev ? an_outcome_kind_of(ev->type) : AN_OUTCOME_OTHER;
        if (kind == AN_OUTCOME_OTHER)
            continue; /* an event type this consumer does not read */
        const struct cf_network *net = cf_netconf_network(snap, ev->networkid);
        json_t *row = an_outcome_row(kind, ev->id, ev->time_ms, ev->data, ev->networkid,
                                     net && net->tz ? net->tz : "UTC", errbuf, errbuf_size);
        if (!row)
            rc = CF_EINVAL;
        else
            json_array_append_new(rows[kind], row);
    }
    cf_netconf_release(snap);
    for (int k = 0; k < AN_OUTCOME_OTHER && rc == 0; k++)
        rc = an_outcomes_save(conn, (enum an_outcome_kind)k, rows[k], errbuf, errbuf_size);
    if (rc == 0) {
        cf_metrics_add("clinicflow_analytics_events_applied_total", "group=\"reminders\"",
                       (double)n);
    }
    for (int k = 0; k < AN_OUTCOME_OTHER; k++)
        json_decref(rows[k]);
    return rc;
}
