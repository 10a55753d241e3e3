/*
 * The response-task rules as pure functions over the leads, tasks and
 * calls as leads.v1, tasks.v1 and calls.v1 carry them (task_rules.h). Kept
 * apart from the consumers and the sweeper, which own the SQL, so that
 * each decision can be tested on its own; times are event times in ms,
 * settings come in through leads_settings.
 */
#include "task_rules.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"

/* What an event of type asks of the tasks, its data aside. */
static enum leads_task_input input_of_type(const char *type)
{
    static const struct {
        const char *type;
        enum leads_task_input input;
    } types[] = {
        {"clinicflow.lead.received", LEADS_TASK_RECEIVED},
        {"clinicflow.lead.merged", LEADS_TASK_MERGED},
        {"clinicflow.lead.responded", LEADS_TASK_RESPONDED},
        {"clinicflow.lead.status_changed", LEADS_TASK_STATUS},
    };
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(type, types[i].type) == 0)
            return types[i].input;
    }
    return LEADS_TASK_IGNORE; /* lead.sla_breached: the sweeper's own */
}

enum leads_task_input leads_task_input(const char *type, const char *network_id,
                                       const json_t *j_data)
{
    if (!network_id || !cf_uuid_valid(json_string_value(json_object_get(j_data, "lead_id"))))
        return LEADS_TASK_IGNORE;
    return input_of_type(type);
}

int leads_task_type_acts(const char *type)
{
    const enum leads_task_input input = input_of_type(type);
    return input != LEADS_TASK_IGNORE;
}

long leads_task_response_due_s(const struct leads_settings *cfg, const json_t *j_clinic)
{
    const json_t *j_due = json_object_get(j_clinic, "lead_response_due_s");
    if (json_is_integer(j_due) && json_integer_value(j_due) > 0 &&
        json_integer_value(j_due) <= 31536000)
        return (long)json_integer_value(j_due);
    return cfg->response_due_s;
}

int leads_task_hours(const char *tz, const json_t *j_clinic, struct cf_time_hours *out,
                     char *errbuf, size_t errbuf_size)
{
    const json_t *j_week = json_object_get(j_clinic, "working_hours");
    if (!tz || !j_week) {
        memset(out, 0, sizeof(*out));
        cf_seterr(errbuf, errbuf_size, "the clinic names no time zone or working hours");
        return CF_EINVAL;
    }
    return cf_time_hours_parse(tz, j_week, json_object_get(j_clinic, "holidays"), NULL, out, errbuf,
                               errbuf_size);
}

int64_t leads_task_due_at(const struct cf_time_hours *h, int64_t from_ms, long seconds)
{
    int64_t due = 0;
    if (h && cf_time_add_working(h, from_ms, seconds, &due) == 0)
        return due;
    return from_ms + (int64_t)seconds * 1000;
}

int leads_task_wants_callback(const json_t *j_lead)
{
    static const char *const forms[] = {"generic", "tilda", "cf7", NULL};
    const char *provider = json_string_value(json_object_get(j_lead, "provider"));
    const json_t *j_phone = json_object_get(json_object_get(j_lead, "contact"), "phone");
    const char *kind = json_string_value(json_object_get(j_phone, "kind"));

    if (!provider || !kind || strcmp(kind, "e164") != 0 ||
        !json_string_value(json_object_get(j_phone, "e164")))
        return 0;
    for (const char *const *f = forms; *f; f++) {
        if (strcmp(provider, *f) == 0)
            return 1;
    }
    return json_is_true(json_object_get(j_lead, "callback_requested"));
}

const json_t *leads_merge_callback_phone(const json_t *j_lead, const json_t *j_fact)
{
    const char *status = json_string_value(json_object_get(j_lead, "status"));

    /* a request told late into a lead closed since asks nothing of it */
    if ((status && strcmp(status, "open") != 0) || json_object_get(j_lead, "responded_at") ||
        json_is_true(json_object_get(j_lead, "callback_merged")) ||
        leads_task_wants_callback(j_lead) || !leads_task_wants_callback(j_fact))
        return NULL;
    return json_object_get(json_object_get(j_fact, "contact"), "phone");
}

void leads_task_id(const char *network_id, const char *kind, const char *lead_id,
                   char out[CF_UUID_STR_LEN + 1])
{
    const char *parts[] = {network_id, "lead-task", kind, lead_id};
    cf_uuid5(parts, 4, out);
}

