/*
 * Mango Office VPBX: the "API Коннектор" posts form fields vpbx_api_key,
 * sign and json to the configured base URL + "/events/<type>". Every request
 * is verified (sign = lowercase hex SHA-256 of vpbx_api_key + json +
 * vpbx_api_salt, over the json field exactly as received, and the key must
 * be the channel's) before anything is read from json.
 *
 * events/call arrives once per leg state change, legs of one call (entry_id)
 * out of order and interleaved: a leg that appears is "started", a leg
 * connected to a person (location "abonent", or any leg of an outbound call)
 * is "answered". A disconnected leg is not the end of the call (an agent who
 * did not pick up drops while the caller waits for the next), so the end
 * and the outcome come from events/summary, sent once per entry after the
 * call. Other event types (ping, recording, dtmf, ...) are acknowledged
 * without facts. Mango has no direction on a leg: a leg whose caller is an
 * employee (from.extension) is outbound, as in public integrations.
 */
#include "adapters.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/xmalloc.h"

static int mango_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    const char *key = cf_hook_credential(h, "vpbx_api_key");
    const char *salt = cf_hook_credential(h, "vpbx_api_salt");
    const char *got_key = cf_hook_str(h->form, "vpbx_api_key");
    const char *sign = cf_hook_str(h->form, "sign");
    const char *json = cf_hook_str(h->form, "json");
    char want[CF_SHA256_HEX_LEN + 1], got[CF_SHA256_HEX_LEN + 1];
    uint8_t digest[32];

    if (!key || !*key || !salt || !*salt) {
        cf_seterr(errbuf, errbuf_size, "the channel lacks vpbx_api_key or vpbx_api_salt");
        return CF_EAUTH;
    }
    if (!got_key || !sign || !json) {
        cf_seterr(errbuf, errbuf_size, "missing vpbx_api_key, sign or json");
        return CF_EAUTH;
    }
    if (!cf_ct_equal(key, strlen(key), got_key, strlen(got_key))) {
        cf_seterr(errbuf, errbuf_size, "vpbx_api_key is not the channel's");
        return CF_EAUTH;
    }
    size_t klen = strlen(key), jlen = strlen(json), slen = strlen(salt);
    char *msg = cf_xmalloc(klen + jlen + slen + 1);
    memcpy(msg, key, klen);
    memcpy(msg + klen, json, jlen);
    memcpy(msg + klen + jlen, salt, slen);
    msg[klen + jlen + slen] = '\0'; /* hashed by length; terminated for safety */
    cf_sha256(msg, klen + jlen + slen, digest);
    free(msg);
    cf_hex(digest, sizeof(digest), want);

    /* Hex is case-insensitive; compare the lowercase form. */
    size_t n = strlen(sign);
    if (n != CF_SHA256_HEX_LEN) {
        cf_seterr(errbuf, errbuf_size, "wrong sign");
        return CF_EAUTH;
    }
    for (size_t i = 0; i < n; i++)
        got[i] = (char)tolower((unsigned char)sign[i]);
    got[n] = '\0';
    if (!cf_ct_equal(want, CF_SHA256_HEX_LEN, got, n)) {
        cf_seterr(errbuf, errbuf_size, "wrong sign");
        return CF_EAUTH;
    }
    return 0;
}

/* Bound of the integers read: Unix seconds up to year 9999 and sequence
 * numbers fit; seconds * 1000 cannot overflow. */
#define MANGO_INT_MAX CALLS_UNIX_S_MAX

/* A member that Mango sends as a number but a sender might quote: 0 and
 * *out, or -1 when absent, not an integer or out of range. */
static int int_member(const json_t *obj, const char *key, long long *out)
{
    const json_t *v = json_object_get(obj, key);
    long long n;

    if (json_is_integer(v)) {
        n = (long long)json_integer_value(v);
    } else if (json_is_string(v) && *json_string_value(v)) {
        char *end;
        n = strtoll(json_string_value(v), &end, 10);
        if (*end != '\0')
            return -1;
    } else {
        return -1;
    }
    if (n < -MANGO_INT_MAX || n > MANGO_INT_MAX)
        return -1;
    *out = n;
    return 0;
}

/* Mango's ids are short base64 strings; a bound keeps event keys within
 * what calls.raw accepts. */
static int id_ok(const char *id)
{
    return id && *id && strlen(id) <= 100;
}

/* A string member of a sub-object ("from", "to"), NULL when absent or empty. */
static const char *party_member(const json_t *j, const char *party, const char *key)
{
    const char *s = cf_hook_str(json_object_get(j, party), key);

    return s && *s ? s : NULL;
}

