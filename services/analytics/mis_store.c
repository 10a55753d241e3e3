/*
 * analytics' MIS statements (mis_store.h).
 */
#include "mis_store.h"

#include "common/pg.h"

/* The lock of a patient (pg_advisory_xact_lock) of each id the query
 * q (one text column) gives, in order: an erasure and the rows that
 * would name the patient again take it first, so that the second sees
 * what the first did, whether or not the patient has a row. */
#define PATIENT_LOCKS(q)                                                                           \
    "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM"                             \
    " (SELECT DISTINCT 'analytics.patient' || chr(31) || id AS k FROM (" q ") ids(id)"             \
    " WHERE id IS NOT NULL ORDER BY 1) s"

#define APPT_COLS                                                                                  \
    "appointment_id, network_id, version, clinic_id, patient_id, doctor_id, service_category,"     \
    " status, starts_at, start_hour, booked_at, booked_hour, amount_paid, plan_status,"            \
    " plan_amount, booking_source, call_id, lead_id, operator_id"

int an_appointments_save(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    int rc = cf_pg_exec_json(
        conn,
        "INSERT INTO analytics.appointments AS a (" APPT_COLS ")"
        " SELECT " APPT_COLS " FROM jsonb_to_recordset($1::jsonb) AS r(appointment_id uuid,"
        " network_id text, version bigint, clinic_id text, patient_id uuid, doctor_id text,"
        " service_category text, status text, starts_at timestamptz, start_hour timestamp,"
        " booked_at timestamptz, booked_hour timestamp, amount_paid numeric, plan_status text,"
        " plan_amount numeric, booking_source text, call_id uuid, lead_id uuid,"
        " operator_id text) ORDER BY appointment_id"
        " ON CONFLICT (appointment_id) DO UPDATE SET"
        " version = GREATEST(a.version, excluded.version),"
        " clinic_id = CASE WHEN excluded.version > a.version THEN excluded.clinic_id"
        " ELSE a.clinic_id END,"
        " patient_id = CASE WHEN excluded.version > a.version THEN excluded.patient_id"
        " ELSE a.patient_id END,"
        " doctor_id = CASE WHEN excluded.version > a.version THEN excluded.doctor_id"
        " ELSE a.doctor_id END,"
        " service_category = CASE WHEN excluded.version > a.version"
        " THEN excluded.service_category ELSE a.service_category END,"
        " status = CASE WHEN excluded.version > a.version THEN excluded.status ELSE a.status END,"
        " starts_at = CASE WHEN excluded.version > a.version THEN excluded.starts_at"
        " ELSE a.starts_at END,"
        " start_hour = CASE WHEN excluded.version > a.version THEN excluded.start_hour"
        " ELSE a.start_hour END,"
        " amount_paid = CASE WHEN excluded.version > a.version THEN excluded.amount_paid"
        " ELSE a.amount_paid END,"
        " plan_status = CASE WHEN excluded.version > a.version THEN excluded.plan_status"
        " ELSE a.plan_status END,"
        " plan_amount = CASE WHEN excluded.version > a.version THEN excluded.plan_amount"
        " ELSE a.plan_amount END,"
        " booking_source = CASE WHEN excluded.version > a.version THEN excluded.booking_source"
        " ELSE a.booking_source END,"
        " call_id = CASE WHEN excluded.version > a.version THEN excluded.call_id"
        " ELSE a.call_id END,"
        " lead_id = CASE WHEN excluded.version > a.version THEN excluded.lead_id"
        " ELSE a.lead_id END,"
        " operator_id = CASE WHEN excluded.version > a.version THEN excluded.operator_id"
        " ELSE a.operator_id END,"
        /* the earliest booking time any version gave (the MIS's booked_at
         * or when it was seen): an older version arriving late moves it back */
        " booked_at = LEAST(a.booked_at, excluded.booked_at),"
        " booked_hour = CASE WHEN excluded.booked_at < a.booked_at THEN excluded.booked_hour"
        " ELSE a.booked_hour END, updated_at = now()",
        rows, NULL, errbuf, errbuf_size);
    return rc;
}

/* Forgets which contact keys are the patients of ids (a JSON array). */
static int drop_keys(PGconn *conn, const json_t *ids, char *errbuf, size_t errbuf_size)
{
    return cf_pg_exec_json(conn,
                           "DELETE FROM analytics.patient_keys WHERE patient_id IN"
                           " (SELECT jsonb_array_elements_text($1::jsonb)::uuid)",
                           ids, NULL, errbuf, errbuf_size);
}

