/*
 * Retention of the leads schema's growing tables: a worker deletes rows
 * past their age (CLINICFLOW_LEADS_RETENTION_<TABLE>_DAYS, 0 keeps them)
 * every CLINICFLOW_LEADS_RETENTION_INTERVAL_S, in chunks of
 * CLINICFLOW_LEADS_RETENTION_CHUNK rows, one instance at a time (the lease
 * "retention" in leads.leases): the loop, the lease and the chunks are
 * common/retention.h's, as for calls; this file says which tables, how
 * old, and by which statement.
 *
 *   applied_events  by applied_at: the ids the consumers drop as applied
 *   deliveries      delivered or given up, by done_at (when that was); a
 *                   pending one never, whatever its age
 *   tasks           closed or expired, by updated_at (when it closed or
 *                   expired); an open task never
 *   leads           not open (booked, lost, spam), by last_message_at,
 *                   with their lead_contacts rows in the same statement
 *                   (no foreign key joins them since migration 6); an
 *                   open lead never, nor one an open task still names
 *                   (the SLA sweeper reads the lead of an open task)
 *   erasures        by erased_at, as applied_events: a request of an erased
 *                   person is stored erased while it may still be folded
 *                   (from leads.raw, 7 days; a DLQ replay), and the fold
 *                   forgets what it applied no sooner
 *
 * leads.pending_facts leave by pending.c's expiry. The README says why
 * each default is what it is.
 */
#include "leads.h"

#include "common/retention.h"

/* Delivered and given-up deliveries past their age; a pending one stays,
 * however old (the deliverer still owes it). */
#define DELETE_DELIVERIES                                                                          \
    "WITH gone AS (DELETE FROM leads.deliveries WHERE ctid = ANY(ARRAY(SELECT ctid"                \
    " FROM leads.deliveries WHERE status <> 'pending'"                                             \
    " AND done_at < now() - make_interval(days => $1::int) LIMIT $2::int))"                        \
    " AND status <> 'pending' RETURNING 1)"                                                        \
    " SELECT count(*) FROM gone"

/* Finished tasks past their age. */
#define DELETE_TASKS                                                                               \
    "WITH gone AS (DELETE FROM leads.tasks WHERE ctid = ANY(ARRAY(SELECT ctid"                     \
    " FROM leads.tasks WHERE status <> 'open'"                                                     \
    " AND updated_at < now() - make_interval(days => $1::int) LIMIT $2::int))"                     \
    " AND status <> 'open' RETURNING 1)"                                                           \
    " SELECT count(*) FROM gone"

/* Closed leads past their age that no open task names, with every contact
 * key they held. The conditions are said again on the row deleted, so a
 * lead changed meanwhile is judged as it is now. */
#define DELETE_LEADS                                                                               \
    "WITH gone AS (DELETE FROM leads.leads WHERE lead_id IN (SELECT l.lead_id"                     \
    " FROM leads.leads l WHERE l.status <> 'open'"                                                 \
    " AND l.last_message_at < now() - make_interval(days => $1::int)"                              \
    " AND NOT EXISTS (SELECT 1 FROM leads.tasks t WHERE t.lead_id = l.lead_id"                     \
    " AND t.status = 'open') LIMIT $2::int) AND status <> 'open'"                                  \
    " AND last_message_at < now() - make_interval(days => $1::int) RETURNING lead_id),"            \
    " contacts AS (DELETE FROM leads.lead_contacts c USING gone WHERE c.lead_id = gone.lead_id)"   \
    " SELECT count(*) FROM gone"

void leads_retention_sweeper(void *vctx)
{
    struct leads_ctx *ctx = vctx;
    const struct cf_retention_table tables[] = {
        {"applied_events", "leads.applied_events", "applied_at",
         ctx->cfg.retention_applied_events_days, NULL},
        {"deliveries", "leads.deliveries", "done_at", ctx->cfg.retention_deliveries_days,
         DELETE_DELIVERIES},
        {"tasks", "leads.tasks", "updated_at", ctx->cfg.retention_tasks_days, DELETE_TASKS},
        {"leads", "leads.leads", "last_message_at", ctx->cfg.retention_leads_days, DELETE_LEADS},
        {"erasures", "leads.erasures", "erased_at", ctx->cfg.retention_applied_events_days, NULL},
    };
    const struct cf_retention_conf conf = {
        .svc = ctx->svc,
        .schema = "leads",
        .metric_prefix = "clinicflow_leads_retention",
        .tables = tables,
        .ntables = sizeof(tables) / sizeof(tables[0]),
        .interval_s = ctx->cfg.retention_interval_s,
        .chunk = ctx->cfg.retention_chunk,
    };
    cf_retention_run(&conf);
}
