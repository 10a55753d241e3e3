/*
 * One send through a clinic's gateway channel (gateway_send.c): the
 * request each provider takes (the pure builders of gateway_testable.h),
 * made with the common HTTP client, and what its answer says; and, after a
 * crash mid-send, what the gateway's own record says where it keeps one.
 */
#ifndef CF_REMINDERS_GATEWAY_H
#define CF_REMINDERS_GATEWAY_H

#include <stdint.h>

#include <jansson.h>

#include "common/netconf.h"
#include "reminders.h"

/* What goes out. Borrowed. */
struct gateway_message {
    const char *send_id;
    const json_t *command; /* the command's data */
    const char *channel;   /* "call", "sms" */
    const char *phone;     /* E.164 */
    const char *language;  /* the patient's, or NULL */
    const char *text;      /* what the robot says, or the SMS */
    const json_t *contact; /* {"phone", "first_name", "language"} */
    const json_t *clinic;  /* {"id", "name", "address"} */
};

/* What came of it: status "sent", "failed" (the gateway refused it) or
 * "unknown" (out, and no clear answer: no answer in time, a server error),
 * with a reason, the HTTP status, the gateway's id of the message or call
 * when it gave one. */
struct gateway_result {
    const char *status;
    const char *reason;
    long http_status;
    char provider_ref[64];
};

/* 1 when the channel's provider can make a send on channel ("call",
 * "sms"): SMS.ru sends only SMS, and so does a Twilio channel without a
 * number to call from (its SMS go through its messaging service). */
int gateway_can(const struct cf_channel *ch, const char *channel);

/* 1 when a patient's answer to an SMS sent through ch comes back: Twilio
 * posts the patient's reply to our hook, a webhook gateway reports it as
 * the send's outcome (confirmed, declined, opt_out_sms); SMS.ru sends
 * from a sender name and reports delivery only. */
int gateway_takes_replies(const struct cf_channel *ch);

/* Sends m through ch: 0 with *r set, or CF_EUNAVAIL when nothing went out
 * and the gateway may take it later (no connection; SMS.ru's passing
 * trouble), or CF_EINVAL when the channel cannot make such a send (errbuf
 * says why). */
int gateway_send(struct reminders_ctx *ctx, const struct cf_channel *ch,
                 const struct gateway_message *m, struct gateway_result *r, char *errbuf,
                 size_t errbuf_size);

/* After a crash between the mark and the answer: whether the gateway's own
 * record shows m, sent between since_ms and now. 1 found (r set as for a
 * send), 0 surely not there (it may be sent), CF_ENOTFOUND when the gateway
 * keeps no record we can ask or cannot tell (several candidates), or an
 * error (the gateway could not be asked: ask again later). */
int gateway_lookup(struct reminders_ctx *ctx, const struct cf_channel *ch,
                   const struct gateway_message *m, int64_t since_ms, struct gateway_result *r,
                   char *errbuf, size_t errbuf_size);

#endif
