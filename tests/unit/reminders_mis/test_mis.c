/*
 * The MIS record API's rules: what a patient or appointment body must
 * hold, the record stored from it (phones in E.164, consents complete,
 * times in UTC), the ids, and the events' data. Bodies are written here
 * from the API's documentation in the README.
 */
#include "mis_testable.h"

#include <string.h>

#include "cftest.h"
#include "common/err.h"

static struct cf_clinic clinics[] = {{.id = "demo-center"}, {.id = "demo-north"}};
static const struct cf_network net = {
    .id = "demo", .secret = "test-secret", .clinics = clinics, .nclinics = 2};
static int64_t version; /* the version the record functions give back */

static json_t *body(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j)
        fprintf(stderr, "bad test JSON: %s: %s\n", text, jerr.text);
    return j;
}

/* The field a patient body is refused for ("" when taken). */
static void patient_refused(const char *text, const char *want_field)
{
    char field[80] = "", errbuf[256] = "";
    json_t *record = NULL, *j = body(text);
    int rc = mis_patient_record(j, &net, "7", &record, &version, field, sizeof(field), errbuf,
                                sizeof(errbuf));
    CHECK_INT(rc != 0, want_field[0] != '\0');
    CHECK_STR(rc != 0 ? field : "", want_field);
    CHECK((rc == 0) == (record != NULL));
    json_decref(record);
    json_decref(j);
}

static void appointment_refused(const char *text, const char *want_field)
{
    char field[80] = "", errbuf[256] = "";
    json_t *record = NULL, *j = body(text);
    int rc = mis_appointment_record(j, &net, &record, &version, field, sizeof(field), errbuf,
                                    sizeof(errbuf));
    CHECK_INT(rc != 0, want_field[0] != '\0');
    CHECK_STR(rc != 0 ? field : "", want_field);
    json_decref(record);
    json_decref(j);
}

static void test_ids(void)
{
    CHECK(mis_id_ok("p-100"));
    CHECK(mis_id_ok("MIS:42.a_b"));
    CHECK(!mis_id_ok(""));
    CHECK(!mis_id_ok(NULL));
    CHECK(!mis_id_ok("a/b"));
    CHECK(!mis_id_ok("a b"));
    CHECK(!mis_id_ok("\xd0\x9f")); /* not ASCII */
    char longid[MIS_ID_MAX + 2];
    memset(longid, 'a', sizeof(longid));
    longid[MIS_ID_MAX] = '\0';
    CHECK(mis_id_ok(longid));
    longid[MIS_ID_MAX] = 'a';
    longid[MIS_ID_MAX + 1] = '\0';
    CHECK(!mis_id_ok(longid));

    /* UUIDv5 over the network, "mis", the kind and the MIS id */
    char a[CF_UUID_STR_LEN + 1], b[CF_UUID_STR_LEN + 1], want[CF_UUID_STR_LEN + 1];
    const char *parts[] = {"demo", "mis", "patient", "p-100"};
    cf_uuid5(parts, 4, want);
    mis_record_id("demo", "patient", "p-100", a);
    CHECK_STR(a, want);
    mis_record_id("demo", "appointment", "p-100", b);
    CHECK(strcmp(a, b) != 0);
    mis_record_id("other", "patient", "p-100", b);
    CHECK(strcmp(a, b) != 0);
    /* an event's id: the same for the same version, another for the next */
    mis_event_id("demo", "patient", "p-100", 3, a);
    mis_event_id("demo", "patient", "p-100", 3, b);
    CHECK_STR(a, b);
    mis_event_id("demo", "patient", "p-100", 4, b);
    CHECK(strcmp(a, b) != 0);
}

