/*
 * The Twilio adapter as pure functions. The payloads, Twilio's documented
 * status callbacks, <Dial action> requests, dialled legs and its published
 * signature example, are files in tests/fixtures/calls/twilio/ (each with
 * its source and confidence; the signatures computed independently with
 * python3 hmac, the command in tests/fixtures/calls/README.md), run by
 * test_fixture_files. Here stay the cases that are logic over a payload:
 * signatures of a request changed at run time (tampered, another URL,
 * :443, repeated names, no token), the status table, the Timestamp
 * spellings, a retry's key and the reply.
 */
#include "fixture_calls.h"
#include "common/err.h"
#include "common/xmalloc.h"

#define TOKEN "demo-twilio-auth-token-0001"
#define URL "https://calls.example.com/v1/hooks/calls/twilio/demo-twilio"
#define SID "CA5f1e4a7b2c3d4e5f60718293a4b5c6d7"
/* When the requests "arrived": 2026-11-20T09:01:00Z. */
#define RECEIVED_MS 1795165260000LL

/* A request on the demo channel: a POST of body, or a GET with the
 * parameters in url's query (body ignored); signed sig (NULL: unsigned). */
static void req_init(struct fx *x, const char *method, const char *url, const char *body,
                     const char *sig)
{
    fx_init(x, method, url, fx_demo_channel("demo-twilio"));
    if (strcmp(method, "POST") == 0)
        fx_body(x, body, "application/x-www-form-urlencoded; charset=UTF-8");
    fx_set(x->headers, "x-twilio-signature", sig);
}

static int verify_post(const char *url, const char *body, const char *sig)
{
    struct fx x;

    req_init(&x, "POST", url, body, sig);
    return fx_verify_free(&x, &calls_adapter_twilio, TOKEN); /* a reason, never the secret */
}

/* The payload of fixture completed_inbound (its signature in SIG), read
 * once in main. */
static struct fixture_request completed_inbound;
#define SIG "QJfa55JjJ5RXct/A+CVROEPf4mI="

/* Each fixture verifies with its independently computed signature
 * (test_fixture_files); here, what a change to a signed request does. */
static void test_signatures(void)
{
    const char *body = completed_inbound.body;

    CHECK_STR(cf_hook_str(completed_inbound.j_headers, "x-twilio-signature"), SIG);
    CHECK_INT(verify_post(URL, body, SIG), 0);
    /* Wrong: another token's signature, a tampered body, garbage, empty, missing. */
    CHECK_INT(verify_post(URL, body, "9IBY1v0pxh2B8Qcwr7kkPUIPDZY="), CF_EAUTH);
    char *tampered = strdup(body);
    *strstr(tampered, "CallDuration=52") = 'X';
    CHECK_INT(verify_post(URL, tampered, SIG), CF_EAUTH);
    free(tampered);
    CHECK_INT(verify_post(URL, body, "not base64 at all"), CF_EAUTH);
    CHECK_INT(verify_post(URL, body, ""), CF_EAUTH);
    CHECK_INT(verify_post(URL, body, NULL), CF_EAUTH);
    /* The same signature on another URL (another channel) is not valid. */
    CHECK_INT(verify_post("https://calls.example.com/v1/hooks/calls/twilio/other", body, SIG),
              CF_EAUTH);

    /* Twilio signed the URL with an explicit :443; we know it without, and
     * the other way round. */
    CHECK_INT(verify_post(URL, body, "SxMKX8QXJSLJTs+B5frW3E4uDn4="), 0);
    CHECK_INT(
        verify_post("https://calls.example.com:443/v1/hooks/calls/twilio/demo-twilio", body, SIG),
        0);

    /* Repeated names: twilio-python signs every value, twilio-node each once. */
    size_t n = strlen(body) + 64;
    char *rep = malloc(n);
    snprintf(rep, n, "%s&Digits=5678&Digits=1234&Digits=1234", body);
    CHECK_INT(verify_post(URL, rep, "AxneBy5HUIqwFNedyiCTTIcPPx8="), 0);
    CHECK_INT(verify_post(URL, rep, "jI+bY8LEAoXWjZ5zVlobIVpVJwc="), 0);
    free(rep);

    /* A channel without its auth token refuses everything. */
    struct fx b;
    req_init(&b, "POST", URL, body, SIG);
    json_object_del(json_object_get(b.channel, "credentials"), "auth_token");
    CHECK_INT(fx_verify_free(&b, &calls_adapter_twilio, TOKEN), CF_EAUTH);
}

