/*
 * Lead channel adapters: web forms, messengers and inbound mail. A
 * provider's webhook arrives at POST|GET /v1/hooks/leads/{provider}/{channel};
 * hooks.c finds the channel (kind "form" or "messenger"), decodes the request into a
 * struct cf_hook (common/hook.h: plain data, so adapters are pure functions
 * unit tests call directly) and asks the provider's adapter to
 *
 *   1. precheck: answer what comes before authentication (Meta's GET
 *      hub.challenge handshake, VK's "confirmation", Tilda's test request,
 *      Viber's "webhook" set-up callback), if the provider has one;
 *   2. verify: check authenticity on exactly what the provider signs;
 *   3. parse: turn the request into zero or more lead facts (below);
 *   4. reply_ok: the body and status the provider expects on success.
 *
 * hooks.c then normalizes every fact (ingest.c: the phone to E.164 or kept
 * raw, the contact keys, the clinic), produces it to leads.raw and answers
 * only after Kafka acknowledged it: 503 + Retry-After otherwise.
 */
#ifndef CF_LEADS_ADAPTERS_H
#define CF_LEADS_ADAPTERS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/hook.h"

/*
 * A fact, as parse() appends it to its array: a JSON object with
 *   "event_key"  the provider's own key of this message or form (Telegram
 *                update_id, WhatsApp message id, Tilda tranid, VK event_id,
 *                Viber message_token, Mailgun token/Message-Id ...): unique
 *                within the channel, repeated by a retry
 *   "kind"       "request": a person wrote to the clinic (a form, a
 *                message, a shared contact, a chat, a mail);
 *                "response": the clinic's staff answered in the channel
 *                (VK message_reply, a Jivo agent's message)
 *   "time"       when it happened, RFC 3339 UTC (the request's arrival,
 *                h->received_ms, when the provider gives none)
 * and, when the request carries them (members omitted, never null):
 *   "name", "phone" (as given: hooks.c normalizes, a phone that does not
 *                parse is kept raw), "email", "handle" (a messenger
 *                username, without '@')
 *   "user_id"    the provider's id of the person (Telegram from.id, WhatsApp
 *                BSUID or wa_id, VK from_id, Viber sender.id, IG sender id): their
 *                contact key is "<provider>:<user_id>"
 *   "chat_id", "message_id"   the provider's ids of the conversation and
 *                message (strings)
 *   "text"       the message, form comment or mail body (plain text; cut
 *                and marked by hooks.c when over CLINICFLOW_LEADS_TEXT_MAX)
 *   "subject"    a mail's subject
 *   "service"    the service the person asks for (a form field)
 *   "clinic_id"  the clinic the form names (a form field); else the
 *                channel's clinic_id
 *   "consent"    true/false: the form's consent checkbox
 *   "form_id"    the provider's form id (Tilda formid, CF7 form id)
 *   "tags"       {"utm_source", "utm_medium", "utm_campaign", "utm_term",
 *                "utm_content", "gclid", "yclid", "fbclid", "ym_uid",
 *                "client_id", "referrer", "page_url"}: strings, any subset
 *   "referral"   a Click-to-WhatsApp/Instagram ad's referral: {"source_id",
 *                "source_type", "source_url", "headline", "ctwa_clid"}
 *   "code"       an attribution code the message carries (POST
 *                /v1/leads/codes; Telegram "/start <code>", VK ref, a
 *                wa.me pre-filled text): the fold looks it up
 *   "staff_id"   kind "response": who answered, when the provider says
 */

struct leads_adapter {
    const char *provider;
    /* Answers a request that must be answered before (or instead of)
     * authentication and returns 1, or returns 0 to go on. NULL: none. */
    int (*precheck)(const struct cf_hook *h, struct cf_hook_reply *reply);
    /* 0 when the request is authentic, CF_EAUTH (reason in errbuf, never
     * the secret) when not. */
    int (*verify)(const struct cf_hook *h, char *errbuf, size_t errbuf_size);
    /* Appends the request's facts to facts (a JSON array): 0 (zero facts
     * is fine: an update we do not record is acknowledged, with
     * cf_hook_ignored's reason), or CF_EINVAL with the reason (and
     * *field_out naming the field when there is one) when the request is
     * not the provider's format or has no person in it. Tolerant: unknown
     * fields are ignored. */
    int (*parse)(const struct cf_hook *h, json_t *facts, const char **field_out, char *errbuf,
                 size_t errbuf_size);
    /* The provider's expected success reply. */
    void (*reply_ok)(const struct cf_hook *h, struct cf_hook_reply *reply);
    /* 1 when the provider disables or stops a hook after a 4xx (Meta,
     * Telegram, VK): a request with no person in it is then answered
     * with the success reply and counted, not refused. */
    int never_refuse;
};

/* Forms: our own (generic), Tilda, Contact Form 7, JivoChat, inbound mail
 * (Mailgun routes). */
extern const struct leads_adapter leads_adapter_generic;
extern const struct leads_adapter leads_adapter_tilda;
extern const struct leads_adapter leads_adapter_cf7;
extern const struct leads_adapter leads_adapter_jivo;
extern const struct leads_adapter leads_adapter_email;
/* Messengers: Telegram bots, WhatsApp Cloud and Instagram (Meta), VK
 * communities, Viber bots. */
extern const struct leads_adapter leads_adapter_telegram;
extern const struct leads_adapter leads_adapter_whatsapp;
extern const struct leads_adapter leads_adapter_instagram;
extern const struct leads_adapter leads_adapter_vk;
extern const struct leads_adapter leads_adapter_viber;

/* The adapter of a provider name, or NULL (hooks.c). */
const struct leads_adapter *leads_adapter_find(const char *provider);

#endif