static void test_versions(void)
{
    char field[80], errbuf[256];
    int64_t v = -1;
    json_t *j = body("{\"version\": 7}");
    CHECK_INT(mis_version(j, &v, field, sizeof(field), errbuf, sizeof(errbuf)), 0);
    CHECK_INT((long)v, 7);
    json_decref(j);
    /* updated_at as epoch milliseconds, offsets honoured */
    j = body("{\"updated_at\": \"2026-12-01T13:00:00+03:00\"}");
    CHECK_INT(mis_version(j, &v, field, sizeof(field), errbuf, sizeof(errbuf)), 0);
    CHECK(v == cf_test_utc_ms(2026, 12, 1, 10, 0, 0));
    json_decref(j);
    j = body("{\"version\": 1, \"updated_at\": \"2026-12-01T10:00:00Z\"}");
    CHECK_INT(mis_version(j, &v, field, sizeof(field), errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_STR(field, "updated_at");
    json_decref(j);
    j = body("{}");
    CHECK_INT(mis_version(j, &v, field, sizeof(field), errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_STR(field, "version");
    json_decref(j);
}

static void test_patient_record(void)
{
    char field[80], errbuf[256];
    json_t *record = NULL;
    json_t *j =
        body("{\"version\": 3, \"first_name\": \"Anna\", \"clinic_id\": \"demo-center\","
             " \"phones\": [\"8 916 123-45-67\", \"+7 (916) 123 45 67\", \"+79031112233\"],"
             " \"consents\": {\"sms\": true}, \"last_visit_at\": \"2026-05-18T12:30:00+03:00\"}");
    CHECK_INT(mis_patient_record(j, &net, "7", &record, &version, field, sizeof(field), errbuf,
                                 sizeof(errbuf)),
              0);
    /* the version is not part of the record; phones once each, in E.164 */
    CHECK(json_object_get(record, "version") == NULL);
    json_t *phones = json_object_get(record, "phones");
    CHECK_INT((long)json_array_size(phones), 2);
    CHECK_STR(json_string_value(json_array_get(phones, 0)), "+79161234567");
    CHECK_STR(json_string_value(json_array_get(phones, 1)), "+79031112233");
    /* every consent present: what was not given is not given */
    json_t *c = json_object_get(record, "consents");
    CHECK(json_is_true(json_object_get(c, "sms")));
    CHECK(json_is_false(json_object_get(c, "calls")));
    CHECK(json_is_false(json_object_get(c, "messengers")));
    CHECK(json_is_false(json_object_get(c, "marketing")));
    CHECK_STR(json_string_value(json_object_get(record, "last_visit_at")),
              "2026-05-18T09:30:00.000Z");

    /* the event's data: ids, version, a contact key a phone */
    json_t *data = mis_patient_data(record, "uuid-of-p", "p-100", 3, net.secret);
    CHECK_STR(json_string_value(json_object_get(data, "patient_id")), "uuid-of-p");
    CHECK_STR(json_string_value(json_object_get(data, "mis_id")), "p-100");
    CHECK_INT((long)json_integer_value(json_object_get(data, "version")), 3);
    char key[CF_SHA256_HEX_LEN + 1];
    cf_contact_key(net.secret, "+79031112233", key);
    CHECK_STR(json_string_value(json_array_get(json_object_get(data, "contact_keys"), 1)), key);
    CHECK_INT((long)json_array_size(json_object_get(data, "contact_keys")), 2);
    json_decref(data);
    json_decref(record);
    json_decref(j);

    /* what is refused, by the member named */
    patient_refused("{\"version\": 1}", "");
    patient_refused("{\"version\": 1, \"diagnosis\": \"caries\"}", "diagnosis");
    patient_refused("{\"version\": 1, \"consents\": {\"fax\": true}}", "consents.fax");
    patient_refused("{\"version\": 1, \"consents\": {\"sms\": \"yes\"}}", "consents.sms");
    patient_refused("{\"version\": 1, \"phones\": [\"not a phone\"]}", "phones");
    patient_refused("{\"version\": 1, \"phones\": \"+79161234567\"}", "phones");
    patient_refused("{\"version\": 1, \"email\": \"anna.example.org\"}", "email");
    patient_refused("{\"version\": 1, \"clinic_id\": \"elsewhere\"}", "clinic_id");
    patient_refused("{\"version\": 1, \"language\": \"de\"}", "language");
    patient_refused("{\"version\": -1}", "version");
    patient_refused("{\"first_name\": \"Anna\"}", "version");
    patient_refused("{\"version\": 1, \"recall_at\": \"next spring\"}", "recall_at");
    /* not an object at all */
    char field2[80] = "x", errbuf2[256];
    json_t *record2 = NULL, *j2 = body("[1]");
    CHECK_INT(mis_patient_record(j2, &net, "7", &record2, &version, field2, sizeof(field2), errbuf2,
                                 sizeof(errbuf2)),
              CF_EINVAL);
    CHECK(record2 == NULL);
    json_decref(j2);
}

static void test_appointment_record(void)
{
    char field[80], errbuf[256];
    json_t *record = NULL;
    json_t *j = body("{\"version\": 2, \"clinic_id\": \"demo-north\", \"patient_id\": \"p-100\","
                     " \"starts_at\": \"2026-12-10T10:00:00+03:00\", \"ends_at\": "
                     "\"2026-12-10T10:30:00+03:00\", \"status\": \"booked\", \"amount_paid\": 0,"
                     " \"booked_at\": \"2026-12-01T18:45:00+03:00\","
                     " \"lead_id\": \"6F9619FF-8B86-D011-B42D-00C04FC964FF\","
                     " \"treatment_plan\": {\"status\": \"proposed\", \"amount\": 120000.5}}");
    CHECK_INT(mis_appointment_record(j, &net, &record, &version, field, sizeof(field), errbuf,
                                     sizeof(errbuf)),
              0);
    CHECK_STR(json_string_value(json_object_get(record, "starts_at")), "2026-12-10T07:00:00.000Z");
    CHECK_STR(json_string_value(json_object_get(record, "booked_at")), "2026-12-01T15:45:00.000Z");
    CHECK_STR(json_string_value(json_object_get(record, "lead_id")),
              "6f9619ff-8b86-d011-b42d-00c04fc964ff");

    /* the event: our patient id, the MIS's, and what the appointment had */
    json_t *prev = body("{\"status\": \"booked\", \"starts_at\": \"2026-12-09T07:00:00.000Z\"}");
    json_t *data = mis_appointment_data(record, "uuid-of-a", "a-1", 2, "demo", prev);
    char pid[CF_UUID_STR_LEN + 1];
    mis_record_id("demo", "patient", "p-100", pid);
    CHECK_STR(json_string_value(json_object_get(data, "patient_id")), pid);
    CHECK_STR(json_string_value(json_object_get(data, "mis_patient_id")), "p-100");
    CHECK_STR(json_string_value(json_object_get(data, "previous_starts_at")),
              "2026-12-09T07:00:00.000Z");
    CHECK_STR(json_string_value(json_object_get(data, "previous_status")), "booked");
    json_decref(data);
    /* the first version has no previous */
    data = mis_appointment_data(record, "uuid-of-a", "a-1", 2, "demo", NULL);
    CHECK(json_object_get(data, "previous_status") == NULL);
    json_decref(data);
    json_decref(prev);
    json_decref(record);
    json_decref(j);

#define APPT(extra)                                                                                \
    "{\"version\": 1, \"clinic_id\": \"demo-center\", \"patient_id\": \"p-1\", \"starts_at\": "    \
    "\"2026-12-10T10:00:00Z\", \"status\": \"booked\"" extra "}"
    appointment_refused(APPT(""), "");
    appointment_refused(APPT(", \"ends_at\": \"2026-12-10T09:59:59Z\""), "ends_at");
    appointment_refused(APPT(", \"ends_at\": \"2026-12-10T10:00:00Z\""), "");
    appointment_refused(APPT(", \"treatment_plan\": {\"amount\": 5}"), "treatment_plan.status");
    appointment_refused(APPT(", \"treatment_plan\": {\"status\": \"maybe\"}"),
                        "treatment_plan.status");
    appointment_refused(APPT(", \"treatment_plan\": {\"status\": \"accepted\", \"tooth\": 16}"),
                        "treatment_plan.tooth");
    appointment_refused(APPT(", \"amount_paid\": -5"), "amount_paid");
    appointment_refused(APPT(", \"call_id\": \"not-a-uuid-but-exactly-36-characters\""), "call_id");
    appointment_refused(APPT(", \"booking_source\": \"billboard\""), "booking_source");
    appointment_refused(APPT(", \"status\": \"maybe\""), "status");
    appointment_refused(APPT(", \"booked_at\": \"yesterday\""), "booked_at");
    appointment_refused("{\"version\": 1, \"clinic_id\": \"demo-center\", \"patient_id\": \"p 1\","
                        " \"starts_at\": \"2026-12-10T10:00:00Z\", \"status\": \"booked\"}",
                        "patient_id");
    appointment_refused("{\"version\": 1, \"clinic_id\": \"demo-center\", \"patient_id\": \"p-1\","
                        " \"status\": \"booked\"}",
                        "starts_at");
}

int main(void)
{
    test_ids();
    test_versions();
    test_patient_record();
    test_appointment_record();
    return cf_test_done();
}
