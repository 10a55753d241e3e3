/*
 * The HTTP server every service shares, on ulfius over libmicrohttpd with a
 * thread per connection, a connection limit and an idle timeout. The main
 * design choice is that no handler is registered with ulfius directly:
 * every route, the built-in ones and the not-found fallback included, goes
 * through one dispatch wrapper holding a small per-route record (handler,
 * user pointer, route template, method). The wrapper assigns the request
 * id, turns an oversized body into a 413 before the handler sees it,
 * refuses a form body with more fields than allowed, calls the handler and
 * records the request metrics labelled by route template (never the raw
 * path, which may carry a token). ulfius is told not to parse form bodies
 * at all: it keeps the fields in a map searched linearly per key, so a
 * body of tens of thousands of short fields costs seconds of CPU before
 * any handler, or signature check, runs (bench/RESULTS.md); handlers read
 * the raw body (cf_http_body) and parse what they need. The listening
 * socket is bound here rather than by ulfius, which rejects port 0, so
 * tests can ask for an ephemeral port.
 */
#include "common/http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/metrics.h"
#include "common/testable.h"
#include "http_testable.h"
#include "common/xmalloc.h"

#define REQUEST_ID_MAX 64
#define LISTEN_BACKLOG 512

#define M_REQUESTS "clinicflow_http_requests_total"
#define M_DURATION "clinicflow_http_request_duration_seconds"

struct http_route {
    struct cf_http *h;
    cf_http_handler fn;
    void *user;
    char *template; /* metrics label */
    char *method;   /* NULL for the not-found route: the label comes from the request */
};

struct cf_http {
    struct _u_instance inst;
    char *host;
    long port_setting;
    char *port_file;
    unsigned max_connections;
    unsigned timeout_s;
    size_t max_body;
    size_t max_form_fields;
    unsigned per_ip_connections; /* 0: no limit */
    struct http_route **routes;
    size_t nroutes;
    struct http_route unmatched;
    cf_http_ready_fn ready_fn;
    void *ready_user;
    cf_http_metrics_fn metrics_fn;
    void *metrics_user;
    unsigned port;
    int started;
    long drain_ms;        /* how long stop waits for in-flight requests */
    atomic_int in_flight; /* requests between URI receipt and completion */
    atomic_int draining;  /* set by stop: answers carry Connection: close */
};

/* 1 if a client's X-Request-Id is a token we may echo and log: 1 to 64
 * characters of [A-Za-z0-9._-]. */
CF_TESTABLE int cf_http_request_id_ok(const char *id)
{
    if (id == NULL || id[0] == '\0')
        return 0;
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        if (!ok || n >= REQUEST_ID_MAX)
            return 0;
    }
    return 1;
}

/* A method label from a bounded set: an arbitrary client verb on an
 * unmatched path must not create new series. */
static const char *method_label(const char *verb)
{
    static const char *const known[] = {"GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS", "DELETE"};
    for (size_t i = 0; verb && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(verb, known[i]) == 0)
            return known[i];
    return "other";
}

