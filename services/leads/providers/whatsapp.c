/*
 * WhatsApp Cloud API webhooks (Meta): the handshake and the signature are
 * Meta's (meta.c). A notification holds entries, each with changes; a
 * change of field "messages" holds the customers' messages (each one a
 * request fact, keyed by its message id, which a retry repeats), their
 * contacts (wa_id and profile name) and the statuses of the business's own
 * sends, which are not leads and are ignored.
 *
 * The person: the message's `from` is their phone number in international
 * form without the '+' ("+" prepended, so normalizing does not take it for
 * a local number); the contact's `wa_id` is their WhatsApp ID. The two are
 * usually the same digits, but Meta's reference warns they "may not always
 * match" (Brazil's and Mexico's numbering changes). Since WhatsApp
 * usernames, the contact also has a `user_id`, the business-scoped user
 * ID (BSUID), in every messages notification, and a person with a
 * username may come without any phone: no `from`, no `wa_id`. The
 * messenger user id is the BSUID when there is one, else the wa_id, else
 * `from`; a message with none of them names nobody. The username, when
 * the person has one, is the fact's handle. A message sent
 * from a Click-to-WhatsApp ad carries the ad's `referral`, kept as the
 * fact's referral.
 *
 * A wa.me or api.whatsapp.com link on a clinic's site gets " [<code>]" at
 * the end of its pre-filled text from our page script
 * (web/clinicflow-leads.js): a text message that still ends with such a
 * code carries it as the fact's "code", and its text is kept as sent.
 *
 * Meta disables a subscription that keeps failing, so a notification with
 * no person in it is answered 200 (never_refuse).
 */
#include "adapters.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "meta.h"
#include "messenger.h"

/* The sender's entry in a change's contacts: the one whose wa_id is the
 * message's from (NULL: it has none), else the only one; NULL when
 * neither. */
static const json_t *sender_contact(const json_t *j_contacts, const char *from)
{
    size_t i;
    json_t *j_contact;
    char id[MSGR_ID_MAX + 1];

    json_array_foreach(j_contacts, i, j_contact)
    {
        if (from && msgr_id(json_object_get(j_contact, "wa_id"), id) == 0 && strcmp(id, from) == 0)
            return j_contact;
    }
    return json_array_size(j_contacts) == 1 ? json_array_get(j_contacts, 0) : NULL;
}

/* The sender's messenger user id in out: their contact's user_id (the
 * BSUID, which stays theirs when they hide their number later), else its
 * wa_id, else the message's from (NULL: none). -1 when none of them. */
static int sender_id(const json_t *j_contact, const char *from, char out[MSGR_ID_MAX + 1])
{
    if (msgr_id(json_object_get(j_contact, "user_id"), out) == 0 ||
        msgr_id(json_object_get(j_contact, "wa_id"), out) == 0)
        return 0;
    if (!from)
        return -1;
    memcpy(out, from, MSGR_ID_MAX + 1);
    return 0;
}

/* The words of a message: a text's body, a button's or a list reply's
 * title, a media caption; NULL for what has none (a sticker, a location). */
static const char *message_text(const json_t *j_msg)
{
    const char *type = cf_hook_str(j_msg, "type");
    const json_t *j_part;

    if (!type)
        return NULL;
    if (strcmp(type, "text") == 0)
        return cf_hook_str(json_object_get(j_msg, "text"), "body");
    if (strcmp(type, "button") == 0)
        return cf_hook_str(json_object_get(j_msg, "button"), "text");
    if (strcmp(type, "interactive") == 0) {
        j_part = json_object_get(j_msg, "interactive");
        const char *t = cf_hook_str(json_object_get(j_part, "button_reply"), "title");
        return t ? t : cf_hook_str(json_object_get(j_part, "list_reply"), "title");
    }
    j_part = json_object_get(j_msg, type); /* image, video, document: their caption */
    return json_is_object(j_part) ? cf_hook_str(j_part, "caption") : NULL;
}

