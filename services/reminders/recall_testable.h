/*
 * When a patient is due a recall, as pure functions (recall_rules.c): the
 * threshold of each service category, the due moment from what the store
 * knows of the patient. No I/O; unit-tested.
 */
#ifndef CF_REMINDERS_RECALL_TESTABLE_H
#define CF_REMINDERS_RECALL_TESTABLE_H

#include <stdint.h>

#include <jansson.h>

#include "plan_testable.h"

/* A completed visit this close before the record's last_visit_at is taken
 * for the visit that date names (an MIS writes the day, the start or the
 * end of it there), so the date adds no visit of its own. */
#define RECALL_SAME_VISIT_MS (24 * 3600000LL)

/* Unix milliseconds ms plus months calendar months, in UTC, the day of the
 * month kept or cut to the month's last (31 January + 1 month is 28 or 29
 * February), the time of day kept: what PostgreSQL's timestamp + interval
 * does, so the store's pre-selection and this rule agree to the
 * millisecond. */
int64_t recall_add_months(int64_t ms, int months);

/* The months after a visit of category (a service_category; "" or NULL
 * for none) when the patient is due back: the policy's
 * recall_months_by_category for it, else recall_months. */
int recall_months_for(const struct plan_policy *p, const char *category);

/* The fewest months of any category, the default included: the store
 * pre-selects patients with a visit at least this long ago. */
int recall_min_months(const struct plan_policy *p);

/* When a patient is due a recall. j_patient is what the store read:
 * {"recall_at": ms or null, "last_visit_at": ms or null,
 *  "visits": {"<category or empty>": ms of the latest completed visit}}.
 * The doctor-set recall_at wins, earlier or later than the visits say,
 * until a visit at or after it answers it. Otherwise the earliest of each
 * category's latest visit plus that category's months (any category due
 * makes the patient due); last_visit_at counts as a visit of no category
 * unless a completed visit starts within RECALL_SAME_VISIT_MS before it or
 * later. 0 with *due_ms, or CF_ENOTFOUND when no visit and no recall date
 * is known. */
int recall_due(const struct plan_policy *p, const json_t *j_patient, int64_t *due_ms);

#endif
