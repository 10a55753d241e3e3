/*
 * Telegram bots (Bot API setWebhook): one JSON Update per POST. A person's
 * message to the bot in a private chat is a request: its text (or a
 * media caption), a contact they shared with its phone, or the
 * "/start <payload>" a t.me/<bot>?start=<code> link sends, whose payload
 * is the attribution code. Every other update (edited messages, channel
 * posts, callback queries, membership changes, group chatter) is
 * acknowledged and ignored with its kind as the reason.
 *
 * Authenticity is only the X-Telegram-Bot-Api-Secret-Token header, equal
 * to the secret set with setWebhook (compared in constant time): Telegram
 * signs nothing. Telegram retries anything but a 2xx and holds back the
 * chat's later updates meanwhile, so a request without a person is
 * answered 200 (never_refuse), and a retry keeps its update_id, the event
 * key.
 */
#include "adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/xmalloc.h"
#include "messenger.h"

/* The longest deep-link payload Telegram allows, and its alphabet. */
#define START_PAYLOAD_MAX 64
#define START_PAYLOAD_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

static int telegram_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    const char *want = cf_hook_credential(h, "secret_token");
    const char *got = cf_hook_header(h, "x-telegram-bot-api-secret-token");

    if (!want || !*want) {
        cf_seterr(errbuf, errbuf_size, "the channel has no secret_token credential");
        return CF_EAUTH;
    }
    if (!got) {
        cf_seterr(errbuf, errbuf_size, "missing X-Telegram-Bot-Api-Secret-Token");
        return CF_EAUTH;
    }
    if (!cf_ct_equal(want, strlen(want), got, strlen(got))) {
        cf_seterr(errbuf, errbuf_size, "wrong X-Telegram-Bot-Api-Secret-Token");
        return CF_EAUTH;
    }
    return 0;
}

/* The kind of a non-message update: its first member other than
 * update_id ("edited_message", "callback_query", ...), or "unknown". */
static const char *update_kind(const json_t *j_update)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)j_update, key, v)
    {
        if (strcmp(key, "update_id") != 0)
            return key;
    }
    return "unknown";
}

/* When text is a /start command ("/start", "/start@bot", either followed
 * by a space and the payload), returns 1 and points *payload at the
 * payload ("" when none); else 0. */