/* An attribution code (POST /v1/leads/codes): ^[0-9a-hjkmnp-tv-z]{10}$. */
#define WA_CODE_LEN 10
static const char wa_code_chars[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* The code a text ends with, as the page script appends it: "[<code>]"
 * at the very end (trailing white space aside), at the start of the text
 * or after white space. Its characters in out and 1, else 0: a bracket
 * that holds anything else, or a code the person wrote more after, is
 * words of theirs. */
static int trailing_code(const char *text, char out[WA_CODE_LEN + 1])
{
    size_t n = strlen(text);

    while (n > 0 && isspace((unsigned char)text[n - 1]))
        n--;
    if (n < WA_CODE_LEN + 2 || text[n - 1] != ']')
        return 0;
    const char *bracket = text + n - WA_CODE_LEN - 2;
    if (*bracket != '[' || (bracket > text && !isspace((unsigned char)bracket[-1])))
        return 0;
    for (size_t i = 1; i <= WA_CODE_LEN; i++) {
        if (!memchr(wa_code_chars, bracket[i], sizeof(wa_code_chars) - 1))
            return 0;
    }
    memcpy(out, bracket + 1, WA_CODE_LEN);
    out[WA_CODE_LEN] = '\0';
    return 1;
}

/* The Click-to-WhatsApp referral's ad ids, or NULL when the message has
 * none (a new object). */
static json_t *referral(const json_t *j_msg)
{
    static const char *const keys[] = {"source_id", "source_type", "source_url", "headline",
                                       "ctwa_clid"};
    const json_t *j_ref = json_object_get(j_msg, "referral");
    json_t *j_out;

    if (!json_is_object(j_ref))
        return NULL;
    j_out = json_object();
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        msgr_set_str(j_out, keys[i], cf_hook_str(j_ref, keys[i]));
    if (json_object_size(j_out) == 0) {
        json_decref(j_out);
        return NULL;
    }
    return j_out;
}

/* One customer message of a change to a fact appended to facts: 1, or 0
 * when it names no sender or has no id (*field_out says which). */
static int message_fact(const struct cf_hook *h, const json_t *j_value, const json_t *j_msg,
                        json_t *facts, const char **field_out)
{
    char from[MSGR_ID_MAX + 1], msg_id[MSGR_ID_MAX + 1], user_id[MSGR_ID_MAX + 1];
    const int has_from = msgr_id(json_object_get(j_msg, "from"), from) == 0;

    if (msgr_id(json_object_get(j_msg, "id"), msg_id) != 0) {
        *field_out = "entry.changes.value.messages.id";
        return 0;
    }
    const json_t *j_contact =
        sender_contact(json_object_get(j_value, "contacts"), has_from ? from : NULL);
    if (sender_id(j_contact, has_from ? from : NULL, user_id) != 0) {
        *field_out = "entry.changes.value.messages.from";
        return 0;
    }
    const json_t *j_profile = json_object_get(j_contact, "profile");
    json_t *j_fact = msgr_fact_new(
        msg_id, "request", msgr_seconds_ms(json_object_get(j_msg, "timestamp"), h->received_ms));
    json_object_set_new(j_fact, "user_id", json_string(user_id));
    msgr_set_str(j_fact, "name", cf_hook_str(j_profile, "name"));
    const char *username = cf_hook_str(j_profile, "username");
    msgr_set_str(j_fact, "handle", username && username[0] == '@' ? username + 1 : username);
    if (has_from)
        msgr_set_international(j_fact, from);
    json_object_set_new(j_fact, "message_id", json_string(msg_id));
    const char *text = message_text(j_msg);
    msgr_set_str(j_fact, "text", text);
    char code[WA_CODE_LEN + 1];
    const char *type = cf_hook_str(j_msg, "type");
    if (text && type && strcmp(type, "text") == 0 && trailing_code(text, code))
        json_object_set_new(j_fact, "code", json_string(code));
    json_t *j_ref = referral(j_msg);
    if (j_ref)
        json_object_set_new(j_fact, "referral", j_ref);
    json_array_append_new(facts, j_fact);
    return 1;
}

/* A message type that asks for nothing (static, as its note's detail),
 * else NULL: a reaction to the clinic's message, WhatsApp telling of a
 * number change, or a person opening the chat for the first time
 * (request_welcome, with the welcome messages on), whose first message
 * will be the lead, as with Viber's conversation_started. */
static const char *not_asked(const char *type)
{
    static const char *const types[] = {"reaction", "system", "request_welcome"};
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(type, types[i]) == 0)
            return types[i];
    return NULL;
}

