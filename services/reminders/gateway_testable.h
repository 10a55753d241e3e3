/*
 * The gateways' requests as pure functions (gateway_webhook.c,
 * gateway_twilio.c, gateway_smsru.c): what goes to a clinic's gateway for
 * one send, and what its callbacks say. No I/O; unit-tested.
 */
#ifndef CF_REMINDERS_GATEWAY_TESTABLE_H
#define CF_REMINDERS_GATEWAY_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/form.h"
#include "common/hash.h"

#define GW_SIGNATURE_HEADER "X-Clinicflow-Signature"

/* A webhook gateway's request (the clinic's own dialer): the JSON body
 * {"send_id", "command": the command's data (its channel: "call" for a
 * robot call, "sms"), "text": what the robot says or the SMS reads,
 * "contact": {"phone", "first_name", "language"}, "clinic": {"id",
 * "name", "address"}}, signed with cf_hmac_sha256_sig (common/hash.h)
 * under the channel's secret. body is new (free it). */
char *gw_webhook_body(const char *send_id, const json_t *command, const char *text,
                      const json_t *contact, const json_t *clinic);

/* An outcome a gateway reported, as the ladder names it
 * (ladder_testable.h). Strings point into the parsed request. */
struct gw_report {
    const char *send_id;
    const char *outcome;
    long duration_s; /* -1 unknown */
    const char *recording_url;
    const char *provider_ref;
};

/* A dialer's outcome (the `generic` outcomes hook), strict JSON: {"send_id"
 * (the send's, as the webhook carried it), "outcome": confirmed, declined,
 * reschedule, no_answer, busy, voicemail, no_reply (picked up, no key
 * pressed), failed, opt_out (the patient
 * pressed 9: no more robot calls), sms_delivered, sms_failed, opt_out_sms;
 * optional "duration_s" (0-86400), "recording_url" (http or https),
 * "provider_ref" (the dialer's id, up to 128)}. j_body is the parsed body
 * (out points into it). 0, or CF_EINVAL with *field the member at fault
 * and the reason in errbuf. */
int gw_webhook_outcome(const json_t *j_body, struct gw_report *out, const char **field,
                       char *errbuf, size_t errbuf_size);

/* What the dispatcher may send to a patient record on a channel ("call",
 * "sms") for a job of kind (reminder, nps, reinvite, recall): NULL when it
 * may (*phone set to the first phone), else the reason ("no_phone",
 * "no_consent": none for the channel, or for a campaign's (reinvite,
 * recall) none for marketing). */
const char *gw_may_send(const json_t *patient_record, const char *kind, const char *channel,
                        const char **phone);

/* ------------------------------------------------------------------------
 * What every gateway's callbacks come to (gateway_twilio.c,
 * gateway_smsru.c): one outcome per callback; and the encoders both
 * gateways' requests use. Defined in gateway_twilio.c.
 */
enum gw_outcome {
    GW_OUTCOME_IGNORED = 0, /* nothing to record: an intermediate state, an unknown value */
    GW_OUTCOME_CONFIRMED,
    GW_OUTCOME_DECLINED,
    GW_OUTCOME_RESCHEDULE,
    GW_OUTCOME_NO_ANSWER,
    GW_OUTCOME_BUSY,
    GW_OUTCOME_VOICEMAIL,
    GW_OUTCOME_FAILED,
    GW_OUTCOME_OPT_OUT_CALLS,
    GW_OUTCOME_OPT_OUT_SMS,
    GW_OUTCOME_SMS_SENT,
    GW_OUTCOME_SMS_DELIVERED,
    GW_OUTCOME_SMS_FAILED,
};

/* Its stable name ("confirmed", "declined", "reschedule", "no_answer",
 * "busy", "voicemail", "failed", "opt_out_calls", "opt_out_sms",
 * "sms_sent", "sms_delivered", "sms_failed", "ignored"). */
const char *gw_outcome_name(enum gw_outcome outcome);

