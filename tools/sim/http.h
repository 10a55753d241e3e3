/*
 * The sender (http.c): requests in, answers counted by kind, latencies
 * kept for the load report. One thread drives it.
 */
#ifndef CF_SIM_HTTP_H
#define CF_SIM_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "sim.h"

#define SIM_HTTP_KINDS 8

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

/* A sender with at most concurrency requests on the wire; a 503 or a
 * failed connection is tried again up to retries times; with
 * verbose_errors the first refusals are printed to stderr. */
struct sim_http *sim_http_new(int concurrency, int retries, int verbose_errors);
void sim_http_free(struct sim_http *h);
/* Queues r, taking what it owns (r is zeroed); r->dep names an earlier
 * index or -1. Returns r's index. */
long sim_http_add(struct sim_http *h, struct sim_req *r);
/* Starts what may start, waits up to timeout_ms for answers and counts
 * them. Returns how many requests are not answered yet. */
size_t sim_http_step(struct sim_http *h, int timeout_ms);
size_t sim_http_running(const struct sim_http *h);
size_t sim_http_done(const struct sim_http *h);
size_t sim_http_count(const struct sim_http *h);
struct sim_http_stats *sim_http_stats(struct sim_http *h);

#endif
