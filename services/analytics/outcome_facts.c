/*
 * Reminder outcomes, campaign members and NPS answers as analytics keeps
 * them (outcome_facts_testable.h).
 */
#include "outcome_facts_testable.h"
#include "call_facts_testable.h" /* an_local_hour */

#include <stdio.h>
#include <string.h>

#include "common/time.h"

enum an_outcome_kind an_outcome_kind_of(const char *type)
{
    if (strcmp(type, "clinicflow.reminder.outcome") == 0)
        return AN_OUTCOME_SEND;
    if (strcmp(type, "clinicflow.campaign.member") == 0)
        return AN_OUTCOME_MEMBER;
    if (strcmp(type, "clinicflow.nps.answered") == 0)
        return AN_OUTCOME_NPS;
    return AN_OUTCOME_OTHER;
}

static int has(const json_t *data, const char *const *keys, size_t n, char *errbuf,
               size_t errbuf_size)
{
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(data, keys[i])) {
            snprintf(errbuf, errbuf_size, "the event has no %s", keys[i]);
            return 0;
        }
    return 1;
}

/* Copies data's key into row under the same name (null when absent). */
static void copy(json_t *row, const json_t *data, const char *key)
{
    const json_t *v = json_object_get(data, key);
    json_object_set_new(row, key, v ? json_copy((json_t *)v) : json_null());
}

json_t *an_outcome_row(enum an_outcome_kind kind, const char *event_id, int64_t time_ms,
                       const json_t *data, const char *network_id, const char *tz, char *errbuf,
                       size_t errbuf_size)
{
    static const char *const send_keys[] = {"send_id", "job_id",  "kind",   "patient_id",
                                            "channel", "attempt", "outcome"};
    static const char *const member_keys[] = {"campaign", "job_id", "patient_id", "group"};
    static const char *const nps_keys[] = {"job_id", "score"};
    char hour[20];

    if ((kind == AN_OUTCOME_SEND && !has(data, send_keys, 7, errbuf, errbuf_size)) ||
        (kind == AN_OUTCOME_MEMBER && !has(data, member_keys, 4, errbuf, errbuf_size)) ||
        (kind == AN_OUTCOME_NPS && !has(data, nps_keys, 2, errbuf, errbuf_size)))
        return NULL;
    if (an_local_hour(tz, time_ms, hour) != 0) {
        snprintf(errbuf, errbuf_size, "no local hour in zone '%s'", tz);
        return NULL;
    }
    const char *clinic = json_string_value(json_object_get(data, "clinic_id"));
    json_t *row = json_pack("{s:s, s:s, s:s, s:s}", "event_id", event_id, "network_id", network_id,
                            "clinic_id", clinic ? clinic : "", "hour", hour);
    cf_time_json_set(row, "at", time_ms);
    copy(row, data, "job_id");
    copy(row, data, "patient_id");
    copy(row, data, "appointment_id");
    if (kind == AN_OUTCOME_SEND) {
        static const char *const cols[] = {"send_id", "kind",    "channel",         "attempt",
                                           "gateway", "outcome", "reminder_status", "duration_s"};
        for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
            copy(row, data, cols[i]);
        const json_t *sms = json_object_get(data, "sms");
        json_object_set_new(row, "sms_segments",
                            sms ? json_copy(json_object_get(sms, "segments")) : json_null());
        /* the cost in the currency's units: minor units over 100 */
        const json_t *minor = json_object_get(sms, "cost_minor");
        json_object_set_new(row, "sms_cost",
                            json_is_integer(minor)
                                ? json_real((double)json_integer_value(minor) / 100.0)
                                : json_null());
    } else if (kind == AN_OUTCOME_MEMBER) {
        copy(row, data, "campaign");
        copy(row, data, "group");
    } else if (kind == AN_OUTCOME_NPS) {
        copy(row, data, "doctor_id");
        copy(row, data, "score");
    }
    return row;
}
