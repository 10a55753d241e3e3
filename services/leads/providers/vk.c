/*
 * VK communities' Callback API: one JSON event per POST, {type, object,
 * group_id, event_id, v, secret}. A person's message to the community
 * (message_new) and a filled lead form (lead_forms_new) are requests; the
 * community's own message to a person (message_reply) is the staff's
 * response in that conversation. Every other type is acknowledged and
 * ignored with its name.
 *
 * The "confirmation" event, sent when the server is added, is answered
 * with the channel's confirmation string before anything else (precheck).
 * Authenticity is the `secret` member of the body, equal to the secret
 * key set for the server (compared in constant time): VK signs nothing.
 * A retry (X-Retry-Counter) repeats event_id, the event key. VK pauses a
 * server that keeps answering errors, so an event with no person in it is
 * answered "ok" (never_refuse).
 */
#include "adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/xmalloc.h"
#include "messenger.h"

/* Peer ids from here up are group chats, not one person (VK's API). */
#define VK_CHAT_PEER_BASE 2000000000LL

/* The event's type, or NULL when the body is not a JSON object with one. */
static const char *event_type(const json_t *j_event)
{
    return cf_hook_str(j_event, "type");
}

static int vk_precheck(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    json_t *j_event = msgr_body_object(h, NULL, 0);
    const char *type = event_type(j_event);
    int answered = 0;

    if (type && strcmp(type, "confirmation") == 0) {
        const char *want = cf_hook_credential(h, "confirmation");
        reply->content_type = "text/plain";
        if (want && *want && strlen(want) < sizeof(reply->body)) {
            reply->status = 200;
            snprintf(reply->body, sizeof(reply->body), "%s", want);
        } else {
            /* nothing to confirm with: VK shows the server as unconfirmed */
            reply->status = 403;
            reply->body[0] = '\0';
        }
        answered = 1;
    }
    json_decref(j_event);
    return answered;
}

static int vk_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    const char *want = cf_hook_credential(h, "secret");
    json_t *j_event;
    int rc = CF_EAUTH;

    if (!want || !*want) {
        cf_seterr(errbuf, errbuf_size, "the channel has no secret credential");
        return CF_EAUTH;
    }
    j_event = msgr_body_object(h, NULL, 0);
    const char *got = cf_hook_str(j_event, "secret");
    if (!got)
        cf_seterr(errbuf, errbuf_size, "missing secret in the event");
    else if (!cf_ct_equal(want, strlen(want), got, strlen(got)))
        cf_seterr(errbuf, errbuf_size, "wrong secret in the event");
    else
        rc = 0;
    json_decref(j_event);
    return rc;
}

/* The message of a message_new/message_reply object: object.message from
 * API 5.103 on, the object itself before. */
static const json_t *event_message(const json_t *j_object)
{
    const json_t *j_msg = json_object_get(j_object, "message");

    return json_is_object(j_msg) ? j_msg : j_object;
}

/* A new fact of the event with the message's ids and time. */
static json_t *message_fact_new(const struct cf_hook *h, const char *event_key, const char *kind,
                                const json_t *j_msg)
{
    json_t *j_fact = msgr_fact_new(event_key, kind,
                                   msgr_seconds_ms(json_object_get(j_msg, "date"), h->received_ms));
    const json_t *j_id = json_object_get(j_msg, "id");

    msgr_set_id(j_fact, "chat_id", json_object_get(j_msg, "peer_id"));
    /* id is 0 in chats; the conversation's own number then */
    if (json_is_integer(j_id) && json_integer_value(j_id) == 0)
        j_id = json_object_get(j_msg, "conversation_message_id");
    msgr_set_id(j_fact, "message_id", j_id);
    return j_fact;
}

/* A positive id member (a person; communities are negative): 1 with it in
 * out, else 0. */
static int person_id(const json_t *j_obj, const char *key, char out[MSGR_ID_MAX + 1])
{
    const json_t *v = json_object_get(j_obj, key);

    if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
        json_integer_value(v) >= VK_CHAT_PEER_BASE)
        return 0;
    return msgr_id(v, out) == 0;
}

