/*
 * The callbacks a provider makes after a send (sim.h): a queue ordered by
 * due time, one mutex over it, and one thread that posts each when due.
 * A callback the reminders service does not take (no connection, a 5xx)
 * is tried again up to three times, five seconds apart, as providers
 * retry; then it is dropped with a line on stderr.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http_client.h"
#include "common/xmalloc.h"
#include "sim.h"

#define RETRIES 3
#define RETRY_MS 5000

struct callback {
    int64_t due_ms;
    int tries;
    char *url;
    char *body;
    char *content_type; /* "Content-Type: ..." */
    char *header;       /* a signature's line, or NULL */
    struct callback *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct callback *queue; /* by due_ms, under mu */
static int stopping;           /* under mu */
static pthread_t worker;

int64_t sim_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void callback_free(struct callback *c)
{
    free(c->url);
    free(c->body);
    free(c->content_type);
    free(c->header);
    free(c);
}

/* Under mu. */
static void enqueue(struct callback *c)
{
    struct callback **at = &queue;
    while (*at && (*at)->due_ms <= c->due_ms)
        at = &(*at)->next;
    c->next = *at;
    *at = c;
    pthread_cond_signal(&cond);
}

void sim_callback_add(int64_t due_ms, char *url, char *body, const char *content_type,
                      const char *header)
{
    struct callback *c = cf_xcalloc(1, sizeof(*c));
    c->due_ms = due_ms;
    c->url = url;
    c->body = body;
    c->content_type = cf_xasprintf("Content-Type: %s", content_type);
    c->header = header ? cf_xstrdup(header) : NULL;
    pthread_mutex_lock(&mu);
    enqueue(c);
    pthread_mutex_unlock(&mu);
}

/* 1 when the callback was taken (any answer below 500). */
static int post(const struct callback *c)
{
    const char *headers[] = {c->content_type, c->header};
    const struct cf_http_client_request req = {
        .method = "POST",
        .url = c->url,
        .headers = headers,
        .n_headers = c->header ? 2 : 1,
        .body = c->body,
        .body_len = strlen(c->body),
        .timeout_ms = 10000,
        .max_response = 1 << 16,
    };
    struct cf_http_client_response resp = {0};
    char errbuf[256] = "";
    int rc = cf_http_client_do(&req, &resp, errbuf, sizeof(errbuf));
    const long status = rc == 0 ? resp.status : 0;
    if (rc != 0 || status >= 300)
        fprintf(stderr, "gateway-sim: callback %s: %s\n", c->url,
                rc != 0 ? errbuf : (resp.body ? resp.body : "(no body)"));
    cf_http_client_response_free(&resp);
    return rc == 0 && status < 500;
}

static void *run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!stopping) {
        const int64_t now = sim_now_ms();
        if (!queue || queue->due_ms > now) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            const int64_t wait_ms = queue ? queue->due_ms - now : 1000;
            until.tv_sec += wait_ms / 1000;
            until.tv_nsec += (wait_ms % 1000) * 1000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&cond, &mu, &until);
            continue;
        }
        struct callback *c = queue;
        queue = c->next;
        pthread_mutex_unlock(&mu);
        const int taken = post(c);
        pthread_mutex_lock(&mu);
        if (!taken && ++c->tries < RETRIES) {
            c->due_ms = sim_now_ms() + RETRY_MS;
            enqueue(c);
        } else {
            callback_free(c);
        }
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int sim_callbacks_start(void)
{
    return pthread_create(&worker, NULL, run, NULL) == 0 ? 0 : -1;
}

void sim_callbacks_stop(void)
{
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mu);
    pthread_join(worker, NULL);
    while (queue) {
        struct callback *c = queue;
        queue = c->next;
        callback_free(c);
    }
}