/* s percent-encoded for a URL query or an x-www-form-urlencoded body:
 * RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~) kept, every other
 * byte %XX (space %20, which form decoders read as a space like '+'). A
 * new string (free it). */
char *gw_urlencode(const char *s);

/* s escaped for XML text and attribute values (& < > " '); control bytes
 * XML 1.0 cannot carry become spaces. A new string (free it). */
char *gw_xml_escape(const char *s);

/* ------------------------------------------------------------------------
 * The twilio gateway (gateway_twilio.c): Programmable Messaging for an
 * SMS, Programmable Voice with inline TwiML for a robot call, their
 * callbacks to /v1/hooks/reminders/twilio/<channel_id>?send_id=<send_id>.
 * Requests are plain data; the caller adds the host
 * (the channel's api_url, Twilio's REST API base), basic auth (the account SID and the auth token,
 * or an API key and its secret) and Content-Type
 * application/x-www-form-urlencoded, and sends them. PROVIDERS.md beside
 * this file says what each format rests on.
 */

#define GW_TWILIO_API_VERSION "2010-04-01"
#define GW_TWIML_CONTENT_TYPE "text/xml"
/* Twilio's limit on a Calls request's Twiml parameter, in characters */
#define GW_TWILIO_TWIML_MAX 4000

/* What a twilio gateway channel says; every pointer borrowed. */
struct gw_twilio_channel {
    const char *channel_id;            /* the gateway channel's id (in the hook URL) */
    const char *public_base;           /* "https://host[:port][/prefix]", as Twilio calls us */
    const char *account_sid;           /* "AC..." */
    const char *from;                  /* our number, E.164; NULL for SMS via a service */
    const char *messaging_service_sid; /* "MG...": SMS go through it, From left out */
    const char *voice;                 /* <Say voice> ("Polly.Tatyana"), or NULL */
    int machine_detection;             /* calls: MachineDetection=Enable (voicemail outcome) */
};

/* One request: POST path (under the API host) with the form body. */
struct gw_twilio_request {
    char *path;
    char *body;
};

void gw_twilio_request_free(struct gw_twilio_request *req);

/* The callback URL of a send: <public_base>/v1/hooks/reminders/twilio/
 * <channel_id>?send_id=<send_id>[&kind=<kind>] (kind NULL: none; "status"
 * for a call's status callback, "gather" for its <Gather action>). A new
 * string. */
char *gw_twilio_hook_url(const struct gw_twilio_channel *ch, const char *send_id, const char *kind);

/* <Say language> for a patient's language ("en", "en-GB", ... -> "en-US";
 * anything else, NULL included -> "ru-RU"). A static string. */
const char *gw_twilio_say_language(const char *language);

/* The voice a Russian <Say> gets when the channel names none: Twilio's
 * default voice ("man") is one of its basic voices, which speak English,
 * Spanish, French and German, and an invalid voice and language pair
 * makes the <Say> fail; Amazon Polly's Russian voice through Twilio
 * speaks it. An English <Say> keeps Twilio's default. */
#define GW_TWILIO_RU_VOICE "Polly.Tatyana"

/* The SMS: POST /2010-04-01/Accounts/<sid>/Messages.json with To, From
 * (or MessagingServiceSid), Body, StatusCallback (the hook URL). 0, or
 * CF_EINVAL (no account, no sender, no phone, empty text) with the reason
 * in errbuf and *out empty. */
int gw_twilio_sms_request(const struct gw_twilio_channel *ch, const char *send_id, const char *to,
                          const char *text, struct gw_twilio_request *out, char *errbuf,
                          size_t errbuf_size);

/* The robot call's TwiML: text said inside a one-digit <Gather> (8 s) whose
 * action is gather_url, then closing_text (NULL: none) when no key was
 * pressed. Texts and URL XML-escaped. A new string. */
char *gw_twilio_call_twiml(const char *gather_url, const char *language, const char *voice,
                           const char *text, const char *closing_text);

