/*
 * Outbound HTTP for the gateways services call (SMS, robot calls), on
 * libcurl. One easy handle per request, so any thread may call at once;
 * libcurl's global state is set up once, on first use. No redirects are
 * followed and only http and https are spoken: a gateway's URL comes from
 * configuration and its answer is read as it is.
 */
#ifndef CF_COMMON_HTTP_CLIENT_H
#define CF_COMMON_HTTP_CLIENT_H

#include <stddef.h>

struct cf_http_client_request {
    const char *method;         /* "GET", "POST", ... */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* "Name: value" lines, or NULL */
    size_t n_headers;
    const char *body; /* sent as is (POST and the like), or NULL */
    size_t body_len;
    long timeout_ms;     /* the whole exchange, connect included; > 0 */
    size_t max_response; /* largest body taken; more is CF_ETOOBIG, unless cut_at_max */
    /* 1: a longer body ends the exchange at max_response, and the answer
     * counts, its body cut there (truncated set): for a caller that wants
     * the status, whatever the body's length */
    int cut_at_max;
};

struct cf_http_client_response {
    long status; /* the HTTP status of the answer */
    char *body;  /* NUL-terminated; free with cf_http_client_response_free */
    size_t body_len;
    int truncated; /* the body went on past max_response, unread (cut_at_max) */
    /* whether the request went out, whole or in part, whatever came back:
     * a call that failed after it (the connection reset or closed before an
     * answer) may still have been acted on by the server */
    int request_sent;
};

/* Performs the request and waits for the whole answer, or with cut_at_max
 * its body up to the cap (blocks up to timeout_ms). 0 when an answer came,
 * whatever its status: *resp holds it. Otherwise: CF_EINVAL (bad request
 * fields or URL), CF_ETIMEOUT (the time ran out), CF_ETOOBIG (the answer's
 * body is over max_response, without cut_at_max), CF_EUNAVAIL (no
 * connection, TLS or protocol failure); *resp is then empty but for
 * request_sent, and errbuf says why. Thread-safe. */
int cf_http_client_do(const struct cf_http_client_request *req,
                      struct cf_http_client_response *resp, char *errbuf, size_t errbuf_size);

void cf_http_client_response_free(struct cf_http_client_response *resp);

/* The Authorization value of HTTP basic auth for user and password:
 * "Basic " and base64 of "user:password" (RFC 7617). A new string. */
char *cf_http_basic_auth(const char *user, const char *password);

#endif
