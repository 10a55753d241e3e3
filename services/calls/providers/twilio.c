/*
 * Twilio Voice status callbacks (StatusCallback on a number, on calls.create
 * or on <Dial><Number>): form-encoded POST, or GET with the parameters in the
 * query, per StatusCallbackMethod. Each callback is one call-progress event
 * (CallStatus) of one call leg (CallSid) and becomes one fact; by default
 * Twilio sends only `completed`, so a lone completed carries everything
 * known about the call (outcome, answer time and talk from CallDuration).
 *
 * Authenticity is X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL +
 * every POST parameter name and value, sorted)). The URL is the public one
 * as Twilio saw it (hooks.c builds it from CLINICFLOW_CALLS_PUBLIC_BASE_URL),
 * with its query; a GET has no POST parameters. The check is
 * common/twilio_sig.h's (shared with the reminders' Twilio gateway): it
 * decodes the parameters from the raw body rather than taking the decoded
 * form, because the form keeps one value per name and Twilio signs all of
 * them.
 *
 * The same route takes the <Dial action> request (DialCallStatus), which
 * tells whether the clinic's staff answered a call Twilio picked up itself;
 * see dial_fact().
 */
#include "adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/time.h"
#include "common/twilio_sig.h"
#include "common/xmalloc.h"

/* --- signature ---------------------------------------------------------- */

/* The check itself is common/twilio_sig.h's: the raw body's fields, repeated
 * names kept, the URL's port variants, bodySHA256 for a JSON body. */
static int twilio_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    return cf_twilio_verify_request(cf_hook_credential(h, "auth_token"), h->public_url, h->method,
                                    h->content_type, h->body, h->body_len,
                                    cf_hook_str(h->query, "bodySHA256"),
                                    cf_hook_header(h, "x-twilio-signature"), errbuf, errbuf_size);
}

/* --- parse -------------------------------------------------------------- */

/* A non-negative decimal integer parameter: 0 with *out, or -1. */
static int nonneg_int(const char *s, long long *out)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
        return -1;
    *out = strtoll(s, NULL, 10);
    return 0;
}

/* CallStatus of an ended call to our outcome, or NULL if not an end. */
static const char *end_outcome(const char *status, const char *answered_by)
{
    if (strcmp(status, "completed") == 0) {
        /* Answering-machine detection on an outbound call: a machine took it. */
        if (answered_by && strncmp(answered_by, "machine", 7) == 0)
            return "voicemail";
        return "answered";
    }
    if (strcmp(status, "no-answer") == 0 || strcmp(status, "canceled") == 0)
        return "missed";
    if (strcmp(status, "busy") == 0)
        return "busy";
    if (strcmp(status, "failed") == 0)
        return "failed";
    return NULL;
}

/* Twilio's stand-ins for a caller who hid their number: the word spelled
 * on the keypad as if it were a number (Twilio's help, "Why am I getting
 * calls from these strange numbers"). Each is a valid-looking E.164 number
 * that every hidden caller would share, one person to the counts and
 * tasks: the word instead, which normalizing reads as withheld; NULL for
 * a number of a person. */
static const char *stand_in_of(const char *from)
{
    static const char *const stand_ins[][2] = {
        {"+266696687", "Anonymous"}, {"+7378742833", "Restricted"},   {"+8656696", "Unknown"},
        {"+2562533", "Blocked"},     {"+86282452253", "Unavailable"},
    };
    for (size_t i = 0; i < sizeof(stand_ins) / sizeof(stand_ins[0]); i++) {
        if (strcmp(from, stand_ins[i][0]) == 0)
            return stand_ins[i][1];
    }
    return NULL;
}

/* A new fact of the call in request parameters p: its keys, time and
 * event, the parties and the recording, which every Twilio request carries
 * alike. */
