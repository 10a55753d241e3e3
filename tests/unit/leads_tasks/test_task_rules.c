/*
 * The response-task rules (services/leads/task_rules.c) case by case:
 * which lead events open and close tasks, a respond task's due time in
 * its clinic's working hours (the clinic's own due time winning over the
 * setting), which leads also open a callback, how a task closes, the
 * events' ids, when a task expires and its task.expired, and which calls
 * are responses. The expected ids are
 * computed apart from our code:
 *   python3 -c 'import uuid; NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825");
 *     print(uuid.uuid5(NS, "\x1f".join(["demo", "lead-task", "respond", LEAD])))'
 * (and likewise for [EV, "task.opened", task id], [LEAD, "lead.sla_breached"],
 * [task id, "task.expired"],
 * [CALL, "lead.reported"]).
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "cftest.h"
#include "common/err.h"
#include "task_rules.h"

#define LEAD "6f1c2d3e-0000-5000-8000-000000000001"
#define CALL "3f1c2d3e-0000-5000-8000-0000000000c1"

static const struct leads_settings cfg = {.response_due_s = 600, .callback_due_s = 900};

static const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* Moscow wall time as UTC milliseconds. */
static int64_t msk(int y, int mo, int d, int h, int mi)
{
    return cf_test_utc_ms(y, mo, d, h, mi, 0) - 3 * 3600 * 1000;
}

static void test_inputs(void)
{
    json_t *j_data = json_pack("{s:s}", "lead_id", LEAD);
    json_t *j_bad = json_pack("{s:s}", "lead_id", "not-a-uuid");
    CHECK_INT(leads_task_input("clinicflow.lead.received", "demo", j_data), LEADS_TASK_RECEIVED);
    CHECK_INT(leads_task_input("clinicflow.lead.merged", "demo", j_data), LEADS_TASK_MERGED);
    CHECK_INT(leads_task_input("clinicflow.lead.responded", "demo", j_data), LEADS_TASK_RESPONDED);
    CHECK_INT(leads_task_input("clinicflow.lead.status_changed", "demo", j_data),
              LEADS_TASK_STATUS);
    CHECK_INT(leads_task_input("clinicflow.lead.sla_breached", "demo", j_data), LEADS_TASK_IGNORE);
    CHECK_INT(leads_task_input("clinicflow.call.ended", "demo", j_data), LEADS_TASK_IGNORE);
    CHECK_INT(leads_task_input("clinicflow.lead.received", NULL, j_data), LEADS_TASK_IGNORE);
    CHECK_INT(leads_task_input("clinicflow.lead.received", "demo", j_bad), LEADS_TASK_IGNORE);
    CHECK_INT(leads_task_input(NULL, "demo", j_data), LEADS_TASK_IGNORE);
    /* by type alone: the kinds the tasks read back from the outbox */
    CHECK(leads_task_type_acts("clinicflow.lead.received"));
    CHECK(leads_task_type_acts("clinicflow.lead.responded"));
    CHECK(leads_task_type_acts("clinicflow.lead.status_changed"));
    CHECK(leads_task_type_acts("clinicflow.lead.merged")); /* a callback it asks for */
    CHECK(!leads_task_type_acts("clinicflow.lead.sla_breached"));
    CHECK(!leads_task_type_acts("clinicflow.call.ended"));
    CHECK(!leads_task_type_acts(NULL));
    json_decref(j_data);
    json_decref(j_bad);
}

/* The clinic of tests/unit/time's schedules: Moscow, a split shift on
 * weekdays, Saturday short, Sunday closed, New Year's holidays. */
static const char clinic_doc[] =
    "{\"id\":\"c1\",\"timezone\":\"Europe/Moscow\",\"working_hours\":{"
    "\"mon\":[\"09:00-14:00\",\"15:00-21:00\"],\"tue\":[\"09:00-14:00\",\"15:00-21:00\"],"
    "\"wed\":[\"09:00-14:00\",\"15:00-21:00\"],\"thu\":[\"09:00-14:00\",\"15:00-21:00\"],"
    "\"fri\":[\"09:00-14:00\",\"15:00-21:00\"],\"sat\":[\"10:00-16:00\"],\"sun\":[]},"
    "\"holidays\":[\"2026-01-01\",\"2026-01-02\"]}";

