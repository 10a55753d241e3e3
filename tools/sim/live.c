/*
 * The live trickle's month (sim.h, sim_live_params): the demo month made
 * again for the weeks before now and moved forward by whole weeks, with
 * the demo month's patient base. main.c runs it; model.c makes it.
 */
#include "sim.h"

#include <stdint.h>

#define DAY_MS 86400000LL

int64_t sim_live_params(uint64_t seed, int days, double scale, int64_t now_ms,
                        struct sim_params *out)
{
    /* the month ends at the hour: a run again within it is the same month */
    const int64_t hour = now_ms / 3600000;
    /* moved by whole weeks, never by the month's length (30 days would put
     * Monday's traffic on Wednesday, and replies reckoned by the front
     * desk's hours on the days it is closed); Moscow keeps no summer time,
     * so a week is always 7 x 24 h there */
    const int64_t offset = (int64_t)((days + 6) / 7) * 7 * DAY_MS;
    /* the patient base is the demo month's: the trickle's patients call
     * and book as the ones the services have, rather than a second base
     * nobody registered (or, sent, one that would double the network's
     * patients with every trickle) */
    *out = (struct sim_params){.seed = seed * 1000003ULL + (uint64_t)hour,
                               .has_base_seed = 1,
                               .base_seed = seed,
                               .days = days,
                               .scale = scale,
                               .end_ms = hour * 3600000 + days * DAY_MS - offset};
    return offset;
}
