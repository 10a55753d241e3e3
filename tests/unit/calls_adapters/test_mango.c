/*
 * The Mango Office VPBX adapter: verify (sign over the json field), parse
 * (events/call legs and events/summary into facts), reply. The payloads,
 * shaped from the documented fields of events/call and events/summary
 * (each file's source and confidence; the signs computed independently,
 * the command in tests/fixtures/calls/README.md), are files in
 * tests/fixtures/calls/mango/, run by test_fixture_files. Here stay the
 * cases that change a signed request at run time, malformed bodies, the
 * subpaths that record nothing, a retry's key and the reply.
 */
#include <ctype.h>

#include "fixture_calls.h"
#include "common/err.h"

#define KEY "test-mango-key-0001"
#define SALT "test-mango-salt-0001"

/* The json and sign fields of a fixture's form (free them). */
struct signed_json {
    char *json, *sign;
};

static struct signed_json load(const char *name)
{
    struct fixture_request req;
    struct fx x;
    struct signed_json out;

    fixture_request_load("mango", name, &req);
    fixture_fx_init(&x, &req, json_object());
    out.json = strdup(cf_hook_str(x.form, "json"));
    out.sign = strdup(cf_hook_str(x.form, "sign"));
    fx_free(&x);
    fixture_request_free(&req);
    return out;
}

static void unload(struct signed_json *s)
{
    free(s->json);
    free(s->sign);
}

/* The demo channel with this test's key and salt: a form post of api_key,
 * json and sign (NULL: left out) at subpath. */
static void req_init(struct fx *x, const char *subpath, const char *api_key, const char *json,
                     const char *sign)
{
    fx_init(
        x, "POST", "https://calls.example.test/v1/hooks/calls/mango/demo-mango",
        fx_with_credentials(fx_demo_channel("demo-mango"),
                            json_pack("{s:s, s:s}", "vpbx_api_key", KEY, "vpbx_api_salt", SALT)));
    x->h.subpath = subpath;
    x->h.content_type = "application/x-www-form-urlencoded";
    fx_set(x->form, "vpbx_api_key", api_key);
    fx_set(x->form, "json", json);
    fx_set(x->form, "sign", sign);
}

static int verify(const char *subpath, const char *api_key, const char *json, const char *sign)
{
    struct fx x;

    req_init(&x, subpath, api_key, json, sign);
    return fx_verify_free(&x, &calls_adapter_mango, SALT);
}

/* Parses json posted at subpath; returns the facts (decref them) and rc. */
static json_t *parse(const char *subpath, const char *json, int *rc_out)
{
    struct fx x;

    req_init(&x, subpath, KEY, json, NULL);
    return fx_parse_free(&x, &calls_adapter_mango, rc_out);
}

static json_t *parse_one(const char *subpath, const char *json)
{
    struct fx x;

    req_init(&x, subpath, KEY, json, NULL);
    return fx_parse_one(&x, &calls_adapter_mango);
}

/* Each fixture verifies with its sign (test_fixture_files); here, what a
 * change to a signed request does. */
