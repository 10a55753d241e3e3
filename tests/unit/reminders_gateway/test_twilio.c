/*
 * The twilio gateway (gateway_twilio.c) as pure functions. Where each
 * fixture comes from and how sure it is (services/reminders/PROVIDERS.md
 * has the facts behind them):
 *
 * - The Messages and Calls request fields (To, From, MessagingServiceSid,
 *   Body, StatusCallback; Twiml, StatusCallbackEvent, StatusCallbackMethod,
 *   MachineDetection) and the list filters (To, From, PageSize): the names
 *   as twilio-node's generated src/rest/api/v2010/account/message.ts and
 *   call.ts put them on the wire. Certain for the names; the bodies here
 *   are ours.
 * - The list page (LIST_PAGE): shaped from the Message resource's
 *   documented properties (the same interface in message.ts), with the
 *   values of Twilio's docs example (+15017122661, +15558675310, "Thu, 24
 *   Aug 2023 05:01:45 +0000"); "date_sent": null on a queued message as
 *   public captures show it. Shaped, not verbatim.
 * - The callbacks: shaped from the documented parameters of the voice
 *   status callback, the <Gather action> request (Digits, FinishedOnKey
 *   beside the call's parameters), the message status callback
 *   (MessageSid, MessageStatus, SmsSid, SmsStatus, ErrorCode) and the
 *   incoming message webhook (Body, SmsStatus=received, OptOutType of
 *   Advanced Opt-Out). Values are ours; field names as documented.
 * - The opt-out words: Twilio's default list (STOP, STOPALL, UNSUBSCRIBE,
 *   CANCEL, END, QUIT, REVOKE, OPTOUT) from its Advanced Opt-Out guide;
 *   СТОП, ОТПИСКА, ОТПИСАТЬСЯ are our own addition.
 * - GATHER_SIG: the X-Twilio-Signature of the gather request to our hook
 *   URL, computed independently with python3 hmac:
 *     python3 -c "import hmac,hashlib,base64,urllib.parse as u; t=b'demo-reminders-twilio-token';
 *       url='<GATHER_URL>'; b='<GATHER_BODY>'; p=sorted(u.parse_qsl(b,keep_blank_values=True));
 *       print(base64.b64encode(hmac.new(t,(url+''.join(x+y for x,y in p)).encode(),
 *       hashlib.sha1).digest()).decode())"
 */
#include <stdlib.h>
#include <string.h>

#include "cftest.h"
#include "gateway_testable.h"
#include "common/err.h"
#include "common/form.h"
#include "common/twilio_sig.h"

#define SEND_ID "5b0c7a52-3c55-5d4f-9a2e-1f7a2f8c9d10"
#define ACCOUNT "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HOOK "https://reminders.example.com/v1/hooks/reminders/twilio/demo-twilio-gw"

static const struct gw_twilio_channel channel = {
    .channel_id = "demo-twilio-gw",
    .public_base = "https://reminders.example.com/",
    .account_sid = ACCOUNT,
    .from = "+74950000201",
};

static struct cf_form form_of(const char *body)
{
    struct cf_form form;
    CHECK_INT(cf_form_parse(body, strlen(body), 100, &form, NULL, 0), 0);
    return form;
}

static void test_encoders(void)
{
    char *s = gw_urlencode("+7 916/a&b=c~-._\xD0\x94");
    CHECK_STR(s, "%2B7%20916%2Fa%26b%3Dc~-._%D0%94");
    free(s);
    s = gw_urlencode("");
    CHECK_STR(s, "");
    free(s);
    s = gw_xml_escape("a<b>&\"c\" 'd'\x01\n");
    CHECK_STR(s, "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos; \n");
    free(s);
    CHECK_STR(gw_outcome_name(GW_OUTCOME_OPT_OUT_CALLS), "opt_out_calls");
    CHECK_STR(gw_outcome_name(GW_OUTCOME_SMS_DELIVERED), "sms_delivered");
    CHECK_STR(gw_outcome_name(GW_OUTCOME_IGNORED), "ignored");
    CHECK_STR(gw_outcome_name((enum gw_outcome)99), "ignored");
}

