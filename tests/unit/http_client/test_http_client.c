/*
 * The outbound HTTP client against a small HTTP server in a thread of the
 * test, on 127.0.0.1 and a port the kernel picks: no network beyond the
 * loopback. The server answers by path: /echo returns the raw request it
 * read (libcurl writes header names as given), /status returns 503, /big and /stream send more than
 * the client takes (with and without Content-Length), /slow never answers.
 * A caller that takes a long body cut gets the answer, its body cut at the cap.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cftest.h"
#include "common/err.h"
#include "common/http_client.h"

#define MAX_CONN 128

static int listen_fd = -1;
static unsigned short port;
static pthread_t conn_threads[MAX_CONN];
static int n_conn;

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        data += w;
        len -= (size_t)w;
    }
}

/* Reads one request (head and Content-Length body) into buf: its length. */
static size_t read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0, want = 0;
    char *head_end = NULL;

    while (len < cap - 1) {
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        if (!head_end && (head_end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = strstr(buf, "\r\nContent-Length:");
            size_t body = cl && cl < head_end ? strtoul(cl + 17, NULL, 10) : 0;
            want = (size_t)(head_end + 4 - buf) + body;
        }
        if (head_end && len >= want)
            break;
    }
    buf[len] = '\0';
    return len;
}

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[8192], head[256];
    size_t len = read_request(fd, req, sizeof(req));

    if (strstr(req, " /echo ")) {
        int n = snprintf(head, sizeof(head), "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\n\r\n",
                         len);
        send_all(fd, head, (size_t)n);
        send_all(fd, req, len);
    } else if (strstr(req, " /status ")) {
        const char r[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy";
        send_all(fd, r, sizeof(r) - 1);
    } else if (strstr(req, " /big ") || strstr(req, " /stream ")) {
        char blob[5000]; /* each connection's own: several are served at once */
        memset(blob, 'x', sizeof(blob));
        int n = strstr(req, " /big ")
                    ? snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                               sizeof(blob))
                    : snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        send_all(fd, head, (size_t)n);
        send_all(fd, blob, sizeof(blob));
    } else if (strstr(req, " /hangup ")) {
        /* the request read, the connection closed without an answer */
    } else if (strstr(req, " /slow ")) {
        /* no answer: wait until the client gives up and closes */
        char c;
        while (recv(fd, &c, 1, 0) > 0)
            ;
    }
    close(fd);
    return NULL;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            break; /* shutdown() in server_stop */
        if (n_conn == MAX_CONN) {
            close(fd);
            continue;
        }
        pthread_create(&conn_threads[n_conn++], NULL, serve_conn, (void *)(intptr_t)fd);
    }
    return NULL;
}

static pthread_t server_thread;

static int server_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);

    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(listen_fd, 64) != 0 || getsockname(listen_fd, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    port = ntohs(sa.sin_port);
    return pthread_create(&server_thread, NULL, serve, NULL);
}

static void server_stop(void)
{
    shutdown(listen_fd, SHUT_RDWR);
    pthread_join(server_thread, NULL);
    for (int i = 0; i < n_conn; i++)
        pthread_join(conn_threads[i], NULL);
    close(listen_fd);
}

static int call_cut(const char *method, const char *path, const char *body, size_t max,
                    long timeout_ms, int cut_at_max, struct cf_http_client_response *resp)
{
    static const char *const headers[] = {"Content-Type: application/json", "X-Test: 1"};
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    struct cf_http_client_request req = {
        .method = method,
        .url = url,
        .headers = headers,
        .n_headers = 2,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = timeout_ms,
        .max_response = max,
        .cut_at_max = cut_at_max,
    };
    char errbuf[256];
    return cf_http_client_do(&req, resp, errbuf, sizeof(errbuf));
}

static int call(const char *method, const char *path, const char *body, size_t max, long timeout_ms,
                struct cf_http_client_response *resp)
{
    return call_cut(method, path, body, max, timeout_ms, 0, resp);
}

static void test_exchange(void)
{
    struct cf_http_client_response resp;

    CHECK_INT(call("POST", "/echo", "{\"to\":\"+74950000000\"}", 65536, 5000, &resp), 0);
    CHECK_INT(resp.status, 201);
    CHECK(strncmp(resp.body, "POST /echo HTTP/1.1\r\n", 21) == 0);
    CHECK(strstr(resp.body, "\r\nX-Test: 1\r\n") != NULL);
    CHECK(strstr(resp.body, "\r\nContent-Type: application/json\r\n") != NULL);
    CHECK(strstr(resp.body, "\r\nContent-Length: 21\r\n") != NULL);
    CHECK(strstr(resp.body, "\r\n\r\n{\"to\":\"+74950000000\"}") != NULL);
    CHECK_INT(resp.body_len, strlen(resp.body));
    cf_http_client_response_free(&resp);

    CHECK_INT(call("GET", "/echo", NULL, 65536, 5000, &resp), 0);
    CHECK(strncmp(resp.body, "GET /echo HTTP/1.1\r\n", 20) == 0);
    cf_http_client_response_free(&resp);

    /* an error status is an answer: the caller decides */
    CHECK_INT(call("POST", "/status", "x", 65536, 5000, &resp), 0);
    CHECK_INT(resp.status, 503);
    CHECK_STR(resp.body, "busy");
    cf_http_client_response_free(&resp);
}