static json_t *new_fact(const json_t *p, const char *event_key, int64_t time_ms, const char *event)
{
    const char *direction = cf_hook_str(p, "Direction");
    const char *from = cf_hook_str(p, "From"), *to = cf_hook_str(p, "To");
    const char *recording = cf_hook_str(p, "RecordingUrl");
    const int outbound = direction && strncmp(direction, "outbound", 8) == 0;
    json_t *j_fact = json_object();

    json_object_set_new(j_fact, "event_key", json_string(event_key));
    json_object_set_new(j_fact, "call_key", json_string(cf_hook_str(p, "CallSid")));
    cf_time_json_set(j_fact, "time", time_ms);
    json_object_set_new(j_fact, "event", json_string(event));
    json_object_set_new(j_fact, "direction", json_string(outbound ? "outbound" : "inbound"));
    /* Withheld numbers come as "Anonymous" or empty, or as a word spelled
     * on the keypad (stand_in_of); SIP and client identities as "sip:..."
     * and "client:...": all kept raw. */
    const char *stand_in = from ? stand_in_of(from) : NULL;
    json_object_set_new(j_fact, "from", json_string(stand_in ? stand_in : from ? from : ""));
    json_object_set_new(j_fact, "to", json_string(to ? to : ""));
    if (!outbound && to && *to)
        json_object_set_new(j_fact, "tracking_number", json_string(to));
    if (recording && *recording)
        json_object_set_new(j_fact, "recording_url", json_string(recording));
    return j_fact;
}

/* DialCallStatus of a <Dial> that ended to the staff leg's outcome, or NULL
 * for a value Twilio may add later. */
static const char *dial_outcome(const char *status)
{
    if (strcmp(status, "completed") == 0 || strcmp(status, "answered") == 0)
        return "answered";
    if (strcmp(status, "no-answer") == 0 || strcmp(status, "canceled") == 0)
        return "missed";
    if (strcmp(status, "busy") == 0 || strcmp(status, "failed") == 0)
        return status;
    return NULL;
}

/* The <Dial action> request: Twilio answered the caller itself (a greeting,
 * then <Dial> to reception), so the parent call's own `completed` says
 * nothing about whether anyone at the clinic picked up. DialCallStatus
 * does; the request carries no Timestamp, so its time is when it arrived
 * (Twilio sends it as the dial ends). One fact per dial of the call, keyed
 * by the dialled leg's sid: a retried request repeats it. */
static int dial_fact(const struct cf_hook *h, const json_t *p, json_t *facts)
{
    const char *dial_sid = cf_hook_str(p, "DialCallSid");
    const char *outcome = dial_outcome(cf_hook_str(p, "DialCallStatus"));
    const int64_t time_ms = h->received_ms;
    long long duration = -1;

    if (!outcome)
        return cf_hook_ignored_value(h, "unknown_status", cf_hook_str(p, "DialCallStatus"));
    (void)nonneg_int(cf_hook_str(p, "DialCallDuration"), &duration);
    const int answered = strcmp(outcome, "answered") == 0;
    char *key = cf_xasprintf("%s:dial:%s", cf_hook_str(p, "CallSid"),
                             dial_sid && *dial_sid ? dial_sid : "-");
    json_t *j_fact = new_fact(p, key, time_ms, "updated");
    free(key);
    json_object_set_new(j_fact, "agent_outcome", json_string(outcome));
    if (answered) {
        /* DialCallDuration runs from the staff answer to the dial's end. */
        cf_time_json_set(j_fact, "agent_answered_at",
                         time_ms - (duration > 0 ? duration : 0) * 1000);
        json_object_set_new(j_fact, "agent_talk_seconds",
                            json_integer(duration > 0 ? duration : 0));
    } else {
        json_object_set_new(j_fact, "agent_talk_seconds", json_integer(0));
    }
    json_array_append_new(facts, j_fact);
    return 0;
}

/* The agent a dialled leg's To names: "client:<identity>" the identity, a
 * SIP URI ("sip:101@pbx.example.com;transport=tls") its user part,
 * anything else (a phone) as it is. A new string (free it; cut at ASCII
 * delimiters only, so UTF-8 stays whole), or NULL when that leaves
 * nothing. */
static char *leg_agent(const char *to)
{
    size_t n;

    if (strncasecmp(to, "client:", 7) == 0) {
        to += 7;
        n = strlen(to);
    } else if (strncasecmp(to, "sip:", 4) == 0 || strncasecmp(to, "sips:", 5) == 0) {
        to = strchr(to, ':') + 1;
        n = strchr(to, '@') ? (size_t)(strchr(to, '@') - to) : strcspn(to, ";?");
    } else {
        n = strlen(to);
    }
    return n > 0 ? cf_xasprintf("%.*s", (int)n, to) : NULL;
}

