/*
 * openloop: an open-loop HTTP/1.1 GET load generator for latency
 * percentiles at a fixed request rate.
 *
 *   openloop -p PORT -r RATE -d SECONDS -f PATHS [-H HOST] [-c MAXCONN]
 *
 * Requests are scheduled every 1/RATE seconds whatever the server does;
 * each goes out on an idle keep-alive connection (a new one is opened when
 * none is idle, up to MAXCONN; beyond that it waits in a queue). Latency is
 * measured from the scheduled time to the last byte of the response, so a
 * slow server is charged for the requests it delayed (no coordinated
 * omission). PATHS holds one request path per line, used in turn.
 * Prints: sent, completed, errors, achieved rate, p50/p90/p99/p99.9/max.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    int busy;
    int64_t sched_ns; /* scheduled time of the request in flight */
    char in[16384];
    size_t inlen;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static const char *host = "127.0.0.1";
static int port;
static char **paths;
static size_t npaths, next_path;
static int epfd;

static int open_conn(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    (void)fcntl(c->fd, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    (void)epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    c->busy = 0;
    c->inlen = 0;
    return 0;
}

static void close_conn(struct conn *c)
{
    if (c->fd >= 0) {
        (void)epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = 0;
    c->inlen = 0;
}

static int send_req(struct conn *c, int64_t sched_ns)
{
    char req[4096];
    const char *path = paths[next_path++ % npaths];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path, host, port);
    if (n <= 0 || (size_t)n >= sizeof(req) || write(c->fd, req, (size_t)n) != n)
        return -1;
    c->busy = 1;
    c->sched_ns = sched_ns;
    c->inlen = 0;
    return 0;
}

/* 1 when c->in holds a whole response (*status set), 0 when not yet. */
static int response_done(struct conn *c, int *status)
{
    c->in[c->inlen < sizeof(c->in) ? c->inlen : sizeof(c->in) - 1] = '\0';
    char *end = strstr(c->in, "\r\n\r\n");
    if (!end)
        return 0;
    long len = 0;
    char *cl = strcasestr(c->in, "\r\ncontent-length:");
    if (cl && cl < end)
        len = strtol(cl + 17, NULL, 10);
    if ((size_t)(end + 4 - c->in) + (size_t)len > c->inlen)
        return 0;
    *status = (int)strtol(c->in + 9, NULL, 10);
    return 1;
}

int main(int argc, char **argv)
{
    double rate = 1000, seconds = 10;
    int maxconn = 256;
    const char *file = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "H:p:r:d:c:f:")) != -1) {
        switch (opt) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            port = (int)strtol(optarg, NULL, 10);
            break;
        case 'r':
            rate = strtod(optarg, NULL);
            break;
        case 'd':
            seconds = strtod(optarg, NULL);
            break;
        case 'c':
            maxconn = (int)strtol(optarg, NULL, 10);
            break;
        case 'f':
            file = optarg;
            break;
        default:
            break;
        }
    }
    if (!port || !file || rate <= 0 || seconds <= 0 || maxconn <= 0) {
        fprintf(stderr,
                "usage: openloop -p PORT -r RATE -d SECONDS -f PATHS [-H HOST] [-c MAXCONN]\n");
        return 2;
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        return 2;
    }
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line)
            continue;
        paths = realloc(paths, (npaths + 1) * sizeof(*paths));
        paths[npaths++] = strdup(line);
    }
    fclose(f);
    if (!npaths) {
        fprintf(stderr, "%s: no paths\n", file);
        return 2;
    }

    epfd = epoll_create1(0);
    struct conn *conns = calloc((size_t)maxconn, sizeof(*conns));
    for (int i = 0; i < maxconn; i++)
        conns[i].fd = -1;
    size_t total = (size_t)(rate * seconds);
    int64_t *lat = calloc(total + 1, sizeof(*lat));
    int64_t *queue = calloc(total + 1, sizeof(*queue)); /* scheduled times waiting for a conn */
    size_t qhead = 0, qtail = 0, scheduled = 0, done = 0, errors = 0, non2xx = 0;
    int64_t interval = (int64_t)(1e9 / rate), start = now_ns();
    int64_t stop_at = start + (int64_t)(seconds * 1e9) + 5000000000LL; /* 5 s to drain */

    while (now_ns() < stop_at && done + errors < total) {
        int64_t now = now_ns();
        while (scheduled < total && start + (int64_t)scheduled * interval <= now)
            queue[qtail++] = start + (int64_t)(scheduled++) * interval;
        /* hand queued requests to idle or new connections */
        for (int i = 0; i < maxconn && qhead < qtail; i++) {
            struct conn *c = &conns[i];
            if (c->busy)
                continue;
            if (c->fd < 0 && open_conn(c) != 0) {
                errors++;
                qhead++;
                continue;
            }
            if (send_req(c, queue[qhead]) != 0) {
                close_conn(c);
                continue;
            }
            qhead++;
        }
        int64_t next = scheduled < total ? start + (int64_t)scheduled * interval : now + 1000000;
        int timeout_ms = (int)((next - now_ns()) / 1000000);
        if (timeout_ms < 0)
            timeout_ms = 0;
        struct epoll_event evs[256];
        int n = epoll_wait(epfd, evs, 256, timeout_ms);
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            ssize_t r = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                if (c->busy)
                    errors++;
                close_conn(c);
                continue;
            }
            c->inlen += (size_t)r;
            int status;
            if (c->busy && response_done(c, &status)) {
                lat[done++] = now_ns() - c->sched_ns;
                if (status < 200 || status > 299)
                    non2xx++;
                c->busy = 0;
                c->inlen = 0;
            }
        }
    }
    double took = (double)(now_ns() - start) / 1e9;
    qsort(lat, done, sizeof(*lat), cmp_i64);
#define PCT(p) (done ? (double)lat[(size_t)((double)(done - 1) * (p))] / 1e6 : 0.0)
    printf("rate %.0f/s for %.0f s: scheduled %zu, completed %zu, errors %zu, non-2xx %zu, "
           "achieved %.0f/s\n",
           rate, seconds, scheduled, done, errors, non2xx, (double)done / (took > 0 ? took : 1));
    printf("latency ms: p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f\n", PCT(0.50), PCT(0.90),
           PCT(0.99), PCT(0.999), done ? (double)lat[done - 1] / 1e6 : 0.0);
    for (int i = 0; i < maxconn; i++)
        close_conn(&conns[i]);
    for (size_t i = 0; i < npaths; i++)
        free(paths[i]);
    free(paths);
    free(conns);
    free(lat);
    free(queue);
    close(epfd);
    return 0;
}
