/*
 * Campaign pacing as pure functions (pace_rules.c): how many campaign
 * contacts (recall, re-invite) a clinic may release now, and how many the
 * recall may enrol, so the front desk gets no more follow-ups than its
 * seats can take. No I/O; unit-tested.
 */
#ifndef CF_REMINDERS_PACE_TESTABLE_H
#define CF_REMINDERS_PACE_TESTABLE_H

#include <stdint.h>

#include "plan_testable.h"

#define PACE_HOUR_MS 3600000LL

/* The contacts a clinic's front desk takes an hour: seats times
 * tasks_per_seat_hour. */
int pace_budget(const struct plan_policy *p);

/* The start of the clinic's local clock hour now_ms falls in (in the
 * zone of its calling windows): the budget's period. */
int64_t pace_hour(const struct plan_policy *p, int64_t now_ms);

/* How many of a clinic's due campaign jobs may go at now_ms when released
 * of them went since pace_hour(p, now_ms): the budget left, and none while
 * the calling windows are closed. *later_ms is when the others are due
 * again: the first window moment of the next hour once the budget is
 * spent, the next window moment when the windows are closed (the end of
 * the hour if they never open again, so a job is looked at, never sent,
 * outside them). Never negative. */
int pace_release(const struct plan_policy *p, int64_t now_ms, int released, int64_t *later_ms);

/* How many more patients the recall may give a job now when pending
 * campaign jobs of the clinic are already waiting: the budget less those,
 * never negative. Enrolling no more than an hour's contacts keeps a
 * campaign member's due time true and a waiting patient from being
 * enrolled twice. */
int pace_enrol(const struct plan_policy *p, int pending);

#endif
