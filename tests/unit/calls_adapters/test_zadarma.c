/*
 * The Zadarma adapter: the zd_echo precheck, verify (the Signature header
 * over each event's signed fields), parse (NOTIFY_* into facts), reply.
 * The payloads, shaped from the documented fields of each notification,
 * are files in tests/fixtures/calls/zadarma/ (each file's source and
 * confidence; the signatures computed independently, the command in
 * tests/fixtures/calls/README.md), with the times they arrived at and the
 * replay windows they are verified against; test_fixture_files runs them.
 * Here stay the cases that change a request at run time (a signed field,
 * the signature, the disposition), the precheck, malformed requests, the
 * time bounds of a stale end, a retry's key and the reply.
 */

#include "fixture_calls.h"
#include "common/envelope.h"
#include "common/err.h"

#define SECRET "test-zadarma-secret-0001"
#define CALL_IN "in_5f3a1c2b9d8e7f60"
/* When requests arrive unless a case says otherwise: 2026-11-20T09:00:08Z,
 * 8 s into the calls. */
#define RECEIVED_MS 1795165208000LL

/* The demo channel with this test's credentials: a request by method with
 * the form fields given (name, value pairs, NULL-terminated) and the
 * Signature header (NULL: none). */
static void req_init(struct fx *x, const char *method, const char *const *fields,
                     const char *signature)
{
    fx_init(x, method, "https://calls.example.test/v1/hooks/calls/zadarma/demo-zadarma",
            fixture_channel("zadarma"));
    x->h.content_type = "application/x-www-form-urlencoded";
    x->h.received_ms = RECEIVED_MS;
    for (size_t i = 0; fields && fields[i]; i += 2)
        fx_set(x->form, fields[i], fields[i + 1]);
    fx_set(x->headers, "signature", signature);
}

static json_t *parse(const char *const *fields, int *rc_out)
{
    struct fx x;

    req_init(&x, "POST", fields, NULL);
    return fx_parse_free(&x, &calls_adapter_zadarma, rc_out);
}

/* A fixture's request, to change at run time; x borrows from req. */
struct loaded {
    struct fixture_request req;
    struct fx x;
};

static void load(struct loaded *l, const char *name)
{
    fixture_request_load("zadarma", name, &l->req);
    fixture_fx_init(&l->x, &l->req, fixture_channel("zadarma"));
    l->x.h.received_ms = RECEIVED_MS;
}

static void unload(struct loaded *l)
{
    fx_free(&l->x);
    fixture_request_free(&l->req);
}

/* Verifies a loaded request (a refusal names neither the secret nor the
 * caller) and unloads it; verify's rc. */
static int verify_unload(struct loaded *l)
{
    int rc = fx_verify(&l->x, &calls_adapter_zadarma, SECRET);

    CHECK(strstr(l->x.verify_err, "7916") == NULL);
    unload(l);
    return rc;
}

/* A NOTIFY_END retried long after its call with the old call_start (the
 * fixture end: call_start 2026-11-20 12:00:00 Moscow, arriving 2029):
 * the adapter makes the end the arrival, so the start would give a ring of
 * years. The bounds refuse it: Zadarma is not one of the providers whose
 * 4xx loses the event. */
static void test_stale_call_start_is_out_of_bounds(void)
{
    struct loaded end;
    const char *field = NULL;

    CHECK_INT(calls_adapter_zadarma.keep_on_bad_time, 0);
    load(&end, "end");
    CHECK(cf_time_parse("2029-08-01T10:00:00Z", &end.x.h.received_ms) == 0);
    const int64_t received = end.x.h.received_ms;
    CHECK_INT(fx_parse(&end.x, &calls_adapter_zadarma), 0);
    json_t *facts = end.x.facts;
    CHECK_STR(fact_str(facts, "started_at"), "2026-11-20T09:00:00.000Z");
    CHECK_STR(fact_str(facts, "ended_at"), "2029-08-01T10:00:00.000Z");
    CHECK_INT(calls_fact_bound_times(json_array_get(facts, 0), received, 604800, 900, 0, &field),
              -1);
    CHECK_STR(field, "started_at");
    unload(&end);
}

static void test_precheck(void)
{
    struct fx r;
    struct cf_hook_reply reply = {.status = 200};

    req_init(&r, "GET", NULL, NULL);
    json_object_set_new(r.query, "zd_echo", json_string("a1B2c3D4e5"));
    CHECK_INT(calls_adapter_zadarma.precheck(&r.h, &reply), 1);
    CHECK_INT(reply.status, 200);
    CHECK_STR(reply.body, "a1B2c3D4e5");
    CHECK_STR(reply.content_type, "text/plain");
    fx_free(&r);

    /* No echo, a POST, or something that is not a short token: no answer
     * before authentication (verify refuses the unsigned request). */
    req_init(&r, "GET", NULL, NULL);
    CHECK_INT(calls_adapter_zadarma.precheck(&r.h, &reply), 0);
    CHECK_INT(fx_verify_free(&r, &calls_adapter_zadarma, SECRET), CF_EAUTH);
    static const char *const refused[] = {"", "<script>alert(1)</script> x", "a\nb"};
    for (size_t i = 0; i < 3; i++) {
        req_init(&r, "GET", NULL, NULL);
        json_object_set_new(r.query, "zd_echo", json_string(refused[i]));
        CHECK_INT(calls_adapter_zadarma.precheck(&r.h, &reply), 0);
        fx_free(&r);
    }
    char long_echo[200];
    memset(long_echo, 'a', sizeof(long_echo) - 1);
    long_echo[sizeof(long_echo) - 1] = '\0';
    req_init(&r, "GET", NULL, NULL);
    json_object_set_new(r.query, "zd_echo", json_string(long_echo));
    CHECK_INT(calls_adapter_zadarma.precheck(&r.h, &reply), 0);
    fx_free(&r);
    struct loaded start;
    load(&start, "start");
    json_object_set_new(start.x.query, "zd_echo", json_string("abc"));
    CHECK_INT(calls_adapter_zadarma.precheck(&start.x.h, &reply), 0);
    unload(&start);
}

