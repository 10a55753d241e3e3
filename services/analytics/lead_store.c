/*
 * analytics.leads' statements (lead_store.h). A patch's absent columns read
 * as NULL from the recordset, and COALESCE keeps the stored value for
 * them: no event sets a column back to nothing. A lead.received's patch
 * is the lead as it opened: on a lead already stored (its received
 * replayed from the DLQ after the later events) it fills only what is
 * missing, and the requests counted, the status, the breach and the key
 * that later events set, stored or in the same batch, stay (its values of
 * those come apart, as init_*: an_lead_patch_split_initial). One patch a
 * lead a statement (the batch merged each lead's), whose lead ids one
 * runner owns: MERGE's one row a source row holds.
 */
#include "lead_store.h"

#include "common/pg.h"

#define COLS                                                                                       \
    "clinic_id, hour, received_at, provider, channel_id, source, medium, campaign,"                \
    " patient_class, contact_key, messages, status, responded_at, response_seconds,"               \
    " working_seconds, responder, lost_reason, appointment_id, closed_at, sla_breached,"           \
    " sla_due_at"
#define KEEP(c) " " c " = COALESCE(r." c ", l." c "),"
/* a column later events set, which a late received does not undo: the
 * event's, else the stored, else the received's starting value */
#define LATER(c) " " c " = COALESCE(r." c ", l." c ", r.init_" c "),"
/* the requests so far only grow, and the key is the one of the most: an
 * older merge replayed after a newer one (a DLQ replay) takes neither
 * back */
#define MESSAGES " messages = GREATEST(r.messages, l.messages, r.init_messages),"
#define PERSON                                                                                     \
    " contact_key = CASE WHEN r.messages < l.messages THEN l.contact_key"                          \
    " ELSE COALESCE(r.contact_key, l.contact_key, r.init_contact_key) END,"

/* the stored lead updated by a patch, column by column */
/* clang-format off */
#define SET                                                                                        \
    KEEP("clinic_id") KEEP("hour") KEEP("received_at") KEEP("provider") KEEP("channel_id")         \
    KEEP("source") KEEP("medium") KEEP("campaign") KEEP("patient_class") PERSON MESSAGES           \
    LATER("status") KEEP("responded_at") KEEP("response_seconds")                                  \
    KEEP("working_seconds") KEEP("responder") KEEP("lost_reason") KEEP("appointment_id")           \
    KEEP("closed_at") LATER("sla_breached") KEEP("sla_due_at") " updated_at = now()"
/* clang-format on */
/* a new lead: the patch's columns as they are */
#define VALUES                                                                                     \
    "r.clinic_id, r.hour, r.received_at, r.provider, r.channel_id, r.source, r.medium,"            \
    " r.campaign, r.patient_class, COALESCE(r.contact_key, r.init_contact_key),"                   \
    " COALESCE(r.messages, r.init_messages), COALESCE(r.status, r.init_status), r.responded_at,"   \
    " r.response_seconds, r.working_seconds, r.responder, r.lost_reason, r.appointment_id,"        \
    " r.closed_at, COALESCE(r.sla_breached, r.init_sla_breached), r.sla_due_at"

int an_leads_save(PGconn *conn, const json_t *patches, char *errbuf, size_t errbuf_size)
{
    return cf_pg_exec_json(
        conn,
        "MERGE INTO analytics.leads AS l USING (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r("
        " lead_id uuid, network_id text, clinic_id text, hour timestamp, received_at timestamptz,"
        " provider text, channel_id text, source text, medium text, campaign text,"
        " patient_class text, contact_key text, messages integer, status text,"
        " responded_at timestamptz, response_seconds integer, working_seconds integer,"
        " responder text, lost_reason text, appointment_id text, closed_at timestamptz,"
        " sla_breached boolean, sla_due_at timestamptz, init_contact_key text,"
        " init_messages integer, init_status text, init_sla_breached boolean)"
        " ORDER BY lead_id) AS r ON l.lead_id = r.lead_id"
        " WHEN MATCHED THEN UPDATE SET" SET
        " WHEN NOT MATCHED THEN INSERT (lead_id, network_id, " COLS ")"
        " VALUES (r.lead_id, r.network_id, " VALUES ")",
        patches, NULL, errbuf, errbuf_size);
}

int an_leads_rekey(PGconn *conn, const json_t *links, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(links) == 0)
        return 0;
    return cf_pg_exec_json(conn,
                           "UPDATE analytics.leads l SET contact_key = r.person_key,"
                           " updated_at = now() FROM jsonb_to_recordset($1::jsonb) AS r("
                           " network_id text, contact_key text, person_key text)"
                           " WHERE l.network_id = r.network_id AND l.contact_key = r.contact_key",
                           links, NULL, errbuf, errbuf_size);
}
