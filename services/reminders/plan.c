/*
 * Planning in the appointment's transaction (plan.h): the clinic's policy
 * from the network configuration, the jobs from the pure rules
 * (plan_rules.c), the rows from the store (plan_store.c). A visit booked
 * or rescheduled gets one job per offset (pending with its due time, or
 * skipped with the reason); its jobs for any other time are cancelled
 * ("replanned"); a cancelled, missed, arrived or completed visit cancels
 * what is pending (the status is the reason).
 */
#include "plan.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/time.h"

int reminders_plan_appointment(PGconn *conn, const struct cf_network *net,
                               const char *appointment_id, const char *patient_id,
                               const json_t *record, int64_t now_ms, char *errbuf,
                               size_t errbuf_size)
{
    const char *status = json_string_value(json_object_get(record, "status"));
    const char *clinic_id = json_string_value(json_object_get(record, "clinic_id"));
    const char *visit_at = json_string_value(json_object_get(record, "starts_at"));
    const struct cf_clinic *clinic = cf_netconf_clinic(net, clinic_id);
    json_t *jobs = json_array();
    int64_t starts_ms = 0;
    int rc = 0;

    if (!clinic || cf_time_parse(visit_at, &starts_ms) != 0) {
        snprintf(errbuf, errbuf_size, "appointment %s: no clinic %s or no start", appointment_id,
                 clinic_id ? clinic_id : "(none)");
        rc = CF_EINVAL;
        goto out;
    }
    if (plan_status_reminds(status)) {
        struct plan_policy policy;
        rc = plan_policy_build(json_object_get(net->doc, "reminder_policies"),
                               clinic->tz ? clinic->tz : net->tz, clinic->doc, &policy, errbuf,
                               errbuf_size);
        if (rc != 0)
            goto out;
        struct plan_job planned[PLAN_OFFSETS_MAX];
        size_t n = plan_reminders(&policy, starts_ms, now_ms, planned, PLAN_OFFSETS_MAX);
        plan_policy_free(&policy);
        for (size_t i = 0; i < n; i++) {
            char job_id[CF_UUID_STR_LEN + 1];
            plan_job_id(appointment_id, starts_ms, planned[i].offset_h, job_id);
            json_t *j = json_pack(
                "{s:s, s:i, s:s, s:s?}", "job_id", job_id, "offset_hours", planned[i].offset_h,
                "status", planned[i].skip ? "skipped" : "pending", "reason", planned[i].skip);
            if (!planned[i].skip)
                cf_time_json_set(j, "due_at", planned[i].due_ms);
            json_array_append_new(jobs, j);
        }
    }
    rc =
        plan_store_replace(conn, net->id, clinic_id, appointment_id, patient_id, visit_at, jobs,
                           plan_status_reminds(status) ? "replanned" : status, errbuf, errbuf_size);
out:
    json_decref(jobs);
    return rc;
}
