/*
 * The MIS record API's rules (mis_testable.h). Our own API, so strict:
 * every member named in a table, unknown ones refused by name (nothing
 * medical can slip in under a name we do not know), nested objects checked
 * with their own tables and reported as "outer.inner".
 */
#include "mis_testable.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/phone.h"
#include "common/time.h"
#include "common/validate.h"

/* JSON integers a double still holds exactly: versions BI tools read. */
#define VERSION_MAX 9007199254740991LL
#define AMOUNT_MAX 1000000000000LL
#define PHONES_MAX 16

static const char *const languages[] = {"ru", "en", NULL};
static const char *const channels[] = {"call", "sms", "messenger", "email", NULL};
static const char *const statuses[] = {"booked",  "rescheduled", "cancelled", "arrived",
                                       "no_show", "completed",   NULL};
static const char *const plan_statuses[] = {"proposed", "accepted", "declined", NULL};
static const char *const sources[] = {"call", "lead", "recall", "walk_in", "online", NULL};

static const struct cf_field patient_fields[] = {
    {"version", CF_FIELD_INT, 0, 0, 0, 0, VERSION_MAX, NULL},
    {"updated_at", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"clinic_id", CF_FIELD_STRING, 0, 1, 64, 0, 0, NULL},
    {"first_name", CF_FIELD_STRING, 0, 1, 128, 0, 0, NULL},
    {"last_name", CF_FIELD_STRING, 0, 1, 128, 0, 0, NULL},
    {"middle_name", CF_FIELD_STRING, 0, 1, 128, 0, 0, NULL},
    {"phones", CF_FIELD_ARRAY, 0, 0, PHONES_MAX, 0, 0, NULL},
    {"email", CF_FIELD_STRING, 0, 3, 254, 0, 0, NULL},
    {"language", CF_FIELD_ENUM, 0, 0, 0, 0, 0, languages},
    {"preferred_channel", CF_FIELD_ENUM, 0, 0, 0, 0, 0, channels},
    {"first_visit_at", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"last_visit_at", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"recall_at", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"consents", CF_FIELD_OBJECT, 0, 0, 0, 0, 0, NULL},
};

static const char *const consent_names[] = {"calls", "sms", "messengers", "marketing"};
static const struct cf_field consent_fields[] = {
    {"calls", CF_FIELD_BOOL, 0, 0, 0, 0, 0, NULL},
    {"sms", CF_FIELD_BOOL, 0, 0, 0, 0, 0, NULL},
    {"messengers", CF_FIELD_BOOL, 0, 0, 0, 0, 0, NULL},
    {"marketing", CF_FIELD_BOOL, 0, 0, 0, 0, 0, NULL},
};

static const struct cf_field appointment_fields[] = {
    {"version", CF_FIELD_INT, 0, 0, 0, 0, VERSION_MAX, NULL},
    {"updated_at", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"clinic_id", CF_FIELD_STRING, 1, 1, 64, 0, 0, NULL},
    {"patient_id", CF_FIELD_STRING, 1, 1, MIS_ID_MAX, 0, 0, NULL},
    {"doctor_id", CF_FIELD_STRING, 0, 1, 64, 0, 0, NULL},
    {"doctor_name", CF_FIELD_STRING, 0, 1, 128, 0, 0, NULL},
    {"service_category", CF_FIELD_STRING, 0, 1, 64, 0, 0, NULL},
    {"starts_at", CF_FIELD_TIME, 1, 0, 0, 0, 0, NULL},
    {"ends_at", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"status", CF_FIELD_ENUM, 1, 0, 0, 0, 0, statuses},
    {"amount_paid", CF_FIELD_NUMBER, 0, 0, 0, 0, AMOUNT_MAX, NULL},
    {"treatment_plan", CF_FIELD_OBJECT, 0, 0, 0, 0, 0, NULL},
    {"booking_source", CF_FIELD_ENUM, 0, 0, 0, 0, 0, sources},
    {"booked_at", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"call_id", CF_FIELD_STRING, 0, 36, 36, 0, 0, NULL},
    {"lead_id", CF_FIELD_STRING, 0, 36, 36, 0, 0, NULL},
    {"operator_id", CF_FIELD_STRING, 0, 1, 64, 0, 0, NULL},
};

