/*
 * analytics' reminder outcome statements (outcome_store.h).
 */
#include "outcome_store.h"

#include "common/err.h"
#include "common/pg.h"

static const char *const sql[] = {
    [AN_OUTCOME_SEND] =
        "INSERT INTO analytics.reminder_outcomes (event_id, network_id, clinic_id, hour, at,"
        " send_id, job_id, kind, patient_id, appointment_id, channel, attempt, gateway, outcome,"
        " reminder_status, duration_s, sms_segments, sms_cost) SELECT * FROM"
        " jsonb_to_recordset($1::jsonb) AS r(event_id uuid, network_id text, clinic_id text,"
        " hour timestamp, at timestamptz, send_id uuid, job_id uuid, kind text, patient_id uuid,"
        " appointment_id uuid, channel text, attempt integer, gateway text, outcome text,"
        " reminder_status text, duration_s integer, sms_segments integer, sms_cost numeric)"
        " ON CONFLICT DO NOTHING",
    [AN_OUTCOME_MEMBER] =
        "INSERT INTO analytics.campaign_members AS m (job_id, network_id, clinic_id, hour, at,"
        " campaign, grp, patient_id, appointment_id) SELECT DISTINCT ON (job_id) job_id,"
        " network_id, clinic_id, hour, at, campaign, \"group\", patient_id, appointment_id"
        " FROM jsonb_to_recordset($1::jsonb)"
        " AS r(job_id uuid, network_id text, clinic_id text, hour timestamp, at timestamptz,"
        " campaign text, \"group\" text, patient_id uuid, appointment_id uuid)"
        " ORDER BY job_id, at DESC"
        /* a visit the MIS gave another patient: the later member stands */
        " ON CONFLICT (job_id) DO UPDATE SET clinic_id = EXCLUDED.clinic_id,"
        " hour = EXCLUDED.hour, at = EXCLUDED.at, grp = EXCLUDED.grp,"
        " patient_id = EXCLUDED.patient_id WHERE m.patient_id <> EXCLUDED.patient_id"
        " AND m.at < EXCLUDED.at",
    [AN_OUTCOME_NPS] =
        "INSERT INTO analytics.nps_answers (job_id, network_id, clinic_id, hour, at, doctor_id,"
        " score, patient_id, appointment_id) SELECT job_id, network_id, clinic_id, hour, at,"
        " doctor_id, score, patient_id, appointment_id FROM jsonb_to_recordset($1::jsonb) AS"
        " r(job_id uuid, network_id text, clinic_id text, hour timestamp, at timestamptz,"
        " doctor_id text, score integer, patient_id uuid, appointment_id uuid)"
        " ON CONFLICT DO NOTHING",
};

int an_outcomes_save(PGconn *conn, enum an_outcome_kind kind, const json_t *rows, char *errbuf,
                     size_t errbuf_size)
{
    if (kind == AN_OUTCOME_OTHER || json_array_size(rows) == 0)
        return 0;
    return cf_pg_exec_json(conn, sql[kind], rows, NULL, errbuf, errbuf_size);
}
