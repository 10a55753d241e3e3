/*
 * PostgreSQL access for every service: connections, parameterized statements
 * whose failures are mapped from the SQLSTATE class to a cf_err in one
 * function, a small connection pool for HTTP handlers and the migrations
 * runner. The pool opens connections lazily up to its size and hands each to
 * one thread at a time; a connection that comes back broken or still inside a
 * transaction is closed rather than reused, so the next caller never inherits
 * another request's state.
 *
 * Statements with parameters are prepared once per connection and then
 * executed by name, which spares the server parsing and planning the same
 * text on every call (most of its work for the consumers' short
 * statements). The names live in a small table attached to the connection
 * as libpq instance data: it goes with the connection (freed when libpq
 * destroys it, emptied when libpq resets it), so it needs no lock beyond
 * the one-thread-per-connection rule. Named statements do not survive a
 * pooler in transaction mode (before PgBouncer 1.21), hence
 * CLINICFLOW_PG_PREPARED_STATEMENTS=0, which turns this off process-wide.
 */
#include "common/pg.h"
#include "common/time.h"

#include <libpq-events.h>

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/testable.h"
#include "pg_testable.h"
#include "pg_internal.h"
#include "common/json_text.h"
#include "common/xmalloc.h"

struct cf_pg_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a connection or a slot is returned */
    char *dsn;
    int size;
    long acquire_timeout_ms;
    int total; /* connections checked out, idle, or being opened */
    int nidle;
    PGconn **idle;
};

/* ------------------------------------------------------------------------ */
/* Prepared statements                                                       */
/* ------------------------------------------------------------------------ */

#define STMT_CACHE_MAX 128 /* past it, statements run unnamed: dynamic SQL stays bounded */

struct stmt {
    uint64_t hash;
    char *sql;
    char name[40]; /* "cf_" + 16 hex digits, "_" + a generation after the first */
};

struct stmt_cache {
    size_t n;
    unsigned gen; /* statements prepared anew under new names (stmt_forget) */
    struct stmt v[STMT_CACHE_MAX];
};

/* Set once by cf_pg_set_prepared before any connection is made. */
static int prepared_enabled = 1;

void cf_pg_set_prepared(int on)
{
    prepared_enabled = on;
}

static void stmt_cache_clear(struct stmt_cache *sc)
{
    for (size_t i = 0; sc && i < sc->n; i++)
        free(sc->v[i].sql);
    if (sc)
        sc->n = 0;
}

static int stmt_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    if (id == PGEVT_CONNRESET) {
        const PGEventConnReset *e = info;
        stmt_cache_clear(PQinstanceData(e->conn, stmt_event));
    } else if (id == PGEVT_CONNDESTROY) {
        const PGEventConnDestroy *e = info;
        struct stmt_cache *sc = PQinstanceData(e->conn, stmt_event);
        stmt_cache_clear(sc);
        free(sc);
    }
    return 1;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Server notices ("already exists, skipping") go to the debug log instead
 * of libpq's default, which prints them on stderr outside our log format. */
static void pg_notice(void *arg, const char *message)
{
    (void)arg;
    size_t len = strlen(message);
    while (len > 0 && message[len - 1] == '\n')
        len--;
    cf_debug("postgresql notice: %.*s", (int)len, message);
}

