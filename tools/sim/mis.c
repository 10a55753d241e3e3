/*
 * The MIS's side: patients and appointments through the reminders
 * service's record API (PUT /v1/patients/{id}, PUT /v1/appointments/{id},
 * an ingest key). An appointment is put twice, as an MIS does: version 1
 * when it is booked, version 2 with its outcome (the visit paid, a
 * treatment plan proposed or accepted, a no-show, a cancellation) once its
 * time has come. Each PUT carries the whole record: the API replaces it.
 * A past visit's reminders, made by the robot before clinicflow, go as
 * its history (PUT /v1/appointments/{id}/reminders) after its booking; a
 * lapsed patient's recall by it (PUT /v1/patients/{id}/recall-history)
 * before the patient's record, so the service's own recall does not ask
 * them again.
 */
#include "sim.h"

#include <stdio.h>
#include <string.h>

#include "common/xmalloc.h"

#define DAY_MS 86400000LL

static void put_json(struct sim_req *out, const char *kind, char *url, json_t *j_body,
                     const struct sim_targets *t)
{
    out->kind = kind;
    out->method_put = 1;
    out->url = url;
    out->body = json_dumps(j_body, JSON_COMPACT);
    out->body_len = strlen(out->body);
    json_decref(j_body);
    sim_req_header(out, "Content-Type: application/json");
    sim_req_header(out, "Authorization: Bearer %s", t->ingest_key);
}

void sim_mis_patient_request(const struct sim_network *net, const struct sim_targets *t,
                             const struct sim_month *m, const struct sim_person *p,
                             int64_t offset_ms, struct sim_req *out)
{
    char tag[16], ts[32];
    sim_person_tag(m, p->idx, tag);
    json_t *j =
        json_pack("{s:i, s:s, s:s, s:[s], s:s, s:{s:b, s:b, s:b}}", "version", 1, "clinic_id",
                  net->clinic_ids[p->clinic], "first_name", p->first_name, "phones", p->phone,
                  "language", "ru", "consents", "calls", 1, "sms", 1, "marketing", 1);
    if (p->existing) {
        /* the first visit a year or more before the last one */
        sim_rfc3339(p->last_visit_ms + offset_ms, ts);
        json_object_set_new(j, "last_visit_at", json_string(ts));
        sim_rfc3339(p->last_visit_ms - (365 + p->idx % 700) * DAY_MS + offset_ms, ts);
        json_object_set_new(j, "first_visit_at", json_string(ts));
    }
    put_json(out, "patient", cf_xasprintf("%s/v1/patients/%s-p%u", t->reminders, tag, p->idx), j,
             t);
}

void sim_mis_appt_request(const struct sim_network *net, const struct sim_targets *t,
                          const struct sim_month *m, const struct sim_ev *ev, int64_t offset_ms,
                          struct sim_req *out)
{
    static const char *const categories[] = {"hygiene", "implants", "orthodontics", "therapy"};
    static const char *const statuses[] = {"booked", "completed", "no_show", "cancelled"};
    const struct sim_appt *a = &m->appts[ev->u.appt.appt];
    const int final = ev->u.appt.version == 2;
    char tag[16], ts[32], pid[40], did[16];
    sim_person_tag(m, a->person, tag);
    snprintf(pid, sizeof(pid), "%s-p%u", tag, a->person);
    snprintf(did, sizeof(did), "d-%d-%d", a->clinic, a->doctor);
    json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "version", ev->u.appt.version,
                          "clinic_id", net->clinic_ids[a->clinic], "patient_id", pid, "doctor_id",
                          did, "doctor_name", sim_doctor_name(a->clinic, a->doctor),
                          "service_category", categories[a->idx % 4], "operator_id", "101",
                          "status", statuses[final ? a->status : SIM_BOOKED]);
    sim_rfc3339(a->starts_ms + offset_ms, ts);
    json_object_set_new(j, "starts_at", json_string(ts));
    sim_rfc3339(a->starts_ms + 45 * 60000LL + offset_ms, ts);
    json_object_set_new(j, "ends_at", json_string(ts));
    /* when it was booked, so that a replayed month's bookings fall on their
     * days and not on the day of the replay */
    sim_rfc3339(a->booked_ms + offset_ms, ts);
    json_object_set_new(j, "booked_at", json_string(ts));
    if (a->recall)
        json_object_set_new(j, "booking_source", json_string("recall"));
    if (final && a->status == SIM_COMPLETED) {
        json_object_set_new(j, "amount_paid", json_real(a->paid));
        if (a->plan != SIM_PLAN_NONE)
            json_object_set_new(j, "treatment_plan",
                                json_pack("{s:s, s:f}", "status",
                                          a->plan == SIM_PLAN_ACCEPTED ? "accepted" : "proposed",
                                          "amount", a->plan_amount));
    }
    char appt_id[32];
    sim_appt_id(m, a->idx, appt_id);
    put_json(out, "appointment", cf_xasprintf("%s/v1/appointments/%s", t->reminders, appt_id), j,
             t);
}

