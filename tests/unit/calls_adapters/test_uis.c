/*
 * The UIS / CoMagic adapter over notification bodies as customers' templates
 * produce them. Sources and confidence:
 * - [doc] uiscom.ru "Уведомления о событиях": the customer picks the event
 *   type, GET or POST, the URL and writes the body template with UIS
 *   variables; HTTP needs the "API Базовый" option (PROVIDERS.md 7d).
 * - [cap] Planfix's CoMagic/CallGear set-up page: the templates "Inbound
 *   call on a virtual phone number", "Call finished", "Lost call", "Talk
 *   started", "Call recording completed", "Outbound call", with
 *   {{notification_mnemonic}}, {{virtual_phone_number}},
 *   {{notification_time}}, {{contact_phone_number}}, {{call_session_id}},
 *   {{employee_id}}, {{direction}}, {{talk_time_duration}},
 *   {{wait_time_duration}}, {{file_link}}; the bodies below are those
 *   templates filled in (values ours).
 * - [cap] a filled "call finished" body in public code: call_session_id and
 *   employee_id unquoted numbers, direction "in", notification_time
 *   "2019-12-16 14:40:47.234" (local time with milliseconds), null values.
 * - [cap] mgdemo.ru's call-ended template: start_time, calling/called
 *   numbers, notification_timestamp.
 * - The notification_mnemonic values are NOT verified (no public list was
 *   found): the fixtures use the notification names of the cabinet
 *   ("Завершение звонка", ...) and our literal kinds, which a template may
 *   write; the mnemonic-like values are marked as guesses. The nearest
 *   evidence: [cap] public integration code names constants
 *   MNEMONIC_IN_CALL_SESSION, MNEMONIC_CALL_CONNECTED and
 *   MNEMONIC_CALL_SESSION_FINISHED (values not shown), and UIS's own
 *   softphone events include "call_session_finished"; those spellings are
 *   among the guesses.
 * There is no signature to compute vectors for: UIS signs nothing; the
 * channel's URL token is compared in constant time.
 */
#include "adapter_fixture.h"
#include "common/err.h"

#define TOKEN "tok-uis-0001"

/* The demo channel (deploy/local/demo-network.json) with this test's
 * token: names its field_map omits take the adapter's defaults. */
static json_t *j_channel;

static void run_raw(struct fx *r, const char *method, const char *token, const char *body,
                    json_t *channel)
{
    fx_init(r, method, "https://calls.example/v1/hooks/calls/uis/demo-uis", json_incref(channel));
    fx_set(r->query, "token", token);
    fx_body(r, body, "application/json");
    fx_run(r, &calls_adapter_uis);
}

static void run(struct fx *r, const char *body)
{
    run_raw(r, "POST", TOKEN, body, j_channel);
}

/* --- an answered inbound call: incoming, talk started, call finished --- */
static const char *const in_call =
    "{\"notification_mnemonic\":null,\"notification_name\":\"Входящий звонок на виртуальный "
    "номер\",\"virtual_phone_number\":\"74990000301\",\"notification_time\":\"2026-11-20 "
    "12:00:00.123\",\"scenario_name\":\"Клиника Юг\",\"contact_phone_number\":\"79161234567\","
    "\"communication_number\":1,\"contact_id\":null,\"contact_full_name\":null,"
    "\"call_session_id\":998677427}";
static const char *const talk_started =
    "{\"notification_name\":\"Начало разговора\",\"notification_mnemonic\":null,"
    "\"virtual_phone_number\":\"74990000301\",\"notification_time\":\"2026-11-20 12:00:08.020\","
    "\"external_id\":null,\"contact_phone_number\":\"79161234567\",\"contact_id\":null,"
    "\"employee_full_name\":\"Регистратура 1\",\"employee_id\":323409,\"call_source\":\"va\","
    "\"call_session_id\":998677427,\"direction\":\"in\",\"leg_ids\":[1,2]}";
static const char *const call_finished =
    "{\"notification_name\":\"Завершение звонка\",\"notification_mnemonic\":null,"
    "\"virtual_phone_number\":\"74990000301\",\"notification_time\":\"2026-11-20 12:01:00.234\","
    "\"external_id\":null,\"contact_phone_number\":\"79161234567\",\"communication_number\":1,"
    "\"employee_full_name\":\"Регистратура 1\",\"employee_id\":323409,\"call_source\":\"va\","
    "\"direction\":\"in\",\"call_session_id\":998677427,\"scenario_name\":\"Клиника Юг\","
    "\"start_time\":\"2026-11-20 12:00:00\",\"talk_time_duration\":52,"
    "\"total_time_duration\":60,\"wait_time_duration\":8,\"tag_names\":null}";

