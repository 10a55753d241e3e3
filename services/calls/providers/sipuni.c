/*
 * Sipuni "События на АТС" (PBX events over HTTP): the PBX calls the URL the
 * customer saved in Settings > API > PBX events, once per event, with
 * URL-encoded parameters in the query (GET) or the body (POST), and
 * suspends sending when the answer is not JSON with "success" true.
 *
 * Events: 1 a call (or one of its legs) starts ringing, 3 a leg is
 * answered, 4 a leg ends while the call goes on (a transfer, a group where
 * another phone answered), 2 the call ends, with its status, start and
 * answer times and recording link. There is no signature: the URL is a
 * secret, so the channel's url_token is checked (?token=).
 *
 * Traps this file handles, seen in captured traffic: event 1 may arrive
 * twice a second apart (same leg, so the same event key); on event 2
 * call_answer_timestamp can be set on an unanswered call or lie before the
 * start, so it is taken only for status ANSWER and when it falls between
 * start and end; internal parties come as long forms ("070196201", account
 * prefix + extension) beside their extension (short_src_num); the called
 * number of an inbound call may carry a "_id<n>" suffix, while pbxdstnum
 * holds the number as dialled.
 */
#include "adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/validate.h"

/* A request parameter: the form body (POST) first, then the query (GET).
 * Empty values count as absent (Sipuni sends "transfer_from=" and the
 * like). */
static const char *param(const struct cf_hook *h, const char *name)
{
    const char *v = cf_hook_str(h->form, name);

    if (!v || !*v)
        v = cf_hook_str(h->query, name);
    return v && *v ? v : NULL;
}

/* Unix seconds (decimal digits, not 0) to milliseconds: 0, or -1. */
static int unix_ms(const char *s, int64_t *ms_out)
{
    char *end;
    long long v;

    if (!s || *s < '0' || *s > '9' || strlen(s) > 12)
        return -1;
    v = strtoll(s, &end, 10);
    if (*end != '\0' || v <= 0 || v > CALLS_UNIX_S_MAX)
        return -1;
    *ms_out = (int64_t)v * 1000;
    return 0;
}

/* A party as Sipuni gives it: the extension for an internal party (type 2)
 * when Sipuni sent the short form, else the number; "" when absent. */
static const char *party(const char *num, const char *short_num, const char *type)
{
    if (type && strcmp(type, "2") == 0 && short_num)
        return short_num;
    return num ? num : "";
}

/* The call's outcome by the status of event 2 (unknown: none). "ANSWERED"
 * (Asterisk's CDR word, not seen in Sipuni's events) is taken as an alias. */
static const char *const outcomes[][2] = {
    {"ANSWER", "answered"},    {"ANSWERED", "answered"}, {"NOANSWER", "missed"},
    {"CANCEL", "missed"},      {"BUSY", "busy"},         {"CONGESTION", "failed"},
    {"CHANUNAVAIL", "failed"},
};

/* The answered status, "ANSWER" or its alias "ANSWERED". */
static int answered_status(const char *status)
{
    return status && (strcmp(status, "ANSWER") == 0 || strcmp(status, "ANSWERED") == 0);
}

static void set_str(json_t *obj, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new(obj, key, json_string(value));
}

static int sipuni_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    return cf_hook_verify_url_token(h, errbuf, errbuf_size);
}

