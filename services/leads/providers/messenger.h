/*
 * What the messenger adapters (telegram.c, meta.c and its whatsapp.c and
 * instagram.c, vk.c, viber.c) share: reading the JSON body, building a
 * fact (adapters.h) member by member with absent values left out, ids that
 * providers send as numbers or strings, and the HMAC-SHA256 hex check
 * Meta and Viber sign their bodies with. Internal to the adapters.
 */
#ifndef CF_LEADS_PROVIDERS_MESSENGER_H
#define CF_LEADS_PROVIDERS_MESSENGER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "adapters.h"

/* The longest id we take from a provider (Telegram's int64, VK's, Meta's
 * message ids are far shorter); a longer one is not an id. */
#define MSGR_ID_MAX 256

/* The request body as a JSON object (a new reference), or NULL with the
 * reason in errbuf when it is not one. */
json_t *msgr_body_object(const struct cf_hook *h, char *errbuf, size_t errbuf_size);

/* A new fact: event_key, kind ("request" or "response") and time (Unix
 * ms, RFC 3339 in the fact). */
json_t *msgr_fact_new(const char *event_key, const char *kind, int64_t time_ms);

/* Sets string member key of j_fact to value, unless value is NULL or
 * empty (a fact omits what it does not know, never null). */
void msgr_set_str(json_t *j_fact, const char *key, const char *value);

/* Sets "phone" of j_fact to a number the messenger knows to be
 * international (an account's own): "+" goes before one of digits alone
 * ("84912345678"), or normalizing would read it in the network's country;
 * anything else is kept raw. Nothing for NULL or empty. */
void msgr_set_international(json_t *j_fact, const char *phone);

/* An id sent as a JSON integer or a non-empty string, in out: 0, or -1
 * when v is neither (or a string over MSGR_ID_MAX bytes). */
int msgr_id(const json_t *v, char out[MSGR_ID_MAX + 1]);

/* Sets member key of j_fact to the id v (msgr_id) as a string, when it is
 * one: 1 if set, else 0. */
int msgr_set_id(json_t *j_fact, const char *key, const json_t *v);

/* Unix seconds (a JSON integer, or a string of digits as WhatsApp sends)
 * to ms; fallback_ms when v is neither or out of range. */
int64_t msgr_seconds_ms(const json_t *v, int64_t fallback_ms);

/* 1 when got is the hex HMAC-SHA256 of the body keyed with secret (either
 * case of hex digits), compared in constant time; else 0. */
int msgr_hmac_hex_ok(const char *secret, const struct cf_hook *h, const char *got);

#endif
