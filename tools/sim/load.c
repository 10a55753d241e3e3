/*
 * The open-loop load generator: request k is due at start + k/RATE by the
 * clock, whether or not earlier ones were answered, so a slow service
 * shows as latency and refusals rather than as a lower offered rate. When
 * --concurrency requests are already on the wire at a due time, that
 * request is not sent and counted as "not sent": queueing it would turn
 * the load closed-loop. Latency runs from the due time (not from when the
 * request got out), so the generator's own delays are charged too and
 * show in "schedule lag". The requests are the model's calls and leads
 * (--kinds), re-dated to the moment they go out, with ids of a seed drawn
 * from the clock so each run is new traffic; a month large enough for the
 * whole run is made before the clock starts, and one of the next seed if
 * it still runs out. Every count is kept here, from sim_http's per-answer
 * callback: by kind, by status, by second of the run. "dni" sends the
 * site visitors' calls (dni.c) as their pages' requests for a number; the
 * call each answer leads to goes at once, outside the schedule, and is
 * counted apart ("dni_calls").
 */
#include "modes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/time.h"
#include "common/xmalloc.h"
#include "latency.h"

#define LOAD_KINDS 3     /* calls, leads, dni */
#define LOAD_STATUSES 24 /* distinct HTTP statuses kept apart */
#define LOAD_REASONS 8   /* distinct failure reasons kept apart */
#define DRAIN_MS 35000   /* longer than a request's own 30 s timeout */

static const char *const kind_names[LOAD_KINDS] = {"calls", "leads", "dni"};

struct samples {
    double *v;
    size_t n, cap;
};

struct counts {
    long sent, ok, refused, failed;
};

struct second {
    struct counts c;
    long not_sent, s503;
    double max_ms;
};

struct load {
    int64_t start_us;
    struct counts all, kinds[LOAD_KINDS];
    struct samples lat, kind_lat[LOAD_KINDS], lag;
    struct {
        long status, n;
        char *sample; /* the first answer's body */
    } statuses[LOAD_STATUSES];
    size_t nstatuses;
    struct {
        const char *reason; /* libcurl's static message */
        long n;
    } reasons[LOAD_REASONS];
    size_t nreasons;
    struct second *secs;
    size_t nsecs;
    long offered, not_sent;
    /* the calls DNI answers lead to (sent from on_done) */
    struct sim_http *h;
    const struct sim_network *net;
    const struct sim_targets *t;
    struct counts dni_calls;
    long dni_default;
};

/* The month the requests come from: the next event of the asked kinds,
 * round and round, a new seed's month when one is used up. */
struct source {
    struct sim_month m;
    struct sim_params params;
    size_t i;
    int kinds;
};

static void add_sample(struct samples *s, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = cf_xrealloc(s->v, s->cap * sizeof(double));
    }
    s->v[s->n++] = v;
}

static int kind_index(const char *kind)
{
    return strcmp(kind, "lead") == 0 ? 1 : strcmp(kind, "dni") == 0 ? 2 : 0;
}

static int wanted(const struct sim_ev *ev, int kinds)
{
    return (ev->kind == SIM_CALL && (kinds & SIM_LOAD_CALLS)) ||
           (ev->kind == SIM_LEAD && (kinds & SIM_LOAD_LEADS)) ||
           ((kinds & SIM_LOAD_DNI) && sim_dni_call(ev));
}

/* A DNI call's answer, counted apart; a DNI page's answer leads to it. */
static int dni_followup(struct load *l, const struct sim_req *r, long status, const char *reply)
{
    if (strcmp(r->kind, "dni call") == 0) {
        struct counts *c = &l->dni_calls;
        if (status == 0)
            c->failed++;
        else if (status >= 200 && status < 300)
            c->ok++;
        else
            c->refused++;
        return 1;
    }
    const int followed = sim_dni_follow(l->h, l->net, l->t, r, status, reply);
    l->dni_calls.sent += followed == 1;
    l->dni_default += followed == 0;
    return 0;
}

static size_t count_wanted(const struct sim_month *m, int kinds)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nevs; i++)
        n += (size_t)wanted(&m->evs[i], kinds);
    return n;
}

/* Makes a month with at least `need` events of the kinds (up to scale
 * 100). Returns -1 when it has none at all. */
static int source_init(struct source *src, const struct sim_args *args, double need)
{
    const int64_t now = cf_time_now_ms();
    src->kinds = args->kinds;
    src->i = 0;
    src->params = (struct sim_params){
        .seed = args->seed ^ (uint64_t)now, .days = 30, .scale = args->scale, .end_ms = now};
    sim_month_generate(&src->params, &src->m);
    const size_t have = count_wanted(&src->m, src->kinds);
    if (have > 0 && (double)have < need && src->params.scale < 100) {
        double scale = src->params.scale * need / (double)have * 1.05;
        src->params.scale = scale < 100 ? scale : 100;
        sim_month_free(&src->m);
        sim_month_generate(&src->params, &src->m);
    }
    return count_wanted(&src->m, src->kinds) > 0 ? 0 : -1;
}

