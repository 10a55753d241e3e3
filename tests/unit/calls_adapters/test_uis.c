/*
 * The UIS / CoMagic adapter. The notification bodies, as customers'
 * templates produce them (UIS's "Уведомления о событиях" help page,
 * Planfix's CoMagic/CallGear templates, a filled body in public code, and
 * our own templates with guessed notification_mnemonic values, marked as
 * guesses), are files in tests/fixtures/calls/uis/, each with its source
 * and confidence, run by test_fixture_files. Here stay the tables made at
 * run time (mnemonic guesses, English names, durations out of range),
 * the token, malformed bodies, a fixture with members added, a retry and
 * the reply.
 * There is no signature to compute vectors for: UIS signs nothing; the
 * channel's URL token is compared in constant time.
 */
#include "fixture_calls.h"
#include "common/err.h"

#define TOKEN "tok-uis-0001"

/* The fixtures' channel (the demo channel with tests/fixtures/calls/uis/
 * channel.json: this test's token); names its field_map omits take the
 * adapter's defaults. */
static json_t *j_channel;

static void run_raw(struct fx *r, const char *method, const char *token, const char *body,
                    json_t *channel)
{
    fx_init(r, method, "https://calls.example/v1/hooks/calls/uis/demo-uis", json_incref(channel));
    fx_set(r->query, "token", token);
    fx_body(r, body, "application/json");
    fx_run(r, &calls_adapter_uis);
}

static void run(struct fx *r, const char *body)
{
    run_raw(r, "POST", TOKEN, body, j_channel);
}

/* The body of the fixture call_finished, read in main. */
static struct fixture_request fx_finished;
static const char *call_finished;

