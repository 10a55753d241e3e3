/*
 * The webhook gateway (gateway_testable.h): for robot-call vendors that
 * take a webhook, the command POSTed to the clinic's dialer URL with what
 * it needs to call (the phone, the first name, the language, the clinic),
 * HMAC-signed with the channel's secret so the dialer can tell it is ours.
 * The send id travels in the body: a dialer that keeps it can refuse a
 * repeat. The dialer reports each call's outcome to our generic outcomes
 * hook, signed the same way. And the consent rule every gateway shares.
 */
#include "gateway_testable.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/xmalloc.h"

char *gw_webhook_body(const char *send_id, const json_t *command, const char *text,
                      const json_t *contact, const json_t *clinic)
{
    json_t *j = json_pack("{s:s, s:O, s:s, s:O, s:O}", "send_id", send_id, "command", command,
                          "text", text, "contact", contact, "clinic", clinic);
    char *body = cf_json_dumps(j);
    json_decref(j);
    return body;
}

/* The generic vocabulary, and what the ladder calls each. */
static const char *const generic_outcomes[][2] = {
    {"confirmed", "confirmed"},
    {"declined", "declined"},
    {"reschedule", "reschedule"},
    {"no_answer", "no_answer"},
    {"busy", "busy"},
    {"voicemail", "voicemail"},
    {"no_reply", "no_reply"},
    {"failed", "failed"},
    {"opt_out", "opt_out_calls"},
    {"sms_delivered", "sms_delivered"},
    {"sms_failed", "sms_failed"},
    {"opt_out_sms", "opt_out_sms"},
};

static int bad(const char **field, const char *name, char *errbuf, size_t errbuf_size,
               const char *why)
{
    *field = name;
    snprintf(errbuf, errbuf_size, "%s: %s", name, why);
    return CF_EINVAL;
}

int gw_webhook_outcome(const json_t *j_body, struct gw_report *out, const char **field,
                       char *errbuf, size_t errbuf_size)
{
    const char *key;
    json_t *j_v;
    memset(out, 0, sizeof(*out));
    out->duration_s = -1;
    *field = NULL;
    if (!json_is_object(j_body))
        return bad(field, "body", errbuf, errbuf_size, "expected a JSON object");
    json_object_foreach((json_t *)j_body, key, j_v)
    {
        if (strcmp(key, "send_id") == 0) {
            if (!json_is_string(j_v) || !cf_uuid_valid(json_string_value(j_v)))
                return bad(field, key, errbuf, errbuf_size, "expected the send's id (a UUID)");
            out->send_id = json_string_value(j_v);
        } else if (strcmp(key, "outcome") == 0) {
            for (size_t i = 0; i < sizeof(generic_outcomes) / sizeof(generic_outcomes[0]); i++)
                if (json_is_string(j_v) &&
                    strcmp(json_string_value(j_v), generic_outcomes[i][0]) == 0)
                    out->outcome = generic_outcomes[i][1];
            if (!out->outcome)
                return bad(field, key, errbuf, errbuf_size,
                           "expected confirmed, declined, reschedule, no_answer, busy, voicemail, "
                           "no_reply, failed, opt_out, sms_delivered, sms_failed or opt_out_sms");
        } else if (strcmp(key, "duration_s") == 0) {
            if (!json_is_integer(j_v) || json_integer_value(j_v) < 0 ||
                json_integer_value(j_v) > 86400)
                return bad(field, key, errbuf, errbuf_size, "expected whole seconds, 0-86400");
            out->duration_s = (long)json_integer_value(j_v);
        } else if (strcmp(key, "recording_url") == 0) {
            const char *u = json_string_value(j_v);
            if (!u || strlen(u) > 2000 ||
                (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0))
                return bad(field, key, errbuf, errbuf_size, "expected an http(s) URL");
            out->recording_url = u;
        } else if (strcmp(key, "provider_ref") == 0) {
            const char *r = json_string_value(j_v);
            if (!r || !*r || strlen(r) > 128)
                return bad(field, key, errbuf, errbuf_size, "expected 1-128 characters");
            out->provider_ref = r;
        } else {
            return bad(field, key, errbuf, errbuf_size, "unknown field");
        }
    }
    if (!out->send_id)
        return bad(field, "send_id", errbuf, errbuf_size, "required");
    if (!out->outcome)
        return bad(field, "outcome", errbuf, errbuf_size, "required");
    return 0;
}

const char *gw_may_send(const json_t *patient_record, const char *kind, const char *channel,
                        const char **phone)
{
    const json_t *consents = json_object_get(patient_record, "consents");
    *phone = json_string_value(json_array_get(json_object_get(patient_record, "phones"), 0));
    if (!*phone)
        return "no_phone";
    /* a robot call needs the calls consent; an SMS the SMS consent */
    const char *consent = channel && strcmp(channel, "sms") == 0 ? "sms" : "calls";
    if (!json_is_true(json_object_get(consents, consent)))
        return "no_consent";
    /* a campaign invites the patient to book: advertising, which needs
     * their consent to it beside the channel's */
    if (kind && (strcmp(kind, "reinvite") == 0 || strcmp(kind, "recall") == 0) &&
        !json_is_true(json_object_get(consents, "marketing")))
        return "no_consent";
    return NULL;
}
