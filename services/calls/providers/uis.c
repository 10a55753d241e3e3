/*
 * UIS / CoMagic event notifications ("Уведомления"): for each notification
 * the customer picks an event type, the method and URL, and writes the
 * body template himself with UIS variables ({{call_session_id}}, ...). So
 * the body's keys are channel configuration: the channel's "field_map"
 * maps our names to the customer's keys, and uis_fields.h is the
 * default for every name the map leaves out: a template that uses UIS's
 * variable names as keys needs no map at all.
 *
 * There is no signature (the URL is a secret: the channel's url_token) and
 * no event id: the event key is the call key plus the event kind. Times are
 * the account's wall-clock time ("2026-11-20 12:00:40", sometimes with
 * milliseconds), converted with the channel's "timezone".
 *
 * "from" and "to" in the map name the contact's number and our (virtual)
 * number, which is how they read for an inbound call; for an outbound call
 * the adapter turns them round, since UIS's own variables
 * (contact_phone_number, virtual_phone_number) do not depend on direction.
 * A template without {{direction}} is taken as inbound unless its event
 * names an outgoing call.
 */
#include "adapters.h"
#include "uis_fields.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/json_text.h"

/* The kinds of notification we record. */
enum uis_kind { K_NONE, K_STARTED, K_ANSWERED, K_ENDED, K_LOST, K_RECORDING };

static const char *const kind_names[] = {"", "started", "answered", "ended", "lost", "recording"};

/* Fixed buffers for values rendered from numbers. */
struct uis_buf {
    char v[32];
};

/* The customer's key for our name: field_map's entry, else the default. */
static const char *key_of(const struct cf_hook *h, const char *name)
{
    const char *mapped = cf_hook_str(json_object_get(h->channel, "field_map"), name);

    if (mapped && *mapped)
        return mapped;
    for (size_t i = 0; i < CF_UIS_FIELDS_N; i++) {
        if (strcmp(cf_uis_fields[i][0], name) == 0)
            return cf_uis_fields[i][1];
    }
    return NULL;
}

/* The value at key in body; "a.b" descends into objects. Borrowed. */
static const json_t *lookup(const json_t *j_body, const char *key)
{
    char part[128];
    const json_t *j = j_body;

    if (!key)
        return NULL;
    while (key && j) {
        const char *dot = strchr(key, '.');
        size_t n = dot ? (size_t)(dot - key) : strlen(key);
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, key, n);
        part[n] = '\0';
        j = json_object_get(j, part);
        key = dot ? dot + 1 : NULL;
    }
    return j;
}

/* A member as a string (templates put numbers unquoted: call_session_id,
 * employee_id), or NULL when absent, null or empty. */
static const char *value_of(const struct cf_hook *h, const json_t *j_body, const char *name,
                            struct uis_buf *buf)
{
    const json_t *j = lookup(j_body, key_of(h, name));

    if (json_is_string(j))
        return json_string_length(j) ? json_string_value(j) : NULL;
    if (json_is_integer(j)) {
        snprintf(buf->v, sizeof(buf->v), "%lld", (long long)json_integer_value(j));
        return buf->v;
    }
    return NULL;
}

/* Seconds: an integer, a digit string, "MM:SS" or "HH:MM:SS". -1 when absent, -2
 * when malformed. */
static long long seconds_of(const struct cf_hook *h, const json_t *j_body, const char *name)
{
    const json_t *j = lookup(j_body, key_of(h, name));
    const char *s = json_string_value(j);
    long long total = 0, part = 0;
    int colons = 0;

    if (!j || json_is_null(j) || (s && !*s))
        return -1;
    if (json_is_integer(j))
        return json_integer_value(j) >= 0 && json_integer_value(j) <= CALLS_SECONDS_MAX
                   ? (long long)json_integer_value(j)
                   : -2;
    if (json_is_real(j)) /* the range first: a cast of 1e30 is undefined */
        return json_real_value(j) >= 0 && json_real_value(j) <= (double)CALLS_SECONDS_MAX
                   ? (long long)json_real_value(j)
                   : -2;
    if (!s || strlen(s) > 12)
        return -2;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            part = part * 10 + (*p - '0');
        } else if (*p == ':' && p != s && ++colons <= 2) {
            total = total * 60 + part;
            part = 0;
        } else {
            return -2;
        }
    }
    if (colons > 0 && s[strlen(s) - 1] == ':')
        return -2;
    total = colons > 0 ? total * 60 + part : part;
    return total <= CALLS_SECONDS_MAX ? total : -2;
}

