/*
 * The VK adapter as pure functions. The events (VK's schema and pages,
 * each file naming its source and confidence) are in
 * tests/fixtures/leads/vk/, run by test_fixture_files. Here: a retry with
 * X-Retry-Counter gives exactly the first delivery's fact, a secret that
 * differs in length or one byte, a body that is no JSON, and the table.
 */
#include "fixture_leads.h"
#include "common/err.h"

static struct fixture_request message_new, message_new_retry;

static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("vk", &leads_adapter_vk, &cases), 0);
    CHECK(cases >= 14);
}

static void test_retry_same_key(void)
{
    json_t *a = NULL, *b = NULL;

    CHECK(cf_hook_str(message_new_retry.j_headers, "x-retry-counter") != NULL);
    CHECK_INT(fx_verify_parse(&leads_adapter_vk, &message_new, NULL, fixture_channel("vk"),
                              1795165265000LL, &a),
              0);
    CHECK_INT(fx_verify_parse(&leads_adapter_vk, &message_new_retry, NULL, fixture_channel("vk"),
                              1795165325000LL, &b),
              0);
    CHECK_INT(json_array_size(a), 1);
    CHECK(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static int verify_secret(const char *want)
{
    json_t *channel = fixture_channel("vk"), *facts = NULL;

    json_object_set_new(json_object_get(channel, "credentials"), "secret", json_string(want));
    int rc = fx_verify_parse(&leads_adapter_vk, &message_new, NULL, channel, 0, &facts);
    json_decref(facts);
    return rc;
}

static void test_secret(void)
{
    json_t *facts = NULL;

    CHECK_INT(verify_secret("demo-vk-secret-0001"), 0);
    CHECK_INT(verify_secret("demo-vk-secret-0002"), CF_EAUTH);
    CHECK_INT(verify_secret("demo-vk-secret-000"), CF_EAUTH);
    CHECK_INT(verify_secret("demo-vk-secret-00011"), CF_EAUTH);
    /* a body that is no JSON has no secret */
    CHECK_INT(fx_verify_parse(&leads_adapter_vk, &message_new, "secret=demo-vk-secret-0001",
                              fixture_channel("vk"), 0, &facts),
              CF_EAUTH);
    json_decref(facts);
    /* a channel without the credential accepts nothing */
    json_t *channel = fixture_channel("vk");
    json_object_del(json_object_get(channel, "credentials"), "secret");
    CHECK_INT(fx_verify_parse(&leads_adapter_vk, &message_new, NULL, channel, 0, &facts), CF_EAUTH);
    json_decref(facts);
}

static void test_table(void)
{
    CHECK_STR(leads_adapter_vk.provider, "vk");
    CHECK(leads_adapter_vk.precheck != NULL);
    /* VK pauses a server that keeps answering errors */
    CHECK_INT(leads_adapter_vk.never_refuse, 1);
}

int main(void)
{
    test_fixture_files();
    fixture_request_load("vk", "message_new", &message_new);
    fixture_request_load("vk", "message_new_retry", &message_new_retry);
    test_retry_same_key();
    test_secret();
    test_table();
    fixture_request_free(&message_new);
    fixture_request_free(&message_new_retry);
    return cf_test_done();
}
