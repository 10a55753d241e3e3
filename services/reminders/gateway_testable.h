/*
 * The gateways' requests as pure functions (gateway_webhook.c): what goes
 * to a clinic's gateway for one send. No I/O; unit-tested.
 */
#ifndef CF_REMINDERS_GATEWAY_TESTABLE_H
#define CF_REMINDERS_GATEWAY_TESTABLE_H

#include <stddef.h>

#include <jansson.h>

#include "common/hash.h"

#define GW_SIGNATURE_HEADER "X-Clinicflow-Signature"

/* A webhook gateway's request (the clinic's own dialer): the JSON body
 * {"send_id", "command": the command's data, "contact": {"phone",
 * "first_name", "language"}, "clinic": {"id", "name", "address"}} and its
 * signature header value "sha256=<hex HMAC-SHA256 of the body with the
 * channel's secret>". body is new (free it). */
char *gw_webhook_body(const char *send_id, const json_t *command, const json_t *contact,
                      const json_t *clinic);
void gw_webhook_signature(const char *secret, const char *body, size_t len,
                          char out[8 + CF_SHA256_HEX_LEN]);

/* What the dispatcher may send to a patient record on a channel ("call",
 * "sms"): NULL when it may (*phone set to the first phone), else the
 * reason ("no_phone", "no_consent"). */
const char *gw_may_send(const json_t *patient_record, const char *channel, const char **phone);

#endif
