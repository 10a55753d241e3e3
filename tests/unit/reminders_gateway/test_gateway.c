/*
 * The webhook gateway's request and the consent rule. The signature's
 * expected value is HMAC-SHA256 as RFC 4231 defines it, computed for this
 * body with Python's hmac module (the dialer side of the integration test
 * checks it the same way).
 */
#include "gateway_testable.h"

#include <string.h>

#include "cftest.h"
#include "common/err.h"
#include "common/hash.h"

static void test_signature(void)
{
    char sig[CF_HMAC_SIG_LEN + 1];
    /* RFC 4231 test case 2: key "Jefe", "what do ya want for nothing?" */
    const char *data = "what do ya want for nothing?";
    cf_hmac_sha256_sig("Jefe", data, strlen(data), sig);
    CHECK_STR(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_body(void)
{
    json_t *cmd = json_pack("{s:s}", "job_id", "j1");
    json_t *contact = json_pack("{s:s}", "phone", "+79161234567");
    json_t *clinic = json_pack("{s:s}", "id", "demo-north");
    char *body = gw_webhook_body("s1", cmd, "Анна, напоминаем о визите", contact, clinic);
    json_t *j = json_loads(body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(j, "send_id")), "s1");
    CHECK_STR(json_string_value(json_object_get(j, "text")), "Анна, напоминаем о визите");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "command"), "job_id")), "j1");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "contact"), "phone")),
              "+79161234567");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "clinic"), "id")), "demo-north");
    json_decref(j);
    free(body);
    json_decref(cmd);
    json_decref(contact);
    json_decref(clinic);
}

static void test_may_send(void)
{
    const char *phone = NULL;
    json_t *r = json_loads("{\"phones\": [\"+79161234567\", \"+79031112233\"],"
                           " \"consents\": {\"calls\": true, \"sms\": false}}",
                           0, NULL);
    CHECK(gw_may_send(r, "reminder", "call", &phone) == NULL);
    CHECK_STR(phone, "+79161234567");
    CHECK_STR(gw_may_send(r, "reminder", "sms", &phone), "no_consent");
    json_decref(r);
    r = json_loads("{\"phones\": [], \"consents\": {\"calls\": true}}", 0, NULL);
    CHECK_STR(gw_may_send(r, "reminder", "call", &phone), "no_phone");
    json_decref(r);
    r = json_loads("{\"phones\": [\"+79161234567\"]}", 0, NULL); /* no consents: none given */
    CHECK_STR(gw_may_send(r, "reminder", "call", &phone), "no_consent");
    json_decref(r);
    /* a campaign's SMS needs the marketing consent too; a reminder's and a
     * survey's do not */
    r = json_loads("{\"phones\": [\"+79161234567\"], \"consents\": {\"sms\": true}}", 0, NULL);
    CHECK(gw_may_send(r, "reminder", "sms", &phone) == NULL);
    CHECK(gw_may_send(r, "nps", "sms", &phone) == NULL);
    CHECK_STR(gw_may_send(r, "reinvite", "sms", &phone), "no_consent");
    CHECK_STR(gw_may_send(r, "recall", "sms", &phone), "no_consent");
    json_object_set_new(json_object_get(r, "consents"), "marketing", json_true());
    CHECK(gw_may_send(r, "reinvite", "sms", &phone) == NULL);
    CHECK(gw_may_send(r, "recall", "sms", &phone) == NULL);
    json_object_set_new(json_object_get(r, "consents"), "sms", json_false());
    CHECK_STR(gw_may_send(r, "recall", "sms", &phone), "no_consent");
    json_decref(r);
}

/* The generic outcomes hook's body: each word of the documented
 * vocabulary to the ladder's name, anything else a 400 naming the member. */
static void test_generic_outcome(void)
{
    static const char *const words[][2] = {
        {"confirmed", "confirmed"},
        {"declined", "declined"},
        {"reschedule", "reschedule"},
        {"no_answer", "no_answer"},
        {"busy", "busy"},
        {"voicemail", "voicemail"},
        {"no_reply", "no_reply"},
        {"failed", "failed"},
        {"opt_out", "opt_out_calls"},
        {"sms_delivered", "sms_delivered"},
        {"sms_failed", "sms_failed"},
        {"opt_out_sms", "opt_out_sms"},
    };
    const char *send = "5f0c3a52-6a7e-5d2b-9f1e-0c7d2b3a4e5f";
    struct gw_report r;
    const char *field;
    char errbuf[256];

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        json_t *j = json_pack("{s:s, s:s, s:i, s:s}", "send_id", send, "outcome", words[i][0],
                              "duration_s", 24, "recording_url", "https://dialer.test/rec/1.mp3");
        CHECK_INT(gw_webhook_outcome(j, &r, &field, errbuf, sizeof(errbuf)), 0);
        CHECK_STR(r.outcome, words[i][1]);
        CHECK_STR(r.send_id, send);
        CHECK_INT(r.duration_s, 24);
        json_decref(j);
    }
    json_t *j = json_pack("{s:s, s:s}", "send_id", send, "outcome", "answered");
    CHECK_INT(gw_webhook_outcome(j, &r, &field, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_STR(field, "outcome");
    json_decref(j);
    j = json_pack("{s:s, s:s}", "send_id", "not-a-uuid", "outcome", "busy");
    CHECK_INT(gw_webhook_outcome(j, &r, &field, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_STR(field, "send_id");
    json_decref(j);
    j = json_pack("{s:s, s:s, s:i}", "send_id", send, "outcome", "busy", "duration_s", 86401);
    CHECK_INT(gw_webhook_outcome(j, &r, &field, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_STR(field, "duration_s");
    json_decref(j);
}

int main(void)
{
    test_signature();
    test_body();
    test_may_send();
    test_generic_outcome();
    return cf_test_done();
}
