/*
 * The Asterisk adapter as pure functions over the posts of the documented
 * dialplan snippet (top of services/calls/providers/asterisk.c). The
 * payloads (the form bodies that snippet's CURL() sends, CDR values as
 * Asterisk formats them) are files in tests/fixtures/calls/asterisk/, each
 * with its source and confidence, run by test_fixture_files.
 * Authentication is a URL token compared in constant time, so there is no
 * signature vector to compute. Here stay the cases that change a fixture's
 * body at run time (with(): dispositions, DIALSTATUS, parties, extra
 * fields, fallbacks), the token, malformed bodies and the reply.
 */
#include "fixture_calls.h"
#include "common/err.h"

#define TOKEN "demo-asterisk-url-token-0001"
#define URL "https://calls.example.com/v1/hooks/calls/asterisk/demo-asterisk?token=" TOKEN

/* The bodies of the fixtures answered_inbound (rang 8 s, talked 52 s;
 * 12:00 Moscow = 09:00Z), missed_inbound (nobody answered, the caller gave
 * up after 25 s) and outbound (extension 101 calls a patient back), read
 * in main. */
static struct fixture_request fx_answered, fx_missed, fx_outbound;
static const char *answered_inbound, *missed_inbound, *outbound;

/* A POST of body to url (GET when body is NULL) on the demo channel. */
static void box_init(struct fx *x, const char *url, const char *body)
{
    fx_init(x, body ? "POST" : "GET", url, fx_demo_channel("demo-asterisk"));
    if (body)
        fx_body(x, body, "application/x-www-form-urlencoded");
}

/* Verifies (a refusal never names the token) and parses; the facts in
 * x->facts. */
static void run(struct fx *x)
{
    fx_verify(x, &calls_adapter_asterisk, TOKEN);
    fx_parse(x, &calls_adapter_asterisk);
}

static json_t *facts_of(const char *url, const char *body, int *parse_rc)
{
    struct fx x;

    box_init(&x, url, body);
    CHECK_INT(fx_verify(&x, &calls_adapter_asterisk, TOKEN), 0);
    return fx_parse_free(&x, &calls_adapter_asterisk, parse_rc);
}

/* body with every "name=old" replaced by "name=new" (or appended). */
static char *with(const char *body, const char *name, const char *value)
{
    size_t n = strlen(body) + strlen(name) + strlen(value) + 4;
    char *out = malloc(n);
    char key[64];

    snprintf(key, sizeof(key), "&%s=", name);
    if (strstr(body, key + 1) == body) { /* body starts with name= */
        const char *end = strchr(body, '&');
        snprintf(out, n, "%s%s%s", key + 1, value, end ? end : "");
        return out;
    }
    const char *at = strstr(body, key);
    if (!at) {
        snprintf(out, n, "%s&%s=%s", body, name, value);
        return out;
    }
    const char *end = strchr(at + 1, '&');
    snprintf(out, n, "%.*s%s%s%s", (int)(at - body), body, key, value, end ? end : "");
    return out;
}

/* body with each name=value of pairs (NULL-terminated) set, as with(). */
static char *with_all(const char *body, const char *const *pairs)
{
    char *out = strdup(body);
    for (size_t i = 0; pairs[i]; i += 2) {
        char *next = with(out, pairs[i], pairs[i + 1]);
        free(out);
        out = next;
    }
    return out;
}

/* body (freed here) parses to one fact with that outcome. */
static void check_outcome(char *body, const char *outcome)
{
    int rc;
    json_t *facts = facts_of(URL, body, &rc);

    CHECK_INT(rc, 0);
    CHECK_STR(fact_str(facts, "outcome"), outcome);
    json_decref(facts);
    free(body);
}