static void test_hook_url(void)
{
    char *u = gw_twilio_hook_url(&channel, SEND_ID, NULL);
    CHECK_STR(u, HOOK "?send_id=" SEND_ID);
    free(u);
    u = gw_twilio_hook_url(&channel, SEND_ID, "gather");
    CHECK_STR(u, HOOK "?send_id=" SEND_ID "&kind=gather");
    free(u);
    CHECK_STR(gw_twilio_say_language("en"), "en-US");
    CHECK_STR(gw_twilio_say_language("en-GB"), "en-US");
    CHECK_STR(gw_twilio_say_language("ru"), "ru-RU");
    CHECK_STR(gw_twilio_say_language("eng"), "ru-RU");
    CHECK_STR(gw_twilio_say_language(NULL), "ru-RU");
}

static void test_sms_request(void)
{
    struct gw_twilio_request req;
    char errbuf[128];
    const char *text = "Напоминаем: приём 5 декабря в 10:00. Ответьте 1 - приду, 2 - нет.";

    CHECK_INT(gw_twilio_sms_request(&channel, SEND_ID, "+79161234567", "Hi there & bye", &req,
                                    errbuf, sizeof(errbuf)),
              0);
    CHECK_STR(req.path, "/2010-04-01/Accounts/" ACCOUNT "/Messages.json");
    CHECK_STR(req.body, "To=%2B79161234567&From=%2B74950000201&Body=Hi%20there%20%26%20bye"
                        "&StatusCallback=https%3A%2F%2Freminders.example.com%2Fv1%2Fhooks%2F"
                        "reminders%2Ftwilio%2Fdemo-twilio-gw%3Fsend_id%3D" SEND_ID);
    gw_twilio_request_free(&req);

    /* A messaging service replaces From; the text comes back byte for byte. */
    struct gw_twilio_channel svc = channel;
    svc.messaging_service_sid = "MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    CHECK_INT(
        gw_twilio_sms_request(&svc, SEND_ID, "+79161234567", text, &req, errbuf, sizeof(errbuf)),
        0);
    struct cf_form form = form_of(req.body);
    CHECK_STR(cf_form_get(&form, "Body"), text);
    CHECK_STR(cf_form_get(&form, "MessagingServiceSid"), "MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    CHECK(cf_form_get(&form, "From") == NULL);
    CHECK_STR(cf_form_get(&form, "StatusCallback"), HOOK "?send_id=" SEND_ID);
    cf_form_free(&form);
    gw_twilio_request_free(&req);

    /* Refusals leave nothing to free. */
    struct gw_twilio_channel bad = channel;
    bad.from = NULL;
    CHECK_INT(
        gw_twilio_sms_request(&bad, SEND_ID, "+79161234567", "x", &req, errbuf, sizeof(errbuf)),
        CF_EINVAL);
    CHECK(req.path == NULL && req.body == NULL);
    CHECK_INT(gw_twilio_sms_request(&channel, SEND_ID, "", "x", &req, errbuf, sizeof(errbuf)),
              CF_EINVAL);
    CHECK_INT(
        gw_twilio_sms_request(&channel, SEND_ID, "+79161234567", "", &req, errbuf, sizeof(errbuf)),
        CF_EINVAL);
    bad = channel;
    bad.account_sid = "";
    CHECK_INT(
        gw_twilio_sms_request(&bad, SEND_ID, "+79161234567", "x", &req, errbuf, sizeof(errbuf)),
        CF_EINVAL);
}