/* A time value: Unix seconds (a number or digits), RFC 3339 with a zone,
 * or the account's wall-clock "YYYY-MM-DD HH:MM:SS[.fff]" in the channel's
 * timezone. 1 when absent, 0, or CF_EINVAL (reason in errbuf). */
static int time_of(const struct cf_hook *h, const json_t *j_body, const char *name, int64_t *ms_out,
                   char *errbuf, size_t errbuf_size)
{
    const char *key = key_of(h, name);
    const json_t *j = lookup(j_body, key);
    const char *s = json_string_value(j), *tz = cf_hook_str(h->channel, "timezone");
    char local[20];

    if (!j || json_is_null(j) || (s && !*s))
        return 1;
    if (json_is_integer(j) && json_integer_value(j) > 0 &&
        json_integer_value(j) <= CALLS_UNIX_S_MAX) {
        *ms_out = (int64_t)json_integer_value(j) * 1000;
        return 0;
    }
    const long long digits =
        s && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 12 ? strtoll(s, NULL, 10) : 0;
    if (digits > 0 && digits <= CALLS_UNIX_S_MAX) {
        *ms_out = (int64_t)digits * 1000;
        return 0;
    }
    if (s && strlen(s) > 19 && strpbrk(s + 19, "Z+-")) {
        if (cf_time_parse(s, ms_out) == 0)
            return 0;
        cf_seterr(errbuf, errbuf_size, "%s: not an RFC 3339 time", key);
        return CF_EINVAL;
    }
    if (s && strlen(s) >= 19 && (s[19] == '\0' || s[19] == '.')) {
        memcpy(local, s, 19);
        local[19] = '\0';
        if (!tz) {
            cf_seterr(errbuf, errbuf_size, "%s: a local time, but the channel has no timezone",
                      key);
            return CF_EINVAL;
        }
        if (calls_local_time(local, tz, ms_out) == 0)
            return 0;
    }
    cf_seterr(errbuf, errbuf_size, "%s: expected \"YYYY-MM-DD HH:MM:SS\" or Unix seconds", key);
    return CF_EINVAL;
}

/* Lower-cases the ASCII letters of s into out. */
static void ascii_lower(const char *s, char *out, size_t size)
{
    size_t i = 0;

    for (; s[i] && i < size - 1; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

/*
 * The kind of a notification from its event value. The template may write
 * our kind literally ("ended"), or pass UIS's {{notification_mnemonic}} or
 * the notification's name; those are matched on stems, in this order:
 * a lost call ("lost" with "call", "Потерянный звонок"), a recording ("record", "file",
 * "запис"), the end of a talk (one leg with an employee: not recorded),
 * the end of the call ("end", "finish", "Завершение звонка"), an answer
 * ("answer", "talk", "connect", "Начало разговора"), a start ("start",
 * "in_call", "out_call", "incoming", "outgoing", "Входящий/Исходящий
 * звонок", "Ожидание ответа"). Anything else is not recorded.
 */
static enum uis_kind kind_of(const char *event)
{
    char e[128];

    if (!event)
        return K_NONE;
    ascii_lower(event, e, sizeof(e));
    for (int k = K_STARTED; k <= K_RECORDING; k++) {
        if (strcmp(e, kind_names[k]) == 0)
            return (enum uis_kind)k;
    }
    if (strcmp(e, "updated") == 0)
        return K_RECORDING;
    if ((strstr(e, "lost") && strstr(e, "call")) || strstr(e, "отерянный звонок"))
        return K_LOST;
    if (strstr(e, "record") || strstr(e, "file") || strstr(e, "апис"))
        return K_RECORDING;
    if ((strstr(e, "talk") && (strstr(e, "finish") || strstr(e, "end"))) ||
        strstr(e, "авершение разговора"))
        return K_NONE;
    if (strstr(e, "end") || strstr(e, "finish") || strstr(e, "авершение звонка"))
        return K_ENDED;
    /* "Waiting for the answer" is an employee's phone ringing, not an
     * answer: matched before "answer" is */
    if (strstr(e, "waiting") || strstr(e, "жидание ответа"))
        return K_STARTED;
    if (strstr(e, "answer") || strstr(e, "talk") || strstr(e, "connect") ||
        strstr(e, "ачало разговора"))
        return K_ANSWERED;
    if (strstr(e, "start") || strstr(e, "in_call") || strstr(e, "out_call") ||
        strstr(e, "incoming") || strstr(e, "outgoing") || strstr(e, "inbound") ||
        strstr(e, "outbound") || strstr(e, "ходящий звонок"))
        return K_STARTED;
    return K_NONE;
}

/* 1 inbound, 0 outbound, -1 neither (an internal call). UIS sends "in" or
 * "out". */
static int inbound_of(const char *direction)
{
    static const char *const in[] = {"in", "inbound", "incoming"};
    static const char *const out[] = {"out", "outbound", "outgoing"};
    char d[32];

    ascii_lower(direction, d, sizeof(d));
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(d, in[i]) == 0)
            return 1;
        if (strcmp(d, out[i]) == 0)
            return 0;
    }
    /* The Russian labels of the cabinet's reports */
    if (strncmp(direction, "Вх", strlen("Вх")) == 0 || strncmp(direction, "вх", strlen("вх")) == 0)
        return 1;
    if (strncmp(direction, "Исх", strlen("Исх")) == 0 ||
        strncmp(direction, "исх", strlen("исх")) == 0)
        return 0;
    return -1;
}

