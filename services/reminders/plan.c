/*
 * Planning in the appointment's transaction (plan.h): the clinic's policy
 * from the network configuration, the jobs from the pure rules
 * (plan_rules.c), the rows from the store (plan_store.c). A visit booked
 * or rescheduled gets one job per offset (pending with its due time, or
 * skipped with the reason); its jobs for any other time are cancelled
 * ("replanned"); a cancelled, missed, arrived or completed visit cancels
 * what is still pending (the status is the reason).
 *
 * A missed visit (no_show) gets a re-invite: an SMS reinvite_after_hours
 * later asking the patient to book again, unless the patient is in the
 * campaign's holdout group (stored skipped, "holdout", never sent) or has
 * booked again by then (the scheduler skips it, "booked_again"). Who was
 * eligible, and in which group, goes out as clinicflow.campaign.member
 * with the appointment's change, so the campaign's effect can be measured
 * against the holdout.
 *
 * A visit completed gets its survey: an SMS nps_delay_minutes after it
 * ended, linking to the one-question page (nps_routes.c). Only a visit that
 * ended within the last day: an import of old visits surveys nobody.
 */
#include "plan.h"
#include "outcome.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/time.h"
#include "common/topics.h"

#define REINVITE "reinvite"

/* The re-invite of a missed visit (in jobs), and its campaign event. */
static void plan_missed(const struct plan_policy *policy, const struct cf_network *net,
                        const char *clinic_id, const char *appointment_id, const char *patient_id,
                        int64_t starts_ms, int64_t now_ms, json_t *jobs, struct cf_outbox *out)
{
    char job_id[CF_UUID_STR_LEN + 1];
    int64_t due_ms;
    if (plan_reinvite(policy, starts_ms, now_ms, &due_ms) != 0)
        return;
    plan_reinvite_id(appointment_id, job_id);
    const int held = plan_holdout(REINVITE, patient_id, policy->holdout_percent);
    json_t *j = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s*}", "job_id", job_id, "offset_hours", 0,
                          "kind", REINVITE, "channel", "sms", "status",
                          held ? "skipped" : "pending", "reason", held ? "holdout" : NULL);
    cf_time_json_set(j, "due_at", due_ms);
    json_array_append_new(jobs, j);

    const struct plan_member m = {.campaign = REINVITE,
                                  .job_id = job_id,
                                  .patient_id = patient_id,
                                  .appointment_id = appointment_id,
                                  .clinic_id = clinic_id,
                                  .network_id = net->id,
                                  .held = held,
                                  .holdout_percent = policy->holdout_percent,
                                  .missed_ms = starts_ms,
                                  .due_ms = due_ms};
    plan_member_event(out, &m, now_ms);
}

void plan_member_event(struct cf_outbox *out, const struct plan_member *m, int64_t time_ms)
{
    struct cf_event ev = {0};
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "campaign", m->campaign, "job_id", m->job_id,
                  "patient_id", m->patient_id, "clinic_id", m->clinic_id, "group",
                  m->held ? "holdout" : "target", "holdout_percent", m->holdout_percent);
    if (m->appointment_id)
        json_object_set_new(data, "appointment_id", json_string(m->appointment_id));
    if (m->missed_ms >= 0)
        cf_time_json_set(data, "missed_visit_at", m->missed_ms);
    if (!m->held)
        cf_time_json_set(data, "due_at", m->due_ms);
    /* the patient in the id: a visit the MIS gave another patient makes
     * them the member, with an event of its own */
    cf_event_derive(&ev, m->job_id, "campaign.member", m->patient_id, "reminders/campaigns",
                    m->patient_id, time_ms, m->network_id, m->clinic_id, data);
    cf_outbox_add(out, CF_TOPIC_REMINDER_OUTCOMES, m->patient_id, &ev);
    cf_event_clear(&ev);
}

/* A completed visit's survey job (in jobs), when it is due at all. */
static void plan_survey(const struct plan_policy *policy, const char *appointment_id,
                        const json_t *record, int64_t starts_ms, int64_t now_ms, json_t *jobs)
{
    char job_id[CF_UUID_STR_LEN + 1];
    int64_t ended_ms = starts_ms, due_ms;
    const char *ends_at = json_string_value(json_object_get(record, "ends_at"));
    if (ends_at)
        cf_time_parse(ends_at, &ended_ms);
    if (plan_nps(policy, ended_ms, now_ms, &due_ms) != 0)
        return;
    plan_campaign_id(appointment_id, "nps", job_id);
    json_t *j = json_pack("{s:s, s:i, s:s, s:s, s:s}", "job_id", job_id, "offset_hours", 0, "kind",
                          "nps", "channel", "sms", "status", "pending");
    cf_time_json_set(j, "due_at", due_ms);
    json_array_append_new(jobs, j);
}