json_t *leads_task_new(const char *network_id, const char *kind, const json_t *j_lead,
                       int64_t opened_ms, int64_t due_ms)
{
    const char *lead_id = json_string_value(json_object_get(j_lead, "lead_id"));
    char task_id[CF_UUID_STR_LEN + 1];
    leads_task_id(network_id, kind, lead_id, task_id);

    json_t *j_task = json_pack("{s:s, s:s, s:s, s:s}", "task_id", task_id, "kind", kind, "status",
                               "open", "lead_id", lead_id);
    static const char *const copied[] = {"clinic_id", "contact_key", NULL};
    for (const char *const *k = copied; *k; k++) {
        json_t *v = json_object_get(j_lead, *k);
        if (json_is_string(v))
            json_object_set(j_task, *k, v);
    }
    /* a callback task names the number to call, as a callback for a missed
     * call does */
    const json_t *j_phone = json_object_get(json_object_get(j_lead, "contact"), "phone");
    if (strcmp(kind, "callback") == 0 && json_is_object(j_phone))
        json_object_set_new(j_task, "contact", json_deep_copy(j_phone));
    cf_time_json_set(j_task, "opened_at", opened_ms);
    cf_time_json_set(j_task, "due_at", due_ms);
    return j_task;
}

void leads_task_close(json_t *j_task, int64_t closed_ms, const char *closed_by, const char *call_id)
{
    const int64_t opened = cf_time_json_get(j_task, "opened_at"),
                  due = cf_time_json_get(j_task, "due_at");
    if (closed_ms < opened) /* a status dated before the lead came: closed as it opened */
        closed_ms = opened;
    json_object_set_new(j_task, "status", json_string("closed"));
    cf_time_json_set(j_task, "closed_at", closed_ms);
    json_object_set_new(j_task, "closed_by", json_string(closed_by));
    if (call_id)
        json_object_set_new(j_task, "closing_call_id", json_string(call_id));
    json_object_set_new(j_task, "seconds_to_response",
                        json_integer(closed_ms > opened ? (closed_ms - opened) / 1000 : 0));
    json_object_set_new(j_task, "on_time", json_boolean(closed_ms <= due));
}

int64_t leads_task_closed_at(enum leads_task_input input, const json_t *j_data, int64_t ev_ms)
{
    if (input == LEADS_TASK_RESPONDED) {
        const int64_t at = cf_time_json_get(j_data, "responded_at");
        if (at >= 0)
            return at;
    }
    return ev_ms;
}

int leads_task_doc_ok(const json_t *j_task)
{
    const char *kind = json_string_value(json_object_get(j_task, "kind"));
    return kind && (strcmp(kind, "respond") == 0 || strcmp(kind, "callback") == 0) &&
           cf_uuid_valid(json_string_value(json_object_get(j_task, "task_id"))) &&
           cf_uuid_valid(json_string_value(json_object_get(j_task, "lead_id"))) &&
           cf_time_json_get(j_task, "opened_at") >= 0 && cf_time_json_get(j_task, "due_at") >= 0;
}

void leads_task_event(struct cf_event *ev, const char *id_base, const char *verb, json_t *j_task,
                      const char *network_id, int64_t time_ms)
{
    char kind[32];
    const char *task_id = json_string_value(json_object_get(j_task, "task_id"));

    snprintf(kind, sizeof(kind), "task.%s", verb);
    memset(ev, 0, sizeof(*ev));
    cf_event_derive(ev, id_base, kind, task_id, "leads/tasks", task_id, time_ms, network_id,
                    json_string_value(json_object_get(j_task, "clinic_id")), json_incref(j_task));
}

void leads_task_breach_event(struct cf_event *ev, const json_t *j_row, const char *network_id,
                             int64_t time_ms)
{
    const char *lead_id = json_string_value(json_object_get(j_row, "lead_id"));
    json_t *j_data = json_pack("{s:s}", "lead_id", lead_id);
    /* received_at: the respond task opens when the lead was received */
    json_object_set(j_data, "received_at", json_object_get(j_row, "opened_at"));
    static const char *const copied[] = {"due_at", "channel", "provider", "contact_key", NULL};
    for (const char *const *k = copied; *k; k++) {
        json_t *v = json_object_get(j_row, *k);
        if (json_is_string(v))
            json_object_set(j_data, *k, v);
    }
    memset(ev, 0, sizeof(*ev));
    cf_event_derive(ev, lead_id, "lead.sla_breached", NULL, "leads/sweeper", lead_id, time_ms,
                    network_id, json_string_value(json_object_get(j_row, "clinic_id")), j_data);
}

