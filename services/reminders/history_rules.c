/*
 * A visit's reminder history (history_testable.h): checked member by
 * member, as every API of ours, and stored in one form.
 */
#include "history_testable.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/netconf.h"
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

/* A member of j, NULL when absent or null (cf_validate_object takes a
 * null as an absent member; so does everything after it). */
static const json_t *member_of(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);
    return json_is_null(v) ? NULL : v;
}

static int refuse(char *field, size_t field_size, char *errbuf, size_t errbuf_size,
                  const char *name, const char *msg)
{
    snprintf(field, field_size, "%s", name);
    snprintf(errbuf, errbuf_size, "%s", msg);
    return CF_EINVAL;
}

/* The bounds of a history's sends: after prev_ms (the send before, or
 * what the sends follow), before before_ms (why: before_why), none ahead
 * of now_ms. */
struct bounds {
    int64_t prev_ms, before_ms, now_ms;
    const char *before_why;
};

/* One send, at index i, within b; its stored form into *out, its time into
 * *at_ms. */
static int parse_send(const json_t *j, size_t i, const struct bounds *b, json_t **out,
                      int64_t *at_ms, char *field, size_t field_size, char *errbuf,
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
    const json_t *sms = member_of(j, "sms");
    const json_t *duration = member_of(j, "duration_s");
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
    if (!call && duration) {
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
    if (*at_ms >= b->before_ms)
        return refuse(field, field_size, errbuf, errbuf_size, member, b->before_why);
    if (*at_ms > b->now_ms)
        return refuse(field, field_size, errbuf, errbuf_size, member, "in the future");
    if (*at_ms <= b->prev_ms)
        return refuse(field, field_size, errbuf, errbuf_size, member,
                      i ? "the sends in the order they went out, each after the one before"
                        : "not before what it follows");
    char at[32];
    cf_time_format(*at_ms, at);
    *out = json_pack("{s:s, s:s, s:s}", "channel", channel, "at", at, "outcome", outcome);
    if (duration)
        json_object_set(*out, "duration_s", (json_t *)duration);
    if (sms)
        json_object_set_new(*out, "sms", json_deep_copy(sms));
    return 0;
}

/* The sends of a history within b (b->prev_ms: what they follow), at
 * least min of them: their stored form into *out. */
static int parse_sends(const json_t *sends, size_t min, struct bounds b, json_t **out, char *field,
                       size_t field_size, char *errbuf, size_t errbuf_size)
{
    *out = NULL;
    if (json_array_size(sends) < min)
        return refuse(field, field_size, errbuf, errbuf_size, "sends", "at least one send");
    json_t *stored = json_array();
    for (size_t i = 0; i < json_array_size(sends); i++) {
        json_t *send = NULL;
        int64_t at_ms = 0;
        int rc = parse_send(json_array_get(sends, i), i, &b, &send, &at_ms, field, field_size,
                            errbuf, errbuf_size);
        b.prev_ms = at_ms;
        if (rc != 0) {
            json_decref(stored);
            return rc;
        }
        json_array_append_new(stored, send);
    }
    *out = stored;
    return 0;
}

/* A body checked against its table (fields, n members), and its gateway's
 * name: 0 or CF_EINVAL. */
static int check_body(const json_t *body, const struct cf_field *fields, size_t n, char *field,
                      size_t field_size, char *errbuf, size_t errbuf_size)
{
    if (!json_is_object(body))
        return refuse(field, field_size, errbuf, errbuf_size, "", "the body is a JSON object");
    int rc = cf_validate_object(body, fields, n, field, field_size, errbuf, errbuf_size);
    if (rc == 0 && !gateway_ok(json_string_value(json_object_get(body, "gateway"))))
        rc = refuse(field, field_size, errbuf, errbuf_size, "gateway",
                    "lower-case letters, digits, '_', '-' or '.'");
    return rc;
}

int history_parse(const json_t *body, int64_t visit_ms, int64_t now_ms, json_t **out, char *field,
                  size_t field_size, char *errbuf, size_t errbuf_size)
{
    json_t *sends = NULL;
    *out = NULL;
    int rc = check_body(body, body_fields, N(body_fields), field, field_size, errbuf, errbuf_size);
    const struct bounds b = {INT64_MIN, visit_ms, now_ms,
                             "a reminder goes out before its visit starts"};
    if (rc == 0)
        rc = parse_sends(json_object_get(body, "sends"), 1, b, &sends, field, field_size, errbuf,
                         errbuf_size);
    if (rc == 0)
        *out = json_pack("{s:O, s:o}", "gateway", json_object_get(body, "gateway"), "sends", sends);
    return rc;
}

static const char *const groups[] = {"target", "holdout", NULL};
static const struct cf_field recall_fields[] = {
    {"gateway", CF_FIELD_STRING, 1, 1, 32, 0, 0, NULL},
    {"clinic_id", CF_FIELD_STRING, 1, 1, 64, 0, 0, NULL},
    {"asked_at", CF_FIELD_TIME, 1, 0, 0, 0, 0, NULL},
    {"group", CF_FIELD_ENUM, 1, 0, 0, 0, 0, groups},
    {"holdout_percent", CF_FIELD_INT, 1, 0, 0, 0, 50, NULL},
    {"sends", CF_FIELD_ARRAY, 0, 0, HISTORY_SENDS_MAX, 0, 0, NULL},
};

int history_parse_recall(const json_t *body, const struct cf_network *net, int64_t now_ms,
                         json_t **out, int64_t *asked_ms, char *field, size_t field_size,
                         char *errbuf, size_t errbuf_size)
{
    json_t *sends = NULL;
    *out = NULL;
    int rc =
        check_body(body, recall_fields, N(recall_fields), field, field_size, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    const char *clinic = json_string_value(json_object_get(body, "clinic_id"));
    if (!cf_netconf_clinic(net, clinic))
        return refuse(field, field_size, errbuf, errbuf_size, "clinic_id",
                      "not a clinic of the network");
    if (cf_time_parse(json_string_value(json_object_get(body, "asked_at")), asked_ms) != 0 ||
        *asked_ms > now_ms)
        return refuse(field, field_size, errbuf, errbuf_size, "asked_at",
                      "when the patient was asked back (or held out): not in the future");
    const int held = strcmp(json_string_value(json_object_get(body, "group")), "holdout") == 0;
    const json_t *given = member_of(body, "sends");
    if (held && json_array_size(given) > 0)
        return refuse(field, field_size, errbuf, errbuf_size, "sends",
                      "the holdout group is never contacted");
    const struct bounds b = {*asked_ms - 1, INT64_MAX, now_ms, ""};
    if ((rc = parse_sends(given, held ? 0 : 1, b, &sends, field, field_size, errbuf,
                          errbuf_size)) != 0)
        return rc;
    char asked[32];
    cf_time_format(*asked_ms, asked);
    *out =
        json_pack("{s:O, s:s, s:s, s:O, s:O, s:o}", "gateway", json_object_get(body, "gateway"),
                  "clinic_id", clinic, "asked_at", asked, "group", json_object_get(body, "group"),
                  "holdout_percent", json_object_get(body, "holdout_percent"), "sends", sends);
    return 0;
}

void history_recall_job_id(const char *patient_id, int64_t asked_ms, char out[CF_UUID_STR_LEN + 1])
{
    char at[24];
    snprintf(at, sizeof(at), "%lld", (long long)asked_ms);
    const char *parts[] = {patient_id, "recall", "history", at};
    cf_uuid5(parts, 4, out);
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
