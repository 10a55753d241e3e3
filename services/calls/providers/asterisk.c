/*
 * Asterisk: the PBX posts its CDR to us at hangup with a dialplan CURL(),
 * and optionally the answer as it happens. The service does not connect to
 * AMI or ARI: a live connection per instance would see every call once per
 * instance, while a post is one request that any instance can take.
 * Authenticity is the channel's url_token in the query (?token=); the
 * snippet below sends Unix times, which a daylight-saving change cannot
 * make ambiguous (the CDR's local form, also accepted, is converted with
 * the channel's "timezone"). The CDR has no event id, so the event key is the call key
 * (linkedid, which all legs of a call share; uniqueid without it) plus the
 * event kind: a repeated post is the same event.
 *
 * The dialplan (Asterisk 13+, func_curl; put the channel's URL in
 * CF_HOOK; every value goes through URIENCODE, the CDR times have spaces):
 *
 *   [globals]
 *   CF_HOOK=https://calls.example.org/v1/hooks/calls/asterisk/CHANNEL?token=URL_TOKEN
 *
 *   [from-trunk]                       ; inbound: ${EXTEN} is the DID here
 *   exten => _X.,1,Set(__CF_HOOKED=1)
 *    same => n,Set(__CF_DIR=inbound)
 *    same => n,Set(__CF_START=${EPOCH})
 *    same => n,Set(__CF_SRC=${CALLERID(num)})
 *    same => n,Set(__CF_DST=${EXTEN})
 *    same => n,Set(__CF_DID=${EXTEN})
 *    same => n,Set(CHANNEL(hangup_handler_push)=cf-hangup,s,1)
 *    same => n,Dial(PJSIP/reception,30,U(cf-answer))
 *
 *   [from-internal]                    ; outbound through the trunk
 *   exten => _X.,1,GotoIf($["${CF_HOOKED}" != ""]?dial)  ; a transfer, a forward: hooked
 *    same => n,Set(__CF_HOOKED=1)
 *    same => n,Set(__CF_DIR=outbound)
 *    same => n,Set(__CF_START=${EPOCH})
 *    same => n,Set(__CF_SRC=${CALLERID(num)})
 *    same => n,Set(__CF_DST=${EXTEN})
 *    same => n,Set(__CF_DID=)
 *    same => n,Set(CHANNEL(hangup_handler_push)=cf-hangup,s,1)
 *    same => n(dial),Dial(PJSIP/${EXTEN}@trunk,60,U(cf-answer))
 *
 *   [cf-hangup]                        ; the CDR, on the calling channel
 *   exten => s,1,Set(CURLOPT(conntimeout)=3)
 *    same => n,Set(CURLOPT(httptimeout)=5)
 *    same => n,Set(D=event=hangup&direction=${CF_DIR}&did=${URIENCODE(${CF_DID})})
 *    same => n,Set(D=${D}&uniqueid=${CDR(uniqueid)}&linkedid=${CDR(linkedid)})
 *    same => n,Set(D=${D}&src=${URIENCODE(${CDR(src)})}&dst=${URIENCODE(${CDR(dst)})})
 *    same => n,Set(D=${D}&disposition=${URIENCODE(${CDR(disposition)})})
 *    same => n,Set(D=${D}&duration=${CDR(duration)}&billsec=${CDR(billsec)})
 *    same => n,Set(D=${D}&start=${CDR(start,u)})
 *    same => n,Set(D=${D}&answer=${CDR(answer,u)})
 *    same => n,Set(D=${D}&end=${CDR(end,u)}&call_start=${CF_START})
 *    same => n,Set(D=${D}&agent=${URIENCODE(${CF_AGENT})})
 *    same => n,Set(D=${D}&dialstatus=${DIALSTATUS}&answeredtime=${ANSWEREDTIME})
 *    same => n,Set(I=0)
 *    same => n(post),Set(R=${CURL(${CF_HOOK},${D})})
 *    same => n,Set(I=$[${I} + 1])
 *    same => n,GotoIf($["${R}" != "OK" & ${I} < 3]?post)  ; 503: we could not store it
 *    same => n,Return()
 *
 *   [cf-answer]                        ; optional live state, on the answering channel
 *   exten => s,1,Set(CURLOPT(conntimeout)=2)
 *    same => n,Set(CURLOPT(httptimeout)=3)
 *    same => n,Set(D=event=answered&direction=${CF_DIR}&linkedid=${CHANNEL(linkedid)})
 *    same => n,Set(D=${D}&src=${URIENCODE(${CF_SRC})}&dst=${URIENCODE(${CF_DST})})
 *    same => n,Set(D=${D}&did=${URIENCODE(${CF_DID})})
 *    same => n,Set(D=${D}&time=${EPOCH})
 *    same => n,Set(R=${CURL(${CF_HOOK},${D})})
 *    same => n,Return()
 *
 * CF_AGENT, if your dialplan knows who answered, becomes agent_id (set it
 * on the caller's channel, where the hangup handler runs: from the answering
 * side, e.g. in the answer gosub, Set(MASTER_CHANNEL(CF_AGENT)=...); a
 * variable set there with __ flows only to channels created later). An
 * empty value is ignored. The
 * answer gosub holds the bridge until it returns, hence its short timeouts
 * and no retry; the CDR post is retried since CURL() itself never retries
 * and anything but "OK" (a 503 when Kafka is down) means nothing was kept.
 *
 * Parameters, form body or query: event (hangup | answered | started;
 * absent means hangup), direction (inbound | outbound; default inbound),
 * uniqueid, linkedid, src, dst, did (inbound: the number dialled, which the
 * CDR's dst stops being once the dialplan jumps to an extension),
 * disposition (ANSWERED | NO ANSWER | BUSY | FAILED | CONGESTION), duration,
 * billsec, start, answer, end, call_start (when the call entered the
 * dialplan: the CDR's start is its last record's), time, agent,
 * agent_group (call_center |
 * reception), recording_url. Times: "YYYY-MM-DD HH:MM:SS" local, or Unix
 * seconds (CDR(start,u)).
 */
