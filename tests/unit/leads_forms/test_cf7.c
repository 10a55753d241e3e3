/*
 * The Contact Form 7 adapter ("CF7 to Webhook" posts) as pure functions.
 * The payloads (the default form with a tel field, a field map, GET, no
 * contact, a wrong token, bodies that are not JSON) are files in
 * tests/fixtures/leads/cf7/, run by test_fixture_files. Here stay the
 * reply, the event key of a resent submission (the add-on gives no id)
 * and the honeypot.
 */
#include "fixture_leads.h"
#include "common/err.h"

#define URL "https://leads.example.com/v1/hooks/leads/cf7/demo-cf7?token=demo-cf7-url-token-0001"

static json_t *channel(void)
{
    return fixture_channel("cf7");
}

static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("cf7", &leads_adapter_cf7, &cases), 0);
    CHECK(cases > 0);
}

static void test_reply(void)
{
    struct fx x;

    fx_init(&x, "POST", URL, channel());
    fx_check_reply(&x, &leads_adapter_cf7, NULL, "cf7", "application/json", "{}");
    /* the add-on never retries and mails the owner a failure: a 400 is
     * the honest answer to a form with nobody in it */
    CHECK_INT(leads_adapter_cf7.never_refuse, 0);
    CHECK(leads_adapter_cf7.precheck == NULL);
    fx_free(&x);
}

/* The event key is the fields' digest: the same fields in another order
 * or spacing are the same submission; another value is another. */
static void test_resent_key(void)
{
    const char *bodies[] = {
        "{\"your-name\":\"Anna\",\"your-email\":\"anna@example.com\"}",
        "{ \"your-email\" : \"anna@example.com\", \"your-name\" : \"Anna\" }",
        "{\"your-name\":\"Anna\",\"your-email\":\"anna2@example.com\"}",
    };
    json_t *keys = json_array();
    int rc;

    for (size_t i = 0; i < 3; i++) {
        struct fx x;
        fx_init(&x, "POST", URL, channel());
        fx_body(&x, bodies[i], "application/json; charset=UTF-8");
        json_t *facts = fx_parse_free(&x, &leads_adapter_cf7, &rc);
        CHECK_INT(rc, 0);
        json_array_append_new(keys, json_string(fact_str(facts, "event_key")));
        json_decref(facts);
    }
    CHECK_INT(strlen(json_string_value(json_array_get(keys, 0))), 64);
    CHECK(json_equal(json_array_get(keys, 0), json_array_get(keys, 1)));
    CHECK(!json_equal(json_array_get(keys, 0), json_array_get(keys, 2)));
    json_decref(keys);
}

/* A filled honeypot is a bot: acknowledged, nothing recorded; an empty
 * one is a person. */
static void test_honeypot(void)
{
    struct fx x;
    int rc;

    fx_init(&x, "POST", URL, channel());
    json_object_set_new(x.channel, "honeypot", json_string("your-website"));
    fx_body(&x, "{\"your-email\":\"bot@example.com\",\"your-website\":\"http://spam\"}",
            "application/json");
    json_t *facts = fx_parse_free(&x, &leads_adapter_cf7, &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 0);
    CHECK_STR(fx_last_notes.ignored, "honeypot");
    json_decref(facts);

    fx_init(&x, "POST", URL, channel());
    json_object_set_new(x.channel, "honeypot", json_string("your-website"));
    fx_body(&x, "{\"your-email\":\"anna@example.com\",\"your-website\":\"  \"}",
            "application/json");
    facts = fx_parse_one(&x, &leads_adapter_cf7);
    CHECK_STR(fact_str(facts, "email"), "anna@example.com");
    json_decref(facts);
}

/* Values as forms send them: a checkbox's array joined, an unticked
 * consent spelt "0" or "no", a blank field absent, names in other case,
 * numbers as text. */
static void test_values(void)
{
    struct fx x;

    fx_init(&x, "POST", URL, channel());
    json_object_set_new(x.channel, "field_map",
                        json_pack("{s:s, s:s, s:s}", "service", "menu-service", "consent",
                                  "acceptance-1", "phone", "phone-number"));
    fx_body(
        &x,
        "{\"YOUR-EMAIL\":\"anna@example.com\",\"menu-service\":[\"Cleaning\",\"\",\"Whitening\"],"
        "\"acceptance-1\":\"0\",\"your-name\":\"   \",\"phone-number\":79161234567}",
        "application/json");
    json_t *facts = fx_parse_one(&x, &leads_adapter_cf7);
    CHECK_STR(fact_str(facts, "email"), "anna@example.com");
    CHECK_STR(fact_str(facts, "service"), "Cleaning, Whitening");
    CHECK(json_is_false(json_object_get(json_array_get(facts, 0), "consent")));
    CHECK(!fact_has(facts, "name"));
    CHECK_STR(fact_str(facts, "phone"), "79161234567");
    json_decref(facts);
}

int main(void)
{
    test_fixture_files();
    test_reply();
    test_resent_key();
    test_honeypot();
    test_values();
    return cf_test_done();
}
