/*
 * What Meta's webhooks share between WhatsApp (whatsapp.c) and Instagram
 * (instagram.c): the GET subscription handshake and the
 * X-Hub-Signature-256 check. Internal to the adapters.
 */
#ifndef CF_LEADS_PROVIDERS_META_H
#define CF_LEADS_PROVIDERS_META_H

#include <stddef.h>

#include "adapters.h"

/* The verification request (GET ?hub.mode=subscribe&hub.verify_token=
 * &hub.challenge=): 200 echoing hub.challenge when the token equals the
 * channel's verify_token credential, 403 otherwise; any other GET is 403
 * too. Returns 1 for every GET (answered here), 0 for a POST (go on). */
int meta_precheck(const struct cf_hook *h, struct cf_hook_reply *reply);

/* X-Hub-Signature-256 is "sha256=" and the hex HMAC-SHA256 of the raw
 * body keyed with the channel's app_secret credential: 0 or CF_EAUTH. */
int meta_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size);

#endif