static void test_call(void)
{
    struct gw_twilio_request req;
    char errbuf[128];

    char *twiml = gw_twilio_call_twiml(HOOK "?send_id=" SEND_ID "&kind=gather", "ru", NULL,
                                       "Приём <завтра> в 10:00", "До свидания");
    CHECK_STR(twiml, "<Response><Gather numDigits=\"1\" timeout=\"8\" action=\"" HOOK
                     "?send_id=" SEND_ID "&amp;kind=gather\" method=\"POST\">"
                     "<Say language=\"ru-RU\" voice=\"Polly.Tatyana\">Приём &lt;завтра&gt; в "
                     "10:00</Say></Gather><Say language=\"ru-RU\" voice=\"Polly.Tatyana\">До "
                     "свидания</Say></Response>");
    free(twiml);

    struct gw_twilio_channel voiced = channel;
    voiced.voice = "Polly.Tatyana";
    voiced.machine_detection = 1;
    CHECK_INT(gw_twilio_call_request(&voiced, SEND_ID, "+79161234567", "en", "Hello", NULL, &req,
                                     errbuf, sizeof(errbuf)),
              0);
    CHECK_STR(req.path, "/2010-04-01/Accounts/" ACCOUNT "/Calls.json");
    struct cf_form form = form_of(req.body);
    CHECK_STR(cf_form_get(&form, "To"), "+79161234567");
    CHECK_STR(cf_form_get(&form, "From"), "+74950000201");
    CHECK_STR(cf_form_get(&form, "Twiml"),
              "<Response><Gather numDigits=\"1\" timeout=\"8\" action=\"" HOOK "?send_id=" SEND_ID
              "&amp;kind=gather&amp;lang=en\" method=\"POST\"><Say language=\"en-US\" "
              "voice=\"Polly.Tatyana\">Hello</Say></Gather></Response>");
    CHECK_STR(cf_form_get(&form, "StatusCallback"), HOOK "?send_id=" SEND_ID "&kind=status");
    CHECK_STR(cf_form_get(&form, "StatusCallbackEvent"), "completed");
    CHECK_STR(cf_form_get(&form, "StatusCallbackMethod"), "POST");
    CHECK_STR(cf_form_get(&form, "MachineDetection"), "Enable");
    cf_form_free(&form);
    gw_twilio_request_free(&req);

    /* Over Twilio's 4000 characters of Twiml: refused before it is sent.
     * 1900 Cyrillic letters are 3800 bytes but fit in characters. */
    size_t n = 2 * 1900 + 1;
    char *text = malloc(n);
    for (size_t i = 0; i + 1 < n; i += 2)
        memcpy(text + i, "\xD0\x94", 2);
    text[n - 1] = '\0';
    CHECK_INT(gw_twilio_call_request(&channel, SEND_ID, "+79161234567", "ru", text, NULL, &req,
                                     errbuf, sizeof(errbuf)),
              0);
    gw_twilio_request_free(&req);
    char *longer = malloc(4001);
    memset(longer, 'a', 4000);
    longer[4000] = '\0';
    CHECK_INT(gw_twilio_call_request(&channel, SEND_ID, "+79161234567", "ru", longer, NULL, &req,
                                     errbuf, sizeof(errbuf)),
              CF_EINVAL);
    CHECK(strstr(errbuf, "4000") != NULL);
    CHECK(req.path == NULL && req.body == NULL);
    free(longer);
    free(text);

    struct gw_twilio_channel no_from = channel;
    no_from.from = NULL;
    no_from.messaging_service_sid = "MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    CHECK_INT(gw_twilio_call_request(&no_from, SEND_ID, "+79161234567", "ru", "x", NULL, &req,
                                     errbuf, sizeof(errbuf)),
              CF_EINVAL);
}

/* Shaped from the Message resource (see the top). */
#define LIST_PAGE                                                                                  \
    "{\"first_page_uri\": \"/2010-04-01/Accounts/" ACCOUNT "/Messages.json?To=%2B15558675310"      \
    "&PageSize=50&Page=0\", \"page\": 0, \"page_size\": 50, \"next_page_uri\": null,"              \
    "\"messages\": ["                                                                              \
    "{\"sid\": \"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1\", \"to\": \"+15558675310\","                  \
    " \"from\": \"+15017122661\", \"body\": \"Hi there\", \"direction\": \"outbound-api\","        \
    " \"status\": \"delivered\", \"date_created\": \"Thu, 24 Aug 2023 05:01:45 +0000\","           \
    " \"date_sent\": \"Thu, 24 Aug 2023 05:01:46 +0000\", \"error_code\": null},"                  \
    "{\"sid\": \"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2\", \"to\": \"+15558675310\","                  \
    " \"from\": \"+15017122661\", \"body\": \"Hi there\", \"direction\": \"outbound-api\","        \
    " \"status\": \"queued\", \"date_created\": \"Thu, 24 Aug 2023 05:20:00 +0000\","              \
    " \"date_sent\": null, \"error_code\": null},"                                                 \
    "{\"sid\": \"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3\", \"to\": \"+15017122661\","                  \
    " \"from\": \"+15558675310\", \"body\": \"1\", \"direction\": \"inbound\","                    \
    " \"status\": \"received\", \"date_created\": \"Thu, 24 Aug 2023 05:02:00 +0000\"}"            \
    "]}"

