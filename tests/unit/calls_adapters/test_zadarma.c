/*
 * The Zadarma adapter over fixtures: the zd_echo precheck, verify (the
 * Signature header over each event's signed fields), parse (NOTIFY_* into
 * facts), reply.
 *
 * Fixtures are shaped from the documented fields of each notification
 * (Zadarma's user-api-v1 lib/Webhook/Notify*.php [src] and the Megacall
 * "API - Incoming call notifications" page [doc]; ../shared/PROVIDERS.md
 * 7b). Confidence: field names and the signed fields are from the
 * provider's own code; the values (pbx_call_id's "in_"/"out_" form, the
 * call_id_with_rec form) are illustrative.
 *
 * Signature vectors were computed independently of our C code, as PHP's
 * base64_encode(hash_hmac('sha1', $str, $secret)) does (hex, then base64):
 *   python3 -c 'import base64,hashlib,hmac; print(base64.b64encode(hmac.new(
 *     b"test-zadarma-secret-0001", STR.encode(), hashlib.sha1).hexdigest().encode()).decode())'
 * RAW_START_SIG is the same HMAC base64'd from the raw 20 bytes (.digest()):
 * the wrong reading of the scheme, which must be refused.
 */
#include "adapters.h"

#include <string.h>
#include <time.h>

#include "common/envelope.h"
#include "common/err.h"
#include "cftest.h"

#define SECRET "test-zadarma-secret-0001"

/* "79161234567" "74950000304" "2026-11-20 12:00:00" (START, INTERNAL, END) */
#define START_SIG "ZmViYmFmZGZiNTA2ZjExNDdiZWZhMzFiZWZjY2VlMTU1Nzk3YmYxNQ=="
/* "79161234567" "101" "2026-11-20 12:00:00" (ANSWER) */
#define ANSWER_SIG "MjAwYzlmYWRkNzUyMjU0YTg1MWE4NjgxZjIyMmQwOGFiN2FjOWZjNQ=="
/* "79031112233" "74950000305" "2026-11-20 12:05:00" */
#define MISSED_SIG "YmE2YjhhOGM0ZTEwODA4NDBiN2Y5MGUzNjdjOTI0YjkwMWE4MTIxZA=="
/* "101" "79161234567" "2026-11-20 12:10:00" (OUT_START, OUT_END) */
#define OUT_SIG "MDFjNmFlYmU2MmI0ZjM5NGE4NjFjYzk4NWIyZjFlNjIwZTdkMjk2YQ=="
/* "anonymous" "74950000304" "2026-11-20 12:20:00" */
#define ANON_SIG "YTZiZWYzNGJiNjM3YzdlYmM3ODYxMmFhZTA4NmEzODllM2FmODRiNQ=="
/* "in_5f3a1c2b9d8e7f60" "1795165200.1234567" (RECORD: pbx_call_id, call_id_with_rec) */
#define RECORD_SIG "Nzc1YzY4YTBjNDZkOTk2ZTZjMjAxNmUyNDIzZDFjOTBkNjc1MTQ0Zg=="
#define RAW_START_SIG "/ruv37UG8RR776Mb78zuFVeXvxU="

#define CALL_IN "in_5f3a1c2b9d8e7f60"

/* Form fields as name, value pairs, NULL-terminated. */
static const char *const F_START[] = {
    "event",     "NOTIFY_START", "call_start", "2026-11-20 12:00:00", "pbx_call_id", CALL_IN,
    "caller_id", "79161234567",  "called_did", "74950000304",         NULL};
static const char *const F_INTERNAL[] = {
    "event",     "NOTIFY_INTERNAL", "call_start", "2026-11-20 12:00:00", "pbx_call_id", CALL_IN,
    "caller_id", "79161234567",     "called_did", "74950000304",         "internal",    "101",
    NULL};
static const char *const F_ANSWER[] = {
    "event",    "NOTIFY_ANSWER", "call_start",  "2026-11-20 12:00:00", "pbx_call_id",
    CALL_IN,    "caller_id",     "79161234567", "destination",         "101",
    "internal", "101",           NULL};
/* With a field we do not know (calltype): tolerated. */
static const char *const F_END[] = {"event",
                                    "NOTIFY_END",
                                    "call_start",
                                    "2026-11-20 12:00:00",
                                    "pbx_call_id",
                                    CALL_IN,
                                    "caller_id",
                                    "79161234567",
                                    "called_did",
                                    "74950000304",
                                    "internal",
                                    "101",
                                    "duration",
                                    "60",
                                    "disposition",
                                    "answered",
                                    "status_code",
                                    "16",
                                    "is_recorded",
                                    "1",
                                    "call_id_with_rec",
                                    "1795165200.1234567",
                                    "calltype",
                                    "new-field",
                                    NULL};
