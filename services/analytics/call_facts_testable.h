/*
 * What analytics keeps of a call and of a task, as pure functions of the
 * event's data (proto/README.md, "Analytics reports"): the row of
 * analytics.calls or analytics.tasks, and what a call adds to the hourly
 * rollup. The rows are JSON objects whose members are the tables' columns,
 * so a stored row read back as JSON is the same shape as a new one: a
 * call's change is new row minus stored row (an_rollup_add with sign -1
 * and +1). No I/O; the unit tests call these directly.
 */
#ifndef CF_ANALYTICS_CALL_FACTS_TESTABLE_H
#define CF_ANALYTICS_CALL_FACTS_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The rollup's dimensions (analytics.calls_hourly's key after network_id
 * and hour), in key order; each a text column, "" when the call has none. */
#define AN_CALL_NDIMS 7
extern const char *const an_call_dims[AN_CALL_NDIMS];

/* The counts a call adds, in column order: 0 or 1 each, the *_seconds
 * the seconds. Every one is 0 until the call has ended. */
#define AN_CALL_NCOUNTS 12
extern const char *const an_call_counts[AN_CALL_NCOUNTS];

/* The local hour of ms in zone tz, as PostgreSQL reads a timestamp:
 * "2026-11-22 08:00:00". 0, or CF_EINVAL (unknown zone). */
int an_local_hour(const char *tz, int64_t ms, char out[20]);

/* The analytics.calls row of a call.* event's data (the call as folded so
 * far) in network network_id, hours in zone tz: a new object, or NULL
 * with the reason (a call without call_id, direction or a valid
 * started_at cannot be placed: the DLQ's). */
json_t *an_call_row(const json_t *data, const char *network_id, const char *tz, char *errbuf,
                    size_t errbuf_size);

/* The analytics.tasks row of a task.* event's data, the same way (a task
 * without task_id, kind, status or a valid opened_at: NULL). */
json_t *an_task_row(const json_t *data, const char *network_id, const char *tz, char *errbuf,
                    size_t errbuf_size);

/* Adds sign (+1, -1) times the counts of call row to deltas, a JSON object
 * of rollup rows by their key (network, hour and the dimensions joined by
 * 0x1F): one row per key however many calls a batch moves there. A row
 * whose counts are all 0 adds nothing. */
void an_rollup_add(json_t *deltas, const json_t *row, int sign);

/* The rows of deltas whose counts are not all 0, sorted by key (so that
 * runners upserting the same rollup rows lock them in one order), as a
 * new array. */
json_t *an_rollup_rows(const json_t *deltas);

#endif
