/*
 * The twilio gateway (gateway_testable.h): an SMS through the Messages
 * API, a robot call through the Calls API with its TwiML inline (a
 * one-digit <Gather> around the reminder), and what Twilio's callbacks
 * say. Every callback goes to one hook URL per send that names the
 * channel and carries the send id, so a callback finds its send without
 * any look-up of Twilio's sids, and Twilio signs that URL with the query
 * (common/twilio_sig.h checks it). Twilio keeps no idempotency key for
 * these APIs and its list APIs cannot search by callback URL: after a
 * crash mid-send the late callback is the proof, and
 * gw_twilio_lookup_match() the best guess when none comes.
 *
 * Also here, because both gateways' requests need them: the outcome
 * names and the URL and XML encoders.
 */
#include "gateway_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* --- shared: outcomes, encoders ----------------------------------------- */

static const char *const outcome_names[] = {
    [GW_OUTCOME_IGNORED] = "ignored",
    [GW_OUTCOME_CONFIRMED] = "confirmed",
    [GW_OUTCOME_DECLINED] = "declined",
    [GW_OUTCOME_RESCHEDULE] = "reschedule",
    [GW_OUTCOME_NO_ANSWER] = "no_answer",
    [GW_OUTCOME_BUSY] = "busy",
    [GW_OUTCOME_VOICEMAIL] = "voicemail",
    [GW_OUTCOME_FAILED] = "failed",
    [GW_OUTCOME_OPT_OUT_CALLS] = "opt_out_calls",
    [GW_OUTCOME_OPT_OUT_SMS] = "opt_out_sms",
    [GW_OUTCOME_SMS_SENT] = "sms_sent",
    [GW_OUTCOME_SMS_DELIVERED] = "sms_delivered",
    [GW_OUTCOME_SMS_FAILED] = "sms_failed",
};

const char *gw_outcome_name(enum gw_outcome outcome)
{
    if ((size_t)outcome >= sizeof(outcome_names) / sizeof(outcome_names[0]))
        return "ignored";
    return outcome_names[outcome];
}

char *gw_urlencode(const char *s)
{
    struct cf_strbuf b = {0};
    cf_strbuf_add_urlencoded(&b, s);
    return cf_strbuf_take(&b);
}

char *gw_xml_escape(const char *s)
{
    struct cf_strbuf b = {0};
    cf_strbuf_add_xml(&b, s);
    return cf_strbuf_take(&b);
}

/* --- requests ----------------------------------------------------------- */

void gw_twilio_request_free(struct gw_twilio_request *req)
{
    free(req->path);
    free(req->body);
    req->path = req->body = NULL;
}

char *gw_twilio_hook_url(const struct gw_twilio_channel *ch, const char *send_id, const char *kind)
{
    struct cf_strbuf b = {0};
    cf_strbuf_add_n(&b, ch->public_base, (size_t)cf_config_base_url_len(ch->public_base));
    cf_strbuf_add(&b, "/v1/hooks/reminders/twilio/");
    cf_strbuf_add_urlencoded(&b, ch->channel_id);
    cf_strbuf_add(&b, "?send_id=");
    cf_strbuf_add_urlencoded(&b, send_id);
    if (kind) {
        cf_strbuf_add(&b, "&kind=");
        cf_strbuf_add_urlencoded(&b, kind);
    }
    return cf_strbuf_take(&b);
}

const char *gw_twilio_say_language(const char *language)
{
    if (language && strncasecmp(language, "en", 2) == 0 &&
        (language[2] == '\0' || language[2] == '-' || language[2] == '_'))
        return "en-US";
    return "ru-RU";
}

static int nonempty(const char *s)
{
    return s && *s;
}

static char *account_path(const char *account_sid, const char *resource)
{
    char *sid = gw_urlencode(account_sid);
    char *path = cf_xasprintf("/" GW_TWILIO_API_VERSION "/Accounts/%s/%s", sid, resource);
    free(sid);
    return path;
}