static const char *const F_MISSED_END[] = {"event",
                                           "NOTIFY_END",
                                           "call_start",
                                           "2026-11-20 12:05:00",
                                           "pbx_call_id",
                                           "in_77aa00bb11cc22dd",
                                           "caller_id",
                                           "79031112233",
                                           "called_did",
                                           "74950000305",
                                           "internal",
                                           "",
                                           "duration",
                                           "25",
                                           "disposition",
                                           "no answer",
                                           "status_code",
                                           "19",
                                           "is_recorded",
                                           "0",
                                           "call_id_with_rec",
                                           "",
                                           NULL};
static const char *const F_OUT_START[] = {
    "event",       "NOTIFY_OUT_START",     "call_start", "2026-11-20 12:10:00",
    "pbx_call_id", "out_0a1b2c3d4e5f6071", "internal",   "101",
    "destination", "79161234567",          NULL};
static const char *const F_OUT_END[] = {"event",
                                        "NOTIFY_OUT_END",
                                        "call_start",
                                        "2026-11-20 12:10:00",
                                        "pbx_call_id",
                                        "out_0a1b2c3d4e5f6071",
                                        "caller_id",
                                        "74950000304",
                                        "destination",
                                        "79161234567",
                                        "internal",
                                        "101",
                                        "duration",
                                        "0",
                                        "disposition",
                                        "busy",
                                        "status_code",
                                        "17",
                                        "is_recorded",
                                        "0",
                                        "call_id_with_rec",
                                        "",
                                        NULL};
static const char *const F_ANON_START[] = {
    "event",       "NOTIFY_START",    "call_start", "2026-11-20 12:20:00",
    "pbx_call_id", "in_0000anon0000", "caller_id",  "anonymous",
    "called_did",  "74950000304",     NULL};
static const char *const F_RECORD[] = {"event", "NOTIFY_RECORD",    "pbx_call_id",
                                       CALL_IN, "call_id_with_rec", "1795165200.1234567",
                                       NULL};

struct req {
    struct calls_hook hook;
    json_t *form, *query, *headers, *channel;
};

static void req_init(struct req *r, const char *method, const char *const *fields,
                     const char *signature)
{
    memset(r, 0, sizeof(*r));
    r->form = json_object();
    for (size_t i = 0; fields && fields[i]; i += 2)
        json_object_set_new(r->form, fields[i], json_string(fields[i + 1]));
    r->query = json_object();
    r->headers = json_object();
    if (signature)
        json_object_set_new(r->headers, "signature", json_string(signature));
    r->channel =
        json_pack("{s:{s:s, s:s, s:s}, s:s}", "credentials", "key", "test-key", "secret", SECRET,
                  "api_base", "https://zadarma-api.example/", "timezone", "Europe/Moscow");
    r->hook.method = method;
    r->hook.subpath = "";
    r->hook.public_url = "https://calls.example.test/v1/hooks/calls/zadarma/demo-zadarma";
    r->hook.content_type = "application/x-www-form-urlencoded";
    r->hook.body = "";
    r->hook.query = r->query;
    r->hook.form = r->form;
    r->hook.headers = r->headers;
    r->hook.channel = r->channel;
}

static void req_free(struct req *r)
{
    json_decref(r->form);
    json_decref(r->query);
    json_decref(r->headers);
    json_decref(r->channel);
}

static int verify(const char *const *fields, const char *signature)
{
    struct req r;
    char err[256] = "";

    req_init(&r, "POST", fields, signature);
    int rc = calls_adapter_zadarma.verify(&r.hook, err, sizeof(err));
    CHECK(rc == 0 || err[0] != '\0');
    CHECK(strstr(err, SECRET) == NULL && strstr(err, "7916") == NULL);
    req_free(&r);
    return rc;
}

static json_t *parse(const char *const *fields, int *rc_out)
{
    struct req r;
    char err[256] = "";
    json_t *facts = json_array();

    req_init(&r, "POST", fields, NULL);
    *rc_out = calls_adapter_zadarma.parse(&r.hook, facts, err, sizeof(err));
    CHECK(*rc_out == 0 || err[0] != '\0');
    req_free(&r);
    return facts;
}

static json_t *parse_one(const char *const *fields)
{
    int rc;
    json_t *facts = parse(fields, &rc);

    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 1);
    json_t *f = json_incref(json_array_get(facts, 0));
    json_decref(facts);
    return f;
}

