/*
 * A visit's reminder history (history_rules.c): the bodies are written
 * here from the route's documentation in services/reminders/README.md.
 * The visit starts at 2026-11-20T10:00:00Z; "now" is a day later.
 */
#include "history_testable.h"

#include <stdio.h>
#include <string.h>

#include "cftest.h"
#include "common/err.h"
#include "common/time.h"

static int64_t visit_ms, now_ms;

/* The field body is refused for ("" when taken); the stored history into
 * *out when asked. */
static void refused(const char *text, const char *want_field, json_t **out)
{
    char field[80] = "", errbuf[256] = "";
    json_error_t jerr;
    json_t *history = NULL, *j = json_loads(text, 0, &jerr);
    if (!j)
        fprintf(stderr, "bad test JSON: %s: %s\n", text, jerr.text);
    int rc =
        history_parse(j, visit_ms, now_ms, &history, field, sizeof(field), errbuf, sizeof(errbuf));
    CHECK_INT(rc != 0, want_field[0] != '\0');
    CHECK_STR(rc != 0 ? field : "", want_field);
    CHECK((rc == 0) == (history != NULL));
    if (rc != 0 && errbuf[0] == '\0')
        CHECK(!"a refusal says why");
    if (out)
        *out = history;
    else
        json_decref(history);
    json_decref(j);
}

#define CALL(at, outcome)                                                                          \
    "{\"channel\": \"call\", \"at\": \"" at "\", \"outcome\": \"" outcome "\"}"
#define BODY(sends) "{\"gateway\": \"robot-1\", \"sends\": [" sends "]}"

static void test_refusals(void)
{
    refused(BODY(CALL("2026-11-19T10:00:00Z", "confirmed")), "", NULL);
    /* strict: unknown members, missing ones, wrong types */
    refused("{\"sends\": []}", "gateway", NULL);
    refused("{\"gateway\": \"robot\"}", "sends", NULL);
    refused("{\"gateway\": \"robot\", \"sends\": []}", "sends", NULL);
    refused("{\"gateway\": \"Robot One\", \"sends\": [" CALL("2026-11-19T10:00:00Z", "busy") "]}",
            "gateway", NULL);
    refused("{\"gateway\": \"robot\", \"sends\": [" CALL("2026-11-19T10:00:00Z",
                                                         "busy") "], \"note\": 1}",
            "note", NULL);
    refused(BODY("3"), "sends[0]", NULL);
    refused(BODY("{\"channel\": \"fax\", \"at\": \"2026-11-19T10:00:00Z\", \"outcome\": \"busy\"}"),
            "sends[0].channel", NULL);
    refused(BODY("{\"channel\": \"call\", \"outcome\": \"busy\"}"), "sends[0].at", NULL);
    refused(BODY("{\"channel\": \"call\", \"at\": \"yesterday\", \"outcome\": \"busy\"}"),
            "sends[0].at", NULL);
    refused(BODY("{\"channel\": \"call\", \"at\": \"2026-11-19T10:00:00Z\", \"outcome\": "
                 "\"busy\", \"tone\": 1}"),
            "sends[0].tone", NULL);
    /* this service's own outcomes and the patient's consents are not a
     * history's */
    refused(BODY(CALL("2026-11-19T10:00:00Z", "skipped")), "sends[0].outcome", NULL);
    refused(BODY(CALL("2026-11-19T10:00:00Z", "unknown")), "sends[0].outcome", NULL);
    refused(BODY(CALL("2026-11-19T10:00:00Z", "opt_out_calls")), "sends[0].outcome", NULL);
    /* each send of its channel */
    refused(BODY(CALL("2026-11-19T10:00:00Z", "sms_delivered")), "sends[0].outcome", NULL);
    refused(BODY("{\"channel\": \"sms\", \"at\": \"2026-11-19T10:00:00Z\", \"outcome\": "
                 "\"no_answer\"}"),
            "sends[0].outcome", NULL);
    refused(BODY("{\"channel\": \"sms\", \"at\": \"2026-11-19T10:00:00Z\", \"outcome\": "
                 "\"sms_delivered\", \"duration_s\": 5}"),
            "sends[0].duration_s", NULL);
    refused(BODY("{\"channel\": \"call\", \"at\": \"2026-11-19T10:00:00Z\", \"outcome\": "
                 "\"confirmed\", \"sms\": {\"segments\": 1, \"cost_minor\": 350, \"currency\": "
                 "\"RUB\"}}"),
            "sends[0].sms", NULL);
    refused(BODY("{\"channel\": \"sms\", \"at\": \"2026-11-19T10:00:00Z\", \"outcome\": "
                 "\"sms_delivered\", \"sms\": {\"segments\": 0, \"cost_minor\": 350, "
                 "\"currency\": \"RUB\"}}"),
            "sends[0].sms.segments", NULL);
    refused(BODY("{\"channel\": \"sms\", \"at\": \"2026-11-19T10:00:00Z\", \"outcome\": "
                 "\"sms_delivered\", \"sms\": {\"segments\": 1, \"cost_minor\": 350, "
                 "\"currency\": \"rub\"}}"),
            "sends[0].sms.currency", NULL);
    refused(BODY("{\"channel\": \"sms\", \"at\": \"2026-11-19T10:00:00Z\", \"outcome\": "
                 "\"sms_delivered\", \"sms\": {\"segments\": 1}}"),
            "sends[0].sms.cost_minor", NULL);
    refused(BODY(CALL("2026-11-19T10:00:00Z", "no_answer") ", {\"channel\": \"call\", \"at\": "
                                                           "\"2026-11-19T11:00:00Z\", \"outcome\": "
                                                           "\"confirmed\", \"duration_s\": -1}"),
            "sends[1].duration_s", NULL);
    /* before the visit, in the order they went out, none ahead of now */
    refused(BODY(CALL("2026-11-20T10:00:00Z", "confirmed")), "sends[0].at", NULL);
    refused(BODY(CALL("2026-11-19T10:00:00Z", "no_answer") "," CALL("2026-11-19T10:00:00Z",
                                                                    "confirmed")),
            "sends[1].at", NULL);
    refused(BODY(CALL("2026-11-19T11:00:00Z", "no_answer") "," CALL("2026-11-19T10:00:00Z",
                                                                    "confirmed")),
            "sends[1].at", NULL);
    const int64_t real_now = now_ms;
    now_ms = visit_ms - 3600000; /* a visit this early is refused by the route; the rule holds */
    refused(BODY(CALL("2026-11-20T09:30:00Z", "confirmed")), "sends[0].at", NULL);
    now_ms = real_now;
    /* at most the ladder's twelve rungs */
    char many[2048] = "{\"gateway\": \"robot\", \"sends\": [";
    for (int i = 0; i <= HISTORY_SENDS_MAX; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many),
                 "%s{\"channel\": \"call\", \"at\": \"2026-11-19T10:%02d:00Z\", \"outcome\": "
                 "\"busy\"}",
                 i ? ", " : "", i);
    strcat(many, "]}");
    refused(many, "sends", NULL);
}

