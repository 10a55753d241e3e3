/*
 * JivoChat's Webhooks API: one JSON POST per event, its type in
 * event_name. A visitor who left a phone or an e-mail is a lead:
 *
 *   offline_message   the offline form: the visitor and message; keyed by
 *                     offline_message_id;
 *   chat_finished     a chat that ended: one request per chat, keyed
 *                     "chat:<chat_id>", dated by the visitor's first
 *                     message in chat.messages; its first agent message
 *                     after it is the staff response (kind "response",
 *                     staff_id the message's agent_id). chat_accepted and
 *                     chat_updated (an agent took a chat, the visitor gave
 *                     contacts during it) are acknowledged and noted
 *                     (chat_in_progress): they carry neither time, so a
 *                     lead opened by them would start its clock when an
 *                     agent had already taken the chat, or after the
 *                     agent's answer (which then answered nothing);
 *   call_event        with call.type "callback": the visitor asked to be
 *                     called back, keyed "callback:<chat_id>", the fact
 *                     marked callback_requested (its lead's callback task).
 *
 * An event without a visitor phone or e-mail, nor a phone written in the
 * visitor's text (a chat nobody introduced themselves in), and every
 * other event are acknowledged and ignored:
 * JivoChat sends them all to one URL. Nothing is signed: the channel's URL
 * token is checked. The answer is {"result":"ok"}, as Jivo's page asks.
 */
#include "adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/phone.h"
#include "common/time.h"
#include "common/xmalloc.h"

static int jivo_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    return cf_hook_verify_url_token(h, errbuf, errbuf_size);
}

/* A string or integer member as text into buf, or NULL when absent/empty. */
static const char *id_text(const json_t *obj, const char *key, char *buf, size_t size)
{
    const json_t *j_val = json_object_get(obj, key);

    if (json_is_integer(j_val)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(j_val));
        return buf;
    }
    if (json_is_string(j_val) && json_string_length(j_val) > 0 &&
        json_string_length(j_val) < size) {
        memcpy(buf, json_string_value(j_val), json_string_length(j_val) + 1);
        return buf;
    }
    return NULL;
}

/* Sets member key of j_fact from a non-empty string member of obj. */
static void copy_str(json_t *j_fact, const char *key, const json_t *obj, const char *from)
{
    const char *s = cf_hook_str(obj, from);

    if (s && *s)
        json_object_set_new(j_fact, key, json_string(s));
}

/* The ad tags: session.utm_json (source, medium, ...), else the pipe
 * string session.utm ("source=google|medium=cpc"), and page.url. */
static void set_tags(json_t *j_fact, const json_t *j_event)
{
    static const char *const utm[] = {"source", "medium", "campaign", "term", "content"};
    const json_t *j_session = json_object_get(j_event, "session");
    const json_t *j_utm = json_object_get(j_session, "utm_json");
    const char *pipe = cf_hook_str(j_session, "utm");
    json_t *j_tags = json_object();
    char key[32];

    for (size_t i = 0; i < sizeof(utm) / sizeof(utm[0]); i++) {
        snprintf(key, sizeof(key), "utm_%s", utm[i]);
        copy_str(j_tags, key, j_utm, utm[i]);
        if (json_object_get(j_tags, key) || !pipe)
            continue;
        /* "source=google|medium=cpc|..." */
        size_t klen = strlen(utm[i]);
        for (const char *p = pipe; *p;) {
            const char *end = p + strcspn(p, "|");
            if ((size_t)(end - p) > klen + 1 && strncmp(p, utm[i], klen) == 0 && p[klen] == '=') {
                json_t *j_v = json_stringn(p + klen + 1, (size_t)(end - p) - klen - 1);
                if (j_v)
                    json_object_set_new(j_tags, key, j_v);
                break;
            }
            p = *end ? end + 1 : end;
        }
    }
    copy_str(j_tags, "page_url", json_object_get(j_event, "page"), "url");
    if (json_object_size(j_tags) > 0)
        json_object_set(j_fact, "tags", j_tags);
    json_decref(j_tags);
}

