/*
 * Viber bots (REST Bot API callbacks): one JSON event per POST, {event,
 * timestamp (ms), message_token, ...}. A person's message is a request
 * (its text, or a shared contact's phone number); conversation_started
 * (the person opened the chat, no message yet) is a request only when it
 * carries a deep link's context, the attribution code: without one it
 * says nothing a lead can hold, and the person's first message will.
 * The set-up callback (webhook), delivery receipts and (un)subscriptions
 * are acknowledged and ignored.
 *
 * Authenticity is X-Viber-Content-Signature, the hex HMAC-SHA256 of the
 * raw body keyed with the bot's auth token. The webhook set-up callback is
 * signed too (the SDKs' test vector is one), so it goes through the same
 * check rather than a precheck: a channel with a wrong token then fails
 * set_webhook at once instead of refusing every message later. A retry
 * repeats the event's message_token: the event key is event and token.
 */
#include "adapters.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "messenger.h"

static int viber_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    const char *token = cf_hook_credential(h, "auth_token");
    const char *got = cf_hook_header(h, "x-viber-content-signature");

    if (!token || !*token) {
        cf_seterr(errbuf, errbuf_size, "the channel has no auth_token credential");
        return CF_EAUTH;
    }
    if (!got) {
        cf_seterr(errbuf, errbuf_size, "missing X-Viber-Content-Signature");
        return CF_EAUTH;
    }
    if (!msgr_hmac_hex_ok(token, h, got)) {
        cf_seterr(errbuf, errbuf_size, "wrong X-Viber-Content-Signature");
        return CF_EAUTH;
    }
    return 0;
}

/* A new request fact of the event for the person j_user ({id, name}), or
 * NULL when it names no id. */
static json_t *person_fact(const struct cf_hook *h, const json_t *j_event, const char *event,
                           const char *token, const json_t *j_user)
{
    char id[MSGR_ID_MAX + 1], key[2 * MSGR_ID_MAX + 40];
    const json_t *j_ts = json_object_get(j_event, "timestamp");

    if (msgr_id(json_object_get(j_user, "id"), id) != 0)
        return NULL;
    snprintf(key, sizeof(key), "%s:%s", event, token);
    json_t *j_fact = msgr_fact_new(key, "request",
                                   json_is_integer(j_ts) && json_integer_value(j_ts) > 0
                                       ? (int64_t)json_integer_value(j_ts)
                                       : h->received_ms);
    json_object_set_new(j_fact, "user_id", json_string(id));
    msgr_set_str(j_fact, "name", cf_hook_str(j_user, "name"));
    return j_fact;
}

static int viber_parse(const struct cf_hook *h, json_t *facts, const char **field_out, char *errbuf,
                       size_t errbuf_size)
{
    json_t *j_event = msgr_body_object(h, errbuf, errbuf_size);
    char token[MSGR_ID_MAX + 1];
    const char *event;
    json_t *j_fact = NULL;
    int rc = CF_EINVAL;

    if (!j_event)
        return CF_EINVAL;
    event = cf_hook_str(j_event, "event");
    if (!event) {
        *field_out = "event";
        cf_seterr(errbuf, errbuf_size, "not a viber callback: no event");
        goto out;
    }
    const int is_message = strcmp(event, "message") == 0;
    if (!is_message && strcmp(event, "conversation_started") != 0) {
        rc = cf_hook_ignored_value(h, "event", event);
        goto out;
    }
    /* message_token: an int64 (jansson keeps it exact), the event's id */
    if (msgr_id(json_object_get(j_event, "message_token"), token) != 0) {
        *field_out = "message_token";
        cf_seterr(errbuf, errbuf_size, "the event has no message_token");
        goto out;
    }
    if (is_message) {
        const json_t *j_msg = json_object_get(j_event, "message");
        j_fact = person_fact(h, j_event, event, token, json_object_get(j_event, "sender"));
        if (!j_fact) {
            *field_out = "sender.id";
            cf_seterr(errbuf, errbuf_size, "the message has no sender");
            goto out;
        }
        json_object_set_new(j_fact, "message_id", json_string(token));
        msgr_set_str(j_fact, "text", cf_hook_str(j_msg, "text"));
        msgr_set_str(j_fact, "phone",
                     cf_hook_str(json_object_get(j_msg, "contact"), "phone_number"));
    } else {
        const char *context = cf_hook_str(j_event, "context");
        if (!context || !*context) {
            rc = cf_hook_ignored(h, "conversation_started_without_context");
            goto out;
        }
        j_fact = person_fact(h, j_event, event, token, json_object_get(j_event, "user"));
        if (!j_fact) {
            *field_out = "user.id";
            cf_seterr(errbuf, errbuf_size, "conversation_started has no user");
            goto out;
        }
        json_object_set_new(j_fact, "code", json_string(context));
    }
    json_array_append_new(facts, j_fact);
    rc = 0;
out:
    json_decref(j_event);
    return rc;
}

/* A 200 is all Viber checks; a body to conversation_started would be sent
 * to the person as a welcome message, so there is none. */
static void viber_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = "text/plain";
    reply->body[0] = '\0';
}

/* Viber retries a failed callback for an hour and disables nothing: a
 * request without a person is refused (400) like any malformed one. */
const struct leads_adapter leads_adapter_viber = {
    .provider = "viber",
    .precheck = NULL,
    .verify = viber_verify,
    .parse = viber_parse,
    .reply_ok = viber_reply_ok,
    .never_refuse = 0,
};
