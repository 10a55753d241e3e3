/*
 * The outgoing webhook's pure parts. The signature vectors were computed
 * apart from this code, with openssl:
 *   printf '1733260800.{"id":"x"}' | openssl dgst -sha256 -hmac 'whsec-test-0001'
 *   printf '1733260800.' | openssl dgst -sha256 -hmac 'k'
 */
#include "notify_testable.h"

#include <string.h>

#include <jansson.h>

#include "cftest.h"
#include "notify.h"

static void test_sign(void)
{
    char sig[LEADS_NOTIFY_SIG_LEN + 1];
    const char *body = "{\"id\":\"x\"}";
    leads_notify_sign("whsec-test-0001", 1733260800, body, strlen(body), sig);
    CHECK_STR(sig, "v1=b1e323cf76aea9c7ac46e6a0a22c87d95e4cf12826ed06afd1a02e2499c9d8d2");
    /* an empty body still signs the timestamp */
    leads_notify_sign("k", 1733260800, "", 0, sig);
    CHECK_STR(sig, "v1=075cc1a14f87a617e613eca14adc30e31847c96b386f21fac72a9ea6e358b3ae");
    /* another timestamp, another signature: an old one cannot be replayed
     * with a fresh timestamp */
    leads_notify_sign("whsec-test-0001", 1733260801, body, strlen(body), sig);
    CHECK(strcmp(sig, "v1=b1e323cf76aea9c7ac46e6a0a22c87d95e4cf12826ed06afd1a02e2499c9d8d2") != 0);
    CHECK_INT(strlen(sig), LEADS_NOTIFY_SIG_LEN);
}

static void test_backoff(void)
{
    static const struct {
        long first, failed, want;
    } cases[] = {
        {1000, 1, 1000},      {1000, 2, 2000},       {1000, 3, 4000},
        {1000, 12, 2048000},  {1000, 13, 3600000}, /* capped at an hour */
        {1000, 100, 3600000}, {3600000, 1, 3600000}, {3600000, 5, 3600000},
        {10, 1, 10},          {10, 4, 80},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(leads_notify_backoff_ms(cases[i].first, cases[i].failed), cases[i].want);
}

static void test_after(void)
{
    long delay = -1;
    /* any 2xx delivers, on the last attempt too */
    CHECK_INT(leads_notify_after(200, 1, 3, 1000, &delay), LEADS_NOTIFY_DONE);
    CHECK_INT(leads_notify_after(204, 3, 3, 1000, &delay), LEADS_NOTIFY_DONE);
    CHECK_INT(delay, -1);
    /* a failure before the last attempt is retried after the backoff */
    CHECK_INT(leads_notify_after(500, 1, 3, 1000, &delay), LEADS_NOTIFY_RETRY);
    CHECK_INT(delay, 1000);
    CHECK_INT(leads_notify_after(0, 2, 3, 1000, &delay), LEADS_NOTIFY_RETRY); /* no answer */
    CHECK_INT(delay, 2000);
    CHECK_INT(leads_notify_after(404, 2, 3, 1000, &delay), LEADS_NOTIFY_RETRY);
    CHECK_INT(leads_notify_after(301, 1, 3, 1000, &delay), LEADS_NOTIFY_RETRY); /* not followed */
    CHECK_INT(leads_notify_after(199, 1, 3, 1000, &delay), LEADS_NOTIFY_RETRY);
    /* the last attempt failed: given up */
    CHECK_INT(leads_notify_after(500, 3, 3, 1000, &delay), LEADS_NOTIFY_GIVE_UP);
    CHECK_INT(leads_notify_after(0, 1, 1, 1000, &delay), LEADS_NOTIFY_GIVE_UP);
}

static void test_wanted_and_webhook(void)
{
    CHECK(leads_notify_wanted("clinicflow.lead.received"));
    CHECK(leads_notify_wanted("clinicflow.lead.sla_breached"));
    CHECK(!leads_notify_wanted("clinicflow.lead.merged"));
    /* a day's bound: a minute old goes, a week old (a first read of the
     * topic) does not; the edge goes; no broker time goes */
    const int64_t now = 1796000000000LL;
    CHECK(!leads_notify_too_old(now - 60000, now, 86400));
    CHECK(leads_notify_too_old(now - 7 * 86400000LL, now, 86400));
    CHECK(!leads_notify_too_old(now - 86400000LL, now, 86400));
    CHECK(leads_notify_too_old(now - 86400001LL, now, 86400));
    CHECK(!leads_notify_too_old(-1, now, 86400));
    CHECK(!leads_notify_wanted("clinicflow.lead.responded"));
    CHECK(!leads_notify_wanted(NULL));

    const char *url = NULL, *secret = NULL;
    json_t *j = json_loads("{\"id\":\"c\",\"lead_webhook\":{\"url\":\"https://crm.example/h\","
                           "\"secret\":\"s3cret-s3cret-s3\"}}",
                           0, NULL);
    CHECK(leads_notify_webhook(j, &url, &secret));
    CHECK_STR(url, "https://crm.example/h");
    CHECK_STR(secret, "s3cret-s3cret-s3");
    json_decref(j);
    static const char *const without[] = {
        "{\"id\":\"c\"}",
        "{\"lead_webhook\":{\"url\":\"https://crm.example/h\"}}",
        "{\"lead_webhook\":{\"url\":\"\",\"secret\":\"x\"}}",
        "{\"lead_webhook\":{\"url\":\"https://crm.example/h\",\"secret\":7}}",
        "{\"lead_webhook\":\"https://crm.example/h\"}",
    };
    for (size_t i = 0; i < sizeof(without) / sizeof(without[0]); i++) {
        j = json_loads(without[i], 0, NULL);
        CHECK(j != NULL);
        CHECK(!leads_notify_webhook(j, &url, &secret));
        json_decref(j);
    }
}

/* Sends in flight are counted by receiver: a webhook's scheme and host,
 * whatever its path, user or case. */
static void test_receiver(void)
{
    static const struct {
        const char *url, *receiver;
    } cases[] = {
        {"https://CRM.example:8443/hooks/a?x=1", "https://crm.example:8443"},
        {"https://crm.example:8443/hooks/b", "https://crm.example:8443"},
        {"http://user:pw@crm.example/x", "http://crm.example"},
        {"https://crm.example", "https://crm.example"},
        {"https://crm.example#frag", "https://crm.example"},
        /* the scheme's own port, said or not, is one receiver */
        {"https://crm.example:443/hooks", "https://crm.example"},
        {"http://crm.example:80", "http://crm.example"},
        /* another port, scheme or host is another receiver */
        {"http://crm.example:8443/", "http://crm.example:8443"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        leads_notify_receiver(cases[i].url, out, sizeof(out));
        CHECK_STR(out, cases[i].receiver);
    }
    /* cut to the buffer */
    char small[9];
    leads_notify_receiver("https://a-long-host.example/", small, sizeof(small));
    CHECK_STR(small, "https://");
}

int main(void)
{
    test_receiver();
    test_sign();
    test_backoff();
    test_after();
    test_wanted_and_webhook();
    return cf_test_done();
}
