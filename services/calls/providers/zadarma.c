/*
 * Zadarma (and its white labels Novofon, Megacall): PBX call notifications,
 * form-encoded POSTs with an "event" field. Saving the URL in the cabinet
 * sends an unsigned GET ?zd_echo=X that must be answered with X: the
 * precheck. Every notification carries a "Signature" header that signs a
 * few of its fields, which ones depending on the event (Zadarma's
 * user-api-v1 lib/Webhook/Notify*.php getSignatureString), as PHP computes
 * it: base64_encode(hash_hmac('sha1', fields, secret)). hash_hmac returns
 * lowercase hex by default, so the header is base64 of the 40 hex
 * characters (56 characters). Zadarma's TypeScript library computes base64
 * of the 20 raw bytes (28 characters) instead; both are HMACs under the
 * channel's secret, so either is accepted. An event that is not one of the
 * call events below (Zadarma also posts SMS and speech recognition to
 * notification URLs) is acknowledged unverified and records nothing.
 *
 * Times are the PBX's local wall clock ("call_start"), converted with the
 * channel's timezone. Zadarma reports only the start of a call: the answer
 * notification is sent as the call is answered, so its receipt time stands
 * for the answer, and the end notification is sent at the hangup, so its
 * receipt time stands for the end. Its "duration" is the talk time, not
 * ringing included: a call that rang and was cancelled or not answered
 * reports 0 (captures from live accounts show "cancel" with "0"), so an
 * answered call was answered that many seconds before the end.
 */
#include "adapters.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/xmalloc.h"

/* The events we know the signature of, the fields each signs in order,
 * and the fact each becomes. */
struct zd_event {
    const char *name;
    const char *signed_fields[3];
    const char *event; /* fact event; NULL: acknowledged without a fact */
    int outbound;
};

static const struct zd_event zd_events[] = {
    {"NOTIFY_START", {"caller_id", "called_did", "call_start"}, "started", 0},
    {"NOTIFY_IVR", {"caller_id", "called_did", "call_start"}, "started", 0},
    {"NOTIFY_INTERNAL", {"caller_id", "called_did", "call_start"}, "started", 0},
    {"NOTIFY_ANSWER", {"caller_id", "destination", "call_start"}, "answered", 0},
    {"NOTIFY_END", {"caller_id", "called_did", "call_start"}, "ended", 0},
    {"NOTIFY_OUT_START", {"internal", "destination", "call_start"}, "started", 1},
    {"NOTIFY_OUT_END", {"internal", "destination", "call_start"}, "ended", 1},
    {"NOTIFY_RECORD", {"pbx_call_id", "call_id_with_rec", NULL}, "updated", -1},
};

static const struct zd_event *zd_event_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof(zd_events) / sizeof(zd_events[0]); i++) {
        if (strcmp(zd_events[i].name, name) == 0)
            return &zd_events[i];
    }
    return NULL;
}

/* A form field, "" when absent: PHP concatenates a missing field as "". */
static const char *field(const struct cf_hook *h, const char *name)
{
    const char *s = cf_hook_str(h->form, name);

    return s ? s : "";
}

/* GET ?zd_echo=X: the URL check, answered with X before authentication.
 * Only a short printable token is echoed, so the unauthenticated route
 * reflects nothing else. */
static int zadarma_precheck(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    const char *echo = cf_hook_str(h->query, "zd_echo");

    if (!echo || !h->method || strcmp(h->method, "GET") != 0)
        return 0;
    size_t n = strlen(echo);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (echo[i] <= ' ' || echo[i] > '~')
            return 0;
    }
    reply->status = 200;
    reply->content_type = "text/plain";
    memcpy(reply->body, echo, n + 1);
    return 1;
}