int an_patients_save(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    /* 1: the rows a newer version changes (or creates); an erased patient
     * the MIS sent again, newer, is its patient again (the reminders
     * service re-creates it so, and says so on patients.v1) */
    int rc = cf_pg_exec_json(
        conn,
        "INSERT INTO analytics.patients AS p (patient_id, network_id, version, first_visit_at)"
        " SELECT patient_id, network_id, version, first_visit_at FROM jsonb_to_recordset($1::jsonb)"
        " AS r(patient_id uuid, network_id text, version bigint, first_visit_at timestamptz)"
        " ORDER BY patient_id ON CONFLICT (patient_id) DO UPDATE SET version = excluded.version,"
        " network_id = excluded.network_id, first_visit_at = excluded.first_visit_at,"
        " erased = false"
        " WHERE excluded.version > p.version RETURNING p.patient_id::text",
        rows, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    json_t *changed = json_object(), *ids = json_array(), *keys = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_object_set_new(changed, PQgetvalue(res, i, 0), json_true());
        json_array_append_new(ids, json_string(PQgetvalue(res, i, 0)));
    }
    PQclear(res);
    size_t i, k;
    const json_t *row, *key;
    json_array_foreach(rows, i, row)
    {
        if (!json_object_get(changed, json_string_value(json_object_get(row, "patient_id"))))
            continue;
        json_array_foreach(json_object_get(row, "contact_keys"), k, key)
        {
            json_array_append_new(keys,
                                  json_pack("{s:O, s:O, s:O}", "network_id",
                                            json_object_get(row, "network_id"), "contact_key", key,
                                            "patient_id", json_object_get(row, "patient_id")));
        }
    }
    /* 2: their keys replaced */
    if (json_array_size(ids))
        rc = drop_keys(conn, ids, errbuf, errbuf_size);
    if (rc == 0 && json_array_size(keys))
        rc = cf_pg_exec_json(conn,
                             "INSERT INTO analytics.patient_keys (network_id, contact_key,"
                             " patient_id) SELECT * FROM jsonb_to_recordset($1::jsonb) AS"
                             " r(network_id text, contact_key text, patient_id uuid)"
                             " ON CONFLICT DO NOTHING",
                             keys, NULL, errbuf, errbuf_size);
    json_decref(changed);
    json_decref(ids);
    json_decref(keys);
    return rc;
}

int an_patients_erase(PGconn *conn, const json_t *ids, char *errbuf, size_t errbuf_size)
{
    int rc =
        cf_pg_exec_json(conn, PATIENT_LOCKS("SELECT lower(jsonb_array_elements_text($1::jsonb))"),
                        ids, NULL, errbuf, errbuf_size);
    if (rc == 0)
        rc = drop_keys(conn, ids, errbuf, errbuf_size);
    /* The first visit stays: a time, no more personal than the visits'
     * own, and what tells a repeat visit from a new patient's, so the
     * counts stay as they were. A patient not stored (yet) is kept as
     * erased, with no network and version -1 (any upsert of theirs is
     * newer: the patient created again), so that their visits and tasks
     * read after this are erased too (an_tasks_forget_erased). */
    if (rc == 0)
        rc = cf_pg_exec_json(conn,
                             "INSERT INTO analytics.patients AS p (patient_id, version, erased)"
                             " SELECT DISTINCT id::uuid, -1, true"
                             " FROM jsonb_array_elements_text($1::jsonb) AS id ORDER BY 1"
                             " ON CONFLICT (patient_id) DO UPDATE SET erased = true",
                             ids, NULL, errbuf, errbuf_size);
    /* a reminder's task names the patient by their contact key: the link
     * the dropped keys were; the task's own patient, or its visit's */
    if (rc == 0)
        rc = cf_pg_exec_json(conn,
                             "WITH e AS (SELECT jsonb_array_elements_text($1::jsonb)::uuid AS id)"
                             " UPDATE analytics.tasks t SET contact_key = NULL, updated_at = now()"
                             " WHERE t.contact_key IS NOT NULL"
                             " AND (t.patient_id IN (SELECT id FROM e) OR t.appointment_id IN"
                             " (SELECT a.appointment_id FROM analytics.appointments a"
                             " WHERE a.patient_id IN (SELECT id FROM e)))",
                             ids, NULL, errbuf, errbuf_size);
    return rc;
}

int an_tasks_lock_patients(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(rows) == 0)
        return 0;
    return cf_pg_exec_json(
        conn,
        PATIENT_LOCKS(
            "SELECT a.patient_id::text FROM analytics.appointments a"
            " WHERE a.appointment_id IN (SELECT (e ->> 'appointment_id')::uuid"
            " FROM jsonb_array_elements($1::jsonb) e WHERE e ? 'appointment_id')"
            " UNION SELECT lower(e ->> 'patient_id') FROM jsonb_array_elements($1::jsonb) e"
            " WHERE e ? 'task_id'"),
        rows, NULL, errbuf, errbuf_size);
}

int an_tasks_forget_erased(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(rows) == 0)
        return 0;
#define FORGET_APPOINTMENTS                                                                        \
    " a.appointment_id IN (SELECT (e ->> 'appointment_id')::uuid FROM"                             \
    " jsonb_array_elements($1::jsonb) e WHERE e ? 'appointment_id')"
#define FORGET_TASKS                                                                               \
    " t.task_id IN (SELECT (e ->> 'task_id')::uuid FROM jsonb_array_elements($1::jsonb) e"         \
    " WHERE e ? 'task_id')"
    int rc = cf_pg_exec_json(conn,
                             "UPDATE analytics.tasks t SET contact_key = NULL, updated_at = now()"
                             " FROM analytics.appointments a JOIN analytics.patients p"
                             " ON p.patient_id = a.patient_id"
                             " WHERE p.erased AND t.appointment_id = a.appointment_id"
                             " AND t.contact_key IS NOT NULL AND" FORGET_APPOINTMENTS,
                             rows, NULL, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec_json(conn,
                             "UPDATE analytics.tasks t SET contact_key = NULL, updated_at = now()"
                             " FROM analytics.patients p WHERE p.patient_id = t.patient_id"
                             " AND p.erased AND t.contact_key IS NOT NULL AND" FORGET_TASKS,
                             rows, NULL, errbuf, errbuf_size);
#undef FORGET_TASKS
#undef FORGET_APPOINTMENTS
    return rc;
}