/* Copies a label value with \, " and newline escaped (Prometheus text format). */
static void label_escape(const char *in, char *out, size_t outsize)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 3 < outsize; p++) {
        if (*p == '\\' || *p == '"') {
            out[o++] = '\\';
            out[o++] = *p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A body is too large when what arrived exceeds the limit (the instance
 * keeps limit + 1 bytes, so a truncated chunked body shows up here) or the
 * client declared a larger Content-Length. */
static int body_too_large(const struct _u_request *req, size_t limit)
{
    if (req->binary_body_length > limit)
        return 1;
    const char *cl = cf_http_header(req, "Content-Length");
    if (cl == NULL || *cl == '\0')
        return 0;
    errno = 0;
    char *end = NULL;
    unsigned long long declared = strtoull(cl, &end, 10);
    if (errno == ERANGE)
        return 1;
    if (end == cl || *end != '\0' || cl[0] == '-')
        return 0; /* not a length: the HTTP layer has already judged it */
    return declared > limit;
}

/* Fields in an application/x-www-form-urlencoded body, counted as its
 * '&'-separated parts (empty ones too: a parser walks them all); 0 when
 * the request is not a form. */
CF_TESTABLE size_t cf_http_form_fields(const struct _u_request *req)
{
    static const char form[] = "application/x-www-form-urlencoded";
    const char *ctype = cf_http_header(req, "Content-Type");
    if (ctype == NULL || strncasecmp(ctype, form, sizeof form - 1) != 0)
        return 0;
    size_t len = 0;
    const char *body = cf_http_body(req, &len);
    if (len == 0)
        return 0;
    size_t n = 1;
    for (const char *p = body, *end = body + len; (p = memchr(p, '&', (size_t)(end - p))); p++)
        n++;
    return n;
}

/*
 * The one ulfius callback. user is the route record. Runs on the
 * connection's thread; always answers (returns U_CALLBACK_COMPLETE) so the
 * status recorded in the metrics is the status sent.
 */
CF_TESTABLE int cf_http_dispatch(const struct _u_request *req, struct _u_response *resp, void *user)
{
    const struct http_route *r = user;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    char rid[CF_UUID_STR_LEN + REQUEST_ID_MAX + 1];
    const char *given = cf_http_header(req, "X-Request-Id");
    if (cf_http_request_id_ok(given))
        snprintf(rid, sizeof rid, "%s", given);
    else
        cf_uuid4(rid);
    cf_log_set_request_id(rid);

    if (r->method && strcmp(req->http_verb, r->method) != 0) {
        /* ulfius matches a method without its case; HTTP's methods are
         * case-sensitive, and a handler that tells a GET from a POST (what
         * a signature covers) must see the method it was routed by */
        u_map_put(resp->map_header, "Allow", r->method);
        cf_http_error(resp, 405, "method_not_allowed", "methods are upper case", NULL);
    } else if (body_too_large(req, r->h->max_body)) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body exceeds %zu bytes", r->h->max_body);
        cf_http_error(resp, 413, "body_too_large", msg, NULL);
    } else if (cf_http_form_fields(req) > r->h->max_form_fields) {
        char msg[96];
        snprintf(msg, sizeof msg, "the form has more than %zu fields", r->h->max_form_fields);
        cf_http_error(resp, 413, "too_many_fields", msg, NULL);
    } else {
        int rc = r->fn(req, resp, r->user);
        if (rc == U_CALLBACK_UNAUTHORIZED)
            cf_http_error(resp, 401, "unauthorized", "missing or invalid credentials", NULL);
        else if (rc == U_CALLBACK_ERROR)
            cf_http_error(resp, 500, "internal", "internal error", NULL);
    }
    u_map_put(resp->map_header, "X-Request-Id", rid);
    if (atomic_load(&r->h->draining))
        u_map_put(resp->map_header, "Connection", "close");

    char route[256], labels[384];
    label_escape(r->template, route, sizeof route);
    const char *method = r->method ? r->method : method_label(req->http_verb);
    snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%ld\"", route, method,
             resp->status);
    cf_metrics_add(M_REQUESTS, labels, 1);
    double secs = elapsed_s(&t0);
    snprintf(labels, sizeof labels, "route=\"%s\"", route);
    cf_metrics_observe(M_DURATION, labels, secs);
    cf_debug("http %s %s -> %ld in %.3f ms", method, r->template, resp->status, secs * 1e3);

    cf_log_set_request_id(NULL);
    return U_CALLBACK_COMPLETE;
}

static int handle_not_found(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    (void)user;
    cf_http_error(resp, 404, "not_found", "no route for this method and path", NULL);
    return U_CALLBACK_COMPLETE;
}

static int handle_healthz_get(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    (void)user;
    json_t *j_out = json_pack("{s:s}", "status", "ok");
    cf_http_json(resp, 200, j_out);
    json_decref(j_out);
    return U_CALLBACK_COMPLETE;
}

