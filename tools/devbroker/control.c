/*
 * The devbroker's control interface: a small HTTP server on the loopback
 * address, because only the process that owns a librdkafka mock cluster can
 * take its brokers down or inject request errors. Requests are served by one
 * libmicrohttpd polling thread and every call into the mock cluster API is
 * made with ctl->lock held, so control calls are serialised whatever the
 * threading of the server; main() does not touch the cluster while the server
 * runs. Bodies and errors use the service error shape
 * {"error":{"code","message","field"}}.
 */
#include "devbroker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <ulfius.h>

#include "common/log.h"
#include "common/xmalloc.h"

/* Largest control request body; the only body is POST /errors. */
#define CONTROL_MAX_BODY 65536
/* Limits of POST /errors: names per request and repetitions of the list. */
#define ERRORS_MAX_NAMES 64
#define ERRORS_MAX_COUNT 10000

struct devbroker_control {
    struct _u_instance instance;
    int started;
    int port;
    pthread_mutex_t lock; /* held around every mock cluster call */
    rd_kafka_mock_cluster_t *mcluster;
    int broker_cnt;
    int up[DEVBROKER_MAX_BROKERS + 1]; /* indexed by broker id, 1-based */
};

struct api_name {
    const char *name;
    int16_t key;
};

/* Kafka protocol ApiKeys, as numbered by the Kafka protocol guide. */
static const struct api_name apis[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

struct error_name {
    const char *name;
    rd_kafka_resp_err_t err;
};

/* Broker-side errors worth injecting in fault tests. */
static const struct error_name errors[] = {
    {"NOT_ENOUGH_REPLICAS", RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS},
    {"NOT_ENOUGH_REPLICAS_AFTER_APPEND", RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND},
    {"NOT_LEADER_FOR_PARTITION", RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION},
    {"LEADER_NOT_AVAILABLE", RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE},
    {"REQUEST_TIMED_OUT", RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT},
    {"BROKER_NOT_AVAILABLE", RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE},
    {"NETWORK_EXCEPTION", RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION},
    {"COORDINATOR_NOT_AVAILABLE", RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE},
    {"NOT_COORDINATOR", RD_KAFKA_RESP_ERR_NOT_COORDINATOR},
    {"COORDINATOR_LOAD_IN_PROGRESS", RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS},
    {"UNKNOWN_TOPIC_OR_PART", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART},
    {"REBALANCE_IN_PROGRESS", RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS},
    {"UNKNOWN_MEMBER_ID", RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID},
    {"ILLEGAL_GENERATION", RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION},
    {"OUT_OF_ORDER_SEQUENCE_NUMBER", RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER},
    {"DUPLICATE_SEQUENCE_NUMBER", RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER},
    {"UNKNOWN_PRODUCER_ID", RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID},
    {"INVALID_MSG", RD_KAFKA_RESP_ERR_INVALID_MSG},
    {"MSG_SIZE_TOO_LARGE", RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE},
    {"TOPIC_AUTHORIZATION_FAILED", RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED},
    {"POLICY_VIOLATION", RD_KAFKA_RESP_ERR_POLICY_VIOLATION},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int reply_error(struct _u_response *response, unsigned int status, const char *code,
                       const char *message, const char *field)
{
    json_t *j_error = json_pack("{s:s, s:s}", "code", code, "message", message);
    json_t *j_body;

    if (field)
        json_object_set_new(j_error, "field", json_string(field));
    j_body = json_pack("{s:o}", "error", j_error);

    ulfius_set_json_body_response(response, status, j_body);
    json_decref(j_body);
    return U_CALLBACK_COMPLETE;
}

/* Builds {"brokers":[{"id":1,"up":true},...]}; call with ctl->lock held. */
static json_t *brokers_json(const struct devbroker_control *ctl)
{
    json_t *j_brokers = json_array();

    for (int id = 1; id <= ctl->broker_cnt; id++)
        json_array_append_new(j_brokers, json_pack("{s:i, s:b}", "id", id, "up", ctl->up[id]));
    return json_pack("{s:o}", "brokers", j_brokers);
}

static int reply_brokers(struct devbroker_control *ctl, struct _u_response *response)
{
    json_t *j_body;

    pthread_mutex_lock(&ctl->lock);
    j_body = brokers_json(ctl);
    pthread_mutex_unlock(&ctl->lock);
    ulfius_set_json_body_response(response, 200, j_body);
    json_decref(j_body);
    return U_CALLBACK_COMPLETE;
}

/* Sets broker id (0: every broker) down or up. Returns 0 or the first
 * librdkafka error. Takes ctl->lock. */
static rd_kafka_resp_err_t set_brokers(struct devbroker_control *ctl, int id, int up)
{
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int first = id ? id : 1, last = id ? id : ctl->broker_cnt;

    pthread_mutex_lock(&ctl->lock);
    for (int b = first; b <= last && !err; b++) {
        err = up ? rd_kafka_mock_broker_set_up(ctl->mcluster, b)
                 : rd_kafka_mock_broker_set_down(ctl->mcluster, b);
        if (!err)
            ctl->up[b] = up;
    }
    pthread_mutex_unlock(&ctl->lock);
    if (err)
        cf_error("could not set broker %d %s: %s", id, up ? "up" : "down", rd_kafka_err2str(err));
    else if (id)
        cf_info("broker %d is %s", id, up ? "up" : "down");
    else
        cf_info("all %d brokers are %s", ctl->broker_cnt, up ? "up" : "down");
    return err;
}

static int handle_brokers_set(struct devbroker_control *ctl, int id, int up,
                              struct _u_response *response)
{
    rd_kafka_resp_err_t err = set_brokers(ctl, id, up);

    if (err)
        return reply_error(response, 500, "internal", rd_kafka_err2str(err), NULL);
    return reply_brokers(ctl, response);
}

/* Parses the :id of /brokers/:id/...; returns 1..broker_cnt or 0. */
static int broker_id(const struct devbroker_control *ctl, const struct _u_request *request)
{
    const char *s = u_map_get(request->map_url, "id");
    char *end;
    long id;

    if (!s || !*s)
        return 0;
    errno = 0;
    id = strtol(s, &end, 10);
    if (errno || *end || id < 1 || id > ctl->broker_cnt)
        return 0;
    return (int)id;
}

static int handle_healthz_get(const struct _u_request *request, struct _u_response *response,
                              void *user_data)
{
    (void)request;
    (void)user_data;
    ulfius_set_string_body_response(response, 200, "{\"status\":\"ok\"}");
    u_map_put(response->map_header, "Content-Type", "application/json");
    return U_CALLBACK_COMPLETE;
}

static int handle_brokers_get(const struct _u_request *request, struct _u_response *response,
                              void *user_data)
{
    (void)request;
    return reply_brokers(user_data, response);
}

static int handle_brokers_down(const struct _u_request *request, struct _u_response *response,
                               void *user_data)
{
    (void)request;
    return handle_brokers_set(user_data, 0, 0, response);
}

static int handle_brokers_up(const struct _u_request *request, struct _u_response *response,
                             void *user_data)
{
    (void)request;
    return handle_brokers_set(user_data, 0, 1, response);
}

static int handle_broker_down(const struct _u_request *request, struct _u_response *response,
                              void *user_data)
{
    int id = broker_id(user_data, request);

    if (!id)
        return reply_error(response, 404, "not_found", "no such broker id", "id");
    return handle_brokers_set(user_data, id, 0, response);
}

static int handle_broker_up(const struct _u_request *request, struct _u_response *response,
                            void *user_data)
{
    int id = broker_id(user_data, request);

    if (!id)
        return reply_error(response, 404, "not_found", "no such broker id", "id");
    return handle_brokers_set(user_data, id, 1, response);
}

static const struct api_name *api_lookup(const char *name)
{
    for (size_t i = 0; i < N_ELEMS(apis); i++)
        if (strcmp(apis[i].name, name) == 0)
            return &apis[i];
    return NULL;
}

static const struct error_name *error_lookup(const char *name)
{
    for (size_t i = 0; i < N_ELEMS(errors); i++)
        if (strcmp(errors[i].name, name) == 0)
            return &errors[i];
    return NULL;
}

/*
 * POST /errors {"api":"Produce","errors":["NOT_ENOUGH_REPLICAS"],"count":1}:
 * pushes the error list count times (default 1) onto the cluster-wide error
 * stack of that API; the next requests of that type, to any broker, fail with
 * these errors in order.
 */
static int handle_errors_post(const struct _u_request *request, struct _u_response *response,
                              void *user_data)
{
    struct devbroker_control *ctl = user_data;
    json_t *j_body = NULL, *j_errors = NULL, *j_name;
    json_error_t jerr;
    const char *api_name = NULL;
    const struct api_name *api;
    json_int_t count = 1;
    rd_kafka_resp_err_t *errs = NULL;
    size_t n, i, total;
    char msg[256];
    int rc;

    j_body = json_loadb(request->binary_body, request->binary_body_length, 0, &jerr);
    if (!j_body) {
        rc = reply_error(response, 400, "invalid_json", jerr.text, NULL);
        goto out;
    }
    if (json_unpack_ex(j_body, &jerr, JSON_STRICT, "{s:s, s:o, s?:I}", "api", &api_name, "errors",
                       &j_errors, "count", &count) != 0) {
        rc = reply_error(response, 400, "invalid", jerr.text, NULL);
        goto out;
    }
    api = api_lookup(api_name);
    if (!api) {
        snprintf(msg, sizeof(msg), "unknown api '%s'", api_name);
        rc = reply_error(response, 400, "invalid", msg, "api");
        goto out;
    }
    n = json_array_size(j_errors);
    if (!json_is_array(j_errors) || n == 0 || n > ERRORS_MAX_NAMES) {
        snprintf(msg, sizeof(msg), "expected an array of 1..%d error names", ERRORS_MAX_NAMES);
        rc = reply_error(response, 400, "invalid", msg, "errors");
        goto out;
    }
    if (count < 1 || count > ERRORS_MAX_COUNT || (size_t)count * n > ERRORS_MAX_COUNT) {
        snprintf(msg, sizeof(msg), "expected count * len(errors) in 1..%d", ERRORS_MAX_COUNT);
        rc = reply_error(response, 400, "invalid", msg, "count");
        goto out;
    }
    total = (size_t)count * n;
    errs = cf_xcalloc(total, sizeof(*errs));
    json_array_foreach(j_errors, i, j_name)
    {
        const struct error_name *e =
            json_is_string(j_name) ? error_lookup(json_string_value(j_name)) : NULL;
        if (!e) {
            snprintf(msg, sizeof(msg), "unknown error name at errors[%zu]", i);
            rc = reply_error(response, 400, "invalid", msg, "errors");
            goto out;
        }
        for (size_t k = 0; k < (size_t)count; k++)
            errs[k * n + i] = e->err;
    }
    pthread_mutex_lock(&ctl->lock);
    rd_kafka_mock_push_request_errors_array(ctl->mcluster, api->key, total, errs);
    pthread_mutex_unlock(&ctl->lock);
    cf_info("pushed %zu request errors for %s", total, api->name);
    {
        json_t *j_reply = json_pack("{s:s, s:I}", "api", api->name, "pushed", (json_int_t)total);
        ulfius_set_json_body_response(response, 200, j_reply);
        json_decref(j_reply);
    }
    rc = U_CALLBACK_COMPLETE;
out:
    free(errs);
    json_decref(j_body);
    return rc;
}

/* DELETE /errors: clears the error stacks of every API in the table. */
static int handle_errors_delete(const struct _u_request *request, struct _u_response *response,
                                void *user_data)
{
    struct devbroker_control *ctl = user_data;
    json_t *j_reply;

    (void)request;
    pthread_mutex_lock(&ctl->lock);
    for (size_t i = 0; i < N_ELEMS(apis); i++)
        rd_kafka_mock_clear_request_errors(ctl->mcluster, apis[i].key);
    pthread_mutex_unlock(&ctl->lock);
    cf_info("cleared injected request errors");
    j_reply = json_pack("{s:b}", "cleared", 1);
    ulfius_set_json_body_response(response, 200, j_reply);
    json_decref(j_reply);
    return U_CALLBACK_COMPLETE;
}

static int handle_not_found(const struct _u_request *request, struct _u_response *response,
                            void *user_data)
{
    (void)request;
    (void)user_data;
    return reply_error(response, 404, "not_found", "no such route", NULL);
}

/* Binds and listens on 127.0.0.1:port; returns the socket or -1. */
static int listen_loopback(long port, int *bound_port, char *errbuf, size_t errbuf_size)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errbuf, errbuf_size, "could not create socket: %s", cf_strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
        snprintf(errbuf, errbuf_size, "could not set SO_REUSEADDR: %s", cf_strerror(errno));
        goto fail;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        snprintf(errbuf, errbuf_size, "could not bind 127.0.0.1:%ld: %s", port, cf_strerror(errno));
        goto fail;
    }
    if (listen(fd, 32) != 0 || getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        snprintf(errbuf, errbuf_size, "could not listen on 127.0.0.1:%ld: %s", port,
                 cf_strerror(errno));
        goto fail;
    }
    *bound_port = ntohs(addr.sin_port);
    return fd;
fail:
    close(fd);
    return -1;
}