static void test_due_times(void)
{
    json_t *j_clinic = json_loads(clinic_doc, 0, NULL);
    struct cf_time_hours h;
    char errbuf[256];

    CHECK_INT(leads_task_response_due_s(&cfg, j_clinic), 600);
    CHECK_INT(leads_task_response_due_s(&cfg, NULL), 600);
    CHECK_INT(leads_task_hours("Europe/Moscow", j_clinic, &h, errbuf, sizeof(errbuf)), 0);
    struct {
        int at[5];
        long seconds;
        int due[5];
    } cases[] = {
        {{2026, 12, 3, 10, 0}, 600, {2026, 12, 3, 10, 10}}, /* open */
        {{2026, 12, 3, 23, 0}, 600, {2026, 12, 4, 9, 10}},  /* 23:00: after the opening */
        {{2026, 12, 3, 13, 55}, 600, {2026, 12, 3, 15, 5}}, /* across the break */
        {{2026, 12, 6, 12, 0}, 600, {2026, 12, 7, 9, 10}},  /* a Sunday */
        {{2026, 1, 1, 11, 0}, 600, {2026, 1, 3, 10, 10}},   /* holidays */
        {{2026, 12, 3, 21, 0}, 900, {2026, 12, 4, 9, 15}},  /* a callback at closing */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const int *a = cases[i].at, *d = cases[i].due;
        CHECK_INT(leads_task_due_at(&h, msk(a[0], a[1], a[2], a[3], a[4]), cases[i].seconds),
                  msk(d[0], d[1], d[2], d[3], d[4]));
    }
    /* no schedule: wall-clock time */
    CHECK_INT(leads_task_due_at(NULL, msk(2026, 12, 3, 23, 0), 600), msk(2026, 12, 3, 23, 10));
    cf_time_hours_free(&h);

    /* the clinic's own due time wins; one out of range does not */
    json_object_set_new(j_clinic, "lead_response_due_s", json_integer(5));
    CHECK_INT(leads_task_response_due_s(&cfg, j_clinic), 5);
    json_object_set_new(j_clinic, "lead_response_due_s", json_integer(0));
    CHECK_INT(leads_task_response_due_s(&cfg, j_clinic), 600);
    json_object_set_new(j_clinic, "lead_response_due_s", json_string("5"));
    CHECK_INT(leads_task_response_due_s(&cfg, j_clinic), 600);

    /* a clinic without hours, or with hours that do not parse: none */
    CHECK_INT(leads_task_hours("Europe/Moscow", NULL, &h, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_INT(leads_task_hours(NULL, j_clinic, &h, errbuf, sizeof(errbuf)), CF_EINVAL);
    json_object_set_new(j_clinic, "working_hours", json_pack("{s:[s]}", "mon", "9-12"));
    CHECK_INT(leads_task_hours("Europe/Moscow", j_clinic, &h, errbuf, sizeof(errbuf)), CF_EINVAL);
    /* a clinic that never opens: wall-clock time rather than never due */
    json_object_set_new(j_clinic, "working_hours", json_object());
    CHECK_INT(leads_task_hours("Europe/Moscow", j_clinic, &h, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(leads_task_due_at(&h, msk(2026, 12, 3, 23, 0), 600), msk(2026, 12, 3, 23, 10));
    cf_time_hours_free(&h);
    json_decref(j_clinic);
}

/* A lead as lead.received carries it. */
static json_t *new_lead(const char *provider, const char *phone_kind)
{
    json_t *j_lead = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s}}", "lead_id", LEAD, "clinic_id",
                               "c1", "provider", provider, "channel", "site-form", "contact_key",
                               "k-phone", "contact", "name", "Anna");
    if (phone_kind) {
        json_t *j_phone = json_pack("{s:s, s:s}", "raw", "8 916 123-45-67", "kind", phone_kind);
        if (strcmp(phone_kind, "e164") == 0)
            json_object_set_new(j_phone, "e164", json_string("+79161234567"));
        json_object_set_new(json_object_get(j_lead, "contact"), "phone", j_phone);
    }
    return j_lead;
}

static void test_which_tasks(void)
{
    static const struct {
        const char *provider, *phone_kind;
        int callback;
    } cases[] = {
        {"generic", "e164", 1},  {"tilda", "e164", 1},      {"cf7", "e164", 1},
        {"generic", NULL, 0},    {"generic", "invalid", 0}, {"telegram", "e164", 0},
        {"whatsapp", "e164", 0}, {"jivo", "e164", 0},       {"email", NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j_lead = new_lead(cases[i].provider, cases[i].phone_kind);
        CHECK_INT(leads_task_wants_callback(j_lead), cases[i].callback);
        json_decref(j_lead);
    }
    /* a JivoChat visitor who asked to be called back, with a phone or not */
    json_t *j_lead = new_lead("jivo", "e164");
    json_object_set_new(j_lead, "callback_requested", json_true());
    CHECK_INT(leads_task_wants_callback(j_lead), 1);
    json_decref(j_lead);
    j_lead = new_lead("jivo", NULL);
    json_object_set_new(j_lead, "callback_requested", json_true());
    CHECK_INT(leads_task_wants_callback(j_lead), 0);
    json_decref(j_lead);
}

/* A request merging into an open lead asks for its callback task when it
 * wants one and nothing asked the lead before, and the lead is not
 * answered yet. */
static void test_merged_callback(void)
{
    json_t *j_chat = new_lead("telegram", NULL);  /* a chat lead: no callback task */
    json_t *j_form = new_lead("generic", "e164"); /* a form with a phone: one of its own */
    json_t *j_ask = new_lead("jivo", "e164");     /* a JivoChat callback request */
    json_object_set_new(j_ask, "callback_requested", json_true());
    json_t *j_says = new_lead("telegram", "e164"); /* a phone in the chat, no ask */

    const json_t *j_phone = leads_merge_callback_phone(j_chat, j_ask);
    CHECK(j_phone != NULL);
    CHECK_STR(str(j_phone, "e164"), "+79161234567");
    CHECK(leads_merge_callback_phone(j_chat, j_form) != NULL);
    CHECK(leads_merge_callback_phone(j_chat, j_says) == NULL);
    CHECK(leads_merge_callback_phone(j_chat, j_chat) == NULL);
    CHECK(leads_merge_callback_phone(j_form, j_ask) == NULL); /* it has its own */
    json_object_set_new(j_chat, "callback_merged", json_true());
    CHECK(leads_merge_callback_phone(j_chat, j_ask) == NULL); /* a merge asked already */
    json_object_del(j_chat, "callback_merged");
    json_object_set_new(j_chat, "status", json_string("booked"));
    CHECK(leads_merge_callback_phone(j_chat, j_ask) == NULL); /* a late request, closed since */
    json_object_set_new(j_chat, "status", json_string("open"));
    CHECK(leads_merge_callback_phone(j_chat, j_ask) != NULL);
    cf_time_json_set(j_chat, "responded_at", msk(2026, 12, 3, 10, 0));
    CHECK(leads_merge_callback_phone(j_chat, j_ask) == NULL); /* answered: talking already */
    json_decref(j_chat);
    json_decref(j_form);
    json_decref(j_ask);
    json_decref(j_says);
}

static void test_task_and_close(void)
{
    json_t *j_lead = new_lead("generic", "e164");
    const int64_t opened = msk(2026, 12, 3, 10, 0), due = msk(2026, 12, 3, 10, 10);
    json_t *j_task = leads_task_new("demo", "respond", j_lead, opened, due);

    CHECK_STR(str(j_task, "task_id"), "b417b4ab-f3e8-52be-a359-063779fd72cd");
    CHECK_STR(str(j_task, "kind"), "respond");
    CHECK_STR(str(j_task, "status"), "open");
    CHECK_STR(str(j_task, "lead_id"), LEAD);
    CHECK_STR(str(j_task, "clinic_id"), "c1");
    CHECK_STR(str(j_task, "contact_key"), "k-phone");
    CHECK(json_object_get(j_task, "contact") == NULL); /* a respond task names no number */
    CHECK(json_object_get(j_task, "missed_calls") == NULL);
    CHECK_INT(cf_time_json_get(j_task, "opened_at"), opened);
    CHECK_INT(cf_time_json_get(j_task, "due_at"), due);
    CHECK(leads_task_doc_ok(j_task));

    struct cf_event ev;
    leads_task_event(&ev, "ev-1", "opened", j_task, "demo", opened);
    CHECK_STR(ev.id, "c60f0df8-0420-5548-92ce-65e580a2dafe");
    CHECK_STR(ev.type, "clinicflow.task.opened");
    CHECK_STR(ev.source, "/clinicflow/leads/tasks");
    CHECK_STR(ev.subject, "b417b4ab-f3e8-52be-a359-063779fd72cd");
    CHECK_STR(ev.clinicid, "c1");
    CHECK(ev.data == j_task); /* shared, not copied */
    cf_event_clear(&ev);
    CHECK_STR(str(j_task, "task_id"), "b417b4ab-f3e8-52be-a359-063779fd72cd"); /* still held */

    /* answered at 10:04:30: on time, 270 s */
    json_t *j_on = json_deep_copy(j_task);
    leads_task_close(j_on, opened + 270 * 1000, "response", NULL);
    CHECK_STR(str(j_on, "status"), "closed");
    CHECK_STR(str(j_on, "closed_by"), "response");
    CHECK(json_is_true(json_object_get(j_on, "on_time")));
    CHECK_INT(json_integer_value(json_object_get(j_on, "seconds_to_response")), 270);
    CHECK_INT(cf_time_json_get(j_on, "closed_at"), opened + 270 * 1000);
    CHECK(json_object_get(j_on, "closing_call_id") == NULL);
    json_decref(j_on);
    /* exactly at the due time is on time; a millisecond later is not */
    json_t *j_at = json_deep_copy(j_task);
    leads_task_close(j_at, due, "response", NULL);
    CHECK(json_is_true(json_object_get(j_at, "on_time")));
    json_decref(j_at);
    json_t *j_late = json_deep_copy(j_task);
    leads_task_close(j_late, due + 1, "status", NULL);
    CHECK(json_is_false(json_object_get(j_late, "on_time")));
    CHECK_STR(str(j_late, "closed_by"), "status");
    json_decref(j_late);
    /* a status dated before the task opened closes it as it opened */
    json_t *j_early = json_deep_copy(j_task);
    leads_task_close(j_early, opened - 3600 * 1000, "status", NULL);
    CHECK_INT(cf_time_json_get(j_early, "closed_at"), opened);
    CHECK_INT(json_integer_value(json_object_get(j_early, "seconds_to_response")), 0);
    CHECK(json_is_true(json_object_get(j_early, "on_time")));
    json_decref(j_early);

    /* a callback task names the number, and the call that closed it */
    json_t *j_cb = leads_task_new("demo", "callback", j_lead, opened, opened + 900 * 1000);
    CHECK(strcmp(str(j_cb, "task_id"), str(j_task, "task_id")) != 0);
    CHECK_STR(str(json_object_get(j_cb, "contact"), "e164"), "+79161234567");
    leads_task_close(j_cb, opened + 60 * 1000, "response", CALL);
    CHECK_STR(str(j_cb, "closing_call_id"), CALL);
    json_decref(j_cb);

    /* when the closing came */
    json_t *j_resp = json_pack("{s:s}", "lead_id", LEAD);
    CHECK_INT(leads_task_closed_at(LEADS_TASK_RESPONDED, j_resp, 77), 77);
    cf_time_json_set(j_resp, "responded_at", opened + 5000);
    CHECK_INT(leads_task_closed_at(LEADS_TASK_RESPONDED, j_resp, 77), opened + 5000);
    CHECK_INT(leads_task_closed_at(LEADS_TASK_STATUS, j_resp, 77), 77);
    json_decref(j_resp);

    /* the breach: one id per lead, whoever decides it */
    json_t *j_row = json_deep_copy(j_task);
    json_object_set_new(j_row, "channel", json_string("site-form"));
    json_object_set_new(j_row, "provider", json_string("generic"));
    leads_task_breach_event(&ev, j_row, "demo", due);
    CHECK_STR(ev.id, "8a05c518-8432-5059-a583-7f876626368e");
    CHECK_STR(ev.type, "clinicflow.lead.sla_breached");
    CHECK_STR(ev.source, "/clinicflow/leads/sweeper");
    CHECK_STR(ev.subject, LEAD);
    CHECK_INT(ev.time_ms, due);
    CHECK_STR(str(ev.data, "lead_id"), LEAD);
    CHECK_STR(str(ev.data, "channel"), "site-form");
    CHECK_STR(str(ev.data, "provider"), "generic");
    CHECK_STR(str(ev.data, "contact_key"), "k-phone");
    CHECK_INT(cf_time_json_get(ev.data, "received_at"), opened);
    CHECK_INT(cf_time_json_get(ev.data, "due_at"), due);
    CHECK(json_object_get(ev.data, "status") == NULL);
    cf_event_clear(&ev);
    json_decref(j_row);

    /* expired a week after it opened: no closing in it, one event id per
     * task however many sweepers or relays */
    CHECK_INT(leads_task_expires_at(j_task, 604800, -1), opened + 604800LL * 1000);
    /* its person erased: given up at the erasure, if that came first, and
     * never before it opened */
    CHECK_INT(leads_task_expires_at(j_task, 604800, opened + 60000), opened + 60000);
    CHECK_INT(leads_task_expires_at(j_task, 604800, opened - 60000), opened);
    CHECK_INT(leads_task_expires_at(j_task, 604800, opened + 604801LL * 1000),
              opened + 604800LL * 1000);
    json_t *j_gone = json_deep_copy(j_task);
    json_object_del(j_gone, "opened_at");
    CHECK_INT(leads_task_expires_at(j_gone, 604800, -1), -1);
    CHECK_INT(leads_task_expires_at(j_gone, 604800, opened), -1);
    json_decref(j_gone);
    j_gone = json_deep_copy(j_task);
    leads_task_expire(j_gone);
    CHECK_STR(str(j_gone, "status"), "expired");
    CHECK(json_object_get(j_gone, "closed_at") == NULL);
    CHECK_STR(str(j_gone, "lead_id"), LEAD);
    CHECK_INT(cf_time_json_get(j_gone, "due_at"), due);
    CHECK(leads_task_doc_ok(j_gone));
    leads_task_expired_event(&ev, j_gone, "demo", opened + 604800LL * 1000);
    CHECK_STR(ev.id, "ed603de6-9dbc-541b-a7df-95ef77a1640f");
    CHECK_STR(ev.type, "clinicflow.task.expired");
    CHECK_STR(ev.source, "/clinicflow/leads/sweeper");
    CHECK_STR(ev.subject, "b417b4ab-f3e8-52be-a359-063779fd72cd");
    CHECK_STR(ev.networkid, "demo");
    CHECK_STR(ev.clinicid, "c1");
    CHECK_INT(ev.time_ms, opened + 604800LL * 1000);
    CHECK_STR(str(ev.data, "status"), "expired");
    CHECK_STR(str(ev.data, "task_id"), "b417b4ab-f3e8-52be-a359-063779fd72cd");
    cf_event_clear(&ev);
    json_decref(j_gone);
    /* a document with a closing in it (a task closed, then read back as
     * open) loses it */
    j_gone = json_deep_copy(j_task);
    leads_task_close(j_gone, due + 1, "status", NULL);
    leads_task_expire(j_gone);
    CHECK_STR(str(j_gone, "status"), "expired");
    CHECK(json_object_get(j_gone, "closed_at") == NULL);
    CHECK(json_object_get(j_gone, "closed_by") == NULL);
    CHECK(json_object_get(j_gone, "on_time") == NULL);
    CHECK(json_object_get(j_gone, "seconds_to_response") == NULL);
    json_decref(j_gone);

    json_t *j_broken = json_deep_copy(j_task);
    json_object_del(j_broken, "lead_id");
    CHECK(!leads_task_doc_ok(j_broken));
    json_decref(j_broken);
    j_broken = json_deep_copy(j_task);
    json_object_set_new(j_broken, "kind", json_string("reminder"));
    CHECK(!leads_task_doc_ok(j_broken));
    json_decref(j_broken);
    json_decref(j_task);
    json_decref(j_lead);
}

static void test_calls(void)
{
    static const struct {
        const char *type, *outcome, *direction;
        int pending, with_answer, answered;
    } cases[] = {
        {"clinicflow.call.ended", "answered", "inbound", 0, 1, 1},
        {"clinicflow.call.ended", "answered", "outbound", 0, 1, 1},
        {"clinicflow.call.updated", "answered", "outbound", 0, 1, 1},
        {"clinicflow.call.answered", NULL, "inbound", 0, 1, 0}, /* not over: voicemail? */
        {"clinicflow.call.ended", "voicemail", "outbound", 0, 1, 0},
        {"clinicflow.call.ended", "missed", "inbound", 0, 0, 0},
        {"clinicflow.call.ended", "answered", "inbound", 1, 1, 0}, /* staff leg pending */
        {"clinicflow.call.ended", "answered", "inbound", 0, 0, 1}, /* no answer time: its end */
        {"clinicflow.lead.received", "answered", "inbound", 0, 1, 0},
    };
    const int64_t answered_at = msk(2026, 12, 3, 10, 3);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j_call =
            json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s}}", "call_id", CALL,
                      "clinic_id", "c1", "direction", cases[i].direction, "contact_key", "k-phone",
                      "caller", "raw", "+79161234567", "kind", "e164", "e164", "+79161234567",
                      "called", "raw", "101", "kind", "extension");
        if (cases[i].outcome)
            json_object_set_new(j_call, "outcome", json_string(cases[i].outcome));
        if (cases[i].pending)
            json_object_set_new(j_call, "agent_pending", json_true());
        if (cases[i].with_answer)
            cf_time_json_set(j_call, "answered_at", answered_at);
        else
            cf_time_json_set(j_call, "ended_at", answered_at); /* the latest it can have been */
        int64_t got = -1;
        if (leads_call_is_answered(cases[i].type, "demo", j_call, &got) != cases[i].answered)
            fprintf(stderr, "call case %zu\n", i);
        CHECK_INT(leads_call_is_answered(cases[i].type, "demo", j_call, &got), cases[i].answered);
        if (cases[i].answered)
            CHECK_INT(got, answered_at);
        json_decref(j_call);
    }

    /* under way: answered, whether a person did not known until its end */
    static const struct {
        const char *type, *status;
        int pending, with_answer, under_way;
    } ways[] = {
        {"clinicflow.call.answered", "in_progress", 0, 1, 1},
        {"clinicflow.call.answered", "in_progress", 1, 1, 1}, /* the staff leg awaited */
        {"clinicflow.call.ended", "ended", 1, 1, 1},          /* over, the staff leg awaited */
        {"clinicflow.call.ended", "ended", 0, 1, 0},          /* over: its outcome decides */
        {"clinicflow.call.started", "ringing", 0, 0, 0},      /* not answered */
        {"clinicflow.lead.received", "in_progress", 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
        json_t *j_way = json_pack("{s:s, s:s, s:s}", "call_id", CALL, "contact_key", "k-phone",
                                  "status", ways[i].status);
        if (ways[i].pending)
            json_object_set_new(j_way, "agent_pending", json_true());
        if (ways[i].with_answer)
            cf_time_json_set(j_way, "answered_at", answered_at);
        int64_t got = -1;
        CHECK_INT(leads_call_under_way(ways[i].type, "demo", j_way, &got), ways[i].under_way);
        if (ways[i].under_way)
            CHECK_INT(got, answered_at);
        json_decref(j_way);
    }

    json_t *j_call =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s}}", "call_id", CALL,
                  "clinic_id", "c1", "direction", "outbound", "contact_key", "k-phone", "agent_id",
                  "op-7", "called", "raw", "+79161234567", "kind", "e164", "e164", "+79161234567",
                  "caller", "raw", "101", "kind", "extension");
    struct cf_event ev;
    leads_call_response_fact(&ev, "demo", j_call, LEAD, answered_at);
    CHECK_STR(ev.id, "27fb5296-e4d7-5968-a2c9-a6a04bb95be3");
    CHECK_STR(ev.type, "clinicflow.lead.reported");
    CHECK_STR(ev.subject, "k-phone");
    CHECK_STR(ev.clinicid, "c1");
    CHECK_INT(ev.time_ms, answered_at);
    CHECK_STR(str(ev.data, "kind"), "response");
    CHECK_STR(str(ev.data, "channel"), "call");
    CHECK_STR(str(ev.data, "via"), "call");
    CHECK_STR(str(ev.data, "call_id"), CALL);
    CHECK_STR(str(ev.data, "lead_id"), LEAD);
    CHECK_STR(str(ev.data, "staff_id"), "op-7");
    CHECK_STR(str(ev.data, "contact_key"), "k-phone");
    CHECK_STR(str(json_object_get(ev.data, "contact_keys"), "phone"), "k-phone");
    /* the contact's end of an outbound call is the called party */
    CHECK_STR(str(json_object_get(json_object_get(ev.data, "contact"), "phone"), "e164"),
              "+79161234567");
    cf_event_clear(&ev);
    json_decref(j_call);
}

int main(void)
{
    test_inputs();
    test_due_times();
    test_which_tasks();
    test_merged_callback();
    test_task_and_close();
    test_calls();
    return cf_test_done();
}
