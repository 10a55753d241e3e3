/*
 * PostgreSQL: connections, parameterized queries, a small connection pool
 * for HTTP handlers (mutex + condvar, acquire with timeout) and the
 * migrations runner. A PGconn is used by one thread at a time.
 */
#ifndef CF_COMMON_PG_H
#define CF_COMMON_PG_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

/* Connects (connect_timeout honoured from the DSN or 5 s). NULL on failure
 * with the reason in errbuf. */
PGconn *cf_pg_connect(const char *dsn, char *errbuf, size_t errbuf_size);

/* Whether connections made from now on prepare their parameterized
 * statements once and run them by name (the default), or send the text
 * every time (behind a transaction-mode pooler). Call before any thread
 * connects. */
void cf_pg_set_prepared(int on);

/* SQL text of a timestamptz expression as the events write times: UTC,
 * milliseconds, "Z" ("2026-11-20T09:01:00.000Z", cf_time_format's form). */
#define CF_PG_UTC_MS(expr)                                                                         \
    "to_char((" expr ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Runs one parameterized statement (text params, NULL for SQL NULL).
 * Returns 0 (out, if not NULL, receives the result: PQclear it), or
 * CF_ECONFLICT for SQLSTATE 23505, CF_EUNAVAIL when the connection is broken
 * (the caller resets or replaces it), CF_EINVAL for other SQL errors
 * (22xxx/23xxx data errors), CF_EINTERNAL otherwise. */
int cf_pg_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
               PGresult **out, char *errbuf, size_t errbuf_size);

/* cf_pg_exec for a statement whose rows only tell whether it found or
 * changed anything (SELECT 1 ..., ... RETURNING 1): *any 1 when it
 * returned a row, 0 when none or on an error. */
int cf_pg_exec_any(PGconn *conn, const char *sql, int nparams, const char *const *params, int *any,
                   char *errbuf, size_t errbuf_size);

/* cf_pg_exec with each parameter's length and format as libpq takes them
 * (PQexecParams): formats[i] 1 for a binary one, such as a
 * cf_pg_array's bytes (common/pg_array.h), 0 for text. */
int cf_pg_exec_binary(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      const int *lengths, const int *formats, PGresult **out, char *errbuf,
                      size_t errbuf_size);

/* cf_pg_exec of a statement whose one parameter ($1) is j_param as compact
 * JSON text: a batch's rows as one array (jsonb_to_recordset), nothing to
 * escape. */
int cf_pg_exec_json(PGconn *conn, const char *sql, const json_t *j_param, PGresult **out,
                    char *errbuf, size_t errbuf_size);

/* cf_pg_exec and cf_pg_exec_json planned for these parameters each time
 * (unnamed), never from the plan prepared once per connection: for a
 * look-up whose best plan depends on how big its tables are now. A
 * connection plans a prepared statement once for any parameters after a
 * few runs, and a plan made on a fresh schema's empty tables (a join
 * walking one whole table for each row of the other) stays until the
 * tables are analyzed: minutes of a fold at a few hundred facts a second
 * (bench/RESULTS.md). The price is planning on each call: for statements
 * run once a batch, or rarely. */
int cf_pg_exec_planned(PGconn *conn, const char *sql, int nparams, const char *const *params,
                       PGresult **out, char *errbuf, size_t errbuf_size);
int cf_pg_exec_json_planned(PGconn *conn, const char *sql, const json_t *j_param, PGresult **out,
                            char *errbuf, size_t errbuf_size);

/* BEGIN / COMMIT / ROLLBACK with the same return convention. */
int cf_pg_begin(PGconn *conn, char *errbuf, size_t errbuf_size);
int cf_pg_commit(PGconn *conn, char *errbuf, size_t errbuf_size);
void cf_pg_rollback(PGconn *conn);

struct cf_pg_pool;

/* Creates a pool of up to size connections, opened lazily. Never fails. */
struct cf_pg_pool *cf_pg_pool_new(const char *dsn, int size, long acquire_timeout_ms);
/* Waits up to the acquire timeout for a healthy connection; a broken one is
 * reset first. NULL (reason in errbuf) when none could be had: the caller
 * answers 503. Thread-safe. */
PGconn *cf_pg_pool_acquire(struct cf_pg_pool *pool, char *errbuf, size_t errbuf_size);
/* A connection only if one is free now and at least leave more would
 * still be free after it (idle or not opened yet): work that goes faster
 * with a second connection, but must not take the last ones others wait
 * for. NULL (reason in errbuf) otherwise, at once. Thread-safe. */
PGconn *cf_pg_pool_try_acquire(struct cf_pg_pool *pool, int leave, char *errbuf,
                               size_t errbuf_size);
/* Returns a connection; if it is broken or in a transaction it is closed. */
void cf_pg_pool_release(struct cf_pg_pool *pool, PGconn *conn);
/* cf_pg_exec of one statement on a pooled connection, taken and given
 * back: CF_EUNAVAIL (reason in errbuf) when none could be had. */
int cf_pg_pool_exec(struct cf_pg_pool *pool, const char *sql, int nparams,
                    const char *const *params, PGresult **out, char *errbuf, size_t errbuf_size);
/* 0 if "SELECT 1" succeeds within the acquire timeout. */
int cf_pg_pool_ping(struct cf_pg_pool *pool);
void cf_pg_pool_destroy(struct cf_pg_pool *pool);

struct cf_migration {
    int version;      /* 1, 2, ... in order */
    const char *name; /* "create calls" */
    const char *sql;  /* may hold several statements; runs with search_path = schema */
};

/* Creates schema if needed and applies every migration newer than the
 * recorded one, each in its own transaction, under a transaction-level
 * advisory lock keyed by the schema name, recording it in
 * <schema>.schema_migrations(version, name, applied_at). Safe to run from
 * several processes at once. */
int cf_pg_migrate(PGconn *conn, const char *schema, const struct cf_migration *migrations, size_t n,
                  char *errbuf, size_t errbuf_size);

#endif
