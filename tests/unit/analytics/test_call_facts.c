/*
 * What analytics keeps of a call and a task, and how a call's change moves
 * the hourly rollup (proto/README.md, "Analytics reports"): each count's
 * definition, the network's local hour, and deltas that add up.
 */
#include "call_facts_testable.h"

#include "cftest.h"

static json_t *call(const char *extra)
{
    json_error_t err;
    json_t *data = json_loads(
        "{\"call_id\": \"320a5392-d65f-5434-9214-2566706ce0bf\", \"clinic_id\": \"c1\","
        " \"direction\": \"inbound\", \"status\": \"ended\", \"started_at\":"
        " \"2026-11-22T21:30:00.000Z\", \"provider\": \"generic\", \"provider_call_id\": \"p\","
        " \"facts\": 2, \"contact_key\": \"ck\"}",
        0, &err);
    json_t *more = extra ? json_loads(extra, 0, &err) : NULL;
    if (more)
        json_object_update(data, more);
    json_decref(more);
    return data;
}

static json_int_t n(const json_t *row, const char *key)
{
    return json_integer_value(json_object_get(row, key));
}

static const char *s(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

/* Each count of a call, one outcome at a time. */
static void test_counts(void)
{
    char err[128];
    json_t *data =
        call("{\"outcome\": \"answered\", \"agent_group\": \"call_center\","
             " \"agent_id\": \"op-7\", \"talk_seconds\": 53, \"targeted\": true,"
             " \"unique\": true, \"attribution\": {\"kind\": \"static\","
             " \"tracking_number\": \"+7\", \"source\": \"yandex\", \"medium\": \"cpc\"},"
             " \"patient\": {\"class\": \"repeat\"}}");
    json_t *row = an_call_row(data, "net", "Europe/Moscow", err, sizeof(err));
    CHECK(row != NULL);
    /* 21:30 UTC is 00:30 of the next day in Moscow */
    CHECK_STR(s(row, "hour"), "2026-11-23 00:00:00");
    CHECK_STR(s(row, "source"), "yandex");
    CHECK_STR(s(row, "medium"), "cpc");
    CHECK_STR(s(row, "campaign"), "");
    CHECK_STR(s(row, "operator"), "op-7");
    CHECK_STR(s(row, "patient_class"), "repeat");
    CHECK_STR(s(row, "channel"), "generic");
    CHECK_INT(n(row, "inbound"), 1);
    CHECK_INT(n(row, "outbound"), 0);
    CHECK_INT(n(row, "answered"), 1);
    CHECK_INT(n(row, "unique_calls"), 1);
    CHECK_INT(n(row, "targeted"), 1);
    CHECK_INT(n(row, "missed"), 0);
    CHECK_INT(n(row, "answered_call_center"), 1);
    CHECK_INT(n(row, "answered_reception"), 0);
    CHECK_INT(n(row, "talk_seconds"), 53);
    CHECK_INT(n(row, "handled"), 1);
    CHECK_INT(n(row, "inbound_talk_seconds"), 53);
    /* every count has its name */
    for (size_t i = 0; i < AN_CALL_NCOUNTS; i++)
        CHECK(an_call_counts[i] && json_is_integer(json_object_get(row, an_call_counts[i])));
    json_decref(row);
    json_decref(data);

    /* every outcome that opens a callback task is missed; abandoned also
     * counts apart */
    const char *missed[] = {"missed", "abandoned", "busy", "failed", "voicemail"};
    for (size_t i = 0; i < 5; i++) {
        char extra[64];
        snprintf(extra, sizeof(extra), "{\"outcome\": \"%s\"}", missed[i]);
        data = call(extra);
        row = an_call_row(data, "net", "UTC", err, sizeof(err));
        CHECK_INT(n(row, "missed"), 1);
        CHECK_INT(n(row, "abandoned"), i == 1);
        CHECK_INT(n(row, "answered"), 0);
        CHECK_INT(n(row, "inbound"), 1);
        json_decref(row);
        json_decref(data);
    }

    /* an outbound call answered: talk time, not an inbound answer */
    data = call("{\"direction\": \"outbound\", \"outcome\": \"answered\", \"talk_seconds\": 40,"
                " \"agent_group\": \"reception\"}");
    row = an_call_row(data, "net", "UTC", err, sizeof(err));
    CHECK_INT(n(row, "outbound"), 1);
    CHECK_INT(n(row, "inbound"), 0);
    CHECK_INT(n(row, "answered"), 0);
    CHECK_INT(n(row, "answered_reception"), 0);
    CHECK_INT(n(row, "talk_seconds"), 40);
    CHECK_INT(n(row, "handled"), 1);
    CHECK_INT(n(row, "inbound_talk_seconds"), 0);
    CHECK_INT(n(row, "missed"), 0);
    json_decref(row);
    json_decref(data);

    /* not ended yet: its dimensions, no counts */
    data = call("{\"status\": \"in_progress\", \"outcome\": \"answered\", \"unique\": true}");
    row = an_call_row(data, "net", "UTC", err, sizeof(err));
    CHECK_INT(n(row, "inbound"), 0);
    CHECK_INT(n(row, "answered"), 0);
    CHECK_INT(n(row, "unique_calls"), 0);
    CHECK_STR(s(row, "hour"), "2026-11-22 21:00:00");
    json_decref(row);
    json_decref(data);

    /* ended with no outcome known: counted, neither answered nor missed */
    data = call(NULL);
    row = an_call_row(data, "net", "UTC", err, sizeof(err));
    CHECK_INT(n(row, "inbound"), 1);
    CHECK_INT(n(row, "answered"), 0);
    CHECK_INT(n(row, "missed"), 0);
    json_decref(row);
    json_decref(data);
}

static void test_refused(void)
{
    char err[128] = "";
    json_t *data = call(NULL);
    json_object_del(data, "started_at");
    CHECK(an_call_row(data, "net", "UTC", err, sizeof(err)) == NULL);
    CHECK(strstr(err, "started_at") != NULL);
    json_decref(data);

    data = call(NULL);
    CHECK(an_call_row(data, "net", "Mars/Olympus", err, sizeof(err)) == NULL);
    json_decref(data);

    data = json_loads("{\"task_id\": \"t\", \"kind\": \"callback\"}", 0, NULL);
    CHECK(an_task_row(data, "net", "UTC", err, sizeof(err)) == NULL);
    json_decref(data);
}

static void test_task(void)
{
    char err[128];
    json_t *data = json_loads(
        "{\"task_id\": \"t1\", \"kind\": \"callback\", \"status\": \"closed\", \"clinic_id\": "
        "\"c1\","
        " \"opened_at\": \"2026-11-22T04:50:30.000Z\", \"due_at\": \"2026-11-22T05:05:30.000Z\","
        " \"closed_at\": \"2026-11-22T05:02:40.000Z\", \"on_time\": true,"
        " \"seconds_to_callback\": 730, \"missed_calls\": 2, \"source_call_id\": \"a\","
        " \"closing_call_id\": \"b\", \"contact_key\": \"ck\"}",
        0, NULL);
    json_t *row = an_task_row(data, "net", "Europe/Moscow", err, sizeof(err));
    CHECK_STR(s(row, "hour"), "2026-11-22 07:00:00");
    CHECK_STR(s(row, "status"), "closed");
    CHECK(json_is_true(json_object_get(row, "on_time")));
    CHECK_INT(n(row, "seconds_to_callback"), 730);
    CHECK(json_is_false(json_object_get(row, "withdrawn")));
    CHECK(json_is_null(json_object_get(row, "lead_id")));
    CHECK(json_is_null(json_object_get(row, "seconds_to_response")));
    CHECK_STR(s(row, "closed_at"), "2026-11-22T05:02:40.000Z");
    json_decref(row);

    /* closed by its own missed call (it turned out answered): withdrawn */
    json_object_set_new(data, "closing_call_id", json_string("a"));
    row = an_task_row(data, "net", "UTC", err, sizeof(err));
    CHECK(json_is_true(json_object_get(row, "withdrawn")));
    json_decref(row);
    json_decref(data);
}

/* A call moving from one clinic and outcome to another: the deltas take
 * its old share away and add the new one, in one row per key. */
static void test_rollup(void)
{
    char err[128];
    json_t *d_old = call("{\"outcome\": \"missed\"}");
    json_t *d_new = call("{\"outcome\": \"answered\", \"clinic_id\": \"c2\","
                         " \"agent_group\": \"reception\"}");
    json_t *old = an_call_row(d_old, "net", "UTC", err, sizeof(err));
    json_t *new = an_call_row(d_new, "net", "UTC", err, sizeof(err));
    json_t *deltas = json_object();

    an_rollup_add(deltas, old, -1);
    an_rollup_add(deltas, new, +1);
    json_t *rows = an_rollup_rows(deltas);
    CHECK_INT(json_array_size(rows), 2);
    const json_t *c1 = json_array_get(rows, 0), *c2 = json_array_get(rows, 1);
    CHECK_STR(s(c1, "clinic_id"), "c1");
    CHECK_INT(n(c1, "inbound"), -1);
    CHECK_INT(n(c1, "missed"), -1);
    CHECK_STR(s(c2, "clinic_id"), "c2");
    CHECK_INT(n(c2, "inbound"), 1);
    CHECK_INT(n(c2, "answered"), 1);
    CHECK_INT(n(c2, "answered_reception"), 1);
    CHECK_INT(n(c2, "missed"), 0);
    json_decref(rows);

    /* the same row back and forth nets to nothing: no row to write */
    json_t *same = json_object();
    an_rollup_add(same, new, -1);
    an_rollup_add(same, new, +1);
    rows = an_rollup_rows(same);
    CHECK_INT(json_array_size(rows), 0);
    json_decref(rows);

    /* many calls of one key: one row with their sum */
    json_t *many = json_object();
    for (int i = 0; i < 5; i++)
        an_rollup_add(many, new, +1);
    rows = an_rollup_rows(many);
    CHECK_INT(json_array_size(rows), 1);
    CHECK_INT(n(json_array_get(rows, 0), "inbound"), 5);
    json_decref(rows);

    /* a call not ended adds nothing */
    json_t *ringing = call("{\"status\": \"ringing\"}");
    json_t *r = an_call_row(ringing, "net", "UTC", err, sizeof(err));
    json_t *none = json_object();
    an_rollup_add(none, r, +1);
    CHECK_INT(json_object_size(none), 0);

    json_decref(none);
    json_decref(r);
    json_decref(ringing);
    json_decref(many);
    json_decref(same);
    json_decref(deltas);
    json_decref(old);
    json_decref(new);
    json_decref(d_old);
    json_decref(d_new);
}

int main(void)
{
    test_counts();
    test_refused();
    test_task();
    test_rollup();
    return cf_test_done();
}
