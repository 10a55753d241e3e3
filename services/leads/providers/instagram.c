/*
 * Instagram Messaging webhooks (Meta): the handshake and the signature are
 * Meta's (meta.c). A notification holds entries (one per professional
 * account), each with messaging events; an event with a message from a
 * person is a request fact keyed by the message's mid, which a retry
 * repeats. The person is known only by their Instagram-scoped id (no
 * phone, no name without a Graph call).
 *
 * A postback is a person's message too: an ice breaker or a button they
 * tapped, keyed by its mid, its title the text. An ig.me link with a ref
 * starts a conversation only through an ice breaker (Meta's "Using ig.me
 * Links"), so the link's ref arrives on that postback's referral.
 *
 * Echoes of the account's own messages (is_echo), reactions, reads and
 * a referral alone (an ig.me link opening a conversation that exists:
 * their next message is the request) are acknowledged and ignored. A
 * first message from a Click-to-Direct ad may carry a referral (ad id,
 * source, ad title, the link's ref): its ad ids become the fact's
 * referral, its ref the attribution code.
 *
 * Meta disables a subscription that keeps failing, so a notification with
 * no person in it is answered 200 (never_refuse).
 */
#include "adapters.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "meta.h"
#include "messenger.h"

/* The message's or postback's referral as the fact's referral when it
 * names an ad (ad id, source, title), and its code (the link's ref). */
static void referral(const json_t *j_msg, json_t *j_fact)
{
    const json_t *j_ref = json_object_get(j_msg, "referral");
    json_t *j_out;

    if (!json_is_object(j_ref))
        return;
    msgr_set_str(j_fact, "code", cf_hook_str(j_ref, "ref"));
    if (!json_object_get(j_ref, "ad_id")) /* an ig.me link's: a code, no ad */
        return;
    j_out = json_object();
    msgr_set_id(j_out, "source_id", json_object_get(j_ref, "ad_id"));
    msgr_set_str(j_out, "source_type", cf_hook_str(j_ref, "source"));
    msgr_set_str(j_out, "source_url", cf_hook_str(j_ref, "source_url"));
    msgr_set_str(j_out, "headline",
                 cf_hook_str(json_object_get(j_ref, "ads_context_data"), "ad_title"));
    if (json_object_size(j_out) > 0)
        json_object_set_new(j_fact, "referral", j_out);
    else
        json_decref(j_out);
}

/* One messaging event: 1 and a fact appended, 0 when it is not a person's
 * message (*why says what it is), -1 when the message names no sender. */
static int event_fact(const struct cf_hook *h, const json_t *j_event, json_t *facts,
                      const char **why)
{
    const json_t *j_msg = json_object_get(j_event, "message");
    char sender[MSGR_ID_MAX + 1], mid[MSGR_ID_MAX + 1];
    const char *text_member = "text";

    if (!json_is_object(j_msg) && json_is_object(json_object_get(j_event, "postback"))) {
        j_msg = json_object_get(j_event, "postback");
        text_member = "title";
    }
    if (!json_is_object(j_msg)) {
        static const char *const kinds[] = {"reaction", "read", "referral"};
        *why = "unknown";
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
            if (json_object_get(j_event, kinds[i]))
                *why = kinds[i];
        }
        return 0;
    }
    if (json_is_true(json_object_get(j_msg, "is_echo"))) {
        *why = "echo";
        return 0;
    }
    if (json_is_true(json_object_get(j_msg, "is_deleted"))) {
        *why = "deleted";
        return 0;
    }
    if (msgr_id(json_object_get(json_object_get(j_event, "sender"), "id"), sender) != 0 ||
        msgr_id(json_object_get(j_msg, "mid"), mid) != 0)
        return -1;
    /* timestamp is in milliseconds */
    const json_t *j_ts = json_object_get(j_event, "timestamp");
    int64_t time_ms = json_is_integer(j_ts) && json_integer_value(j_ts) > 0
                          ? (int64_t)json_integer_value(j_ts)
                          : h->received_ms;
    json_t *j_fact = msgr_fact_new(mid, "request", time_ms);
    json_object_set_new(j_fact, "user_id", json_string(sender));
    json_object_set_new(j_fact, "message_id", json_string(mid));
    msgr_set_str(j_fact, "text", cf_hook_str(j_msg, text_member));
    referral(j_msg, j_fact);
    json_array_append_new(facts, j_fact);
    return 1;
}

static int instagram_parse(const struct cf_hook *h, json_t *facts, const char **field_out,
                           char *errbuf, size_t errbuf_size)
{
    json_t *j_body = msgr_body_object(h, errbuf, errbuf_size);
    const json_t *j_entry, *j_event;
    size_t i, k, recorded = 0, senderless = 0;
    const char *object, *why = NULL;
    /* the channel's own account, when it names it: a notification for
     * another account of the same Meta app is not this clinic's */
    const char *own = cf_hook_str(json_object_get(h->channel, "credentials"), "account_id");
    int rc = CF_EINVAL;

    if (!j_body)
        return CF_EINVAL;
    object = cf_hook_str(j_body, "object");
    if (!object || strcmp(object, "instagram") != 0 ||
        !json_is_array(json_object_get(j_body, "entry"))) {
        *field_out = "object";
        cf_seterr(errbuf, errbuf_size, "not an instagram notification");
        goto out;
    }
    json_array_foreach(json_object_get(j_body, "entry"), i, j_entry)
    {
        char to[MSGR_ID_MAX + 1];
        if (own && (msgr_id(json_object_get(j_entry, "id"), to) != 0 || strcmp(to, own) != 0)) {
            why = "another_account";
            continue;
        }
        /* messaging, or standby when another app owns the conversation
         * (Meta's handover protocol: a clinic's inbox tool answers, this
         * app listens), the same events either way */
        static const char *const lists[] = {"messaging", "standby"};
        if (!json_is_array(json_object_get(j_entry, "messaging")) &&
            !json_is_array(json_object_get(j_entry, "standby")) && !why)
            why = "not_messaging"; /* a comments or mentions change */
        for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
            json_array_foreach(json_object_get(j_entry, lists[l]), k, j_event)
            {
                int got = event_fact(h, j_event, facts, &why);
                if (got > 0)
                    recorded++;
                else if (got < 0)
                    senderless++;
            }
    }
    if (recorded > 0) {
        if (senderless > 0)
            cf_hook_amended(h, "message_without_sender");
        rc = 0;
    } else if (senderless > 0) {
        *field_out = "entry.messaging.sender.id";
        cf_seterr(errbuf, errbuf_size, "no message names its sender and mid");
    } else {
        rc = cf_hook_ignored_value(h, "not_a_message", why ? why : "empty");
    }
out:
    json_decref(j_body);
    return rc;
}

/* Meta looks at the status only; its Messenger sample app answers
 * "EVENT_RECEIVED". */
static void instagram_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = "text/plain";
    snprintf(reply->body, sizeof(reply->body), "EVENT_RECEIVED");
}

const struct leads_adapter leads_adapter_instagram = {
    .provider = "instagram",
    .precheck = meta_precheck,
    .verify = meta_verify,
    .parse = instagram_parse,
    .reply_ok = instagram_reply_ok,
    .never_refuse = 1,
};
