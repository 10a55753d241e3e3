/*
 * The expiry of facts waiting for their lead. A response or status naming
 * a lead that is not stored waits in leads.pending_facts (fold.c), so
 * that it neither holds the fold nor is lost when it reaches leads.raw
 * before the request that opens its lead; the request's first save takes
 * it. One whose lead never comes (a made-up or mistyped id, or another
 * network's lead) leaves the table here after
 * CLINICFLOW_LEADS_PENDING_EXPIRE_S for the DLQ (unknown_lead), as the
 * fold's group would have sent it, counted on /metrics. Any instance that
 * folds runs it: rows are taken FOR UPDATE SKIP LOCKED, so two instances
 * never send one twice, and the fold's take waits for neither.
 */
#include "leads.h"

#include "common/expire.h"

/* The worker (common/expire.h): a round every tenth of the setting (at
 * most a minute apart), and the count of facts waiting on all instances. */
void leads_pending_expirer(void *vctx)
{
    struct leads_ctx *ctx = vctx;
    struct cf_expire ex = {
        .svc = ctx->svc,
        .name = "pending expirer",
        .table = "leads.pending_facts",
        .key_column = "lead_id",
        .group = LEADS_FOLD_GROUP,
        .raw_topic = LEADS_TOPIC_RAW,
        .reason_code = "unknown_lead",
        .fact = "fact",
        .facts = "facts",
        .entity = "lead",
        .expired_metric = "clinicflow_leads_pending_expired_total",
        .expired_help = "Lead responses and statuses sent to the DLQ (unknown_lead) because no "
                        "lead of their network was stored within "
                        "CLINICFLOW_LEADS_PENDING_EXPIRE_S",
        .waiting_metric = "clinicflow_leads_pending_waiting",
        .waiting_help = "Lead responses and statuses waiting for their lead (all instances)",
        .wait_s = ctx->cfg.pending_expire_s,
    };
    cf_expire_worker(&ex);
}