static void test_status_table(void)
{
    static const struct {
        const char *status, *event, *outcome;
    } rows[] = {
        {"queued", "started", NULL},        {"initiated", "started", NULL},
        {"ringing", "started", NULL},       {"in-progress", "answered", NULL},
        {"completed", "ended", "answered"}, {"busy", "ended", "busy"},
        {"no-answer", "ended", "missed"},   {"canceled", "ended", "missed"},
        {"failed", "ended", "failed"},
    };
    int rc;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct fx b;
        char body[512];
        snprintf(body, sizeof(body),
                 "CallSid=" SID "&CallStatus=%s&Direction=outbound-dial&From=%%2B74950000201&To="
                 "%%2B79161234567&Timestamp=Fri%%2C+20+Nov+2026+09%%3A05%%3A00+%%2B0300",
                 rows[i].status);
        req_init(&b, "POST", URL, body, "unused");
        json_t *facts = fx_parse_free(&b, &calls_adapter_twilio, &rc);
        CHECK_INT(rc, 0);
        CHECK_STR(fact_str(facts, "event"), rows[i].event);
        CHECK_STR(fact_str(facts, "direction"), "outbound");
        CHECK_STR(fact_str(facts, "time"), "2026-11-20T06:05:00.000Z"); /* +0300 applied */
        if (rows[i].outcome)
            CHECK_STR(fact_str(facts, "outcome"), rows[i].outcome);
        else
            CHECK(!fact_has(facts, "outcome"));
        json_decref(facts);
    }
}

/* Timestamp as Twilio's published callbacks spell it: RFC 2822 says
 * "Jul" and "Sep", but published samples write months out or in four
 * letters ("July", "Sept"), and some weekdays in full. Source: the
 * spellings issue 16 reports from Twilio's published callbacks; the rest
 * of each request is shaped from the documented parameters. Confidence:
 * medium (the spellings were reported, not captured here). Each is read
 * as the time it names; one that still does not parse ("yesterday") is
 * dated by arrival and noted, never refused: Twilio does not retry a 400. */
