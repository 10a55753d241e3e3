/*
 * When a patient is due a recall (recall_testable.h). Each service
 * category has its own threshold (a hygiene visit is due again after 6
 * months, an implant after 12), so a patient's due moment is the earliest
 * of their categories', each from the latest completed visit of that
 * category; a doctor's own recall date overrides all of them until a visit
 * answers it. Months are calendar months in UTC, the way the store's SQL
 * adds them, so the store's pre-selection never leaves out a patient this
 * rule would call due.
 */
#include "recall_testable.h"

#include "common/err.h"
#include "common/time.h"

#define DAY_MS 86400000LL

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t recall_add_months(int64_t ms, int months)
{
    const int64_t days = floor_div(ms, DAY_MS);
    const int64_t in_day = ms - days * DAY_MS;
    int year, month, day;
    cf_time_civil_from_days(days, &year, &month, &day);
    const int64_t m0 = (int64_t)(month - 1) + months;
    year += (int)floor_div(m0, 12);
    month = (int)(m0 - floor_div(m0, 12) * 12) + 1;
    const int64_t first = cf_time_days_from_civil(year, month, 1);
    const int64_t next = month == 12 ? cf_time_days_from_civil(year + 1, 1, 1)
                                     : cf_time_days_from_civil(year, month + 1, 1);
    if (day > next - first)
        day = (int)(next - first);
    return cf_time_days_from_civil(year, month, day) * DAY_MS + in_day;
}

int recall_months_for(const struct plan_policy *p, const char *category)
{
    const json_t *j_months =
        category && *category ? json_object_get(p->recall_by_category, category) : NULL;
    return json_is_integer(j_months) ? (int)json_integer_value(j_months) : p->recall_months;
}

int recall_min_months(const struct plan_policy *p)
{
    int least = p->recall_months;
    const char *category;
    json_t *j_months;
    json_object_foreach(p->recall_by_category, category, j_months)
    {
        if (json_is_integer(j_months) && json_integer_value(j_months) < least)
            least = (int)json_integer_value(j_months);
    }
    return least;
}

int recall_due(const struct plan_policy *p, const json_t *j_patient, int64_t *due_ms)
{
    const json_t *j_recall_at = json_object_get(j_patient, "recall_at");
    const json_t *j_last_visit = json_object_get(j_patient, "last_visit_at");
    int64_t due = 0, latest = 0;
    int have_due = 0, have_latest = 0;
    const char *category;
    json_t *j_at;

    json_object_foreach(json_object_get(j_patient, "visits"), category, j_at)
    {
        if (!json_is_integer(j_at))
            continue;
        const int64_t at = json_integer_value(j_at);
        const int64_t back = recall_add_months(at, recall_months_for(p, category));
        if (!have_due || back < due)
            due = back;
        if (!have_latest || at > latest)
            latest = at;
        have_due = have_latest = 1;
    }
    if (json_is_integer(j_last_visit)) {
        const int64_t at = json_integer_value(j_last_visit);
        /* a date no completed visit explains is a visit we were never told
         * the category of: the default threshold */
        if (!have_latest || latest < at - RECALL_SAME_VISIT_MS) {
            const int64_t back = recall_add_months(at, p->recall_months);
            if (!have_due || back < due)
                due = back;
            have_due = 1;
        }
        if (!have_latest || at > latest)
            latest = at;
        have_latest = 1;
    }
    if (json_is_integer(j_recall_at) &&
        !(have_latest && latest >= json_integer_value(j_recall_at))) {
        *due_ms = json_integer_value(j_recall_at);
        return 0;
    }
    if (!have_due)
        return CF_ENOTFOUND;
    *due_ms = due;
    return 0;
}