static void test_stored_form(void)
{
    json_t *h = NULL;
    refused(BODY("{\"channel\": \"call\", \"at\": \"2026-11-19T13:00:00+03:00\", \"outcome\": "
                 "\"no_reply\", \"duration_s\": 9},"
                 "{\"outcome\": \"sms_delivered\", \"channel\": \"sms\", \"at\": "
                 "\"2026-11-19T11:00:00.250Z\", \"sms\": {\"currency\": \"RUB\", \"segments\": 2, "
                 "\"cost_minor\": 700}}"),
            "", &h);
    if (!h)
        return;
    CHECK_STR(json_string_value(json_object_get(h, "gateway")), "robot-1");
    const json_t *sends = json_object_get(h, "sends");
    CHECK_INT((long)json_array_size(sends), 2);
    const json_t *s0 = json_array_get(sends, 0), *s1 = json_array_get(sends, 1);
    /* times in UTC with milliseconds, as events write them */
    CHECK_STR(json_string_value(json_object_get(s0, "at")), "2026-11-19T10:00:00.000Z");
    CHECK_STR(json_string_value(json_object_get(s1, "at")), "2026-11-19T11:00:00.250Z");
    CHECK_INT((long)json_integer_value(json_object_get(s0, "duration_s")), 9);
    CHECK(json_object_get(s0, "sms") == NULL);
    CHECK_INT((long)json_integer_value(json_object_get(json_object_get(s1, "sms"), "segments")), 2);
    CHECK_INT((long)json_object_size(s1), 4);
    /* the same history written otherwise is the same stored history */
    json_t *again = NULL;
    refused(
        "{\"sends\": [{\"at\": \"2026-11-19T10:00:00Z\", \"channel\": \"call\", \"duration_s\": "
        "9, \"outcome\": \"no_reply\"}, {\"channel\": \"sms\", \"at\": "
        "\"2026-11-19T14:00:00.250+03:00\", \"outcome\": \"sms_delivered\", \"sms\": "
        "{\"segments\": 2, \"cost_minor\": 700, \"currency\": \"RUB\"}}], \"gateway\": "
        "\"robot-1\"}",
        "", &again);
    CHECK(again && json_equal(h, again));
    json_decref(again);
    /* a null member is an absent one, as everywhere in our APIs: an
     * exporter's empty columns */
    again = NULL;
    refused(BODY("{\"channel\": \"call\", \"at\": \"2026-11-19T10:00:00Z\", \"outcome\": "
                 "\"no_reply\", \"duration_s\": 9, \"sms\": null},"
                 "{\"outcome\": \"sms_delivered\", \"channel\": \"sms\", \"at\": "
                 "\"2026-11-19T11:00:00.250Z\", \"duration_s\": null, \"sms\": {\"currency\": "
                 "\"RUB\", \"segments\": 2, \"cost_minor\": 700}}"),
            "", &again);
    CHECK(again && json_equal(h, again));
    json_decref(again);
    json_decref(h);
}