static int add_routes(struct devbroker_control *ctl)
{
    struct _u_instance *u = &ctl->instance;
    int rc = U_OK;

    rc |= ulfius_add_endpoint_by_val(u, "GET", NULL, "/healthz", 0, handle_healthz_get, ctl);
    rc |= ulfius_add_endpoint_by_val(u, "GET", NULL, "/brokers", 0, handle_brokers_get, ctl);
    rc |= ulfius_add_endpoint_by_val(u, "POST", NULL, "/brokers/down", 0, handle_brokers_down, ctl);
    rc |= ulfius_add_endpoint_by_val(u, "POST", NULL, "/brokers/up", 0, handle_brokers_up, ctl);
    rc |= ulfius_add_endpoint_by_val(u, "POST", NULL, "/brokers/:id/down", 0, handle_broker_down,
                                     ctl);
    rc |= ulfius_add_endpoint_by_val(u, "POST", NULL, "/brokers/:id/up", 0, handle_broker_up, ctl);
    rc |= ulfius_add_endpoint_by_val(u, "POST", NULL, "/errors", 0, handle_errors_post, ctl);
    rc |= ulfius_add_endpoint_by_val(u, "DELETE", NULL, "/errors", 0, handle_errors_delete, ctl);
    rc |= ulfius_set_default_endpoint(u, handle_not_found, ctl);
    return rc == U_OK ? 0 : -1;
}