static const struct sim_ev *source_next(struct source *src)
{
    for (;;) {
        while (src->i < src->m.nevs) {
            const struct sim_ev *ev = &src->m.evs[src->i++];
            if (wanted(ev, src->kinds))
                return ev;
        }
        /* used up: the next seed's month, so every id stays new */
        sim_month_free(&src->m);
        src->params.seed++;
        src->params.end_ms = cf_time_now_ms();
        sim_month_generate(&src->params, &src->m);
        src->i = 0;
    }
}

static struct second *second_of(struct load *l, int64_t due_us)
{
    const size_t s = due_us > l->start_us ? (size_t)((due_us - l->start_us) / 1000000) : 0;
    if (s >= l->nsecs) {
        const size_t n = s + 1;
        l->secs = cf_xrealloc(l->secs, n * sizeof(*l->secs));
        memset(l->secs + l->nsecs, 0, (n - l->nsecs) * sizeof(*l->secs));
        l->nsecs = n;
    }
    return &l->secs[s];
}

/* sim_http's callback: one final answer (or none) of a request. */
static void on_done(void *arg, const struct sim_req *r, long status, const char *error,
                    const char *reply)
{
    struct load *l = arg;
    if (dni_followup(l, r, status, reply))
        return;
    const double ms = (double)(sim_http_now_us() - r->due_us) / 1000.0;
    struct counts *k = &l->kinds[kind_index(r->kind)];
    struct second *sec = second_of(l, r->due_us);
    if (status == 0) {
        l->all.failed++;
        k->failed++;
        sec->c.failed++;
        size_t i = 0;
        while (i < l->nreasons && strcmp(l->reasons[i].reason, error) != 0)
            i++;
        if (i == l->nreasons && l->nreasons < LOAD_REASONS)
            l->reasons[l->nreasons++].reason = error;
        if (i < l->nreasons)
            l->reasons[i].n++;
        return;
    }
    if (status >= 200 && status < 300) {
        l->all.ok++;
        k->ok++;
        sec->c.ok++;
    } else {
        l->all.refused++;
        k->refused++;
        sec->c.refused++;
        sec->s503 += status == 503;
    }
    if (ms > sec->max_ms)
        sec->max_ms = ms;
    add_sample(&l->lat, ms);
    add_sample(&l->kind_lat[kind_index(r->kind)], ms);
    size_t i = 0;
    while (i < l->nstatuses && l->statuses[i].status != status)
        i++;
    if (i == l->nstatuses && l->nstatuses < LOAD_STATUSES) {
        l->statuses[i].status = status;
        l->statuses[i].sample = status >= 300 ? cf_xstrdup(reply) : NULL;
        l->nstatuses++;
    }
    if (i < l->nstatuses)
        l->statuses[i].n++;
}

static json_t *percentiles(struct samples *s)
{
    sim_latency_sort(s->v, s->n);
    return json_pack("{s:f, s:f, s:f, s:f, s:f}", "p50", sim_percentile(s->v, s->n, 0.5), "p90",
                     sim_percentile(s->v, s->n, 0.9), "p99", sim_percentile(s->v, s->n, 0.99),
                     "p999", sim_percentile(s->v, s->n, 0.999), "max",
                     sim_percentile(s->v, s->n, 1.0));
}

static json_t *counts_json(const struct counts *c)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "sent", (json_int_t)c->sent, "acknowledged",
                     (json_int_t)c->ok, "refused", (json_int_t)c->refused, "failed",
                     (json_int_t)c->failed);
}

/* The report as one JSON object (new reference); the text report reads it
 * too, so the two never disagree. */
