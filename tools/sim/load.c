/*
 * The open-loop load generator: a request every 1/RATE seconds by the
 * clock, whether or not earlier ones were answered, so a slow service
 * shows as latency and refusals rather than as a lower offered rate. When
 * the concurrency cap is full at a send time, that request is not sent and
 * counted as "not sent": queueing it would turn the load closed-loop. The
 * requests are the model's calls and leads, re-dated to the moment they go
 * out, with ids of a seed drawn from the clock so each run is new traffic.
 */
#include "modes.h"

#include <stdio.h>
#include <time.h>

#include "common/time.h"
#include "report.h"

int sim_load_run(const struct sim_args *args, const struct sim_network *net,
                 const struct sim_targets *t, const sigset_t *sigs)
{
    struct sim_month m;
    const int64_t now = cf_time_now_ms();
    const struct sim_params params = {
        .seed = args->seed ^ (uint64_t)now, .days = 30, .scale = args->scale, .end_ms = now};
    sim_month_generate(&params, &m);
    struct sim_http *h = sim_http_new((int)args->concurrency, 0, 0);
    const int64_t start = cf_time_mono_ms(), end = start + args->duration * 1000;
    const double interval_ms = 1000.0 / args->rate;
    double next = (double)start;
    long not_sent = 0, offered = 0;
    size_t i = 0;
    struct timespec zero = {0, 0};

    while (m.nevs > 0) {
        const int64_t mono = cf_time_mono_ms();
        if (mono >= end || sigtimedwait(sigs, NULL, &zero) > 0)
            break;
        while ((double)mono >= next && next < (double)end) {
            next += interval_ms;
            offered++;
            /* the next call or lead of the month, round and round */
            const struct sim_ev *ev;
            do {
                ev = &m.evs[i++ % m.nevs];
            } while (ev->kind != SIM_CALL && ev->kind != SIM_LEAD);
            if (sim_http_running(h) >= (size_t)args->concurrency) {
                not_sent++;
                continue;
            }
            sim_queue_event(h, net, t, &m, ev, cf_time_now_ms() - ev->at_ms, NULL);
            sim_http_step(h, 0);
        }
        const double wait = next - (double)cf_time_mono_ms();
        sim_http_step(h, wait > 1 ? (int)wait : 1);
    }
    /* the answers still on the way count: wait for them, bounded */
    const int64_t drain = cf_time_mono_ms() + 30000;
    while (sim_http_step(h, 100) > 0 && cf_time_mono_ms() < drain)
        ;
    const double secs = (double)(cf_time_mono_ms() - start) / 1000.0;
    struct sim_http_stats *s = sim_http_stats(h);
    const double p50 = sim_report_percentile(s, 0.5), p90 = sim_report_percentile(s, 0.9),
                 p99 = sim_report_percentile(s, 0.99), max = sim_report_percentile(s, 1.0);
    if (args->json) {
        printf("{\"mode\":\"load\",\"rate\":%g,\"duration_s\":%.1f,\"concurrency\":%ld,"
               "\"offered\":%ld,\"sent\":%ld,\"acknowledged\":%ld,\"refused\":%ld,"
               "\"failed\":%ld,\"not_sent\":%ld,\"latency_ms\":{\"p50\":%.1f,\"p90\":%.1f,"
               "\"p99\":%.1f,\"max\":%.1f}}\n",
               args->rate, secs, args->concurrency, offered, s->sent, s->ok, s->refused, s->failed,
               not_sent, p50, p90, p99, max);
    } else {
        printf("load: %.1f s at %g/s, concurrency %ld\n", secs, args->rate, args->concurrency);
        printf("requests  %ld offered, %ld sent, %ld not sent (concurrency cap)\n", offered,
               s->sent, not_sent);
        printf("answers   %ld acknowledged (2xx), %ld refused (4xx/5xx), %ld failed "
               "(connection)\n",
               s->ok, s->refused, s->failed);
        printf("latency   p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n", p50, p90, p99,
               max);
    }
    const int rc = s->failed > 0 || s->refused > 0 ? 1 : 0;
    sim_http_free(h);
    sim_month_free(&m);
    return rc;
}