static int handle_readyz_get(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    struct cf_http *h = user;
    if (h->metrics_fn)
        h->metrics_fn(h->metrics_user);
    json_t *j_out = json_object();
    json_object_set_new(j_out, "ready", json_false()); /* first member, set below */
    int ready = h->ready_fn ? h->ready_fn(j_out, h->ready_user) : 1;
    json_object_set_new(j_out, "ready", json_boolean(ready));
    cf_http_json(resp, ready ? 200 : 503, j_out);
    json_decref(j_out);
    return U_CALLBACK_COMPLETE;
}

static int handle_metrics_get(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    struct cf_http *h = user;
    if (h->metrics_fn)
        h->metrics_fn(h->metrics_user);
    char *text = cf_metrics_render();
    ulfius_set_binary_body_response(resp, 200, text, strlen(text));
    u_map_put(resp->map_header, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    free(text);
    return U_CALLBACK_COMPLETE;
}

/* Literal routes win over parameterized ones: ulfius runs the matching
 * endpoints in ascending priority and the wrapper always completes. */
static unsigned route_priority(const char *pattern)
{
    unsigned prio = 0;
    for (const char *p = pattern; *p; p++)
        if ((*p == ':' || *p == '@') && p > pattern && p[-1] == '/')
            prio++;
        else if (*p == '*')
            prio += 8;
    return prio;
}

static void route_add(struct cf_http *h, const char *method, const char *pattern,
                      cf_http_handler fn, void *user)
{
    struct http_route *r = cf_xcalloc(1, sizeof *r);
    r->h = h;
    r->fn = fn;
    r->user = user;
    r->template = cf_xstrdup(pattern);
    r->method = cf_xstrdup(method);
    h->routes = cf_xrealloc(h->routes, (h->nroutes + 1) * sizeof(struct http_route *));
    h->routes[h->nroutes++] = r;
    if (ulfius_add_endpoint_by_val(&h->inst, method, NULL, pattern, route_priority(pattern),
                                   cf_http_dispatch, r) != U_OK)
        cf_error("could not add route %s %s", method, pattern);
}

#ifdef CF_UNIT_TEST
/* The route record for method and pattern (NULL method: the not-found
 * route), for unit tests that call the wrapper directly. */
CF_TESTABLE void *cf_http_find_route(struct cf_http *h, const char *method, const char *pattern)
{
    if (method == NULL)
        return &h->unmatched;
    for (size_t i = 0; i < h->nroutes; i++)
        if (strcmp(h->routes[i]->method, method) == 0 &&
            strcmp(h->routes[i]->template, pattern) == 0)
            return h->routes[i];
    return NULL;
}
#endif

struct cf_http *cf_http_new(const struct cf_settings *s, char *errbuf, size_t errbuf_size)
{
    if (s->http_port < 0 || s->http_port > 65535 || s->http_max_body < 0) {
        snprintf(errbuf, errbuf_size, "invalid http port %ld or body limit %ld", s->http_port,
                 s->http_max_body);
        return NULL;
    }
    struct cf_http *h = cf_xcalloc(1, sizeof *h);
    /* ulfius wants a port in 1..65535 even though we hand it a bound socket. */
    unsigned init_port = s->http_port > 0 ? (unsigned)s->http_port : 1u;
    if (ulfius_init_instance(&h->inst, init_port, NULL, NULL) != U_OK) {
        snprintf(errbuf, errbuf_size, "could not initialize the http instance");
        free(h);
        return NULL;
    }
    h->host = cf_xstrdup(s->http_host ? s->http_host : "127.0.0.1");
    h->port_setting = s->http_port;
    h->port_file = s->http_port_file ? cf_xstrdup(s->http_port_file) : NULL;
    h->max_connections = s->http_max_connections > 0 ? (unsigned)s->http_max_connections : 512u;
    h->timeout_s = s->http_timeout_s > 0 ? (unsigned)s->http_timeout_s : 0u;
    h->max_body = (size_t)s->http_max_body;
    h->inst.max_post_body_size = h->max_body + 1;
    /* No form parsing by ulfius: its map costs quadratic time in the number
     * of fields, and it parses every byte sent, past the body limit too.
     * The field size stays bounded should anything turn parsing back on. */
    h->inst.allowed_post_processor = U_POST_PROCESS_NONE;
    h->inst.max_post_param_size = h->max_body + 1;
    h->max_form_fields = s->http_max_form_fields > 0 ? (size_t)s->http_max_form_fields : 1000u;
    h->per_ip_connections =
        s->http_per_ip_connections > 0 ? (unsigned)s->http_per_ip_connections : 0u;
    /* An in-flight request may be waiting for a Kafka delivery report. */
    h->drain_ms = (s->kafka_delivery_wait_ms > 0 ? s->kafka_delivery_wait_ms : 7000) + 500;
    atomic_init(&h->in_flight, 0);
    atomic_init(&h->draining, 0);

    h->unmatched.h = h;
    h->unmatched.fn = handle_not_found;
    h->unmatched.template = cf_xstrdup("unmatched");
    ulfius_set_default_endpoint(&h->inst, cf_http_dispatch, &h->unmatched);

    cf_metrics_describe(M_REQUESTS, "counter",
                        "HTTP requests answered, by route template, method and status");
    cf_metrics_describe(M_DURATION, "histogram",
                        "HTTP request handling time in seconds, by route template");

    route_add(h, "GET", "/healthz", handle_healthz_get, h);
    route_add(h, "GET", "/readyz", handle_readyz_get, h);
    route_add(h, "GET", "/metrics", handle_metrics_get, h);
    return h;
}

void cf_http_route(struct cf_http *h, const char *method, const char *pattern, cf_http_handler fn,
                   void *user)
{
    route_add(h, method, pattern, fn, user);
}

void cf_http_set_ready(struct cf_http *h, cf_http_ready_fn fn, void *user)
{
    h->ready_fn = fn;
    h->ready_user = user;
}

void cf_http_set_metrics_hook(struct cf_http *h, cf_http_metrics_fn fn, void *user)
{
    h->metrics_fn = fn;
    h->metrics_user = user;
}

int cf_http_listen_socket(const char *host, long port, unsigned *bound, char *errbuf,
                          size_t errbuf_size)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%ld", port);
    struct addrinfo hints = {0}, *res = NULL;
    /* IPv4 only, a name too ("localhost" may come first as ::1): the
     * handlers would not know an IPv6 client's address (config.c,
     * http_host_check) */
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        snprintf(errbuf, errbuf_size, "could not resolve http host %s: %s", host,
                 gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(errbuf, errbuf_size, "could not listen on %s:%ld: %s", host, port,
                 cf_strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(errbuf, errbuf_size, "could not read the bound address: %s", cf_strerror(errno));
        close(fd);
        return -1;
    }
    if (ss.ss_family == AF_INET6)
        *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int cf_http_write_port_file(const char *path, unsigned port, char *errbuf, size_t errbuf_size)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        snprintf(errbuf, errbuf_size, "could not write port file %s: %s", tmp, cf_strerror(errno));
        return CF_EINTERNAL;
    }
    int bad = fprintf(f, "%u\n", port) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        snprintf(errbuf, errbuf_size, "could not write port file %s: %s", path, cf_strerror(errno));
        unlink(tmp);
        return CF_EINTERNAL;
    }
    return 0;
}