static const struct cf_field plan_fields[] = {
    {"status", CF_FIELD_ENUM, 1, 0, 0, 0, 0, plan_statuses},
    {"amount", CF_FIELD_NUMBER, 0, 0, 0, 0, AMOUNT_MAX, NULL},
};

#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

static int bad(char *field, size_t field_size, const char *name, char *errbuf, size_t errbuf_size,
               const char *what)
{
    snprintf(field, field_size, "%s", name);
    snprintf(errbuf, errbuf_size, "%s: %s", name, what);
    return CF_EINVAL;
}

int mis_id_ok(const char *id)
{
    size_t n = 0;
    for (; id && id[n]; n++) {
        const char c = id[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= MIS_ID_MAX;
}

int mis_version(const json_t *body, int64_t *version, char *field, size_t field_size, char *errbuf,
                size_t errbuf_size)
{
    const json_t *j_v = json_object_get(body, "version");
    const json_t *j_at = json_object_get(body, "updated_at");

    if (j_v && !json_is_null(j_v) && j_at && !json_is_null(j_at))
        return bad(field, field_size, "updated_at", errbuf, errbuf_size,
                   "give version or updated_at, not both");
    if (json_is_integer(j_v)) {
        *version = (int64_t)json_integer_value(j_v);
        return 0;
    }
    if (json_is_string(j_at) && cf_time_parse(json_string_value(j_at), version) == 0)
        return 0;
    return bad(field, field_size, "version", errbuf, errbuf_size,
               "required: the MIS's version (an integer) or updated_at (RFC 3339)");
}

/* A nested object checked with its own table; a bad member is reported as
 * "outer.member". */
static int check_nested(const json_t *j, const char *outer, const struct cf_field *fields, size_t n,
                        char *field, size_t field_size, char *errbuf, size_t errbuf_size)
{
    char inner[64], why[192];
    if (cf_validate_object(j, fields, n, inner, sizeof(inner), why, sizeof(why)) == 0)
        return 0;
    snprintf(field, field_size, "%s.%s", outer, inner);
    snprintf(errbuf, errbuf_size, "%s.%s", outer, why);
    return CF_EINVAL;
}

/* Every time member of names in record, in UTC with milliseconds. */
static void times_in_utc(json_t *record, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_object_get(record, names[i]));
        int64_t ms;
        char out[32];
        if (s && cf_time_parse(s, &ms) == 0) {
            cf_time_format(ms, out);
            json_object_set_new(record, names[i], json_string(out));
        }
    }
}

/* A copy of body without its version members and its nulls (null is
 * "absent" to the validator, so it is to the record too). */
static json_t *record_of(const json_t *body)
{
    json_t *record = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (!json_is_null(v) && strcmp(key, "version") != 0 && strcmp(key, "updated_at") != 0)
            json_object_set_new(record, key, json_deep_copy(v));
    }
    return record;
}

static int clinic_known(const json_t *record, const struct cf_network *net, char *field,
                        size_t field_size, char *errbuf, size_t errbuf_size)
{
    const char *clinic = json_string_value(json_object_get(record, "clinic_id"));
    if (clinic && !cf_netconf_clinic(net, clinic))
        return bad(field, field_size, "clinic_id", errbuf, errbuf_size,
                   "not a clinic of this network");
    return 0;
}

