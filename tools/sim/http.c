/*
 * Sending: libcurl's multi interface with at most `concurrency` requests
 * on the wire, in the order they were added. A request may name an
 * earlier one it must follow (an appointment's outcome after its
 * booking): it waits at the head of the queue until that one is answered,
 * which costs nothing in practice since the two are days of the month
 * apart. A 503 or a connection failure is retried as a provider would
 * (after a pause, a few times); every other answer is final. Single
 * thread: the caller drives it with sim_http_step.
 */
#include "http.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/time.h"
#include "common/xmalloc.h"

#define RETRY_PAUSE_MS 500
#define REPLY_KEEP 400 /* bytes of an answer kept for an error message */
#define ERRORS_SHOWN 10

enum state { QUEUED, RUNNING, DONE };

struct entry {
    struct sim_req req;
    enum state state;
    int attempts;
    int64_t not_before_ms;
    int64_t started_ms;
    CURL *easy;
    struct curl_slist *headers;
    char reply[REPLY_KEEP + 1];
    size_t reply_len;
};

struct sim_http {
    CURLM *multi;
    int concurrency, retries, verbose_errors;
    struct entry **entries; /* each its own allocation: curl holds pointers to them */
    size_t n, cap;
    size_t next;    /* the first entry never started */
    size_t running; /* on the wire */
    size_t done;
    long *retry; /* entries waiting to be tried again */
    size_t nretry, cap_retry;
    struct sim_http_stats stats;
    long errors_shown;
    sim_http_done_fn on_done;
    void *on_done_arg;
};

void sim_req_header(struct sim_req *r, const char *fmt, ...)
{
    va_list ap;
    char buf[1024];
    assert(r->nheaders < sizeof(r->headers) / sizeof(r->headers[0]));
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    r->headers[r->nheaders++] = cf_xstrdup(buf);
}

void sim_req_free(struct sim_req *r)
{
    free(r->url);
    free(r->body);
    free(r->visit);
    for (size_t i = 0; i < r->nheaders; i++)
        free(r->headers[i]);
    memset(r, 0, sizeof(*r));
}

void sim_rfc3339(int64_t ms, char out[32])
{
    int y, mo, d;
    const int64_t s = ms / 1000, days = s / 86400, rem = s % 86400;
    cf_time_civil_from_days(days, &y, &mo, &d);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

struct sim_http *sim_http_new(int concurrency, int retries, int verbose_errors)
{
    struct sim_http *h = cf_xcalloc(1, sizeof(*h));
    h->multi = curl_multi_init();
    h->concurrency = concurrency;
    h->retries = retries;
    h->verbose_errors = verbose_errors;
    return h;
}

void sim_http_on_done(struct sim_http *h, sim_http_done_fn fn, void *arg)
{
    h->on_done = fn;
    h->on_done_arg = arg;
}

int64_t sim_http_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sim_http_free(struct sim_http *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        struct entry *e = h->entries[i];
        if (e->easy) {
            curl_multi_remove_handle(h->multi, e->easy);
            curl_easy_cleanup(e->easy);
        }
        curl_slist_free_all(e->headers);
        sim_req_free(&e->req);
        free(e);
    }
    curl_multi_cleanup(h->multi);
    free(h->entries);
    free(h->retry);
    free(h->stats.latency_ms);
    free(h);
}

long sim_http_add(struct sim_http *h, struct sim_req *r)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1024;
        h->entries = cf_xrealloc(h->entries, h->cap * sizeof(*h->entries));
    }
    struct entry *e = cf_xcalloc(1, sizeof(*e));
    h->entries[h->n] = e;
    e->req = *r;
    memset(r, 0, sizeof(*r));
    return (long)h->n++;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct entry *e = arg;
    const size_t len = size * nmemb, room = REPLY_KEEP - e->reply_len;
    const size_t take = len < room ? len : room;
    memcpy(e->reply + e->reply_len, data, take);
    e->reply_len += take;
    e->reply[e->reply_len] = '\0';
    return len;
}