int gw_twilio_sms_request(const struct gw_twilio_channel *ch, const char *send_id, const char *to,
                          const char *text, struct gw_twilio_request *out, char *errbuf,
                          size_t errbuf_size)
{
    struct cf_strbuf b = {0};

    out->path = out->body = NULL;
    if (!nonempty(ch->account_sid)) {
        cf_seterr(errbuf, errbuf_size, "the channel has no account_sid");
        return CF_EINVAL;
    }
    if (!nonempty(ch->from) && !nonempty(ch->messaging_service_sid)) {
        cf_seterr(errbuf, errbuf_size, "the channel has neither from nor messaging_service_sid");
        return CF_EINVAL;
    }
    if (!nonempty(to) || !nonempty(text) || !nonempty(send_id)) {
        cf_seterr(errbuf, errbuf_size, "no phone, text or send id");
        return CF_EINVAL;
    }
    char *hook = gw_twilio_hook_url(ch, send_id, NULL);
    cf_strbuf_add_form(&b, "To", to);
    if (nonempty(ch->messaging_service_sid))
        cf_strbuf_add_form(&b, "MessagingServiceSid", ch->messaging_service_sid);
    else
        cf_strbuf_add_form(&b, "From", ch->from);
    cf_strbuf_add_form(&b, "Body", text);
    cf_strbuf_add_form(&b, "StatusCallback", hook);
    free(hook);
    out->path = account_path(ch->account_sid, "Messages.json");
    out->body = cf_strbuf_take(&b);
    return 0;
}

/* <Say language="..." [voice="..."]>text</Say>: the channel's voice, else
 * a Russian one for Russian (GW_TWILIO_RU_VOICE), else Twilio's default. */
static void add_say(struct cf_strbuf *b, const char *language, const char *voice, const char *text)
{
    const char *say_language = gw_twilio_say_language(language);
    if (!nonempty(voice) && strcmp(say_language, "ru-RU") == 0)
        voice = GW_TWILIO_RU_VOICE;
    cf_strbuf_add(b, "<Say language=\"");
    cf_strbuf_add(b, say_language);
    cf_strbuf_add(b, "\"");
    if (nonempty(voice)) {
        cf_strbuf_add(b, " voice=\"");
        cf_strbuf_add_xml(b, voice);
        cf_strbuf_add(b, "\"");
    }
    cf_strbuf_add(b, ">");
    cf_strbuf_add_xml(b, text);
    cf_strbuf_add(b, "</Say>");
}

char *gw_twilio_call_twiml(const char *gather_url, const char *language, const char *voice,
                           const char *text, const char *closing_text)
{
    struct cf_strbuf b = {0};

    cf_strbuf_add(&b, "<Response><Gather numDigits=\"1\" timeout=\"8\" action=\"");
    cf_strbuf_add_xml(&b, gather_url);
    cf_strbuf_add(&b, "\" method=\"POST\">");
    add_say(&b, language, voice, text);
    cf_strbuf_add(&b, "</Gather>");
    if (nonempty(closing_text))
        add_say(&b, language, voice, closing_text);
    cf_strbuf_add(&b, "</Response>");
    return cf_strbuf_take(&b);
}

int gw_twilio_call_request(const struct gw_twilio_channel *ch, const char *send_id, const char *to,
                           const char *language, const char *text, const char *closing_text,
                           struct gw_twilio_request *out, char *errbuf, size_t errbuf_size)
{
    struct cf_strbuf b = {0};
    int rc = 0;