/* The status callback of the leg a staff_leg channel's <Dial> rang
 * (<Number>, <Client> or <Sip> with its statusCallback at this route): a
 * call of its own to Twilio (its own CallSid, Direction outbound-dial),
 * whose ParentCallSid is the caller's call. It reports for that call who
 * answered it: once the leg was answered (in-progress, or completed
 * having talked), the identity its To names becomes the parent call's
 * agent_id, which the network's agents and staff_numbers maps give a
 * group. The fact names no parties: the leg's From is the <Dial>'s
 * callerId (the caller's number by default, the clinic's own when the
 * TwiML sets it) and its To is the staff's, so neither stands for the
 * caller's call, whose own facts name them. It is inbound: a staff_leg
 * channel's <Dial> rings the staff for a caller (the channel's contract).
 * Any other state of the leg (ringing, not answered, a hunt group's leg
 * someone else took) tells nothing the <Dial action> does not:
 * acknowledged without a fact. */
static int leg_fact(const struct cf_hook *h, const json_t *p, const char *parent,
                    const char *status, json_t *facts)
{
    const char *seq = cf_hook_str(p, "SequenceNumber");
    const char *ts = cf_hook_str(p, "Timestamp");
    const char *to = cf_hook_str(p, "To");
    const char *answered_by = cf_hook_str(p, "AnsweredBy");
    int64_t time_ms = h->received_ms;
    long long duration = -1;
    char *agent;

    (void)nonneg_int(cf_hook_str(p, "CallDuration"), &duration);
    const int answered = strcmp(status, "in-progress") == 0 || strcmp(status, "answered") == 0 ||
                         (strcmp(status, "completed") == 0 && duration > 0);
    /* machine detection on the <Number>: a voicemail took the leg */
    if (!answered || (answered_by && strncmp(answered_by, "machine", 7) == 0))
        return cf_hook_ignored_value(h, "leg_not_answered", status);
    if (!to || !*to)
        to = cf_hook_str(p, "Called");
    if (!to || !(agent = leg_agent(to)))
        return cf_hook_ignored(h, "leg_not_answered");
    if (ts && cf_time_parse_rfc2822(ts, &time_ms) != 0) {
        time_ms = h->received_ms; /* as twilio_parse: dated by its arrival, counted */
        cf_hook_amended(h, "timestamp_unparsed");
    }
    char *key =
        cf_xasprintf("%s:leg:%s:%s", parent, cf_hook_str(p, "CallSid"), seq && *seq ? seq : status);
    json_t *j_fact = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "event_key", key, "call_key",
                               parent, "event", "updated", "direction", "inbound", "from", "", "to",
                               "", "agent_id", agent);
    free(key);
    free(agent);
    cf_time_json_set(j_fact, "time", time_ms);
    json_array_append_new(facts, j_fact);
    return 0;
}

/* The signed parameters: a POST's body (or its query), a GET's query
 * alone. A GET's signature covers its URL only, so a body it carries is
 * never read: a captured GET replayed with a body of one's own is no new
 * call. */
static const json_t *signed_params(const struct cf_hook *h)
{
    const int get = h->method && strcmp(h->method, "GET") == 0;
    return !get && cf_hook_str(h->form, "CallSid") ? h->form : h->query;
}