static int zadarma_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    const char *secret = cf_hook_credential(h, "secret");
    const char *got = cf_hook_header(h, "signature");
    const char *name = cf_hook_str(h->form, "event");
    const struct zd_event *ev = zd_event_find(name);
    uint8_t mac[20];
    char hex[41], want[61], want_raw[29];

    if (!secret || !*secret) {
        cf_seterr(errbuf, errbuf_size, "the channel has no secret credential");
        return CF_EAUTH;
    }
    if (!name) {
        cf_seterr(errbuf, errbuf_size, "missing event field");
        return CF_EAUTH;
    }
    if (!ev)
        return 0; /* not a call event (SMS, speech recognition, ...): parse records nothing */
    if (!got || !*got) {
        cf_seterr(errbuf, errbuf_size, "missing Signature header");
        return CF_EAUTH;
    }
    size_t len = 0, off = 0;
    for (int i = 0; i < 3 && ev->signed_fields[i]; i++)
        len += strlen(field(h, ev->signed_fields[i]));
    char *msg = cf_xmalloc(len + 1);
    for (int i = 0; i < 3 && ev->signed_fields[i]; i++) {
        const char *f = field(h, ev->signed_fields[i]);
        size_t n = strlen(f);
        memcpy(msg + off, f, n);
        off += n;
    }
    msg[off] = '\0';
    cf_hmac_sha1(secret, strlen(secret), msg, len, mac);
    free(msg);
    cf_hex(mac, sizeof(mac), hex);
    cf_base64((const uint8_t *)hex, 40, want);
    cf_base64(mac, sizeof(mac), want_raw);
    const int hex_ok = cf_ct_equal(want, strlen(want), got, strlen(got));
    const int raw_ok = cf_ct_equal(want_raw, strlen(want_raw), got, strlen(got));
    if (!hex_ok && !raw_ok) {
        cf_seterr(errbuf, errbuf_size, "wrong Signature");
        return CF_EAUTH;
    }
    /* The signature covers three fields, not the event: the call id, the
     * disposition and the duration are free to change, so one captured
     * request could mint any number of calls. call_start is signed, and a
     * notification is sent within a call's length of it: one whose
     * call_start is older than the replay window is refused. (A call_start
     * that does not parse is parse's 400.) */
    int64_t start_ms;
    const char *tz = cf_hook_str(h->channel, "timezone");
    if (h->replay_window_s > 0 && ev->signed_fields[2] &&
        strcmp(ev->signed_fields[2], "call_start") == 0 && tz &&
        calls_local_time(field(h, "call_start"), tz, &start_ms) == 0 &&
        h->received_ms - start_ms > (int64_t)h->replay_window_s * 1000) {
        cf_seterr(errbuf, errbuf_size, "call_start is older than the replay window");
        return cf_hook_refused(h, "replay");
    }
    return 0;
}

/* disposition to outcome: answered, busy, and a caller who gave up or
 * nobody answered (missed); everything else is the network's or the
 * account's failure. */
static const char *outcome_of(const char *disposition)
{
    if (strcmp(disposition, "answered") == 0)
        return "answered";
    if (strcmp(disposition, "busy") == 0)
        return "busy";
    if (strcmp(disposition, "no answer") == 0 || strcmp(disposition, "cancel") == 0)
        return "missed";
    return "failed";
}

/* 1 if s is a non-empty run of URL-safe id characters. */
static int id_safe(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
            return 0;
    }
    return 1;
}

/* Zadarma gives no link to a recording: it is fetched with the API method
 * pbx/record/request (signed with the API key), which returns one. That
 * request, on the API base of the channel's credentials ("api_base": it
 * differs between Zadarma and its white labels), is the fact's
 * recording_url; without an api_base the fact has none. */
static void set_recording(const struct cf_hook *h, json_t *j_fact, const char *rec,
                          const char *pbx_call_id)
{
    const char *base = cf_hook_credential(h, "api_base");
    char url[800];

    if (!base || !*base || strlen(base) > 200 || !id_safe(rec) || !id_safe(pbx_call_id))
        return;
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    snprintf(url, sizeof(url), "%.*s/v1/pbx/record/request/?call_id=%s&pbx_call_id=%s", (int)blen,
             base, rec, pbx_call_id);
    json_object_set_new(j_fact, "recording_url", json_string(url));
}