static void test_answered_inbound(void)
{
    struct fx r;

    run(&r, in_call);
    CHECK_INT(r.verify_rc, 0);
    CHECK_INT(r.parse_rc, 0);
    CHECK_INT(json_array_size(r.facts), 1);
    CHECK_STR(fact_str(r.facts, "event_key"), "998677427:started");
    CHECK_STR(fact_str(r.facts, "call_key"), "998677427");
    CHECK_STR(fact_str(r.facts, "event"), "started");
    CHECK_STR(fact_str(r.facts, "time"), "2026-11-20T09:00:00.000Z"); /* Moscow, UTC+3 */
    CHECK_STR(fact_str(r.facts, "direction"), "inbound");
    CHECK_STR(fact_str(r.facts, "from"), "79161234567");
    CHECK_STR(fact_str(r.facts, "to"), "74990000301");
    CHECK_STR(fact_str(r.facts, "tracking_number"), "74990000301");
    fx_free(&r);

    /* The same JSON template sent as a form (a Content-Type left at its
     * default): still read as JSON, not as one meaningless form key. */
    fx_init(&r, "POST", "https://calls.example/v1/hooks/calls/uis/demo-uis",
            json_incref(j_channel));
    fx_set(r.query, "token", TOKEN);
    fx_body(&r, in_call, "application/x-www-form-urlencoded");
    fx_run(&r, &calls_adapter_uis);
    CHECK_INT(r.parse_rc, 0);
    CHECK_INT(json_array_size(r.facts), 1);
    CHECK_STR(fact_str(r.facts, "event_key"), "998677427:started");
    fx_free(&r);

    run(&r, talk_started);
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "event_key"), "998677427:answered");
    CHECK_STR(fact_str(r.facts, "event"), "answered");
    CHECK_STR(fact_str(r.facts, "time"), "2026-11-20T09:00:08.000Z");
    CHECK_STR(fact_str(r.facts, "agent_id"), "323409");
    fx_free(&r);

    run(&r, call_finished);
    CHECK_INT(r.parse_rc, 0);
    CHECK_INT(json_array_size(r.facts), 1);
    CHECK_STR(fact_str(r.facts, "event_key"), "998677427:ended");
    CHECK_STR(fact_str(r.facts, "event"), "ended");
    CHECK_STR(fact_str(r.facts, "time"), "2026-11-20T09:01:00.000Z");
    CHECK_STR(fact_str(r.facts, "started_at"), "2026-11-20T09:00:00.000Z");
    CHECK_INT(fact_int(r.facts, "talk_seconds"), 52);
    CHECK_INT(fact_int(r.facts, "ring_seconds"), 8);
    CHECK_STR(fact_str(r.facts, "outcome"), "answered");
    CHECK_STR(fact_str(r.facts, "agent_id"), "323409");
    CHECK(!fact_has(r.facts, "answered_at") && !fact_has(r.facts, "ended_at") &&
          !fact_has(r.facts, "recording_url"));
    fx_free(&r);
}