#include "adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xmalloc.h"

/* A parameter from the form body, else from the query; NULL when absent
 * or empty (the dialplan sends empty values for unset variables). */
static const char *param(const struct cf_hook *h, const char *name)
{
    const char *v = cf_hook_str(h->form, name);

    if (!v || !*v)
        v = cf_hook_str(h->query, name);
    return v && *v ? v : NULL;
}

/* A PBX time to Unix ms: 0, 1 when absent (empty, or the all-zero time of
 * an unanswered CDR in some backends), or CF_EINVAL with the reason. */
static int pbx_time(const struct cf_hook *h, const char *name, int64_t *ms_out, char *errbuf,
                    size_t errbuf_size)
{
    const char *v = param(h, name);
    const char *tz = cf_hook_str(h->channel, "timezone");

    if (!v || strncmp(v, "0000", 4) == 0)
        return 1;
    size_t n = strspn(v, "0123456789");
    if (n > 0 && n <= 12 &&
        (v[n] == '\0' || (v[n] == '.' && strspn(v + n + 1, "0123456789") == strlen(v + n + 1)))) {
        long long s = strtoll(v, NULL, 10); /* CDR(start,u): Unix seconds */
        if (s == 0)
            return 1; /* CDR(answer,u) of an unanswered call: "0.000000" */
        if (s > CALLS_UNIX_S_MAX) {
            cf_seterr(errbuf, errbuf_size, "%s is not a Unix time", name);
            return CF_EINVAL;
        }
        *ms_out = s * 1000;
        return 0;
    }
    if (!tz) {
        cf_seterr(errbuf, errbuf_size, "the channel has no timezone for the PBX's local %s", name);
        return CF_EINVAL;
    }
    if (calls_local_time(v, tz, ms_out) != 0) {
        cf_seterr(errbuf, errbuf_size, "%s is not a local time YYYY-MM-DD HH:MM:SS in %s", name,
                  tz);
        return CF_EINVAL;
    }
    return 0;
}

/* A seconds parameter: 0 with *out, 1 when absent, CF_EINVAL when malformed. */
static int seconds(const struct cf_hook *h, const char *name, long long *out, char *errbuf,
                   size_t errbuf_size)
{
    const char *v = param(h, name);

    if (!v)
        return 1;
    if (strspn(v, "0123456789") != strlen(v) || strlen(v) > 9) {
        cf_seterr(errbuf, errbuf_size, "%s is not a number of seconds", name);
        return CF_EINVAL;
    }
    *out = strtoll(v, NULL, 10);
    return 0;
}

static const char *disposition_outcome(const char *d)
{
    if (strcmp(d, "ANSWERED") == 0)
        return "answered";
    if (strcmp(d, "NO ANSWER") == 0)
        return "missed";
    if (strcmp(d, "BUSY") == 0)
        return "busy";
    return "failed"; /* FAILED, CONGESTION, anything newer */
}

/* The outcome of the call's last Dial() by its ${DIALSTATUS}; none when
 * the post has no status we know (no Dial ran, or an older snippet). */
static const char *const dial_outcomes[][2] = {
    {"ANSWER", "answered"},   {"NOANSWER", "missed"},    {"CANCEL", "missed"},
    {"DONTCALL", "missed"},   {"TORTURE", "missed"},     {"BUSY", "busy"},
    {"CONGESTION", "failed"}, {"CHANUNAVAIL", "failed"}, {"INVALIDARGS", "failed"},
};