/* The phones in E.164, each once; CF_EINVAL for one that is not a phone. */
static int phones_e164(const json_t *j_phones, const char *default_cc, json_t **out, char *field,
                       size_t field_size, char *errbuf, size_t errbuf_size)
{
    size_t i;
    json_t *j_p;
    *out = json_array();
    json_array_foreach(j_phones, i, j_p)
    {
        char e164[CF_PHONE_MAX];
        if (!json_is_string(j_p) || cf_phone_normalize(json_string_value(j_p), default_cc, e164,
                                                       sizeof(e164)) != CF_PHONE_E164) {
            json_decref(*out);
            *out = NULL;
            return bad(field, field_size, "phones", errbuf, errbuf_size,
                       "each phone must be a phone number (E.164 or the national form)");
        }
        size_t k;
        json_t *j_have;
        int seen = 0;
        json_array_foreach(*out, k, j_have) seen |= strcmp(json_string_value(j_have), e164) == 0;
        if (!seen)
            json_array_append_new(*out, json_string(e164));
    }
    return 0;
}

int mis_patient_record(const json_t *body, const struct cf_network *net, const char *default_cc,
                       json_t **record, int64_t *version, char *field, size_t field_size,
                       char *errbuf, size_t errbuf_size)
{
    static const char *const times[] = {"first_visit_at", "last_visit_at", "recall_at"};
    json_t *j_phones = NULL;

    *record = NULL;
    int rc = cf_validate_object(body, patient_fields, NFIELDS(patient_fields), field, field_size,
                                errbuf, errbuf_size);
    if (rc == 0)
        rc = mis_version(body, version, field, field_size, errbuf, errbuf_size);
    const json_t *j_consents = json_object_get(body, "consents");
    if (rc == 0 && json_is_object(j_consents))
        rc = check_nested(j_consents, "consents", consent_fields, NFIELDS(consent_fields), field,
                          field_size, errbuf, errbuf_size);
    const char *email = json_string_value(json_object_get(body, "email"));
    if (rc == 0 && email && !strchr(email, '@'))
        rc = bad(field, field_size, "email", errbuf, errbuf_size, "not an e-mail address");
    if (rc == 0)
        rc = phones_e164(json_object_get(body, "phones"), default_cc, &j_phones, field, field_size,
                         errbuf, errbuf_size);
    if (rc != 0)
        return rc;

    json_t *r = record_of(body);
    json_object_set_new(r, "phones", j_phones);
    json_t *j_c = json_object();
    for (size_t i = 0; i < 4; i++)
        json_object_set_new(
            j_c, consent_names[i],
            json_boolean(json_is_true(json_object_get(j_consents, consent_names[i]))));
    json_object_set_new(r, "consents", j_c);
    times_in_utc(r, times, NFIELDS(times));
    rc = clinic_known(r, net, field, field_size, errbuf, errbuf_size);
    if (rc != 0) {
        json_decref(r);
        return rc;
    }
    *record = r;
    return 0;
}

int mis_appointment_record(const json_t *body, const struct cf_network *net, json_t **record,
                           int64_t *version, char *field, size_t field_size, char *errbuf,
                           size_t errbuf_size)
{
    static const char *const times[] = {"starts_at", "ends_at", "booked_at"};
    int64_t starts = 0, ends = 0;

    *record = NULL;
    int rc = cf_validate_object(body, appointment_fields, NFIELDS(appointment_fields), field,
                                field_size, errbuf, errbuf_size);
    if (rc == 0)
        rc = mis_version(body, version, field, field_size, errbuf, errbuf_size);
    if (rc == 0 && !mis_id_ok(json_string_value(json_object_get(body, "patient_id"))))
        rc = bad(field, field_size, "patient_id", errbuf, errbuf_size,
                 "1-128 characters of letters, digits, '.', '_', ':' or '-'");
    const json_t *j_plan = json_object_get(body, "treatment_plan");
    if (rc == 0 && json_is_object(j_plan))
        rc = check_nested(j_plan, "treatment_plan", plan_fields, NFIELDS(plan_fields), field,
                          field_size, errbuf, errbuf_size);
    static const char *const uuids[] = {"call_id", "lead_id"};
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        const char *id = json_string_value(json_object_get(body, uuids[i]));
        if (id && !cf_uuid_valid(id))
            rc = bad(field, field_size, uuids[i], errbuf, errbuf_size, "not a UUID");
    }
    const char *ends_at = json_string_value(json_object_get(body, "ends_at"));
    if (rc == 0 && ends_at &&
        (cf_time_parse(json_string_value(json_object_get(body, "starts_at")), &starts) != 0 ||
         cf_time_parse(ends_at, &ends) != 0 || ends < starts))
        rc = bad(field, field_size, "ends_at", errbuf, errbuf_size, "before starts_at");
    if (rc != 0)
        return rc;

    json_t *r = record_of(body);
    times_in_utc(r, times, NFIELDS(times));
    static const char *const lower[] = {"call_id", "lead_id"};
    for (size_t i = 0; i < 2; i++) {
        const char *id = json_string_value(json_object_get(r, lower[i]));
        if (id) {
            char low[CF_UUID_STR_LEN + 1];
            snprintf(low, sizeof(low), "%s", id);
            cf_uuid_lower(low);
            json_object_set_new(r, lower[i], json_string(low));
        }
    }
    rc = clinic_known(r, net, field, field_size, errbuf, errbuf_size);
    if (rc != 0) {
        json_decref(r);
        return rc;
    }
    *record = r;
    return 0;
}

