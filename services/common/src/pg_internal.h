/*
 * What the parts of the PostgreSQL module (pg.c, pg_copy.c) share and
 * nothing else sees.
 */
#ifndef CF_COMMON_PG_INTERNAL_H
#define CF_COMMON_PG_INTERNAL_H

#include <stddef.h>

#include <libpq-fe.h>

/* The cf_err of a failed result (res NULL: the connection's error), its
 * reason in errbuf: the primary message only, since the detail may quote
 * row values (phones). */
int cf_pg_result_err(PGconn *conn, const PGresult *res, char *errbuf, size_t errbuf_size);

#endif