/* ulfius's URI logger (it allocates the request state) plus a count of the
 * requests under way; cls is the server. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *connection)
{
    (void)connection;
    struct cf_http *h = cls;
    atomic_fetch_add(&h->in_flight, 1);
    return ulfius_uri_logger(NULL, uri);
}

/* ulfius's completion hook (it frees the request state); the request has
 * been answered or abandoned. */
static void request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct cf_http *h = cls;
    mhd_request_completed(NULL, connection, con_cls, toe);
    atomic_fetch_sub(&h->in_flight, 1);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
void cf_http_mhd_log(void *prefix, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    cf_warn("%s: %s", prefix ? (const char *)prefix : "libmicrohttpd", line);
}
#pragma GCC diagnostic pop

/*
 * Binds the socket, starts libmicrohttpd (a polling thread for accept plus
 * one thread per connection, poll() rather than select() so descriptors
 * above FD_SETSIZE work) and writes the port file. Call once, from main.
 */
int cf_http_start(struct cf_http *h, char *errbuf, size_t errbuf_size)
{
    unsigned bound = 0;
    int fd = cf_http_listen_socket(h->host, h->port_setting, &bound, errbuf, errbuf_size);
    if (fd < 0)
        return CF_EINTERNAL;
    h->port = bound;
    h->inst.port = bound;

    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)cf_http_mhd_log,
         (void *)"libmicrohttpd"}, /* must come first */
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, h},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_log, h},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)h->max_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)h->timeout_s, NULL},
        {MHD_OPTION_LISTEN_SOCKET, (intptr_t)fd, NULL},
        /* 0 is libmicrohttpd's own "no limit"; a client past it has its
         * new connection closed as soon as it is accepted. */
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)h->per_ip_connections, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    /* MHD_USE_ITC makes MHD_quiesce_daemon possible, for a graceful stop. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ulfius_start_framework_with_mhd_options(&h->inst, flags, ops) != U_OK) {
        /* The socket is left open: libmicrohttpd may already have closed it
         * on its failure path, and a second close could hit a descriptor
         * another thread has opened since. The process is exiting anyway. */
        snprintf(errbuf, errbuf_size, "could not start the http server on %s:%u", h->host, bound);
        return CF_EINTERNAL;
    }
    h->started = 1;
    if (h->port_file && cf_http_write_port_file(h->port_file, bound, errbuf, errbuf_size) != 0)
        return CF_EINTERNAL;
    return 0;
}

