/*
 * The model's private functions, visible to tests/unit/sim (CF_TESTABLE).
 */
#ifndef CF_SIM_SIM_TESTABLE_H
#define CF_SIM_SIM_TESTABLE_H

#include <stdint.h>

#include "common/testable.h"
#include "sim.h"

struct sim_rng {
    uint64_t state;
};

#ifdef CF_UNIT_TEST
void sim_rng_init(struct sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(struct sim_rng *r);
int64_t sim_draw_time(struct sim_rng *r, const struct sim_params *p, int64_t margin_ms);
/* The same at the hours people write: around the clock, the evening most. */
int64_t sim_draw_lead_time(struct sim_rng *r, const struct sim_params *p, int64_t margin_ms);
int sim_in_holdout(const char *tag, uint32_t person);
/* The moment the clinic's front desk has worked working_min minutes since
 * at (its weekly hours, local). */
int64_t sim_reply_at(int clinic, int64_t at, int working_min);
#endif

#endif