static void test_failures(void)
{
    struct cf_http_client_response resp;

    CHECK_INT(call("GET", "/big", NULL, 1000, 5000, &resp), CF_ETOOBIG);
    CHECK(resp.body == NULL);
    CHECK_INT(call("GET", "/stream", NULL, 1000, 5000, &resp), CF_ETOOBIG);
    CHECK_INT(call("GET", "/big", NULL, 5000, 5000, &resp), 0); /* exactly the cap */
    CHECK_INT(resp.body_len, 5000);
    CHECK_INT(resp.truncated, 0);
    cf_http_client_response_free(&resp);
    CHECK_INT(call("GET", "/slow", NULL, 1000, 300, &resp), CF_ETIMEOUT);
    CHECK(resp.request_sent);
    /* closed with no answer after the request went out: the server may
     * have acted on it, and the caller is told so */
    CHECK_INT(call("POST", "/hangup", "{\"send\":1}", 1000, 5000, &resp), CF_EUNAVAIL);
    CHECK(resp.request_sent);
    CHECK(resp.body == NULL);

    /* a port nobody listens on: bound, then closed */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    char url[64], errbuf[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
    struct cf_http_client_request req = {
        .method = "GET", .url = url, .timeout_ms = 2000, .max_response = 100};
    CHECK_INT(cf_http_client_do(&req, &resp, errbuf, sizeof(errbuf)), CF_EUNAVAIL);
    CHECK(strstr(errbuf, url) != NULL);
    CHECK(!resp.request_sent); /* nothing went out: safe to try again */
    /* the error names the URL without its query: a lookup's phone number
     * or a gateway's key there would be logged */
    char with_query[128];
    snprintf(with_query, sizeof(with_query), "%s?To=%%2B79161234567&api_id=s3cr3t", url);
    req.url = with_query;
    CHECK_INT(cf_http_client_do(&req, &resp, errbuf, sizeof(errbuf)), CF_EUNAVAIL);
    CHECK(strstr(errbuf, url) != NULL);
    CHECK(strstr(errbuf, "79161234567") == NULL && strstr(errbuf, "s3cr3t") == NULL);
    CHECK(strchr(errbuf, '?') == NULL);
    req.url = url;

    req.url = "ftp://127.0.0.1/x";
    CHECK_INT(cf_http_client_do(&req, &resp, errbuf, sizeof(errbuf)), CF_EINVAL);
    req.url = url;
    req.timeout_ms = 0;
    CHECK_INT(cf_http_client_do(&req, &resp, errbuf, sizeof(errbuf)), CF_EINVAL);
}

/* A body over the cap, taken cut: the answer counts, status and the body
 * up to the cap, announced or not; one within the cap is whole. */
static void test_cut(void)
{
    static const char *const paths[] = {"/big", "/stream"};
    struct cf_http_client_response resp;

    for (size_t i = 0; i < 2; i++) {
        CHECK_INT(call_cut("GET", paths[i], NULL, 1000, 5000, 1, &resp), 0);
        CHECK_INT(resp.status, 200);
        CHECK_INT(resp.body_len, 1000);
        CHECK_INT(resp.truncated, 1);
        CHECK_INT(strlen(resp.body), 1000);
        CHECK(resp.body[0] == 'x' && resp.body[999] == 'x');
        cf_http_client_response_free(&resp);
    }
    CHECK_INT(call_cut("GET", "/big", NULL, 5000, 5000, 1, &resp), 0);
    CHECK_INT(resp.body_len, 5000);
    CHECK_INT(resp.truncated, 0);
    cf_http_client_response_free(&resp);
    CHECK_INT(call_cut("POST", "/status", "x", 2, 5000, 1, &resp), 0);
    CHECK_INT(resp.status, 503);
    CHECK_STR(resp.body, "bu");
    CHECK_INT(resp.truncated, 1);
    cf_http_client_response_free(&resp);
}

static void *call_many(void *arg)
{
    long bad = 0;
    (void)arg;
    for (int i = 0; i < 10; i++) {
        struct cf_http_client_response resp;
        char body[32];
        snprintf(body, sizeof(body), "n=%d", i);
        bad += call("POST", "/echo", body, 65536, 5000, &resp) != 0 || resp.status != 201 ||
               !strstr(resp.body, body);
        cf_http_client_response_free(&resp);
    }
    return (void *)bad;
}

/* Threads calling at once, the first calls racing to set libcurl up. */
static void test_threads(void)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, call_many, NULL);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        CHECK(bad == NULL);
    }
}

int main(void)
{
    if (server_start() != 0) {
        perror("could not start the test server");
        return 1;
    }
    test_threads();
    test_exchange();
    test_failures();
    test_cut();
    server_stop();
    return cf_test_done();
}