/* The members every fact of the request has. */
static json_t *fact_new(const struct cf_hook *h, const char *call_key, const char *kind,
                        int64_t time_ms)
{
    const char *dir = param(h, "direction");
    const int outbound = dir && strcmp(dir, "outbound") == 0;
    const char *src = param(h, "src"), *dst = param(h, "dst"), *did = param(h, "did");
    const char *agent = param(h, "agent"), *group = param(h, "agent_group");
    const char *recording = param(h, "recording_url");
    json_t *j_fact = json_object();
    char *key = cf_xasprintf("%s:%s", call_key, kind);

    json_object_set_new(j_fact, "event_key", json_string(key));
    free(key);
    json_object_set_new(j_fact, "call_key", json_string(call_key));
    cf_time_json_set(j_fact, "time", time_ms);
    json_object_set_new(j_fact, "event", json_string(kind));
    json_object_set_new(j_fact, "direction", json_string(outbound ? "outbound" : "inbound"));
    /* Caller IDs as the trunk gave them: "anonymous", "<unknown>", "101"
     * stay raw; hooks.c normalizes. */
    json_object_set_new(j_fact, "from", json_string(src ? src : ""));
    if (!outbound && did) {
        json_object_set_new(j_fact, "to", json_string(did));
        json_object_set_new(j_fact, "tracking_number", json_string(did));
    } else {
        json_object_set_new(j_fact, "to", json_string(dst ? dst : ""));
        if (!outbound && dst)
            json_object_set_new(j_fact, "tracking_number", json_string(dst));
    }
    if (agent)
        json_object_set_new(j_fact, "agent_id", json_string(agent));
    if (group && (strcmp(group, "call_center") == 0 || strcmp(group, "reception") == 0))
        json_object_set_new(j_fact, "agent_group", json_string(group));
    if (recording)
        json_object_set_new(j_fact, "recording_url", json_string(recording));
    return j_fact;
}

/* The CDR posted at hangup: one ended fact with everything it tells. */
static int parse_cdr(const struct cf_hook *h, const char *call_key, json_t *facts, char *errbuf,
                     size_t errbuf_size)
{
    int64_t start = 0, answer = 0, end = 0;
    long long duration = -1, billsec = -1;
    int rc, has_start, has_answer, has_end;
    const char *disposition = param(h, "disposition");

    if ((rc = pbx_time(h, "start", &start, errbuf, errbuf_size)) < 0)
        return rc;
    has_start = rc == 0;
    if ((rc = pbx_time(h, "answer", &answer, errbuf, errbuf_size)) < 0)
        return rc;
    has_answer = rc == 0;
    if ((rc = pbx_time(h, "end", &end, errbuf, errbuf_size)) < 0)
        return rc;
    has_end = rc == 0;
    if ((rc = seconds(h, "duration", &duration, errbuf, errbuf_size)) < 0 ||
        (rc = seconds(h, "billsec", &billsec, errbuf, errbuf_size)) < 0)
        return rc;

    /* CDR(end) is empty in a hangup handler unless cdr.conf has
     * endbeforehexten=yes: the end is then the start plus the duration. */
    if (!has_end && has_start && duration >= 0) {
        end = start + duration * 1000;
        has_end = 1;
    }
    if (!has_end) {
        cf_seterr(errbuf, errbuf_size, "an asterisk CDR needs end, or start and duration");
        return CF_EINVAL;
    }
    if (duration < 0 && has_start)
        duration = (end - start) / 1000;
    if (billsec < 0 && has_answer)
        billsec = (end - answer) / 1000;
    /* Without a disposition, an answer time says answered; nothing says
     * missed (an older snippet, a hand-made post): the outcome is left to
     * the Dial's status, else unknown. */
    const char *outcome = disposition  ? disposition_outcome(disposition)
                          : has_answer ? "answered"
                                       : NULL;

    /* The CDR is the channel's last record, and the PBX answers a call
     * itself when the dialplan goes on after a Dial() nobody took
     * (VoiceMail, a recording): ANSWERED, with the message as its billsec.
     * The Dial's own status and talk time, when the snippet sends them,
     * tell the staff's answer from the PBX's. */
    const char *dial = CF_HOOK_LOOKUP(dial_outcomes, param(h, "dialstatus"));
    long long talk = billsec;
    if (dial) {
        const int cdr_answered = outcome && strcmp(outcome, "answered") == 0;
        outcome = strcmp(dial, "answered") != 0 && cdr_answered ? "voicemail" : dial;
        long long answeredtime = -1;
        if ((rc = seconds(h, "answeredtime", &answeredtime, errbuf, errbuf_size)) < 0)
            return rc;
        if (strcmp(outcome, "answered") == 0 && answeredtime >= 0) {
            talk = answeredtime;
            has_answer = has_answer && cdr_answered && billsec == answeredtime;
        }
    }
    const int answered = outcome && strcmp(outcome, "answered") == 0;

    /* call_start (the snippet's ${EPOCH} when the call entered the
     * dialplan): the CDR's start is its last record's, which after a Dial
     * nobody took is when VoiceMail() began. */
    int64_t call_start = 0;
    if ((rc = pbx_time(h, "call_start", &call_start, errbuf, errbuf_size)) < 0)
        return rc;
    const int has_call_start = rc == 0 && call_start <= end;

    json_t *j_fact = fact_new(h, call_key, "ended", end);
    if (outcome)
        json_object_set_new(j_fact, "outcome", json_string(outcome));
    if (has_call_start)
        cf_time_json_set(j_fact, "started_at", call_start);
    else if (has_start)
        cf_time_json_set(j_fact, "started_at", start);
    cf_time_json_set(j_fact, "ended_at", end);
    /* the whole call, from the snippet's call_start when it came */
    const long long whole = has_call_start ? (end - call_start) / 1000 : duration;
    if (answered) {
        if (has_answer)
            cf_time_json_set(j_fact, "answered_at", answer);
        else if (talk >= 0)
            cf_time_json_set(j_fact, "answered_at", end - talk * 1000);
        if (talk >= 0)
            json_object_set_new(j_fact, "talk_seconds", json_integer(talk));
        if (whole >= 0 && talk >= 0 && whole >= talk)
            json_object_set_new(j_fact, "ring_seconds", json_integer(whole - talk));
    } else if (outcome) {
        /* Nobody answered: the caller waited the whole duration, unless the
         * PBX answered (voicemail) somewhere in it. */
        json_object_set_new(j_fact, "talk_seconds", json_integer(0));
        if (strcmp(outcome, "voicemail") != 0) {
            if (whole >= 0)
                json_object_set_new(j_fact, "ring_seconds", json_integer(whole));
        } else if (has_call_start && has_answer && answer >= call_start) {
            /* it rang until the PBX answered with the voicemail prompt */
            json_object_set_new(j_fact, "ring_seconds", json_integer((answer - call_start) / 1000));
        }
    }
    json_array_append_new(facts, j_fact);
    return 0;
}