/* Whether an event value names an outgoing call ("Исходящий звонок", an
 * "out_call" or "outgoing" mnemonic): the direction of a template without
 * {{direction}}. */
static int outgoing_event(const char *event)
{
    char e[128];

    if (!event)
        return 0;
    ascii_lower(event, e, sizeof(e));
    return strstr(e, "out_") || strstr(e, "outgoing") || strstr(e, "outbound") ||
           strstr(e, "сходящ");
}

/* The request's notification as a JSON object (new reference), or NULL. */
static json_t *body_of(const struct cf_hook *h)
{
    json_t *j;
    size_t lead = 0;
    while (lead < h->body_len && (h->body[lead] == ' ' || h->body[lead] == '\t' ||
                                  h->body[lead] == '\r' || h->body[lead] == '\n'))
        lead++;

    /* A JSON template is JSON whatever Content-Type it came with: decoded
     * as a form it would be one meaningless key and the event lost. */
    if (h->body_len > lead && (json_object_size(h->form) == 0 || h->body[lead] == '{')) {
        j = cf_json_loadb(h->body, h->body_len, 0, NULL);
        if (json_is_object(j))
            return j;
        json_decref(j);
        return NULL;
    }
    /* A GET notification, or a form-encoded template */
    j = json_deep_copy(json_object_size(h->form) ? h->form : h->query);
    json_object_del(j, "token");
    return j;
}

static int uis_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    return cf_hook_verify_url_token(h, errbuf, errbuf_size);
}

