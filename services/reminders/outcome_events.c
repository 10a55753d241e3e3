/*
 * The outcomes' events (outcome.h), derived from the send they are about:
 * the same outcome of the same send, applied again, is the same event.
 */
#include "outcome.h"

#include <string.h>

#include "common/hash.h"
#include "common/time.h"

static const char *str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

void outcome_event(struct cf_event *ev, const json_t *row, const struct reminders_outcome *o,
                   const struct ladder_next *next, int64_t now_ms)
{
    json_t *data = json_pack(
        "{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:s, s:s*, s:s*}", "send_id",
        json_object_get(row, "send_id"), "job_id", json_object_get(row, "job_id"), "kind",
        json_object_get(row, "kind"), "appointment_id", json_object_get(row, "appointment_id"),
        "patient_id", json_object_get(row, "patient_id"), "clinic_id",
        json_object_get(row, "clinic_id"), "channel", json_object_get(row, "channel"), "attempt",
        json_object_get(row, "attempt"), "gateway", json_object_get(row, "gateway"), "outcome",
        o->outcome, "reason", o->reason, "reminder_status", next ? next->reminder_status : NULL);
    /* the address stays here (reminders.sends, erased with the patient):
     * the topic carries ids only */
    if (o->recording_url && *o->recording_url)
        json_object_set_new(data, "has_recording", json_true());
    if (json_is_integer(json_object_get(row, "visit_at")))
        cf_time_json_set(data, "visit_at", json_integer_value(json_object_get(row, "visit_at")));
    if (json_is_null(json_object_get(data, "appointment_id"))) /* a recall's */
        json_object_del(data, "appointment_id");
    if (o->duration_s >= 0)
        json_object_set_new(data, "duration_s", json_integer(o->duration_s));
    if (o->segments > 0)
        json_object_set_new(data, "sms",
                            json_pack("{s:i, s:I, s:s}", "segments", o->segments, "cost_minor",
                                      (json_int_t)o->cost_minor, "currency",
                                      o->currency ? o->currency : "RUB"));
    if (next && next->next_channel) {
        json_t *j_next =
            json_pack("{s:s, s:i}", "channel", next->next_channel, "attempt", next->next_attempt);
        cf_time_json_set(j_next, "due_at", next->next_due_ms);
        json_object_set_new(data, "next", j_next);
    }
    cf_event_derive(ev, str(row, "send_id"), "reminder.outcome", o->outcome, "reminders/outcomes",
                    str(row, "send_id"), now_ms, str(row, "network_id"), str(row, "clinic_id"),
                    data);
    if (o->occurrence) {
        const char *parts[] = {str(row, "send_id"), "reminder.outcome", o->outcome, o->occurrence};
        cf_uuid5(parts, 4, ev->id);
    }
}

/* A reminder task's data (task.json) about the visit of row's send, with
 * the contact of its phone; task_id into task_id. */
static json_t *task_data(const json_t *row, const struct cf_network *net, const char *reason,
                         const char *status, int64_t opened_ms, int64_t due_ms,
                         char task_id[CF_UUID_STR_LEN + 1])
{
    char key[CF_SHA256_HEX_LEN + 1];
    const char *parts[] = {str(row, "job_id"), "task", reason};
    cf_uuid5(parts, 3, task_id);
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:s}", "task_id", task_id, "kind", "reminder",
                  "status", status, "clinic_id", json_object_get(row, "clinic_id"),
                  "appointment_id", json_object_get(row, "appointment_id"), "patient_id",
                  json_object_get(row, "patient_id"), "reason", reason);
    const char *phone = str(row, "phone");
    if (phone) {
        json_object_set_new(
            data, "contact",
            json_pack("{s:s, s:s, s:s}", "raw", phone, "kind", "e164", "e164", phone));
        cf_contact_key(net->secret, phone, key);
        json_object_set_new(data, "contact_key", json_string(key));
    }
    if (json_is_null(json_object_get(data, "appointment_id"))) /* a recall's */
        json_object_del(data, "appointment_id");
    cf_time_json_set(data, "opened_at", opened_ms);
    cf_time_json_set(data, "due_at", due_ms);
    return data;
}

void outcome_task_event(struct cf_event *ev, const json_t *row, const struct cf_network *net,
                        const char *reason, int64_t now_ms, int64_t due_ms)
{
    char task_id[CF_UUID_STR_LEN + 1];
    json_t *data = task_data(row, net, reason, "open", now_ms, due_ms, task_id);
    cf_event_derive(ev, str(row, "send_id"), "task.opened", reason, "reminders/outcomes", task_id,
                    now_ms, str(row, "network_id"), str(row, "clinic_id"), data);
}

void outcome_task_closed_event(struct cf_event *ev, const json_t *row, const struct cf_network *net,
                               const char *job_id, const char *phone, const char *reason,
                               const char *closed_by, int64_t opened_ms, int64_t due_ms,
                               int64_t closed_ms)
{
    char task_id[CF_UUID_STR_LEN + 1];
    json_t *task_row = json_copy((json_t *)row); /* shallow: the task's job and phone */
    json_object_set_new(task_row, "job_id", json_string(job_id));
    json_object_set_new(task_row, "phone", phone ? json_string(phone) : json_null());
    json_t *data = task_data(task_row, net, reason, "closed", opened_ms, due_ms, task_id);
    json_decref(task_row);
    cf_time_json_set(data, "closed_at", closed_ms);
    json_object_set_new(data, "closed_by", json_string(closed_by));
    json_object_set_new(data, "on_time", json_boolean(closed_ms <= due_ms));
    /* one answer may close the tasks of several of the visit's reminders;
     * the visit's change closes a task once */
    if (str(row, "send_id"))
        cf_event_derive(ev, str(row, "send_id"), "task.closed", task_id, "reminders/outcomes",
                        task_id, closed_ms, str(row, "network_id"), str(row, "clinic_id"), data);
    else
        cf_event_derive(ev, task_id, "task.closed", closed_by, "reminders/outcomes", task_id,
                        closed_ms, str(row, "network_id"), str(row, "clinic_id"), data);
}