PGconn *cf_pg_connect(const char *dsn, char *errbuf, size_t errbuf_size)
{
    /* Keywords are processed in order and the expanded dsn comes last, so a
     * setting in the DSN overrides ours. A server that goes silent (a
     * failover that leaves the old address unanswered) is given up on in
     * about a minute instead of TCP's fifteen: keepalives while waiting for a
     * reply, and a bound on data the peer never acknowledges. */
    const char *const keywords[] = {
        "connect_timeout",  "application_name", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "dbname",          NULL};
    const char *const values[] = {"5", "clinicflow", "30", "10", "3", "60000", dsn, NULL};
    PGconn *conn = PQconnectdbParams(keywords, values, 1);
    if (!conn) {
        cf_seterr(errbuf, errbuf_size, "could not connect to postgresql: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        cf_seterr(errbuf, errbuf_size, "could not connect to postgresql: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, pg_notice, NULL);
    if (prepared_enabled && PQregisterEventProc(conn, stmt_event, "clinicflow statements", NULL)) {
        struct stmt_cache *sc = cf_xcalloc(1, sizeof(*sc));
        if (!PQsetInstanceData(conn, stmt_event, sc))
            free(sc); /* statements then run unnamed */
    }
    return conn;
}

/*
 * Maps a SQLSTATE (five characters, or NULL/empty when the server sent none)
 * to a cf_err. Unique violations are conflicts; data and other integrity
 * errors are the caller's input; connection, resource, shutdown, lock and
 * serialization failures are transient; a cancelled statement timed out;
 * anything else (syntax, undefined objects, permissions) is a bug.
 */
CF_TESTABLE int cf_pg_sqlstate_err(const char *sqlstate)
{
    if (!sqlstate || strlen(sqlstate) != 5)
        return CF_EUNAVAIL;
    if (strcmp(sqlstate, "23505") == 0)
        return CF_ECONFLICT;
    if (strcmp(sqlstate, "57014") == 0)
        return CF_ETIMEOUT;
    /* The data refused: a data exception, a constraint, a cardinality
     * violation (one row touched twice), a trigger's or check option's
     * refusal, an exception a PL/pgSQL guard raised. The same data fails the
     * same way again. */
    if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
        strncmp(sqlstate, "21", 2) == 0 || strncmp(sqlstate, "27", 2) == 0 ||
        strncmp(sqlstate, "09", 2) == 0 || strncmp(sqlstate, "44", 2) == 0 ||
        strncmp(sqlstate, "P0", 2) == 0 ||
        /* program_limit_exceeded: a value too big for its index row */
        strcmp(sqlstate, "54000") == 0)
        return CF_EINVAL;
    if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
        strncmp(sqlstate, "57", 2) == 0 || strncmp(sqlstate, "40", 2) == 0 ||
        strcmp(sqlstate, "55P03") == 0)
        return CF_EUNAVAIL;
    return CF_EINTERNAL;
}

/* pg_internal.h */
int cf_pg_result_err(PGconn *conn, const PGresult *res, char *errbuf, size_t errbuf_size)
{
    if (PQstatus(conn) == CONNECTION_BAD) {
        cf_seterr(errbuf, errbuf_size, "postgresql connection lost: %s", PQerrorMessage(conn));
        return CF_EUNAVAIL;
    }
    if (!res) {
        cf_seterr(errbuf, errbuf_size, "postgresql query failed: %s", PQerrorMessage(conn));
        return CF_EUNAVAIL;
    }
    const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!msg)
        msg = PQresultErrorMessage(res);
    cf_seterr(errbuf, errbuf_size, "postgresql error %s: %s", sqlstate ? sqlstate : "-",
              msg && *msg ? msg : PQresStatus(PQresultStatus(res)));
    return cf_pg_sqlstate_err(sqlstate);
}

static int pg_result_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* The name sql is prepared under on conn, preparing it now if it is new;
 * NULL to run it unnamed (no cache, cache full, a hash collision). *err
 * gets a preparation failure, which is the statement's own error. */
