/*
 * The Viber adapter as pure functions. The callbacks, with the SDKs' own
 * signature vector, are in tests/fixtures/leads/viber/, run by
 * test_fixture_files (signatures computed with python3 hmac). Here: a
 * retry keeps its key, one byte of the body changed, a channel without
 * its token, and the table.
 */
#include "fixture_leads.h"
#include "common/err.h"
#include "common/xmalloc.h"

static struct fixture_request message_text;

static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("viber", &leads_adapter_viber, &cases), 0);
    CHECK(cases >= 10);
}

/* "Viber will retry the callback several times for an hour": the same
 * event and message_token, the same fact. */
static void test_retry_same_key(void)
{
    json_t *a = NULL, *b = NULL;

    CHECK_INT(fx_verify_parse(&leads_adapter_viber, &message_text, NULL, fixture_channel("viber"),
                              1795165265000LL, &a),
              0);
    CHECK_INT(fx_verify_parse(&leads_adapter_viber, &message_text, NULL, fixture_channel("viber"),
                              1795166265000LL, &b),
              0);
    CHECK_INT(json_array_size(a), 1);
    CHECK(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void test_signature(void)
{
    json_t *facts = NULL;
    char *body = cf_xstrdup(message_text.body);

    *strstr(body, "01234567890A=") = '9';
    CHECK_INT(fx_verify_parse(&leads_adapter_viber, &message_text, body, fixture_channel("viber"),
                              0, &facts),
              CF_EAUTH);
    json_decref(facts);
    free(body);
    json_t *channel = fixture_channel("viber");
    json_object_del(json_object_get(channel, "credentials"), "auth_token");
    CHECK_INT(fx_verify_parse(&leads_adapter_viber, &message_text, NULL, channel, 0, &facts),
              CF_EAUTH);
    json_decref(facts);
}

static void test_table(void)
{
    CHECK_STR(leads_adapter_viber.provider, "viber");
    /* the set-up callback is signed: verified like the rest, no precheck */
    CHECK(leads_adapter_viber.precheck == NULL);
    CHECK_INT(leads_adapter_viber.never_refuse, 0);
}

int main(void)
{
    test_fixture_files();
    fixture_request_load("viber", "message_text", &message_text);
    test_retry_same_key();
    test_signature();
    test_table();
    fixture_request_free(&message_text);
    return cf_test_done();
}
