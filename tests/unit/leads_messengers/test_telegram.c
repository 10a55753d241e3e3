/*
 * The Telegram adapter as pure functions. The updates (documented Bot API
 * objects, each file naming its source and confidence) are in
 * tests/fixtures/leads/telegram/, run by test_fixture_files. Here stay the
 * cases that change a request at run time: a retry keeps its key, a secret
 * that differs in its last byte or length, a channel without a secret, and
 * the adapter's table entry.
 */
#include "fixture_leads.h"
#include "common/err.h"

static struct fixture_request text_message;

static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("telegram", &leads_adapter_telegram, &cases), 0);
    CHECK(cases >= 15);
}

/* Telegram redelivers an update it got no 2xx for with the same
 * update_id: the same fact, whenever it arrives. */
static void test_retry_same_key(void)
{
    json_t *facts[2];

    for (int i = 0; i < 2; i++) {
        struct fx x;
        char err[128];
        const char *field = NULL;
        fixture_fx_init(&x, &text_message, fixture_channel("telegram"));
        x.h.received_ms = 1795165265000LL + (int64_t)i * 90000;
        CHECK_INT(leads_adapter_telegram.verify(&x.h, err, sizeof(err)), 0);
        CHECK_INT(leads_adapter_telegram.parse(&x.h, x.facts, &field, err, sizeof(err)), 0);
        facts[i] = json_incref(x.facts);
        fx_free(&x);
    }
    CHECK_INT(json_array_size(facts[0]), 1);
    CHECK(json_equal(facts[0], facts[1]));
    CHECK_STR(cf_hook_str(json_array_get(facts[0], 0), "event_key"), "700000101");
    json_decref(facts[0]);
    json_decref(facts[1]);
}

static int verify_with(const char *secret_header, json_t *channel)
{
    struct fx x;
    char err[128] = "";

    fixture_fx_init(&x, &text_message, channel);
    if (secret_header)
        json_object_set_new(x.headers, "x-telegram-bot-api-secret-token",
                            json_string(secret_header));
    else
        json_object_del(x.headers, "x-telegram-bot-api-secret-token");
    int rc = leads_adapter_telegram.verify(&x.h, err, sizeof(err));
    CHECK(rc == 0 || (err[0] && !strstr(err, "demo-telegram-secret")));
    fx_free(&x);
    return rc;
}

static void test_secret(void)
{
    CHECK_INT(verify_with("demo-telegram-secret-0001", fixture_channel("telegram")), 0);
    CHECK_INT(verify_with("demo-telegram-secret-0002", fixture_channel("telegram")), CF_EAUTH);
    CHECK_INT(verify_with("demo-telegram-secret-000", fixture_channel("telegram")), CF_EAUTH);
    CHECK_INT(verify_with("demo-telegram-secret-00011", fixture_channel("telegram")), CF_EAUTH);
    CHECK_INT(verify_with("", fixture_channel("telegram")), CF_EAUTH);
    CHECK_INT(verify_with(NULL, fixture_channel("telegram")), CF_EAUTH);
    /* a channel without the credential accepts nothing, not even an empty header */
    json_t *channel = fixture_channel("telegram");
    json_object_del(json_object_get(channel, "credentials"), "secret_token");
    CHECK_INT(verify_with("", channel), CF_EAUTH);
}

static void test_table(void)
{
    CHECK_STR(leads_adapter_telegram.provider, "telegram");
    CHECK(leads_adapter_telegram.precheck == NULL);
    /* Telegram holds a chat's later updates back while one fails */
    CHECK_INT(leads_adapter_telegram.never_refuse, 1);
}

int main(void)
{
    test_fixture_files();
    fixture_request_load("telegram", "text_message", &text_message);
    test_retry_same_key();
    test_secret();
    test_table();
    fixture_request_free(&text_message);
    return cf_test_done();
}
