/*
 * What the parts of the time module (time.c, time_zone.c, time_hours.c)
 * share and nothing else sees: calendar arithmetic and a loaded zone.
 */
#ifndef CF_COMMON_TIME_INTERNAL_H
#define CF_COMMON_TIME_INTERNAL_H

#include <stdint.h>

#include "common/time.h"

#define DAY_S 86400
#define NO_TIME INT64_MAX
/* Seconds of 0001-01-01 and 10000-01-01 since the epoch. */
#define SECONDS_MIN (-62135596800LL)
#define SECONDS_END 253402300800LL

/* Floor division (times before 1970 too). */
int64_t cf_time_floor_div(int64_t a, int64_t b);
int cf_time_is_leap(int y);
/* Days of month m (1-12) of year y. */
int cf_time_month_days(int y, int m);
/* 0 Monday .. 6 Sunday of days since 1970-01-01. */
int cf_time_weekday(int64_t days);

/* The zone of that IANA name, loaded once and kept for the process's life
 * (thread-safe), or NULL when there is no such zone. */
const struct cf_time_zone *cf_time_zone_get(const char *tz);
/* Local minus UTC, in seconds, at instant t (seconds). */
int32_t cf_time_zone_offset(const struct cf_time_zone *z, int64_t t);
/* The instant (seconds) of local wall time wall (seconds, read as UTC),
 * with the gap and overlap rules of cf_time_from_local. */
int64_t cf_time_zone_wall_to_utc(const struct cf_time_zone *z, int64_t wall);
/* The first instant (seconds) the local clock reads wall or later: a
 * schedule's edge. As cf_time_zone_wall_to_utc, but an edge the clock
 * skips (02:30 on the night it jumps from 02:00 to 03:00) is where the
 * clock jumps past it, so a span ending there ends at 03:00, not at the
 * 03:30 the offset before the gap would make of it. */
int64_t cf_time_zone_edge_to_utc(const struct cf_time_zone *z, int64_t wall);

#endif