/* Each fixture verifies with its signature (test_fixture_files); here,
 * what a change to a signed request does. */
static void test_verify(void)
{
    struct loaded l;

    /* Wrong, missing, empty, another event's signature (either form). */
    static const char *const not_start[] = {
        "MjAwYzlmYWRkNzUyMjU0YTg1MWE4NjgxZjIyMmQwOGFiN2FjOWZjNQ==", /* answer's */
        NULL, ""};
    for (size_t i = 0; i < 3; i++) {
        load(&l, "start");
        json_object_del(l.x.headers, "signature");
        fx_set(l.x.headers, "signature", not_start[i]);
        CHECK_INT(verify_unload(&l), CF_EAUTH);
    }
    static const char *const not_record[] = {
        "ZmViYmFmZGZiNTA2ZjExNDdiZWZhMzFiZWZjY2VlMTU1Nzk3YmYxNQ==", /* start's */
        "/ruv37UG8RR776Mb78zuFVeXvxU=",                             /* start's, raw */
    };
    for (size_t i = 0; i < 2; i++) {
        load(&l, "record");
        json_object_set_new(l.x.headers, "signature", json_string(not_record[i]));
        CHECK_INT(verify_unload(&l), CF_EAUTH);
    }
    /* A signed field changed: the caller. */
    load(&l, "start");
    json_object_set_new(l.x.form, "caller_id", json_string("79161234568"));
    CHECK_INT(verify_unload(&l), CF_EAUTH);
    /* No event at all: refused. */
    load(&l, "start");
    json_object_del(l.x.form, "event");
    CHECK_INT(verify_unload(&l), CF_EAUTH);
    /* A channel without credentials refuses everything. */
    load(&l, "start");
    json_object_del(l.x.channel, "credentials");
    CHECK_INT(verify_unload(&l), CF_EAUTH);
}

/* NOTIFY_END's disposition to the outcome (the fixture missed_end, its
 * disposition changed). */
static void test_dispositions(void)
{
    static const struct {
        const char *disposition, *outcome;
    } map[] = {{"cancel", "missed"},
               {"busy", "busy"},
               {"failed", "failed"},
               {"no money", "failed"},
               {"unallocated number", "failed"},
               {"line limit", "failed"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        struct loaded l;
        load(&l, "missed_end");
        CHECK(json_object_get(l.x.form, "disposition") != NULL);
        json_object_set_new(l.x.form, "disposition", json_string(map[i].disposition));
        CHECK_INT(fx_parse(&l.x, &calls_adapter_zadarma), 0);
        CHECK_STR(fact_str(l.x.facts, "outcome"), map[i].outcome);
        unload(&l);
    }
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
}

/* A retry repeats the key; another event of the call does not. */
static void test_event_keys(void)
{
    static const char *const names[] = {"end", "end", "start"};
    json_t *facts[3];

    for (size_t i = 0; i < 3; i++) {
        struct loaded l;
        load(&l, names[i]);
        CHECK_INT(fx_parse(&l.x, &calls_adapter_zadarma), 0);
        facts[i] = json_incref(l.x.facts);
        unload(&l);
    }
    CHECK_STR(fact_str(facts[0], "event_key"), fact_str(facts[1], "event_key"));
    CHECK(strcmp(fact_str(facts[0], "event_key"), fact_str(facts[2], "event_key")) != 0);
    CHECK_STR(fact_str(facts[0], "call_key"), fact_str(facts[2], "call_key"));
    for (size_t i = 0; i < 3; i++)
        json_decref(facts[i]);
}

static void test_reply(void)
{
    struct loaded l;

    load(&l, "end");
    fx_check_reply(&l.x, &calls_adapter_zadarma, "x", "zadarma", NULL, "");
    unload(&l);
}

/* Every case in tests/fixtures/calls/zadarma/. */
static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("zadarma", &calls_adapter_zadarma, &cases), 0);
    CHECK(cases > 0);
}

int main(void)
{
    test_fixture_files(); /* first: an empty directory fails before any load */
    test_stale_call_start_is_out_of_bounds();
    test_precheck();
    test_verify();
    test_dispositions();
    test_garbage();
    test_event_keys();
    test_reply();
    return cf_test_done();
}
