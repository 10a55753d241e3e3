/*
 * A visit's reminder history (history_testable.h): checked member by
 * member, as every API of ours, and stored in one form.
 */
#include "history_testable.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/time.h"
#include "common/validate.h"

static const char *const channels[] = {"call", "sms", NULL};
/* reminder.outcome's outcomes a send of each channel can have had: what
 * the patient answered, what reached nobody, an SMS's fate. Skipped and
 * unknown sends are this service's own; opt-outs are the patient's
 * consents, which the MIS sends with the patient. */
static const char *const outcomes[] = {"confirmed", "declined",      "reschedule", "no_answer",
                                       "busy",      "voicemail",     "no_reply",   "failed",
                                       "sms_sent",  "sms_delivered", "sms_failed", NULL};
static const char *const call_outcomes[] = {"confirmed", "declined",  "reschedule", "no_answer",
                                            "busy",      "voicemail", "no_reply",   "failed"};
static const char *const sms_outcomes[] = {"confirmed", "declined",      "reschedule",
                                           "sms_sent",  "sms_delivered", "sms_failed"};

static const struct cf_field body_fields[] = {
    {"gateway", CF_FIELD_STRING, 1, 1, 32, 0, 0, NULL},
    {"sends", CF_FIELD_ARRAY, 1, 0, HISTORY_SENDS_MAX, 0, 0, NULL},
};
static const struct cf_field send_fields[] = {
    {"channel", CF_FIELD_ENUM, 1, 0, 0, 0, 0, channels},
    {"at", CF_FIELD_TIME, 1, 0, 0, 0, 0, NULL},
    {"outcome", CF_FIELD_ENUM, 1, 0, 0, 0, 0, outcomes},
    {"duration_s", CF_FIELD_INT, 0, 0, 0, 0, 86400, NULL},
    {"sms", CF_FIELD_OBJECT, 0, 0, 0, 0, 0, NULL},
};
static const struct cf_field sms_fields[] = {
    {"segments", CF_FIELD_INT, 1, 0, 0, 1, 100, NULL},
    {"cost_minor", CF_FIELD_INT, 1, 0, 0, 0, 1000000000, NULL},
    {"currency", CF_FIELD_STRING, 1, 3, 3, 0, 0, NULL},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int listed(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

/* A gateway's name as events carry it: lower-case letters, digits, '_',
 * '-' and '.'. */
static int gateway_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
              *s == '.'))
            return 0;
    return 1;
}

static int refuse(char *field, size_t field_size, char *errbuf, size_t errbuf_size,
                  const char *name, const char *msg)
{
    snprintf(field, field_size, "%s", name);
    snprintf(errbuf, errbuf_size, "%s", msg);
    return CF_EINVAL;
}

/* One send, at index i, after the send before it (prev_ms); its stored
 * form into *out. */
static int parse_send(const json_t *j, size_t i, int64_t prev_ms, int64_t visit_ms, int64_t now_ms,
                      json_t **out, int64_t *at_ms, char *field, size_t field_size, char *errbuf,
                      size_t errbuf_size)
{
    char name[48], member[64];
    snprintf(name, sizeof(name), "sends[%zu]", i);
    if (!json_is_object(j))
        return refuse(field, field_size, errbuf, errbuf_size, name, "a send is an object");
    if (cf_validate_object(j, send_fields, N(send_fields), member, sizeof(member), errbuf,
                           errbuf_size) != 0) {
        snprintf(field, field_size, "%s.%s", name, member);
        return CF_EINVAL;
    }
    const char *channel = json_string_value(json_object_get(j, "channel"));
    const char *outcome = json_string_value(json_object_get(j, "outcome"));
    const int call = strcmp(channel, "call") == 0;
    const json_t *sms = json_object_get(j, "sms");
    snprintf(member, sizeof(member), "%s.outcome", name);
    if (call ? !listed(outcome, call_outcomes, N(call_outcomes))
             : !listed(outcome, sms_outcomes, N(sms_outcomes)))
        return refuse(field, field_size, errbuf, errbuf_size, member,
                      call ? "not an outcome of a call" : "not an outcome of an SMS");
    if (call && sms) {
        snprintf(member, sizeof(member), "%s.sms", name);
        return refuse(field, field_size, errbuf, errbuf_size, member,
                      "segments and cost are an SMS's");
    }
    if (!call && json_object_get(j, "duration_s")) {
        snprintf(member, sizeof(member), "%s.duration_s", name);
        return refuse(field, field_size, errbuf, errbuf_size, member, "a length is a call's");
    }
    if (sms) {
        char sub[32];
        if (cf_validate_object(sms, sms_fields, N(sms_fields), sub, sizeof(sub), errbuf,
                               errbuf_size) != 0) {
            snprintf(field, field_size, "%s.sms.%s", name, sub);
            return CF_EINVAL;
        }
        if (!cf_validate_currency(json_string_value(json_object_get(sms, "currency")))) {
            snprintf(member, sizeof(member), "%s.sms.currency", name);
            return refuse(field, field_size, errbuf, errbuf_size, member,
                          "an ISO 4217 code in capitals (RUB)");
        }
    }
    snprintf(member, sizeof(member), "%s.at", name);
    if (cf_time_parse(json_string_value(json_object_get(j, "at")), at_ms) != 0)
        return refuse(field, field_size, errbuf, errbuf_size, member, "not a time we take");
    if (*at_ms >= visit_ms)
        return refuse(field, field_size, errbuf, errbuf_size, member,
                      "a reminder goes out before its visit starts");
    if (*at_ms > now_ms)
        return refuse(field, field_size, errbuf, errbuf_size, member, "in the future");
    if (*at_ms <= prev_ms)
        return refuse(field, field_size, errbuf, errbuf_size, member,
                      "the sends in the order they went out, each after the one before");
    char at[32];
    cf_time_format(*at_ms, at);
    *out = json_pack("{s:s, s:s, s:s}", "channel", channel, "at", at, "outcome", outcome);
    if (json_object_get(j, "duration_s"))
        json_object_set(*out, "duration_s", json_object_get(j, "duration_s"));
    if (sms)
        json_object_set_new(*out, "sms", json_deep_copy(sms));
    return 0;
}

