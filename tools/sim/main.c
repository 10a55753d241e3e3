/*
 * clinicflow-sim: a demo network's month through the services' public
 * interfaces (sim.h, README.md).
 *
 *   clinicflow-sim --month [--days 30] [--scale 1] [--seed 1] [--json]
 *   clinicflow-sim --live
 *   clinicflow-sim --load RATE --duration S --concurrency N [--kinds calls,leads]
 *
 * The data path of --month, in order: read the network file -> generate
 * the month from the seed -> turn each event into its provider's signed
 * request -> send them in the month's order, at most --concurrency at
 * once -> print what was sent. --live sends the same month moved forward
 * so that it starts now, each event at its wall-clock time.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "args.h"
#include "common/time.h"
#include "common/xmalloc.h"
#include "http.h"
#include "modes.h"
#include "report.h"
#include "sim.h"

static void progress(size_t done, size_t total, int final)
{
    static int64_t last;
    const int64_t now = cf_time_mono_ms();
    if (!final && now - last < 100)
        return;
    last = now;
    const int width = 40, filled = total ? (int)((double)done / (double)total * width) : width;
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu", filled, "########################################",
            width - filled, "", done, total);
    if (final)
        fputc('\n', stderr);
}

static int run_month(const struct sim_args *args, const struct sim_network *net,
                     const struct sim_targets *t, const struct sim_month *m, const sigset_t *sigs)
{
    struct sim_http *h = sim_http_new((int)args->concurrency, 5, 1);
    struct sim_deps *deps = sim_deps_new(m);
    const int tty = isatty(STDERR_FILENO);
    struct timespec zero = {0, 0};
    int interrupted = 0;
    for (size_t i = 0; i < m->nevs; i++)
        sim_queue_event(h, net, t, m, &m->evs[i], 0, deps, 0);
    while (sim_http_step(h, 100) > 0) {
        if (tty)
            progress(sim_http_done(h), sim_http_count(h), 0);
        if (sigtimedwait(sigs, NULL, &zero) > 0) {
            interrupted = 1;
            break;
        }
    }
    if (tty)
        progress(sim_http_done(h), sim_http_count(h), 1);
    struct sim_http_stats *s = sim_http_stats(h);
    sim_report_month(stdout, m, s, 0, args->json);
    const int rc = interrupted || s->refused > 0 || s->failed > 0 ? 1 : 0;
    sim_deps_free(deps);
    sim_http_free(h);
    return rc;
}

struct live {
    struct sim_http *h;
    const struct sim_network *net;
    const struct sim_targets *t;
    long dni_calls, dni_default;
};

/* A site visitor's page got its number: the visitor calls it. */
static void live_done(void *arg, const struct sim_req *r, long status, const char *error,
                      const char *reply)
{
    (void)error;
    struct live *l = arg;
    const int followed = sim_dni_follow(l->h, l->net, l->t, r, status, reply);
    l->dni_calls += followed == 1;
    l->dni_default += followed == 0;
}

/* The month moved forward by offset (sim_live_params): it starts now and
 * each event goes at its wall-clock time, until the month is over or a
 * signal. The call centre's calls from site visitors go through DNI. */
static int run_live(const struct sim_args *args, const struct sim_network *net,
                    const struct sim_targets *t, const struct sim_month *m, int64_t offset,
                    const sigset_t *sigs)
{
    struct sim_http *h = sim_http_new((int)args->concurrency, 5, 1);
    struct live live = {.h = h, .net = net, .t = t};
    sim_http_on_done(h, live_done, &live);
    struct sim_deps *deps = sim_deps_new(m);
    size_t i = 0, sent = 0, logged = 0, contacts = 0;
    for (;;) {
        const int64_t now = cf_time_now_ms();
        while (i < m->nevs && m->evs[i].at_ms + offset <= now) {
            const struct sim_ev *ev = &m->evs[i++];
            /* the demo month registered the patient base, the same
             * patients (sim_live_params): the MIS sends a patient again
             * only when it changes */
            if (ev->kind == SIM_PATIENT && m->persons[ev->person].existing)
                continue;
            /* visits booked ahead are reminded, and patients recalled, by
             * the reminders service itself: there is no history before it */
            if (ev->kind == SIM_REMINDERS || ev->kind == SIM_RECALL)
                continue;
            contacts += ev->kind == SIM_CALL || ev->kind == SIM_LEAD;
            sent++;
            sim_queue_event(h, net, t, m, ev, offset, deps, 1);
        }
        if (i == m->nevs && sim_http_step(h, 0) == 0)
            break;
        const int64_t next = i < m->nevs ? m->evs[i].at_ms + offset - now : 1000;
        sim_http_step(h, (int)(next < 200 ? (next > 0 ? next : 0) : 200));
        struct timespec zero = {0, 0};
        if (sigtimedwait(sigs, NULL, &zero) > 0)
            break;
        if (!args->json && isatty(STDERR_FILENO)) {
            fprintf(stderr, "\rlive: %zu of the month's %zu events due, %zu sent", i, m->nevs,
                    sent);
        } else if (sent != logged) { /* a log line as events go out, for whoever watches */
            fprintf(stderr,
                    "live: %zu events sent, %zu of them calls and leads, %ld calls through DNI "
                    "(%ld visitors shown the default number)\n",
                    sent, contacts, live.dni_calls, live.dni_default);
            logged = sent;
        }
    }
    const int64_t drain = cf_time_mono_ms() + 30000;
    while (sim_http_step(h, 100) > 0 && cf_time_mono_ms() < drain)
        ;
    if (!args->json && isatty(STDERR_FILENO))
        fputc('\n', stderr);
    struct sim_http_stats *s = sim_http_stats(h);
    sim_report_month(stdout, m, s, offset, args->json);
    sim_deps_free(deps);
    sim_http_free(h);
    return 0;
}

int main(int argc, char **argv)
{
    struct sim_args args;
    struct sim_network net;
    char errbuf[512];
    int rc = sim_args_parse(argc, argv, &args);
    if (rc != 0) {
        sim_args_free(&args);
        return rc == 1 ? 0 : 2;
    }
    if (sim_network_load(args.network, &net, errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr, "clinicflow-sim: %s\n", errbuf);
        sim_args_free(&args);
        return 2;
    }
    /* signals are taken with sigtimedwait between steps, never by a handler */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    const struct sim_targets t = {.calls = args.calls,
                                  .leads = args.leads,
                                  .reminders = args.reminders,
                                  .analytics = args.analytics,
                                  .ingest_key = args.ingest_key};
    if (args.mode == SIM_MODE_LOAD) {
        rc = sim_load_run(&args, &net, &t, &sigs);
    } else {
        struct sim_month m;
        /* the month ends at the hour: a run again within it is the same
         * month */
        struct sim_params params = {.seed = args.seed,
                                    .days = (int)args.days,
                                    .scale = args.scale,
                                    .end_ms = cf_time_now_ms() / 3600000 * 3600000};
        int64_t offset = 0;
        if (args.mode == SIM_MODE_LIVE)
            offset =
                sim_live_params(args.seed, (int)args.days, args.scale, cf_time_now_ms(), &params);
        sim_month_generate(&params, &m);
        rc = args.mode == SIM_MODE_LIVE ? run_live(&args, &net, &t, &m, offset, &sigs)
                                        : run_month(&args, &net, &t, &m, &sigs);
        sim_month_free(&m);
    }
    curl_global_cleanup();
    sim_network_free(&net);
    sim_args_free(&args);
    return rc;
}
