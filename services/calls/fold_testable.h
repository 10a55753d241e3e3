/*
 * The fold's rules as pure functions over JSON (fold.c).
 * Included by the defining file and by its unit test, so both see one
 * declaration: static in normal builds, external in unit tests
 * (common/testable.h).
 */
#ifndef CF_CALLS_FOLD_TESTABLE_H
#define CF_CALLS_FOLD_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "calls.h"
#include "common/testable.h"

CF_TESTABLE void calls_fold_fact(json_t *j_call, const json_t *j_fact, int64_t fact_time);
CF_TESTABLE void calls_derive(json_t *j_call, const struct calls_settings *cfg, int64_t fact_time);
CF_TESTABLE json_t *calls_public_copy(const json_t *j_call);
CF_TESTABLE int calls_apply_result(json_t *j_call, const json_t *j_data, int64_t time_ms);

#endif