static const char *s(const json_t *f, const char *key)
{
    return calls_str(f, key);
}

static void test_precheck(void)
{
    struct req r;
    struct calls_reply reply = {.status = 200};

    req_init(&r, "GET", NULL, NULL);
    json_object_set_new(r.query, "zd_echo", json_string("a1B2c3D4e5"));
    CHECK_INT(calls_adapter_zadarma.precheck(&r.hook, &reply), 1);
    CHECK_INT(reply.status, 200);
    CHECK_STR(reply.body, "a1B2c3D4e5");
    CHECK_STR(reply.content_type, "text/plain");
    req_free(&r);

    /* No echo, a POST, or something that is not a short token: no answer
     * before authentication (verify refuses the unsigned request). */
    req_init(&r, "GET", NULL, NULL);
    CHECK_INT(calls_adapter_zadarma.precheck(&r.hook, &reply), 0);
    char err[128];
    CHECK_INT(calls_adapter_zadarma.verify(&r.hook, err, sizeof(err)), CF_EAUTH);
    req_free(&r);
    static const char *const refused[] = {"", "<script>alert(1)</script> x", "a\nb"};
    for (size_t i = 0; i < 3; i++) {
        req_init(&r, "GET", NULL, NULL);
        json_object_set_new(r.query, "zd_echo", json_string(refused[i]));
        CHECK_INT(calls_adapter_zadarma.precheck(&r.hook, &reply), 0);
        req_free(&r);
    }
    char long_echo[200];
    memset(long_echo, 'a', sizeof(long_echo) - 1);
    long_echo[sizeof(long_echo) - 1] = '\0';
    req_init(&r, "GET", NULL, NULL);
    json_object_set_new(r.query, "zd_echo", json_string(long_echo));
    CHECK_INT(calls_adapter_zadarma.precheck(&r.hook, &reply), 0);
    req_free(&r);
    req_init(&r, "POST", F_START, START_SIG);
    json_object_set_new(r.query, "zd_echo", json_string("abc"));
    CHECK_INT(calls_adapter_zadarma.precheck(&r.hook, &reply), 0);
    req_free(&r);
}

static void test_verify(void)
{
    CHECK_INT(verify(F_START, START_SIG), 0);
    CHECK_INT(verify(F_INTERNAL, START_SIG), 0);
    CHECK_INT(verify(F_ANSWER, ANSWER_SIG), 0);
    CHECK_INT(verify(F_END, START_SIG), 0);
    CHECK_INT(verify(F_MISSED_END, MISSED_SIG), 0);
    CHECK_INT(verify(F_OUT_START, OUT_SIG), 0);
    CHECK_INT(verify(F_OUT_END, OUT_SIG), 0);
    CHECK_INT(verify(F_ANON_START, ANON_SIG), 0);
    CHECK_INT(verify(F_RECORD, RECORD_SIG), 0);

    /* Wrong, missing, empty, base64 of the raw digest (the porting trap),
     * another event's signature. */
    CHECK_INT(verify(F_START, ANSWER_SIG), CF_EAUTH);
    CHECK_INT(verify(F_START, NULL), CF_EAUTH);
    CHECK_INT(verify(F_START, ""), CF_EAUTH);
    CHECK_INT(verify(F_START, RAW_START_SIG), CF_EAUTH);
    CHECK_INT(verify(F_RECORD, START_SIG), CF_EAUTH);
    /* A signed field changed: the caller. */
    static const char *const forged[] = {
        "event",     "NOTIFY_START", "call_start", "2026-11-20 12:00:00", "pbx_call_id", CALL_IN,
        "caller_id", "79161234568",  "called_did", "74950000304",         NULL};
    CHECK_INT(verify(forged, START_SIG), CF_EAUTH);
    /* An event whose signed fields we do not know, and none at all. */
    static const char *const unknown[] = {"event", "NOTIFY_SOMETHING", "pbx_call_id", CALL_IN,
                                          NULL};
    CHECK_INT(verify(unknown, START_SIG), CF_EAUTH);
    CHECK_INT(verify(F_START + 2, START_SIG), CF_EAUTH);

    struct req r;
    char err[128];
    req_init(&r, "POST", F_START, START_SIG);
    json_object_del(r.channel, "credentials");
    CHECK_INT(calls_adapter_zadarma.verify(&r.hook, err, sizeof(err)), CF_EAUTH);
    req_free(&r);
}

