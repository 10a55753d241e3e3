/*
 * The totals at the end of a run (report.c): what was sent, by kind, and
 * what the model made that has no public way in for a past month.
 */
#ifndef CF_SIM_REPORT_H
#define CF_SIM_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "http.h"
#include "sim.h"

/* Prints the month's totals to f: one JSON object with json, else lines.
 * offset_ms: how far the month's events were moved forward when sent
 * (--live's; 0 for a past month), so its from and to are when they went. */
void sim_report_month(FILE *f, const struct sim_month *m, const struct sim_http_stats *s,
                      int64_t offset_ms, int json);

#endif
