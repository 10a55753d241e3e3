/*
 * The callback rules (services/calls/task_rules.c) case by case: which
 * call events are misses or callbacks, when a task opens, is due and is
 * lost, what an answer does to the open task, and the task's and its
 * events' ids. The expected ids are computed apart from our code:
 *   python3 -c 'import uuid; NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825");
 *     print(uuid.uuid5(NS, "\x1f".join(["demo", "callback", "+79161234567", "c-miss-1"])))'
 * (and likewise for ["ev-1", "task.opened"], ["ev-1", "task.closed"]).
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "calls.h"
#include "cftest.h"
#include "task_rules.h"

static const struct calls_settings cfg = {.callback_sla_s = 900, .task_lost_after_s = 86400};

/* 2026-11-20T10:00:00Z plus s seconds, in ms. */
static int64_t at(long s)
{
    return INT64_C(1795168800000) + (int64_t)s * 1000;
}

static const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* No such time, for new_call's end and answered. */
#define NO_TIME (-1000000L)

/* A call as calls.v1 carries it, started a minute before at(0), ended at
 * at(end) and answered at at(answered) (either may be NO_TIME). */
static json_t *new_call(const char *call_id, const char *direction, const char *status,
                        const char *outcome, long end, long answered)
{
    json_t *j_call = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "call_id", call_id, "direction",
                               direction, "status", status, "contact_key", "+79161234567", "caller",
                               "e164", "+79161234567");
    if (outcome)
        json_object_set_new(j_call, "outcome", json_string(outcome));
    cf_time_json_set(j_call, "started_at", at(-60));
    if (end != NO_TIME)
        cf_time_json_set(j_call, "ended_at", at(end));
    if (answered != NO_TIME)
        cf_time_json_set(j_call, "answered_at", at(answered));
    return j_call;
}

