/*
 * A text[] statement parameter in PostgreSQL's binary array format: one
 * column of a batch's rows as one array, unnest()ed by the statement and
 * cast there. The values travel as they are, with no escaping on our side
 * and no parsing on the server's, which makes it the cheapest way in for
 * rows that carry documents: a JSON batch parameter is parsed whole by
 * the server, every document in it included (bench/RESULTS.md, the lead
 * fold). Run with cf_pg_exec_binary.
 */
#ifndef CF_COMMON_PG_ARRAY_H
#define CF_COMMON_PG_ARRAY_H

#include <stddef.h>

#include "common/strbuf.h"

/* The elements so far. A zeroed struct is an empty array. */
struct cf_pg_array {
    struct cf_strbuf b; /* the header's room, then each element */
    int n, nulls;
};

/* Appends n bytes of s as an element. */
void cf_pg_array_addn(struct cf_pg_array *a, const char *s, size_t n);
/* Appends s; NULL appends SQL NULL. */
void cf_pg_array_add(struct cf_pg_array *a, const char *s);
/* The parameter's bytes (*len of them), valid until the next add or
 * clear. */
const char *cf_pg_array_bytes(struct cf_pg_array *a, int *len);
/* Empties a and frees what it held. */
void cf_pg_array_clear(struct cf_pg_array *a);

#endif