static void start(struct sim_http *h, size_t i)
{
    struct entry *e = h->entries[i];
    e->easy = curl_easy_init();
    e->reply_len = 0;
    e->reply[0] = '\0';
    curl_slist_free_all(e->headers);
    e->headers = NULL;
    for (size_t k = 0; k < e->req.nheaders; k++)
        e->headers = curl_slist_append(e->headers, e->req.headers[k]);
    /* no "Expect: 100-continue" round trip for the larger bodies */
    e->headers = curl_slist_append(e->headers, "Expect:");
    curl_easy_setopt(e->easy, CURLOPT_URL, e->req.url);
    curl_easy_setopt(e->easy, CURLOPT_HTTPHEADER, e->headers);
    curl_easy_setopt(e->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e->easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(e->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(e->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e->easy, CURLOPT_WRITEDATA, e);
    curl_easy_setopt(e->easy, CURLOPT_PRIVATE, (void *)(uintptr_t)i);
    if (e->req.body) {
        curl_easy_setopt(e->easy, CURLOPT_POSTFIELDS, e->req.body);
        curl_easy_setopt(e->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)e->req.body_len);
    }
    if (e->req.method_put)
        curl_easy_setopt(e->easy, CURLOPT_CUSTOMREQUEST, "PUT");
    else if (!e->req.body)
        curl_easy_setopt(e->easy, CURLOPT_HTTPGET, 1L);
    e->state = RUNNING;
    e->started_ms = cf_time_mono_ms();
    e->attempts++;
    h->stats.sent++;
    h->running++;
    curl_multi_add_handle(h->multi, e->easy);
}

static struct sim_kind_stats *kind_stats(struct sim_http *h, const char *kind)
{
    for (size_t i = 0; i < h->stats.nkinds; i++)
        if (strcmp(h->stats.kinds[i].kind, kind) == 0)
            return &h->stats.kinds[i];
    assert(h->stats.nkinds < SIM_HTTP_KINDS);
    struct sim_kind_stats *k = &h->stats.kinds[h->stats.nkinds++];
    k->kind = kind;
    return k;
}

static void finish(struct sim_http *h, long i, CURLcode code)
{
    struct entry *e = h->entries[i];
    long status = 0;
    const double ms = (double)(cf_time_mono_ms() - e->started_ms);
    curl_easy_getinfo(e->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(h->multi, e->easy);
    curl_easy_cleanup(e->easy);
    e->easy = NULL;
    h->running--;
    const int failed = code != CURLE_OK || status == 0;
    if ((failed || status == 503) && e->attempts <= h->retries) {
        e->state = QUEUED;
        e->not_before_ms = cf_time_mono_ms() + RETRY_PAUSE_MS * e->attempts;
        if (h->nretry == h->cap_retry) {
            h->cap_retry = h->cap_retry ? h->cap_retry * 2 : 64;
            h->retry = cf_xrealloc(h->retry, h->cap_retry * sizeof(*h->retry));
        }
        h->retry[h->nretry++] = i;
        h->stats.retried++;
        return;
    }
    struct sim_kind_stats *k = kind_stats(h, e->req.kind);
    if (failed) {
        k->failed++;
        h->stats.failed++;
    } else if (status >= 200 && status < 300) {
        k->ok++;
        h->stats.ok++;
    } else {
        k->refused++;
        h->stats.refused++;
    }
    if (!failed) {
        if (h->stats.nlatency == h->stats.cap_latency) {
            h->stats.cap_latency = h->stats.cap_latency ? h->stats.cap_latency * 2 : 1024;
            h->stats.latency_ms =
                cf_xrealloc(h->stats.latency_ms, h->stats.cap_latency * sizeof(double));
        }
        h->stats.latency_ms[h->stats.nlatency++] = ms;
    }
    if (h->on_done)
        h->on_done(h->on_done_arg, &e->req, failed ? 0 : status,
                   failed ? (code != CURLE_OK ? curl_easy_strerror(code) : "no status") : NULL,
                   e->reply);
    if ((failed || status < 200 || status >= 300) && h->verbose_errors &&
        h->errors_shown++ < ERRORS_SHOWN)
        /* the path only: a provider's query may carry the channel's token */
        fprintf(stderr, "\n%s %.*s: %s%ld %s\n",
                e->req.method_put ? "PUT"
                : e->req.body     ? "POST"
                                  : "GET",
                (int)strcspn(e->req.url, "?"), e->req.url, failed ? curl_easy_strerror(code) : "",
                status, e->reply);
    e->state = DONE;
    h->done++;
    /* what was sent is not needed any more: a full month is tens of MB */
    curl_slist_free_all(e->headers);
    e->headers = NULL;
    sim_req_free(&e->req);
}

static int dep_done(const struct sim_http *h, const struct entry *e)
{
    return e->req.dep < 0 || h->entries[e->req.dep]->state == DONE;
}

size_t sim_http_step(struct sim_http *h, int timeout_ms)
{
    const int64_t now = cf_time_mono_ms();
    /* retries first, once their pause is over */
    for (size_t r = 0; r < h->nretry && h->running < (size_t)h->concurrency;) {
        if (h->entries[h->retry[r]]->not_before_ms <= now) {
            start(h, (size_t)h->retry[r]);
            h->retry[r] = h->retry[--h->nretry];
        } else {
            r++;
        }
    }
    while (h->next < h->n && h->running < (size_t)h->concurrency &&
           dep_done(h, h->entries[h->next]))
        start(h, h->next++);

    int still = 0;
    curl_multi_perform(h->multi, &still);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        finish(h, (long)(uintptr_t)priv, msg->data.result);
    }
    if (h->running > 0)
        curl_multi_poll(h->multi, NULL, 0, timeout_ms, NULL);
    else if (h->nretry > 0)
        curl_multi_poll(h->multi, NULL, 0, timeout_ms < 50 ? timeout_ms : 50, NULL);
    else if (timeout_ms > 0 && h->next == h->n)
        curl_multi_poll(h->multi, NULL, 0, timeout_ms, NULL); /* idle: a sleep */
    return h->n - h->done;
}

void sim_http_set_due(struct sim_http *h, size_t idx, int64_t due_us)
{
    assert(idx < h->n && h->entries[idx]->state == QUEUED);
    h->entries[idx]->req.due_us = due_us;
}

size_t sim_http_running(const struct sim_http *h)
{
    return h->running;
}

size_t sim_http_done(const struct sim_http *h)
{
    return h->done;
}

size_t sim_http_count(const struct sim_http *h)
{
    return h->n;
}

struct sim_http_stats *sim_http_stats(struct sim_http *h)
{
    return &h->stats;
}