static const char *stmt_name(PGconn *conn, const char *sql, int nparams, int *err, char *errbuf,
                             size_t errbuf_size)
{
    struct stmt_cache *sc = PQinstanceData(conn, stmt_event);
    *err = 0;
    if (!sc)
        return NULL;
    uint64_t h = fnv1a(sql);
    for (size_t i = 0; i < sc->n; i++) {
        if (sc->v[i].hash == h)
            return strcmp(sc->v[i].sql, sql) == 0 ? sc->v[i].name : NULL;
    }
    if (sc->n == STMT_CACHE_MAX)
        return NULL;
    struct stmt *st = &sc->v[sc->n];
    if (sc->gen == 0)
        snprintf(st->name, sizeof(st->name), "cf_%016llx", (unsigned long long)h);
    else /* the name forgotten may still be prepared on the server */
        snprintf(st->name, sizeof(st->name), "cf_%016llx_%u", (unsigned long long)h, sc->gen);
    PGresult *res = PQprepare(conn, st->name, sql, nparams, NULL);
    if (!pg_result_ok(res)) {
        *err = cf_pg_result_err(conn, res, errbuf, errbuf_size);
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    st->hash = h;
    st->sql = cf_xstrdup(sql);
    sc->n++;
    return st->name;
}

/* Forgets the statement prepared as name on conn: the next run prepares
 * it anew, under a name of its own (the server may still hold the old). */
static void stmt_forget(PGconn *conn, const char *name)
{
    struct stmt_cache *sc = PQinstanceData(conn, stmt_event);
    for (size_t i = 0; sc && i < sc->n; i++) {
        if (strcmp(sc->v[i].name, name) != 0)
            continue;
        free(sc->v[i].sql);
        sc->v[i] = sc->v[--sc->n];
        sc->gen++;
        return;
    }
}

/* 1 when res, a prepared statement's run, says the server can no longer
 * run it as prepared: a table it reads was changed under it (another
 * instance's migration during a rolling deploy: "cached plan must not
 * change result type", 0A000, in the server's own language), or the name
 * is gone (26000: DEALLOCATE, DISCARD ALL by a pooler). */
static int stmt_stale(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state && (strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0);
}

/* cf_pg_exec, prepared once per connection (prepare) or planned for its
 * parameters each time. A prepared statement the server can no longer run
 * as prepared (stmt_stale) is forgotten, to be prepared anew: run again
 * at once, unnamed, when no transaction was open, else the caller's
 * transaction, aborted, is told to retry (CF_EUNAVAIL). */
static int pg_exec_formats(PGconn *conn, const char *sql, int nparams, const char *const *params,
                           const int *lengths, const int *formats, int prepare, PGresult **out,
                           char *errbuf, size_t errbuf_size)
{
    assert(conn && sql);
    if (out)
        *out = NULL;
    int err = 0;
    const char *name =
        prepare && nparams > 0 ? stmt_name(conn, sql, nparams, &err, errbuf, errbuf_size) : NULL;
    if (err)
        return err;
    PGresult *res = name ? PQexecPrepared(conn, name, nparams, params, lengths, formats, 0)
                         : PQexecParams(conn, sql, nparams, NULL, params, lengths, formats, 0);
    if (name && !pg_result_ok(res) && stmt_stale(res)) {
        cf_warn("postgresql: a prepared statement no longer runs as prepared (%s); prepared anew",
                PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        stmt_forget(conn, name);
        if (PQtransactionStatus(conn) == PQTRANS_IDLE) {
            PQclear(res);
            /* once, unnamed: the next run prepares it */
            return pg_exec_formats(conn, sql, nparams, params, lengths, formats, 0, out, errbuf,
                                   errbuf_size);
        }
        cf_pg_result_err(conn, res, errbuf, errbuf_size);
        PQclear(res);
        return CF_EUNAVAIL;
    }
    if (!pg_result_ok(res)) {
        err = cf_pg_result_err(conn, res, errbuf, errbuf_size);
        PQclear(res);
        return err;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return 0;
}

static int pg_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                   int prepare, PGresult **out, char *errbuf, size_t errbuf_size)
{
    return pg_exec_formats(conn, sql, nparams, params, NULL, NULL, prepare, out, errbuf,
                           errbuf_size);
}

int cf_pg_exec_binary(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      const int *lengths, const int *formats, PGresult **out, char *errbuf,
                      size_t errbuf_size)
{
    return pg_exec_formats(conn, sql, nparams, params, lengths, formats, 1, out, errbuf,
                           errbuf_size);
}

int cf_pg_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
               PGresult **out, char *errbuf, size_t errbuf_size)
{
    return pg_exec(conn, sql, nparams, params, 1, out, errbuf, errbuf_size);
}

int cf_pg_exec_any(PGconn *conn, const char *sql, int nparams, const char *const *params, int *any,
                   char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn, sql, nparams, params, &res, errbuf, errbuf_size);
    *any = rc == 0 && PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

int cf_pg_exec_planned(PGconn *conn, const char *sql, int nparams, const char *const *params,
                       PGresult **out, char *errbuf, size_t errbuf_size)
{
    return pg_exec(conn, sql, nparams, params, 0, out, errbuf, errbuf_size);
}

static int pg_exec_json(PGconn *conn, const char *sql, const json_t *j_param, int prepare,
                        PGresult **out, char *errbuf, size_t errbuf_size)
{
    char *text = cf_json_dumps(j_param);
    if (!text) {
        cf_seterr(errbuf, errbuf_size, "statement parameter: not a JSON document");
        return CF_EINTERNAL;
    }
    const char *params[] = {text};
    int rc = pg_exec(conn, sql, 1, params, prepare, out, errbuf, errbuf_size);
    free(text);
    return rc;
}

int cf_pg_exec_json(PGconn *conn, const char *sql, const json_t *j_param, PGresult **out,
                    char *errbuf, size_t errbuf_size)
{
    return pg_exec_json(conn, sql, j_param, 1, out, errbuf, errbuf_size);
}

int cf_pg_exec_json_planned(PGconn *conn, const char *sql, const json_t *j_param, PGresult **out,
                            char *errbuf, size_t errbuf_size)
{
    return pg_exec_json(conn, sql, j_param, 0, out, errbuf, errbuf_size);
}

int cf_pg_begin(PGconn *conn, char *errbuf, size_t errbuf_size)
{
    return cf_pg_exec(conn, "BEGIN", 0, NULL, NULL, errbuf, errbuf_size);
}

int cf_pg_commit(PGconn *conn, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    int err = cf_pg_exec(conn, "COMMIT", 0, NULL, &res, errbuf, errbuf_size);
    if (err)
        return err;
    /* COMMIT of an aborted transaction "succeeds" as a ROLLBACK. */
    if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
        cf_seterr(errbuf, errbuf_size, "transaction was aborted and rolled back");
        err = CF_EINTERNAL;
    }
    PQclear(res);
    return err;
}

