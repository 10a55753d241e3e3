/*
 * The webhook gateway (gateway_testable.h): for robot-call vendors that
 * take a webhook, the command POSTed to the clinic's dialer URL with what
 * it needs to call (the phone, the first name, the language, the clinic),
 * HMAC-signed with the channel's secret so the dialer can tell it is ours.
 * The send id travels in the body: a dialer that keeps it can refuse a
 * repeat. And the consent rule every gateway shares.
 */
#include "gateway_testable.h"

#include <stdio.h>
#include <string.h>

#include "common/xmalloc.h"

char *gw_webhook_body(const char *send_id, const json_t *command, const json_t *contact,
                      const json_t *clinic)
{
    json_t *j = json_pack("{s:s, s:O, s:O, s:O}", "send_id", send_id, "command", command, "contact",
                          contact, "clinic", clinic);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return body;
}

void gw_webhook_signature(const char *secret, const char *body, size_t len,
                          char out[8 + CF_SHA256_HEX_LEN])
{
    uint8_t mac[32];
    cf_hmac_sha256(secret, strlen(secret), body, len, mac);
    memcpy(out, "sha256=", 7);
    cf_hex(mac, sizeof(mac), out + 7);
}

const char *gw_may_send(const json_t *patient_record, const char *channel, const char **phone)
{
    *phone = json_string_value(json_array_get(json_object_get(patient_record, "phones"), 0));
    if (!*phone)
        return "no_phone";
    /* a robot call needs the calls consent; an SMS the SMS consent */
    const char *consent = channel && strcmp(channel, "sms") == 0 ? "sms" : "calls";
    if (!json_is_true(json_object_get(json_object_get(patient_record, "consents"), consent)))
        return "no_consent";
    return NULL;
}