/* A live post (answered, started): one fact at "time", else at the CDR's
 * answer or start. */
static int parse_live(const struct cf_hook *h, const char *call_key, const char *kind,
                      json_t *facts, char *errbuf, size_t errbuf_size)
{
    static const char *const sources[] = {"time", "answer", "start", NULL};
    int64_t t = 0;
    int rc = 1;

    for (const char *const *s = sources; *s && rc == 1; s++) {
        if ((rc = pbx_time(h, *s, &t, errbuf, errbuf_size)) < 0)
            return rc;
    }
    if (rc == 1) {
        cf_seterr(errbuf, errbuf_size, "an asterisk %s post needs a time", kind);
        return CF_EINVAL;
    }
    json_t *j_fact = fact_new(h, call_key, kind, t);
    cf_time_json_set(j_fact, strcmp(kind, "answered") == 0 ? "answered_at" : "started_at", t);
    json_array_append_new(facts, j_fact);
    return 0;
}

static int asterisk_parse(const struct cf_hook *h, json_t *facts, char *errbuf, size_t errbuf_size)
{
    const char *call_key = param(h, "linkedid");
    const char *event = param(h, "event");

    if (!call_key)
        call_key = param(h, "uniqueid");
    if (!call_key) {
        cf_seterr(errbuf, errbuf_size, "not an asterisk call post: no linkedid or uniqueid");
        return CF_EINVAL;
    }
    if (!event || strcmp(event, "hangup") == 0 || strcmp(event, "cdr") == 0 ||
        strcmp(event, "ended") == 0)
        return parse_cdr(h, call_key, facts, errbuf, errbuf_size);
    if (strcmp(event, "answered") == 0 || strcmp(event, "started") == 0)
        return parse_live(h, call_key, event, facts, errbuf, errbuf_size);
    /* an event this version does not record: acknowledged */
    return cf_hook_ignored_value(h, "unknown_event", event);
}

static void asterisk_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = "text/plain";
    snprintf(reply->body, sizeof(reply->body), "OK");
}

const struct calls_adapter calls_adapter_asterisk = {
    "asterisk", NULL, cf_hook_verify_url_token, asterisk_parse, asterisk_reply_ok, 0};
