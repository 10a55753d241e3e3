/*
 * time.c's hook for unit tests: a zone made from a POSIX TZ rule alone,
 * the way a TZif footer describes the years past its table.
 * Included by the defining file and by its unit test, so both see one
 * declaration: static in normal builds, external in unit tests
 * (common/testable.h).
 */
#ifndef CF_COMMON_TIME_TESTABLE_H
#define CF_COMMON_TIME_TESTABLE_H

#include "common/testable.h"

#ifdef CF_UNIT_TEST
/* Registers a zone named name that follows POSIX TZ rule posix_tz in every
 * year: 0, or CF_EINVAL for a bad name or rule. Test builds only. */
CF_TESTABLE int time_zone_add_rule(const char *name, const char *posix_tz);
#endif

#endif
