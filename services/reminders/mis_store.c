/*
 * The MIS records' store (mis.h): every statement on reminders.patients and
 * reminders.appointments. A row holds the record as the API returns it
 * (jsonb), its ids and version, and the columns the reminder planning
 * looks up by. All run inside the caller's transaction on conn.
 */
#include "mis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/pg.h"

/* A record as stored: version, record, erased, updated_at, reminder
 * status. */
#define GET_PATIENT                                                                                \
    "SELECT version, record::text, erased_at IS NOT NULL, " CF_PG_UTC_MS(                          \
        "updated_at") ", '' FROM reminders.patients WHERE patient_id = $1::uuid"
#define GET_APPOINTMENT                                                                            \
    "SELECT version, record::text, false, " CF_PG_UTC_MS(                                          \
        "updated_at") ", coalesce(reminder_status, '')"                                            \
                      " FROM reminders.appointments WHERE appointment_id = $1::uuid"

int mis_store_get(PGconn *conn, enum mis_kind kind, const char *id, int lock,
                  struct mis_stored *out, char *errbuf, size_t errbuf_size)
{
    static const char *const sql[2][2] = {
        {GET_PATIENT, GET_PATIENT " FOR UPDATE"},
        {GET_APPOINTMENT, GET_APPOINTMENT " FOR UPDATE"},
    };
    const char *params[] = {id};
    PGresult *res = NULL;

    memset(out, 0, sizeof(*out));
    int rc = cf_pg_exec(conn, sql[kind][lock ? 1 : 0], 1, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) == 1) {
        out->found = 1;
        out->version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        out->erased = PQgetvalue(res, 0, 2)[0] == 't';
        snprintf(out->updated_at, sizeof(out->updated_at), "%s", PQgetvalue(res, 0, 3));
        snprintf(out->reminder_status, sizeof(out->reminder_status), "%s", PQgetvalue(res, 0, 4));
        if (!PQgetisnull(res, 0, 1)) {
            json_error_t jerr;
            out->record = cf_json_loads(PQgetvalue(res, 0, 1), 0, &jerr);
            if (!out->record) {
                snprintf(errbuf, errbuf_size, "stored record %s is not JSON: %s", id, jerr.text);
                rc = CF_EINTERNAL;
            }
        }
    }
    PQclear(res);
    return rc;
}

/* The stored appointment written again by the UPDATE below: its SET
 * expressions read the row as it was. */
#define PUT_REMINDER_STATUS                                                                        \
    MIS_REMINDER_STATUS_SQL("", "($3::jsonb->>'starts_at')::timestamptz", "$4::uuid",              \
                            "$3::jsonb->>'status'")

int mis_store_put(PGconn *conn, enum mis_kind kind, const char *id, const char *network_id,
                  const char *mis_id, int64_t version, const json_t *record, int insert,
                  char *errbuf, size_t errbuf_size)
{
    static const char *const sql[2][2] = {
        {"UPDATE reminders.patients SET version = $2::bigint, record = $3::jsonb,"
         " clinic_id = $3::jsonb->>'clinic_id', erased_at = NULL, updated_at = now()"
         " WHERE patient_id = $1::uuid RETURNING 1",
         "INSERT INTO reminders.patients (patient_id, network_id, mis_id, version, record,"
         " clinic_id) VALUES ($1::uuid, $2, $3, $4::bigint, $5::jsonb, $5::jsonb->>'clinic_id')"
         " ON CONFLICT DO NOTHING RETURNING 1"},
        {"UPDATE reminders.appointments SET version = $2::bigint, record = $3::jsonb,"
         " patient_id = $4::uuid, clinic_id = $3::jsonb->>'clinic_id',"
         " status = $3::jsonb->>'status', starts_at = ($3::jsonb->>'starts_at')::timestamptz,"
         " ends_at = ($3::jsonb->>'ends_at')::timestamptz, updated_at = now()," PUT_REMINDER_STATUS
         " WHERE appointment_id = $1::uuid RETURNING 1",
         "INSERT INTO reminders.appointments (appointment_id, network_id, mis_id, version, record,"
         " patient_id, clinic_id, status, starts_at, ends_at)"
         " VALUES ($1::uuid, $2, $3, $4::bigint, $5::jsonb, $6::uuid, $5::jsonb->>'clinic_id',"
         " $5::jsonb->>'status', ($5::jsonb->>'starts_at')::timestamptz,"
         " ($5::jsonb->>'ends_at')::timestamptz)"
         " ON CONFLICT DO NOTHING RETURNING 1"},
    };
    char sversion[32], patient_id[CF_UUID_STR_LEN + 1] = "";
    snprintf(sversion, sizeof(sversion), "%lld", (long long)version);
    if (kind == MIS_APPOINTMENT)
        mis_appointment_patient(network_id, record, patient_id);
    char *text = cf_json_dumps(record);
    const char *inserted[] = {id, network_id, mis_id, sversion, text, patient_id};
    const char *updated[] = {id, sversion, text, patient_id};
    const int n = (insert ? 5 : 3) + (kind == MIS_APPOINTMENT);
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn, sql[kind][insert ? 1 : 0], n, insert ? inserted : updated, &res,
                        errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) != 1) {
        snprintf(errbuf, errbuf_size, "%s %s was %s meanwhile",
                 kind == MIS_PATIENT ? "patient" : "appointment", id,
                 insert ? "inserted" : "deleted");
        rc = CF_ECONFLICT;
    }
    PQclear(res);
    free(text);
    return rc;
}

int mis_store_erase(PGconn *conn, const char *patient_id, char *errbuf, size_t errbuf_size)
{
    const char *params[] = {patient_id};
    int rc = cf_pg_exec(conn,
                        "UPDATE reminders.patients SET record = NULL, clinic_id = NULL,"
                        " erased_at = now(), updated_at = now() WHERE patient_id = $1::uuid",
                        1, params, NULL, errbuf, errbuf_size);
    /* the numbers reminders went to; an opt-out stays, as the number's */
    if (rc == 0)
        rc = cf_pg_exec(conn,
                        "UPDATE reminders.sends SET phone = NULL, recording_url = NULL"
                        " WHERE patient_id = $1::uuid AND phone IS NOT NULL",
                        1, params, NULL, errbuf, errbuf_size);
    if (rc == 0) /* what they wrote of a visit (the score stays); a survey
                    still open closes: nothing more is taken from them */
        rc = cf_pg_exec(
            conn,
            "UPDATE reminders.nps_surveys SET comment = NULL,"
            " expires_at = least(expires_at, now())"
            " WHERE patient_id = $1::uuid AND (comment IS NOT NULL OR expires_at > now())",
            1, params, NULL, errbuf, errbuf_size);
    return rc;
}
