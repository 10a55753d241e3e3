/*
 * The Asterisk adapter as pure functions over the posts of the documented
 * dialplan snippet (top of services/calls/adapter_asterisk.c).
 *
 * Fixtures: the form bodies that snippet's CURL() sends, with CDR values
 * as Asterisk formats them (src/cdr/cdr.c and func_cdr: start/answer/end
 * "YYYY-MM-DD HH:MM:SS" in the PBX's local time, answer empty when not
 * answered, disposition ANSWERED | NO ANSWER | BUSY | FAILED | CONGESTION,
 * uniqueid/linkedid "<epoch>.<seq>"). Confidence: high for the CDR
 * formats, the body shape is ours (we wrote the snippet). Authentication
 * is a URL token compared in constant time, so there is no signature
 * vector to compute.
 */
#include "adapters.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cftest.h"
#include "common/err.h"

#define TOKEN "demo-asterisk-url-token-0001"
#define URL "https://calls.example.com/v1/hooks/calls/asterisk/demo-asterisk?token=" TOKEN

/* An answered inbound call: rang 8 s, talked 52 s; 12:00 Moscow = 09:00Z. */
static const char answered_inbound[] =
    "event=hangup&direction=inbound&did=74950000202&uniqueid=1795165200.1041"
    "&linkedid=1795165200.1041&src=89161234567&dst=reception&disposition=ANSWERED"
    "&duration=60&billsec=52&start=2026-11-20+12%3A00%3A00&answer=2026-11-20+12%3A00%3A08"
    "&end=2026-11-20+12%3A01%3A00&agent=101";

/* Nobody answered; the caller gave up after 25 s. */
static const char missed_inbound[] =
    "event=hangup&direction=inbound&did=74950000202&uniqueid=1795165800.1050"
    "&linkedid=1795165800.1050&src=%2B79161234567&dst=reception&disposition=NO+ANSWER"
    "&duration=25&billsec=0&start=2026-11-20+12%3A10%3A00&answer=&end=2026-11-20+12%3A10%3A25"
    "&agent=";

/* Extension 101 calls a patient back. */
static const char outbound[] =
    "event=hangup&direction=outbound&did=&uniqueid=1795166400.1060&linkedid=1795166400.1060"
    "&src=101&dst=89161234567&disposition=ANSWERED&duration=40&billsec=31"
    "&start=2026-11-20+12%3A20%3A00&answer=2026-11-20+12%3A20%3A09&end=2026-11-20+12%3A20%3A40";

static int hexv(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c - 'a' + 10;
}

/* What hooks.c gives adapters: a form decoded with the first value per name. */
static json_t *decode_form(const char *s)
{
    json_t *obj = json_object();
    char *copy = strdup(s), *save = NULL;

    for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        char *val = eq ? eq + 1 : pair + strlen(pair);
        if (eq)
            *eq = '\0';
        char *parts[2] = {pair, val};
        for (int k = 0; k < 2; k++) {
            char *r = parts[k], *w = parts[k];
            for (; *r; r++) {
                if (*r == '+') {
                    *w++ = ' ';
                } else if (*r == '%' && r[1] && r[2]) {
                    *w++ = (char)(hexv(r[1]) * 16 + hexv(r[2]));
                    r += 2;
                } else {
                    *w++ = *r;
                }
            }
            *w = '\0';
        }
        if (!json_object_get(obj, pair))
            json_object_set_new(obj, pair, json_string(val));
    }
    free(copy);
    return obj;
}

struct box {
    struct calls_hook h;
    json_t *query, *form, *headers, *channel;
};

/* A POST of body to url (GET when body is NULL) on the demo channel. */
static void box_init(struct box *b, const char *url, const char *body)
{
    const char *q = strchr(url, '?');

    memset(b, 0, sizeof(*b));
    b->query = q ? decode_form(q + 1) : json_object();
    b->form = body ? decode_form(body) : json_object();
    b->headers = json_object();
    b->channel = json_pack("{s:s, s:s, s:s, s:{s:s}, s:s}", "id", "demo-asterisk", "kind",
                           "telephony", "provider", "asterisk", "credentials", "url_token", TOKEN,
                           "timezone", "Europe/Moscow");
    b->h.method = body ? "POST" : "GET";
    b->h.subpath = "";
    b->h.public_url = url;
    b->h.content_type = body ? "application/x-www-form-urlencoded" : NULL;
    b->h.body = body ? body : "";
    b->h.body_len = strlen(b->h.body);
    b->h.query = b->query;
    b->h.form = b->form;
    b->h.headers = b->headers;
    b->h.channel = b->channel;
}