static void test_verify(void)
{
    struct signed_json ping = load("ping"), appeared = load("leg_appeared"),
                       connected = load("leg_connected");

    CHECK_INT(verify("/events/ping", KEY, ping.json, ping.sign), 0);
    /* Hex case does not matter. */
    char upper[65];
    for (size_t i = 0; i < 65; i++)
        upper[i] = (char)toupper((unsigned char)ping.sign[i]);
    CHECK_INT(verify("/events/ping", KEY, ping.json, upper), 0);

    /* Another request's sign, a changed body, a changed last digit. */
    CHECK_INT(verify("/events/call", KEY, appeared.json, connected.sign), CF_EAUTH);
    char *tampered = strdup(appeared.json);
    tampered[strlen(tampered) - 3] = '1'; /* "type":0 -> "type":1 */
    CHECK_INT(verify("/events/call", KEY, tampered, appeared.sign), CF_EAUTH);
    free(tampered);
    char wrong[65];
    memcpy(wrong, ping.sign, sizeof(wrong));
    wrong[63] = wrong[63] == '0' ? '1' : '0';
    CHECK_INT(verify("/events/ping", KEY, ping.json, wrong), CF_EAUTH);
    /* Missing sign, missing key, another PBX's key (with a sign it made). */
    CHECK_INT(verify("/events/ping", KEY, ping.json, NULL), CF_EAUTH);
    CHECK_INT(verify("/events/ping", NULL, ping.json, ping.sign), CF_EAUTH);
    CHECK_INT(verify("/events/ping", "other-key", ping.json, ping.sign), CF_EAUTH);
    CHECK_INT(verify("/events/ping", KEY, NULL, ping.sign), CF_EAUTH);
    CHECK_INT(verify("/events/ping", KEY, ping.json, ""), CF_EAUTH);

    /* A channel without credentials refuses everything. */
    struct fx r;
    req_init(&r, "/events/ping", KEY, ping.json, ping.sign);
    json_object_del(r.channel, "credentials");
    CHECK_INT(fx_verify_free(&r, &calls_adapter_mango, SALT), CF_EAUTH);
    unload(&ping);
    unload(&appeared);
    unload(&connected);
}

static void test_garbage_and_other_events(void)
{
    int rc;
    /* a time that would overflow milliseconds */
    static const char overflow[] =
        "{\"entry_id\":\"E\",\"call_id\":\"C\",\"call_state\":\"Appeared\",\"timestamp\":"
        "9223372036854775807}";
    static const char *const bad[] = {
        "not json",
        "[1,2]",
        "{}",
        "{\"entry_id\":\"E\",\"call_id\":\"C\",\"call_state\":\"Appeared\"}", /* no time */
        overflow,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *facts = parse("/events/call", bad[i], &rc);
        CHECK_INT(rc, CF_EINVAL);
        CHECK_INT(json_array_size(facts), 0);
        json_decref(facts);
    }
    json_t *facts = parse("/events/summary", "{\"entry_id\":\"E\"}", &rc);
    CHECK_INT(rc, CF_EINVAL);
    json_decref(facts);
    facts = parse("/events/call", NULL, &rc);
    CHECK_INT(rc, CF_EINVAL);
    json_decref(facts);

    /* ping, recording, dtmf and the like: acknowledged without facts. */
    static const char *const quiet[] = {"/events/ping", "/events/recording", "/events/dtmf", ""};
    for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
        facts = parse(quiet[i], "{\"entry_id\":\"E\",\"recording_id\":\"R\"}", &rc);
        CHECK_INT(rc, 0);
        CHECK_INT(json_array_size(facts), 0);
        json_decref(facts);
    }
}

static void test_event_keys(void)
{
    struct signed_json appeared = load("leg_appeared"), connected = load("leg_connected");

    /* A retry repeats the key; another state of the same leg does not. */
    json_t *a = parse_one("/events/call", appeared.json);
    json_t *b = parse_one("/events/call", appeared.json);
    json_t *c = parse_one("/events/call", connected.json);
    CHECK_STR(fact_str(a, "event_key"), fact_str(b, "event_key"));
    CHECK(strcmp(fact_str(a, "event_key"), fact_str(c, "event_key")) != 0);
    CHECK_STR(fact_str(a, "call_key"), fact_str(c, "call_key"));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    unload(&appeared);
    unload(&connected);
}

static void test_reply(void)
{
    struct fx r;

    req_init(&r, "/events/call", KEY, "{}", NULL);
    CHECK(calls_adapter_mango.precheck == NULL);
    fx_check_reply(&r, &calls_adapter_mango, "x", "mango", NULL, "");
    fx_free(&r);
}

/* Every case in tests/fixtures/calls/mango/. */
static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("mango", &calls_adapter_mango, &cases), 0);
    CHECK(cases > 0);
}

int main(void)
{
    test_fixture_files(); /* first: an empty directory fails before any load */
    test_verify();
    test_garbage_and_other_events();
    test_event_keys();
    test_reply();
    return cf_test_done();
}
