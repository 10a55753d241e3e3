/*
 * Latency percentiles for --load's report (latency.c): pure, no I/O.
 */
#ifndef CF_SIM_LATENCY_H
#define CF_SIM_LATENCY_H

#include <stddef.h>

/* Sorts n latencies ascending, in place. */
void sim_latency_sort(double *v, size_t n);
/* The percentile q (0 < q <= 1) of n sorted values by nearest rank: the
 * smallest value that at least q of them do not exceed (q = 1 is the
 * maximum); 0 when n is 0. */
double sim_percentile(const double *sorted, size_t n, double q);

#endif
