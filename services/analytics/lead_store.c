/*
 * analytics.leads' statement (lead_store.h). A patch's absent columns read
 * as NULL from the recordset, and COALESCE keeps the stored value for
 * them: no event sets a column back to nothing.
 */
#include "lead_store.h"

#include "common/pg.h"

#define COLS                                                                                       \
    "clinic_id, hour, received_at, provider, channel_id, source, medium, campaign,"                \
    " patient_class, contact_key, messages, status, responded_at, response_seconds,"               \
    " working_seconds, responder, lost_reason, appointment_id, closed_at, sla_breached"
#define KEEP(c) " " c " = COALESCE(excluded." c ", l." c ")"

int an_leads_save(PGconn *conn, const json_t *patches, char *errbuf, size_t errbuf_size)
{
    return cf_pg_exec_json(conn,
                           "INSERT INTO analytics.leads AS l (lead_id, network_id, " COLS ")"
                           " SELECT lead_id, network_id, " COLS
                           " FROM jsonb_to_recordset($1::jsonb) AS r("
                           " lead_id uuid, network_id text, clinic_id text, hour timestamp,"
                           " received_at timestamptz, provider text, channel_id text, source text, "
                           "medium text,"
                           " campaign text, patient_class text, contact_key text, messages "
                           "integer, status text,"
                           " responded_at timestamptz, response_seconds integer, working_seconds "
                           "integer,"
                           " responder text, lost_reason text, appointment_id text, closed_at "
                           "timestamptz,"
                           " sla_breached boolean) ORDER BY lead_id"
                           " ON CONFLICT (lead_id) DO UPDATE SET" KEEP("clinic_id") "," KEEP("hour") "," KEEP("received_at") "," KEEP("provider") "," KEEP("channel_id") "," KEEP("source") "," KEEP("medium") "," KEEP("campaign") "," KEEP("patient_class") "," KEEP("contact_key") "," KEEP("messages") "," KEEP(
                               "status") "," KEEP("responded_at") "," KEEP("response_seconds") "," KEEP("working_seconds") "," KEEP("responder") "," KEEP("lost_reason") "," KEEP("appointment_id") "," KEEP("closed_at") "," KEEP("sla_breached") ","
                                                                                                                                                                                                                                                   " updated_at = now()",
                           patches, NULL, errbuf, errbuf_size);
}
