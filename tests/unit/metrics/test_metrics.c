/*
 * Unit tests for the metrics registry: the exact text exposition output
 * (HELP/TYPE per family, sorting, label placement, cumulative histogram
 * buckets with _sum and _count), bucket boundaries, reset, and updates
 * from several threads.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

#include "cftest.h"

static void test_render_exact(void)
{
    cf_metrics_reset();
    cf_metrics_describe("t_requests_total", "counter", "Requests seen");
    cf_metrics_add("t_requests_total", "route=\"/b\",status=\"200\"", 1);
    cf_metrics_add("t_requests_total", "route=\"/a\",status=\"200\"", 2);
    cf_metrics_add("t_requests_total", "route=\"/b\",status=\"200\"", 1);
    cf_metrics_set("t_gauge", "", 2.5);
    cf_metrics_describe("t_empty", "gauge", "Nothing yet\\ here\nsecond line");
    cf_metrics_describe("t_latency_seconds", "histogram", "Latency");
    /* Binary-exact values so the sum prints exactly. */
    const double obs[] = {0.0009765625, 0.00390625, 0.125, 20, 0.5};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        cf_metrics_observe("t_latency_seconds", "route=\"/a\"", obs[i]);

    const char *want = "# HELP t_empty Nothing yet\\\\ here\\nsecond line\n"
                       "# TYPE t_empty gauge\n"
                       "# TYPE t_gauge gauge\n"
                       "t_gauge 2.5\n"
                       "# HELP t_latency_seconds Latency\n"
                       "# TYPE t_latency_seconds histogram\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"0.001\"} 1\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"0.0025\"} 1\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"0.005\"} 2\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"0.01\"} 2\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"0.025\"} 2\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"0.05\"} 2\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"0.25\"} 3\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 4\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"1\"} 4\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"2.5\"} 4\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"5\"} 4\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"10\"} 4\n"
                       "t_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 5\n"
                       "t_latency_seconds_sum{route=\"/a\"} 20.6298828125\n"
                       "t_latency_seconds_count{route=\"/a\"} 5\n"
                       "# HELP t_requests_total Requests seen\n"
                       "# TYPE t_requests_total counter\n"
                       "t_requests_total{route=\"/a\",status=\"200\"} 2\n"
                       "t_requests_total{route=\"/b\",status=\"200\"} 2\n";
    char *text = cf_metrics_render();
    CHECK_STR(text, want);
    free(text);
}

static void test_histogram_edges(void)
{
    cf_metrics_reset();
    /* Not described: the first observe makes it a histogram. */
    cf_metrics_observe("t_h", "", 0.001); /* on the bound: le is inclusive */
    cf_metrics_observe("t_h", "", 10);
    cf_metrics_observe("t_h", "", 10.5);
    char *text = cf_metrics_render();
    CHECK(strstr(text, "# TYPE t_h histogram\n") != NULL);
    CHECK(strstr(text, "# HELP t_h") == NULL);
    CHECK(strstr(text, "t_h_bucket{le=\"0.001\"} 1\n") != NULL);
    CHECK(strstr(text, "t_h_bucket{le=\"5\"} 1\n") != NULL);
    CHECK(strstr(text, "t_h_bucket{le=\"10\"} 2\n") != NULL);
    CHECK(strstr(text, "t_h_bucket{le=\"+Inf\"} 3\n") != NULL);
    CHECK(strstr(text, "t_h_count 3\n") != NULL);
    const char *sum = strstr(text, "t_h_sum ");
    CHECK(sum != NULL && fabs(strtod(sum + 8, NULL) - 20.501) < 1e-9);
    free(text);
}

static void test_kinds_and_reset(void)
{
    cf_metrics_reset();
    cf_metrics_add("t_untyped_counter", "x=\"1\"", 3);
    cf_metrics_set("t_g", "", 7);
    cf_metrics_set("t_g", "", -1);
    cf_metrics_describe("t_c_total", "counter", "Described after use");
    cf_metrics_add("t_c_total", "", 1);
    cf_metrics_set("t_c_total", "", 41); /* a sampled counter */
    cf_metrics_add("t_c_total", "", 1);
    cf_metrics_observe("t_g", "", 1); /* wrong kind: ignored */
    char *text = cf_metrics_render();
    CHECK(strstr(text, "# TYPE t_untyped_counter counter\nt_untyped_counter{x=\"1\"} 3\n") != NULL);
    CHECK(strstr(text, "# TYPE t_g gauge\nt_g -1\n") != NULL);
    CHECK(strstr(text, "# HELP t_c_total Described after use\n# TYPE t_c_total counter\n"
                       "t_c_total 42\n") != NULL);
    CHECK(strstr(text, "t_g_bucket") == NULL);
    /* Families in name order. */
    const char *c = strstr(text, "t_c_total"), *g = strstr(text, "t_g "),
               *u = strstr(text, "t_untyped_counter");
    CHECK(c && g && u && c < g && g < u);
    free(text);

    cf_metrics_reset();
    text = cf_metrics_render();
    CHECK_STR(text, "");
    free(text);
}

#define THREADS 4
#define PER_THREAD 20000

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        cf_metrics_add("t_par_total", "k=\"v\"", 1);
        cf_metrics_observe("t_par_seconds", "", 0.002);
    }
    return NULL;
}

static void test_threads(void)
{
    cf_metrics_reset();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, adder, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *text = cf_metrics_render();
    CHECK(strstr(text, "t_par_total{k=\"v\"} 80000\n") != NULL);
    CHECK(strstr(text, "t_par_seconds_count 80000\n") != NULL);
    CHECK(strstr(text, "t_par_seconds_bucket{le=\"0.0025\"} 80000\n") != NULL);
    CHECK(strstr(text, "t_par_seconds_bucket{le=\"0.001\"} 0\n") != NULL);
    free(text);
    cf_metrics_reset();
}

int main(void)
{
    test_render_exact();
    test_histogram_edges();
    test_kinds_and_reset();
    test_threads();
    return cf_test_done();
}
