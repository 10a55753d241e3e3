/*
 * A call's and a task's analytics rows, and a call's share of the hourly
 * rollup (call_facts_testable.h). The definitions are proto/README.md's
 * "Analytics reports"; each count is decided here and only here.
 */
#include "call_facts_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "common/time.h"

const char *const an_call_dims[AN_CALL_NDIMS] = {
    "clinic_id", "source", "medium", "campaign", "operator", "patient_class", "channel",
};

const char *const an_call_counts[AN_CALL_NCOUNTS] = {
    "inbound",
    "outbound",
    "answered",
    "unique_calls",
    "targeted",
    "missed",
    "abandoned",
    "answered_call_center",
    "answered_reception",
    "talk_seconds",
    "handled",
    "inbound_talk_seconds",
};

int an_local_hour(const char *tz, int64_t ms, char out[20])
{
    struct cf_time_local lt;
    if (cf_time_to_local(tz, ms, &lt) != 0)
        return CF_EINVAL;
    snprintf(out, 20, "%04u-%02u-%02u %02u:00:00", (unsigned)lt.year % 10000u,
             (unsigned)lt.month % 100u, (unsigned)lt.day % 100u, (unsigned)lt.hour % 100u);
    return 0;
}

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static int is(const json_t *obj, const char *key, const char *value)
{
    return strcmp(str(obj, key), value) == 0;
}

/* Outcomes of an inbound call that open a callback task: "missed". */
static int missed_outcome(const char *outcome)
{
    static const char *const missed[] = {"missed", "abandoned", "busy", "failed", "voicemail"};
    for (size_t i = 0; i < sizeof(missed) / sizeof(missed[0]); i++)
        if (strcmp(outcome, missed[i]) == 0)
            return 1;
    return 0;
}

/* Sets key to ms as RFC 3339 when data has it as a valid time; else null. */
static void set_time(json_t *row, const json_t *data, const char *key)
{
    int64_t ms = cf_time_json_get(data, key);
    if (ms >= 0)
        cf_time_json_set(row, key, ms);
    else
        json_object_set_new(row, key, json_null());
}

static void set_int_or_null(json_t *row, const char *key, const json_t *j)
{
    json_object_set_new(row, key,
                        json_is_integer(j) ? json_integer(json_integer_value(j)) : json_null());
}

json_t *an_call_row(const json_t *data, const char *network_id, const char *tz, char *errbuf,
                    size_t errbuf_size)
{
    const char *call_id = str(data, "call_id"), *direction = str(data, "direction");
    const int64_t started = cf_time_json_get(data, "started_at");
    char hour[20];

    if (!*call_id || !*direction || started < 0) {
        snprintf(errbuf, errbuf_size, "a call needs call_id, direction and started_at");
        return NULL;
    }
    if (an_local_hour(tz, started, hour) != 0) {
        snprintf(errbuf, errbuf_size, "no hour for started_at in zone '%s'", tz);
        return NULL;
    }
    const json_t *attr = json_object_get(data, "attribution");
    const json_t *patient = json_object_get(data, "patient");
    const char *outcome = str(data, "outcome");
    const int ended = is(data, "status", "ended");
    const int inbound = strcmp(direction, "inbound") == 0;
    const int answered = strcmp(outcome, "answered") == 0;
    const json_t *talk = json_object_get(data, "talk_seconds");

    json_t *row = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "call_id",
        call_id, "network_id", network_id, "hour", hour, "direction", direction, "status",
        str(data, "status"), "outcome", outcome, "clinic_id", str(data, "clinic_id"), "source",
        str(attr, "source"), "medium", str(attr, "medium"), "campaign", str(attr, "campaign"),
        "operator", str(data, "agent_id"), "agent_group", str(data, "agent_group"), "patient_class",
        str(patient, "class"), "channel", str(data, "provider"));
    set_time(row, data, "started_at");
    json_object_set_new(row, "contact_key",
                        *str(data, "contact_key") ? json_string(str(data, "contact_key"))
                                                  : json_null());
    const json_t *facts = json_object_get(data, "facts");
    json_object_set_new(row, "facts",
                        json_is_integer(facts) ? json_integer(json_integer_value(facts))
                                               : json_null());

    /* The counts (proto/README.md's table): nothing until the call ended. */
    const long counts[AN_CALL_NCOUNTS] = {
        ended && inbound,
        ended && !inbound,
        ended && inbound && answered,
        ended && inbound && json_is_true(json_object_get(data, "unique")),
        ended && json_is_true(json_object_get(data, "targeted")),
        ended && inbound && missed_outcome(outcome),
        ended && inbound && strcmp(outcome, "abandoned") == 0,
        ended && inbound && answered && is(data, "agent_group", "call_center"),
        ended && inbound && answered && is(data, "agent_group", "reception"),
        ended && answered && json_is_integer(talk) ? (long)json_integer_value(talk) : 0,
        ended && answered, /* handled by a person, either direction */
        ended && inbound && answered && json_is_integer(talk) ? (long)json_integer_value(talk) : 0,
    };
    for (size_t i = 0; i < AN_CALL_NCOUNTS; i++)
        json_object_set_new(row, an_call_counts[i], json_integer(counts[i]));
    return row;
}