/* --- a lost call, and a finished call nobody answered --- */
static void test_missed(void)
{
    struct fx r;

    /* Planfix's "Lost call" template: no direction, no employee */
    run(&r, "{\"notification_name\":\"Потерянный звонок\",\"notification_mnemonic\":null,"
            "\"virtual_phone_number\":\"74990000302\",\"notification_time\":\"2026-11-20 "
            "13:00:25\",\"scenario_name\":\"Клиника Юг\",\"wait_time_duration\":25,"
            "\"employee_ids\":[323409,323410],\"contact_phone_number\":\"79161234567\","
            "\"communication_number\":2,\"contact_id\":null,\"contact_full_name\":null,"
            "\"call_session_id\":998677500}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "event_key"), "998677500:lost");
    CHECK_STR(fact_str(r.facts, "event"), "ended");
    CHECK_STR(fact_str(r.facts, "direction"), "inbound");
    CHECK_STR(fact_str(r.facts, "outcome"), "missed");
    CHECK_INT(fact_int(r.facts, "ring_seconds"), 25);
    CHECK_STR(fact_str(r.facts, "time"), "2026-11-20T10:00:25.000Z");
    fx_free(&r);

    run(&r, "{\"notification_name\":\"Завершение звонка\",\"direction\":\"in\","
            "\"call_session_id\":\"998677501\",\"contact_phone_number\":\"79161234567\","
            "\"virtual_phone_number\":\"74990000302\",\"notification_time\":\"2026-11-20 "
            "13:05:00\",\"talk_time_duration\":0,\"wait_time_duration\":\"00:00:31\"}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "outcome"), "missed");
    CHECK_INT(fact_int(r.facts, "talk_seconds"), 0);
    CHECK_INT(fact_int(r.facts, "ring_seconds"), 31);
    fx_free(&r);

    /* durations as clock strings; a malformed one is left out */
    run(&r, "{\"notification_mnemonic\":\"ended\",\"call_session_id\":2,"
            "\"notification_time\":\"2026-11-20 13:05:00\",\"talk_time_duration\":\"01:02:03\","
            "\"wait_time_duration\":\"12:\"}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_INT(fact_int(r.facts, "talk_seconds"), 3723);
    CHECK(!fact_has(r.facts, "ring_seconds"));
    fx_free(&r);

    /* without a talk time the end says nothing of the outcome */
    run(&r, "{\"notification_mnemonic\":\"ended\",\"call_session_id\":1,"
            "\"notification_time\":\"2026-11-20 13:05:00\"}");
    CHECK_INT(r.parse_rc, 0);
    CHECK(!fact_has(r.facts, "outcome"));
    fx_free(&r);
}

/* --- outbound: UIS's contact and virtual numbers turned round --- */
static void test_outbound(void)
{
    struct fx r;

    run(&r, "{\"notification_name\":\"Завершение звонка\",\"direction\":\"out\","
            "\"virtual_phone_number\":\"74990000303\",\"notification_time\":\"2026-11-20 "
            "14:10:00\",\"contact_phone_number\":\"79169876543\",\"employee_id\":323411,"
            "\"call_session_id\":998677600,\"talk_time_duration\":95,"
            "\"wait_time_duration\":12,\"start_time\":\"2026-11-20 14:08:13\"}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "direction"), "outbound");
    CHECK_STR(fact_str(r.facts, "from"), "74990000303");
    CHECK_STR(fact_str(r.facts, "to"), "79169876543");
    CHECK(!fact_has(r.facts, "tracking_number"));
    CHECK_STR(fact_str(r.facts, "outcome"), "answered");
    CHECK_STR(fact_str(r.facts, "agent_id"), "323411");
    fx_free(&r);

    /* Planfix's "Outbound call" template has no {{direction}}: its name says it */
    run(&r, "{\"notification_name\":\"Исходящий звонок\",\"notification_mnemonic\":null,"
            "\"virtual_phone_number\":\"74990000303\",\"notification_time\":\"2026-11-20 "
            "14:08:13\",\"contact_phone_number\":\"79169876543\",\"contact_id\":null,"
            "\"contact_full_name\":null,\"call_session_id\":998677600,\"employee_full_name\":"
            "\"Колл-центр 2\",\"employee_id\":323411,\"employee_phone_number\":\"101\"}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "event"), "started");
    CHECK_STR(fact_str(r.facts, "direction"), "outbound");
    CHECK_STR(fact_str(r.facts, "to"), "79169876543");
    fx_free(&r);

    run(&r, "{\"notification_mnemonic\":\"started\",\"direction\":\"internal\","
            "\"call_session_id\":7,\"notification_time\":\"2026-11-20 14:08:13\"}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_INT(json_array_size(r.facts), 0); /* neither in nor out */
    fx_free(&r);
}

/* --- anonymous and SIP callers are kept raw --- */
static void test_anonymous_and_sip_kept_raw(void)
{
    struct fx r;

    run(&r, "{\"notification_mnemonic\":\"started\",\"call_session_id\":11,"
            "\"contact_phone_number\":null,\"virtual_phone_number\":\"74990000301\","
            "\"notification_time\":\"2026-11-20 12:00:00\"}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "from"), "");
    fx_free(&r);

    run(&r, "{\"notification_mnemonic\":\"started\",\"call_session_id\":12,"
            "\"contact_phone_number\":\"anonymous\",\"virtual_phone_number\":\"74990000301\","
            "\"notification_time\":\"2026-11-20 12:00:00\"}");
    CHECK_STR(fact_str(r.facts, "from"), "anonymous");
    fx_free(&r);

    run(&r, "{\"notification_mnemonic\":\"started\",\"call_session_id\":13,"
            "\"contact_phone_number\":\"sip:0012345@sip.uiscom.ru\","
            "\"virtual_phone_number\":\"74990000301\","
            "\"notification_time\":\"2026-11-20 12:00:00\"}");
    CHECK_STR(fact_str(r.facts, "from"), "sip:0012345@sip.uiscom.ru");
    fx_free(&r);
}

/* --- a customer's own keys, through the channel's field_map --- */
static void test_field_map(void)
{
    struct fx r;
    json_t *j_ch = json_pack("{s:{s:s}, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}",
                             "credentials", "url_token", TOKEN, "timezone", "Asia/Yekaterinburg",
                             "field_map", "call_id", "id", "event", "kind", "from", "client", "to",
                             "line", "time", "at", "talk_seconds", "call.talk", "outcome", "result",
                             "recording_url", "call.record", "direction", "dir");

    run_raw(&r, "POST", TOKEN,
            "{\"id\":\"s-42\",\"kind\":\"Звонок завершён: call_end\",\"client\":79161234567,"
            "\"line\":\"73432000000\",\"at\":\"2026-11-20 15:00:00\",\"dir\":\"in\","
            "\"result\":\"busy\",\"call\":{\"talk\":\"0\",\"record\":\"https://rec.example/1"
            ".mp3\"},\"notification_mnemonic\":\"lost_call\",\"call_session_id\":99}",
            j_ch);
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "call_key"), "s-42");
    CHECK_STR(fact_str(r.facts, "event_key"), "s-42:ended");
    CHECK_STR(fact_str(r.facts, "from"), "79161234567"); /* an unquoted number */
    CHECK_STR(fact_str(r.facts, "to"), "73432000000");
    CHECK_STR(fact_str(r.facts, "time"), "2026-11-20T10:00:00.000Z"); /* Yekaterinburg, UTC+5 */
    CHECK_STR(fact_str(r.facts, "outcome"), "busy");
    CHECK_INT(fact_int(r.facts, "talk_seconds"), 0);
    CHECK_STR(fact_str(r.facts, "recording_url"), "https://rec.example/1.mp3");
    fx_free(&r);

    /* the mapped event field is not recognised: the notification's name is */
    run_raw(&r, "POST", TOKEN,
            "{\"id\":\"s-43\",\"kind\":\"something\",\"notification_name\":\"Завершение звонка\","
            "\"at\":\"2026-11-20 15:00:00\"}",
            j_ch);
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "event_key"), "s-43:ended");
    fx_free(&r);
    run_raw(&r, "POST", TOKEN,
            "{\"id\":\"s-44\",\"kind\":\"something\",\"at\":\"2026-11-20 15:00:00\"}", j_ch);
    CHECK_INT(r.parse_rc, 0);
    CHECK_INT(json_array_size(r.facts), 0);
    fx_free(&r);
    json_decref(j_ch);
}

/* --- times: Unix seconds, RFC 3339, local with and without milliseconds --- */
static void test_times(void)
{
    struct fx r;
    json_t *j_ch =
        json_pack("{s:{s:s}, s:s, s:{s:s}}", "credentials", "url_token", TOKEN, "timezone",
                  "Europe/Moscow", "field_map", "time", "notification_timestamp");

    run_raw(&r, "POST", TOKEN,
            "{\"notification_mnemonic\":\"answered\",\"call_session_id\":21,"
            "\"notification_timestamp\":1795683608}",
            j_ch);
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "time"), "2026-11-26T09:00:08.000Z");
    fx_free(&r);
    json_decref(j_ch);

    run(&r, "{\"notification_mnemonic\":\"answered\",\"call_session_id\":22,"
            "\"notification_time\":\"2026-11-20T12:00:08+03:00\"}");
    CHECK_STR(fact_str(r.facts, "time"), "2026-11-20T09:00:08.000Z");
    fx_free(&r);

    /* no notification time: an end falls back on... nothing: 400 */
    run(&r, "{\"notification_mnemonic\":\"ended\",\"call_session_id\":23}");
    CHECK_INT(r.parse_rc, CF_EINVAL);
    CHECK(strstr(r.parse_err, "notification_time") != NULL);
    fx_free(&r);

    /* a start without notification time takes its start_time */
    run(&r, "{\"notification_mnemonic\":\"started\",\"call_session_id\":24,"
            "\"start_time\":\"2026-11-20 12:00:00\"}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "time"), "2026-11-20T09:00:00.000Z");
    fx_free(&r);

    /* a local time on a channel without a timezone cannot be placed */
    json_t *j_notz = json_pack("{s:{s:s}}", "credentials", "url_token", TOKEN);
    run_raw(&r, "POST", TOKEN,
            "{\"notification_mnemonic\":\"started\",\"call_session_id\":25,"
            "\"notification_time\":\"2026-11-20 12:00:00\"}",
            j_notz);
    CHECK_INT(r.parse_rc, CF_EINVAL);
    CHECK(strstr(r.parse_err, "timezone") != NULL);
    fx_free(&r);
    json_decref(j_notz);
}

/* --- a recording, and notifications not recorded --- */
static void test_other_events(void)
{
    struct fx r;

    run(&r, "{\"notification_name\":\"Запись разговора\",\"notification_mnemonic\":null,"
            "\"virtual_phone_number\":\"74990000301\",\"notification_time\":\"2026-11-20 "
            "12:03:00\",\"contact_phone_number\":\"79161234567\",\"call_session_id\":998677427,"
            "\"employee_id\":323409,\"file_link\":\"https://app.uiscom.ru/system/media/talk/"
            "998677427/abc/\",\"file_duration\":52,\"tag_ids\":null}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "event_key"), "998677427:recording");
    CHECK_STR(fact_str(r.facts, "event"), "updated");
    CHECK_STR(fact_str(r.facts, "recording_url"),
              "https://app.uiscom.ru/system/media/talk/998677427/abc/");
    fx_free(&r);

    static const char *const ignored[] = {
        /* the end of one employee's talk, not of the call */
        "{\"notification_name\":\"Завершение разговора\",\"call_session_id\":1,"
        "\"notification_time\":\"2026-11-20 12:00:00\",\"talk_time_duration\":5}",
        /* not about a call at all (a guessed mnemonic) */
        "{\"notification_mnemonic\":\"sip_line_registration_lost\","
        "\"notification_time\":\"2026-11-20 12:00:00\"}",
        "{\"notification_name\":\"Потеря регистрации SIP-линии\"}",
        "{}",
        /* a template in a wording no rule knows: acknowledged, but noted */
        "{\"notification_name\":\"Звонок окончен\",\"call_session_id\":2,"
        "\"notification_time\":\"2026-11-20 12:00:00\",\"talk_time_duration\":5}",
    };
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        run(&r, ignored[i]);
        CHECK_INT(r.parse_rc, 0);
        CHECK_INT(json_array_size(r.facts), 0);
        CHECK_STR(r.notes.ignored, "unknown_event"); /* counted and logged by hooks.c */
        fx_free(&r);
    }
    run(&r, ignored[4]);
    CHECK_STR(r.notes.detail, "Звонок окончен");
    fx_free(&r);
    /* a direction that is neither way (an internal call) */
    run(&r, "{\"notification_name\":\"Завершение звонка\",\"direction\":\"internal\","
            "\"call_session_id\":3,\"notification_time\":\"2026-11-20 12:00:00\"}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_INT(json_array_size(r.facts), 0);
    CHECK_STR(r.notes.ignored, "unknown_direction");
    CHECK_STR(r.notes.detail, "internal");
    fx_free(&r);

    /* guessed mnemonic forms are matched on their stems */
    static const char *const guesses[][2] = {
        {"call_answered", "answered"},      {"talk_started", "answered"},
        {"call_session_finished", "ended"}, {"lost_call", "ended"},
        {"in_call_session", "started"},     {"call_record_ready", "updated"},
        {"call_connected", "answered"},
    };
    for (size_t i = 0; i < sizeof(guesses) / sizeof(guesses[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"notification_mnemonic\":\"%s\",\"call_session_id\":5,"
                 "\"notification_time\":\"2026-11-20 12:00:00\"}",
                 guesses[i][0]);
        run(&r, body);
        CHECK_INT(r.parse_rc, 0);
        CHECK_STR(fact_str(r.facts, "event"), guesses[i][1]);
        fx_free(&r);
    }
}

/* --- Planfix's English template names (its CallGear set-up page) --- */
static void test_english_names(void)
{
    struct fx r;
    static const char *const names[][2] = {
        {"Inbound call on a virtual phone number", "started"},
        {"Waiting for the answer", "started"}, /* an employee's phone rings */
        {"Talk started", "answered"},
        {"Call finished", "ended"},
        {"Lost call", "ended"},
        {"Call recording completed", "updated"},
        {"Outbound call", "started"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"notification_name\":\"%s\",\"notification_mnemonic\":null,"
                 "\"call_session_id\":31,\"virtual_phone_number\":\"74990000301\","
                 "\"contact_phone_number\":\"79161234567\",\"notification_time\":"
                 "\"2026-11-20 12:00:00\"}",
                 names[i][0]);
        run(&r, body);
        CHECK_INT(r.parse_rc, 0);
        CHECK_INT(json_array_size(r.facts), 1);
        CHECK_STR(fact_str(r.facts, "event"), names[i][1]);
        if (strcmp(names[i][0], "Outbound call") == 0) {
            CHECK_STR(fact_str(r.facts, "direction"), "outbound");
            CHECK_STR(fact_str(r.facts, "to"), "79161234567");
        } else if (strcmp(names[i][1], "started") == 0) {
            CHECK_STR(fact_str(r.facts, "direction"), "inbound");
        }
        fx_free(&r);
    }
    /* "Talk finished" is one employee's talk, not the call */
    run(&r, "{\"notification_name\":\"Talk finished\",\"call_session_id\":31,"
            "\"notification_time\":\"2026-11-20 12:00:00\"}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_INT(json_array_size(r.facts), 0);
    fx_free(&r);

    /* file_link as a list, as public integrations guard for: its first link */
    run(&r, "{\"notification_name\":\"Call recording completed\",\"call_session_id\":31,"
            "\"notification_time\":\"2026-11-20 12:03:00\",\"file_link\":"
            "[\"https://app.uiscom.ru/system/media/talk/31/a/\","
            "\"https://app.uiscom.ru/system/media/talk/31/b/\"]}");
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "recording_url"), "https://app.uiscom.ru/system/media/talk/31/a/");
    fx_free(&r);
    /* ... but a list is no call id */
    run(&r, "{\"notification_name\":\"Call finished\",\"call_session_id\":[31,32],"
            "\"notification_time\":\"2026-11-20 12:03:00\"}");
    CHECK_INT(r.parse_rc, CF_EINVAL);
    fx_free(&r);
}

static void test_auth(void)
{
    struct fx r;

    run_raw(&r, "POST", "tok-uis-0002", call_finished, j_channel);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    CHECK(strstr(r.verify_err, TOKEN) == NULL);
    fx_free(&r);

    run_raw(&r, "POST", NULL, call_finished, j_channel);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    CHECK(strstr(r.verify_err, "missing") != NULL);
    fx_free(&r);

    /* a token in the body does not count */
    run_raw(&r, "POST", NULL, "{\"token\":\"" TOKEN "\"}", j_channel);
    CHECK_INT(r.verify_rc, CF_EAUTH);
    fx_free(&r);
}

static void test_garbage(void)
{
    struct fx r;
    static const char *const bad[] = {
        "{not json",
        "[1,2,3]",
        "\"ended\"",
        /* a call notification without the call id: a template that lost it */
        "{\"notification_name\":\"Завершение звонка\",\"notification_time\":\"2026-11-20 "
        "12:00:00\"}",
        "{\"notification_mnemonic\":\"ended\",\"call_session_id\":1,"
        "\"notification_time\":\"yesterday\"}",
        "{\"notification_mnemonic\":\"ended\",\"call_session_id\":1,"
        "\"notification_time\":\"2026-11-20 12:00:00\",\"start_time\":\"2026-13-45 99:00:00\"}",
        /* Unix times past the year 9999 (one would overflow in ms) */
        "{\"notification_mnemonic\":\"ended\",\"call_session_id\":1,"
        "\"notification_time\":10000000000000000}",
        "{\"notification_mnemonic\":\"ended\",\"call_session_id\":1,"
        "\"notification_time\":\"999999999999\"}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run(&r, bad[i]);
        fx_check_invalid(&r, i, bad[i]);
        fx_free(&r);
    }
}

/* Durations out of any call's range are left out, not stored: a day at
 * most, as on the generic route (1e30 would be undefined as an integer). */
static void test_durations_out_of_range(void)
{
    static const char *const durations[] = {"99999999999", "1e30",         "-5",
                                            "\"100000\"",  "\"99:00:00\"", "86401"};
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        char body[512];
        struct fx r;
        snprintf(body, sizeof(body),
                 "{\"notification_mnemonic\":\"ended\",\"call_session_id\":7,"
                 "\"notification_time\":\"2026-11-20 12:00:00\",\"contact_phone_number\":"
                 "\"79161234567\",\"virtual_phone_number\":\"74950000304\","
                 "\"talk_time_duration\":%s,\"wait_time_duration\":86400}",
                 durations[i]);
        run(&r, body);
        CHECK_INT(r.parse_rc, 0);
        CHECK(!fact_has(r.facts, "talk_seconds"));
        CHECK_INT(fact_int(r.facts, "ring_seconds"), 86400);
        fx_free(&r);
    }
}

static void test_tolerant_and_get(void)
{
    struct fx r;
    char body[2048];

    /* unknown members, nested and odd ones, are ignored */
    snprintf(body, sizeof(body), "{\"brand_new\":{\"a\":[1,{}]},\"visitor_country\":\"RU\",%s",
             call_finished + 1);
    run(&r, body);
    CHECK_INT(r.parse_rc, 0);
    CHECK_STR(fact_str(r.facts, "event_key"), "998677427:ended");
    fx_free(&r);

    /* a GET notification: the variables in the query */
    fx_init(&r, "GET", "x", json_incref(j_channel));
    json_object_update_new(
        r.query, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "token", TOKEN, "notification_name",
                           "Завершение звонка", "call_session_id", "998677427",
                           "contact_phone_number", "79161234567", "notification_time",
                           "2026-11-20 12:01:00", "talk_time_duration", "52"));
    CHECK_INT(fx_verify(&r, &calls_adapter_uis, TOKEN), 0);
    CHECK_INT(fx_parse(&r, &calls_adapter_uis), 0);
    CHECK_STR(fact_str(r.facts, "event_key"), "998677427:ended");
    CHECK_STR(fact_str(r.facts, "outcome"), "answered");
    CHECK_STR(fact_str(r.facts, "from"), "79161234567");
    fx_free(&r);
}

static void test_event_key_stable(void)
{
    struct fx a, b;

    run(&a, call_finished);
    run(&b, call_finished);
    CHECK(json_equal(a.facts, b.facts));
    fx_free(&a);
    fx_free(&b);

    /* the call id quoted or not is the same call */
    run(&a, "{\"notification_mnemonic\":\"started\",\"call_session_id\":998677427,"
            "\"notification_time\":\"2026-11-20 12:00:00\"}");
    run(&b, "{\"notification_mnemonic\":\"started\",\"call_session_id\":\"998677427\","
            "\"notification_time\":\"2026-11-20 12:00:00\"}");
    CHECK_STR(fact_str(a.facts, "event_key"), fact_str(b.facts, "event_key"));
    fx_free(&a);
    fx_free(&b);
}

static void test_reply(void)
{
    struct fx r;

    run(&r, call_finished);
    fx_check_reply(&r, &calls_adapter_uis, NULL, "uis", NULL, "");
    CHECK(calls_adapter_uis.precheck == NULL);
    fx_free(&r);
}

int main(void)
{
    j_channel =
        fx_with_credentials(fx_demo_channel("demo-uis"), json_pack("{s:s}", "url_token", TOKEN));
    test_answered_inbound();
    test_missed();
    test_outbound();
    test_anonymous_and_sip_kept_raw();
    test_field_map();
    test_times();
    test_other_events();
    test_english_names();
    test_auth();
    test_garbage();
    test_durations_out_of_range();
    test_tolerant_and_get();
    test_event_key_stable();
    test_reply();
    json_decref(j_channel);
    return cf_test_done();
}