struct devbroker_control *devbroker_control_start(rd_kafka_mock_cluster_t *mcluster, int broker_cnt,
                                                  long port, char *errbuf, size_t errbuf_size)
{
    struct devbroker_control *ctl;
    struct sockaddr_in bind_addr;
    int fd;

    if (broker_cnt < 1 || broker_cnt > DEVBROKER_MAX_BROKERS) {
        snprintf(errbuf, errbuf_size, "broker count %d out of range", broker_cnt);
        return NULL;
    }
    ctl = cf_xcalloc(1, sizeof(*ctl));
    pthread_mutex_init(&ctl->lock, NULL);
    ctl->mcluster = mcluster;
    ctl->broker_cnt = broker_cnt;
    for (int id = 1; id <= broker_cnt; id++)
        ctl->up[id] = 1;

    fd = listen_loopback(port, &ctl->port, errbuf, errbuf_size);
    if (fd < 0)
        goto fail;

    /* ulfius_init_instance rejects port 0, and the port it gets is only
     * recorded: the daemon serves the socket bound above. */
    memset(&bind_addr, 0, sizeof(bind_addr));
    bind_addr.sin_family = AF_INET;
    bind_addr.sin_port = htons((uint16_t)ctl->port);
    bind_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ulfius_init_instance(&ctl->instance, (unsigned int)ctl->port, &bind_addr, NULL) != U_OK) {
        snprintf(errbuf, errbuf_size, "could not initialise the control server");
        close(fd);
        goto fail;
    }
    ctl->instance.max_post_body_size = CONTROL_MAX_BODY;
    if (add_routes(ctl) != 0) {
        snprintf(errbuf, errbuf_size, "could not add the control routes");
        close(fd);
        ulfius_clean_instance(&ctl->instance);
        goto fail;
    }

    {
        struct MHD_OptionItem ops[] = {
            {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
            {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
            {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
            {MHD_OPTION_CONNECTION_LIMIT, 16, NULL},
            {MHD_OPTION_CONNECTION_TIMEOUT, 10, NULL},
            {MHD_OPTION_END, 0, NULL},
        };
        if (ulfius_start_framework_with_mhd_options(&ctl->instance, MHD_USE_INTERNAL_POLLING_THREAD,
                                                    ops) != U_OK) {
            snprintf(errbuf, errbuf_size, "could not start the control server on 127.0.0.1:%d",
                     ctl->port);
            /* fd is not closed here: the daemon may have taken it over. */
            ulfius_clean_instance(&ctl->instance);
            goto fail;
        }
    }
    ctl->started = 1;
    return ctl;
fail:
    pthread_mutex_destroy(&ctl->lock);
    free(ctl);
    return NULL;
}

int devbroker_control_port(const struct devbroker_control *ctl)
{
    return ctl->port;
}

void devbroker_control_stop(struct devbroker_control *ctl)
{
    if (!ctl)
        return;
    if (ctl->started) {
        /* Stopping the daemon also closes the listening socket. */
        ulfius_stop_framework(&ctl->instance);
        ulfius_clean_instance(&ctl->instance);
    }
    pthread_mutex_destroy(&ctl->lock);
    free(ctl);
}
