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

#include "common/strbuf.h"
#include "common/testable.h"

/* COPY data is built in a common/strbuf.h buffer (free p). */

/* Appends the field s (n bytes; NULL: SQL NULL) in COPY's text format:
 * a backslash doubled; the tab, newline and carriage return that would
 * end the field or the row as \t, \n, \r; NULL as \N. */
CF_TESTABLE void calls_copy_field(struct cf_strbuf *b, const char *s, size_t n);
/* Appends the line of j_row (calls_store_row's) for the staging table of
 * the batch's save: its columns in order, tab-separated, ending in a
 * newline; a missing or null value is NULL; "doc" as compact JSON. */
CF_TESTABLE void calls_copy_row(struct cf_strbuf *b, const json_t *j_row);

#endif