int reminders_plan_appointment(PGconn *conn, const struct cf_network *net,
                               const char *appointment_id, const char *patient_id,
                               const json_t *record, int64_t now_ms, struct cf_outbox *out,
                               char *errbuf, size_t errbuf_size)
{
    const char *status = json_string_value(json_object_get(record, "status"));
    const char *clinic_id = json_string_value(json_object_get(record, "clinic_id"));
    const char *visit_at = json_string_value(json_object_get(record, "starts_at"));
    const struct cf_clinic *clinic = cf_netconf_clinic(net, clinic_id);
    const int reminds = plan_status_reminds(status);
    const int missed = status && strcmp(status, "no_show") == 0;
    const int completed = status && strcmp(status, "completed") == 0;
    json_t *jobs = json_array();
    int64_t starts_ms = 0;
    int rc = 0;

    if (!clinic || cf_time_parse(visit_at, &starts_ms) != 0) {
        snprintf(errbuf, errbuf_size, "appointment %s: no clinic %s or no start", appointment_id,
                 clinic_id ? clinic_id : "(none)");
        rc = CF_EINVAL;
        goto out;
    }
    if (reminds || missed || completed) {
        struct plan_policy policy;
        rc = plan_policy_build(json_object_get(net->doc, "reminder_policies"),
                               clinic->tz ? clinic->tz : net->tz, clinic->doc, &policy, errbuf,
                               errbuf_size);
        if (rc != 0)
            goto out;
        struct plan_job planned[PLAN_OFFSETS_MAX];
        size_t n =
            reminds ? plan_reminders(&policy, starts_ms, now_ms, planned, PLAN_OFFSETS_MAX) : 0;
        for (size_t i = 0; i < n; i++) {
            char job_id[CF_UUID_STR_LEN + 1];
            plan_job_id(appointment_id, starts_ms, planned[i].offset_h, job_id);
            json_t *j =
                json_pack("{s:s, s:i, s:s, s:s, s:s, s:s?}", "job_id", job_id, "offset_hours",
                          planned[i].offset_h, "kind", "reminder", "channel", "call", "status",
                          planned[i].skip ? "skipped" : "pending", "reason", planned[i].skip);
            if (!planned[i].skip)
                cf_time_json_set(j, "due_at", planned[i].due_ms);
            json_array_append_new(jobs, j);
        }
        if (missed)
            plan_missed(&policy, net, clinic_id, appointment_id, patient_id, starts_ms, now_ms,
                        jobs, out);
        if (completed)
            plan_survey(&policy, appointment_id, record, starts_ms, now_ms, jobs);
        plan_policy_free(&policy);
    }
    /* the front desk's tasks about the visit as it was, before its jobs
     * are written (outcome.h) */
    int reminded = 0;
    size_t i;
    json_t *j_job;
    json_array_foreach(jobs, i, j_job)
    {
        const char *kind = json_string_value(json_object_get(j_job, "kind"));
        const char *job_status = json_string_value(json_object_get(j_job, "status"));
        reminded |= kind && strcmp(kind, "reminder") == 0 && job_status &&
                    strcmp(job_status, "pending") == 0;
    }
    json_t *visits = json_pack("[{s:s, s:s, s:b, s:b, s:s, s:s}]", "appointment_id", appointment_id,
                               "visit_at", visit_at, "reminds", reminds, "reminded", reminded,
                               "patient_id", patient_id, "clinic_id", clinic_id);
    rc = reminders_close_visit_tasks(conn, net, visits, now_ms, out, errbuf, errbuf_size);
    json_decref(visits);
    if (rc == 0)
        rc = plan_store_replace(conn, net->id, clinic_id, appointment_id, patient_id, visit_at,
                                status, jobs, reminds ? "replanned" : status, errbuf, errbuf_size);
out:
    json_decref(jobs);
    return rc;
}