static int uis_parse(const struct cf_hook *h, json_t *facts, char *errbuf, size_t errbuf_size)
{
    json_t *j_body = body_of(h), *j_fact = NULL;
    struct uis_buf b_call, b_event, b_dir, b_from, b_to, b_agent, b_tr, b_out;
    char key[256];
    int64_t time_ms = 0, ms;
    int rc = 0;

    if (!j_body) {
        cf_seterr(errbuf, errbuf_size, "not a UIS notification: expected a JSON object");
        return CF_EINVAL;
    }
    /* The event value, else UIS's {{notification_name}}: the name the
     * customer gave the notification ("Завершение звонка") */
    const char *event = value_of(h, j_body, "event", &b_event);
    enum uis_kind kind = kind_of(event);
    if (kind == K_NONE) {
        event = cf_hook_str(j_body, "notification_name");
        kind = kind_of(event);
    }
    const char *direction = value_of(h, j_body, "direction", &b_dir);
    const int inbound = direction ? inbound_of(direction) : !outgoing_event(event);
    /* A notification we do not record: counted and logged with the wording
     * that decided it, so a template in another wording is seen. */
    if (kind == K_NONE) {
        rc = cf_hook_ignored_value(h, "unknown_event",
                                   event ? event : value_of(h, j_body, "event", &b_event));
        goto out;
    }
    if (inbound < 0) {
        rc = cf_hook_ignored_value(h, "unknown_direction", direction);
        goto out;
    }

    const char *call_id = value_of(h, j_body, "call_id", &b_call);
    if (!call_id) {
        cf_seterr(errbuf, errbuf_size, "%s: missing (the call id of field_map \"call_id\")",
                  key_of(h, "call_id"));
        rc = CF_EINVAL;
        goto out;
    }
    if (strlen(call_id) > 128) {
        cf_seterr(errbuf, errbuf_size, "%s: longer than 128 characters", key_of(h, "call_id"));
        rc = CF_EINVAL;
        goto out;
    }

    j_fact = json_object();
    snprintf(key, sizeof(key), "%s:%s", call_id, kind_names[kind]);
    json_object_set_new(j_fact, "event_key", json_string(key));
    json_object_set_new(j_fact, "call_key", json_string(call_id));
    static const char *const events[] = {"", "started", "answered", "ended", "ended", "updated"};
    json_object_set_new(j_fact, "event", json_string(events[kind]));
    json_object_set_new(j_fact, "direction", json_string(inbound ? "inbound" : "outbound"));
    const char *contact = value_of(h, j_body, "from", &b_from);
    const char *ours = value_of(h, j_body, "to", &b_to);
    json_object_set_new(j_fact, "from",
                        json_string(inbound ? (contact ? contact : "") : (ours ? ours : "")));
    json_object_set_new(j_fact, "to",
                        json_string(inbound ? (ours ? ours : "") : (contact ? contact : "")));
    const char *tracking = value_of(h, j_body, "tracking_number", &b_tr);
    if (inbound && tracking)
        json_object_set_new(j_fact, "tracking_number", json_string(tracking));

    static const char *const times[] = {"started_at", "answered_at", "ended_at"};
    for (size_t i = 0; i < 3; i++) {
        rc = time_of(h, j_body, times[i], &ms, errbuf, errbuf_size);
        if (rc < 0)
            goto out;
        if (rc == 0)
            cf_time_json_set(j_fact, times[i], ms);
    }
    rc = time_of(h, j_body, "time", &time_ms, errbuf, errbuf_size);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        /* No notification time: the time the kind implies, if reported */
        static const char *const implied[] = {"",         "started_at", "answered_at",
                                              "ended_at", "ended_at",   ""};
        const char *t = cf_hook_str(j_fact, implied[kind]);
        if (!t || cf_time_parse(t, &time_ms) != 0) {
            cf_seterr(errbuf, errbuf_size, "%s: missing (the event time of field_map \"time\")",
                      key_of(h, "time"));
            rc = CF_EINVAL;
            goto out;
        }
        rc = 0;
    }
    cf_time_json_set(j_fact, "time", time_ms);

    long long talk = seconds_of(h, j_body, "talk_seconds");
    long long ring = seconds_of(h, j_body, "ring_seconds");
    /* left out, not refused (a template's value gone wrong would lose
     * every call), but counted: a missed call then has no outcome from
     * its talk time, and opens no callback task */
    if (talk == -2 || ring == -2)
        cf_hook_amended(h, "duration_unparsed");
    if (talk >= 0)
        json_object_set_new(j_fact, "talk_seconds", json_integer(talk));
    if (ring >= 0)
        json_object_set_new(j_fact, "ring_seconds", json_integer(ring));

    static const char *const outcomes[] = {"answered", "missed", "busy", "failed", "voicemail"};
    const char *outcome = value_of(h, j_body, "outcome", &b_out);
    const char *known = NULL;
    for (size_t i = 0; outcome && i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        if (strcmp(outcome, outcomes[i]) == 0)
            known = outcomes[i];
    }
    /* A call-end notification says nothing of an answer but its talk time */
    if (!known && kind == K_LOST)
        known = "missed";
    else if (!known && kind == K_ENDED && talk >= 0)
        known = talk > 0 ? "answered" : "missed";
    if (known && (kind == K_ENDED || kind == K_LOST))
        json_object_set_new(j_fact, "outcome", json_string(known));

    const char *agent = value_of(h, j_body, "agent_id", &b_agent);
    if (agent && kind != K_LOST)
        json_object_set_new(j_fact, "agent_id", json_string(agent));
    /* The link, or the first of a list of links (public integrations guard
     * for file_link sent as one). */
    const json_t *j_rec = lookup(j_body, key_of(h, "recording_url"));
    if (json_is_array(j_rec))
        j_rec = json_array_get(j_rec, 0);
    const char *recording = json_string_value(j_rec);
    if (recording && *recording)
        json_object_set_new(j_fact, "recording_url", json_string(recording));

    json_array_append(facts, j_fact);

out:
    json_decref(j_fact);
    json_decref(j_body);
    return rc;
}

static void uis_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->body[0] = '\0';
}

const struct calls_adapter calls_adapter_uis = {"uis",     NULL,         uis_verify,
                                                uis_parse, uis_reply_ok, 0};