    out->path = out->body = NULL;
    if (!nonempty(ch->account_sid) || !nonempty(ch->from)) {
        cf_seterr(errbuf, errbuf_size, "the channel has no account_sid or from");
        return CF_EINVAL;
    }
    if (!nonempty(to) || !nonempty(text) || !nonempty(send_id)) {
        cf_seterr(errbuf, errbuf_size, "no phone, text or send id");
        return CF_EINVAL;
    }
    /* the thanks after the key speaks the call's language */
    char *gather_base = gw_twilio_hook_url(ch, send_id, "gather");
    char *gather =
        cf_xasprintf("%s&lang=%s", gather_base,
                     strcmp(gw_twilio_say_language(language), "en-US") == 0 ? "en" : "ru");
    free(gather_base);
    char *status = gw_twilio_hook_url(ch, send_id, "status");
    char *twiml = gw_twilio_call_twiml(gather, language, ch->voice, text, closing_text);
    /* Twilio counts characters; bytes are at least as many, so a UTF-8
     * TwiML under the limit in bytes is under it in characters. Counted
     * in code points to let a Russian text use the whole limit. */
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)twiml; *p; p++)
        chars += (*p & 0xC0) != 0x80;
    if (chars > GW_TWILIO_TWIML_MAX) {
        cf_seterr(errbuf, errbuf_size, "the call's TwiML is %zu characters, over %d", chars,
                  GW_TWILIO_TWIML_MAX);
        rc = CF_EINVAL;
        goto out;
    }
    cf_strbuf_add_form(&b, "To", to);
    cf_strbuf_add_form(&b, "From", ch->from);
    cf_strbuf_add_form(&b, "Twiml", twiml);
    cf_strbuf_add_form(&b, "StatusCallback", status);
    cf_strbuf_add_form(&b, "StatusCallbackEvent", "completed");
    cf_strbuf_add_form(&b, "StatusCallbackMethod", "POST");
    if (ch->machine_detection)
        cf_strbuf_add_form(&b, "MachineDetection", "Enable");
    out->path = account_path(ch->account_sid, "Calls.json");
    out->body = cf_strbuf_take(&b);
out:
    free(b.p);
    free(gather);
    free(status);
    free(twiml);
    return rc;
}

/* --- the check after a crash -------------------------------------------- */

char *gw_twilio_lookup_path(const struct gw_twilio_channel *ch, const char *kind, const char *to)
{
    const int sms = kind && strcmp(kind, "sms") == 0;
    struct cf_strbuf b = {0};

    if (!kind || (!sms && strcmp(kind, "call") != 0) || !nonempty(ch->account_sid) || !nonempty(to))
        return NULL;
    char *path = account_path(ch->account_sid, sms ? "Messages.json" : "Calls.json");
    cf_strbuf_add(&b, path);
    free(path);
    cf_strbuf_add(&b, "?To=");
    cf_strbuf_add_urlencoded(&b, to);
    /* an SMS through a messaging service may come from any of its numbers */
    if (nonempty(ch->from) && !(sms && nonempty(ch->messaging_service_sid))) {
        cf_strbuf_add(&b, "&From=");
        cf_strbuf_add_urlencoded(&b, ch->from);
    }
    cf_strbuf_add(&b, "&PageSize=50");
    return cf_strbuf_take(&b);
}

static int str_is(const json_t *j, const char *want)
{
    const char *s = json_string_value(j);
    return s && want && strcmp(s, want) == 0;
}

int gw_twilio_lookup_match(const json_t *j_page, const char *kind, const char *to, const char *body,
                           int64_t from_ms, int64_t until_ms, struct gw_twilio_found *out)
{
    const int sms = kind && strcmp(kind, "sms") == 0;
    const json_t *j_list = json_object_get(j_page, sms ? "messages" : "calls");
    size_t i;
    json_t *j_item;

    memset(out, 0, sizeof(*out));
    if (!json_is_array(j_list))
        return CF_EINVAL;
    json_array_foreach(j_list, i, j_item)
    {
        int64_t created;
        if (!str_is(json_object_get(j_item, "to"), to) ||
            !str_is(json_object_get(j_item, "direction"), "outbound-api"))
            continue;
        if (cf_time_parse_rfc2822(json_string_value(json_object_get(j_item, "date_created")),
                                  &created) != 0 ||
            created < from_ms - 1000 || created > until_ms)
            continue;
        if (sms && body && !str_is(json_object_get(j_item, "body"), body))
            continue;
        if (out->n++ == 0) {
            const char *sid = json_string_value(json_object_get(j_item, "sid"));
            const char *status = json_string_value(json_object_get(j_item, "status"));
            snprintf(out->sid, sizeof(out->sid), "%s", sid ? sid : "");
            snprintf(out->status, sizeof(out->status), "%s", status ? status : "");
        }
    }
    return 0;
}

