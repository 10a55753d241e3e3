/*
 * The Tilda adapter as pure functions. The payloads (the test request, a
 * submission urlencoded and as JSON, its retry, no contact, the URL token
 * and the optional API key, the honeypot) are files in
 * tests/fixtures/leads/tilda/, each with its source and confidence, run by
 * test_fixture_files. Here stay the answers: what Tilda is told, that a
 * refused submission is still answered "ok", and a retry's key.
 */
#include "fixture_leads.h"
#include "common/err.h"

#define URL                                                                                        \
    "https://leads.example.com/v1/hooks/leads/tilda/demo-tilda?token=demo-tilda-url-token-0001"

static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("tilda", &leads_adapter_tilda, &cases), 0);
    CHECK(cases > 0);
}

/* Tilda is answered 200 "ok" to everything, a form with no person too
 * (never_refuse): it marks a refused submission as failed and retries it. */
static void test_reply(void)
{
    struct fx x;

    fx_init(&x, "POST", URL, fx_demo_channel("demo-tilda"));
    fx_check_reply(&x, &leads_adapter_tilda, "application/json", "tilda", NULL, "ok");
    CHECK_INT(leads_adapter_tilda.never_refuse, 1);
    fx_free(&x);
}

/* The test request is answered before anything else, and only it: a
 * submission that happens to have a "test" field is a submission. */
static void test_precheck(void)
{
    struct fx x;
    struct cf_hook_reply reply = {.status = 0, .content_type = "x", .body = "junk"};

    fx_init(&x, "POST", URL, fx_demo_channel("demo-tilda"));
    fx_body(&x, "test=test", "application/x-www-form-urlencoded");
    CHECK_INT(leads_adapter_tilda.precheck(&x.h, &reply), 1);
    CHECK_INT(reply.status, 200);
    CHECK_STR(reply.body, "ok");
    fx_free(&x);

    fx_init(&x, "POST", URL, fx_demo_channel("demo-tilda"));
    fx_body(&x, "test=test&Phone=%2B79161234567&tranid=1%3A2", "application/x-www-form-urlencoded");
    CHECK_INT(leads_adapter_tilda.precheck(&x.h, &reply), 0);
    fx_free(&x);

    fx_init(&x, "POST", URL, fx_demo_channel("demo-tilda"));
    fx_body(&x, "{\"test\":\"test\"}", "application/json");
    CHECK_INT(leads_adapter_tilda.precheck(&x.h, &reply), 1);
    fx_free(&x);
}

/* A retry carries the same tranid: the same event key whatever the
 * arrival time; two submissions, two keys. */
static void test_retry_key(void)
{
    const char *bodies[] = {"Phone=%2B79161234567&tranid=1111111%3A6161583731",
                            "Phone=%2B79161234567&tranid=1111111%3A6161583731",
                            "Phone=%2B79161234567&tranid=1111111%3A6161583799"};
    json_t *keys = json_array();
    int rc;

    for (size_t i = 0; i < 3; i++) {
        struct fx x;
        fx_init(&x, "POST", URL, fx_demo_channel("demo-tilda"));
        fx_body(&x, bodies[i], "application/x-www-form-urlencoded");
        x.h.received_ms = 1795165260000LL + (int64_t)i * 60000;
        json_t *facts = fx_parse_free(&x, &leads_adapter_tilda, &rc);
        CHECK_INT(rc, 0);
        json_array_append_new(keys, json_string(fact_str(facts, "event_key")));
        json_decref(facts);
    }
    CHECK_STR(json_string_value(json_array_get(keys, 0)), "1111111:6161583731");
    CHECK(json_equal(json_array_get(keys, 0), json_array_get(keys, 1)));
    CHECK(!json_equal(json_array_get(keys, 0), json_array_get(keys, 2)));
    json_decref(keys);
}

/* A body that says JSON and is not is no Tilda format: 400 material, which
 * hooks.c turns into "ok" for Tilda. */
static void test_garbage(void)
{
    struct fx x;
    int rc;

    fx_init(&x, "POST", URL, fx_demo_channel("demo-tilda"));
    fx_body(&x, "{\"Name\":", "application/json");
    json_t *facts = fx_parse_free(&x, &leads_adapter_tilda, &rc);
    CHECK_INT(rc, CF_EINVAL);
    CHECK_INT(json_array_size(facts), 0);
    json_decref(facts);
}

int main(void)
{
    test_fixture_files(); /* first: an empty directory fails before any load */
    test_reply();
    test_precheck();
    test_retry_key();
    test_garbage();
    return cf_test_done();
}