static json_t *report_json(struct load *l, const struct sim_args *args, int64_t started_at_ms,
                           double send_s, double elapsed_s, long unanswered)
{
    json_t *j_kinds = json_array(), *j_by_kind = json_object(), *j_status = json_object(),
           *j_samples = json_object(), *j_fail = json_object(), *j_time = json_array();
    for (int k = 0; k < LOAD_KINDS; k++) {
        if (!(args->kinds & (1 << k)))
            continue;
        json_array_append_new(j_kinds, json_string(kind_names[k]));
        json_t *j_k = counts_json(&l->kinds[k]);
        json_object_set_new(j_k, "latency_ms", percentiles(&l->kind_lat[k]));
        json_object_set_new(j_by_kind, kind_names[k], j_k);
    }
    for (size_t i = 0; i < l->nstatuses; i++) {
        char code[16];
        snprintf(code, sizeof(code), "%ld", l->statuses[i].status);
        json_object_set_new(j_status, code, json_integer(l->statuses[i].n));
        if (l->statuses[i].sample)
            json_object_set_new(j_samples, code, json_string(l->statuses[i].sample));
    }
    for (size_t i = 0; i < l->nreasons; i++)
        json_object_set_new(j_fail, l->reasons[i].reason, json_integer(l->reasons[i].n));
    if (unanswered > 0)
        json_object_set_new(j_fail, "no answer before the end", json_integer(unanswered));
    for (size_t s = 0; s < l->nsecs; s++) {
        const struct second *sec = &l->secs[s];
        json_array_append_new(j_time, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "s",
                                                (json_int_t)s, "sent", (json_int_t)sec->c.sent,
                                                "not_sent", (json_int_t)sec->not_sent,
                                                "acknowledged", (json_int_t)sec->c.ok, "refused",
                                                (json_int_t)sec->c.refused, "refused_503",
                                                (json_int_t)sec->s503, "failed",
                                                (json_int_t)sec->c.failed, "max_ms", sec->max_ms));
    }
    json_t *j = json_pack(
        "{s:s, s:f, s:f, s:f, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "mode",
        "load", "rate", args->rate, "duration_s", send_s, "elapsed_s", elapsed_s, "concurrency",
        (json_int_t)args->concurrency, "started_at_ms", (json_int_t)started_at_ms, "kinds", j_kinds,
        "offered", (json_int_t)l->offered, "sent", (json_int_t)l->all.sent, "not_sent",
        (json_int_t)l->not_sent, "acknowledged", (json_int_t)l->all.ok, "refused",
        (json_int_t)l->all.refused, "failed", (json_int_t)(l->all.failed + unanswered),
        "unanswered", (json_int_t)unanswered, "sent_per_s",
        send_s > 0 ? (double)l->all.sent / send_s : 0.0, "acknowledged_per_s",
        send_s > 0 ? (double)l->all.ok / send_s : 0.0);
    json_object_set_new(j, "latency_ms", percentiles(&l->lat));
    json_object_set_new(j, "schedule_lag_ms", percentiles(&l->lag));
    json_object_set_new(j, "by_kind", j_by_kind);
    json_object_set_new(j, "by_status", j_status);
    json_object_set_new(j, "refusal_samples", j_samples);
    json_object_set_new(j, "failures", j_fail);
    json_object_set_new(j, "timeline", j_time);
    if (args->kinds & SIM_LOAD_DNI) {
        json_t *j_dni = counts_json(&l->dni_calls);
        json_object_set_new(j_dni, "default_number", json_integer(l->dni_default));
        json_object_set_new(j, "dni_calls", j_dni);
    }
    return j;
}

static double num(const json_t *j, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(j, path1);
    return json_number_value(path2 ? json_object_get(v, path2) : v);
}

static void print_text(const json_t *j)
{
    const json_t *j_lat = json_object_get(j, "latency_ms");
    printf("load: %.1f s at %g/s (%.1f/s sent), concurrency %.0f\n", num(j, "duration_s", NULL),
           num(j, "rate", NULL), num(j, "sent_per_s", NULL), num(j, "concurrency", NULL));
    printf("requests  %.0f offered, %.0f sent, %.0f not sent (concurrency cap)\n",
           num(j, "offered", NULL), num(j, "sent", NULL), num(j, "not_sent", NULL));
    printf("answers   %.0f acknowledged (2xx, %.1f/s), %.0f refused (other statuses), %.0f "
           "failed (no answer)\n",
           num(j, "acknowledged", NULL), num(j, "acknowledged_per_s", NULL),
           num(j, "refused", NULL), num(j, "failed", NULL));
    printf("latency   p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (from the due time)\n",
           num(j_lat, "p50", NULL), num(j_lat, "p90", NULL), num(j_lat, "p99", NULL),
           num(j_lat, "max", NULL));
    printf("lag       p99 %.1f ms, max %.1f ms behind schedule when sent\n",
           num(j, "schedule_lag_ms", "p99"), num(j, "schedule_lag_ms", "max"));
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(j, "by_kind"), key, v)
    {
        printf("%-9s %.0f sent, %.0f acknowledged, %.0f refused, %.0f failed; p50 %.1f ms, p99 "
               "%.1f ms\n",
               key, num(v, "sent", NULL), num(v, "acknowledged", NULL), num(v, "refused", NULL),
               num(v, "failed", NULL), num(v, "latency_ms", "p50"), num(v, "latency_ms", "p99"));
    }
    const json_t *j_dni = json_object_get(j, "dni_calls");
    if (j_dni)
        printf("dni calls %.0f sent, %.0f acknowledged, %.0f refused, %.0f failed; %.0f visitors "
               "shown the default number\n",
               num(j_dni, "sent", NULL), num(j_dni, "acknowledged", NULL),
               num(j_dni, "refused", NULL), num(j_dni, "failed", NULL),
               num(j_dni, "default_number", NULL));
    printf("statuses ");
    json_object_foreach(json_object_get(j, "by_status"), key, v)
        printf(" %s: %lld", key, json_integer_value(v));
    printf("\n");
    json_object_foreach(json_object_get(j, "failures"), key, v)
        printf("failed    %lld: %s\n", json_integer_value(v), key);
    json_object_foreach(json_object_get(j, "refusal_samples"), key, v)
        printf("first %s  %s\n", key, json_string_value(v));
}