static void test_dispositions(void)
{
    int rc;
    json_t *facts;

    /* The other dispositions. */
    static const struct {
        const char *disposition, *outcome;
    } rows[] = {{"BUSY", "busy"}, {"FAILED", "failed"}, {"CONGESTION", "failed"}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        check_outcome(with(missed_inbound, "disposition", rows[i].disposition), rows[i].outcome);

    /* No disposition and no answer (a hand-made post): nothing says how the
     * call went, so no outcome, rather than a guessed "missed" that would
     * open a callback task. */
    char *body = with(missed_inbound, "disposition", "");
    facts = facts_of(URL, body, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(fact_str(facts, "event"), "ended");
    CHECK(!fact_has(facts, "outcome"));
    CHECK(!fact_has(facts, "ring_seconds") && !fact_has(facts, "talk_seconds"));
    json_decref(facts);
    free(body);
}

/* The last Dial's ${DIALSTATUS} and ${ANSWEREDTIME} (Asterisk's Dial
 * channel variables: DIALSTATUS one of CHANUNAVAIL, CONGESTION, BUSY,
 * NOANSWER, ANSWER, CANCEL, DONTCALL, TORTURE; ANSWEREDTIME the seconds
 * from answer to hangup) decide over the CDR, which is the channel's last
 * record. */
static void test_dial_status(void)
{
    int rc;

    /* Reception did not answer in 30 s; the call fell to VoiceMail(), which
     * answered it: the CDR says ANSWERED with the message as its billsec. */
    char *vm = with(answered_inbound, "dialstatus", "NOANSWER");
    json_t *facts = facts_of(URL, vm, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(fact_str(facts, "outcome"), "voicemail");
    CHECK_INT(fact_int(facts, "talk_seconds"), 0);
    CHECK(!fact_has(facts, "answered_at") && !fact_has(facts, "ring_seconds"));
    json_decref(facts);
    free(vm);

    /* Reception answered and talked 52 s; a survey ran after the Dial, so
     * the CDR is the survey's record (billsec 12). */
    static const char *const survey[] = {"billsec",      "12", "dialstatus", "ANSWER",
                                         "answeredtime", "52", NULL};
    char *c = with_all(answered_inbound, survey);
    facts = facts_of(URL, c, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(fact_str(facts, "outcome"), "answered");
    CHECK_INT(fact_int(facts, "talk_seconds"), 52);
    CHECK_INT(fact_int(facts, "ring_seconds"), 8);
    CHECK_STR(fact_str(facts, "answered_at"), "2026-11-20T09:00:08.000Z");
    json_decref(facts);
    free(c);

    static const struct {
        const char *cdr, *dialstatus, *outcome;
    } rows[] = {
        {"NO+ANSWER", "CANCEL", "missed"}, {"NO+ANSWER", "NOANSWER", "missed"},
        {"NO+ANSWER", "BUSY", "busy"},     {"FAILED", "CHANUNAVAIL", "failed"},
        {"ANSWERED", "BUSY", "voicemail"}, {"NO+ANSWER", "SOMETHINGNEW", "missed"},
        {"ANSWERED", "", "answered"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *d = with(missed_inbound, "disposition", rows[i].cdr);
        check_outcome(with(d, "dialstatus", rows[i].dialstatus), rows[i].outcome);
        free(d);
    }

    /* ... and an answered call followed by a survey rang until the answer */
    static const char *const survey_from_entry[] = {
        "billsec",    "12",     "duration",     "15", "start",      "2026-11-20+12%3A00%3A45",
        "dialstatus", "ANSWER", "answeredtime", "52", "call_start", "1795165200",
        NULL};
    char *s6 = with_all(answered_inbound, survey_from_entry);
    facts = facts_of(URL, s6, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(fact_str(facts, "started_at"), "2026-11-20T09:00:00.000Z");
    CHECK_INT(fact_int(facts, "talk_seconds"), 52);
    CHECK_INT(fact_int(facts, "ring_seconds"), 8);
    json_decref(facts);
    free(s6);

    /* A malformed answeredtime is refused as any malformed duration is. */
    char *e = with(answered_inbound, "dialstatus", "ANSWER");
    char *f = with(e, "answeredtime", "52s");
    facts = facts_of(URL, f, &rc);
    CHECK_INT(rc, CF_EINVAL);
    json_decref(facts);
    free(f);
    free(e);
}

static void test_raw_parties(void)
{
    static const char *const callers[] = {"anonymous", "%3Cunknown%3E", "s", "sip%3A100%40pbx"};
    static const char *const raw[] = {"anonymous", "<unknown>", "s", "sip:100@pbx"};
    int rc;

    for (size_t i = 0; i < 4; i++) {
        char *body = with(missed_inbound, "src", callers[i]);
        json_t *facts = facts_of(URL, body, &rc);
        CHECK_INT(rc, 0);
        CHECK_STR(fact_str(facts, "from"), raw[i]);
        json_decref(facts);
        free(body);
    }
    /* No src at all: an empty party, which hooks.c keeps as anonymous. */
    char *body = with(missed_inbound, "src", "");
    json_t *facts = facts_of(URL, body, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(fact_str(facts, "from"), "");
    json_decref(facts);
    free(body);
}

static void test_token(void)
{
    struct fx b;

    box_init(&b, "https://calls.example.com/v1/hooks/calls/asterisk/demo-asterisk?token=wrong",
             answered_inbound);
    run(&b);
    CHECK_INT(b.verify_rc, CF_EAUTH);
    fx_free(&b);

    box_init(&b, "https://calls.example.com/v1/hooks/calls/asterisk/demo-asterisk",
             answered_inbound);
    run(&b);
    CHECK_INT(b.verify_rc, CF_EAUTH);
    fx_free(&b);

    /* A token in the body does not count: only the URL's. */
    char *body = with(answered_inbound, "token", TOKEN);
    box_init(&b, "https://calls.example.com/v1/hooks/calls/asterisk/demo-asterisk", body);
    run(&b);
    CHECK_INT(b.verify_rc, CF_EAUTH);
    fx_free(&b);
    free(body);

    /* A channel without a url_token refuses everything. */
    box_init(&b, URL, answered_inbound);
    json_object_del(json_object_get(b.channel, "credentials"), "url_token");
    run(&b);
    CHECK_INT(b.verify_rc, CF_EAUTH);
    fx_free(&b);
}

static void test_garbage(void)
{
    static const char *const bad[] = {
        "hello=world",                                             /* no call key */
        "linkedid=1.2&end=yesterday",                              /* not a time */
        "linkedid=1.2&end=2026-11-20+12%3A01%3A00&duration=sixty", /* not seconds */
        "linkedid=1.2&src=100",                                    /* no time at all */
        "linkedid=1.2&event=answered&src=100",                     /* live post, no time */
        "linkedid=1.2&start=2026-13-40+25%3A00%3A00&duration=5",   /* impossible date */
        "linkedid=1.2&end=999999999999&duration=5",                /* past the year 9999 */
    };
    int rc;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *facts = facts_of(URL, bad[i], &rc);
        CHECK_INT(rc, CF_EINVAL);
        CHECK_INT(json_array_size(facts), 0);
        json_decref(facts);
    }
}

static void test_tolerance(void)
{
    int rc;
    char *body = with(answered_inbound, "userfield", "VIP%2C+call+back");
    char *body2 = with(body, "amaflags", "DOCUMENTATION");
    json_t *facts = facts_of(URL, body2, &rc);

    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 1);
    CHECK_STR(fact_str(facts, "outcome"), "answered");
    json_decref(facts);
    free(body);
    free(body2);

    /* An event this version does not know: acknowledged, nothing recorded. */
    body = with(answered_inbound, "event", "transfer");
    facts = facts_of(URL, body, &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 0);
    CHECK_STR(fx_last_notes.ignored, "unknown_event"); /* counted by hooks.c */
    CHECK_STR(fx_last_notes.detail, "transfer");
    json_decref(facts);
    free(body);

    /* Optional members when the dialplan sends them. */
    body = with(answered_inbound, "agent_group", "call_center");
    body2 = with(body, "recording_url", "https%3A%2F%2Fpbx.example%2Frec%2F1.wav");
    facts = facts_of(URL, body2, &rc);
    CHECK_STR(fact_str(facts, "agent_group"), "call_center");
    CHECK_STR(fact_str(facts, "recording_url"), "https://pbx.example/rec/1.wav");
    json_decref(facts);
    free(body);
    free(body2);
    body = with(answered_inbound, "agent_group", "marketing");
    facts = facts_of(URL, body, &rc);
    CHECK(!fact_has(facts, "agent_group")); /* not one of ours: left out */
    json_decref(facts);
    free(body);
}

static void test_keys_and_fallbacks(void)
{
    int rc;

    /* A retried post is the same event. */
    json_t *a = facts_of(URL, answered_inbound, &rc);
    json_t *b = facts_of(URL, answered_inbound, &rc);
    CHECK(json_equal(a, b));
    json_decref(a);
    json_decref(b);

    /* CDR(end) still empty in the hangup handler: start + duration. */
    char *body = with(answered_inbound, "end", "");
    a = facts_of(URL, body, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(fact_str(a, "time"), "2026-11-20T09:01:00.000Z");
    json_decref(a);
    free(body);

    /* Unix seconds (CDR(start,u)) need no zone. */
    body = with(outbound, "end", "1795166440.250000");
    a = facts_of(URL, body, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(fact_str(a, "ended_at"), "2026-11-20T09:20:40.000Z");
    json_decref(a);
    free(body);
}

static void test_reply(void)
{
    struct fx b;

    box_init(&b, URL, answered_inbound);
    fx_check_reply(&b, &calls_adapter_asterisk, NULL, "asterisk", "text/plain", "OK");
    CHECK(calls_adapter_asterisk.precheck == NULL);
    fx_free(&b);
}

/* Every case in tests/fixtures/calls/asterisk/. */
static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("asterisk", &calls_adapter_asterisk, &cases), 0);
    CHECK(cases > 0);
}

int main(void)
{
    test_fixture_files(); /* first: an empty directory fails before any load */
    fixture_request_load("asterisk", "answered_inbound", &fx_answered);
    fixture_request_load("asterisk", "missed_inbound", &fx_missed);
    fixture_request_load("asterisk", "outbound", &fx_outbound);
    answered_inbound = fx_answered.body;
    missed_inbound = fx_missed.body;
    outbound = fx_outbound.body;
    test_dispositions();
    test_dial_status();
    test_raw_parties();
    test_token();
    test_garbage();
    test_tolerance();
    test_keys_and_fallbacks();
    test_reply();
    fixture_request_free(&fx_answered);
    fixture_request_free(&fx_missed);
    fixture_request_free(&fx_outbound);
    return cf_test_done();
}
