/*
 * The Sipuni adapter. The payloads, shaped like Sipuni's "События на АТС"
 * requests (its HTTP events articles) or taken from a public capture of
 * raw Sipuni webhooks, are files in tests/fixtures/calls/sipuni/, each
 * with its source and confidence, run by test_fixture_files. Here stay
 * the cases made at run time: the status table, the token, malformed
 * parameters, a fixture with fields added, and the time bounds of a
 * hang-up cut short. There is no signature to compute vectors for: Sipuni
 * signs nothing, and the channel's URL token is compared in constant time.
 */
#include "fixture_calls.h"
#include "common/err.h"

#define TOKEN "tok-sipuni-0001"

static json_t *j_channel;

/* Runs verify and parse over a request: GET with params in the query, or
 * POST with them as a form body. The query always carries the token
 * (token may be NULL). */
static void run(struct fx *r, const char *method, const char *token, const char *params)
{
    fx_init(r, method, "https://calls.example/v1/hooks/calls/sipuni/demo-sipuni",
            json_incref(j_channel));
    fx_set(r->query, "token", token);
    if (strcmp(method, "GET") == 0) {
        json_t *j_params = fx_form(params);
        json_object_update(r->query, j_params);
        json_decref(j_params);
    } else {
        fx_body(r, params, "application/x-www-form-urlencoded");
    }
    fx_run(r, &calls_adapter_sipuni);
}

/* The bodies of the fixtures in_start, in_answer and in_hangup (an
 * answered inbound call: ring on extension 201, answer, hangup), read in
 * main. */
static struct fixture_request fx_start, fx_answer, fx_hangup;
static const char *in_start, *in_answer, *in_hangup;

/* --- a hang-up's status to the outcome --- */
static void test_statuses(void)
{
    struct fx r;

    static const char *const st[][2] = {
        {"BUSY", "busy"},          {"CANCEL", "missed"},     {"CONGESTION", "failed"},
        {"CHANUNAVAIL", "failed"}, {"ANSWERED", "answered"}, {"SOMETHINGNEW", NULL},
    };
    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        char params[256];
        snprintf(params, sizeof(params),
                 "event=2&call_id=c%zu&src_type=1&src_num=79161234567&dst_type=1"
                 "&dst_num=74950000205&timestamp=1774373455&status=%s&last_called=201%%26202",
                 i, st[i][0]);
        run(&r, "POST", TOKEN, params);
        CHECK_INT(r.parse_rc, 0);
        /* only an answered call has an agent; ANSWERED is ANSWER's alias */
        if (st[i][1] && strcmp(st[i][1], "answered") == 0)
            CHECK_STR(fact_str(r.facts, "agent_id"), "202");
        else
            CHECK(!fact_has(r.facts, "agent_id"));
        if (st[i][1])
            CHECK_STR(fact_str(r.facts, "outcome"), st[i][1]);
        else
            CHECK(!fact_has(r.facts, "outcome"));
        fx_free(&r);
    }
}

/* --- authentication --- */
static void test_auth(void)
{
    struct fx r;

    run(&r, "POST", "tok-sipuni-0002", in_start);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    CHECK(strstr(r.verify_err, "wrong") != NULL);
    CHECK(strstr(r.verify_err, TOKEN) == NULL);
    fx_free(&r);

    run(&r, "POST", NULL, in_start);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    fx_free(&r);

    run(&r, "GET", "", in_start);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    fx_free(&r);

    /* a token in the form body does not count: the URL is the secret */
    char params[1024];
    snprintf(params, sizeof(params), "%s&token=%s", in_start, TOKEN);
    run(&r, "POST", NULL, params);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    fx_free(&r);

    json_t *j_saved = j_channel;
    j_channel = json_pack("{s:{}}", "credentials");
    run(&r, "POST", TOKEN, in_start);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    fx_free(&r);
    json_decref(j_channel);
    j_channel = j_saved;
}

/* --- not Sipuni's format at all --- */
static void test_garbage(void)
{
    struct fx r;
    static const char *const bad[] = {
        "event=abc&call_id=x&timestamp=1763629200", /* event not a number */
        "event=-1&call_id=x&timestamp=1763629200",
        "event=2&timestamp=1763629200",          /* no call_id */
        "call_id=x&timestamp=1763629200",        /* no event */
        "event=2&call_id=x&timestamp=yesterday", /* not Unix seconds */
        "event=2&call_id=x",                     /* no timestamp */
        "event=2&call_id=x&timestamp=0",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run(&r, "POST", TOKEN, bad[i]);
        fx_check_invalid(&r, i, bad[i]);
        fx_free(&r);
    }

    /* a JSON body: Sipuni sends URL-encoded parameters only */
    run(&r, "POST", TOKEN, "");
    fx_body(&r, "{\"event\":2}", "application/json");
    CHECK_INT(fx_parse(&r, &calls_adapter_sipuni), CF_EINVAL);
    fx_free(&r);
}

/* --- tolerance: the check on saving the settings, new fields, new events --- */
/* --- tolerance: new fields --- */
static void test_tolerant(void)
{
    struct fx r;
    char params[1200];

    snprintf(params, sizeof(params),
             "%s&roistat=abc&is_inner_call=0&brand_new_field=%%F0%%9F%%98%%80", in_answer);
    run(&r, "POST", TOKEN, params);
    CHECK_INT(r.parse_rc, 0);
    CHECK_INT(json_array_size(r.facts), 1);
    CHECK_STR(fact_str(r.facts, "event"), "answered");
    fx_free(&r);
}