/* A fact of kind for the event's visitor: contact, chat id, tags. */
static json_t *visitor_fact(const json_t *j_event, const char *kind, const char *event_key,
                            const char *chat_id, int64_t ms)
{
    const json_t *j_visitor = json_object_get(j_event, "visitor");
    json_t *j_fact = json_pack("{s:s, s:s}", "event_key", event_key, "kind", kind);

    cf_time_json_set(j_fact, "time", ms);
    copy_str(j_fact, "name", j_visitor, "name");
    copy_str(j_fact, "phone", j_visitor, "phone");
    copy_str(j_fact, "email", j_visitor, "email");
    if (chat_id)
        json_object_set_new(j_fact, "chat_id", json_string(chat_id));
    return j_fact;
}

/* 1 when the visitor wrote a phone in the fact's text ("my number is 8 916
 * ..."), which ingest.c then reads from it as the contact. */
static int phone_in_text(const struct cf_hook *h, const json_t *j_fact)
{
    const json_t *j_text = json_object_get(j_fact, "text");
    char e164[CF_PHONE_MAX];
    size_t at, len;

    return json_is_string(j_text) &&
           cf_phone_find(json_string_value(j_text), json_string_length(j_text),
                         h->default_cc ? h->default_cc : "", e164, sizeof(e164), &at, &len);
}

/* A message's time (unix seconds) as ms, or fallback. */
static int64_t message_ms(const json_t *j_msg, int64_t fallback)
{
    const json_t *j_ts = json_object_get(j_msg, "timestamp");
    json_int_t ts = json_is_integer(j_ts) ? json_integer_value(j_ts) : 0;

    return ts > 0 && ts < 253402300800LL ? (int64_t)ts * 1000 : fallback;
}

/* chat_finished's messages (in the order written): the visitor's text
 * (joined, one a line) and first message time on the request; the first
 * agent message after the visitor's first into *j_agent_msg (an agent's
 * greeting before the visitor wrote answers nobody). */
static void chat_messages(const json_t *j_event, json_t *j_request, const json_t **j_agent_msg)
{
    const json_t *j_msgs = json_object_get(json_object_get(j_event, "chat"), "messages");
    const json_t *j_msg;
    size_t i, len = 0, off = 0;
    int64_t first = -1;
    int visitor_wrote = 0;

    *j_agent_msg = NULL;
    json_array_foreach(j_msgs, i, j_msg)
    {
        const char *text = cf_hook_str(j_msg, "message");
        if (text)
            len += strlen(text) + 1;
    }
    char *joined = cf_xmalloc(len + 1);
    json_array_foreach(j_msgs, i, j_msg)
    {
        const char *type = cf_hook_str(j_msg, "type");
        const char *text = cf_hook_str(j_msg, "message");
        if (type && strcmp(type, "agent") == 0 && visitor_wrote && !*j_agent_msg)
            *j_agent_msg = j_msg;
        if (!type || strcmp(type, "visitor") != 0)
            continue;
        if (!visitor_wrote)
            first = message_ms(j_msg, -1);
        visitor_wrote = 1;
        if (!text || !*text)
            continue;
        if (off > 0)
            joined[off++] = '\n';
        memcpy(joined + off, text, strlen(text));
        off += strlen(text);
    }
    if (off > 0) {
        json_t *j_text = json_stringn(joined, off);
        if (j_text)
            json_object_set_new(j_request, "text", j_text);
    }
    if (first > 0)
        cf_time_json_set(j_request, "time", first);
    free(joined);
}

