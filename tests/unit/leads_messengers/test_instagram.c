/*
 * The Instagram adapter as pure functions (Meta's handshake and signature
 * are meta.c's, tested in depth by test_whatsapp.c). The notifications are
 * in tests/fixtures/leads/instagram/, run by test_fixture_files; here a
 * retry keeps its key, a channel naming its account takes no other's, and
 * the adapter's table entry.
 */
#include "fixture_leads.h"
#include "common/err.h"

static struct fixture_request text_message;

static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("instagram", &leads_adapter_instagram, &cases), 0);
    CHECK(cases >= 9);
}

static void test_retry_same_key(void)
{
    json_t *a = NULL, *b = NULL;

    CHECK_INT(fx_verify_parse(&leads_adapter_instagram, &text_message, NULL,
                              fixture_channel("instagram"), 1795165265000LL, &a),
              0);
    CHECK_INT(fx_verify_parse(&leads_adapter_instagram, &text_message, NULL,
                              fixture_channel("instagram"), 1795168865000LL, &b),
              0);
    CHECK_INT(json_array_size(a), 1);
    CHECK(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

/* A channel that names its account takes only that account's messages. */
static void test_own_account(void)
{
    static const char *const ids[] = {"17841400000000001", "17841400000000002"};
    for (int i = 0; i < 2; i++) {
        struct fx x;
        json_t *channel = fixture_channel("instagram");
        json_object_set_new(json_object_get(channel, "credentials"), "account_id",
                            json_string(ids[i]));
        fixture_fx_init(&x, &text_message, channel);
        x.h.received_ms = 1795165265000LL;
        CHECK_INT(fx_verify(&x, &leads_adapter_instagram, NULL), 0);
        CHECK_INT(fx_parse(&x, &leads_adapter_instagram), 0);
        CHECK_INT(json_array_size(x.facts), i == 0 ? 1 : 0);
        if (i == 1)
            CHECK_STR(x.notes.detail, "another_account");
        fx_free(&x);
    }
}

static void test_table(void)
{
    CHECK_STR(leads_adapter_instagram.provider, "instagram");
    CHECK(leads_adapter_instagram.precheck != NULL);
    CHECK_INT(leads_adapter_instagram.never_refuse, 1);
}

int main(void)
{
    test_fixture_files();
    fixture_request_load("instagram", "text_message", &text_message);
    test_retry_same_key();
    test_own_account();
    test_table();
    fixture_request_free(&text_message);
    return cf_test_done();
}
