/*
 * The sender (http.c): requests in, answers counted by kind, latencies
 * kept for the load report. One thread drives it.
 */
#ifndef CF_SIM_HTTP_H
#define CF_SIM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "sim.h"

#define SIM_HTTP_KINDS 12

struct sim_kind_stats {
    const char *kind;
    long ok;      /* 2xx */
    long refused; /* any other status */
    long failed;  /* no answer: connection refused, timeout, reset */
};

struct sim_http_stats {
    long sent; /* attempts, retries included */
    long ok, refused, failed, retried;
    struct sim_kind_stats kinds[SIM_HTTP_KINDS];
    size_t nkinds;
    double *latency_ms; /* of every answered attempt */
    size_t nlatency, cap_latency;
};

/* Called once per request when its answer is final (after any retries),
 * before r is freed: status is the HTTP status, 0 when there was none, and
 * then error says why (libcurl's message); reply holds the first bytes of
 * the answer's body. Runs on the thread that drives sim_http_step. */
typedef void (*sim_http_done_fn)(void *arg, const struct sim_req *r, long status, const char *error,
                                 const char *reply);

/* A sender with at most concurrency requests on the wire; a 503 or a
 * failed connection is tried again up to retries times; with
 * verbose_errors the first refusals are printed to stderr. */
struct sim_http *sim_http_new(int concurrency, int retries, int verbose_errors);
void sim_http_free(struct sim_http *h);
/* Calls fn(arg, ...) for each final answer from now on. */
void sim_http_on_done(struct sim_http *h, sim_http_done_fn fn, void *arg);
/* CLOCK_MONOTONIC in microseconds: the clock of sim_req.due_us. */
int64_t sim_http_now_us(void);
/* Queues r, taking what it owns (r is zeroed); r->dep names an earlier
 * index or -1. Returns r's index. */
long sim_http_add(struct sim_http *h, struct sim_req *r);
/* Starts what may start, waits up to timeout_ms for answers and counts
 * them; with nothing on the wire it sleeps timeout_ms (the callers' loops
 * never spin). Returns how many requests are not answered yet. */
size_t sim_http_step(struct sim_http *h, int timeout_ms);
/* Sets the due time (sim_http_now_us) of the request at idx, not yet
 * started: its latency is measured from then. */
void sim_http_set_due(struct sim_http *h, size_t idx, int64_t due_us);
size_t sim_http_running(const struct sim_http *h);
size_t sim_http_done(const struct sim_http *h);
size_t sim_http_count(const struct sim_http *h);
struct sim_http_stats *sim_http_stats(struct sim_http *h);

#endif