static int twilio_parse(const struct cf_hook *h, json_t *facts, char *errbuf, size_t errbuf_size)
{
    const json_t *p = signed_params(h);
    const char *sid = cf_hook_str(p, "CallSid");
    const char *status = cf_hook_str(p, "CallStatus");
    const char *seq = cf_hook_str(p, "SequenceNumber");
    const char *event, *outcome = NULL;
    int64_t time_ms;
    long long duration = -1;

    if (!sid || !*sid) {
        cf_seterr(errbuf, errbuf_size, "not a twilio voice callback: no CallSid");
        return CF_EINVAL;
    }
    if (cf_hook_str(p, "DialCallStatus"))
        return dial_fact(h, p, facts);
    if (!status)
        return cf_hook_ignored(h, "not_call_progress"); /* a recording status callback, say */
    const char *parent = cf_hook_str(p, "ParentCallSid");
    if (parent && *parent && strlen(parent) <= 64 &&
        json_is_true(json_object_get(h->channel, "staff_leg")))
        return leg_fact(h, p, parent, status, facts);
    if (strcmp(status, "queued") == 0 || strcmp(status, "initiated") == 0 ||
        strcmp(status, "ringing") == 0) {
        event = "started";
    } else if (strcmp(status, "in-progress") == 0 || strcmp(status, "answered") == 0) {
        event = "answered";
    } else if ((outcome = end_outcome(status, cf_hook_str(p, "AnsweredBy")))) {
        event = "ended";
    } else {
        /* a status Twilio may add later: acknowledged, not recorded */
        return cf_hook_ignored_value(h, "unknown_status", status);
    }
    /* Timestamp comes with the callbacks of a call's StatusCallbackEvent;
     * the status callback set on a phone number is sent once, when the call
     * ends, and Twilio lists no Timestamp for it: its arrival dates that
     * end. Any other status without one is not a status callback (this URL
     * set as the Voice URL, say). */
    const char *ts = cf_hook_str(p, "Timestamp");
    if (!ts && strcmp(event, "ended") == 0) {
        time_ms = h->received_ms;
    } else if (!ts) {
        cf_seterr(errbuf, errbuf_size, "Timestamp missing: not a status callback");
        return CF_EINVAL;
    } else if (cf_time_parse_rfc2822(ts, &time_ms) != 0) {
        /* Twilio does not retry a 400: refusing the request would lose the
         * call. The callback is sent as the status changes, so its arrival
         * dates it; counted, so a new spelling is seen. */
        time_ms = h->received_ms;
        cf_hook_amended(h, "timestamp_unparsed");
    }
    (void)nonneg_int(cf_hook_str(p, "CallDuration"), &duration);

    char *key = cf_xasprintf("%s:%s", sid, seq && *seq ? seq : status);
    json_t *j_fact = new_fact(p, key, time_ms, event);
    free(key);
    /* The channel's TwiML rings the staff with a <Dial action> to this
     * route: Twilio's own answer is not the clinic's, the staff leg will say. */
    if (json_is_true(json_object_get(h->channel, "staff_leg")) &&
        strcmp(json_string_value(json_object_get(j_fact, "direction")), "inbound") == 0)
        json_object_set_new(j_fact, "agent_expected", json_true());
    if (strcmp(event, "started") == 0) {
        cf_time_json_set(j_fact, "started_at", time_ms);
    } else if (strcmp(event, "answered") == 0) {
        cf_time_json_set(j_fact, "answered_at", time_ms);
    } else {
        cf_time_json_set(j_fact, "ended_at", time_ms);
        json_object_set_new(j_fact, "outcome", json_string(outcome));
        if (strcmp(outcome, "answered") == 0 && duration >= 0) {
            /* CallDuration runs from the answer to the hang-up. */
            cf_time_json_set(j_fact, "answered_at", time_ms - duration * 1000);
            json_object_set_new(j_fact, "talk_seconds", json_integer(duration));
        } else if (strcmp(outcome, "answered") != 0 && strcmp(outcome, "voicemail") != 0) {
            json_object_set_new(j_fact, "talk_seconds", json_integer(0));
        }
    }
    json_array_append_new(facts, j_fact);
    return 0;
}

/* Twilio reads no instructions from a status callback's answer, but logs a
 * warning (15003) unless it is 200 with TwiML as text/xml, or 204 with no
 * body; an empty <Response/> is the 200 kind. The answer to a <Dial action>
 * request is the call's next instructions, and the verbs after that
 * <Dial> are never reached: the empty one hangs up. A dial nobody at the
 * clinic answered goes on, when the channel names one, to its
 * after_dial_url (the clinic's voicemail or menu: <Redirect>); a URL that
 * would not fit the answer (clinicflowctl keeps it to 400 bytes escaped)
 * hangs up, and is logged. */
static void twilio_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    const char *dial = cf_hook_str(signed_params(h), "DialCallStatus");
    const char *next = cf_hook_str(h->channel, "after_dial_url");

    reply->status = 200;
    reply->content_type = "text/xml";
    snprintf(reply->body, sizeof(reply->body),
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>");
    /* answered (completed; answered after a <Dial><Conference>): the call
     * is over when the staff hang up */
    const char *outcome = dial ? dial_outcome(dial) : NULL;
    if (!dial || (outcome && strcmp(outcome, "answered") == 0) || !next || !*next)
        return;
    struct cf_strbuf b = {0};
    cf_strbuf_add(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Redirect "
                      "method=\"POST\">");
    cf_strbuf_add_xml(&b, next);
    cf_strbuf_add(&b, "</Redirect></Response>");
    char *twiml = cf_strbuf_take(&b);
    if (strlen(twiml) < sizeof(reply->body))
        memcpy(reply->body, twiml, strlen(twiml) + 1);
    else /* clinicflowctl keeps the escaped URL to 400 bytes: a hand-made config */
        cf_warn("twilio channel %s: after_dial_url too long for the answer; the call hangs up",
                cf_hook_str(h->channel, "id"));
    free(twiml);
}

/* Twilio does not retry a 4xx: a time out of bounds is dropped, not refused. */
const struct calls_adapter calls_adapter_twilio = {
    "twilio", NULL, twilio_verify, twilio_parse, twilio_reply_ok, 1};