static const char *status_of(const char *text, size_t i)
{
    static char buf[32];
    json_t *j = json_loads(text, 0, NULL);
    const char *s = history_status(j, i);
    snprintf(buf, sizeof(buf), "%s", s ? s : "-");
    json_decref(j);
    return buf;
}

static const char *final_of(const char *text)
{
    static char buf[32];
    json_t *j = json_loads(text, 0, NULL);
    const char *s = history_final_status(j);
    snprintf(buf, sizeof(buf), "%s", s ? s : "-");
    json_decref(j);
    return buf;
}

static void test_statuses(void)
{
#define O(o) "{\"outcome\": \"" o "\"}"
    /* the patient's answer sets the status on its send */
    CHECK_STR(status_of("[" O("confirmed") "]", 0), "confirmed");
    CHECK_STR(status_of("[" O("no_answer") "," O("declined") "]", 0), "-");
    CHECK_STR(status_of("[" O("no_answer") "," O("declined") "]", 1), "declined");
    CHECK_STR(status_of("[" O("reschedule") "]", 0), "reschedule_requested");
    /* nobody answered: the last send ends it not_confirmed, as the ladder does */
    CHECK_STR(status_of("[" O("no_answer") "," O("sms_delivered") "]", 0), "-");
    CHECK_STR(status_of("[" O("no_answer") "," O("sms_delivered") "]", 1), "not_confirmed");
    /* an answer before it: a later SMS sets nothing */
    CHECK_STR(status_of("[" O("confirmed") "," O("sms_delivered") "]", 1), "-");
    CHECK_STR(final_of("[" O("confirmed") "," O("sms_delivered") "]"), "confirmed");
    CHECK_STR(final_of("[" O("busy") "," O("sms_failed") "]"), "not_confirmed");
    CHECK_STR(final_of("[" O("confirmed") "," O("no_answer") "," O("declined") "]"), "declined");
#undef O
}

static struct cf_clinic clinics[] = {{.id = "demo-center"}, {.id = "demo-north"}};
static const struct cf_network net = {
    .id = "demo", .secret = "test-secret", .clinics = clinics, .nclinics = 2};

/* The field a recall body is refused for ("" when taken). */
static void recall_refused(const char *text, const char *want_field, json_t **out)
{
    char field[80] = "", errbuf[256] = "";
    int64_t asked = 0;
    json_t *history = NULL, *j = json_loads(text, 0, NULL);
    int rc = history_parse_recall(j, &net, now_ms, &history, &asked, field, sizeof(field), errbuf,
                                  sizeof(errbuf));
    CHECK_INT(rc != 0, want_field[0] != '\0');
    CHECK_STR(rc != 0 ? field : "", want_field);
    CHECK((rc == 0) == (history != NULL));
    if (out)
        *out = history;
    else
        json_decref(history);
    json_decref(j);
}

#define RECALL(extra)                                                                              \
    "{\"gateway\": \"robot\", \"clinic_id\": \"demo-north\", \"asked_at\": "                       \
    "\"2026-11-10T11:00:00+03:00\", \"holdout_percent\": 10" extra "}"
#define SMS(at, outcome) "{\"channel\": \"sms\", \"at\": \"" at "\", \"outcome\": \"" outcome "\"}"

