/*
 * The consumer of appointments.v1 and patients.v1 (group
 * clinicflow-analytics-mis). Each event is the whole record at a version
 * of the MIS, so a batch keeps each record's highest version and the
 * store keeps the higher of it and the stored one: a late older version
 * changes nothing (it only moves an appointment's booking time earlier).
 * A tombstone on patients.v1 erases the patient's contact keys. Offsets
 * commit with the effects.
 */
#include "analytics.h"
#include "mis_facts_testable.h"
#include "mis_store.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/metrics.h"
#include "common/netconf.h"

/* Keeps row in by_id under its id unless a version as high is there. An
 * appointment keeps the earliest booked_at of the two either way. */
static void keep_latest(json_t *by_id, const char *id_key, json_t *row)
{
    const char *id = json_string_value(json_object_get(row, id_key));
    json_t *have = json_object_get(by_id, id);
    if (have && json_object_get(row, "booked_at")) {
        json_t *early = strcmp(json_string_value(json_object_get(have, "booked_at")),
                               json_string_value(json_object_get(row, "booked_at"))) < 0
                            ? have
                            : row;
        json_t *late = early == have ? row : have;
        json_object_set(late, "booked_at", json_object_get(early, "booked_at"));
        json_object_set(late, "booked_hour", json_object_get(early, "booked_hour"));
    }
    if (have && json_integer_value(json_object_get(have, "version")) >=
                    json_integer_value(json_object_get(row, "version"))) {
        json_decref(row);
        return;
    }
    json_object_set_new(by_id, id, row);
}

int analytics_mis_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                              const rd_kafka_message_t *const *rkms, size_t n,
                              struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    struct analytics_ctx *actx = ctx;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(actx->svc->netconf);
    json_t *appts = json_object(), *patients = json_object(), *erased = json_array();
    json_t *before = json_object(); /* patients upserted, then erased, in this batch */
    json_t *rows = NULL;
    int rc = 0;

    (void)out;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct cf_event *ev = evs[i];
        if (!ev) { /* a patient's tombstone: its key is the patient id */
            char id[CF_UUID_STR_LEN + 1];
            const rd_kafka_message_t *rkm = rkms[i];
            if (!rkm->key || rkm->key_len != CF_UUID_STR_LEN) {
                snprintf(errbuf, errbuf_size, "a tombstone's key is not a patient id");
                rc = CF_EINVAL;
                break;
            }
            snprintf(id, sizeof(id), "%.*s", (int)rkm->key_len, (const char *)rkm->key);
            json_array_append_new(erased, json_string(id));
            /* upserted earlier in this batch: saved before the erasure, as
             * two batches would have (its visits' first one stays known) */
            json_t *up = json_object_get(patients, id);
            if (up) {
                json_object_set(before, id, up);
                json_object_del(patients, id);
            }
            continue;
        }
        const struct cf_network *net = cf_netconf_network(snap, ev->networkid);
        json_t *row = NULL;
        if (strcmp(ev->type, "clinicflow.appointment.upserted") == 0) {
            row = an_appointment_row(ev->data, ev->time_ms, ev->networkid,
                                     net && net->tz ? net->tz : "UTC", errbuf, errbuf_size);
            if (row)
                keep_latest(appts, "appointment_id", row);
        } else if (strcmp(ev->type, "clinicflow.patient.upserted") == 0) {
            row = an_patient_row(ev->data, ev->networkid, errbuf, errbuf_size);
            if (row)
                keep_latest(patients, "patient_id", row);
        } else {
            continue; /* an event type this consumer does not read */
        }
        if (!row)
            rc = CF_EINVAL;
    }
    cf_netconf_release(snap);
    /* the batch's tombstones between what came before them (saved first)
     * and what came after (the patient created again: saved after), as
     * the events came */
    if (rc == 0 && json_object_size(before)) {
        rows = analytics_values(before);
        rc = an_patients_save(conn, rows, errbuf, errbuf_size);
        json_decref(rows);
    }
    if (rc == 0 && json_array_size(erased))
        rc = an_patients_erase(conn, erased, errbuf, errbuf_size);
    if (rc == 0 && json_object_size(appts)) {
        rows = analytics_values(appts);
        rc = an_appointments_save(conn, rows, errbuf, errbuf_size);
        if (rc == 0) /* an erased patient's visit read after the tombstone */
            rc = an_tasks_lock_patients(conn, rows, errbuf, errbuf_size);
        if (rc == 0)
            rc = an_tasks_forget_erased(conn, rows, errbuf, errbuf_size);
        json_decref(rows);
    }
    if (rc == 0 && json_object_size(patients)) {
        rows = analytics_values(patients);
        rc = an_patients_save(conn, rows, errbuf, errbuf_size);
        json_decref(rows);
    }
    if (rc == 0) {
        cf_metrics_add("clinicflow_analytics_events_applied_total", "group=\"mis\"", (double)n);
    }
    json_decref(appts);
    json_decref(patients);
    json_decref(before);
    json_decref(erased);
    return rc;
}
