/*
 * Calls as responses: a consumer of clinicflow.calls.v1. A call with a
 * lead's contact that a person answered (outcome answered, in either
 * direction: the patient called back, or the clinic called), at or after
 * the lead was received and while the lead is open and unanswered, is the
 * lead's first response: a response fact (channel and via `call`, its
 * call_id) goes to leads.raw, keyed by the contact key, where the fold
 * emits lead.responded and the tasks close (tasks.c). The fact is
 * produced through the runner's outbox, acknowledged before the call
 * event's offset commits; its id is uuid5(call id, "lead.reported"), the
 * same for every event of the call (ended, then updated), so the fold
 * takes it once. Whether a lead is open and unanswered is read from its
 * open tasks, found by any contact key the lead has held (the fold writes
 * both in one transaction).
 *
 * A call answered and not over yet is under way: its contact's leads are
 * not breached while it is (leads.calls_under_way, which the sweeper
 * reads), since whether a person answered is told only at its end.
 *
 * A lead acknowledged onto leads.raw before the call ended may not be
 * stored yet (the fold behind, or the call's topic read first): the call
 * decides nothing, finding no lead or an older open one of the person,
 * until the fold has stored every fact acknowledged before the call's
 * event was written (common/fold_progress.h). Until
 * then the call waits (CF_EWAIT: the batch is tried again, never sent to
 * the DLQ for it), for up to RESPONSE_FOLD_WAIT_MS after its event was
 * written, so that a fold that has stopped holds the calls up only so long.
 * A call still nobody's once the fold has caught up is recorded unclaimed
 * for a lead stored later that it answered, and one that answered a lead
 * is recorded as that lead's, so that a later event of the call answers
 * nothing again (answered_calls.h).
 */
#include "leads.h"
#include "answered_calls.h"
#include "fold_testable.h"
#include "lead_store.h"

#include <stdlib.h>

#include "common/err.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/time.h"
#include "tasks.h"

#define RESPONSE_FOLD_WAIT_MS (10 * 60 * 1000)
/* the topic's watermarks looked at no more often than this */
#define RESPONSE_SAMPLE_EVERY_MS 100

/* 0 when the fold has stored every lead fact acknowledged before the call
 * event rkm was written (or it is too old to wait for), else CF_EWAIT.
 * Asked of every answered call: it reads the fold's stored offsets, and
 * samples the topic at most every RESPONSE_SAMPLE_EVERY_MS. */
static int fold_caught_up(struct leads_ctx *ctx, PGconn *conn, const rd_kafka_message_t *rkm,
                          char *errbuf, size_t errbuf_size)
{
    rd_kafka_timestamp_type_t tstype;
    const int64_t written = rkm ? rd_kafka_message_timestamp(rkm, &tstype) : -1;
    const int64_t now = cf_time_now_ms();

    if (written < 0 || now - written > RESPONSE_FOLD_WAIT_MS)
        return 0;
    if (!ctx->calls_fold)
        ctx->calls_fold =
            cf_fold_progress_new("leads", LEADS_FOLD_GROUP, LEADS_TOPIC_RAW, "calls as responses");
    if (cf_fold_progress_horizon(ctx->calls_fold, conn) >= written)
        return 0;
    if (now - ctx->calls_fold_sampled_ms >= RESPONSE_SAMPLE_EVERY_MS) {
        cf_fold_progress_sample(ctx->calls_fold, ctx->svc->producer);
        ctx->calls_fold_sampled_ms = cf_time_now_ms();
    }
    if (cf_fold_progress_horizon(ctx->calls_fold, conn) >= written)
        return 0;
    snprintf(errbuf, errbuf_size,
             "the lead fold has not stored every fact acknowledged before the call ended");
    return CF_EWAIT;
}

/* The answered call ev found no lead of contact_key, and the fold has
 * caught up with it: under the key's lock (the fold's, so a lead of the
 * person stored meanwhile is seen, and one stored later sees the row),
 * looked for again, and when still nobody's it is recorded unclaimed
 * (answered_calls.h). The lock is only tried: the batch's transaction may
 * hold other keys' already, and a fold waiting for one of those while
 * holding this one would deadlock with it; a lock held elsewhere is
 * CF_EWAIT (the batch again shortly). 0 with lead_id set when the lead
 * was found. */