unsigned cf_http_port(const struct cf_http *h)
{
    return h->port;
}

/*
 * Stops accepting connections, lets the requests under way finish (for at
 * most drain_ms; their answers carry Connection: close so keep-alive
 * clients go away), then stops libmicrohttpd, which closes the remaining
 * idle connections and joins their threads, and frees everything.
 * Stopping at once would cut in-flight requests off: libmicrohttpd shuts
 * the sockets down before the handlers return.
 */
long cf_http_drain_ms(const struct cf_http *h)
{
    return h ? h->drain_ms : 0;
}

void cf_http_stop(struct cf_http *h)
{
    if (h == NULL)
        return;
    if (h->started) {
        atomic_store(&h->draining, 1);
        MHD_socket lfd = MHD_quiesce_daemon(h->inst.mhd_daemon);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (atomic_load(&h->in_flight) > 0 && elapsed_s(&t0) * 1000 < (double)h->drain_ms) {
            struct timespec tick = {.tv_sec = 0, .tv_nsec = 5 * 1000000L};
            nanosleep(&tick, NULL);
        }
        if (atomic_load(&h->in_flight) > 0)
            cf_warn("http stop: %d requests still in flight after %ld ms",
                    atomic_load(&h->in_flight), h->drain_ms);
        ulfius_stop_framework(&h->inst);
        if (lfd != MHD_INVALID_SOCKET)
            close(lfd);
    }
    ulfius_clean_instance(&h->inst);
    for (size_t i = 0; i < h->nroutes; i++) {
        free(h->routes[i]->template);
        free(h->routes[i]->method);
        free(h->routes[i]);
    }
    free(h->routes);
    free(h->unmatched.template);
    free(h->host);
    free(h->port_file);
    free(h);
}

/* A JSON string, or the fallback when s is NULL or not UTF-8. */
static json_t *jstr(const char *s, const char *fallback)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_string(fallback);
}

void cf_http_error(struct _u_response *resp, int status, const char *code, const char *message,
                   const char *field)
{
    json_t *j_field = field ? json_string(field) : NULL;
    json_t *j_body =
        json_pack("{s:{s:o,s:o,s:o}}", "error", "code", jstr(code, "internal"), "message",
                  jstr(message, "error"), "field", j_field ? j_field : json_null());
    cf_http_json(resp, status, j_body);
    json_decref(j_body);
}