static void test_lookup(void)
{
    struct gw_twilio_channel ch = channel;
    char *path;

    path = gw_twilio_lookup_path(&ch, "sms", "+15558675310");
    CHECK_STR(path, "/2010-04-01/Accounts/" ACCOUNT
                    "/Messages.json?To=%2B15558675310&From=%2B74950000201&PageSize=50");
    free(path);
    path = gw_twilio_lookup_path(&ch, "call", "+15558675310");
    CHECK_STR(path, "/2010-04-01/Accounts/" ACCOUNT
                    "/Calls.json?To=%2B15558675310&From=%2B74950000201&PageSize=50");
    free(path);
    ch.messaging_service_sid = "MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    path = gw_twilio_lookup_path(&ch, "sms", "+15558675310");
    CHECK_STR(path, "/2010-04-01/Accounts/" ACCOUNT "/Messages.json?To=%2B15558675310&PageSize=50");
    free(path);
    CHECK(gw_twilio_lookup_path(&ch, "fax", "+15558675310") == NULL);
    CHECK(gw_twilio_lookup_path(&ch, "sms", "") == NULL);

    json_t *j_page = json_loads(LIST_PAGE, 0, NULL);
    struct gw_twilio_found f;
    CHECK(j_page != NULL);
    /* 2023-08-24T05:01:45Z */
    const int64_t created = cf_test_utc_ms(2023, 8, 24, 5, 1, 45);
    /* the send marked 300 ms after the second Twilio wrote: found */
    CHECK_INT(gw_twilio_lookup_match(j_page, "sms", "+15558675310", "Hi there", created + 300,
                                     created + 60000, &f),
              0);
    CHECK_INT(f.n, 1);
    CHECK_STR(f.sid, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1");
    CHECK_STR(f.status, "delivered");
    /* a window over both outbound messages: cannot tell which */
    CHECK_INT(
        gw_twilio_lookup_match(j_page, "sms", "+15558675310", NULL, created, created + 3600000, &f),
        0);
    CHECK_INT(f.n, 2);
    /* another body, another number, too early: not found; an inbound
     * message to us never matches */
    CHECK_INT(
        gw_twilio_lookup_match(j_page, "sms", "+15558675310", "Bye", created, created + 60000, &f),
        0);
    CHECK_INT(f.n, 0);
    CHECK_INT(
        gw_twilio_lookup_match(j_page, "sms", "+15017122661", NULL, created, created + 3600000, &f),
        0);
    CHECK_INT(f.n, 0);
    CHECK_INT(gw_twilio_lookup_match(j_page, "sms", "+15558675310", NULL, created + 5000,
                                     created + 60000, &f),
              0);
    CHECK_INT(f.n, 0);
    /* a Messages page read as Calls is no page */
    CHECK_INT(
        gw_twilio_lookup_match(j_page, "call", "+15558675310", NULL, created, created + 60000, &f),
        CF_EINVAL);
    json_decref(j_page);

    j_page = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s}]}", "calls", "sid",
                       "CA5f1e4a7b2c3d4e5f60718293a4b5c6d7", "to", "+79161234567", "direction",
                       "outbound-api", "status", "no-answer", "date_created",
                       "Fri, 04 Dec 2026 09:00:01 +0000");
    CHECK_INT(gw_twilio_lookup_match(j_page, "call", "+79161234567", NULL,
                                     cf_test_utc_ms(2026, 12, 4, 9, 0, 0),
                                     cf_test_utc_ms(2026, 12, 4, 9, 5, 0), &f),
              0);
    CHECK_INT(f.n, 1);
    CHECK_STR(f.status, "no-answer");
    json_decref(j_page);
}