void mis_record_id(const char *network_id, const char *kind, const char *mis_id,
                   char out[CF_UUID_STR_LEN + 1])
{
    const char *parts[] = {network_id, "mis", kind, mis_id};
    cf_uuid5(parts, 4, out);
}

void mis_event_id(const char *network_id, const char *kind, const char *mis_id, int64_t version,
                  char out[CF_UUID_STR_LEN + 1])
{
    char v[32];
    snprintf(v, sizeof(v), "v%lld", (long long)version);
    const char *parts[] = {network_id, "mis", kind, mis_id, v};
    cf_uuid5(parts, 5, out);
}

json_t *mis_patient_data(const json_t *record, const char *patient_id, const char *mis_id,
                         int64_t version, const char *network_secret)
{
    json_t *data = json_deep_copy(record);
    json_object_set_new(data, "patient_id", json_string(patient_id));
    json_object_set_new(data, "mis_id", json_string(mis_id));
    json_object_set_new(data, "version", json_integer((json_int_t)version));
    json_t *j_keys = json_array();
    size_t i;
    json_t *j_p;
    json_array_foreach(json_object_get(record, "phones"), i, j_p)
    {
        char key[CF_SHA256_HEX_LEN + 1];
        cf_contact_key(network_secret, json_string_value(j_p), key);
        json_array_append_new(j_keys, json_string(key));
    }
    json_object_set_new(data, "contact_keys", j_keys);
    return data;
}

void mis_appointment_patient(const char *network_id, const json_t *record,
                             char out[CF_UUID_STR_LEN + 1])
{
    mis_record_id(network_id, "patient", json_string_value(json_object_get(record, "patient_id")),
                  out);
}

json_t *mis_appointment_data(const json_t *record, const char *appointment_id, const char *mis_id,
                             int64_t version, const char *network_id, const json_t *previous)
{
    char patient_id[CF_UUID_STR_LEN + 1];
    const char *mis_patient = json_string_value(json_object_get(record, "patient_id"));
    mis_appointment_patient(network_id, record, patient_id);

    json_t *data = json_deep_copy(record);
    json_object_set_new(data, "appointment_id", json_string(appointment_id));
    json_object_set_new(data, "mis_id", json_string(mis_id));
    json_object_set_new(data, "version", json_integer((json_int_t)version));
    json_object_set_new(data, "mis_patient_id", json_string(mis_patient));
    json_object_set_new(data, "patient_id", json_string(patient_id));
    if (previous) {
        json_t *v;
        if ((v = json_object_get(previous, "status")))
            json_object_set(data, "previous_status", v);
        if ((v = json_object_get(previous, "starts_at")))
            json_object_set(data, "previous_starts_at", v);
    }
    return data;
}
