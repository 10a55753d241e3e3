/*
 * Telephony provider adapters. A provider's webhook arrives at
 * POST|GET /v1/hooks/calls/{provider}/{channel}[/sub/path]; hooks.c finds
 * the channel, turns the request into a struct cf_hook (plain data, no
 * HTTP types, so adapters are pure functions that unit tests call
 * directly), and asks the provider's adapter to
 *
 *   1. precheck: answer a check that comes before authentication (Zadarma's
 *      GET ?zd_echo=), if the provider has one;
 *   2. verify: check authenticity on exactly what the provider signs;
 *   3. parse: turn the request into zero or more provider-neutral facts;
 *   4. reply_ok: the body and status the provider expects on success.
 *
 * hooks.c then normalizes every fact (phones to E.164, contact key, clinic
 * from the channel's number mapping), produces them to calls.raw and waits
 * for Kafka before answering: 503 + Retry-After if Kafka cannot take them,
 * so the provider retries and nothing acknowledged is lost.
 */
#ifndef CF_CALLS_ADAPTERS_H
#define CF_CALLS_ADAPTERS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/envelope.h" /* cf_time_json_set for facts' times */

#include "common/hook.h"

/*
 * A fact, as parse() appends it to its array: a JSON object with
 *   "event_key"   the provider's own event key, or call key + event kind
 *                 where the provider has none (Asterisk CDR, UIS). Unique
 *                 per event within the channel; a retried webhook repeats it.
 *   "call_key"    the provider's call key (CallSid, linkedid, entry_id,
 *                 pbx_call_id, call_id, call_session_id)
 *   "time"        event time, RFC 3339 UTC ("2026-11-20T09:00:40Z"): PBX local
 *                 times are converted with calls_local_time() and the
 *                 channel's "timezone"
 *   "event"       "started" | "answered" | "ended" | "updated" (a late fact
 *                 about a call: a recording, a tag)
 *   "direction"   "inbound" | "outbound"
 *   "from", "to"  the parties exactly as the provider gave them (strings;
 *                 hooks.c normalizes; anonymous, SIP URIs and extensions are
 *                 kept raw)
 * and, when the provider reports them:
 *   "tracking_number" the number the caller dialled when it is a tracking
 *                 number (inbound: usually "to")
 *   "started_at", "answered_at", "ended_at"  RFC 3339 UTC
 *   "ring_seconds", "talk_seconds"  integers >= 0
 *   "outcome"     "answered" | "missed" | "busy" | "failed" | "voicemail"
 *   "agent_id"    string; "agent_group": "call_center" | "reception"
 *   "recording_url" string
 *   "agent_outcome", "agent_answered_at", "agent_talk_seconds"  the leg to
 *                 the clinic's staff, where the provider itself answered the
 *                 caller first (a greeting or menu, then a dial to reception):
 *                 the outcome ("answered" | "missed" | "busy" | "failed"),
 *                 when staff answered and how long they talked. The call's
 *                 outcome, answer and talk time are then the staff leg's.
 * Optional members are omitted, never null.
 */

struct calls_adapter {
    const char *provider;
    /* Answers a request that must be answered before authentication and
     * returns 1, or returns 0 to go on. NULL: the provider has none. */
    int (*precheck)(const struct cf_hook *h, struct cf_hook_reply *reply);
    /* 0 when the request is authentic, CF_EAUTH (with the reason, never
     * the secret) when not. */
    int (*verify)(const struct cf_hook *h, char *errbuf, size_t errbuf_size);
    /* Appends the request's facts to facts (a JSON array): 0 (zero facts is
     * fine: an event we do not record is acknowledged), or CF_EINVAL with
     * the reason when the request is not the provider's format at all.
     * Tolerant: unknown fields are ignored. */
    int (*parse)(const struct cf_hook *h, json_t *facts, char *errbuf, size_t errbuf_size);
    /* The provider's expected success reply. */
    void (*reply_ok)(const struct cf_hook *h, struct cf_hook_reply *reply);
    /* 1 when a refusal would lose the event (the provider does not retry a
     * 4xx, or stops sending after one): a time out of bounds is then left
     * out of the fact (counted) instead of refusing the request. */
    int keep_on_bad_time;
};

extern const struct calls_adapter calls_adapter_twilio;
extern const struct calls_adapter calls_adapter_asterisk;
extern const struct calls_adapter calls_adapter_mango;
extern const struct calls_adapter calls_adapter_zadarma;
extern const struct calls_adapter calls_adapter_sipuni;
extern const struct calls_adapter calls_adapter_uis;

/* The adapter of a provider name, or NULL. */
const struct calls_adapter *calls_adapter_find(const char *provider);

/* --- helpers for telephony adapters (adapters_util.c) --- */

/* Local wall-clock time "YYYY-MM-DD HH:MM:SS" (or with 'T') in IANA zone tz
 * to Unix milliseconds: 0, or CF_EINVAL for a malformed time or unknown
 * zone. Thread-safe. */
int calls_local_time(const char *local, const char *tz, int64_t *ms_out);

/* The largest Unix seconds an adapter takes: the end of year 9999, the last
 * second RFC 3339 can write. Larger is malformed; times 1000 cannot
 * overflow. */
#define CALLS_UNIX_S_MAX 253402300799LL
/* The longest duration in seconds an adapter takes (a day), as on the
 * generic route; longer is malformed. */
#define CALLS_SECONDS_MAX 86400LL

/* Bounds on a fact's times before it is produced: every time ("time",
 * "started_at", "answered_at", "ended_at", "agent_answered_at") within
 * [received - max_age_s, received + max_ahead_s] and within a day of the
 * fact's "time", every duration ("ring_seconds", "talk_seconds",
 * "agent_talk_seconds") at most a day. Returns 0 when all hold. Otherwise,
 * with amend 0: -1 and *field_out names the first that does not; with
 * amend 1: the fact is changed (a "time" out of bounds becomes the
 * arrival, other members out of bounds are removed), 1 is returned and
 * *field_out names the first member changed. */
int calls_fact_bound_times(json_t *j_fact, int64_t received_ms, long max_age_s, long max_ahead_s,
                           int amend, const char **field_out);

/* The date "YYYY-MM-DD" in IANA zone tz at Unix milliseconds ms: 0, or
 * CF_EINVAL for an unknown zone. Thread-safe. */
int calls_local_date(int64_t ms, const char *tz, char out[11]);

/* Hashing, HMAC, hex, base64 and constant-time comparison: common/hash.h
 * (cf_sha1, cf_sha256, cf_hmac_sha1, cf_hmac_sha256, cf_hex, cf_base64,
 * cf_ct_equal). */

#endif
