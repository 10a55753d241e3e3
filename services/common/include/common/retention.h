/*
 * Retention: deleting a table's rows past their age in bounded chunks, the
 * lease that lets one instance of a service do it while the others skip,
 * and the worker loop a service runs it in (cf_retention_run: a service
 * gives only its tables and settings). The lease is a row (schema.leases)
 * rather than a session advisory lock: pooled connections are shared, a
 * row's holder and expiry can be read by an operator, and a holder that
 * dies frees it by expiring.
 */
#ifndef CF_COMMON_RETENTION_H
#define CF_COMMON_RETENTION_H

#include <stddef.h>

#include <libpq-fe.h>

struct cf_service;

/* The lease table, for a service's migrations (search_path = its schema). */
#define CF_LEASES_TABLE_SQL                                                                        \
    "CREATE TABLE IF NOT EXISTS leases (name text PRIMARY KEY, holder text NOT NULL,"              \
    " expires_at timestamptz NOT NULL);"

/* A holder name unique to this process: "<host>:<pid>:<start ms>" (out at
 * least 128 bytes). */
void cf_retention_lease_holder(char *out, size_t size);

/* Takes, or renews, schema.leases' lease `name` for holder until ttl_ms
 * from now (the database's clock): 1 if holder has it now, 0 if another
 * holder's lease has not expired, or the database error. One statement:
 * two callers at once cannot both get it. Blocks on conn. */
int cf_retention_lease_take(PGconn *conn, const char *schema, const char *name, const char *holder,
                            long ttl_ms, char *errbuf, size_t errbuf_size);

/* Gives the lease up if holder has it, so another may take it at once. */
int cf_retention_lease_release(PGconn *conn, const char *schema, const char *name,
                               const char *holder, char *errbuf, size_t errbuf_size);

/* Deletes up to chunk rows of table (schema-qualified, from the caller's
 * code, never input) whose column (a timestamptz) is more than days old,
 * in one statement: how many (>= 0), or the database error. An index on
 * the column keeps each chunk cheap. Blocks on conn. */
int cf_retention_delete(PGconn *conn, const char *table, const char *column, long days, long chunk,
                        char *errbuf, size_t errbuf_size);

/* A table a service keeps for a time. */
struct cf_retention_table {
    const char *name;   /* the metric's label */
    const char *table;  /* schema-qualified */
    const char *column; /* the row's age */
    long days;          /* 0: kept for ever */
    const char *sql;    /* the chunk's own statement ($1 days, $2 rows), its one value how
                           many rows went; NULL: the rows whose column is past the days */
};

/* A service's retention: what cf_retention_run sweeps, and how. */
struct cf_retention_conf {
    struct cf_service *svc;                  /* its pool and its shutdown */
    const char *schema;                      /* whose leases table holds the lease */
    const char *metric_prefix;               /* "clinicflow_<service>_retention" */
    const struct cf_retention_table *tables; /* swept in this order */
    size_t ntables;
    long interval_s; /* between rounds; the lease lasts two of them and half a minute */
    long chunk;      /* rows per statement */
};

/* The retention worker's loop, on the worker's thread until the service
 * stops: every interval, under the lease "retention" in schema.leases
 * (renewed before each chunk), deletes each table's rows past their days
 * in chunks; an instance finding the lease held skips the round. Counts
 * <prefix>_removed_total{table}, <prefix>_rounds_total and
 * <prefix>_lease_busy_total; gives the lease up when the service stops.
 * conf and its tables must outlive the call. */
void cf_retention_run(const struct cf_retention_conf *conf);

#endif
