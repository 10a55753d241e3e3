/*
 * Appointments, patients and people's touches as analytics keeps them
 * (mis_facts_testable.h).
 */
#include "mis_facts_testable.h"
#include "call_facts_testable.h" /* an_local_hour */

#include <stdio.h>
#include <string.h>

#include "common/hash.h"
#include "common/time.h"

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static void set_str_or_null(json_t *row, const char *col, const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    json_object_set_new(row, col, s ? json_string(s) : json_null());
}

json_t *an_appointment_row(const json_t *data, int64_t time_ms, const char *network_id,
                           const char *tz, char *errbuf, size_t errbuf_size)
{
    const char *id = str(data, "appointment_id");
    const json_t *version = json_object_get(data, "version");
    const int64_t starts = cf_time_json_get(data, "starts_at");
    /* booked when the MIS says (a history import), never after it was seen */
    const int64_t said = cf_time_json_get(data, "booked_at");
    const int64_t booked = said >= 0 && said < time_ms ? said : time_ms;
    char start_hour[20], booked_hour[20];

    if (!*id || !json_is_integer(version) || starts < 0) {
        snprintf(errbuf, errbuf_size, "an appointment needs appointment_id, version and starts_at");
        return NULL;
    }
    if (an_local_hour(tz, starts, start_hour) != 0 || an_local_hour(tz, booked, booked_hour) != 0) {
        snprintf(errbuf, errbuf_size, "no local hour in zone '%s'", tz);
        return NULL;
    }
    const json_t *plan = json_object_get(data, "treatment_plan");
    const json_t *paid = json_object_get(data, "amount_paid");
    const json_t *plan_amount = json_object_get(plan, "amount");
    json_t *row =
        json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "appointment_id", id,
                  "network_id", network_id, "version", (json_int_t)json_integer_value(version),
                  "clinic_id", str(data, "clinic_id"), "status", str(data, "status"), "start_hour",
                  start_hour, "booked_hour", booked_hour, "doctor_id", str(data, "doctor_id"),
                  "booking_source", str(data, "booking_source"));
    cf_time_json_set(row, "starts_at", starts);
    cf_time_json_set(row, "booked_at", booked);
    set_str_or_null(row, "patient_id", data, "patient_id");
    /* the call or lead it names, when it is one of ours (a UUID) */
    static const char *const links[] = {"call_id", "lead_id"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = str(data, links[i]);
        json_object_set_new(row, links[i], cf_uuid_valid(v) ? json_string(v) : json_null());
    }
    set_str_or_null(row, "operator_id", data, "operator_id");
    set_str_or_null(row, "service_category", data, "service_category");
    set_str_or_null(row, "plan_status", plan, "status");
    json_object_set_new(row, "amount_paid",
                        json_is_number(paid) ? json_copy((json_t *)paid) : json_integer(0));
    json_object_set_new(row, "plan_amount",
                        json_is_number(plan_amount) ? json_copy((json_t *)plan_amount)
                                                    : json_null());
    return row;
}

json_t *an_patient_row(const json_t *data, const char *network_id, char *errbuf, size_t errbuf_size)
{
    const char *id = str(data, "patient_id");
    const json_t *version = json_object_get(data, "version");
    if (!*id || !json_is_integer(version)) {
        snprintf(errbuf, errbuf_size, "a patient needs patient_id and version");
        return NULL;
    }
    json_t *keys = json_array();
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(data, "contact_keys"), i, k)
    {
        if (json_is_string(k))
            json_array_append_new(keys, json_string(json_string_value(k)));
    }
    json_t *row =
        json_pack("{s:s, s:s, s:I, s:o}", "patient_id", id, "network_id", network_id, "version",
                  (json_int_t)json_integer_value(version), "contact_keys", keys);
    const int64_t first = cf_time_json_get(data, "first_visit_at");
    if (first >= 0)
        cf_time_json_set(row, "first_visit_at", first);
    else
        json_object_set_new(row, "first_visit_at", json_null());
    return row;
}

static json_t *touch(const json_t *from, const char *key, const char *at, const char *hour,
                     const char *channel, const char *klass)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "network_id",
                     str(from, "network_id"), "contact_key", key, "at", at, "hour", hour,
                     "clinic_id", str(from, "clinic_id"), "source", str(from, "source"), "medium",
                     str(from, "medium"), "campaign", str(from, "campaign"), "channel", channel,
                     "class", klass);
}

json_t *an_touch_of_call(const json_t *call_row)
{
    const char *key = str(call_row, "contact_key");
    if (!*key || json_integer_value(json_object_get(call_row, "inbound")) != 1)
        return NULL; /* a contact is an ended inbound call of a known number */
    return touch(call_row, key, str(call_row, "started_at"), str(call_row, "hour"),
                 str(call_row, "channel"), str(call_row, "patient_class"));
}

json_t *an_touch_of_lead(const json_t *lead_patch)
{
    const char *key = str(lead_patch, "contact_key");
    if (!*key || !*str(lead_patch, "received_at"))
        return NULL; /* a contact is a lead received from a known person */
    return touch(lead_patch, key, str(lead_patch, "received_at"), str(lead_patch, "hour"),
                 str(lead_patch, "provider"), str(lead_patch, "patient_class"));
}

int an_touch_withdrawn(const json_t *was, const json_t *now)
{
    if (!was || !*str(was, "source"))
        return 0;
    return !now || !*str(now, "source") ||
           strcmp(str(was, "network_id"), str(now, "network_id")) != 0 ||
           strcmp(str(was, "contact_key"), str(now, "contact_key")) != 0 ||
           strcmp(str(was, "at"), str(now, "at")) != 0;
}

void an_touch_add(json_t *touches, const json_t *t)
{
    char key[600];
    snprintf(key, sizeof(key), "%s\x1f%s", str(t, "network_id"), str(t, "contact_key"));
    json_t *have = json_object_get(touches, key);
    /* RFC 3339 UTC times of one form compare as text */
    const int direct = !*str(t, "source");
    if (!have) {
        have = json_pack("{s:O, s:O}", "first", t, "last", direct ? json_null() : t);
        json_object_set_new(touches, key, have);
        return;
    }
    if (strcmp(str(t, "at"), str(json_object_get(have, "first"), "at")) <= 0)
        json_object_set(have, "first", (json_t *)t);
    const json_t *last = json_object_get(have, "last");
    if (!direct && (json_is_null(last) || strcmp(str(t, "at"), str(last, "at")) >= 0))
        json_object_set(have, "last", (json_t *)t);
}