static void test_answered_inbound(void)
{
    json_t *f = parse_one(F_START);
    CHECK_STR(s(f, "event"), "started");
    CHECK_STR(s(f, "event_key"), CALL_IN "/NOTIFY_START");
    CHECK_STR(s(f, "call_key"), CALL_IN);
    CHECK_STR(s(f, "time"), "2026-11-20T09:00:00.000Z"); /* 12:00 Moscow */
    CHECK_STR(s(f, "started_at"), "2026-11-20T09:00:00.000Z");
    CHECK_STR(s(f, "direction"), "inbound");
    CHECK_STR(s(f, "from"), "79161234567");
    CHECK_STR(s(f, "to"), "74950000304");
    CHECK_STR(s(f, "tracking_number"), "74950000304");
    json_decref(f);

    f = parse_one(F_INTERNAL);
    CHECK_STR(s(f, "event"), "started");
    CHECK_STR(s(f, "event_key"), CALL_IN "/NOTIFY_INTERNAL");
    json_decref(f);

    /* The answer time is not in the notification: its receipt stands for it. */
    int64_t before = (int64_t)time(NULL);
    f = parse_one(F_ANSWER);
    CHECK_STR(s(f, "event"), "answered");
    CHECK_STR(s(f, "event_key"), CALL_IN "/NOTIFY_ANSWER");
    CHECK_STR(s(f, "from"), "79161234567");
    CHECK_STR(s(f, "to"), "101");
    CHECK_STR(s(f, "agent_id"), "101");
    CHECK(!json_object_get(f, "tracking_number"));
    int64_t ms = 0;
    CHECK_INT(cf_time_parse(s(f, "time"), &ms), 0);
    CHECK(ms / 1000 >= before && ms / 1000 <= (int64_t)time(NULL));
    json_decref(f);

    f = parse_one(F_END);
    CHECK_STR(s(f, "event"), "ended");
    CHECK_STR(s(f, "event_key"), CALL_IN "/NOTIFY_END");
    CHECK_STR(s(f, "call_key"), CALL_IN);
    CHECK_STR(s(f, "time"), "2026-11-20T09:01:00.000Z");
    CHECK_STR(s(f, "started_at"), "2026-11-20T09:00:00.000Z");
    CHECK_STR(s(f, "ended_at"), "2026-11-20T09:01:00.000Z");
    CHECK_STR(s(f, "outcome"), "answered");
    CHECK_STR(s(f, "agent_id"), "101");
    CHECK_STR(s(f, "tracking_number"), "74950000304");
    CHECK_STR(s(f, "recording_url"), "https://zadarma-api.example/v1/pbx/record/request/"
                                     "?call_id=1795165200.1234567&pbx_call_id=" CALL_IN);
    CHECK(!json_object_get(f, "calltype") && !json_object_get(f, "status_code"));
    CHECK(!json_object_get(f, "talk_seconds") && !json_object_get(f, "ring_seconds"));
    json_decref(f);

    f = parse_one(F_RECORD);
    CHECK_STR(s(f, "event"), "updated");
    CHECK_STR(s(f, "event_key"), CALL_IN "/NOTIFY_RECORD/1795165200.1234567");
    CHECK_STR(s(f, "call_key"), CALL_IN);
    CHECK_STR(s(f, "direction"), "inbound");
    CHECK_STR(s(f, "recording_url"), "https://zadarma-api.example/v1/pbx/record/request/"
                                     "?call_id=1795165200.1234567&pbx_call_id=" CALL_IN);
    CHECK(s(f, "time") != NULL && s(f, "from") != NULL && s(f, "to") != NULL);
    json_decref(f);

    /* Without an api_base there is no request to point at: no recording. */
    struct req r;
    req_init(&r, "POST", F_RECORD, NULL);
    json_object_del(json_object_get(r.channel, "credentials"), "api_base");
    json_t *facts = json_array();
    char errbuf[256];
    CHECK(calls_adapter_zadarma.parse(&r.hook, facts, errbuf, sizeof(errbuf)) == 0);
    CHECK(json_array_size(facts) == 1 &&
          !json_object_get(json_array_get(facts, 0), "recording_url"));
    json_decref(facts);
    req_free(&r);
}