static int whatsapp_parse(const struct cf_hook *h, json_t *facts, const char **field_out,
                          char *errbuf, size_t errbuf_size)
{
    json_t *j_body = msgr_body_object(h, errbuf, errbuf_size);
    const json_t *j_entry, *j_change, *j_msg;
    size_t i, k, m, messages = 0, statuses = 0, recorded = 0, elsewhere = 0;
    /* the channel's own number, when it names it: a notification for
     * another number of the same Meta app is not this clinic's */
    const char *own = cf_hook_str(json_object_get(h->channel, "credentials"), "phone_number_id");
    const char *object, *other_field = NULL, *bad_field = NULL, *not_request = NULL;
    int rc = CF_EINVAL;

    if (!j_body)
        return CF_EINVAL;
    object = cf_hook_str(j_body, "object");
    if (!object || strcmp(object, "whatsapp_business_account") != 0 ||
        !json_is_array(json_object_get(j_body, "entry"))) {
        *field_out = "object";
        cf_seterr(errbuf, errbuf_size, "not a whatsapp_business_account notification");
        goto out;
    }
    json_array_foreach(json_object_get(j_body, "entry"), i, j_entry)
    {
        json_array_foreach(json_object_get(j_entry, "changes"), k, j_change)
        {
            const char *field = cf_hook_str(j_change, "field");
            const json_t *j_value = json_object_get(j_change, "value");
            /* standby: the same messages while another sender on the
             * number (Meta's business agent) holds the conversation */
            if (!field || (strcmp(field, "messages") != 0 && strcmp(field, "standby") != 0)) {
                other_field = field ? field : "unknown";
                continue;
            }
            const char *to = cf_hook_str(json_object_get(j_value, "metadata"), "phone_number_id");
            if (own && (!to || strcmp(to, own) != 0)) {
                elsewhere++;
                continue;
            }
            statuses += json_array_size(json_object_get(j_value, "statuses"));
            const char *ours =
                cf_hook_str(json_object_get(j_value, "metadata"), "display_phone_number");
            json_array_foreach(json_object_get(j_value, "messages"), m, j_msg)
            {
                const char *unasked = not_asked(cf_hook_str(j_msg, "type"));
                char from[MSGR_ID_MAX + 1];
                /* the number's own message (another sender's reply, on
                 * standby) is nobody's request */
                if (!unasked && ours && msgr_id(json_object_get(j_msg, "from"), from) == 0 &&
                    strcmp(from, ours) == 0)
                    unasked = "echo";
                if (unasked) {
                    not_request = unasked;
                    continue;
                }
                messages++;
                recorded += (size_t)message_fact(h, j_value, j_msg, facts, &bad_field);
            }
        }
    }
    if (recorded > 0) {
        if (recorded < messages)
            cf_hook_amended(h, "message_without_sender");
        rc = 0;
    } else if (messages > 0) {
        *field_out = bad_field;
        cf_seterr(errbuf, errbuf_size, "no message names its sender and id");
    } else if (not_request) {
        rc = cf_hook_ignored_value(h, "not_a_request", not_request);
    } else if (elsewhere > 0) {
        rc = cf_hook_ignored(h, "another_number");
    } else if (statuses > 0) {
        rc = cf_hook_ignored(h, "statuses");
    } else {
        rc = cf_hook_ignored_value(h, "not_a_message", other_field ? other_field : "empty");
    }
out:
    json_decref(j_body);
    return rc;
}

/* Meta looks at the status only; its sample apps answer a bare 200. */
static void whatsapp_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = "text/plain";
    reply->body[0] = '\0';
}

const struct leads_adapter leads_adapter_whatsapp = {
    .provider = "whatsapp",
    .precheck = meta_precheck,
    .verify = meta_verify,
    .parse = whatsapp_parse,
    .reply_ok = whatsapp_reply_ok,
    .never_refuse = 1,
};