/* --- callbacks ---------------------------------------------------------- */

static enum gw_outcome digit_outcome(const char *digits)
{
    if (!digits || strlen(digits) != 1)
        return GW_OUTCOME_IGNORED;
    switch (digits[0]) {
    case '1':
        return GW_OUTCOME_CONFIRMED;
    case '2':
        return GW_OUTCOME_DECLINED;
    case '3':
        return GW_OUTCOME_RESCHEDULE;
    case '9':
        return GW_OUTCOME_OPT_OUT_CALLS;
    default:
        return GW_OUTCOME_IGNORED;
    }
}

/* s trimmed (whitespace, and a trailing '.' or '!'), with ASCII and
 * Cyrillic capitals (А-Я, Ё) lowered: a new string. */
static char *fold_reply(const char *s)
{
    const unsigned char *b = (const unsigned char *)s, *e;
    struct cf_strbuf out = {0};

    while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
        b++;
    e = b + strlen((const char *)b);
    while (e > b && strchr(" \t\r\n.!", e[-1]))
        e--;
    for (const unsigned char *p = b; p < e; p++) {
        unsigned char c[2] = {p[0], 0};
        size_t n = 1;
        if (c[0] >= 'A' && c[0] <= 'Z') {
            c[0] = (unsigned char)(c[0] + 32);
        } else if (c[0] == 0xD0 && p + 1 < e) {
            unsigned char d = p[1];
            n = 2;
            p++;
            if (d >= 0x90 && d <= 0x9F) { /* А-П -> а-п */
                c[1] = (unsigned char)(d + 0x20);
            } else if (d >= 0xA0 && d <= 0xAF) { /* Р-Я -> р-я */
                c[0] = 0xD1;
                c[1] = (unsigned char)(d - 0x20);
            } else if (d == 0x81) { /* Ё -> ё */
                c[0] = 0xD1;
                c[1] = 0x91;
            } else {
                c[1] = d;
            }
        }
        cf_strbuf_add_n(&out, (const char *)c, n);
    }
    return cf_strbuf_take(&out);
}

static enum gw_outcome sms_reply_outcome(const char *body)
{
    /* Twilio's default opt-out keywords, then the Russian ones we add. */
    static const char *const opt_out[] = {
        "stop",   "stopall", "unsubscribe", "cancel",  "end",        "quit",
        "revoke", "optout",  "стоп",        "отписка", "отписаться", NULL,
    };
    char *folded = fold_reply(body ? body : "");
    enum gw_outcome outcome = GW_OUTCOME_IGNORED;

    if (strlen(folded) == 1 && strchr("123", folded[0])) {
        outcome = digit_outcome(folded);
    } else {
        for (size_t i = 0; opt_out[i]; i++)
            if (strcmp(folded, opt_out[i]) == 0)
                outcome = GW_OUTCOME_OPT_OUT_SMS;
    }
    free(folded);
    return outcome;
}

static enum gw_outcome call_status_outcome(const char *status, const char *answered_by,
                                           int *answered)
{
    *answered = 0;
    if (strcmp(status, "completed") == 0) {
        if (answered_by &&
            (strncmp(answered_by, "machine", 7) == 0 || strcmp(answered_by, "fax") == 0))
            return GW_OUTCOME_VOICEMAIL;
        *answered = 1;
        return GW_OUTCOME_IGNORED;
    }
    if (strcmp(status, "busy") == 0)
        return GW_OUTCOME_BUSY;
    if (strcmp(status, "no-answer") == 0 || strcmp(status, "canceled") == 0)
        return GW_OUTCOME_NO_ANSWER;
    if (strcmp(status, "failed") == 0)
        return GW_OUTCOME_FAILED;
    return GW_OUTCOME_IGNORED; /* queued, initiated, ringing, in-progress */
}

