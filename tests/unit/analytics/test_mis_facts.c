/*
 * Appointments, patients and people's touches (mis_facts.c): the rows
 * kept, and a person's first and last non-direct touch whatever order the
 * touches come in, and which change of a contact may take the last back.
 */
#include "mis_facts_testable.h"
#include "call_facts_testable.h"

#include <stdio.h>

#include "cftest.h"

static const char *s(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_appointment(void)
{
    char err[128];
    json_t *data = json_loads(
        "{\"appointment_id\": \"A\", \"version\": 2, \"patient_id\": \"P\", \"clinic_id\": \"c1\","
        " \"doctor_id\": \"dr\", \"starts_at\": \"2026-11-25T07:00:00Z\", \"status\": \"arrived\","
        " \"amount_paid\": 4500, \"treatment_plan\": {\"status\": \"accepted\", \"amount\": "
        "180000},"
        " \"booking_source\": \"lead\", \"lead_id\": \"c13eccf1-1ed1-5fda-935e-e53031f283e5\","
        " \"call_id\": \"crm-call-7\"}",
        0, NULL);
    json_t *row = an_appointment_row(data, cf_test_utc_ms(2026, 11, 20, 21, 30, 0), "net",
                                     "Europe/Moscow", err, sizeof(err));
    CHECK_STR(s(row, "start_hour"), "2026-11-25 10:00:00");
    CHECK_STR(s(row, "booked_hour"), "2026-11-21 00:00:00"); /* the event's time, local */
    CHECK_STR(s(row, "booked_at"), "2026-11-20T21:30:00.000Z");
    CHECK_STR(s(row, "plan_status"), "accepted");
    CHECK_INT(json_integer_value(json_object_get(row, "amount_paid")), 4500);
    CHECK_INT(json_integer_value(json_object_get(row, "version")), 2);
    CHECK_STR(s(row, "lead_id"), "c13eccf1-1ed1-5fda-935e-e53031f283e5");
    /* a call id that is not one of ours links to nothing */
    CHECK(json_is_null(json_object_get(row, "call_id")));
    json_decref(row);
    /* the MIS's booking time, when it gives one earlier than the event */
    json_object_set_new(data, "booked_at", json_string("2026-11-02T09:15:00Z"));
    row = an_appointment_row(data, cf_test_utc_ms(2026, 11, 20, 21, 30, 0), "net", "Europe/Moscow",
                             err, sizeof(err));
    CHECK_STR(s(row, "booked_at"), "2026-11-02T09:15:00.000Z");
    CHECK_STR(s(row, "booked_hour"), "2026-11-02 12:00:00");
    json_decref(row);
    /* one later than the event is not believed: the event's time */
    json_object_set_new(data, "booked_at", json_string("2026-11-22T09:15:00Z"));
    row = an_appointment_row(data, cf_test_utc_ms(2026, 11, 20, 21, 30, 0), "net", "Europe/Moscow",
                             err, sizeof(err));
    CHECK_STR(s(row, "booked_at"), "2026-11-20T21:30:00.000Z");
    json_decref(row);
    json_object_del(data, "booked_at");
    json_object_del(data, "version");
    CHECK(an_appointment_row(data, 0, "net", "UTC", err, sizeof(err)) == NULL);
    json_decref(data);

    data = json_loads("{\"patient_id\": \"P\", \"version\": 3, \"contact_keys\": [\"k1\", \"k2\"],"
                      " \"first_name\": \"Anna\", \"first_visit_at\": \"2024-03-14T07:00:00Z\"}",
                      0, NULL);
    row = an_patient_row(data, "net", err, sizeof(err));
    CHECK_INT(json_array_size(json_object_get(row, "contact_keys")), 2);
    CHECK(json_object_get(row, "first_name") == NULL); /* nothing personal is kept */
    CHECK_STR(s(row, "first_visit_at"), "2024-03-14T07:00:00.000Z");
    json_decref(row);
    json_decref(data);
}

static json_t *call_row(const char *key, const char *started, const char *source,
                        const char *direction)
{
    char err[128], text[512];
    snprintf(
        text, sizeof(text),
        "{\"call_id\": \"C\", \"direction\": \"%s\", \"status\": \"ended\", \"started_at\":"
        " \"%s\", \"provider\": \"mango\", \"contact_key\": \"%s\", \"patient\": {\"class\":"
        " \"new\"}, \"attribution\": {\"kind\": \"static\", \"tracking_number\": \"+7\"%s%s%s}}",
        direction, started, key, *source ? ", \"source\": \"" : "", source, *source ? "\"" : "");
    json_t *data = json_loads(text, 0, NULL);
    json_t *row = an_call_row(data, "net", "UTC", err, sizeof(err));
    json_decref(data);
    return row;
}

static void test_touches(void)
{
    json_t *touches = json_object();
    /* the later touch first: a search ad; then the earlier one, direct;
     * then a later direct one */
    const char *order[][2] = {{"2026-11-22T10:00:00Z", "yandex"},
                              {"2026-11-20T09:00:00Z", ""},
                              {"2026-11-23T09:00:00Z", ""}};
    for (size_t i = 0; i < 3; i++) {
        json_t *row = call_row("kA", order[i][0], order[i][1], "inbound");
        json_t *t = an_touch_of_call(row);
        CHECK(t != NULL);
        an_touch_add(touches, t);
        json_decref(t);
        json_decref(row);
    }
    CHECK_INT(json_object_size(touches), 1);
    json_t *pair = json_object_get(touches, "net\x1fkA");
    CHECK_STR(s(json_object_get(pair, "first"), "at"), "2026-11-20T09:00:00.000Z");
    CHECK_STR(s(json_object_get(pair, "first"), "source"), "");
    CHECK_STR(s(json_object_get(pair, "first"), "channel"), "mango");
    CHECK_STR(s(json_object_get(pair, "last"), "source"), "yandex");
    json_decref(touches);

    /* not contacts: an outbound call, a caller with no key */
    json_t *row = call_row("kA", "2026-11-20T09:00:00Z", "", "outbound");
    CHECK(an_touch_of_call(row) == NULL);
    json_decref(row);
    row = call_row("", "2026-11-20T09:00:00Z", "", "inbound");
    CHECK(an_touch_of_call(row) == NULL);
    json_decref(row);

    json_t *lead =
        json_loads("{\"lead_id\": \"L\", \"network_id\": \"net\", \"contact_key\": \"kB\","
                   " \"received_at\": \"2026-11-22T08:00:00.000Z\", \"hour\":"
                   " \"2026-11-22 08:00:00\", \"provider\": \"telegram\","
                   " \"source\": \"vk\", \"patient_class\": \"new\"}",
                   0, NULL);
    json_t *t = an_touch_of_lead(lead);
    CHECK_STR(s(t, "channel"), "telegram");
    CHECK_STR(s(t, "source"), "vk");
    json_decref(t);
    json_object_del(lead, "received_at"); /* a merge's patch: not a new contact */
    CHECK(an_touch_of_lead(lead) == NULL);
    json_decref(lead);
}

/* Which change of a contact may take back the person's last non-direct
 * touch: was and now are a call's touches before and after (NULL: not a
 * contact then). */
struct withdrawn_case {
    const char *name;
    const char *was_key, *was_at, *was_source; /* was_key NULL: no touch */
    const char *now_key, *now_at, *now_source; /* now_key NULL: no touch */
    int withdrawn;
};

static const struct withdrawn_case withdrawn_cases[] = {
    {"source lost", "kA", "2026-11-22T10:00:00Z", "yandex", "kA", "2026-11-22T10:00:00Z", "", 1},
    {"source kept", "kA", "2026-11-22T10:00:00Z", "yandex", "kA", "2026-11-22T10:00:00Z", "yandex",
     0},
    {"source changed", "kA", "2026-11-22T10:00:00Z", "yandex", "kA", "2026-11-22T10:00:00Z", "site",
     0},
    {"was direct", "kA", "2026-11-22T10:00:00Z", "", "kA", "2026-11-22T10:00:00Z", "", 0},
    {"source gained", "kA", "2026-11-22T10:00:00Z", "", "kA", "2026-11-22T10:00:00Z", "site", 0},
    {"no contact before", NULL, NULL, NULL, "kA", "2026-11-22T10:00:00Z", "", 0},
    {"no longer a contact", "kA", "2026-11-22T10:00:00Z", "yandex", NULL, NULL, NULL, 1},
    {"another person", "kA", "2026-11-22T10:00:00Z", "yandex", "kB", "2026-11-22T10:00:00Z",
     "yandex", 1},
    {"another time", "kA", "2026-11-22T10:00:00Z", "yandex", "kA", "2026-11-22T09:00:00Z", "yandex",
     1},
};

static void test_touch_withdrawn(void)
{
    for (size_t i = 0; i < sizeof(withdrawn_cases) / sizeof(withdrawn_cases[0]); i++) {
        const struct withdrawn_case *tc = &withdrawn_cases[i];
        json_t *was = NULL, *now = NULL, *row;
        if (tc->was_key) {
            row = call_row(tc->was_key, tc->was_at, tc->was_source, "inbound");
            was = an_touch_of_call(row);
            json_decref(row);
        }
        if (tc->now_key) {
            row = call_row(tc->now_key, tc->now_at, tc->now_source, "inbound");
            now = an_touch_of_call(row);
            json_decref(row);
        }
        if (an_touch_withdrawn(was, now) != tc->withdrawn)
            fprintf(stderr, "withdrawn case '%s'\n", tc->name);
        CHECK_INT(an_touch_withdrawn(was, now), tc->withdrawn);
        json_decref(was);
        json_decref(now);
    }
}

int main(void)
{
    test_appointment();
    test_touches();
    test_touch_withdrawn();
    return cf_test_done();
}
