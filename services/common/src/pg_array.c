/*
 * The binary text[] parameter (pg_array.h), as PostgreSQL's array_recv
 * reads it: the number of dimensions, whether any element is NULL, the
 * element type (text, oid 25), each dimension's length and lower bound,
 * then each element as its length (-1 for NULL) and its bytes; every
 * integer 4 bytes, most significant first. An empty array has no
 * dimension.
 */
#include "common/pg_array.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_OID 25
#define HEADER 20 /* ndim, flags, element type, length, lower bound */

static void put32(char *at, int32_t v)
{
    const uint32_t u = (uint32_t)v;
    at[0] = (char)(u >> 24);
    at[1] = (char)(u >> 16);
    at[2] = (char)(u >> 8);
    at[3] = (char)u;
}

static void element(struct cf_pg_array *a, const char *s, size_t n, int null)
{
    if (a->b.len == 0) { /* the header's room, filled in by cf_pg_array_bytes */
        memset(cf_strbuf_reserve(&a->b, HEADER), 0, HEADER);
        a->b.len = HEADER;
    }
    char *at = cf_strbuf_reserve(&a->b, 4 + n);
    put32(at, null ? -1 : (int32_t)n);
    if (n)
        memcpy(at + 4, s, n);
    a->b.len += 4 + n;
    a->b.p[a->b.len] = '\0';
    a->n++;
    a->nulls |= null;
}

void cf_pg_array_addn(struct cf_pg_array *a, const char *s, size_t n)
{
    element(a, s, n, 0);
}

void cf_pg_array_add(struct cf_pg_array *a, const char *s)
{
    element(a, s, s ? strlen(s) : 0, s == NULL);
}

const char *cf_pg_array_bytes(struct cf_pg_array *a, int *len)
{
    static const char empty[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, TEXT_OID};

    if (a->n == 0) {
        *len = (int)sizeof(empty);
        return empty;
    }
    put32(a->b.p, 1);
    put32(a->b.p + 4, a->nulls);
    put32(a->b.p + 8, TEXT_OID);
    put32(a->b.p + 12, a->n);
    put32(a->b.p + 16, 1);
    *len = (int)a->b.len;
    return a->b.p;
}

void cf_pg_array_clear(struct cf_pg_array *a)
{
    free(a->b.p);
    memset(a, 0, sizeof(*a));
}
