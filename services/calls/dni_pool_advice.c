/*
 * The pool-size advice: how many numbers a clinic's pool needs. The route
 * reports the demand it saw (numbers held plus visitors a full pool turned
 * away, as Redis counts them); this instance keeps a decaying peak of it
 * per clinic (dni_local.c) and publishes the peak and the pool size it
 * suggests as gauges, so that the advice follows demand down as well as
 * up.
 */
#include "dni.h"

#include <math.h>
#include <stdio.h>

#include "common/metrics.h"

static void publish_peak(const char *clinic, double peak, void *arg)
{
    (void)arg;
    char labels[128];
    snprintf(labels, sizeof(labels), "clinic=\"%s\"", clinic);
    /* Hundredths: a peak decaying by a millionth is still the same visitors. */
    cf_metrics_set("clinicflow_dni_peak_concurrent_visitors", labels, round(peak * 100) / 100);
    cf_metrics_set("clinicflow_dni_suggested_pool_size", labels,
                   (double)calls_dni_suggested_pool(peak));
}

void calls_dni_note_demand(struct calls_ctx *ctx, const char *clinic, long demand)
{
    publish_peak(
        clinic,
        calls_dni_local_peak(clinic, demand, cf_time_mono_ms(), ctx->cfg.dni_peak_half_life_s),
        NULL);
}

void calls_dni_publish_peaks(struct calls_ctx *ctx, int64_t mono_ms)
{
    calls_dni_local_peaks_each(mono_ms, ctx->cfg.dni_peak_half_life_s, publish_peak, NULL);
}
