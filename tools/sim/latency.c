/*
 * Percentiles by nearest rank over a sorted copy: exact for the tens of
 * thousands of answers a load run keeps, where an interpolating estimate
 * would report values no request had.
 */
#include "latency.h"

#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void sim_latency_sort(double *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(double), cmp_double);
}

double sim_percentile(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    /* the rank ceil(q * n), 1-based: p99 of 100 values is the 99th */
    const double rank = q * (double)n;
    size_t r = (size_t)rank;
    if ((double)r < rank)
        r++;
    if (r == 0)
        r = 1;
    return sorted[(r <= n ? r : n) - 1];
}