static int start_command(const char *text, const char **payload)
{
    if (strncmp(text, "/start", 6) != 0)
        return 0;
    const char *p = text + 6;
    if (*p == '@')
        p += strcspn(p, " \t\n");
    if (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
        return 0; /* "/started ..." */
    p += strspn(p, " \t\n");
    *payload = p;
    return 1;
}

/* The person's display name: first and last name joined by a space. A new
 * string, or NULL when the user has neither. */
static char *full_name(const json_t *j_user)
{
    const char *first = cf_hook_str(j_user, "first_name");
    const char *last = cf_hook_str(j_user, "last_name");

    if (first && *first && last && *last)
        return cf_xasprintf("%s %s", first, last);
    if (first && *first)
        return cf_xstrdup(first);
    if (last && *last)
        return cf_xstrdup(last);
    return NULL;
}

/* The shared contact of a message: its phone becomes the fact's when it is
 * the sender's own (contact.user_id equal to from.id); someone else's is
 * left out and noted. The account's own number is international, but
 * Telegram sends it as digits alone ("84912345678"): the "+" goes before
 * it, or normalizing would read it in the network's country. */
static void contact_phone(const struct cf_hook *h, const json_t *j_contact, const char *from_id,
                          json_t *j_fact)
{
    char owner[MSGR_ID_MAX + 1];
    const char *phone = cf_hook_str(j_contact, "phone_number");

    if (!phone || !*phone)
        return;
    if (msgr_id(json_object_get(j_contact, "user_id"), owner) != 0 || strcmp(owner, from_id) != 0) {
        cf_hook_amended(h, "contact_not_own");
        return;
    }
    msgr_set_international(j_fact, phone);
}

static int telegram_parse(const struct cf_hook *h, json_t *facts, const char **field_out,
                          char *errbuf, size_t errbuf_size)
{
    json_t *j_update = msgr_body_object(h, errbuf, errbuf_size);
    char update_id[MSGR_ID_MAX + 1], from_id[MSGR_ID_MAX + 1];
    const char *payload = NULL;
    char *name = NULL;
    int rc = CF_EINVAL;

    if (!j_update)
        return CF_EINVAL;
    if (!json_is_integer(json_object_get(j_update, "update_id")) ||
        msgr_id(json_object_get(j_update, "update_id"), update_id) != 0) {
        *field_out = "update_id";
        cf_seterr(errbuf, errbuf_size, "not a telegram update: no integer update_id");
        goto out;
    }
    const json_t *j_msg = json_object_get(j_update, "message");
    if (!json_is_object(j_msg)) {
        rc = cf_hook_ignored_value(h, "not_a_message", update_kind(j_update));
        goto out;
    }
    const json_t *j_chat = json_object_get(j_msg, "chat");
    const char *chat_type = cf_hook_str(j_chat, "type");
    if (chat_type && strcmp(chat_type, "private") != 0) {
        /* the bot in a group sees people talking to each other, not to the clinic */
        rc = cf_hook_ignored_value(h, "not_a_private_chat", chat_type);
        goto out;
    }
    const json_t *j_from = json_object_get(j_msg, "from");
    if (msgr_id(json_object_get(j_from, "id"), from_id) != 0) {
        *field_out = "message.from.id";
        cf_seterr(errbuf, errbuf_size, "the message has no sender");
        goto out;
    }
    if (json_is_true(json_object_get(j_from, "is_bot"))) {
        rc = cf_hook_ignored(h, "from_a_bot");
        goto out;
    }
    const char *text = cf_hook_str(j_msg, "text");
    if (!text)
        text = cf_hook_str(j_msg, "caption");
    const json_t *j_contact = json_object_get(j_msg, "contact");
    const int is_start = text && start_command(text, &payload);
    if (!(text && *text) && !json_is_object(j_contact)) {
        /* a sticker, a voice note, a location: nothing a lead can hold */
        rc = cf_hook_ignored(h, "no_text");
        goto out;
    }

    json_t *j_fact = msgr_fact_new(update_id, "request",
                                   msgr_seconds_ms(json_object_get(j_msg, "date"), h->received_ms));
    json_object_set_new(j_fact, "user_id", json_string(from_id));
    name = full_name(j_from);
    msgr_set_str(j_fact, "name", name);
    msgr_set_str(j_fact, "handle", cf_hook_str(j_from, "username"));
    msgr_set_id(j_fact, "chat_id", json_object_get(j_chat, "id"));
    msgr_set_id(j_fact, "message_id", json_object_get(j_msg, "message_id"));
    if (is_start) {
        /* "/start" is the START button, not words of the person's own */
        size_t n = strlen(payload);
        if (n > 0 && n <= START_PAYLOAD_MAX && strspn(payload, START_PAYLOAD_CHARS) == n)
            json_object_set_new(j_fact, "code", json_string(payload));
        else if (n > 0)
            cf_hook_amended(h, "start_payload_invalid");
    } else {
        msgr_set_str(j_fact, "text", text);
    }
    if (json_is_object(j_contact))
        contact_phone(h, j_contact, from_id, j_fact);
    json_array_append_new(facts, j_fact);
    rc = 0;
out:
    free(name);
    json_decref(j_update);
    return rc;
}

/* Any 2xx will do; the body could hold a Bot API method call, so it is
 * left empty. */
static void telegram_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = "text/plain";
    reply->body[0] = '\0';
}

const struct leads_adapter leads_adapter_telegram = {
    .provider = "telegram",
    .precheck = NULL,
    .verify = telegram_verify,
    .parse = telegram_parse,
    .reply_ok = telegram_reply_ok,
    .never_refuse = 1,
};