/* The robot's SMS handed over at ts, as its history tells it: delivered,
 * one segment at the demo's price. */
static json_t *sms_delivered(const char *ts)
{
    return json_pack("{s:s, s:s, s:s, s:{s:i, s:i, s:s}}", "channel", "sms", "at", ts, "outcome",
                     "sms_delivered", "sms", "segments", 1, "cost_minor", SIM_SMS_COST_MINOR,
                     "currency", "RUB");
}

void sim_mis_reminders_request(const struct sim_targets *t, const struct sim_month *m,
                               const struct sim_ev *ev, int64_t offset_ms, struct sim_req *out)
{
    const struct sim_appt *a = &m->appts[ev->u.appt.appt];
    char ts[32], appt_id[32];
    const int64_t call_ms = a->starts_ms - DAY_MS + offset_ms;
    json_t *sends = json_array();
    sim_rfc3339(call_ms, ts);
    json_t *call = json_pack("{s:s, s:s, s:s}", "channel", "call", "at", ts, "outcome",
                             a->reminder == SIM_REM_CONFIRMED    ? "confirmed"
                             : a->reminder == SIM_REM_RESCHEDULE ? "reschedule"
                                                                 : "no_answer");
    if (a->reminder != SIM_REM_UNANSWERED)
        json_object_set_new(call, "duration_s", json_integer(a->reminder_s));
    json_array_append_new(sends, call);
    if (a->reminder == SIM_REM_UNANSWERED) {
        sim_rfc3339(call_ms + 3600000LL, ts);
        json_array_append_new(sends, sms_delivered(ts));
    }
    sim_appt_id(m, a->idx, appt_id);
    put_json(out, "reminders",
             cf_xasprintf("%s/v1/appointments/%s/reminders", t->reminders, appt_id),
             json_pack("{s:s, s:o}", "gateway", "robot-before", "sends", sends), t);
}

void sim_mis_recall_request(const struct sim_network *net, const struct sim_targets *t,
                            const struct sim_month *m, const struct sim_ev *ev, struct sim_req *out)
{
    const struct sim_person *p = &m->persons[ev->person];
    const int target = p->recall == SIM_RECALL_TARGET;
    char tag[16], ts[32];
    sim_person_tag(m, p->idx, tag);
    sim_rfc3339(p->recall_asked_ms, ts);
    json_t *sends = json_array();
    if (target) {
        json_array_append_new(sends, sms_delivered(ts));
        if (p->recall_reply_ms) {
            char reply[32];
            sim_rfc3339(p->recall_reply_ms, reply);
            json_array_append_new(sends, json_pack("{s:s, s:s, s:s}", "channel", "sms", "at", reply,
                                                   "outcome", "confirmed"));
        }
    }
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:o}", "gateway", "robot-before", "clinic_id",
                          net->clinic_ids[p->clinic], "asked_at", ts, "group",
                          target ? "target" : "holdout", "holdout_percent", 10, "sends", sends);
    put_json(out, "recall",
             cf_xasprintf("%s/v1/patients/%s-p%u/recall-history", t->reminders, tag, p->idx), j, t);
}

void sim_appt_id(const struct sim_month *m, uint32_t appt, char out[32])
{
    char tag[16];
    sim_tag(m, tag);
    snprintf(out, 32, "%s-a%u", tag, appt);
}
