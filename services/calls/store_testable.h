/*
 * The call store's pure parts (store.c): the rows the batch's save sends
 * with COPY. Included by the defining file and by its unit test, so both
 * see one declaration: static in normal builds, external in unit tests
 * (common/testable.h).
 */
#ifndef CF_CALLS_STORE_TESTABLE_H
#define CF_CALLS_STORE_TESTABLE_H

#include <stddef.h>

#include <jansson.h>

#include "common/pg_copy.h"
#include "common/testable.h"

/* Adds the line of j_row (calls_store_row's) for the staging table of the
 * batch's save: its columns in order; a missing or null value is NULL;
 * "doc" as compact JSON. */
CF_TESTABLE void calls_copy_row(struct cf_pg_copy *c, const json_t *j_row);

#endif