json_t *an_task_row(const json_t *data, const char *network_id, const char *tz, char *errbuf,
                    size_t errbuf_size)
{
    const char *task_id = str(data, "task_id"), *kind = str(data, "kind"),
               *status = str(data, "status");
    const int64_t opened = cf_time_json_get(data, "opened_at");
    char hour[20];

    if (!*task_id || !*kind || !*status || opened < 0) {
        snprintf(errbuf, errbuf_size, "a task needs task_id, kind, status and opened_at");
        return NULL;
    }
    if (an_local_hour(tz, opened, hour) != 0) {
        snprintf(errbuf, errbuf_size, "no hour for opened_at in zone '%s'", tz);
        return NULL;
    }
    const char *source = str(data, "source_call_id"), *closing = str(data, "closing_call_id");
    json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "task_id", task_id, "network_id",
                            network_id, "kind", kind, "status", status, "clinic_id",
                            str(data, "clinic_id"), "hour", hour,
                            /* the missed call turned out answered: not a callback */
                            "withdrawn", *source && strcmp(source, closing) == 0);
    set_time(row, data, "opened_at");
    set_time(row, data, "due_at");
    set_time(row, data, "closed_at");
    static const char *const ids[] = {"source_call_id", "closing_call_id", "lead_id",
                                      "appointment_id", "contact_key",     "patient_id"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        json_object_set_new(row, ids[i],
                            *str(data, ids[i]) ? json_string(str(data, ids[i])) : json_null());
    const json_t *on_time = json_object_get(data, "on_time");
    json_object_set_new(row, "on_time",
                        json_is_boolean(on_time) ? json_copy((json_t *)on_time) : json_null());
    set_int_or_null(row, "seconds_to_callback", json_object_get(data, "seconds_to_callback"));
    set_int_or_null(row, "seconds_to_response", json_object_get(data, "seconds_to_response"));
    set_int_or_null(row, "missed_calls", json_object_get(data, "missed_calls"));
    return row;
}

void an_rollup_add(json_t *deltas, const json_t *row, int sign)
{
    int any = 0;
    for (size_t i = 0; i < AN_CALL_NCOUNTS; i++)
        any |= json_integer_value(json_object_get(row, an_call_counts[i])) != 0;
    if (!any)
        return;

    /* The key: network, hour, then the dimensions, joined by 0x1F. */
    struct cf_strbuf b = {0};
    cf_strbuf_add(&b, str(row, "network_id"));
    cf_strbuf_add(&b, "\x1f");
    cf_strbuf_add(&b, str(row, "hour"));
    for (size_t i = 0; i < AN_CALL_NDIMS; i++) {
        cf_strbuf_add(&b, "\x1f");
        cf_strbuf_add(&b, str(row, an_call_dims[i]));
    }
    char *key = cf_strbuf_take(&b);

    json_t *sum = json_object_get(deltas, key);
    if (!sum) {
        sum =
            json_pack("{s:s, s:s}", "network_id", str(row, "network_id"), "hour", str(row, "hour"));
        for (size_t i = 0; i < AN_CALL_NDIMS; i++)
            json_object_set_new(sum, an_call_dims[i], json_string(str(row, an_call_dims[i])));
        for (size_t i = 0; i < AN_CALL_NCOUNTS; i++)
            json_object_set_new(sum, an_call_counts[i], json_integer(0));
        json_object_set_new(deltas, key, sum);
    }
    for (size_t i = 0; i < AN_CALL_NCOUNTS; i++) {
        json_t *have = json_object_get(sum, an_call_counts[i]);
        json_integer_set(have, json_integer_value(have) + sign * json_integer_value(json_object_get(
                                                                     row, an_call_counts[i])));
    }
    free(key);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *an_rollup_rows(const json_t *deltas)
{
    const size_t n = json_object_size(deltas);
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    const char *key;
    json_t *sum, *rows = json_array();
    size_t k = 0;

    if (!keys)
        abort();
    json_object_foreach((json_t *)deltas, key, sum)
    {
        keys[k++] = key;
    }
    qsort(keys, k, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < k; i++) {
        sum = json_object_get(deltas, keys[i]);
        int any = 0;
        for (size_t c = 0; c < AN_CALL_NCOUNTS; c++)
            any |= json_integer_value(json_object_get(sum, an_call_counts[c])) != 0;
        if (any)
            json_array_append(rows, sum);
    }
    free(keys);
    return rows;
}
