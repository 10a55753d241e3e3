/*
 * HTTP on ulfius, thread per connection with a connection limit and an idle
 * timeout (the produce-and-wait path holds a thread per in-flight request;
 * measured fastest for it, bench/RESULTS.md). Every route goes through
 * one wrapper that assigns a request id, enforces the body limit (ulfius
 * truncates silently, so the instance accepts limit + 1 and anything that
 * reaches it, or declares a larger Content-Length, is a 413), refuses a
 * form body with too many fields (413; ulfius itself parses no form
 * bodies: handlers read the raw body), and records metrics by route
 * template and status. A per-address connection limit is optional. Error bodies are built in one
 * place: {"error":{"code","message","field"}}.
 */
#ifndef CF_COMMON_HTTP_H
#define CF_COMMON_HTTP_H

#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>
#include <ulfius.h>

#include "common/config.h"

struct cf_http;

/* A route handler: fills resp and returns U_CALLBACK_COMPLETE. */
typedef int (*cf_http_handler)(const struct _u_request *req, struct _u_response *resp, void *user);

/* Readiness: fills j_out with one member per dependency and returns 1 when
 * the service can take events. */
typedef int (*cf_http_ready_fn)(json_t *j_out, void *user);

/* Creates (not started) the server from the settings; a port of 0 binds an
 * ephemeral loopback port. NULL with the reason on failure. */
struct cf_http *cf_http_new(const struct cf_settings *s, char *errbuf, size_t errbuf_size);

/* Adds a route. pattern uses ulfius syntax ("/v1/calls/:id/result");
 * template is the metrics label (usually the same text). */
void cf_http_route(struct cf_http *h, const char *method, const char *pattern, cf_http_handler fn,
                   void *user);

/* Refreshes sampled gauges in the metrics registry (e.g. the loaded config
 * version) right before /metrics or /readyz is served. */
typedef void (*cf_http_metrics_fn)(void *user);

/* /healthz, /readyz and /metrics are always served; this sets the readiness
 * check (without one /readyz answers 200 {"ready":true}). */
void cf_http_set_ready(struct cf_http *h, cf_http_ready_fn fn, void *user);
/* Sets the hook run before /metrics renders the registry (and before
 * /readyz), so sampled values are fresh. */
void cf_http_set_metrics_hook(struct cf_http *h, cf_http_metrics_fn fn, void *user);

/* Starts serving; writes the bound port to the port file if configured.
 * Returns 0 or CF_EINTERNAL. */
int cf_http_start(struct cf_http *h, char *errbuf, size_t errbuf_size);
/* The bound port (after start). */
unsigned cf_http_port(const struct cf_http *h);
/* Stops accepting, waits for in-flight requests, frees everything. */
void cf_http_stop(struct cf_http *h);
/* How long cf_http_stop may wait for requests in flight (a request can be
 * waiting for a Kafka delivery report): the shutdown gives it that much. */
long cf_http_drain_ms(const struct cf_http *h);

/* Sets the JSON error body and status. field may be NULL: it is then
 * present as null, so the body always has the same three members. */
void cf_http_error(struct _u_response *resp, int status, const char *code, const char *message,
                   const char *field);
/* Maps a cf_err to status and code (cf_err_http_status) and sets the body;
 * 503 adds Retry-After: retry_after_s. */
void cf_http_error_from(struct _u_response *resp, int err, const char *message, const char *field,
                        long retry_after_s);
/* Logs why `what` could not be produced (errbuf) and answers: 413 for an
 * event larger than Kafka takes (a retry cannot help), else 503 with
 * Retry-After: retry_after_s (a timed-out delivery too: the client
 * retries, the event id is the same). */
void cf_http_answer_unstored(struct _u_response *resp, int rc, const char *what, const char *errbuf,
                             long retry_after_s);
/* Sets a JSON body (j is not stolen) with status. */
void cf_http_json(struct _u_response *resp, int status, json_t *j);

/* The raw request body and its length (binary_body; may be NULL/0). */
const char *cf_http_body(const struct _u_request *req, size_t *len);
/* A request header value or NULL (case-insensitive). */
const char *cf_http_header(const struct _u_request *req, const char *name);
/* Every line of a header joined by ", " as one list (RFC 9110 5.3): new
 * string to free, or NULL when there is none, and NULL too when its lines
 * came under more than one spelling of the name. The server merges
 * repeated lines into the first of their exact spelling, so across
 * spellings their order is lost: "X-Forwarded-For: a", then
 * "x-forwarded-for: b" from a client and "X-Forwarded-For: c" from its
 * proxy read as "a,c, b", and a list read from the right (X-Forwarded-For)
 * would end with the client's own b. Such a request is taken at the
 * proxy's word alone (the caller's peer address). */
char *cf_http_header_list(const struct _u_request *req, const char *name);
/* The body of one of our own JSON APIs: a new reference to the parsed
 * value (duplicate members refused), or NULL with the answer set: 415
 * unless Content-Type is application/json, 400 invalid_json naming what
 * is wrong. */
json_t *cf_http_json_body(const struct _u_request *req, struct _u_response *resp);

/* 1 when origin is one of j_origins (a clinic's cors_origins: an array of
 * strings, compared exactly). */
int cf_http_origin_listed(const json_t *j_origins, const char *origin);
/* The CORS answer that allows origin: Access-Control-Allow-Origin, -Methods
 * (methods), -Headers (headers, left out when NULL) and -Max-Age 600. */
void cf_http_cors_allow(struct _u_response *resp, const char *origin, const char *methods,
                        const char *headers);

/* Binds and listens on host:port (0: ephemeral), close-on-exec, with
 * SO_REUSEADDR: the socket, or -1 with the reason; *bound receives the
 * actual port. For a listener of the service's own (common/http_stream.h). */
int cf_http_listen_socket(const char *host, long port, unsigned *bound, char *errbuf,
                          size_t errbuf_size);
/* libmicrohttpd's own errors (connection limit reached, ...) as warning
 * lines: the MHD_OPTION_EXTERNAL_LOGGER of both listeners, its argument
 * the prefix (a static string naming the listener). */
void cf_http_mhd_log(void *prefix, const char *fmt, va_list ap);

/* Writes port to path through a temporary file and a rename, so a reader
 * polling for the file never sees it half written: 0 or CF_EINTERNAL. */
int cf_http_write_port_file(const char *path, unsigned port, char *errbuf, size_t errbuf_size);

#endif
