/*
 * The streaming listener (common/http_stream.h): libmicrohttpd without
 * ulfius, so a route reads its body chunk by chunk instead of ulfius
 * holding all of it. Each request's state (struct cf_http_stream_call)
 * lives in libmicrohttpd's per-request pointer: created on the first call
 * of the access handler (headers in), fed on the next ones (upload_data),
 * answered on the last, freed by the completion hook whatever happened.
 * The answer is built in the call and queued only when libmicrohttpd takes
 * one: before the body (a refusal) or after it.
 */
#include "common/http.h"
#include "common/http_stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define ANSWER_HEADERS_MAX 4

struct cf_http_stream {
    struct MHD_Daemon *daemon;
    const struct cf_http_stream_route *routes;
    size_t nroutes;
    unsigned port;
};

struct cf_http_stream_call {
    struct MHD_Connection *connection;
    const struct cf_http_stream_route *route; /* NULL: no route, answered at once */
    void *state;                              /* the route's */
    int begun;                                /* begin returned 0: release is owed */
    int reading;                              /* the route still takes the body */
    int status;                               /* 0: no answer yet */
    char *body;                               /* the answer's JSON */
    char *headers[ANSWER_HEADERS_MAX][2];
    size_t nheaders;
};

static json_t *jstr(const char *s, const char *fallback)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_string(fallback);
}

/* The one error body of this listener, the same as cf_http_error's. */
json_t *cf_http_stream_error_body(const char *code, const char *message, const char *field)
{
    json_t *j_field = field ? json_string(field) : NULL;
    return json_pack("{s:{s:o,s:o,s:o}}", "error", "code", jstr(code, "internal"), "message",
                     jstr(message, "error"), "field", j_field ? j_field : json_null());
}

void cf_http_stream_json(struct cf_http_stream_call *call, int status, const json_t *j)
{
    free(call->body);
    call->body = cf_json_dumps(j);
    if (!call->body)
        call->body = cf_xstrdup("{}");
    call->status = status;
}

void cf_http_stream_header_set(struct cf_http_stream_call *call, const char *name,
                               const char *value)
{
    if (call->nheaders == ANSWER_HEADERS_MAX)
        return;
    call->headers[call->nheaders][0] = cf_xstrdup(name);
    call->headers[call->nheaders][1] = cf_xstrdup(value);
    call->nheaders++;
}

void cf_http_stream_error(struct cf_http_stream_call *call, int status, const char *code,
                          const char *message, const char *field)
{
    json_t *j = cf_http_stream_error_body(code, message, field);
    cf_http_stream_json(call, status, j);
    json_decref(j);
    if (status == 401)
        cf_http_stream_header_set(call, "WWW-Authenticate", "Bearer");
}

const char *cf_http_stream_header(struct cf_http_stream_call *call, const char *name)
{
    return MHD_lookup_connection_value(call->connection, MHD_HEADER_KIND, name);
}

static void call_free(struct cf_http_stream_call *call)
{
    if (call->begun && call->route->release)
        call->route->release(call->state);
    for (size_t i = 0; i < call->nheaders; i++) {
        free(call->headers[i][0]);
        free(call->headers[i][1]);
    }
    free(call->body);
    free(call);
}

/* Queues the call's answer (a 500 when the route set none). */
static enum MHD_Result answer(struct cf_http_stream_call *call)
{
    if (call->status == 0)
        cf_http_stream_error(call, 500, "internal", "internal error", NULL);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(call->body), call->body, MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, "Content-Type", "application/json");
    for (size_t i = 0; i < call->nheaders; i++)
        MHD_add_response_header(response, call->headers[i][0], call->headers[i][1]);
    enum MHD_Result ret = MHD_queue_response(call->connection, (unsigned)call->status, response);
    MHD_destroy_response(response);
    return ret;
}

static const struct cf_http_stream_route *
find_route(const struct cf_http_stream *hs, const char *method, const char *url, int *path_known)
{
    *path_known = 0;
    for (size_t i = 0; i < hs->nroutes; i++) {
        if (strcmp(hs->routes[i].path, url) != 0)
            continue;
        *path_known = 1;
        if (strcmp(hs->routes[i].method, method) == 0)
            return &hs->routes[i];
    }
    return NULL;
}

/* The access handler: first call (headers), body calls, last call. */
static enum MHD_Result access_handler(void *cls, struct MHD_Connection *connection, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)version;
    struct cf_http_stream *hs = cls;
    struct cf_http_stream_call *call = *con_cls;

    if (!call) {
        call = cf_xcalloc(1, sizeof(*call));
        call->connection = connection;
        *con_cls = call;
        int path_known = 0;
        call->route = find_route(hs, method, url, &path_known);
        if (!call->route) {
            if (path_known) {
                cf_http_stream_error(call, 405, "method_not_allowed",
                                     "this path takes another method", NULL);
            } else {
                cf_http_stream_error(call, 404, "not_found", "no route for this method and path",
                                     NULL);
            }
            return answer(call);
        }
        if (call->route->begin(call, call->route->user, &call->state) != 0)
            return answer(call);
        call->begun = 1;
        call->reading = 1;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (call->reading &&
            call->route->chunk(call->state, upload_data, *upload_data_size, call) != 0)
            call->reading = 0; /* the rest is read and dropped; answered at the end */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (call->status == 0 && call->route->end)
        call->route->end(call->state, call);
    return answer(call);
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)connection;
    (void)toe;
    if (*con_cls)
        call_free(*con_cls);
    *con_cls = NULL;
}

struct cf_http_stream *cf_http_stream_start(const struct cf_http_stream_conf *conf,
                                            const struct cf_http_stream_route *routes,
                                            size_t nroutes, char *errbuf, size_t errbuf_size)
{
    unsigned bound = 0;
    const char *host = conf->host ? conf->host : "127.0.0.1";
    int fd = cf_http_listen_socket(host, conf->port, &bound, errbuf, errbuf_size);
    if (fd < 0)
        return NULL;
    struct cf_http_stream *hs = cf_xcalloc(1, sizeof(*hs));
    hs->routes = routes;
    hs->nroutes = nroutes;
    hs->port = bound;
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)cf_http_mhd_log, (void *)"libmicrohttpd (stream)"},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, hs},
        {MHD_OPTION_CONNECTION_LIMIT,
         (intptr_t)(conf->max_connections ? conf->max_connections : 16), NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)conf->timeout_s, NULL},
        {MHD_OPTION_LISTEN_SOCKET, (intptr_t)fd, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    hs->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, hs, MHD_OPTION_ARRAY, ops,
                                  MHD_OPTION_END);
    if (!hs->daemon) {
        /* the socket is left open, as common/http.c does: libmicrohttpd
         * may have closed it already, and the process is exiting */
        snprintf(errbuf, errbuf_size, "could not start the streaming http server on %s:%u", host,
                 bound);
        free(hs);
        return NULL;
    }
    if (conf->port_file && conf->port_file[0] &&
        cf_http_write_port_file(conf->port_file, bound, errbuf, errbuf_size) != 0) {
        cf_http_stream_stop(hs);
        return NULL;
    }
    return hs;
}

unsigned cf_http_stream_port(const struct cf_http_stream *hs)
{
    return hs->port;
}

void cf_http_stream_stop(struct cf_http_stream *hs)
{
    if (!hs)
        return;
    MHD_socket lfd = MHD_quiesce_daemon(hs->daemon);
    MHD_stop_daemon(hs->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    free(hs);
}