int64_t leads_task_expires_at(const json_t *j_task, long expire_s, int64_t erased_ms)
{
    const int64_t opened = cf_time_json_get(j_task, "opened_at");
    if (opened < 0)
        return -1;
    const int64_t deadline = opened + (int64_t)expire_s * 1000;
    if (erased_ms < 0 || erased_ms >= deadline)
        return deadline;
    return erased_ms > opened ? erased_ms : opened;
}

void leads_task_expire(json_t *j_task)
{
    json_object_set_new(j_task, "status", json_string("expired"));
    /* an open task has none of these; a document that had them does not
     * carry them into an expiry */
    static const char *const closing[] = {"closed_at",           "closed_by",       "on_time",
                                          "seconds_to_response", "closing_call_id", NULL};
    for (const char *const *k = closing; *k; k++)
        json_object_del(j_task, *k);
}

void leads_task_expired_event(struct cf_event *ev, const json_t *j_task, const char *network_id,
                              int64_t time_ms)
{
    const char *task_id = json_string_value(json_object_get(j_task, "task_id"));
    memset(ev, 0, sizeof(*ev));
    cf_event_derive(ev, task_id, "task.expired", NULL, "leads/sweeper", task_id, time_ms,
                    network_id, json_string_value(json_object_get(j_task, "clinic_id")),
                    json_deep_copy(j_task));
}

int leads_call_is_answered(const char *type, const char *network_id, const json_t *j_call,
                           int64_t *answered_ms)
{
    const char *outcome = json_string_value(json_object_get(j_call, "outcome"));

    if (!type || strncmp(type, "clinicflow.call.", 16) != 0 || !network_id)
        return 0;
    if (json_is_true(json_object_get(j_call, "agent_pending")) ||
        !json_string_value(json_object_get(j_call, "contact_key")) ||
        !cf_uuid_valid(json_string_value(json_object_get(j_call, "call_id"))))
        return 0;
    /* answered by a person: the outcome says so once the call is over (a
     * voicemail answers the line too) */
    if (!outcome || strcmp(outcome, "answered") != 0)
        return 0;
    /* a provider that tells only that a person answered: the call's end,
     * the latest the answer can have been */
    *answered_ms = cf_time_json_get(j_call, "answered_at");
    if (*answered_ms < 0)
        *answered_ms = cf_time_json_get(j_call, "ended_at");
    return *answered_ms >= 0;
}

int leads_call_under_way(const char *type, const char *network_id, const json_t *j_call,
                         int64_t *answered_ms)
{
    const char *status = json_string_value(json_object_get(j_call, "status"));

    if (!type || strncmp(type, "clinicflow.call.", 16) != 0 || !network_id || !status ||
        !json_string_value(json_object_get(j_call, "contact_key")) ||
        !cf_uuid_valid(json_string_value(json_object_get(j_call, "call_id"))))
        return 0;
    /* the outcome decides once the call is over and its staff leg known
     * (leads_call_is_answered) */
    if (strcmp(status, "ended") == 0 && !json_is_true(json_object_get(j_call, "agent_pending")))
        return 0;
    *answered_ms = cf_time_json_get(j_call, "answered_at");
    return *answered_ms >= 0;
}

void leads_call_response_fact(struct cf_event *ev, const char *network_id, const json_t *j_call,
                              const char *lead_id, int64_t answered_ms)
{
    const char *call_id = json_string_value(json_object_get(j_call, "call_id"));
    const char *contact_key = json_string_value(json_object_get(j_call, "contact_key"));
    const char *dir = json_string_value(json_object_get(j_call, "direction"));
    /* the contact's end of the call */
    const json_t *j_party =
        json_object_get(j_call, dir && strcmp(dir, "outbound") == 0 ? "called" : "caller");

    json_t *j_data =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}}", "kind", "response", "provider",
                  "call", "channel", "call", "via", "call", "provider_event_id", call_id, "call_id",
                  call_id, "contact_key", contact_key, "contact_keys", "phone", contact_key);
    if (lead_id)
        json_object_set_new(j_data, "lead_id", json_string(lead_id));
    if (json_is_object(j_party))
        json_object_set_new(j_data, "contact", json_pack("{s:O}", "phone", j_party));
    const json_t *j_agent = json_object_get(j_call, "agent_id");
    if (json_is_string(j_agent))
        json_object_set(j_data, "staff_id", (json_t *)j_agent);
    memset(ev, 0, sizeof(*ev));
    cf_event_derive(ev, call_id, "lead.reported", NULL, "leads/calls", contact_key, answered_ms,
                    network_id, json_string_value(json_object_get(j_call, "clinic_id")), j_data);
}