static int message_new(const struct cf_hook *h, const char *event_key, const json_t *j_object,
                       json_t *facts, const char **field_out, char *errbuf, size_t errbuf_size)
{
    const json_t *j_msg = event_message(j_object);
    char from[MSGR_ID_MAX + 1];
    const char *code;

    if (!person_id(j_msg, "from_id", from)) {
        if (json_is_integer(json_object_get(j_msg, "from_id")))
            return cf_hook_ignored(h, "not_from_a_person"); /* another community */
        *field_out = "object.message.from_id";
        cf_seterr(errbuf, errbuf_size, "message_new without from_id");
        return CF_EINVAL;
    }
    const json_t *j_peer = json_object_get(j_msg, "peer_id");
    if (json_is_integer(j_peer) && json_integer_value(j_peer) >= VK_CHAT_PEER_BASE)
        return cf_hook_ignored(h, "not_a_private_chat"); /* people talking in a group chat */
    json_t *j_fact = message_fact_new(h, event_key, "request", j_msg);
    json_object_set_new(j_fact, "user_id", json_string(from));
    msgr_set_str(j_fact, "text", cf_hook_str(j_msg, "text"));
    /* vk.me/<community>?ref=<code>&ref_source=<...>: the code is ref, or
     * ref_source when the link put it there alone */
    code = cf_hook_str(j_msg, "ref");
    if (!code || !*code)
        code = cf_hook_str(j_msg, "ref_source");
    msgr_set_str(j_fact, "code", code);
    json_array_append_new(facts, j_fact);
    return 0;
}

static int message_reply(const struct cf_hook *h, const char *event_key, const json_t *j_object,
                         json_t *facts)
{
    const json_t *j_msg = event_message(j_object);
    char peer[MSGR_ID_MAX + 1];

    /* the conversation with one person: peer_id is that person */
    if (!person_id(j_msg, "peer_id", peer))
        return cf_hook_ignored(h, "reply_not_to_a_person");
    json_t *j_fact = message_fact_new(h, event_key, "response", j_msg);
    json_object_set_new(j_fact, "user_id", json_string(peer));
    /* the community's admin who wrote it, when VK names one */
    const json_t *j_admin = json_object_get(j_msg, "admin_author_id");
    if (json_is_integer(j_admin) && json_integer_value(j_admin) > 0)
        msgr_set_id(j_fact, "staff_id", j_admin);
    json_array_append_new(facts, j_fact);
    return 0;
}

/* Appends "question: answer" to the text being built in *text. */
static void text_line(char **text, const char *question, const char *answer)
{
    char *more =
        cf_xasprintf("%s%s%s: %s", *text ? *text : "", *text ? "\n" : "", question, answer);
    free(*text);
    *text = more;
}

/* An answer's text: the callback sends a string (answers[] {key,
 * question, answer}); leadForms.getLeads' schema has an object {key?,
 * value} or an array of them (a multiple choice), taken too, values
 * joined by ", ". A new string, or NULL when empty. */
static char *answer_text(const json_t *j_answer)
{
    const json_t *v = json_object_get(j_answer, "answer");
    char *out = NULL;
    size_t i;
    json_t *j_item;

    if (json_is_string(v))
        return json_string_length(v) > 0 ? cf_xstrdup(json_string_value(v)) : NULL;
    if (json_is_object(v)) {
        const char *value = cf_hook_str(v, "value");
        return value && *value ? cf_xstrdup(value) : NULL;
    }
    json_array_foreach(v, i, j_item)
    {
        const char *value = cf_hook_str(j_item, "value");
        if (!value || !*value)
            continue;
        char *more = cf_xasprintf("%s%s%s", out ? out : "", out ? ", " : "", value);
        free(out);
        out = more;
    }
    return out;
}

/* A lead form's answers: the standard keys to the person's name, phone and
 * e-mail; every other answer a "question: answer" line of the text. */
static void form_answers(const json_t *j_answers, json_t *j_fact)
{
    const char *first = NULL, *last = NULL, *full = NULL;
    char *text = NULL, *answers[64] = {NULL};
    size_t i, n = 0;
    json_t *j_answer;

    json_array_foreach(j_answers, i, j_answer)
    {
        const char *key = cf_hook_str(j_answer, "key");
        char *answer =
            key && n < sizeof(answers) / sizeof(answers[0]) ? answer_text(j_answer) : NULL;
        if (!answer)
            continue;
        answers[n++] = answer; /* held until the names below are copied */
        if (strcmp(key, "phone_number") == 0 || strcmp(key, "phone") == 0)
            msgr_set_str(j_fact, "phone", answer);
        else if (strcmp(key, "email") == 0)
            msgr_set_str(j_fact, "email", answer);
        else if (strcmp(key, "first_name") == 0)
            first = answer;
        else if (strcmp(key, "last_name") == 0)
            last = answer;
        else if (strcmp(key, "name") == 0 || strcmp(key, "full_name") == 0)
            full = answer;
        else {
            const char *question = cf_hook_str(j_answer, "question");
            text_line(&text, question && *question ? question : key, answer);
        }
    }
    if (first && last) {
        char *name = cf_xasprintf("%s %s", first, last);
        msgr_set_str(j_fact, "name", name);
        free(name);
    } else {
        msgr_set_str(j_fact, "name", first ? first : last ? last : full);
    }
    msgr_set_str(j_fact, "text", text);
    free(text);
    for (i = 0; i < n; i++)
        free(answers[i]);
}