/* Mango's document types extension as an integer, while its examples send
 * strings: numbers in the parties (and a summary's line_number) are turned
 * into strings before anything reads them. */
static void numbers_as_strings(json_t *j_obj)
{
    static const char *const keys[] = {"extension", "number", "line_number"};
    char buf[32];

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const json_t *v = json_object_get(j_obj, keys[i]);
        if (json_is_integer(v)) {
            snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
            json_object_set_new(j_obj, keys[i], json_string(buf));
        }
    }
}

static const char *first_of(const char *a, const char *b, const char *c)
{
    return a ? a : b ? b : c ? c : "";
}

/* Sets event, direction, from, to, tracking_number of a fact from the
 * parties of a leg or a summary. Inbound, "to" is the number the caller
 * dialled (line_number: the tracking number), not the employee the leg rang;
 * outbound, "from" is the line the call went out on when Mango names it. */
static void set_parties(json_t *j_fact, const json_t *j, const char *line_number, int outbound)
{
    const char *from_number = party_member(j, "from", "number");
    const char *from_ext = party_member(j, "from", "extension");
    const char *to_number = party_member(j, "to", "number");
    const char *to_ext = party_member(j, "to", "extension");

    json_object_set_new(j_fact, "direction", json_string(outbound ? "outbound" : "inbound"));
    if (outbound) {
        json_object_set_new(j_fact, "from",
                            json_string(first_of(line_number, from_number, from_ext)));
        json_object_set_new(j_fact, "to", json_string(first_of(to_number, to_ext, NULL)));
    } else {
        json_object_set_new(j_fact, "from", json_string(first_of(from_number, from_ext, NULL)));
        json_object_set_new(j_fact, "to", json_string(first_of(line_number, to_number, to_ext)));
        if (line_number)
            json_object_set_new(j_fact, "tracking_number", json_string(line_number));
    }
}

/* The agent of an answered leg or call: the employee's extension (the
 * caller's outbound, the answering leg's inbound). A leg forwarded to a
 * phone (an employee's mobile) names no extension inbound, only
 * to.number: that number is then the agent, which the network's
 * staff_numbers map reads as a phone. The number the caller dialled is
 * nobody's. NULL when none is named. */
static const char *agent_of(const json_t *j, int outbound, const char *line_number)
{
    const char *ext = party_member(j, outbound ? "from" : "to", "extension");
    const char *number = party_member(j, "to", "number");

    if (ext || outbound)
        return ext;
    if (number && line_number && strcmp(number, line_number) == 0)
        return NULL;
    return number;
}

/* events/call: one leg's state change. */
static int parse_call(const struct cf_hook *h, const json_t *j, json_t *facts, char *errbuf,
                      size_t errbuf_size)
{
    const char *entry_id = cf_hook_str(j, "entry_id");
    const char *call_id = cf_hook_str(j, "call_id");
    const char *state = cf_hook_str(j, "call_state");
    const char *location = cf_hook_str(j, "location");
    const char *line_number = party_member(j, "to", "line_number");
    const int outbound = party_member(j, "from", "extension") != NULL;
    long long ts, seq;
    const char *event;
    char key[512];

    if (!id_ok(entry_id) || !id_ok(call_id) || !state || int_member(j, "timestamp", &ts) != 0 ||
        ts <= 0) {
        cf_seterr(errbuf, errbuf_size,
                  "events/call needs entry_id, call_id, call_state and timestamp");
        return CF_EINVAL;
    }
    if (strcmp(state, "Appeared") == 0) {
        event = "started";
    } else if (strcmp(state, "Connected") == 0) {
        /* An inbound leg connected to the IVR or a queue is not an answer. */
        if (!outbound && !(location ? strcmp(location, "abonent") == 0
                                    : party_member(j, "to", "extension") != NULL))
            return cf_hook_ignored(h, "not_an_answer");
        event = "answered";
    } else {
        /* OnHold, Disconnected: the summary ends the call */
        return cf_hook_ignored_value(h, "leg_state", state);
    }
    /* Internal calls (employee to employee) are not the clinic's calls. */
    if (outbound && party_member(j, "to", "extension"))
        return cf_hook_ignored(h, "internal_call");

    if (int_member(j, "seq", &seq) == 0)
        snprintf(key, sizeof(key), "%s/%s/%lld", entry_id, call_id, seq);
    else
        snprintf(key, sizeof(key), "%s/%s/%s", entry_id, call_id, state);
    json_t *j_fact =
        json_pack("{s:s, s:s, s:s}", "event_key", key, "call_key", entry_id, "event", event);
    cf_time_json_set(j_fact, "time", (int64_t)ts * 1000);
    set_parties(j_fact, j, line_number, outbound);
    if (strcmp(event, "answered") == 0) {
        const char *agent = agent_of(j, outbound, line_number);
        if (agent)
            json_object_set_new(j_fact, "agent_id", json_string(agent));
    }
    json_array_append_new(facts, j_fact);
    return 0;
}