/* --- guessed mnemonic forms are matched on their stems --- */
static void test_mnemonic_guesses(void)
{
    struct fx r;

    /* guessed mnemonic forms are matched on their stems */
    static const char *const guesses[][2] = {
        {"call_answered", "answered"},      {"talk_started", "answered"},
        {"call_session_finished", "ended"}, {"lost_call", "ended"},
        {"in_call_session", "started"},     {"call_record_ready", "updated"},
        {"call_connected", "answered"},
    };
    for (size_t i = 0; i < sizeof(guesses) / sizeof(guesses[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"notification_mnemonic\":\"%s\",\"call_session_id\":5,"
                 "\"notification_time\":\"2026-11-20 12:00:00\"}",
                 guesses[i][0]);
        run(&r, body);
        CHECK_INT(r.parse_rc, 0);
        CHECK_STR(fact_str(r.facts, "event"), guesses[i][1]);
        fx_free(&r);
    }
}

/* --- Planfix's English template names (its CallGear set-up page) --- */
static void test_english_names(void)
{
    struct fx r;
    static const char *const names[][2] = {
        {"Inbound call on a virtual phone number", "started"},
        {"Waiting for the answer", "started"}, /* an employee's phone rings */
        {"Talk started", "answered"},
        {"Call finished", "ended"},
        {"Lost call", "ended"},
        {"Call recording completed", "updated"},
        {"Outbound call", "started"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"notification_name\":\"%s\",\"notification_mnemonic\":null,"
                 "\"call_session_id\":31,\"virtual_phone_number\":\"74990000301\","
                 "\"contact_phone_number\":\"79161234567\",\"notification_time\":"
                 "\"2026-11-20 12:00:00\"}",
                 names[i][0]);
        run(&r, body);
        CHECK_INT(r.parse_rc, 0);
        CHECK_INT(json_array_size(r.facts), 1);
        CHECK_STR(fact_str(r.facts, "event"), names[i][1]);
        if (strcmp(names[i][0], "Outbound call") == 0) {
            CHECK_STR(fact_str(r.facts, "direction"), "outbound");
            CHECK_STR(fact_str(r.facts, "to"), "79161234567");
        } else if (strcmp(names[i][1], "started") == 0) {
            CHECK_STR(fact_str(r.facts, "direction"), "inbound");
        }
        fx_free(&r);
    }
}

static void test_auth(void)
{
    struct fx r;

    run_raw(&r, "POST", "tok-uis-0002", call_finished, j_channel);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    CHECK(strstr(r.verify_err, TOKEN) == NULL);
    fx_free(&r);

    run_raw(&r, "POST", NULL, call_finished, j_channel);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    CHECK(strstr(r.verify_err, "missing") != NULL);
    fx_free(&r);

    /* a token in the body does not count */
    run_raw(&r, "POST", NULL, "{\"token\":\"" TOKEN "\"}", j_channel);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    fx_free(&r);
}

static void test_garbage(void)
{
    struct fx r;
    static const char *const bad[] = {
        "{not json",
        "[1,2,3]",
        "\"ended\"",
        /* a call notification without the call id: a template that lost it */
        "{\"notification_name\":\"Завершение звонка\",\"notification_time\":\"2026-11-20 "
        "12:00:00\"}",
        "{\"notification_mnemonic\":\"ended\",\"call_session_id\":1,"
        "\"notification_time\":\"yesterday\"}",
        "{\"notification_mnemonic\":\"ended\",\"call_session_id\":1,"
        "\"notification_time\":\"2026-11-20 12:00:00\",\"start_time\":\"2026-13-45 99:00:00\"}",
        /* Unix times past the year 9999 (one would overflow in ms) */
        "{\"notification_mnemonic\":\"ended\",\"call_session_id\":1,"
        "\"notification_time\":10000000000000000}",
        "{\"notification_mnemonic\":\"ended\",\"call_session_id\":1,"
        "\"notification_time\":\"999999999999\"}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run(&r, bad[i]);
        fx_check_invalid(&r, i, bad[i]);
        fx_free(&r);
    }
}

/* Durations out of any call's range are left out, not stored: a day at
 * most, as on the generic route (1e30 would be undefined as an integer). */
static void test_durations_out_of_range(void)
{
    static const char *const durations[] = {"99999999999", "1e30",         "-5",
                                            "\"100000\"",  "\"99:00:00\"", "86401"};
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        char body[512];
        struct fx r;
        snprintf(body, sizeof(body),
                 "{\"notification_mnemonic\":\"ended\",\"call_session_id\":7,"
                 "\"notification_time\":\"2026-11-20 12:00:00\",\"contact_phone_number\":"
                 "\"79161234567\",\"virtual_phone_number\":\"74950000304\","
                 "\"talk_time_duration\":%s,\"wait_time_duration\":86400}",
                 durations[i]);
        run(&r, body);
        CHECK_INT(r.parse_rc, 0);
        CHECK(!fact_has(r.facts, "talk_seconds"));
        CHECK_INT(fact_int(r.facts, "ring_seconds"), 86400);
        fx_free(&r);
    }
}

static void test_tolerant(void)
{
    struct fx r;
    char body[2048];

    /* unknown members, nested and odd ones, are ignored */
    snprintf(body, sizeof(body), "{\"brand_new\":{\"a\":[1,{}]},\"visitor_country\":\"RU\",%s",
             call_finished + 1);
    run(&r, body);
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "event_key"), "998677427:ended");
    fx_free(&r);
}

static void test_retry(void)
{
    struct fx a, b;

    run(&a, call_finished);
    run(&b, call_finished);
    CHECK(json_equal(a.facts, b.facts));
    fx_free(&a);
    fx_free(&b);
}

static void test_reply(void)
{
    struct fx r;

    run(&r, call_finished);
    fx_check_reply(&r, &calls_adapter_uis, NULL, "uis", NULL, "");
    CHECK(calls_adapter_uis.precheck == NULL);
    fx_free(&r);
}

/* Every case in tests/fixtures/calls/uis/. */
static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("uis", &calls_adapter_uis, &cases), 0);
    CHECK(cases > 0);
}

int main(void)
{
    test_fixture_files(); /* first: an empty directory fails before any load */
    j_channel = fixture_channel("uis");
    fixture_request_load("uis", "call_finished", &fx_finished);
    call_finished = fx_finished.body;
    test_mnemonic_guesses();
    test_english_names();
    test_auth();
    test_garbage();
    test_durations_out_of_range();
    test_tolerant();
    test_retry();
    test_reply();
    fixture_request_free(&fx_finished);
    json_decref(j_channel);
    return cf_test_done();
}
