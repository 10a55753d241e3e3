/*
 * Campaign pacing (pace_testable.h). The seeds' front desk follows up 6-8
 * campaign calls an hour per administrator, so the contacts that can end
 * in a call for a person (a recall, a re-invite) are released at most
 * seats x tasks_per_seat_hour a clinic a clock hour of its own zone (an
 * hour from 10:00 local, also where the offset is not whole hours), only
 * inside the calling windows; what the budget leaves waits for the next
 * hour rather than being dropped. A visit's own reminders are never
 * paced: they are due before the visit or not at all.
 */
#include "pace_testable.h"

#include "common/time.h"

int pace_budget(const struct plan_policy *p)
{
    return p->seats * p->tasks_per_seat_hour;
}

int64_t pace_hour(const struct plan_policy *p, int64_t now_ms)
{
    return cf_time_hour_start(&p->windows, now_ms);
}

int pace_release(const struct plan_policy *p, int64_t now_ms, int released, int64_t *later_ms)
{
    const int64_t hour_end = pace_hour(p, now_ms) + PACE_HOUR_MS;
    const int open = cf_time_is_open(&p->windows, now_ms);
    const int left = pace_budget(p) - released;
    const int may = open && left > 0 ? left : 0;
    if (cf_time_next_allowed(&p->windows, open ? hour_end : now_ms, later_ms) != 0 ||
        *later_ms <= now_ms)
        *later_ms = hour_end;
    return may;
}

int pace_enrol(const struct plan_policy *p, int pending)
{
    const int room = pace_budget(p) - pending;
    return room > 0 ? room : 0;
}