/* events/summary: the call after its end. */
static int parse_summary(const struct cf_hook *h, const json_t *j, json_t *facts, char *errbuf,
                         size_t errbuf_size)
{
    const char *entry_id = cf_hook_str(j, "entry_id");
    const char *line_number = cf_hook_str(j, "line_number");
    long long dir, create = 0, talk = 0, end = 0, result = -1;
    char key[512];
    int outbound;

    (void)int_member(j, "create_time", &create);
    if (!id_ok(entry_id) || int_member(j, "end_time", &end) != 0 || (end <= 0 && create <= 0)) {
        cf_seterr(errbuf, errbuf_size, "events/summary needs entry_id and end_time");
        return CF_EINVAL;
    }
    if (int_member(j, "call_direction", &dir) != 0)
        dir = party_member(j, "from", "extension") ? 2 : 1;
    if (dir != 1 && dir != 2)
        return cf_hook_ignored(h, "internal_call");
    outbound = dir == 2;
    const int has_talk = int_member(j, "talk_time", &talk) == 0;
    if (line_number && !*line_number)
        line_number = NULL;

    snprintf(key, sizeof(key), "%s/summary", entry_id);
    json_t *j_fact =
        json_pack("{s:s, s:s, s:s}", "event_key", key, "call_key", entry_id, "event", "ended");
    cf_time_json_set(j_fact, "time", (end > 0 ? end : create) * 1000);
    set_parties(j_fact, j, line_number, outbound);
    if (create > 0)
        cf_time_json_set(j_fact, "started_at", (int64_t)create * 1000);
    /* entry_result 1 is "the call succeeded and a conversation took place",
     * 0 "the call was missed"; yet the document's own example of a call
     * that ended in the voice menu has 1 with talk_time 0: nobody at the
     * clinic answered that caller. Without entry_result, talk_time decides. */
    const int has_result = int_member(j, "entry_result", &result) == 0;
    const int answered = has_result ? result == 1 && (!has_talk || talk > 0) : talk > 0;
    if (answered && talk > 0) {
        cf_time_json_set(j_fact, "answered_at", (int64_t)talk * 1000);
        if (end >= talk)
            json_object_set_new(j_fact, "talk_seconds", json_integer(end - talk));
    }
    if (end > 0)
        cf_time_json_set(j_fact, "ended_at", (int64_t)end * 1000);
    /* talk_time is the answer's Unix time, 0 when nobody talked: either
     * way it says how the call went, as entry_result does */
    if (has_result || has_talk)
        json_object_set_new(j_fact, "outcome", json_string(answered ? "answered" : "missed"));
    if (answered) {
        const char *agent = agent_of(j, outbound, line_number);
        if (agent)
            json_object_set_new(j_fact, "agent_id", json_string(agent));
    }
    json_array_append_new(facts, j_fact);
    return 0;
}

static int mango_parse(const struct cf_hook *h, json_t *facts, char *errbuf, size_t errbuf_size)
{
    const char *json = cf_hook_str(h->form, "json");
    const char *sub = h->subpath ? h->subpath : "";
    json_error_t jerr;
    int rc;

    /* A base URL saved with a trailing slash gives "//events/call". */
    while (sub[0] == '/' && sub[1] == '/')
        sub++;
    if (strcmp(sub, "/events/call") != 0 && strcmp(sub, "/events/summary") != 0)
        /* ping, recording, dtmf, sms, ...: acknowledged, nothing to record */
        return cf_hook_ignored(h, "not_a_call_event");
    json_t *j = json ? cf_json_loads(json, 0, &jerr) : NULL;
    if (!json_is_object(j)) {
        cf_seterr(errbuf, errbuf_size, "the json field is not a JSON object");
        json_decref(j);
        return CF_EINVAL;
    }
    numbers_as_strings(json_object_get(j, "from"));
    numbers_as_strings(json_object_get(j, "to"));
    numbers_as_strings(j);
    if (strcmp(sub, "/events/call") == 0)
        rc = parse_call(h, j, facts, errbuf, errbuf_size);
    else
        rc = parse_summary(h, j, facts, errbuf, errbuf_size);
    json_decref(j);
    return rc;
}

static void mango_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = NULL;
    reply->body[0] = '\0';
}

const struct calls_adapter calls_adapter_mango = {"mango",     NULL,           mango_verify,
                                                  mango_parse, mango_reply_ok, 0};