static int zadarma_parse(const struct cf_hook *h, json_t *facts, char *errbuf, size_t errbuf_size)
{
    const char *name = cf_hook_str(h->form, "event");
    const struct zd_event *ev = zd_event_find(name);
    const char *pbx_call_id = cf_hook_str(h->form, "pbx_call_id");
    const char *tz = cf_hook_str(h->channel, "timezone");
    int64_t start_ms = 0;
    char key[512];

    if (name && !ev)
        /* acknowledged: an event we do not record, unverified */
        return cf_hook_ignored_value(h, "not_a_call_event", name);
    if (!name || !pbx_call_id || !*pbx_call_id || strlen(pbx_call_id) > 100) {
        cf_seterr(errbuf, errbuf_size, "not a Zadarma notification: no event or pbx_call_id");
        return CF_EINVAL;
    }

    json_t *j_fact = json_pack("{s:s, s:s}", "call_key", pbx_call_id, "event", ev->event);
    if (ev->outbound < 0) {
        /* NOTIFY_RECORD: no parties, no time; pbx_call_id is "in_..." or
         * "out_..." [recall]. The fold keeps parties it already has. */
        const char *rec = field(h, "call_id_with_rec");
        if (!*rec || strlen(rec) > 100) {
            json_decref(j_fact);
            cf_seterr(errbuf, errbuf_size, "NOTIFY_RECORD without call_id_with_rec");
            return CF_EINVAL;
        }
        snprintf(key, sizeof(key), "%s/%s/%s", pbx_call_id, name, rec);
        json_object_set_new(j_fact, "event_key", json_string(key));
        json_object_set_new(
            j_fact, "direction",
            json_string(strncmp(pbx_call_id, "out_", 4) == 0 ? "outbound" : "inbound"));
        json_object_set_new(j_fact, "from", json_string(""));
        json_object_set_new(j_fact, "to", json_string(""));
        cf_time_json_set(j_fact, "time", h->received_ms);
        set_recording(h, j_fact, rec, pbx_call_id);
        json_array_append_new(facts, j_fact);
        return 0;
    }

    if (!tz || calls_local_time(field(h, "call_start"), tz, &start_ms) != 0) {
        json_decref(j_fact);
        cf_seterr(errbuf, errbuf_size, "%s",
                  tz ? "call_start is not a YYYY-MM-DD HH:MM:SS time in the channel's timezone"
                     : "the channel has no timezone for the PBX's local times");
        return CF_EINVAL;
    }
    snprintf(key, sizeof(key), "%s/%s", pbx_call_id, name);
    json_object_set_new(j_fact, "event_key", json_string(key));
    json_object_set_new(j_fact, "direction", json_string(ev->outbound ? "outbound" : "inbound"));
    cf_time_json_set(j_fact, "started_at", start_ms);

    const char *internal = cf_hook_str(h->form, "internal");
    if (ev->outbound) {
        /* OUT_END names the caller id the call went out with; OUT_START only
         * the extension. */
        const char *caller = cf_hook_str(h->form, "caller_id");
        json_object_set_new(j_fact, "from",
                            json_string(caller && *caller ? caller : field(h, "internal")));
        json_object_set_new(j_fact, "to", json_string(field(h, "destination")));
    } else if (strcmp(name, "NOTIFY_ANSWER") == 0) {
        json_object_set_new(j_fact, "from", json_string(field(h, "caller_id")));
        json_object_set_new(j_fact, "to", json_string(field(h, "destination")));
    } else {
        const char *did = field(h, "called_did");
        json_object_set_new(j_fact, "from", json_string(field(h, "caller_id")));
        json_object_set_new(j_fact, "to", json_string(did));
        if (*did)
            json_object_set_new(j_fact, "tracking_number", json_string(did));
    }

    if (strcmp(ev->event, "started") == 0) {
        cf_time_json_set(j_fact, "time", start_ms);
    } else if (strcmp(ev->event, "answered") == 0) {
        cf_time_json_set(j_fact, "time", h->received_ms > start_ms ? h->received_ms : start_ms);
        /* internal is the extension that answered, when one did; a call
         * forwarded to a phone (a mobile, the scenario's external number)
         * has none, and destination, the number that answered, names the
         * agent: the network's staff_numbers map reads it as a phone. */
        const char *agent = internal && *internal ? internal : field(h, "destination");
        if (*agent)
            json_object_set_new(j_fact, "agent_id", json_string(agent));
    } else { /* ended */
        const char *dur = field(h, "duration");
        const char *disp = cf_hook_str(h->form, "disposition");
        const char *outcome = disp && *disp ? outcome_of(disp) : NULL;
        char *end = NULL;
        long long d = strtoll(dur, &end, 10);
        const int has_talk = *dur && end && *end == '\0' && d >= 0 && d <= 7LL * 86400;
        /* duration is the talk time (0 for a call that rang and was not
         * answered), so the end is when the notification arrives, and an
         * answered call was answered duration seconds before it. */
        int64_t end_ms = h->received_ms > start_ms ? h->received_ms : start_ms;
        if (has_talk && end_ms < start_ms + (int64_t)d * 1000)
            end_ms = start_ms + (int64_t)d * 1000;
        cf_time_json_set(j_fact, "time", end_ms);
        cf_time_json_set(j_fact, "ended_at", end_ms);
        if (outcome) {
            json_object_set_new(j_fact, "outcome", json_string(outcome));
            if (strcmp(outcome, "answered") == 0) {
                if (internal && *internal)
                    json_object_set_new(j_fact, "agent_id", json_string(internal));
                if (has_talk) {
                    json_object_set_new(j_fact, "talk_seconds", json_integer((json_int_t)d));
                    cf_time_json_set(j_fact, "answered_at", end_ms - (int64_t)d * 1000);
                }
            }
        }
        if (strcmp(field(h, "is_recorded"), "1") == 0)
            set_recording(h, j_fact, field(h, "call_id_with_rec"), pbx_call_id);
    }
    json_array_append_new(facts, j_fact);
    return 0;
}

static void zadarma_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = NULL;
    reply->body[0] = '\0';
}

const struct calls_adapter calls_adapter_zadarma = {"zadarma",     zadarma_precheck, zadarma_verify,
                                                    zadarma_parse, zadarma_reply_ok, 0};