int sim_load_run(const struct sim_args *args, const struct sim_network *net,
                 const struct sim_targets *t, const sigset_t *sigs)
{
    struct source src;
    struct load l = {0};
    const double need = args->rate * (double)args->duration + 16;
    if (source_init(&src, args, need) != 0) {
        fprintf(stderr, "clinicflow-sim: the month has no events of the kinds asked\n");
        sim_month_free(&src.m);
        return 2;
    }
    struct sim_http *h = sim_http_new((int)args->concurrency, 0, 0);
    l.h = h;
    l.net = net;
    l.t = t;
    sim_http_on_done(h, on_done, &l);
    const double interval_us = 1e6 / args->rate;
    const long total = (long)(args->rate * (double)args->duration + 0.5);
    const int64_t started_at_ms = cf_time_now_ms();
    l.start_us = sim_http_now_us();
    struct timespec zero = {0, 0};
    int stopped = 0;

    /* Only a signal ends it early: a wake-up after the last due time (a
     * busy machine) still offers every request due by then, late. */
    while (l.offered < total) {
        const int64_t now = sim_http_now_us();
        if (sigtimedwait(sigs, NULL, &zero) > 0) {
            stopped = 1;
            break;
        }
        int64_t due;
        while (l.offered < total &&
               (due = l.start_us + (int64_t)((double)l.offered * interval_us)) <= now) {
            l.offered++;
            const struct sim_ev *ev = source_next(&src);
            /* queued counts as on the wire: it goes out at the next step */
            if (sim_http_count(h) - sim_http_done(h) >= (size_t)args->concurrency) {
                l.not_sent++;
                second_of(&l, due)->not_sent++;
                continue;
            }
            const size_t idx = sim_http_count(h);
            const int dni = (args->kinds & SIM_LOAD_DNI) && sim_dni_call(ev);
            sim_queue_event(h, net, t, &src.m, ev, cf_time_now_ms() - ev->at_ms, NULL, dni);
            sim_http_set_due(h, idx, due);
            const int k = ev->kind == SIM_LEAD ? 1 : dni ? 2 : 0;
            l.all.sent++;
            l.kinds[k].sent++;
            second_of(&l, due)->c.sent++;
            add_sample(&l.lag, (double)(now - due) / 1000.0);
        }
        sim_http_step(h, 0);
        const int64_t next = l.start_us + (int64_t)((double)l.offered * interval_us);
        const int64_t wait_us = next - sim_http_now_us();
        if (wait_us > 0)
            sim_http_step(h, (int)((wait_us + 999) / 1000));
    }
    const double send_s = (double)(sim_http_now_us() - l.start_us) / 1e6;
    /* the answers still on the way count: wait for them, bounded (a signal
     * during the run or the wait ends it at once) */
    const int64_t drain = cf_time_mono_ms() + DRAIN_MS;
    while (!stopped && sim_http_step(h, 100) > 0 && cf_time_mono_ms() < drain)
        if (sigtimedwait(sigs, NULL, &zero) > 0)
            break;
    const long unanswered = (long)(sim_http_count(h) - sim_http_done(h));
    const double elapsed_s = (double)(sim_http_now_us() - l.start_us) / 1e6;
    json_t *j = report_json(&l, args, started_at_ms, send_s, elapsed_s, unanswered);
    if (args->json) {
        char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
        printf("%s\n", text);
        free(text);
    } else {
        print_text(j);
    }
    fflush(stdout);
    /* every request answered, whatever the answer: refusals are results */
    const int rc = l.all.failed > 0 || l.dni_calls.failed > 0 || unanswered > 0 ? 1 : 0;
    json_decref(j);
    sim_http_free(h);
    sim_month_free(&src.m);
    free(l.lat.v);
    free(l.lag.v);
    for (int k = 0; k < LOAD_KINDS; k++)
        free(l.kind_lat[k].v);
    for (size_t i = 0; i < l.nstatuses; i++)
        free(l.statuses[i].sample);
    free(l.secs);
    return rc;
}