int history_parse(const json_t *body, int64_t visit_ms, int64_t now_ms, json_t **out, char *field,
                  size_t field_size, char *errbuf, size_t errbuf_size)
{
    *out = NULL;
    if (!json_is_object(body))
        return refuse(field, field_size, errbuf, errbuf_size, "", "the body is a JSON object");
    int rc = cf_validate_object(body, body_fields, N(body_fields), field, field_size, errbuf,
                                errbuf_size);
    if (rc != 0)
        return rc;
    const char *gateway = json_string_value(json_object_get(body, "gateway"));
    if (!gateway_ok(gateway))
        return refuse(field, field_size, errbuf, errbuf_size, "gateway",
                      "lower-case letters, digits, '_', '-' or '.'");
    const json_t *sends = json_object_get(body, "sends");
    if (json_array_size(sends) == 0)
        return refuse(field, field_size, errbuf, errbuf_size, "sends", "at least one send");
    json_t *stored = json_array();
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < json_array_size(sends); i++) {
        json_t *send = NULL;
        rc = parse_send(json_array_get(sends, i), i, prev, visit_ms, now_ms, &send, &prev, field,
                        field_size, errbuf, errbuf_size);
        if (rc != 0) {
            json_decref(stored);
            return rc;
        }
        json_array_append_new(stored, send);
    }
    *out = json_pack("{s:s, s:o}", "gateway", gateway, "sends", stored);
    return 0;
}

void history_job_id(const char *appointment_id, char out[CF_UUID_STR_LEN + 1])
{
    const char *parts[] = {appointment_id, "history"};
    cf_uuid5(parts, 2, out);
}

void history_send_id(const char *job_id, int attempt, char out[CF_UUID_STR_LEN + 1])
{
    char n[16];
    snprintf(n, sizeof(n), "%d", attempt);
    const char *parts[] = {job_id, "send", n};
    cf_uuid5(parts, 3, out);
}

/* The reminder status a patient's answer sets (ladder_rules.c's). */
static const char *answer_status(const char *outcome)
{
    if (strcmp(outcome, "confirmed") == 0)
        return "confirmed";
    if (strcmp(outcome, "declined") == 0)
        return "declined";
    if (strcmp(outcome, "reschedule") == 0)
        return "reschedule_requested";
    return NULL;
}

static const char *outcome_at(const json_t *sends, size_t i)
{
    return json_string_value(json_object_get(json_array_get(sends, i), "outcome"));
}

const char *history_status(const json_t *sends, size_t i)
{
    const char *status = answer_status(outcome_at(sends, i));
    if (status || i + 1 != json_array_size(sends))
        return status;
    for (size_t k = 0; k < i; k++)
        if (answer_status(outcome_at(sends, k)))
            return NULL;
    return "not_confirmed";
}

const char *history_final_status(const json_t *sends)
{
    const char *last = NULL;
    for (size_t i = 0; i < json_array_size(sends); i++) {
        const char *s = history_status(sends, i);
        if (s)
            last = s;
    }
    return last;
}