/* A hang-up event whose body was cut short: "timestamp=17" where Sipuni
 * sent 1763629260, which reads as a call that ended in 1970. Shaped from
 * the event-2 fields of test_answered_inbound's source (doc.sipuni.com,
 * captured traffic), cut by hand. Sipuni may stop sending after an error
 * reply, so the adapter is one that keeps the event: the bounds leave the
 * 1970 time out (the end becomes the arrival) instead of refusing it; a
 * time within them is kept as it is. */
static void test_times_out_of_bounds(void)
{
    struct fx r;
    const char *field = NULL;
    const int64_t received = 1763629262000LL; /* 2 s after the real end */

    CHECK_INT(calls_adapter_sipuni.keep_on_bad_time, 1);
    run(&r, "POST", TOKEN,
        "event=2&call_id=1763629200.777&src_type=1&src_num=79161234567&dst_type=1"
        "&dst_num=74950000205&pbxdstnum=74950000205&status=NOANSWER"
        "&call_start_timestamp=1763629200&timestamp=17");
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "ended_at"), "1970-01-01T00:00:17.000Z");
    json_t *j_fact = json_array_get(r.facts, 0);
    CHECK_INT(calls_fact_bound_times(j_fact, received, 604800, 900, 0, &field), -1);
    CHECK_STR(field, "time");
    CHECK_INT(calls_fact_bound_times(j_fact, received, 604800, 900, 1, &field), 1);
    CHECK_STR(field, "time");
    CHECK_STR(fact_str(r.facts, "time"), "2025-11-20T09:01:02.000Z"); /* the arrival */
    CHECK(!fact_has(r.facts, "ended_at"));
    CHECK_STR(fact_str(r.facts, "started_at"), "2025-11-20T09:00:00.000Z"); /* in bounds */
    CHECK_INT(calls_fact_bound_times(j_fact, received, 604800, 900, 0, &field), 0);
    fx_free(&r);

    /* a start long before the arrival, an end ahead of it, a duration over
     * a day: each out of bounds */
    static const char *const bad[][2] = {
        {"{\"time\":\"2025-11-20T09:01:00Z\",\"started_at\":\"2025-11-01T09:00:00Z\"}",
         "started_at"},
        {"{\"time\":\"2025-11-20T09:01:00Z\",\"ended_at\":\"2025-11-20T10:01:00Z\"}", "ended_at"},
        {"{\"time\":\"2025-11-20T09:01:00Z\",\"talk_seconds\":86401}", "talk_seconds"},
        {"{\"time\":\"2025-11-20T09:01:00Z\",\"ring_seconds\":-1}", "ring_seconds"},
        {"{\"time\":\"2025-11-20T09:31:00Z\"}", "time"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i][0], 0, NULL);
        CHECK_INT(calls_fact_bound_times(j, received, 604800, 900, 0, &field), -1);
        CHECK_STR(field, bad[i][1]);
        CHECK_INT(calls_fact_bound_times(j, received, 604800, 900, 1, &field), 1);
        CHECK(!json_object_get(j, bad[i][1]) || strcmp(bad[i][1], "time") == 0);
        CHECK_INT(calls_fact_bound_times(j, received, 604800, 900, 0, &field), 0);
        json_decref(j);
    }
    /* within bounds: a day-long call ending at the arrival, a few minutes
     * of clock skew */
    json_t *j = json_loads("{\"time\":\"2025-11-20T09:05:00Z\",\"started_at\":"
                           "\"2025-11-19T09:05:00Z\",\"talk_seconds\":86400}",
                           0, NULL);
    CHECK_INT(calls_fact_bound_times(j, received, 604800, 900, 0, &field), 0);
    CHECK(field == NULL);
    json_decref(j);
}

static void test_reply(void)
{
    struct fx r;

    run(&r, "POST", TOKEN, in_hangup);
    fx_check_reply(&r, &calls_adapter_sipuni, NULL, "sipuni", "application/json",
                   "{\"success\":true}");
    CHECK(calls_adapter_sipuni.precheck == NULL);
    fx_free(&r);
}

/* Every case in tests/fixtures/calls/sipuni/. */
static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("sipuni", &calls_adapter_sipuni, &cases), 0);
    CHECK(cases > 0);
}

int main(void)
{
    test_fixture_files(); /* first: an empty directory fails before any load */
    j_channel = fixture_channel("sipuni");
    fixture_request_load("sipuni", "in_start", &fx_start);
    fixture_request_load("sipuni", "in_answer", &fx_answer);
    fixture_request_load("sipuni", "in_hangup", &fx_hangup);
    in_start = fx_start.body;
    in_answer = fx_answer.body;
    in_hangup = fx_hangup.body;
    test_statuses();
    test_auth();
    test_garbage();
    test_tolerant();
    test_times_out_of_bounds();
    test_reply();
    fixture_request_free(&fx_start);
    fixture_request_free(&fx_answer);
    fixture_request_free(&fx_hangup);
    json_decref(j_channel);
    return cf_test_done();
}
