/*
 * A streaming HTTP listener on libmicrohttpd, for the few routes whose
 * bodies are too large to hold (an MIS's history as NDJSON). ulfius 2.7
 * buffers a whole body (and truncates one over its limit silently), so
 * such a route gets a daemon of its own whose handler sees the body chunk
 * by chunk as it arrives: memory follows the route's own buffers, not the
 * body. The daemon runs as common/http.c's does (a thread per connection,
 * a connection limit, an idle timeout, a port of 0 bound ephemerally and
 * written to a port file), and its errors have the same body:
 * {"error":{"code","message","field"}}. libmicrohttpd can only answer
 * before the body is read or after all of it: a route that fails midway
 * keeps reading (and dropping) the rest, then answers.
 */
#ifndef CF_COMMON_HTTP_STREAM_H
#define CF_COMMON_HTTP_STREAM_H

#include <stddef.h>

#include <jansson.h>

struct cf_http_stream;
/* One request: its headers, and the answer a route sets. */
struct cf_http_stream_call;

/* A route's callbacks; all run on the request's connection thread. */
struct cf_http_stream_route {
    const char *method; /* "POST" */
    const char *path;   /* matched exactly: "/v1/mis/batch" */
    /* The headers are in: 0 to take the body (*state is the request's own
     * state), or non-zero with an answer set (401, 415, 503): the body is
     * not read. */
    int (*begin)(struct cf_http_stream_call *call, void *user, void **state);
    /* A piece of the body, in order. Non-zero: the route is done with it
     * (its answer set); the rest is read and dropped. */
    int (*chunk)(void *state, const char *data, size_t len, struct cf_http_stream_call *call);
    /* The whole body is read (not called after chunk failed): set the
     * answer. */
    void (*end)(void *state, struct cf_http_stream_call *call);
    /* Frees state, whatever happened (a client gone midway too). */
    void (*release)(void *state);
    void *user;
};

struct cf_http_stream_conf {
    const char *host;         /* CLINICFLOW_HTTP_HOST */
    long port;                /* 0: an ephemeral port, written to port_file */
    const char *port_file;    /* NULL: none */
    unsigned max_connections; /* libmicrohttpd's connection limit */
    unsigned timeout_s;       /* idle connection timeout (0: none) */
};

/* Binds host:port and starts serving routes (nroutes of them, kept by
 * pointer: they must outlive the daemon); writes the bound port to the
 * port file. NULL with the reason. Call from main before signals are
 * awaited (its threads inherit the blocked signal mask). */
struct cf_http_stream *cf_http_stream_start(const struct cf_http_stream_conf *conf,
                                            const struct cf_http_stream_route *routes,
                                            size_t nroutes, char *errbuf, size_t errbuf_size);
/* The bound port. */
unsigned cf_http_stream_port(const struct cf_http_stream *hs);
/* Stops accepting, closes the connections (a body being read is cut off:
 * its route's release runs), joins the threads and frees everything. */
void cf_http_stream_stop(struct cf_http_stream *hs);

/* A request header's value (case-insensitive name) or NULL. */
const char *cf_http_stream_header(struct cf_http_stream_call *call, const char *name);
/* The answer: j (not stolen) as JSON with status. */
void cf_http_stream_json(struct cf_http_stream_call *call, int status, const json_t *j);
/* An error answer, {"error":{"code","message","field"}} (field NULL: null);
 * 401 adds WWW-Authenticate: Bearer. */
void cf_http_stream_error(struct cf_http_stream_call *call, int status, const char *code,
                          const char *message, const char *field);
/* Adds a header to the answer (Retry-After, ...). */
void cf_http_stream_header_set(struct cf_http_stream_call *call, const char *name,
                               const char *value);
/* The error object of cf_http_stream_error (a new reference), for a route
 * that adds members beside "error". */
json_t *cf_http_stream_error_body(const char *code, const char *message, const char *field);

#endif