static void test_which_calls_are_missed(void)
{
    static const struct {
        const char *status, *direction, *outcome;
        int blocked, missed;
    } cases[] = {
        {"ended", "inbound", "missed", 0, 1},     {"ended", "inbound", "abandoned", 0, 1},
        {"ended", "inbound", "busy", 0, 1},       {"ended", "inbound", "failed", 0, 1},
        {"ended", "inbound", "voicemail", 0, 1},  {"ended", "inbound", "answered", 0, 0},
        {"ended", "outbound", "missed", 0, 0},    {"answered", "inbound", "missed", 0, 0},
        {"ended", "inbound", "missed", 1, 0},     {"ended", "inbound", NULL, 0, 0},
        {"ended", "inbound", "missed-ish", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j_call =
            new_call("c-1", cases[i].direction, cases[i].status, cases[i].outcome, 0, NO_TIME);
        if (cases[i].blocked)
            json_object_set_new(j_call, "blocked", json_true());
        if (calls_task_is_missed(j_call) != cases[i].missed)
            fprintf(stderr, "case %zu\n", i);
        CHECK_INT(calls_task_is_missed(j_call), cases[i].missed);
        json_decref(j_call);
    }
}

static void test_what_an_event_asks(void)
{
    static const struct {
        const char *type, *network, *outcome;
        long answered;     /* NO_TIME: none */
        int agent_pending; /* the staff leg has not reported */
        int no_contact;
        enum calls_task_input want;
    } cases[] = {
        {"clinicflow.call.ended", "demo", "missed", NO_TIME, 0, 0, CALLS_TASK_MISSED},
        {"clinicflow.call.updated", "demo", "answered", 5, 0, 0, CALLS_TASK_ANSWERED},
        /* a voicemail answers the line, not a person */
        {"clinicflow.call.ended", "demo", "voicemail", 5, 0, 0, CALLS_TASK_MISSED},
        /* answered without an answer time is no callback */
        {"clinicflow.call.ended", "demo", "answered", NO_TIME, 0, 0, CALLS_TASK_IGNORE},
        {"clinicflow.call.ended", "demo", "missed", NO_TIME, 1, 0, CALLS_TASK_IGNORE},
        {"clinicflow.call.ended", "demo", "answered", 5, 1, 0, CALLS_TASK_IGNORE},
        {"clinicflow.call.ended", "demo", "missed", NO_TIME, 0, 1, CALLS_TASK_IGNORE},
        {"clinicflow.task.opened", "demo", "missed", NO_TIME, 0, 0, CALLS_TASK_IGNORE},
        {NULL, "demo", "missed", NO_TIME, 0, 0, CALLS_TASK_IGNORE},
        {"clinicflow.call.ended", NULL, "missed", NO_TIME, 0, 0, CALLS_TASK_IGNORE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j_call =
            new_call("c-1", "inbound", "ended", cases[i].outcome, 0, cases[i].answered);
        if (cases[i].agent_pending)
            json_object_set_new(j_call, "agent_pending", json_true());
        if (cases[i].no_contact)
            json_object_del(j_call, "contact_key");
        const enum calls_task_input got = calls_task_input(cases[i].type, cases[i].network, j_call);
        if (got != cases[i].want)
            fprintf(stderr, "case %zu\n", i);
        CHECK_INT(got, cases[i].want);
        json_decref(j_call);
    }
}

static void test_due_and_lost_times(void)
{
    json_t *j_call = new_call("c-1", "inbound", "ended", "missed", 30, NO_TIME);
    CHECK_INT(calls_task_miss_end(j_call), at(30));
    json_object_del(j_call, "ended_at"); /* a start and no end: the wait began at the start */
    CHECK_INT(calls_task_miss_end(j_call), at(-60));
    json_object_del(j_call, "started_at");
    CHECK_INT(calls_task_miss_end(j_call), -1);
    json_decref(j_call);
    CHECK_INT(calls_task_due_at(&cfg, at(0)), at(900));
    CHECK_INT(calls_task_lost_at(&cfg, at(0)), at(86400));
}

static void test_a_miss_opens_a_task(void)
{
    json_t *j_call = new_call("c-miss-1", "inbound", "ended", "missed", 30, NO_TIME);
    json_object_set_new(j_call, "clinic_id", json_string("clinic-1"));
    json_t *j_task = calls_task_new(&cfg, "demo", "+79161234567", j_call);
    CHECK_STR(str(j_task, "task_id"), "0fc5df10-9118-5b40-8659-98eea4135e27");
    CHECK_STR(str(j_task, "kind"), "callback");
    CHECK_STR(str(j_task, "status"), "open");
    CHECK_STR(str(j_task, "contact_key"), "+79161234567");
    CHECK_STR(str(json_object_get(j_task, "contact"), "e164"), "+79161234567");
    CHECK_STR(str(j_task, "clinic_id"), "clinic-1");
    CHECK_STR(str(j_task, "source_call_id"), "c-miss-1");
    CHECK_INT(json_integer_value(json_object_get(j_task, "missed_calls")), 1);
    CHECK_INT(cf_time_json_get(j_task, "opened_at"), at(30));
    CHECK_INT(cf_time_json_get(j_task, "due_at"), at(930));
    CHECK(calls_task_doc_ok(j_task));
    json_decref(j_task);
    /* no clinic: none on the task */
    json_object_del(j_call, "clinic_id");
    j_task = calls_task_new(&cfg, "demo", "+79161234567", j_call);
    CHECK(json_object_get(j_task, "clinic_id") == NULL);
    json_decref(j_task);
    json_decref(j_call);
}

static void test_closing(void)
{
    static const struct {
        long answered;
        long long seconds;
        int on_time;
    } cases[] = {
        {30, 0, 1},      /* at the opening */
        {630, 600, 1},   /* within the SLA */
        {930, 900, 1},   /* at the due time */
        {931, 901, 0},   /* a second late */
        {7230, 7200, 0}, /* hours later */
        {10, 0, 1},      /* before the opening (a withdrawn source) */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j_call = new_call("c-miss-1", "inbound", "ended", "missed", 30, NO_TIME);
        json_t *j_task = calls_task_new(&cfg, "demo", "+79161234567", j_call);
        calls_task_close(j_task, "c-back-1", at(cases[i].answered));
        CHECK_STR(str(j_task, "status"), "closed");
        CHECK_STR(str(j_task, "closing_call_id"), "c-back-1");
        CHECK_INT(cf_time_json_get(j_task, "closed_at"), at(cases[i].answered));
        CHECK_INT(json_integer_value(json_object_get(j_task, "seconds_to_callback")),
                  cases[i].seconds);
        CHECK_INT(json_is_true(json_object_get(j_task, "on_time")), cases[i].on_time);
        json_decref(j_task);
        json_decref(j_call);
    }
}

static void test_what_an_answer_does(void)
{
    static const struct {
        const char *call_id;
        long answered; /* seconds from the task's opening */
        enum calls_task_answer want;
    } cases[] = {
        {"c-back-1", 0, CALLS_TASK_CLOSE},     {"c-back-1", 600, CALLS_TASK_CLOSE},
        {"c-back-1", 86400, CALLS_TASK_CLOSE}, /* the last moment before it is lost */
        {"c-back-1", 86401, CALLS_TASK_KEEP},  /* lost: the sweeper expires it */
        {"c-back-1", -1, CALLS_TASK_KEEP},     /* another call, before the task */
        {"c-miss-1", -1, CALLS_TASK_WITHDRAW}, /* the source, answered after all */
        {"c-miss-1", 5, CALLS_TASK_CLOSE},     /* the source answered after the opening */
        {NULL, -1, CALLS_TASK_KEEP},
    };
    json_t *j_call = new_call("c-miss-1", "inbound", "ended", "missed", 0, NO_TIME);
    json_t *j_task = calls_task_new(&cfg, "demo", "+79161234567", j_call);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const enum calls_task_answer got =
            calls_task_on_answer(&cfg, j_task, cases[i].call_id, at(cases[i].answered));
        if (got != cases[i].want)
            fprintf(stderr, "case %zu\n", i);
        CHECK_INT(got, cases[i].want);
    }
    json_decref(j_task);
    json_decref(j_call);
}

static void test_an_earlier_miss(void)
{
    static const struct {
        long miss_end; /* seconds from the open task's opening; NO_TIME: no times */
        int before;
        int64_t until_ms; /* from the task's opening, when before */
    } cases[] = {
        {-10, 1, -1},                                  /* up to just before the task opened */
        {-90000, 1, (-90000 + 86400) * INT64_C(1000)}, /* long before: up to its lost time */
        {0, 0, 0},
        {10, 0, 0},
        {NO_TIME, 0, 0},
    };
    json_t *j_first = new_call("c-miss-2", "inbound", "ended", "missed", 0, NO_TIME);
    json_t *j_task = calls_task_new(&cfg, "demo", "+79161234567", j_first);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j_call =
            new_call("c-miss-1", "inbound", "ended", "missed", cases[i].miss_end, NO_TIME);
        if (cases[i].miss_end == NO_TIME)
            json_object_del(j_call, "started_at");
        CHECK_INT(calls_task_miss_before(j_task, j_call), cases[i].before);
        if (cases[i].before)
            CHECK_INT(calls_task_settled_until(&cfg, j_task, calls_task_miss_end(j_call)),
                      at(0) + cases[i].until_ms);
        json_decref(j_call);
    }
    /* joined: the earlier miss becomes the source, the task opens at it */
    calls_task_set_source(j_task, &cfg, "c-miss-1", at(-10));
    CHECK_STR(str(j_task, "source_call_id"), "c-miss-1");
    CHECK_INT(cf_time_json_get(j_task, "opened_at"), at(-10));
    CHECK_INT(cf_time_json_get(j_task, "due_at"), at(890));
    json_decref(j_task);
    json_decref(j_first);
}