static void test_recall(void)
{
    json_t *h = NULL;
    recall_refused(RECALL(", \"group\": \"target\", \"sends\": [" SMS(
                       "2026-11-10T08:00:00Z", "sms_delivered") "," SMS("2026-11-10T09:00:00Z",
                                                                        "confirmed") "]"),
                   "", &h);
    if (h) {
        CHECK_STR(json_string_value(json_object_get(h, "asked_at")), "2026-11-10T08:00:00.000Z");
        CHECK_STR(json_string_value(json_object_get(h, "clinic_id")), "demo-north");
        CHECK_INT((long)json_array_size(json_object_get(h, "sends")), 2);
        CHECK_INT((long)json_integer_value(json_object_get(h, "holdout_percent")), 10);
        json_decref(h);
    }
    /* the holdout: asked nothing, and no sends */
    recall_refused(RECALL(", \"group\": \"holdout\""), "", NULL);
    recall_refused(RECALL(", \"group\": \"holdout\", \"sends\": []"), "", NULL);
    recall_refused(RECALL(", \"group\": \"holdout\", \"sends\": [" SMS("2026-11-10T09:00:00Z",
                                                                       "sms_delivered") "]"),
                   "sends", NULL);
    /* the target: asked something, not before being asked */
    recall_refused(RECALL(", \"group\": \"target\""), "sends", NULL);
    recall_refused(RECALL(", \"group\": \"target\", \"sends\": [" SMS("2026-11-10T07:59:59Z",
                                                                      "sms_delivered") "]"),
                   "sends[0].at", NULL);
    recall_refused(RECALL(", \"group\": \"target\", \"sends\": [" SMS("2026-11-22T07:59:59Z",
                                                                      "sms_delivered") "]"),
                   "sends[0].at", NULL); /* after now */
    recall_refused(RECALL(", \"group\": \"target\", \"sends\": [" SMS("2026-11-10T09:00:00Z",
                                                                      "no_answer") "]"),
                   "sends[0].outcome", NULL);
    recall_refused(RECALL(", \"group\": \"maybe\""), "group", NULL);
    recall_refused(RECALL(", \"group\": \"holdout\", \"holdout_percent\": 60"), "holdout_percent",
                   NULL);
    recall_refused(
        "{\"gateway\": \"robot\", \"clinic_id\": \"elsewhere\", \"asked_at\": "
        "\"2026-11-10T11:00:00+03:00\", \"group\": \"holdout\", \"holdout_percent\": 10}",
        "clinic_id", NULL);
    recall_refused(
        "{\"gateway\": \"robot\", \"clinic_id\": \"demo-north\", \"asked_at\": "
        "\"2026-11-22T11:00:00+03:00\", \"group\": \"holdout\", \"holdout_percent\": 10}",
        "asked_at", NULL);
    recall_refused(RECALL(", \"group\": \"holdout\", \"note\": 1"), "note", NULL);
    /* one job per time the patient was asked */
    char a[CF_UUID_STR_LEN + 1], b[CF_UUID_STR_LEN + 1], c[CF_UUID_STR_LEN + 1];
    history_recall_job_id("244e1222-763e-56d9-9d00-10c45553ef28", 1000, a);
    history_recall_job_id("244e1222-763e-56d9-9d00-10c45553ef28", 2000, b);
    history_recall_job_id("244e1222-763e-56d9-9d00-10c45553ef28", 1000, c);
    CHECK(strcmp(a, b) != 0 && strcmp(a, c) == 0);
}

static void test_ids(void)
{
    char job[CF_UUID_STR_LEN + 1], job2[CF_UUID_STR_LEN + 1], s1[CF_UUID_STR_LEN + 1],
        s2[CF_UUID_STR_LEN + 1], again[CF_UUID_STR_LEN + 1];
    history_job_id("55c572a7-da4c-5401-8357-ecd67637b35e", job);
    history_job_id("244e1222-763e-56d9-9d00-10c45553ef28", job2);
    CHECK(cf_uuid_valid(job) && strcmp(job, job2) != 0);
    history_send_id(job, 1, s1);
    history_send_id(job, 2, s2);
    history_send_id(job, 1, again);
    CHECK(strcmp(s1, s2) != 0 && strcmp(s1, again) == 0 && strcmp(s1, job) != 0);
}

int main(void)
{
    cf_time_parse("2026-11-20T10:00:00Z", &visit_ms);
    now_ms = visit_ms + 86400000;
    test_refusals();
    test_stored_form();
    test_statuses();
    test_ids();
    test_recall();
    return cf_test_done();
}