static int lead_forms_new(const struct cf_hook *h, const char *event_key, const json_t *j_object,
                          json_t *facts, const char **field_out, char *errbuf, size_t errbuf_size)
{
    char user[MSGR_ID_MAX + 1];
    json_t *j_fact = msgr_fact_new(event_key, "request", h->received_ms);

    if (person_id(j_object, "user_id", user))
        json_object_set_new(j_fact, "user_id", json_string(user));
    msgr_set_id(j_fact, "form_id", json_object_get(j_object, "form_id"));
    msgr_set_id(j_fact, "message_id", json_object_get(j_object, "lead_id"));
    form_answers(json_object_get(j_object, "answers"), j_fact);
    /* an ad's lead form: the ad id, as a referral from VK's ads */
    const json_t *j_ad = json_object_get(j_object, "ad_id");
    if ((json_is_integer(j_ad) && json_integer_value(j_ad) > 0) || json_is_string(j_ad)) {
        json_t *j_ref = json_object();
        if (msgr_set_id(j_ref, "source_id", j_ad)) {
            json_object_set_new(j_ref, "source_type", json_string("ad"));
            json_object_set_new(j_fact, "referral", j_ref);
        } else {
            json_decref(j_ref);
        }
    }
    if (!json_object_get(j_fact, "user_id") && !json_object_get(j_fact, "phone") &&
        !json_object_get(j_fact, "email")) {
        json_decref(j_fact);
        *field_out = "object.answers";
        cf_seterr(errbuf, errbuf_size, "the lead form names no user, phone or e-mail");
        return CF_EINVAL;
    }
    json_array_append_new(facts, j_fact);
    return 0;
}

static int vk_parse(const struct cf_hook *h, json_t *facts, const char **field_out, char *errbuf,
                    size_t errbuf_size)
{
    json_t *j_event = msgr_body_object(h, errbuf, errbuf_size);
    char event_id[MSGR_ID_MAX + 1];
    const char *type;
    int rc = CF_EINVAL;

    if (!j_event)
        return CF_EINVAL;
    type = event_type(j_event);
    if (!type) {
        *field_out = "type";
        cf_seterr(errbuf, errbuf_size, "not a callback api event: no type");
        goto out;
    }
    const int is_new = strcmp(type, "message_new") == 0;
    const int is_reply = strcmp(type, "message_reply") == 0;
    const int is_form = strcmp(type, "lead_forms_new") == 0;
    if (!is_new && !is_reply && !is_form) {
        rc = cf_hook_ignored_value(h, "event_type", type);
        goto out;
    }
    /* "If it passed twice or more - you should ignore it": the key */
    if (msgr_id(json_object_get(j_event, "event_id"), event_id) != 0) {
        *field_out = "event_id";
        cf_seterr(errbuf, errbuf_size, "the event has no event_id");
        goto out;
    }
    const json_t *j_object = json_object_get(j_event, "object");
    if (!json_is_object(j_object)) {
        *field_out = "object";
        cf_seterr(errbuf, errbuf_size, "the event has no object");
        goto out;
    }
    if (is_new)
        rc = message_new(h, event_id, j_object, facts, field_out, errbuf, errbuf_size);
    else if (is_reply)
        rc = message_reply(h, event_id, j_object, facts);
    else
        rc = lead_forms_new(h, event_id, j_object, facts, field_out, errbuf, errbuf_size);
out:
    json_decref(j_event);
    return rc;
}

/* "In response to each event notification, your server should send a
 * string ok". */
static void vk_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = "text/plain";
    snprintf(reply->body, sizeof(reply->body), "ok");
}

const struct leads_adapter leads_adapter_vk = {
    .provider = "vk",
    .precheck = vk_precheck,
    .verify = vk_verify,
    .parse = vk_parse,
    .reply_ok = vk_reply_ok,
    .never_refuse = 1,
};