void cf_pg_rollback(PGconn *conn)
{
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return;
    PQclear(PQexec(conn, "ROLLBACK"));
}

/* ------------------------------------------------------------------------ */
/* Pool                                                                      */
/* ------------------------------------------------------------------------ */

struct cf_pg_pool *cf_pg_pool_new(const char *dsn, int size, long acquire_timeout_ms)
{
    assert(dsn);
    struct cf_pg_pool *pool = cf_xcalloc(1, sizeof(*pool));
    pthread_mutex_init(&pool->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->cv, &attr);
    pthread_condattr_destroy(&attr);
    pool->dsn = cf_xstrdup(dsn);
    pool->size = size > 0 ? size : 1;
    pool->acquire_timeout_ms = acquire_timeout_ms > 0 ? acquire_timeout_ms : 1;
    pool->idle = cf_xcalloc((size_t)pool->size, sizeof(PGconn *));
    return pool;
}

/* Gives a slot back after a connection was closed or could not be opened. */
static void pool_drop_slot(struct cf_pg_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    pool->total--;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

/* A slot of the pool under pool->mu: an idle connection (*conn), or 1
 * when a new one may be opened; 0 with neither when none is free now. */
static int pool_take(struct cf_pg_pool *pool, PGconn **conn)
{
    if (pool->nidle > 0) {
        *conn = pool->idle[--pool->nidle];
        return 0;
    }
    if (pool->total < pool->size) {
        pool->total++;
        return 1;
    }
    return 0;
}

/* The slot taken (pool_take's): the idle connection made healthy, or a new
 * one opened. Outside the lock: connecting and resetting block. */
static PGconn *pool_ready(struct cf_pg_pool *pool, PGconn *conn, int open_new, char *errbuf,
                          size_t errbuf_size)
{
    if (open_new) {
        conn = cf_pg_connect(pool->dsn, errbuf, errbuf_size);
        if (!conn)
            pool_drop_slot(pool);
        return conn;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        PQreset(conn);
        if (PQstatus(conn) != CONNECTION_OK) {
            cf_seterr(errbuf, errbuf_size, "could not reconnect to postgresql: %s",
                      PQerrorMessage(conn));
            PQfinish(conn);
            pool_drop_slot(pool);
            return NULL;
        }
    }
    return conn;
}

PGconn *cf_pg_pool_acquire(struct cf_pg_pool *pool, char *errbuf, size_t errbuf_size)
{
    struct timespec deadline;
    cf_time_deadline(CLOCK_MONOTONIC, pool->acquire_timeout_ms, &deadline);
    PGconn *conn = NULL;
    int open_new = 0;

    pthread_mutex_lock(&pool->mu);
    while (!(open_new = pool_take(pool, &conn)) && !conn) {
        int rc = pthread_cond_timedwait(&pool->cv, &pool->mu, &deadline);
        if (rc == ETIMEDOUT && pool->nidle == 0 && pool->total >= pool->size) {
            pthread_mutex_unlock(&pool->mu);
            cf_seterr(errbuf, errbuf_size, "no postgresql connection free within %ld ms",
                      pool->acquire_timeout_ms);
            return NULL;
        }
    }
    pthread_mutex_unlock(&pool->mu);
    return pool_ready(pool, conn, open_new, errbuf, errbuf_size);
}

PGconn *cf_pg_pool_try_acquire(struct cf_pg_pool *pool, int leave, char *errbuf, size_t errbuf_size)
{
    PGconn *conn = NULL;
    int open_new = 0;

    pthread_mutex_lock(&pool->mu);
    const int free_now = pool->nidle + (pool->size - pool->total);
    if (free_now > leave)
        open_new = pool_take(pool, &conn);
    pthread_mutex_unlock(&pool->mu);
    if (!open_new && !conn) {
        cf_seterr(errbuf, errbuf_size, "%d postgresql connections free, %d to be left", free_now,
                  leave);
        return NULL;
    }
    return pool_ready(pool, conn, open_new, errbuf, errbuf_size);
}

void cf_pg_pool_release(struct cf_pg_pool *pool, PGconn *conn)
{
    if (!conn)
        return;
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQfinish(conn);
        pool_drop_slot(pool);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    assert(pool->nidle < pool->size);
    pool->idle[pool->nidle++] = conn;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

int cf_pg_pool_exec(struct cf_pg_pool *pool, const char *sql, int nparams,
                    const char *const *params, PGresult **out, char *errbuf, size_t errbuf_size)
{
    if (out)
        *out = NULL;
    PGconn *conn = cf_pg_pool_acquire(pool, errbuf, errbuf_size);
    if (!conn)
        return CF_EUNAVAIL;
    int err = cf_pg_exec(conn, sql, nparams, params, out, errbuf, errbuf_size);
    cf_pg_pool_release(pool, conn);
    return err;
}

int cf_pg_pool_ping(struct cf_pg_pool *pool)
{
    char errbuf[256];
    return cf_pg_pool_exec(pool, "SELECT 1", 0, NULL, NULL, errbuf, sizeof(errbuf));
}

void cf_pg_pool_destroy(struct cf_pg_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    if (pool->total != pool->nidle)
        cf_warn("postgresql pool destroyed with %d connections still checked out",
                pool->total - pool->nidle);
    for (int i = 0; i < pool->nidle; i++)
        PQfinish(pool->idle[i]);
    pool->nidle = 0;
    pthread_mutex_unlock(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->idle);
    free(pool->dsn);
    free(pool);
}

/* ------------------------------------------------------------------------ */
/* Migrations                                                                */
/* ------------------------------------------------------------------------ */

/* Runs a statement without parameters through the simple protocol (it may
 * hold several statements: migration files do). */
static int pg_exec_script(PGconn *conn, const char *sql, char *errbuf, size_t errbuf_size)
{
    PGresult *res = PQexec(conn, sql);
    int err = 0;
    if (!pg_result_ok(res))
        err = cf_pg_result_err(conn, res, errbuf, errbuf_size);
    PQclear(res);
    return err;
}

/* BEGIN and take the schema's migration lock for this transaction. */
static int migrate_begin_locked(PGconn *conn, const char *schema, char *errbuf, size_t errbuf_size)
{
    int err = cf_pg_begin(conn, errbuf, errbuf_size);
    if (err)
        return err;
    const char *params[] = {schema};
    err = cf_pg_exec(conn, "SELECT pg_advisory_xact_lock(hashtext('clinicflow.migrate.' || $1))", 1,
                     params, NULL, errbuf, errbuf_size);
    if (err)
        cf_pg_rollback(conn);
    return err;
}

/* Applies one migration unless it is recorded; the caller holds nothing. */
static int migrate_one(PGconn *conn, const char *schema, const char *ident,
                       const struct cf_migration *m, char *errbuf, size_t errbuf_size)
{
    char *sql = NULL;
    PGresult *res = NULL;
    char version[16];
    snprintf(version, sizeof(version), "%d", m->version);

    int err = migrate_begin_locked(conn, schema, errbuf, errbuf_size);
    if (err)
        return err;

    sql = cf_xasprintf("SELECT 1 FROM %s.schema_migrations WHERE version = $1", ident);
    const char *check_params[] = {version};
    err = cf_pg_exec(conn, sql, 1, check_params, &res, errbuf, errbuf_size);
    if (err)
        goto out;
    if (PQntuples(res) > 0) {
        err = cf_pg_commit(conn, errbuf, errbuf_size);
        goto out;
    }
    free(sql);
    sql = cf_xasprintf("SET LOCAL search_path TO %s, public", ident);
    err = pg_exec_script(conn, sql, errbuf, errbuf_size);
    if (err)
        goto out;
    err = pg_exec_script(conn, m->sql, errbuf, errbuf_size);
    if (err) {
        char reason[512];
        snprintf(reason, sizeof(reason), "%s", errbuf ? errbuf : "");
        cf_seterr(errbuf, errbuf_size, "migration %s %d (%s) failed: %s", schema, m->version,
                  m->name, reason);
        goto out;
    }
    free(sql);
    sql = cf_xasprintf("INSERT INTO %s.schema_migrations (version, name) VALUES ($1, $2)", ident);
    const char *rec_params[] = {version, m->name};
    err = cf_pg_exec(conn, sql, 2, rec_params, NULL, errbuf, errbuf_size);
    if (err)
        goto out;
    err = cf_pg_commit(conn, errbuf, errbuf_size);
    if (!err)
        cf_info("applied migration %s %d (%s)", schema, m->version, m->name);
out:
    if (err)
        cf_pg_rollback(conn);
    PQclear(res);
    free(sql);
    return err;
}

int cf_pg_migrate(PGconn *conn, const char *schema, const struct cf_migration *migrations, size_t n,
                  char *errbuf, size_t errbuf_size)
{
    assert(conn && schema);
    char *sql = NULL;
    char *ident = PQescapeIdentifier(conn, schema, strlen(schema));
    if (!ident) {
        cf_seterr(errbuf, errbuf_size, "could not quote schema name: %s", PQerrorMessage(conn));
        return CF_EINVAL;
    }

    /* The schema and the bookkeeping table are created under the same lock:
     * CREATE ... IF NOT EXISTS races with itself across sessions. */
    int err = migrate_begin_locked(conn, schema, errbuf, errbuf_size);
    if (err)
        goto out;
    sql = cf_xasprintf("CREATE SCHEMA IF NOT EXISTS %s;"
                       "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
                       " version int PRIMARY KEY, name text NOT NULL,"
                       " applied_at timestamptz NOT NULL DEFAULT now())",
                       ident, ident);
    err = pg_exec_script(conn, sql, errbuf, errbuf_size);
    if (!err)
        err = cf_pg_commit(conn, errbuf, errbuf_size);
    if (err) {
        cf_pg_rollback(conn);
        goto out;
    }

    for (size_t i = 0; i < n; i++) {
        assert(i == 0 || migrations[i].version > migrations[i - 1].version);
        err = migrate_one(conn, schema, ident, &migrations[i], errbuf, errbuf_size);
        if (err)
            goto out;
    }
out:
    free(sql);
    PQfreemem(ident);
    return err;
}
