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
 */
#include "leads.h"

#include "common/pg.h"
#include "tasks.h"

int leads_calls_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                      const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                      size_t errbuf_size)
{
    int64_t answered = -1;
    char lead_id[CF_UUID_STR_LEN + 1];
    (void)vctx;
    (void)rkm;

    if (!ev || !leads_call_is_answered(ev->type, ev->networkid, ev->data, &answered))
        return 0; /* not a call a person answered */
    const char *contact_key = json_string_value(json_object_get(ev->data, "contact_key"));
    int rc = leads_tasks_find_open_lead(conn, ev->networkid, contact_key, answered, lead_id, errbuf,
                                        errbuf_size);
    if (rc != 0 || !lead_id[0])
        return rc;
    struct cf_event fact;
    leads_call_response_fact(&fact, ev->networkid, ev->data, lead_id, answered);
    cf_outbox_add(out, LEADS_TOPIC_RAW, contact_key, &fact);
    cf_event_clear(&fact);
    return 0;
}