/* The robot call: POST /2010-04-01/Accounts/<sid>/Calls.json with To,
 * From, Twiml (gw_twilio_call_twiml, its action the hook URL with
 * kind=gather), StatusCallback (kind=status), StatusCallbackEvent
 * completed, StatusCallbackMethod POST [, MachineDetection Enable]. 0, or
 * CF_EINVAL (no account, no From, no phone, empty text, TwiML over
 * GW_TWILIO_TWIML_MAX) with the reason in errbuf and *out empty. */
int gw_twilio_call_request(const struct gw_twilio_channel *ch, const char *send_id, const char *to,
                           const char *language, const char *text, const char *closing_text,
                           struct gw_twilio_request *out, char *errbuf, size_t errbuf_size);

/* After a crash mid-send: the GET path (with its query) listing what the
 * account sent to `to` lately, newest first: Messages.json (kind "sms") or
 * Calls.json (kind "call") filtered by To, and by From when the channel
 * sends from a number, 50 a page. Twilio's list APIs cannot filter by
 * callback URL, and their date filters (DateSent, StartTime) leave out a
 * message not yet sent or a call not yet dialled, so none is used. A new
 * string, or NULL for a bad kind or a missing account or phone. */
char *gw_twilio_lookup_path(const struct gw_twilio_channel *ch, const char *kind, const char *to);

/* What a list page says about one send. */
struct gw_twilio_found {
    int n;           /* resources that match: 0 none, 1 the send, more: cannot tell */
    char sid[64];    /* the first match's sid ("SM...", "CA...") */
    char status[32]; /* its status ("delivered", "completed", ...) */
};

/* Finds the send in j_page (a Messages or Calls list answer): an
 * outbound-api resource to `to`, created (date_created, RFC 2822, whole
 * seconds) between from_ms - 1 s and until_ms, and for an SMS with
 * exactly `body` when body is not NULL. The resources carry no send id nor
 * callback URL: this is as close as Twilio lets us look. 0 with *out set,
 * or CF_EINVAL when j_page is no list page. */
int gw_twilio_lookup_match(const json_t *j_page, const char *kind, const char *to, const char *body,
                           int64_t from_ms, int64_t until_ms, struct gw_twilio_found *out);

/* One Twilio callback, its strings borrowed from the form it was read from. */
struct gw_twilio_event {
    const char *kind; /* "call_status", "gather", "message_status", "incoming_sms" */
    enum gw_outcome outcome;
    const char *sid;           /* CallSid or MessageSid */
    const char *status;        /* CallStatus, MessageStatus, or the Digits pressed */
    long duration_s;           /* CallDuration; -1 when absent */
    int answered;              /* call_status: completed by a person (no machine) */
    const char *recording_url; /* RecordingUrl, or NULL */
    const char *error_code;    /* ErrorCode of a message, or NULL */
    const char *from;          /* incoming_sms: the patient's number */
};

/* Reads a callback's decoded form (every POST field; the signature checked
 * before, cf_twilio_verify_request) and the hook URL's kind parameter
 * (NULL when absent) into *out:
 * - a <Gather action> (kind=gather, or Digits): 1 confirmed, 2 declined,
 *   3 reschedule, 9 opt_out_calls, anything else ignored;
 * - a call status (CallSid, CallStatus): completed answered by a machine
 *   (AnsweredBy machine_*, or fax) voicemail; by a person, left to the
 *   hook (answered = 1: hooks.c makes it no_reply, which a digit the
 *   gather reports before or after it outranks); busy busy, no-answer and
 *   canceled no_answer, failed failed, a call still on its way ignored;
 * - an incoming SMS (Body, no MessageStatus or "received"): trimmed and
 *   case-folded, "1"/"2"/"3" as the gather, Twilio's opt-out keywords
 *   (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT) and
 *   СТОП, ОТПИСКА, ОТПИСАТЬСЯ opt_out_sms (so does an OptOutType=STOP),
 *   anything else ignored;
 * - a message status (MessageSid, MessageStatus): sent sms_sent,
 *   delivered and read sms_delivered, undelivered, failed and canceled
 *   sms_failed, the others ignored.
 * 0, or CF_EINVAL when the form is none of these (no CallSid/MessageSid). */