static int sipuni_parse(const struct cf_hook *h, json_t *facts, char *errbuf, size_t errbuf_size)
{
    const char *event = param(h, "event"), *call_id = param(h, "call_id");
    const char *src_type = param(h, "src_type"), *dst_type = param(h, "dst_type");
    const char *dst_num = param(h, "dst_num"), *pbxdstnum = param(h, "pbxdstnum");
    const char *status = param(h, "status");
    char to_buf[64], key[256], *end;
    int64_t time_ms, start_ms = -1, answer_ms = -1;
    int inbound;

    if (!event && !call_id) {
        /* Sipuni checks the URL with a request without call fields when
         * the settings are saved; anything else with a body is not ours. */
        if (h->body_len > 0 && json_object_size(h->form) == 0) {
            cf_seterr(errbuf, errbuf_size, "not a Sipuni event: expected URL-encoded parameters");
            return CF_EINVAL;
        }
        return cf_hook_ignored(h, "url_check");
    }
    if (!event) {
        cf_seterr(errbuf, errbuf_size, "a Sipuni event needs both event and call_id");
        return CF_EINVAL;
    }
    long ev = strtol(event, &end, 10);
    if (*end != '\0' || ev < 0 || ev > 99 || *event < '0' || *event > '9') {
        cf_seterr(errbuf, errbuf_size, "event: expected a number, got something else");
        return CF_EINVAL;
    }
    /* Events other than the four call events (Sipuni's sender has more,
     * some without call_id) are acknowledged: an error reply may suspend
     * the account's notifications. */
    if (ev < 1 || ev > 4)
        return cf_hook_ignored_value(h, "unknown_event", event);
    if (!call_id) {
        cf_seterr(errbuf, errbuf_size, "a Sipuni event needs both event and call_id");
        return CF_EINVAL;
    }
    if (strlen(call_id) > 128) {
        cf_seterr(errbuf, errbuf_size, "call_id: longer than 128 characters");
        return CF_EINVAL;
    }
    if (unix_ms(param(h, "timestamp"), &time_ms) != 0) {
        cf_seterr(errbuf, errbuf_size, "timestamp: expected Unix seconds");
        return CF_EINVAL;
    }

    /* Direction from the party types (1 external, 2 internal). Calls
     * between two extensions are not patient calls. */
    if (src_type)
        inbound = strcmp(src_type, "1") == 0;
    else if (dst_type)
        inbound = strcmp(dst_type, "2") == 0;
    else
        return cf_hook_ignored(h, "no_party_types");
    if (!inbound && !(dst_type && strcmp(dst_type, "1") == 0))
        return cf_hook_ignored(h, "internal_call");

    const char *from = party(param(h, "src_num"), param(h, "short_src_num"), src_type);
    const char *to = party(dst_num, param(h, "short_dst_num"), dst_type);
    if (inbound && pbxdstnum) {
        to = pbxdstnum;
    } else if (inbound && dst_num && to == dst_num) {
        /* "998783337125_id265648": the number, then the PBX's own suffix */
        const char *suffix = strstr(dst_num, "_id");
        if (suffix && (size_t)(suffix - dst_num) < sizeof(to_buf)) {
            snprintf(to_buf, sizeof(to_buf), "%.*s", (int)(suffix - dst_num), dst_num);
            to = to_buf;
        }
    }

    if (ev == 2) {
        if (unix_ms(param(h, "call_start_timestamp"), &start_ms) != 0)
            start_ms = -1;
        if (answered_status(status) &&
            unix_ms(param(h, "call_answer_timestamp"), &answer_ms) == 0 &&
            (answer_ms < start_ms || answer_ms > time_ms))
            answer_ms = -1;
    } else if (ev == 4) {
        /* A leg that ended while the call goes on tells only that someone
         * answered it; its status is not the call's. */
        if (!answered_status(status) ||
            unix_ms(param(h, "call_answer_timestamp"), &answer_ms) != 0 ||
            (unix_ms(param(h, "call_start_timestamp"), &start_ms) == 0 && answer_ms < start_ms) ||
            answer_ms > time_ms)
            return cf_hook_ignored(h, "leg_not_answered");
    }

    /* One event 2 per call; events 1, 3 and 4 come once per leg. */
    if (ev == 2 || !dst_num) {
        snprintf(key, sizeof(key), "%s:%ld", call_id, ev);
    } else { /* its first 100 bytes, cut where a UTF-8 character ends */
        size_t n = strlen(dst_num);
        n = cf_validate_utf8_valid_prefix(dst_num, n < 100 ? n : 100);
        snprintf(key, sizeof(key), "%s:%ld:%.*s", call_id, ev, (int)n, dst_num);
    }

    json_t *j_fact = json_object();
    static const char *const kinds[] = {"", "started", "ended", "answered", "answered"};
    json_object_set_new(j_fact, "event_key", json_string(key));
    json_object_set_new(j_fact, "call_key", json_string(call_id));
    cf_time_json_set(j_fact, "time", ev == 4 ? answer_ms : time_ms);
    json_object_set_new(j_fact, "event", json_string(kinds[ev]));
    json_object_set_new(j_fact, "direction", json_string(inbound ? "inbound" : "outbound"));
    json_object_set_new(j_fact, "from", json_string(from));
    json_object_set_new(j_fact, "to", json_string(to));
    if (inbound)
        set_str(j_fact, "tracking_number", pbxdstnum);

    if (ev == 3 || ev == 2) {
        const char *agent = NULL;
        if (!inbound) {
            agent = param(h, "short_src_num");
        } else if (ev == 3 && dst_type && strcmp(dst_type, "2") == 0) {
            agent = param(h, "short_dst_num");
            if (!agent)
                agent = dst_num;
        } else if (ev == 2 && answered_status(status)) {
            /* "201&202&203": the phones called in turn; the last one is
             * the one the call ended on (and answered: a missed call has
             * no agent, as with the other providers) */
            const char *last = param(h, "last_called");
            const char *amp = last ? strrchr(last, '&') : NULL;
            agent = amp ? amp + 1 : last;
        }
        set_str(j_fact, "agent_id", agent);
    }
    if (ev == 2) {
        const char *outcome = CF_HOOK_LOOKUP(outcomes, status);
        if (start_ms > 0)
            cf_time_json_set(j_fact, "started_at", start_ms);
        if (answer_ms > 0)
            cf_time_json_set(j_fact, "answered_at", answer_ms);
        cf_time_json_set(j_fact, "ended_at", time_ms);
        if (outcome)
            json_object_set_new(j_fact, "outcome", json_string(outcome));
        /* Sipuni links a recording to unanswered calls too: an empty file */
        if (outcome && strcmp(outcome, "answered") == 0)
            set_str(j_fact, "recording_url", param(h, "call_record_link"));
    }
    if (ev == 4)
        cf_time_json_set(j_fact, "answered_at", answer_ms);
    json_array_append_new(facts, j_fact);
    return 0;
}

static void sipuni_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = "application/json";
    snprintf(reply->body, sizeof(reply->body), "{\"success\":true}");
}

/* Sipuni may stop sending after an error reply: a time out of bounds is
 * dropped, not refused. */
const struct calls_adapter calls_adapter_sipuni = {
    "sipuni", NULL, sipuni_verify, sipuni_parse, sipuni_reply_ok, 1};