static void test_missed_and_outbound(void)
{
    json_t *f = parse_one(F_MISSED_END);
    CHECK_STR(s(f, "event"), "ended");
    CHECK_STR(s(f, "outcome"), "missed");
    CHECK_STR(s(f, "from"), "79031112233");
    CHECK_STR(s(f, "to"), "74950000305");
    CHECK_STR(s(f, "ended_at"), "2026-11-20T09:05:25.000Z");
    CHECK(!json_object_get(f, "agent_id") && !json_object_get(f, "recording_url"));
    json_decref(f);

    static const struct {
        const char *disposition, *outcome;
    } map[] = {{"cancel", "missed"},
               {"busy", "busy"},
               {"failed", "failed"},
               {"no money", "failed"},
               {"unallocated number", "failed"},
               {"line limit", "failed"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        const char *fields[sizeof(F_MISSED_END) / sizeof(F_MISSED_END[0])];
        memcpy(fields, F_MISSED_END, sizeof(fields));
        fields[15] = map[i].disposition;
        CHECK_STR(fields[14], "disposition");
        f = parse_one(fields);
        CHECK_STR(s(f, "outcome"), map[i].outcome);
        json_decref(f);
    }

    f = parse_one(F_OUT_START);
    CHECK_STR(s(f, "event"), "started");
    CHECK_STR(s(f, "direction"), "outbound");
    CHECK_STR(s(f, "from"), "101");
    CHECK_STR(s(f, "to"), "79161234567");
    CHECK_STR(s(f, "time"), "2026-11-20T09:10:00.000Z");
    CHECK(!json_object_get(f, "tracking_number"));
    json_decref(f);

    f = parse_one(F_OUT_END);
    CHECK_STR(s(f, "event"), "ended");
    CHECK_STR(s(f, "direction"), "outbound");
    CHECK_STR(s(f, "from"), "74950000304"); /* the caller id it went out with */
    CHECK_STR(s(f, "to"), "79161234567");
    CHECK_STR(s(f, "outcome"), "busy");
    CHECK_STR(s(f, "ended_at"), "2026-11-20T09:10:00.000Z");
    CHECK(!json_object_get(f, "tracking_number"));
    json_decref(f);
}

static void test_raw_caller(void)
{
    json_t *f = parse_one(F_ANON_START);
    CHECK_STR(s(f, "from"), "anonymous");
    CHECK_STR(s(f, "time"), "2026-11-20T09:20:00.000Z");
    json_decref(f);
}

static void test_garbage(void)
{
    int rc;
    static const char *const no_event[] = {"caller_id", "79161234567", NULL};
    static const char *const no_call[] = {"event", "NOTIFY_START", "call_start",
                                          "2026-11-20 12:00:00", NULL};
    static const char *const bad_time[] = {
        "event",     "NOTIFY_START", "call_start", "yesterday",   "pbx_call_id", CALL_IN,
        "caller_id", "79161234567",  "called_did", "74950000304", NULL};
    static const char *const no_rec[] = {"event", "NOTIFY_RECORD", "pbx_call_id", CALL_IN, NULL};
    const char *const *bad[] = {no_event, no_call, bad_time, no_rec, NULL};
    for (size_t i = 0; bad[i]; i++) {
        json_t *facts = parse(bad[i], &rc);
        CHECK_INT(rc, CF_EINVAL);
        CHECK_INT(json_array_size(facts), 0);
        json_decref(facts);
    }
    json_t *facts = parse(NULL, &rc);
    CHECK_INT(rc, CF_EINVAL);
    json_decref(facts);

    /* A channel without a timezone cannot place call_start. */
    struct req r;
    char err[128] = "";
    facts = json_array();
    req_init(&r, "POST", F_START, START_SIG);
    json_object_del(r.channel, "timezone");
    CHECK_INT(calls_adapter_zadarma.parse(&r.hook, facts, err, sizeof(err)), CF_EINVAL);
    CHECK(strstr(err, "timezone") != NULL);
    req_free(&r);
    json_decref(facts);
}

static void test_event_keys(void)
{
    json_t *a = parse_one(F_END), *b = parse_one(F_END), *c = parse_one(F_START);
    CHECK_STR(s(a, "event_key"), s(b, "event_key"));
    CHECK(strcmp(s(a, "event_key"), s(c, "event_key")) != 0);
    CHECK_STR(s(a, "call_key"), s(c, "call_key"));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_reply(void)
{
    struct req r;
    struct calls_reply reply = {.status = 0, .content_type = "x", .body = "junk"};

    req_init(&r, "POST", F_END, START_SIG);
    calls_adapter_zadarma.reply_ok(&r.hook, &reply);
    CHECK_INT(reply.status, 200);
    CHECK_STR(reply.body, "");
    CHECK(reply.content_type == NULL);
    CHECK_STR(calls_adapter_zadarma.provider, "zadarma");
    req_free(&r);
}

int main(void)
{
    test_precheck();
    test_verify();
    test_answered_inbound();
    test_missed_and_outbound();
    test_raw_caller();
    test_garbage();
    test_event_keys();
    test_reply();
    return cf_test_done();
}