int gw_twilio_parse_callback(const struct cf_form *form, const char *kind,
                             struct gw_twilio_event *out);

/* The answer to every Twilio voice or SMS webhook but a gather: 200, empty
 * TwiML, Content-Type GW_TWIML_CONTENT_TYPE (no auto-reply, no warning
 * 12300/15003 in the console). */
const char *gw_twilio_reply_empty(void);

/* The answer to a <Gather action>: <Response><Say>text</Say></Response>
 * (text NULL: "Спасибо! До свидания." or "Thank you. Goodbye." per
 * language), after which Twilio hangs up. A new string. */
char *gw_twilio_reply_thanks(const char *language, const char *voice, const char *text);

/* ------------------------------------------------------------------------
 * The smsru gateway (gateway_smsru.c): SMS.ru's HTTP API, POST
 * <api_url>/sms/send with a form body, answers in JSON (json=1), and
 * its API callback of delivery statuses to
 * /v1/hooks/reminders/smsru/<channel_id>?token=<callback_token>.
 */

#define GW_SMSRU_SEND_PATH "/sms/send"
/* What the callback handler must print, or SMS.ru sends the batch again */
#define GW_SMSRU_CALLBACK_ANSWER "100"

/* The sms/send form body: api_id, to (the E.164 phone without '+'), msg,
 * json=1 [, from (an approved sender name)] [, test=1: checked, not sent,
 * not charged]. SMS.ru takes no client-side message id: a send cannot be
 * made idempotent on its side. A new string, or NULL without api_id,
 * phone or text. */
char *gw_smsru_send_body(const char *api_id, const char *to, const char *text, const char *from,
                         int test);

/* The answer to one sms/send for one phone. */
struct gw_smsru_sent {
    int accepted;    /* 1: the number's status OK, code 100 (queued) */
    int status_code; /* the number's code, or the request's when it failed whole */
    char sms_id[64]; /* SMS.ru's id when accepted ("000000-10000000") */
    char error[256]; /* status_text of a refusal, or "" */
};

/* Reads sms/send's JSON answer for phone `to` (E.164, '+' optional; the
 * "sms" object's only entry when its key differs): 0 with *out set
 * (accepted or refused), or CF_EINVAL when the body is not SMS.ru's JSON
 * answer. */
int gw_smsru_parse_send_answer(const char *body, size_t len, const char *to,
                               struct gw_smsru_sent *out);

/* 1 when a refusal with this code is SMS.ru's passing trouble (220 service
 * unavailable, 500 server error): nothing was queued, the send may be made
 * again. */
int gw_smsru_retryable(int status_code);

/* A delivery status code to the outcome: 102 sms_sent; 103 and 110
 * sms_delivered; 104, 105, 106, 107, 108, 150 sms_failed; 100, 101, -1
 * and anything unknown ignored. */
enum gw_outcome gw_smsru_outcome(int status_code);

/* One "sms_status" entry of a callback. */
struct gw_smsru_status {
    char sms_id[64];
    int status_code;
    int64_t time_s; /* the entry's unix time; -1 when absent */
    enum gw_outcome outcome;
};

/* Reads the callback's decoded form: every field named data[<n>] or data[]
 * is one entry, lines "sms_status", sms_id, status code, unix time ("\r"
 * tolerated). Entries of another type (callcheck_status) and malformed
 * ones are skipped and counted in *skipped. Up to max entries go to out;
 * returns how many. Pure. */
size_t gw_smsru_parse_callback(const struct cf_form *form, struct gw_smsru_status *out, size_t max,
                               size_t *skipped);

/* SMS.ru signs no callback: the hook URL carries the channel's secret
 * (credentials.callback_token) as ?token=. got is the request's token
 * (NULL when absent): 0 when equal (constant time), else CF_EAUTH with the
 * reason in errbuf. */
int gw_smsru_check_token(const json_t *credentials, const char *got, char *errbuf,
                         size_t errbuf_size);

#endif