static void box_free(struct box *b)
{
    json_decref(b->query);
    json_decref(b->form);
    json_decref(b->headers);
    json_decref(b->channel);
}

/* Verifies and parses; returns the facts (decref). */
static json_t *run(struct box *b, int *verify_rc, int *parse_rc)
{
    char err[256] = "";
    json_t *facts = json_array();

    *verify_rc = calls_adapter_asterisk.verify(&b->h, err, sizeof(err));
    if (*verify_rc != 0)
        CHECK(err[0] != '\0' && strstr(err, TOKEN) == NULL);
    err[0] = '\0';
    *parse_rc = calls_adapter_asterisk.parse(&b->h, facts, err, sizeof(err));
    if (*parse_rc != 0)
        CHECK(err[0] != '\0');
    return facts;
}

static json_t *facts_of(const char *url, const char *body, int *parse_rc)
{
    struct box b;
    int vrc;

    box_init(&b, url, body);
    json_t *facts = run(&b, &vrc, parse_rc);
    CHECK_INT(vrc, 0);
    box_free(&b);
    return facts;
}

static const char *s_of(json_t *facts, const char *key)
{
    return json_string_value(json_object_get(json_array_get(facts, 0), key));
}

static long long i_of(json_t *facts, const char *key)
{
    json_t *v = json_object_get(json_array_get(facts, 0), key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static int has(json_t *facts, const char *key)
{
    return json_object_get(json_array_get(facts, 0), key) != NULL;
}

/* body with every "name=old" replaced by "name=new" (or appended). */
static char *with(const char *body, const char *name, const char *value)
{
    size_t n = strlen(body) + strlen(name) + strlen(value) + 4;
    char *out = malloc(n);
    char key[64];

    snprintf(key, sizeof(key), "&%s=", name);
    if (strncmp(body, key + 1, strlen(key + 1)) == 0) {
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

static void test_answered_inbound(void)
{
    int rc;
    json_t *facts = facts_of(URL, answered_inbound, &rc);

    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 1);
    CHECK_STR(s_of(facts, "event_key"), "1795165200.1041:ended");
    CHECK_STR(s_of(facts, "call_key"), "1795165200.1041");
    CHECK_STR(s_of(facts, "event"), "ended");
    CHECK_STR(s_of(facts, "direction"), "inbound");
    CHECK_STR(s_of(facts, "time"), "2026-11-20T09:01:00.000Z");
    CHECK_STR(s_of(facts, "from"), "89161234567");
    CHECK_STR(s_of(facts, "to"), "74950000202"); /* the DID, not dst "reception" */
    CHECK_STR(s_of(facts, "tracking_number"), "74950000202");
    CHECK_STR(s_of(facts, "started_at"), "2026-11-20T09:00:00.000Z");
    CHECK_STR(s_of(facts, "answered_at"), "2026-11-20T09:00:08.000Z");
    CHECK_STR(s_of(facts, "ended_at"), "2026-11-20T09:01:00.000Z");
    CHECK_INT(i_of(facts, "ring_seconds"), 8);
    CHECK_INT(i_of(facts, "talk_seconds"), 52);
    CHECK_STR(s_of(facts, "outcome"), "answered");
    CHECK_STR(s_of(facts, "agent_id"), "101");
    CHECK(!has(facts, "agent_group") && !has(facts, "recording_url"));
    json_decref(facts);
}

static void test_missed_inbound(void)
{
    int rc;
    json_t *facts = facts_of(URL, missed_inbound, &rc);

    CHECK_INT(rc, 0);
    CHECK_STR(s_of(facts, "event_key"), "1795165800.1050:ended");
    CHECK_STR(s_of(facts, "outcome"), "missed");
    CHECK_STR(s_of(facts, "from"), "+79161234567");
    CHECK_INT(i_of(facts, "ring_seconds"), 25);
    CHECK_INT(i_of(facts, "talk_seconds"), 0);
    CHECK(!has(facts, "answered_at"));
    CHECK(!has(facts, "agent_id")); /* empty: omitted */
    CHECK_STR(s_of(facts, "ended_at"), "2026-11-20T09:10:25.000Z");
    json_decref(facts);

    /* The other dispositions. */
    static const struct {
        const char *disposition, *outcome;
    } rows[] = {{"BUSY", "busy"}, {"FAILED", "failed"}, {"CONGESTION", "failed"}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *body = with(missed_inbound, "disposition", rows[i].disposition);
        facts = facts_of(URL, body, &rc);
        CHECK_INT(rc, 0);
        CHECK_STR(s_of(facts, "outcome"), rows[i].outcome);
        json_decref(facts);
        free(body);
    }
}

static void test_outbound(void)
{
    int rc;
    json_t *facts = facts_of(URL, outbound, &rc);

    CHECK_INT(rc, 0);
    CHECK_STR(s_of(facts, "direction"), "outbound");
    CHECK_STR(s_of(facts, "from"), "101");
    CHECK_STR(s_of(facts, "to"), "89161234567");
    CHECK(!has(facts, "tracking_number"));
    CHECK_INT(i_of(facts, "ring_seconds"), 9);
    CHECK_INT(i_of(facts, "talk_seconds"), 31);
    CHECK_STR(s_of(facts, "answered_at"), "2026-11-20T09:20:09.000Z");
    json_decref(facts);
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
        CHECK_STR(s_of(facts, "from"), raw[i]);
        json_decref(facts);
        free(body);
    }
    /* No src at all: an empty party, which hooks.c keeps as anonymous. */
    char *body = with(missed_inbound, "src", "");
    json_t *facts = facts_of(URL, body, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(s_of(facts, "from"), "");
    json_decref(facts);
    free(body);
}

static void test_token(void)
{
    struct box b;
    int vrc, prc;
    json_t *facts;

    box_init(&b, "https://calls.example.com/v1/hooks/calls/asterisk/demo-asterisk?token=wrong",
             answered_inbound);
    facts = run(&b, &vrc, &prc);
    CHECK_INT(vrc, CF_EAUTH);
    json_decref(facts);
    box_free(&b);

    box_init(&b, "https://calls.example.com/v1/hooks/calls/asterisk/demo-asterisk",
             answered_inbound);
    facts = run(&b, &vrc, &prc);
    CHECK_INT(vrc, CF_EAUTH);
    json_decref(facts);
    box_free(&b);

    /* A token in the body does not count: only the URL's. */
    char *body = with(answered_inbound, "token", TOKEN);
    box_init(&b, "https://calls.example.com/v1/hooks/calls/asterisk/demo-asterisk", body);
    facts = run(&b, &vrc, &prc);
    CHECK_INT(vrc, CF_EAUTH);
    json_decref(facts);
    box_free(&b);
    free(body);

    /* A channel without a url_token refuses everything. */
    box_init(&b, URL, answered_inbound);
    json_object_del(json_object_get(b.channel, "credentials"), "url_token");
    facts = run(&b, &vrc, &prc);
    CHECK_INT(vrc, CF_EAUTH);
    json_decref(facts);
    box_free(&b);
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
    };
    int rc;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *facts = facts_of(URL, bad[i], &rc);
        CHECK_INT(rc, CF_EINVAL);
        CHECK_INT(json_array_size(facts), 0);
        json_decref(facts);
    }

    /* Local times need the channel's zone. */
    struct box b;
    int vrc;
    box_init(&b, URL, answered_inbound);
    json_object_del(b.channel, "timezone");
    json_t *facts = run(&b, &vrc, &rc);
    CHECK_INT(rc, CF_EINVAL);
    json_decref(facts);
    box_free(&b);
}

static void test_tolerance(void)
{
    int rc;
    char *body = with(answered_inbound, "userfield", "VIP%2C+call+back");
    char *body2 = with(body, "amaflags", "DOCUMENTATION");
    json_t *facts = facts_of(URL, body2, &rc);

    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 1);
    CHECK_STR(s_of(facts, "outcome"), "answered");
    json_decref(facts);
    free(body);
    free(body2);

    /* An event this version does not know: acknowledged, nothing recorded. */
    body = with(answered_inbound, "event", "transfer");
    facts = facts_of(URL, body, &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 0);
    json_decref(facts);
    free(body);

    /* Optional members when the dialplan sends them. */
    body = with(answered_inbound, "agent_group", "call_center");
    body2 = with(body, "recording_url", "https%3A%2F%2Fpbx.example%2Frec%2F1.wav");
    facts = facts_of(URL, body2, &rc);
    CHECK_STR(s_of(facts, "agent_group"), "call_center");
    CHECK_STR(s_of(facts, "recording_url"), "https://pbx.example/rec/1.wav");
    json_decref(facts);
    free(body);
    free(body2);
    body = with(answered_inbound, "agent_group", "marketing");
    facts = facts_of(URL, body, &rc);
    CHECK(!has(facts, "agent_group")); /* not one of ours: left out */
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

    /* No linkedid (older dialplans): the uniqueid; no direction: inbound;
     * no event: the CDR. */
    a = facts_of(
        URL,
        "uniqueid=1795165200.1041&src=89161234567&dst=74950000202&disposition=ANSWERED"
        "&duration=60&billsec=52&start=2026-11-20+12%3A00%3A00&end=2026-11-20+12%3A01%3A00",
        &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(s_of(a, "call_key"), "1795165200.1041");
    CHECK_STR(s_of(a, "event_key"), "1795165200.1041:ended");
    CHECK_STR(s_of(a, "direction"), "inbound");
    CHECK_STR(s_of(a, "to"), "74950000202");                       /* no did: dst */
    CHECK_STR(s_of(a, "answered_at"), "2026-11-20T09:00:08.000Z"); /* end - billsec */
    CHECK_INT(i_of(a, "ring_seconds"), 8);
    json_decref(a);

    /* CDR(end) still empty in the hangup handler: start + duration. */
    char *body = with(answered_inbound, "end", "");
    a = facts_of(URL, body, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(s_of(a, "time"), "2026-11-20T09:01:00.000Z");
    json_decref(a);
    free(body);

    /* Unix seconds (CDR(start,u)) need no zone. */
    body = with(outbound, "end", "1795166440.250000");
    a = facts_of(URL, body, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(s_of(a, "ended_at"), "2026-11-20T09:20:40.000Z");
    json_decref(a);
    free(body);

    /* GET with everything in the query (CURL() without post data). */
    a = facts_of(URL "&event=hangup&linkedid=1795165200.1041&src=89161234567&dst=74950000202"
                     "&disposition=ANSWERED&duration=60&billsec=52"
                     "&start=2026-11-20%2012:00:00&end=2026-11-20%2012:01:00",
                 NULL, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(s_of(a, "event_key"), "1795165200.1041:ended");
    CHECK_INT(i_of(a, "talk_seconds"), 52);
    json_decref(a);
}

static void test_live_answer(void)
{
    int rc;
    json_t *facts = facts_of(URL,
                             "event=answered&direction=inbound&linkedid=1795165200.1041"
                             "&src=89161234567&dst=74950000202&did=74950000202"
                             "&time=2026-11-20+12%3A00%3A08",
                             &rc);

    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 1);
    CHECK_STR(s_of(facts, "event"), "answered");
    CHECK_STR(s_of(facts, "event_key"), "1795165200.1041:answered");
    CHECK_STR(s_of(facts, "call_key"), "1795165200.1041");
    CHECK_STR(s_of(facts, "time"), "2026-11-20T09:00:08.000Z");
    CHECK_STR(s_of(facts, "answered_at"), "2026-11-20T09:00:08.000Z");
    CHECK(!has(facts, "outcome") && !has(facts, "ended_at"));
    json_decref(facts);
}

static void test_dst_zone(void)
{
    struct box b;
    int vrc, rc;

    /* Summer time: 12:00 in Berlin in July is 10:00Z. */
    box_init(&b, URL,
             "linkedid=1782900000.7&src=4930123456&dst=100&disposition=ANSWERED&duration=30"
             "&billsec=20&start=2026-07-01+12%3A00%3A00&end=2026-07-01+12%3A00%3A30");
    json_object_set_new(b.channel, "timezone", json_string("Europe/Berlin"));
    json_t *facts = run(&b, &vrc, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(s_of(facts, "started_at"), "2026-07-01T10:00:00.000Z");
    json_decref(facts);
    box_free(&b);
}

static void test_reply(void)
{
    struct box b;
    struct calls_reply reply = {.status = 0};

    box_init(&b, URL, answered_inbound);
    calls_adapter_asterisk.reply_ok(&b.h, &reply);
    CHECK_INT(reply.status, 200);
    CHECK_STR(reply.content_type, "text/plain");
    CHECK_STR(reply.body, "OK");
    CHECK(calls_adapter_asterisk.precheck == NULL);
    CHECK_STR(calls_adapter_asterisk.provider, "asterisk");
    box_free(&b);
}

int main(void)
{
    test_answered_inbound();
    test_missed_inbound();
    test_outbound();
    test_raw_parties();
    test_token();
    test_garbage();
    test_tolerance();
    test_keys_and_fallbacks();
    test_live_answer();
    test_dst_zone();
    test_reply();
    return cf_test_done();
}
