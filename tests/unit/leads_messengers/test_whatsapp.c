/*
 * The WhatsApp adapter (and Meta's shared handshake and signature,
 * meta.c) as pure functions. The notifications, Meta's own SDK test
 * vector and the handshakes are in tests/fixtures/leads/whatsapp/, run by
 * test_fixture_files (signatures computed with python3 hmac, the command in
 * tests/fixtures/leads/README.md). Here stay the cases that change a
 * request at run time: a retry keeps its key, one byte of the body
 * changed, the hex in capitals, a channel without its secrets, one that
 * names its number and gets another's, a challenge we will not echo.
 */
#include "fixture_leads.h"
#include "common/err.h"
#include "common/xmalloc.h"

#define RECEIVED_MS 1795165265000LL

static struct fixture_request text_message, handshake;

static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("whatsapp", &leads_adapter_whatsapp, &cases), 0);
    CHECK(cases >= 14);
}

/* Meta redelivers a notification with the same message ids. */
static void test_retry_same_key(void)
{
    json_t *a = NULL, *b = NULL;

    CHECK_INT(fx_verify_parse(&leads_adapter_whatsapp, &text_message, NULL,
                              fixture_channel("whatsapp"), RECEIVED_MS, &a),
              0);
    CHECK_INT(fx_verify_parse(&leads_adapter_whatsapp, &text_message, NULL,
                              fixture_channel("whatsapp"), RECEIVED_MS + 3600000, &b),
              0);
    CHECK_INT(json_array_size(a), 1);
    CHECK(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void test_signature(void)
{
    json_t *facts = NULL;
    char *body = cf_xstrdup(text_message.body);

    /* one byte of the signed body changed: the same signature no longer fits */
    *strstr(body, "79161234567") = '8';
    CHECK_INT(fx_verify_parse(&leads_adapter_whatsapp, &text_message, body,
                              fixture_channel("whatsapp"), RECEIVED_MS, &facts),
              CF_EAUTH);
    json_decref(facts);
    free(body);

    /* the same hex in capitals is the same signature */
    struct fx x;
    char err[128];
    fixture_fx_init(&x, &text_message, fixture_channel("whatsapp"));
    char *upper = cf_xstrdup(cf_hook_str(x.headers, "x-hub-signature-256"));
    for (char *c = upper + 7; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 'a' + 'A' : *c);
    json_object_set_new(x.headers, "x-hub-signature-256", json_string(upper));
    CHECK_INT(leads_adapter_whatsapp.verify(&x.h, err, sizeof(err)), 0);
    /* cut by one digit */
    upper[strlen(upper) - 1] = '\0';
    json_object_set_new(x.headers, "x-hub-signature-256", json_string(upper));
    CHECK_INT(leads_adapter_whatsapp.verify(&x.h, err, sizeof(err)), CF_EAUTH);
    free(upper);
    fx_free(&x);

    /* a channel without app_secret accepts nothing */
    json_t *channel = fixture_channel("whatsapp");
    json_object_del(json_object_get(channel, "credentials"), "app_secret");
    CHECK_INT(
        fx_verify_parse(&leads_adapter_whatsapp, &text_message, NULL, channel, RECEIVED_MS, &facts),
        CF_EAUTH);
    json_decref(facts);
}

/* A channel that names its phone number id takes only that number's
 * messages: another number's (of the same Meta app, its webhook pointed
 * here) is acknowledged and not this clinic's lead. */
static void test_own_number(void)
{
    json_t *facts = NULL;
    json_t *channel = fixture_channel("whatsapp");
    json_object_set_new(json_object_get(channel, "credentials"), "phone_number_id",
                        json_string("106540352242922"));
    CHECK_INT(
        fx_verify_parse(&leads_adapter_whatsapp, &text_message, NULL, channel, RECEIVED_MS, &facts),
        0);
    CHECK_INT(json_array_size(facts), 1);
    json_decref(facts);

    struct fx x;
    channel = fixture_channel("whatsapp");
    json_object_set_new(json_object_get(channel, "credentials"), "phone_number_id",
                        json_string("106540352249999"));
    fixture_fx_init(&x, &text_message, channel);
    CHECK_INT(fx_verify(&x, &leads_adapter_whatsapp, NULL), 0);
    CHECK_INT(fx_parse(&x, &leads_adapter_whatsapp), 0);
    CHECK_INT(json_array_size(x.facts), 0);
    CHECK_STR(x.notes.ignored, "another_number");
    fx_free(&x);
}

/* The handshake's answer to query (replacing the fixture's) on channel. */
static int handshake_status(const char *query, json_t *channel, char *body_out, size_t n)
{
    struct fx x;
    struct cf_hook_reply reply = {.status = 0, .content_type = NULL, .body = ""};

    fixture_fx_init(&x, &handshake, channel);
    json_object_clear(x.query);
    cf_hook_parse_urlencoded(query, strlen(query), x.query, NULL);
    CHECK_INT(leads_adapter_whatsapp.precheck(&x.h, &reply), 1);
    snprintf(body_out, n, "%s", reply.body);
    fx_free(&x);
    return reply.status;
}

static void test_handshake(void)
{
    char body[512];
    json_t *channel;

    CHECK_INT(handshake_status("hub.mode=subscribe&hub.challenge=42&hub.verify_token=demo-whatsapp-"
                               "verify-0001",
                               fixture_channel("whatsapp"), body, sizeof(body)),
              200);
    CHECK_STR(body, "42");
    /* a challenge that is no token is not echoed (it would be markup) */
    CHECK_INT(handshake_status("hub.mode=subscribe&hub.challenge=%3Cscript%3E&hub.verify_token="
                               "demo-whatsapp-verify-0001",
                               fixture_channel("whatsapp"), body, sizeof(body)),
              403);
    CHECK_STR(body, "");
    CHECK_INT(handshake_status("hub.mode=subscribe&hub.verify_token=demo-whatsapp-verify-0001",
                               fixture_channel("whatsapp"), body, sizeof(body)),
              403);
    CHECK_INT(handshake_status("hub.mode=unsubscribe&hub.challenge=42&hub.verify_token=demo-"
                               "whatsapp-verify-0001",
                               fixture_channel("whatsapp"), body, sizeof(body)),
              403);
    /* no verify_token configured: an empty token does not match nothing */
    channel = fixture_channel("whatsapp");
    json_object_del(json_object_get(channel, "credentials"), "verify_token");
    CHECK_INT(handshake_status("hub.mode=subscribe&hub.challenge=42&hub.verify_token=", channel,
                               body, sizeof(body)),
              403);
    /* a POST is not the handshake's */
    struct fx x;
    struct cf_hook_reply reply = {.status = 0, .content_type = NULL, .body = ""};
    fixture_fx_init(&x, &text_message, fixture_channel("whatsapp"));
    CHECK_INT(leads_adapter_whatsapp.precheck(&x.h, &reply), 0);
    fx_free(&x);
}

/* The code a wa.me link's pre-filled text ends with: only a well-formed
 * one, at the end, after white space or alone; the text kept as sent. */
static void test_code(void)
{
    static const struct {
        const char *text, *code; /* code NULL: none */
    } cases[] = {
        {"Хочу записаться [k7m2p9x4qa]", "k7m2p9x4qa"},
        {"[0123456789]", "0123456789"},
        {"Хочу записаться [hjkmnpqrst]\n ", "hjkmnpqrst"},
        {"Хочу записаться [vwxyzabcde]", "vwxyzabcde"},
        {"Хочу записаться[k7m2p9x4qa]", NULL},
        {"Хочу записаться [K7M2P9X4QA]", NULL},
        {"Хочу записаться [k7m2p9x4q]", NULL},
        {"Хочу записаться [k7m2p9x4qab]", NULL},
        {"Хочу записаться [k7m2p9x4ql]", NULL},
        {"Хочу записаться [k7m2p9x4qu]", NULL},
        {"[k7m2p9x4qa] [abc]", NULL},
        {"[k7m2p9x4qa].", NULL},
        {"]", NULL},
    };
    const char *sent = "Добрый день, сколько стоит консультация ортодонта?";

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* the fixture's body with this text (JSON-escaped) for its own */
        json_t *j_text = json_string(cases[i].text);
        char *escaped = json_dumps(j_text, JSON_ENCODE_ANY);
        json_decref(j_text);
        const char *at = strstr(text_message.body, sent);
        char *body =
            cf_xasprintf("%.*s%.*s%s", (int)(at - text_message.body) - 1, text_message.body,
                         (int)strlen(escaped), escaped, at + strlen(sent) + 1);
        struct fx x;
        fixture_fx_init(&x, &text_message, fixture_channel("whatsapp"));
        x.h.body = body;
        x.h.body_len = strlen(body);
        json_t *facts = fx_parse_one(&x, &leads_adapter_whatsapp);
        if (cases[i].code)
            CHECK_STR(fact_str(facts, "code"), cases[i].code);
        else
            CHECK(!fact_has(facts, "code"));
        CHECK_STR(fact_str(facts, "text"), cases[i].text);
        json_decref(facts);
        free(body);
        free(escaped);
    }
}

static void test_table(void)
{
    CHECK_STR(leads_adapter_whatsapp.provider, "whatsapp");
    /* Meta disables a subscription that keeps failing */
    CHECK_INT(leads_adapter_whatsapp.never_refuse, 1);
}

int main(void)
{
    test_fixture_files();
    fixture_request_load("whatsapp", "text_message", &text_message);
    fixture_request_load("whatsapp", "handshake", &handshake);
    test_retry_same_key();
    test_signature();
    test_own_number();
    test_handshake();
    test_code();
    test_table();
    fixture_request_free(&text_message);
    fixture_request_free(&handshake);
    return cf_test_done();
}
