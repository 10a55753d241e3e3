/*
 * Retention of the reminders schema's growing tables: a worker deletes
 * rows past their age (CLINICFLOW_REMINDERS_RETENTION_<TABLE>_DAYS, 0
 * keeps them) every CLINICFLOW_REMINDERS_RETENTION_INTERVAL_S, in chunks
 * of CLINICFLOW_REMINDERS_RETENTION_CHUNK rows, one instance at a time
 * (the lease "retention" in reminders.leases): the loop, the lease and the
 * chunks are common/retention.h's, as for calls and leads; this file says
 * which tables, how old, and by which statement.
 *
 *   applied_events  by applied_at: the command ids the dispatchers drop
 *                   as applied
 *   sms_replies     by received_at: the SMS replies taken, by the
 *                   provider's id of the message, against a gateway's
 *                   copy of one (posted again within minutes or hours)
 *   nps_surveys     never answered, by expires_at: a survey past its link's
 *                   expiry takes no answer any more; an answered one (the
 *                   score and the comment, read per doctor) never, nor one
 *                   still open
 *   campaign_pace   by hour: only the current clock hour's count is spent;
 *                   a past hour's is a record an operator reads
 *
 * The other tables are kept whole. patients and appointments are the
 * MIS's records, read back by its API and compared by version (an erased
 * patient's row is what keeps an older version from bringing the person
 * back), and the recall reads a patient's completed visits of any age;
 * a patient leaves by erasure. reminder_jobs and sends are read later
 * without a bound of age: a history import asks whether this service
 * reminded the visit, the recall whether it asked the patient within
 * the clinic's recall_again_days, an appointment the MIS sends again is
 * planned against its jobs by their ids (a deleted one would be planned
 * anew), and a gateway's late report finds its send (a later report
 * still counts). tasks: an open one waits on the patient's answer, and a
 * closed one's id keeps an outcome applied again from opening it anew.
 * histories is the import's record, one per visit or recall, so a second
 * import cannot count its sends again; opt_outs are for good; outbox
 * rows are deleted by the relay once Kafka has them; consumer_offsets
 * and leases hold a row per partition and per lease. The README says why
 * each default is what it is.
 */
#include "reminders.h"

#include "common/retention.h"

/* Surveys nobody answered, past their link's expiry by the days; the
 * condition is said again on the row deleted, so an answer committed
 * meanwhile keeps its survey. */
#define DELETE_NPS_SURVEYS                                                                         \
    "WITH gone AS (DELETE FROM reminders.nps_surveys WHERE ctid = ANY(ARRAY(SELECT ctid"           \
    " FROM reminders.nps_surveys WHERE answered_at IS NULL"                                        \
    " AND expires_at < now() - make_interval(days => $1::int) LIMIT $2::int))"                     \
    " AND answered_at IS NULL RETURNING 1)"                                                        \
    " SELECT count(*) FROM gone"

void reminders_retention(void *vctx)
{
    struct reminders_ctx *ctx = vctx;
    const struct cf_retention_table tables[] = {
        {"applied_events", "reminders.applied_events", "applied_at",
         ctx->cfg.retention_applied_events_days, NULL},
        {"sms_replies", "reminders.sms_replies", "received_at", ctx->cfg.retention_sms_replies_days,
         NULL},
        {"nps_surveys", "reminders.nps_surveys", "expires_at", ctx->cfg.retention_nps_surveys_days,
         DELETE_NPS_SURVEYS},
        {"campaign_pace", "reminders.campaign_pace", "hour", ctx->cfg.retention_campaign_pace_days,
         NULL},
    };
    const struct cf_retention_conf conf = {
        .svc = ctx->svc,
        .schema = "reminders",
        .metric_prefix = "clinicflow_reminders_retention",
        .tables = tables,
        .ntables = sizeof(tables) / sizeof(tables[0]),
        .interval_s = ctx->cfg.retention_interval_s,
        .chunk = ctx->cfg.retention_chunk,
    };
    cf_retention_run(&conf);
}