static int jivo_parse(const struct cf_hook *h, json_t *facts, const char **field_out, char *errbuf,
                      size_t errbuf_size)
{
    json_error_t jerr;
    json_t *j_event = cf_json_loadb(h->body, h->body_len, 0, &jerr), *j_fact = NULL;
    const char *name = cf_hook_str(j_event, "event_name");
    const char *call_type = cf_hook_str(json_object_get(j_event, "call"), "type");
    const json_t *j_agent_msg = NULL;
    char chat_buf[32], key[96];
    const char *chat_id;
    int rc = 0;

    if (!json_is_object(j_event) || !name) {
        *field_out = "event_name";
        cf_seterr(errbuf, errbuf_size, "not a JivoChat event (no event_name)");
        rc = CF_EINVAL;
        goto out;
    }
    chat_id = id_text(j_event, "chat_id", chat_buf, sizeof(chat_buf));
    if (strcmp(name, "offline_message") == 0) {
        char id_buf[32];
        const char *id = id_text(j_event, "offline_message_id", id_buf, sizeof(id_buf));
        if (!id && !chat_id) {
            *field_out = "offline_message_id";
            cf_seterr(errbuf, errbuf_size, "offline_message has no offline_message_id or chat_id");
            rc = CF_EINVAL;
            goto out;
        }
        snprintf(key, sizeof(key), "offline:%s", id ? id : chat_id);
        j_fact = visitor_fact(j_event, "request", key, chat_id, h->received_ms);
        copy_str(j_fact, "text", j_event, "message");
    } else if (strcmp(name, "chat_accepted") == 0 || strcmp(name, "chat_updated") == 0) {
        rc = cf_hook_ignored_value(h, "chat_in_progress", name);
        goto out;
    } else if (strcmp(name, "chat_finished") == 0) {
        if (!chat_id) {
            *field_out = "chat_id";
            cf_seterr(errbuf, errbuf_size, "%s has no chat_id", name);
            rc = CF_EINVAL;
            goto out;
        }
        snprintf(key, sizeof(key), "chat:%s", chat_id);
        j_fact = visitor_fact(j_event, "request", key, chat_id, h->received_ms);
        chat_messages(j_event, j_fact, &j_agent_msg);
    } else if (strcmp(name, "call_event") == 0 && call_type && strcmp(call_type, "callback") == 0) {
        if (!chat_id) {
            *field_out = "chat_id";
            cf_seterr(errbuf, errbuf_size, "call_event has no chat_id");
            rc = CF_EINVAL;
            goto out;
        }
        snprintf(key, sizeof(key), "callback:%s", chat_id);
        j_fact = visitor_fact(j_event, "request", key, chat_id, h->received_ms);
        copy_str(j_fact, "phone", json_object_get(j_event, "call"), "phone");
        /* the front desk's callback task opens for it (task_rules.c) */
        json_object_set_new(j_fact, "callback_requested", json_true());
    } else {
        rc = cf_hook_ignored_value(h, "event_type", name);
        goto out;
    }
    if (!json_object_get(j_fact, "phone") && !json_object_get(j_fact, "email") &&
        !phone_in_text(h, j_fact)) {
        rc = cf_hook_ignored(h, "no_contact");
        goto out;
    }
    set_tags(j_fact, j_event);
    json_array_append(facts, j_fact);

    if (j_agent_msg) {
        /* the staff's first answer in the chat, to the same person */
        char agent_buf[32];
        const char *agent = id_text(j_agent_msg, "agent_id", agent_buf, sizeof(agent_buf));
        snprintf(key, sizeof(key), "chat:%s:response", chat_id);
        json_t *j_resp = visitor_fact(j_event, "response", key, chat_id,
                                      message_ms(j_agent_msg, h->received_ms));
        if (agent)
            json_object_set_new(j_resp, "staff_id", json_string(agent));
        json_array_append_new(facts, j_resp);
    }
out:
    json_decref(j_fact);
    json_decref(j_event);
    return rc;
}

static void jivo_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = "application/json";
    snprintf(reply->body, sizeof(reply->body), "{\"result\":\"ok\"}");
}

const struct leads_adapter leads_adapter_jivo = {
    .provider = "jivo",
    .verify = jivo_verify,
    .parse = jivo_parse,
    .reply_ok = jivo_reply_ok,
};