static int unclaimed(PGconn *conn, const struct cf_event *ev, const char *contact_key,
                     int64_t answered, char lead_id[CF_UUID_STR_LEN + 1], char *errbuf,
                     size_t errbuf_size)
{
    char *lock = leads_key_lock(ev->networkid, contact_key);
    int rc = leads_store_try_lock_key(conn, lock, errbuf, errbuf_size);
    free(lock);
    if (rc == 0) {
        snprintf(errbuf, errbuf_size, "the contact's key is locked by a lead being folded");
        return CF_EWAIT;
    }
    if (rc < 0)
        return rc;
    rc = leads_tasks_find_open_lead(conn, ev->networkid, contact_key, answered, lead_id, errbuf,
                                    errbuf_size);
    if (rc == 0 && !lead_id[0]) {
        int recorded;
        rc = leads_answered_call_note(conn, ev->networkid, ev->data, answered, NULL, &recorded,
                                      errbuf, errbuf_size);
    }
    return rc;
}

int leads_calls_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                      const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                      size_t errbuf_size)
{
    struct leads_ctx *ctx = vctx;
    int64_t answered = -1;
    char lead_id[CF_UUID_STR_LEN + 1] = "";

    if (!ev)
        return 0;
    const char *call_id = json_string_value(json_object_get(ev->data, "call_id"));
    const char *contact_key = json_string_value(json_object_get(ev->data, "contact_key"));
    /* A call under way holds its contact's leads from breaching until its
     * outcome is known; every later event of the call says whether it
     * still is. */
    if (leads_call_under_way(ev->type, ev->networkid, ev->data, &answered))
        return leads_calls_under_way_note(conn, ev->networkid, call_id, contact_key, answered,
                                          errbuf, errbuf_size);
    if (leads_call_is_answered(ev->type, ev->networkid, ev->data, &answered)) {
        /* the fold first: a newer lead of the person, acknowledged before
         * the call and not stored yet, is the one the call answers, not
         * an older one still open */
        int rc = fold_caught_up(ctx, conn, rkm, errbuf, errbuf_size);
        if (rc == 0)
            rc = leads_tasks_find_open_lead(conn, ev->networkid, contact_key, answered, lead_id,
                                            errbuf, errbuf_size);
        if (rc == 0 && !lead_id[0])
            rc = unclaimed(conn, ev, contact_key, answered, lead_id, errbuf, errbuf_size);
        /* the lead's response, once: a call recorded before (an earlier
         * event of it, or a lead that took it) answers nothing again */
        int recorded = 1;
        if (rc == 0 && lead_id[0])
            rc = leads_answered_call_note(conn, ev->networkid, ev->data, answered, lead_id,
                                          &recorded, errbuf, errbuf_size);
        if (rc != 0)
            return rc;
        if (!recorded)
            return 0;
    }
    if (!lead_id[0]) /* over, and nobody's response: it holds nothing now */
        return cf_uuid_valid(call_id)
                   ? leads_calls_under_way_done(conn, call_id, errbuf, errbuf_size)
                   : 0;
    /* A response. The call's row, if it was under way, stays (the stale
     * sweep forgets it): the fact is acknowledged now, perhaps after the
     * due time, where the sweeper's horizon does not look, and until the
     * fold has stored it the row is what holds the breach; of this lead
     * alone (another open lead of the person, apart from it by the merge
     * window, was not answered by this call). */
    if (cf_uuid_valid(call_id)) {
        int rc = leads_calls_under_way_answered(conn, call_id, lead_id, errbuf, errbuf_size);
        if (rc != 0)
            return rc;
    }
    struct cf_event fact;
    leads_call_response_fact(&fact, ev->networkid, ev->data, lead_id, answered);
    cf_outbox_add(out, LEADS_TOPIC_RAW, contact_key, &fact);
    cf_event_clear(&fact);
    return 0;
}
