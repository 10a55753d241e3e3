/*
 * Prometheus text-format metrics: counters, gauges and histograms keyed by
 * name and a label string. One process-wide registry behind a mutex; label
 * strings must be built from bounded sets (route templates, status codes,
 * topics), never raw paths or user input.
 */
#ifndef CF_COMMON_METRICS_H
#define CF_COMMON_METRICS_H

/* Registers a family's HELP and TYPE ("counter", "gauge", "histogram").
 * Histograms use the default latency buckets in seconds. */
void cf_metrics_describe(const char *name, const char *type, const char *help);

/* labels: Prometheus label text without braces, e.g. route="/v1/x",status="202"; may be "". */
void cf_metrics_add(const char *name, const char *labels, double delta);
void cf_metrics_set(const char *name, const char *labels, double value);
void cf_metrics_observe(const char *name, const char *labels, double value);

/* The whole registry in text exposition format (free() it). */
char *cf_metrics_render(void);
/* Frees the registry (at exit, after every thread has stopped). */
void cf_metrics_reset(void);

#endif