void cf_http_answer_unstored(struct _u_response *resp, int rc, const char *what, const char *errbuf,
                             long retry_after_s)
{
    cf_warn("could not produce %s: %s", what, errbuf);
    if (rc == CF_ETOOBIG) {
        /* not body_too_large (the HTTP limit): the README's code for Kafka's */
        cf_http_error(resp, 413, cf_err_name(CF_ETOOBIG), "the event is larger than Kafka takes",
                      NULL);
        return;
    }
    cf_http_error_from(resp, rc == CF_ETIMEOUT ? CF_EUNAVAIL : rc,
                       "the event could not be stored; retry later", NULL, retry_after_s);
}

void cf_http_error_from(struct _u_response *resp, int err, const char *message, const char *field,
                        long retry_after_s)
{
    int status = cf_err_http_status(err);
    cf_http_error(resp, status, cf_err_name(err), message, field);
    if (status == 503) {
        char value[24];
        snprintf(value, sizeof value, "%ld", retry_after_s > 0 ? retry_after_s : 1);
        u_map_put(resp->map_header, "Retry-After", value);
    }
}

/* Written by cf_json_dumps, not ulfius's json_dumps: a real is its
 * shortest text (money a person wrote as 1234.56 comes back so, not as
 * jansson's 1234.5599999999999). */
void cf_http_json(struct _u_response *resp, int status, json_t *j)
{
    char *text = cf_json_dumps(j);
    if (!text) { /* no value jansson holds has no text; all the same, a body */
        ulfius_set_json_body_response(resp, (unsigned)status, j);
        return;
    }
    ulfius_set_binary_body_response(resp, (unsigned)status, text, strlen(text));
    u_map_put(resp->map_header, "Content-Type", "application/json");
    free(text);
}

const char *cf_http_body(const struct _u_request *req, size_t *len)
{
    *len = req->binary_body ? req->binary_body_length : 0;
    return req->binary_body;
}

const char *cf_http_header(const struct _u_request *req, const char *name)
{
    return req->map_header ? u_map_get_case(req->map_header, name) : NULL;
}

char *cf_http_header_list(const struct _u_request *req, const char *name)
{
    const struct _u_map *m = req->map_header;
    struct cf_strbuf b = {0};
    const char *spelling = NULL;

    for (int i = 0; m && i < m->nb_values; i++) {
        if (strcasecmp(m->keys[i], name) != 0 || !m->values[i])
            continue;
        if (spelling && strcmp(spelling, m->keys[i]) != 0) { /* the order is lost */
            free(cf_strbuf_take(&b));
            return NULL;
        }
        spelling = m->keys[i];
        if (b.len)
            cf_strbuf_add(&b, ", ");
        cf_strbuf_add(&b, m->values[i]);
    }
    return b.len ? cf_strbuf_take(&b) : NULL;
}

json_t *cf_http_json_body(const struct _u_request *req, struct _u_response *resp)
{
    const char *ctype = cf_http_header(req, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
        cf_http_error(resp, 415, "unsupported_media_type", "expected Content-Type application/json",
                      NULL);
        return NULL;
    }
    size_t len = 0;
    json_error_t jerr;
    const char *body = cf_http_body(req, &len);
    json_t *j = cf_json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        cf_http_error(resp, 400, "invalid_json", jerr.text, NULL);
    return j;
}

int cf_http_origin_listed(const json_t *j_origins, const char *origin)
{
    size_t i;
    json_t *j_o;

    json_array_foreach((json_t *)j_origins, i, j_o)
    {
        if (json_is_string(j_o) && strcmp(json_string_value(j_o), origin) == 0)
            return 1;
    }
    return 0;
}

void cf_http_cors_allow(struct _u_response *resp, const char *origin, const char *methods,
                        const char *headers)
{
    u_map_put(resp->map_header, "Access-Control-Allow-Origin", origin);
    u_map_put(resp->map_header, "Access-Control-Allow-Methods", methods);
    if (headers)
        u_map_put(resp->map_header, "Access-Control-Allow-Headers", headers);
    u_map_put(resp->map_header, "Access-Control-Max-Age", "600");
}