static enum gw_outcome message_status_outcome(const char *status)
{
    if (strcmp(status, "sent") == 0)
        return GW_OUTCOME_SMS_SENT;
    if (strcmp(status, "delivered") == 0 || strcmp(status, "read") == 0)
        return GW_OUTCOME_SMS_DELIVERED;
    if (strcmp(status, "undelivered") == 0 || strcmp(status, "failed") == 0 ||
        strcmp(status, "canceled") == 0)
        return GW_OUTCOME_SMS_FAILED;
    return GW_OUTCOME_IGNORED; /* queued, accepted, scheduled, sending, ... */
}

int gw_twilio_parse_callback(const struct cf_form *form, const char *kind,
                             struct gw_twilio_event *out)
{
    const char *call_sid = cf_form_get(form, "CallSid");
    const char *message_sid = cf_form_get(form, "MessageSid");
    const char *digits = cf_form_get(form, "Digits");
    const char *call_status = cf_form_get(form, "CallStatus");
    const char *message_status = cf_form_get(form, "MessageStatus");
    const char *body = cf_form_get(form, "Body");
    const char *duration = cf_form_get(form, "CallDuration");

    memset(out, 0, sizeof(*out));
    out->duration_s = -1;
    if (!message_sid)
        message_sid = cf_form_get(form, "SmsSid");
    if (nonempty(call_sid)) {
        out->sid = call_sid;
        out->recording_url = cf_form_get(form, "RecordingUrl");
        if (duration && *duration && strspn(duration, "0123456789") == strlen(duration) &&
            strlen(duration) <= 9)
            out->duration_s = strtol(duration, NULL, 10);
        if ((kind && strcmp(kind, "gather") == 0) || digits) {
            out->kind = "gather";
            out->status = digits;
            out->outcome = digit_outcome(digits);
            return 0;
        }
        if (call_status) {
            out->kind = "call_status";
            out->status = call_status;
            out->outcome =
                call_status_outcome(call_status, cf_form_get(form, "AnsweredBy"), &out->answered);
            return 0;
        }
        return CF_EINVAL;
    }
    if (!nonempty(message_sid))
        return CF_EINVAL;
    out->sid = message_sid;
    if (body && (!message_status || strcmp(message_status, "received") == 0)) {
        const char *opt_out_type = cf_form_get(form, "OptOutType");
        out->kind = "incoming_sms";
        out->status = body;
        out->from = cf_form_get(form, "From");
        out->outcome = opt_out_type && strcasecmp(opt_out_type, "STOP") == 0
                           ? GW_OUTCOME_OPT_OUT_SMS
                           : sms_reply_outcome(body);
        return 0;
    }
    if (!message_status)
        message_status = cf_form_get(form, "SmsStatus");
    if (!message_status)
        return CF_EINVAL;
    out->kind = "message_status";
    out->status = message_status;
    out->error_code = cf_form_get(form, "ErrorCode");
    out->outcome = message_status_outcome(message_status);
    return 0;
}

const char *gw_twilio_reply_empty(void)
{
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";
}

char *gw_twilio_reply_thanks(const char *language, const char *voice, const char *text)
{
    struct cf_strbuf b = {0};
    const int en = strcmp(gw_twilio_say_language(language), "en-US") == 0;

    if (!nonempty(text))
        text = en ? "Thank you. Goodbye." : "Спасибо! До свидания.";
    cf_strbuf_add(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
    add_say(&b, language, voice, text);
    cf_strbuf_add(&b, "</Response>");
    return cf_strbuf_take(&b);
}