struct callback_case {
    const char *kind; /* the hook URL's kind */
    const char *body;
    int rc;
    const char *event_kind;
    enum gw_outcome outcome;
};

#define CALL_PARAMS                                                                                \
    "AccountSid=" ACCOUNT "&ApiVersion=2010-04-01&CallSid=CA5f1e4a7b2c3d4e5f60718293a4b5c6d7"      \
    "&Direction=outbound-api&From=%2B74950000201&To=%2B79161234567"
#define MSG_PARAMS                                                                                 \
    "AccountSid=" ACCOUNT "&ApiVersion=2010-04-01&From=%2B74950000201"                             \
    "&MessageSid=SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1&SmsSid=SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"     \
    "&To=%2B79161234567"
#define INCOMING                                                                                   \
    "AccountSid=" ACCOUNT "&ApiVersion=2010-04-01&From=%2B79161234567"                             \
    "&MessageSid=SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1&NumMedia=0&NumSegments=1"                      \
    "&SmsMessageSid=SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1&SmsSid=SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1"  \
    "&SmsStatus=received&To=%2B74950000201"

static const struct callback_case callback_cases[] = {
    /* <Gather action>: the digit decides */
    {"gather", CALL_PARAMS "&CallStatus=in-progress&Digits=1&FinishedOnKey=", 0, "gather",
     GW_OUTCOME_CONFIRMED},
    {"gather", CALL_PARAMS "&CallStatus=in-progress&Digits=2", 0, "gather", GW_OUTCOME_DECLINED},
    {"gather", CALL_PARAMS "&CallStatus=in-progress&Digits=3", 0, "gather", GW_OUTCOME_RESCHEDULE},
    {"gather", CALL_PARAMS "&CallStatus=in-progress&Digits=9", 0, "gather",
     GW_OUTCOME_OPT_OUT_CALLS},
    {"gather", CALL_PARAMS "&CallStatus=in-progress&Digits=5", 0, "gather", GW_OUTCOME_IGNORED},
    {"gather", CALL_PARAMS "&CallStatus=in-progress&Digits=%23", 0, "gather", GW_OUTCOME_IGNORED},
    {"gather", CALL_PARAMS "&CallStatus=in-progress", 0, "gather", GW_OUTCOME_IGNORED},
    /* Digits without the kind (an older URL): still a gather */
    {NULL, CALL_PARAMS "&CallStatus=in-progress&Digits=1", 0, "gather", GW_OUTCOME_CONFIRMED},
    /* call status */
    {"status", CALL_PARAMS "&CallStatus=completed&CallDuration=31&Timestamp=Fri%2C+04+Dec+2026", 0,
     "call_status", GW_OUTCOME_IGNORED},
    {"status", CALL_PARAMS "&CallStatus=completed&AnsweredBy=machine_end_beep&CallDuration=20", 0,
     "call_status", GW_OUTCOME_VOICEMAIL},
    {"status", CALL_PARAMS "&CallStatus=busy&CallDuration=0", 0, "call_status", GW_OUTCOME_BUSY},
    {"status", CALL_PARAMS "&CallStatus=no-answer", 0, "call_status", GW_OUTCOME_NO_ANSWER},
    {"status", CALL_PARAMS "&CallStatus=canceled", 0, "call_status", GW_OUTCOME_NO_ANSWER},
    {"status", CALL_PARAMS "&CallStatus=failed", 0, "call_status", GW_OUTCOME_FAILED},
    {"status", CALL_PARAMS "&CallStatus=ringing", 0, "call_status", GW_OUTCOME_IGNORED},
    {"status", CALL_PARAMS, CF_EINVAL, NULL, GW_OUTCOME_IGNORED},
    /* message status */
    {NULL, MSG_PARAMS "&MessageStatus=queued&SmsStatus=queued", 0, "message_status",
     GW_OUTCOME_IGNORED},
    {NULL, MSG_PARAMS "&MessageStatus=sent&SmsStatus=sent", 0, "message_status",
     GW_OUTCOME_SMS_SENT},
    {NULL, MSG_PARAMS "&MessageStatus=delivered&SmsStatus=delivered", 0, "message_status",
     GW_OUTCOME_SMS_DELIVERED},
    {NULL, MSG_PARAMS "&MessageStatus=undelivered&SmsStatus=undelivered&ErrorCode=30003", 0,
     "message_status", GW_OUTCOME_SMS_FAILED},
    {NULL, MSG_PARAMS "&MessageStatus=failed&SmsStatus=failed&ErrorCode=30008", 0, "message_status",
     GW_OUTCOME_SMS_FAILED},
    /* incoming SMS */
    {NULL, INCOMING "&Body=1", 0, "incoming_sms", GW_OUTCOME_CONFIRMED},
    {NULL, INCOMING "&Body=+2%0A", 0, "incoming_sms", GW_OUTCOME_DECLINED},
    {NULL, INCOMING "&Body=3", 0, "incoming_sms", GW_OUTCOME_RESCHEDULE},
    {NULL, INCOMING "&Body=9", 0, "incoming_sms", GW_OUTCOME_IGNORED},
    {NULL, INCOMING "&Body=STOP", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=+stop+", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=StopAll", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=Unsubscribe", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=cancel", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=END", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=quit", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=Revoke", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=OPTOUT", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    /* СТОП, стоп, Отписка!, ОТПИСАТЬСЯ., отписАТЬСЯ */
    {NULL, INCOMING "&Body=%D0%A1%D0%A2%D0%9E%D0%9F", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=%D1%81%D1%82%D0%BE%D0%BF", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=%D0%9E%D1%82%D0%BF%D0%B8%D1%81%D0%BA%D0%B0%21", 0, "incoming_sms",
     GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=%D0%9E%D0%A2%D0%9F%D0%98%D0%A1%D0%90%D0%A2%D0%AC%D0%A1%D0%AF.", 0,
     "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=%D0%BE%D1%82%D0%BF%D0%B8%D1%81%D0%90%D0%A2%D0%AC%D0%A1%D0%AF", 0,
     "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    /* only the word alone counts, as Twilio's own filter */
    {NULL, INCOMING "&Body=stop+please", 0, "incoming_sms", GW_OUTCOME_IGNORED},
    {NULL, INCOMING "&Body=12", 0, "incoming_sms", GW_OUTCOME_IGNORED},
    {NULL, INCOMING "&Body=", 0, "incoming_sms", GW_OUTCOME_IGNORED},
    /* Advanced Opt-Out names its own keywords */
    {NULL, INCOMING "&Body=HALT&OptOutType=STOP", 0, "incoming_sms", GW_OUTCOME_OPT_OUT_SMS},
    {NULL, INCOMING "&Body=HELP&OptOutType=HELP", 0, "incoming_sms", GW_OUTCOME_IGNORED},
    /* not Twilio's */
    {NULL, "foo=bar", CF_EINVAL, NULL, GW_OUTCOME_IGNORED},
    {NULL, "MessageSid=SM1", CF_EINVAL, NULL, GW_OUTCOME_IGNORED},
};

static void test_callbacks(void)
{
    for (size_t i = 0; i < sizeof(callback_cases) / sizeof(callback_cases[0]); i++) {
        const struct callback_case *c = &callback_cases[i];
        struct cf_form form = form_of(c->body);
        struct gw_twilio_event ev;
        int rc = gw_twilio_parse_callback(&form, c->kind, &ev);
        if (rc != c->rc ||
            (rc == 0 && (strcmp(ev.kind, c->event_kind) != 0 || ev.outcome != c->outcome)))
            fprintf(stderr, "case %zu (%s): rc %d kind %s outcome %s\n", i, c->body, rc,
                    rc == 0 ? ev.kind : "-", rc == 0 ? gw_outcome_name(ev.outcome) : "-");
        CHECK_INT(rc, c->rc);
        if (rc == 0) {
            CHECK_STR(ev.kind, c->event_kind);
            CHECK_INT(ev.outcome, c->outcome);
        }
        cf_form_free(&form);
    }

    /* what else a callback carries */
    struct cf_form form = form_of(CALL_PARAMS "&CallStatus=completed&CallDuration=31&RecordingUrl="
                                              "https%3A%2F%2Fapi.example%2Frec%2FRE1");
    struct gw_twilio_event ev;
    CHECK_INT(gw_twilio_parse_callback(&form, "status", &ev), 0);
    CHECK_STR(ev.sid, "CA5f1e4a7b2c3d4e5f60718293a4b5c6d7");
    CHECK_INT(ev.duration_s, 31);
    CHECK_INT(ev.answered, 1);
    CHECK_STR(ev.recording_url, "https://api.example/rec/RE1");
    cf_form_free(&form);
    form = form_of(MSG_PARAMS "&MessageStatus=undelivered&ErrorCode=30003");
    CHECK_INT(gw_twilio_parse_callback(&form, NULL, &ev), 0);
    CHECK_STR(ev.error_code, "30003");
    CHECK_INT(ev.duration_s, -1);
    CHECK_STR(ev.sid, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1");
    cf_form_free(&form);
    form = form_of(INCOMING "&Body=1");
    CHECK_INT(gw_twilio_parse_callback(&form, NULL, &ev), 0);
    CHECK_STR(ev.from, "+79161234567");
    cf_form_free(&form);
}

/* The gather request to our hook URL, signed as Twilio signs it. */
#define GATHER_URL HOOK "?send_id=" SEND_ID "&kind=gather"
#define GATHER_BODY                                                                                \
    "AccountSid=" ACCOUNT "&ApiVersion=2010-04-01&CallSid=CA5f1e4a7b2c3d4e5f60718293a4b5c6d7"      \
    "&CallStatus=in-progress&Digits=1&Direction=outbound-api&FinishedOnKey="                       \
    "&From=%2B74950000201&To=%2B79161234567"
#define GATHER_SIG "2/T95kXAa1azeZYycOfSvc1ifOE="

static void test_signed_gather(void)
{
    char *url = gw_twilio_hook_url(&channel, SEND_ID, "gather");
    CHECK_STR(url, GATHER_URL);
    CHECK_INT(cf_twilio_verify_request("demo-reminders-twilio-token", url, "POST",
                                       "application/x-www-form-urlencoded", GATHER_BODY,
                                       strlen(GATHER_BODY), NULL, GATHER_SIG, NULL, 0),
              0);
    /* the same request for another send is not signed */
    char *other = gw_twilio_hook_url(&channel, "00000000-0000-5000-8000-000000000000", "gather");
    CHECK_INT(cf_twilio_verify_request("demo-reminders-twilio-token", other, "POST",
                                       "application/x-www-form-urlencoded", GATHER_BODY,
                                       strlen(GATHER_BODY), NULL, GATHER_SIG, NULL, 0),
              CF_EAUTH);
    free(other);
    free(url);
}

static void test_replies(void)
{
    CHECK_STR(gw_twilio_reply_empty(), "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>");
    CHECK_STR(GW_TWIML_CONTENT_TYPE, "text/xml");
    char *r = gw_twilio_reply_thanks("ru", NULL, NULL);
    /* Russian with no voice named: a voice that speaks it (Twilio's default
     * does not) */
    CHECK_STR(r, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"ru-RU\" "
                 "voice=\"Polly.Tatyana\">Спасибо! До свидания.</Say></Response>");
    free(r);
    r = gw_twilio_reply_thanks("en", "Polly.Joanna", "Thanks & bye");
    CHECK_STR(r, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"en-US\" "
                 "voice=\"Polly.Joanna\">Thanks &amp; bye</Say></Response>");
    free(r);
}

int main(void)
{
    test_encoders();
    test_hook_url();
    test_sms_request();
    test_call();
    test_lookup();
    test_callbacks();
    test_signed_gather();
    test_replies();
    return cf_test_done();
}
