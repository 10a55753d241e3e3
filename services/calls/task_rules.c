/*
 * The callback rules as pure functions over the calls and tasks as
 * calls.v1 and tasks.v1 carry them (task_rules.h). Kept apart from the
 * consumer and the sweeper, which own the SQL, so that each decision can
 * be tested on its own; times are event times in ms, settings come in
 * through calls_settings.
 */
#include "task_rules.h"

#include <stdio.h>
#include <string.h>

#include "common/hash.h"
#include "common/xmalloc.h"

static const char *const missed_outcomes[] = {"missed", "abandoned", "busy",
                                              "failed", "voicemail", NULL};

int calls_task_is_missed(const json_t *j_call)
{
    const char *outcome = json_string_value(json_object_get(j_call, "outcome"));
    const char *status = json_string_value(json_object_get(j_call, "status"));
    const char *dir = json_string_value(json_object_get(j_call, "direction"));

    if (!outcome || !status || !dir || strcmp(status, "ended") != 0 ||
        strcmp(dir, "inbound") != 0 || json_is_true(json_object_get(j_call, "blocked")))
        return 0;
    for (const char *const *o = missed_outcomes; *o; o++) {
        if (strcmp(outcome, *o) == 0)
            return 1;
    }
    return 0;
}

enum calls_task_input calls_task_input(const char *type, const char *network_id,
                                       const json_t *j_call)
{
    if (!type || strncmp(type, "clinicflow.call.", 16) != 0 || !network_id)
        return CALLS_TASK_IGNORE; /* not a call event */
    if (json_is_true(json_object_get(j_call, "agent_pending")))
        return CALLS_TASK_IGNORE;
    if (!json_string_value(json_object_get(j_call, "contact_key")))
        return CALLS_TASK_IGNORE;
    if (calls_task_is_missed(j_call))
        return CALLS_TASK_MISSED;
    /* Answered by a person: the outcome says so once the call is over. An
     * answer time alone is not enough: a voicemail or an answering machine
     * answers the line too. */
    const char *outcome = json_string_value(json_object_get(j_call, "outcome"));
    if (outcome && strcmp(outcome, "answered") == 0 && cf_time_json_get(j_call, "answered_at") >= 0)
        return CALLS_TASK_ANSWERED;
    return CALLS_TASK_IGNORE;
}

int64_t calls_task_miss_end(const json_t *j_call)
{
    const int64_t ended = cf_time_json_get(j_call, "ended_at");
    return ended >= 0 ? ended : cf_time_json_get(j_call, "started_at");
}

int64_t calls_task_miss_start(const json_t *j_call)
{
    const int64_t started = cf_time_json_get(j_call, "started_at");
    return started >= 0 ? started : cf_time_json_get(j_call, "ended_at");
}

int64_t calls_task_due_at(const struct calls_settings *cfg, int64_t opened_ms)
{
    return opened_ms + cfg->callback_sla_s * 1000;
}

int64_t calls_task_lost_at(const struct calls_settings *cfg, int64_t opened_ms)
{
    return opened_ms + (int64_t)cfg->task_lost_after_s * 1000;
}

json_t *calls_task_new(const struct calls_settings *cfg, const char *network_id,
                       const char *contact_key, const json_t *j_call)
{
    const char *call_id = json_string_value(json_object_get(j_call, "call_id"));
    char task_id[CF_UUID_STR_LEN + 1];
    const char *parts[] = {network_id, "callback", contact_key, call_id};
    cf_uuid5(parts, 4, task_id);
    json_t *j_task = json_pack("{s:s, s:s, s:s, s:s, s:O, s:i}", "task_id", task_id, "kind",
                               "callback", "status", "open", "contact_key", contact_key, "contact",
                               json_object_get(j_call, "caller"), "missed_calls", 1);
    json_t *j_clinic = json_object_get(j_call, "clinic_id");
    if (j_clinic)
        json_object_set(j_task, "clinic_id", j_clinic);
    calls_task_set_source(j_task, cfg, call_id, calls_task_miss_end(j_call));
    return j_task;
}

void calls_task_close(json_t *j_task, const char *call_id, int64_t answered_ms)
{
    int64_t opened = cf_time_json_get(j_task, "opened_at"),
            due = cf_time_json_get(j_task, "due_at");
    json_object_set_new(j_task, "status", json_string("closed"));
    cf_time_json_set(j_task, "closed_at", answered_ms);
    json_object_set_new(j_task, "closing_call_id", json_string(call_id));
    json_object_set_new(j_task, "seconds_to_callback",
                        json_integer(answered_ms > opened ? (answered_ms - opened) / 1000 : 0));
    json_object_set_new(j_task, "on_time", json_boolean(answered_ms <= due));
}

void calls_task_set_source(json_t *j_task, const struct calls_settings *cfg, const char *call_id,
                           int64_t opened_ms)
{
    json_object_set_new(j_task, "source_call_id", json_string(call_id));
    cf_time_json_set(j_task, "opened_at", opened_ms);
    cf_time_json_set(j_task, "due_at", calls_task_due_at(cfg, opened_ms));
}

int calls_task_miss_before(const json_t *j_task, const json_t *j_call)
{
    const int64_t ended = calls_task_miss_end(j_call);
    return ended >= 0 && ended < cf_time_json_get(j_task, "opened_at");
}

int64_t calls_task_settled_until(const struct calls_settings *cfg, const json_t *j_task,
                                 int64_t miss_end_ms)
{
    const int64_t task_opened = cf_time_json_get(j_task, "opened_at");
    const int64_t until = calls_task_lost_at(cfg, miss_end_ms);
    return until >= task_opened ? task_opened - 1 : until;
}

void calls_task_take_misses(json_t *j_task, size_t n)
{
    const json_int_t left =
        json_integer_value(json_object_get(j_task, "missed_calls")) - (json_int_t)n;
    json_object_set_new(j_task, "missed_calls", json_integer(left > 1 ? left : 1));
}

enum calls_task_answer calls_task_on_answer(const struct calls_settings *cfg, const json_t *j_task,
                                            const char *call_id, int64_t answered_ms)
{
    const char *source = json_string_value(json_object_get(j_task, "source_call_id"));
    const int64_t opened = cf_time_json_get(j_task, "opened_at");
    if (answered_ms >= opened && answered_ms <= calls_task_lost_at(cfg, opened))
        return CALLS_TASK_CLOSE;
    if (answered_ms < opened && source && call_id && strcmp(source, call_id) == 0)
        return CALLS_TASK_WITHDRAW;
    return CALLS_TASK_KEEP; /* answered after the task was lost: the sweeper expires it */
}

int calls_task_doc_ok(const json_t *j_task)
{
    return json_is_string(json_object_get(j_task, "task_id")) &&
           cf_time_json_get(j_task, "opened_at") >= 0 && cf_time_json_get(j_task, "due_at") >= 0 &&
           json_is_integer(json_object_get(j_task, "missed_calls"));
}

void calls_task_event(struct cf_event *ev, const char *id_base, const char *verb,
                      const json_t *j_task, const char *network_id, int64_t time_ms)
{
    char kind[32];

    snprintf(kind, sizeof(kind), "task.%s", verb);
    memset(ev, 0, sizeof(*ev));
    cf_event_derive(ev, id_base, kind, NULL, "calls/fold",
                    json_string_value(json_object_get(j_task, "task_id")), time_ms, network_id,
                    json_string_value(json_object_get(j_task, "clinic_id")),
                    json_deep_copy(j_task));
}
