/*
 * COPY ... FROM STDIN in PostgreSQL's text format: rows built field by
 * field into one buffer, then sent as one statement. For a batch of many
 * rows, COPY parses each value once, where a JSON parameter is parsed as a
 * whole and then again per row (jsonb_to_recordset).
 */
#ifndef CF_COMMON_PG_COPY_H
#define CF_COMMON_PG_COPY_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/strbuf.h"

/* The rows so far. A zeroed struct is empty. */
struct cf_pg_copy {
    struct cf_strbuf b;
    size_t rows;
    int fields; /* in the row being built */
};

/* A field of the row being built: n bytes of s with what would end a field
 * or a row, or start an escape, escaped; NULL is SQL NULL (\N). */
void cf_pg_copy_textn(struct cf_pg_copy *c, const char *s, size_t n);
/* s as a field (NULL: SQL NULL). */
void cf_pg_copy_text(struct cf_pg_copy *c, const char *s);
/* An integer field. */
void cf_pg_copy_int(struct cf_pg_copy *c, long long v);
/* A JSON value as a field: a string's text, an integer or real as its
 * number, true/false, an object or array as its compact JSON (for a json
 * or jsonb column); NULL or JSON null is SQL NULL. */
void cf_pg_copy_json(struct cf_pg_copy *c, const json_t *v);
/* Ends the row being built. */
void cf_pg_copy_row_end(struct cf_pg_copy *c);

/* Sends the rows with sql (a COPY ... FROM STDIN) in the caller's
 * transaction on conn, and empties c. 0 for no rows (nothing is sent);
 * else 0, or cf_pg_exec's mapping of the error (CF_ECONFLICT for a unique
 * violation, CF_EINVAL for refused data, CF_EUNAVAIL for a broken
 * connection, CF_EINTERNAL otherwise) with the primary message in errbuf
 * (never the detail, which may quote a row). Blocks. */
int cf_pg_copy_send(PGconn *conn, const char *sql, struct cf_pg_copy *c, char *errbuf,
                    size_t errbuf_size);

/* Frees the rows without sending them. */
void cf_pg_copy_clear(struct cf_pg_copy *c);

#endif