static void test_timestamp_spellings(void)
{
    static const struct {
        const char *ts, *want;
    } cases[] = {
        {"Mon%2C+20+July+2026+09%3A00%3A40+%2B0000", "2026-07-20T09:00:40.000Z"},
        {"Sun%2C+20+Sept+2026+09%3A00%3A40+%2B0000", "2026-09-20T09:00:40.000Z"},
        {"Friday%2C+20+November+2026+09%3A00%3A40+GMT", "2026-11-20T09:00:40.000Z"},
        {"20+June+2026+12%3A00%3A40+%2B0300", "2026-06-20T09:00:40.000Z"},
        {"Fri%2C+20+Nov.+2026+09%3A00%3A40+%2B0000", "2026-11-20T09:00:40.000Z"},
        {"Tue%2C+1+Dec+2026+09%3A00%3A40+-0000", "2026-12-01T09:00:40.000Z"},
        {"yesterday", "2026-11-20T09:01:00.000Z"}, /* arrival */
        {"Fri%2C+20+Ju+2026+09%3A00%3A40+%2B0000", "2026-11-20T09:01:00.000Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fx b;
        int rc;
        char *body = cf_xasprintf(
            "AccountSid=AC00000000000000000000000000000000&ApiVersion=2010-04-01&CallSid=" SID
            "&CallStatus=ringing&CallbackSource=call-progress-events&Direction=inbound&"
            "From=%%2B79161234567&SequenceNumber=0&Timestamp=%s&To=%%2B74950000201",
            cases[i].ts);
        req_init(&b, "POST", URL, body, "unused");
        b.h.received_ms = RECEIVED_MS;
        json_t *facts = fx_parse_free(&b, &calls_adapter_twilio, &rc);
        if (rc != 0 || json_array_size(facts) != 1)
            fprintf(stderr, "case %zu: %s\n", i, cases[i].ts);
        CHECK_INT(rc, 0);
        CHECK_INT(json_array_size(facts), 1);
        CHECK_STR(fact_str(facts, "time"), cases[i].want);
        CHECK_STR(fact_str(facts, "started_at"), cases[i].want);
        const int fallback = strcmp(cases[i].want, "2026-11-20T09:01:00.000Z") == 0;
        if (fallback)
            CHECK_STR(b.notes.amended, "timestamp_unparsed");
        else
            CHECK(b.notes.amended == NULL);
        CHECK(b.notes.ignored == NULL);
        json_decref(facts);
        free(body);
    }
}

/* A retried callback is the same event: the same facts, the same key. */
static void test_retry_same_key(void)
{
    json_t *facts[2];

    for (size_t i = 0; i < 2; i++) {
        struct fx x;
        fixture_fx_init(&x, &completed_inbound, fx_demo_channel("demo-twilio"));
        x.h.received_ms = RECEIVED_MS + (int64_t)i * 60000; /* a minute later */
        CHECK_INT(fx_verify(&x, &calls_adapter_twilio, TOKEN), 0);
        facts[i] = fx_parse_one(&x, &calls_adapter_twilio);
    }
    CHECK(json_equal(facts[0], facts[1]));
    CHECK_STR(fact_str(facts[0], "event_key"), SID ":0");
    json_decref(facts[0]);
    json_decref(facts[1]);
}

/* A JSON body with no parameters at all. */
static void test_json_body(void)
{
    struct fx b;

    req_init(&b, "POST", URL, "", "x");
    fx_body(&b, "{\"CallSid\": 1}", "application/json");
    CHECK_INT(fx_parse(&b, &calls_adapter_twilio), CF_EINVAL);
    CHECK_INT(fx_verify(&b, &calls_adapter_twilio, TOKEN), CF_EAUTH);
    fx_free(&b);
}

/* A GET's signature covers its URL alone: a body it carries is never read
 * (a captured GET replayed with a body of one's own is no call), where the
 * same body POSTed is one. */
static void test_get_body_unread(void)
{
    struct fx g, p;

    fx_init(&g, "GET", URL, fx_demo_channel("demo-twilio"));
    fx_body(&g, completed_inbound.body, "application/x-www-form-urlencoded");
    CHECK_INT(fx_parse(&g, &calls_adapter_twilio), CF_EINVAL);
    fx_free(&g);
    req_init(&p, "POST", URL, completed_inbound.body, NULL);
    json_t *fact = fx_parse_one(&p, &calls_adapter_twilio);
    CHECK(fact != NULL);
    json_decref(fact);
}

static void test_reply(void)
{
    struct fx b;

    req_init(&b, "POST", URL, completed_inbound.body, NULL);
    fx_check_reply(&b, &calls_adapter_twilio, NULL, "twilio", "text/xml",
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>");
    CHECK(calls_adapter_twilio.precheck == NULL);
    fx_free(&b);

    /* a <Dial action> with the channel's after_dial_url: a dial nobody
     * answered goes on there (escaped for XML); one answered, completed or
     * "answered" (after a <Dial><Conference>), hangs up when it ends; a URL
     * too long for the answer hangs up too */
    static const struct {
        const char *status, *url, *twiml;
    } cases[] = {
        {"no-answer", "https://clinic.example/vm?a=1&b=2",
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Redirect method=\"POST\">"
         "https://clinic.example/vm?a=1&amp;b=2</Redirect></Response>"},
        {"busy", "https://clinic.example/vm",
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Redirect method=\"POST\">"
         "https://clinic.example/vm</Redirect></Response>"},
        {"completed", "https://clinic.example/vm",
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"},
        {"answered", "https://clinic.example/vm",
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"},
        {"no-answer", NULL, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *body =
            cf_xasprintf("CallSid=%s&DialCallSid=CAd1&DialCallStatus=%s", SID, cases[i].status);
        req_init(&b, "POST", URL, body, NULL);
        fx_set(b.channel, "after_dial_url", cases[i].url);
        fx_check_reply(&b, &calls_adapter_twilio, NULL, "twilio", "text/xml", cases[i].twiml);
        fx_free(&b);
        free(body);
    }
    char long_url[501] = "https://clinic.example/vm?";
    while (strlen(long_url) < 480)
        strcat(long_url, "&x");
    char *body = cf_xasprintf("CallSid=%s&DialCallSid=CAd1&DialCallStatus=busy", SID);
    req_init(&b, "POST", URL, body, NULL);
    fx_set(b.channel, "after_dial_url", long_url);
    fx_check_reply(&b, &calls_adapter_twilio, NULL, "twilio", "text/xml",
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>");
    fx_free(&b);
    free(body);
}

/* Every case in tests/fixtures/calls/twilio/. */
static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("twilio", &calls_adapter_twilio, &cases), 0);
    CHECK(cases > 0);
}

int main(void)
{
    test_fixture_files(); /* first: an empty directory fails before any load */
    fixture_request_load("twilio", "completed_inbound", &completed_inbound);
    test_signatures();
    test_status_table();
    test_timestamp_spellings();
    test_retry_same_key();
    test_json_body();
    test_get_body_unread();
    test_reply();
    fixture_request_free(&completed_inbound);
    return cf_test_done();
}