static void test_moved_misses_leave_at_least_the_source(void)
{
    static const struct {
        json_int_t count;
        size_t moved;
        json_int_t left;
    } cases[] = {{3, 1, 2}, {3, 2, 1}, {2, 5, 1}, {1, 0, 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j_task = json_pack("{s:I}", "missed_calls", cases[i].count);
        calls_task_take_misses(j_task, cases[i].moved);
        CHECK_INT(json_integer_value(json_object_get(j_task, "missed_calls")), cases[i].left);
        json_decref(j_task);
    }
}

static void test_task_documents_the_sweeper_takes(void)
{
    static const struct {
        const char *doc;
        int ok;
    } cases[] = {
        {"{\"task_id\":\"t\",\"opened_at\":\"2026-11-20T10:00:00.000Z\","
         "\"due_at\":\"2026-11-20T10:15:00.000Z\",\"missed_calls\":1}",
         1},
        {"{\"opened_at\":\"2026-11-20T10:00:00.000Z\","
         "\"due_at\":\"2026-11-20T10:15:00.000Z\",\"missed_calls\":1}",
         0},
        {"{\"task_id\":\"t\",\"opened_at\":\"yesterday\","
         "\"due_at\":\"2026-11-20T10:15:00.000Z\",\"missed_calls\":1}",
         0},
        {"{\"task_id\":\"t\",\"opened_at\":\"2026-11-20T10:00:00.000Z\","
         "\"missed_calls\":1}",
         0},
        {"{\"task_id\":\"t\",\"opened_at\":\"2026-11-20T10:00:00.000Z\","
         "\"due_at\":\"2026-11-20T10:15:00.000Z\",\"missed_calls\":\"1\"}",
         0},
        {"[]", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t jerr;
        json_t *j_task = json_loads(cases[i].doc, 0, &jerr);
        CHECK(j_task != NULL);
        CHECK_INT(calls_task_doc_ok(j_task), cases[i].ok);
        json_decref(j_task);
    }
}

static void test_task_events(void)
{
    json_t *j_call = new_call("c-miss-1", "inbound", "ended", "missed", 30, NO_TIME);
    json_object_set_new(j_call, "clinic_id", json_string("clinic-1"));
    json_t *j_task = calls_task_new(&cfg, "demo", "+79161234567", j_call);
    struct cf_event ev;
    calls_task_event(&ev, "ev-1", "opened", j_task, "demo", at(30));
    CHECK_STR(ev.id, "253543c1-c14f-550d-b150-cebd369cb12e");
    CHECK_STR(ev.type, "clinicflow.task.opened");
    CHECK_STR(ev.source, "/clinicflow/calls/fold");
    CHECK_STR(ev.subject, "0fc5df10-9118-5b40-8659-98eea4135e27");
    CHECK_STR(ev.networkid, "demo");
    CHECK_STR(ev.clinicid, "clinic-1");
    CHECK_INT(ev.time_ms, at(30));
    CHECK(json_equal(ev.data, j_task));
    CHECK(ev.data != j_task); /* a copy: later changes to the task are not in the event */
    cf_event_clear(&ev);
    json_object_del(j_task, "clinic_id");
    calls_task_event(&ev, "ev-1", "closed", j_task, "demo", at(60));
    CHECK_STR(ev.id, "887358be-92cd-5752-8d53-a45aa27b8461");
    CHECK(ev.clinicid == NULL);
    cf_event_clear(&ev);
    json_decref(j_task);
    json_decref(j_call);
}

int main(void)
{
    test_which_calls_are_missed();
    test_what_an_event_asks();
    test_due_and_lost_times();
    test_a_miss_opens_a_task();
    test_closing();
    test_what_an_answer_does();
    test_an_earlier_miss();
    test_moved_misses_leave_at_least_the_source();
    test_task_documents_the_sweeper_takes();
    test_task_events();
    return cf_test_done();
}
