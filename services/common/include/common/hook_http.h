/*
 * The HTTP half of a webhook route: from a ulfius request to the plain
 * struct cf_hook an adapter reads (common/hook.h), and from its struct
 * cf_hook_reply back to the response. Shared by the calls and leads hooks
 * routes, so both decode a provider's request the same way: the path's
 * provider and channel under the route's prefix, header names lower-cased,
 * the query and an urlencoded body decoded, the URL the provider called as
 * it sees it (for signatures over the URL).
 */
#ifndef CF_COMMON_HOOK_HTTP_H
#define CF_COMMON_HOOK_HTTP_H

#include <stddef.h>

#include <jansson.h>
#include <ulfius.h>

#include "common/client_addr.h"
#include "common/hook.h"

/* A decoded request; owns what hook's members point to (but the request's
 * own strings, which it borrows). */
struct cf_hook_http {
    char provider[32];
    char channel[128];
    json_t *query, *form, *headers;
    char *public_url;
    /* the first query or form field whose value is not UTF-8 text or holds
     * a NUL byte (left out of query and form), or NULL: cf_hook_http_invalid */
    char *invalid_field;
    /* method, subpath, public_url, content_type, body, query, form and
     * headers filled in; the route sets the channel, the times and notes */
    struct cf_hook hook;
};

/* Splits the request path under prefix ("/v1/hooks/calls/") into provider
 * and channel (and the rest, hook.subpath: "" or "/..."). 0, or -1 when the
 * path has no provider or channel (or one too long): a 404. */
int cf_hook_http_route(const struct _u_request *req, const char *prefix, struct cf_hook_http *out);

/* Decodes the rest of the request into out (after cf_hook_http_route):
 * public_base_url is the service's CLINICFLOW_<SVC>_PUBLIC_BASE_URL (empty
 * or NULL: http://<Host>). 0, or, with the error answered on resp: 413 (a
 * form or query with too many fields) or 400 (a malformed escape), and
 * CF_ETOOBIG or CF_EINVAL returned. */
int cf_hook_http_decode(const struct _u_request *req, const char *public_base_url,
                        struct cf_hook_http *out, struct _u_response *resp);

/* CF_EINVAL when decode found a query or form value that is not UTF-8
 * text or holds a NUL byte, with the reason in errbuf and the field's name
 * in *field (borrowed from in); 0 otherwise. A route calls it after verify
 * and answers it as invalid input (a 400 invalid_field naming the field,
 * or the provider's acknowledgement where a refusal would cost the
 * webhook): read without the field, the request would say something else
 * (a name gone, a honeypot passed). */
int cf_hook_http_invalid(const struct cf_hook_http *in, const char **field, char *errbuf,
                         size_t errbuf_size);

/* Frees what decode made; out may be zeroed or half-filled. */
void cf_hook_http_clear(struct cf_hook_http *out);

/* Answers the adapter's reply (status 200 and text/plain when unset). */
void cf_hook_http_reply(struct _u_response *resp, const struct cf_hook_reply *reply);

/* 1 when the request comes from an address of j_allowed (a channel's
 * "allowed_sources": addresses or CIDR networks): the peer, or the client
 * a trusted proxy names. A list that does not parse allows nothing (and is
 * logged, naming channel_id). */
int cf_hook_http_source_allowed(const struct _u_request *req, const char *channel_id,
                                const json_t *j_allowed, const struct cf_proxies *proxies);

#endif
