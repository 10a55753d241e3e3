/*
 * cf_pg_exec against the throwaway PostgreSQL of ./tests/run
 * (CLINICFLOW_TEST_PG_DSN): a parameterized statement is prepared once per
 * connection and then run by name, as the server's own view
 * (pg_prepared_statements) shows; a failing statement keeps its error and
 * is not remembered; a reset connection prepares again; one the server
 * can no longer run as prepared (its table changed, its name dropped) is
 * prepared anew; with prepared statements off, nothing is prepared. cf_pg_pool_exec runs one
 * statement on a pooled connection and gives it back; a pool without a server says unavailable.
 * cf_pg_copy_send writes rows by COPY in the caller's transaction, text with every escape back as
 * it was; a row the server refuses fails the statement as the data's error and leaves the
 * connection ready for the rollback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/pg.h"
#include "common/pg_array.h"
#include "common/pg_copy.h"
#include "cftest.h"

#define ECHO_SQL "SELECT $1::int + 1"

/* How many statements this session has prepared under our names. */
static long prepared_count(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_prepared_statements"
                                 " WHERE name LIKE 'cf\\_%'");
    long n = PQresultStatus(res) == PGRES_TUPLES_OK ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return n;
}

static void echo(PGconn *conn, const char *value, const char *want)
{
    char errbuf[256] = "";
    const char *params[] = {value};
    PGresult *res = NULL;
    CHECK_INT(cf_pg_exec(conn, ECHO_SQL, 1, params, &res, errbuf, sizeof(errbuf)), 0);
    CHECK(res && PQntuples(res) == 1);
    if (res && PQntuples(res) == 1)
        CHECK_STR(PQgetvalue(res, 0, 0), want);
    PQclear(res);
}

static void test_prepared_once(const char *dsn)
{
    char errbuf[256] = "";
    PGconn *conn = cf_pg_connect(dsn, errbuf, sizeof(errbuf));
    CHECK(conn != NULL);
    if (!conn)
        return;
    CHECK_INT(prepared_count(conn), 0);
    echo(conn, "41", "42");
    echo(conn, "1", "2");
    CHECK_INT(prepared_count(conn), 1);

    /* A statement the server refuses: its error, and no name kept. */
    const char *params[] = {"1"};
    CHECK_INT(cf_pg_exec(conn, "SELECT * FROM no_such_table WHERE x = $1", 1, params, NULL, errbuf,
                         sizeof(errbuf)),
              CF_EINTERNAL);
    CHECK(strstr(errbuf, "no_such_table") != NULL);
    CHECK_INT(prepared_count(conn), 1);
    /* Bad input to a prepared statement is the caller's, as unprepared. */
    const char *bad[] = {"not a number"};
    CHECK_INT(cf_pg_exec(conn, ECHO_SQL, 1, bad, NULL, errbuf, sizeof(errbuf)), CF_EINVAL);

    /* A reset connection has lost its statements: they are prepared again. */
    PQreset(conn);
    CHECK(PQstatus(conn) == CONNECTION_OK);
    CHECK_INT(prepared_count(conn), 0);
    echo(conn, "6", "7");
    CHECK_INT(prepared_count(conn), 1);
    PQfinish(conn);
}

static void test_off(const char *dsn)
{
    char errbuf[256] = "";
    cf_pg_set_prepared(0);
    PGconn *conn = cf_pg_connect(dsn, errbuf, sizeof(errbuf));
    cf_pg_set_prepared(1);
    CHECK(conn != NULL);
    if (!conn)
        return;
    echo(conn, "9", "10");
    CHECK_INT(prepared_count(conn), 0);
    PQfinish(conn);
}

static void test_pool_exec(const char *dsn)
{
    char errbuf[256] = "";
    const char *params[] = {"1"};
    PGresult *res = NULL;
    struct cf_pg_pool *pool = cf_pg_pool_new(dsn, 1, 2000);
    /* a pool of one: the second statement needs the first's connection back */
    for (int i = 0; i < 2; i++) {
        CHECK_INT(cf_pg_pool_exec(pool, ECHO_SQL, 1, params, &res, errbuf, sizeof(errbuf)), 0);
        CHECK(res && PQntuples(res) == 1);
        if (res && PQntuples(res) == 1)
            CHECK_STR(PQgetvalue(res, 0, 0), "2");
        PQclear(res);
    }
    cf_pg_pool_destroy(pool);

    /* the second connection of a pool of three taken only while one more
     * stays free for others */
    pool = cf_pg_pool_new(dsn, 3, 2000);
    PGconn *first = cf_pg_pool_acquire(pool, errbuf, sizeof(errbuf));
    PGconn *second = cf_pg_pool_try_acquire(pool, 1, errbuf, sizeof(errbuf));
    CHECK(first != NULL && second != NULL);
    PGconn *third = cf_pg_pool_try_acquire(pool, 1, errbuf, sizeof(errbuf));
    CHECK(third == NULL); /* the last one is left */
    CHECK(strstr(errbuf, "1 postgresql connections free, 1 to be left") != NULL);
    cf_pg_pool_release(pool, second);
    /* the connection given back is taken again, idle and healthy */
    second = cf_pg_pool_try_acquire(pool, 1, errbuf, sizeof(errbuf));
    CHECK(second != NULL);
    if (second)
        echo(second, "3", "4");
    third = cf_pg_pool_try_acquire(pool, 0, errbuf, sizeof(errbuf));
    CHECK(third != NULL); /* leaving none */
    cf_pg_pool_release(pool, third);
    cf_pg_pool_release(pool, second);
    cf_pg_pool_release(pool, first);
    cf_pg_pool_destroy(pool);

    /* port 1 on loopback: nothing listens, the connection is refused */
    pool = cf_pg_pool_new("host=127.0.0.1 port=1 connect_timeout=2", 1, 500);
    res = (PGresult *)1; /* must be reset */
    CHECK_INT(cf_pg_pool_exec(pool, ECHO_SQL, 1, params, &res, errbuf, sizeof(errbuf)),
              CF_EUNAVAIL);
    CHECK(res == NULL);
    cf_pg_pool_destroy(pool);
}

static void test_copy(const char *dsn)
{
    char errbuf[256] = "";
    PGconn *conn = cf_pg_connect(dsn, errbuf, sizeof(errbuf));
    CHECK(conn != NULL);
    if (!conn)
        return;
    static const char *const texts[] = {"plain",  "tab\there", "line\nnext\r", "\\N", "\\.",
                                        "Привет", ""};
    CHECK_INT(cf_pg_begin(conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_pg_exec(conn, "CREATE TEMP TABLE copied (n int, t text, d jsonb)", 0, NULL, NULL,
                         errbuf, sizeof(errbuf)),
              0);
    struct cf_pg_copy c = {0};
    json_t *doc = json_pack("{s:s}", "k", "v\n\t");
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        cf_pg_copy_int(&c, (long long)i);
        cf_pg_copy_text(&c, texts[i]);
        cf_pg_copy_json(&c, doc);
        cf_pg_copy_row_end(&c);
    }
    cf_pg_copy_int(&c, 99);
    cf_pg_copy_text(&c, NULL);
    cf_pg_copy_json(&c, NULL);
    cf_pg_copy_row_end(&c);
    CHECK_INT(cf_pg_copy_send(conn, "COPY copied FROM STDIN", &c, errbuf, sizeof(errbuf)), 0);
    CHECK(c.b.p == NULL && c.rows == 0); /* emptied */
    PGresult *res = NULL;
    CHECK_INT(cf_pg_exec(conn, "SELECT n, t, d->>'k', t IS NULL, d IS NULL FROM copied ORDER BY n",
                         0, NULL, &res, errbuf, sizeof(errbuf)),
              0);
    const int want_rows = (int)(sizeof(texts) / sizeof(texts[0])) + 1;
    CHECK_INT(res ? PQntuples(res) : -1, want_rows);
    for (int i = 0; res && i < PQntuples(res) && i < want_rows - 1; i++) {
        CHECK_STR(PQgetvalue(res, i, 1), texts[i]);
        CHECK_STR(PQgetvalue(res, i, 2), "v\n\t");
    }
    if (res && PQntuples(res) == want_rows) {
        CHECK_STR(PQgetvalue(res, want_rows - 1, 3), "t");
        CHECK_STR(PQgetvalue(res, want_rows - 1, 4), "t");
    }
    PQclear(res);

    /* no rows: nothing is sent, nothing fails */
    CHECK_INT(cf_pg_copy_send(conn, "COPY no_such_table FROM STDIN", &c, errbuf, sizeof(errbuf)),
              0);
    /* a row the table refuses: the data's error, the transaction failed */
    cf_pg_copy_text(&c, "not a number");
    cf_pg_copy_text(&c, "x");
    cf_pg_copy_json(&c, NULL);
    cf_pg_copy_row_end(&c);
    CHECK_INT(cf_pg_copy_send(conn, "COPY copied FROM STDIN", &c, errbuf, sizeof(errbuf)),
              CF_EINVAL);
    CHECK(strstr(errbuf, "22P02") != NULL);
    cf_pg_rollback(conn);
    CHECK_INT(PQtransactionStatus(conn), PQTRANS_IDLE);
    echo(conn, "1", "2"); /* the connection is ready */

    /* a statement that is no COPY: the caller's bug, said as one */
    cf_pg_copy_int(&c, 1);
    cf_pg_copy_row_end(&c);
    CHECK_INT(cf_pg_copy_send(conn, "SELECT 1", &c, errbuf, sizeof(errbuf)), CF_EINTERNAL);
    CHECK(strstr(errbuf, "not a COPY") != NULL);
    echo(conn, "2", "3");
    json_decref(doc);
    PQfinish(conn);
}

/* Binary text[] parameters: what goes in comes out of unnest() byte for
 * byte, NULLs and empty strings apart, and an empty array is one. */
static void test_arrays(const char *dsn)
{
    char errbuf[256] = "";
    PGconn *conn = cf_pg_connect(dsn, errbuf, sizeof(errbuf));
    CHECK(conn != NULL);
    if (!conn)
        return;
    static const char *const texts[] = {
        "plain",           "",  NULL, "quote \" and \\ {braces}, commas", "Привет", "{\"k\":[1,2]}",
        "tab\there\nline", NULL};
    const size_t n = sizeof(texts) / sizeof(texts[0]);
    struct cf_pg_array a = {0}, b = {0}, none = {0};
    for (size_t i = 0; i < n; i++) {
        cf_pg_array_add(&a, texts[i]);
        char num[8];
        snprintf(num, sizeof(num), "%zu", i);
        cf_pg_array_add(&b, num);
    }
    cf_pg_array_addn(&b, "7 and more", 1); /* n bytes only */
    const char *params[3];
    int lengths[3], formats[] = {1, 1, 1};
    params[0] = cf_pg_array_bytes(&a, &lengths[0]);
    params[1] = cf_pg_array_bytes(&b, &lengths[1]);
    params[2] = cf_pg_array_bytes(&none, &lengths[2]);
    PGresult *res = NULL;
    CHECK_INT(cf_pg_exec_binary(conn,
                                "SELECT t, t IS NULL, k::int, cardinality($3::text[])"
                                " FROM unnest($1::text[], $2::text[]) AS u(t, k)",
                                3, params, lengths, formats, &res, errbuf, sizeof(errbuf)),
              0);
    /* the second array is one longer: the first's last row is NULL */
    CHECK_INT(res ? PQntuples(res) : -1, (int)n + 1);
    for (int i = 0; res && i < PQntuples(res) && i < (int)n; i++) {
        CHECK_INT(strtol(PQgetvalue(res, i, 2), NULL, 10), i);
        CHECK_STR(PQgetvalue(res, i, 1), texts[i] ? "f" : "t");
        if (texts[i])
            CHECK_STR(PQgetvalue(res, i, 0), texts[i]);
        CHECK_STR(PQgetvalue(res, i, 3), "0");
    }
    if (res && PQntuples(res) == (int)n + 1)
        CHECK_STR(PQgetvalue(res, (int)n, 2), "7");
    PQclear(res);
    cf_pg_array_clear(&a);
    cf_pg_array_clear(&b);
    CHECK(a.b.p == NULL && a.n == 0);
    PQfinish(conn);
}

/* A table changed under a prepared statement (another instance's
 * migration during a rolling deploy), or its name dropped on the server:
 * outside a transaction the statement runs again at once; inside one the
 * transaction is told to retry, and its retry runs. */
static void test_prepared_stale(const char *dsn)
{
    char errbuf[256] = "";
    PGconn *conn = cf_pg_connect(dsn, errbuf, sizeof(errbuf));
    PGconn *other = cf_pg_connect(dsn, errbuf, sizeof(errbuf));
    CHECK(conn != NULL && other != NULL);
    if (!conn || !other) {
        PQfinish(conn);
        PQfinish(other);
        return;
    }
    PQclear(PQexec(other, "DROP TABLE IF EXISTS pg_stale; CREATE TABLE pg_stale (a int);"
                          " INSERT INTO pg_stale VALUES (7)"));
    const char *sql = "SELECT a FROM pg_stale WHERE $1::int = 1";
    const char *params[] = {"1"};
    PGresult *res = NULL;
    CHECK_INT(cf_pg_exec(conn, sql, 1, params, &res, errbuf, sizeof(errbuf)), 0);
    PQclear(res);

    PQclear(PQexec(other, "ALTER TABLE pg_stale ALTER a TYPE bigint"));
    CHECK_INT(cf_pg_exec(conn, sql, 1, params, &res, errbuf, sizeof(errbuf)), 0);
    CHECK(res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "7") == 0);
    PQclear(res);
    res = NULL;
    CHECK_INT(cf_pg_exec(conn, sql, 1, params, &res, errbuf, sizeof(errbuf)), 0); /* anew */
    PQclear(res);

    PQclear(PQexec(other, "ALTER TABLE pg_stale ALTER a TYPE text"));
    CHECK_INT(cf_pg_begin(conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_pg_exec(conn, sql, 1, params, NULL, errbuf, sizeof(errbuf)), CF_EUNAVAIL);
    cf_pg_rollback(conn);
    CHECK_INT(cf_pg_begin(conn, errbuf, sizeof(errbuf)), 0);
    res = NULL;
    CHECK_INT(cf_pg_exec(conn, sql, 1, params, &res, errbuf, sizeof(errbuf)), 0);
    CHECK(res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "7") == 0);
    PQclear(res);
    CHECK_INT(cf_pg_commit(conn, errbuf, sizeof(errbuf)), 0);

    /* the names dropped on the server (a pooler's DISCARD ALL) */
    PQclear(PQexec(conn, "DEALLOCATE ALL"));
    res = NULL;
    CHECK_INT(cf_pg_exec(conn, sql, 1, params, &res, errbuf, sizeof(errbuf)), 0);
    CHECK(res && PQntuples(res) == 1);
    PQclear(res);
    PQclear(PQexec(other, "DROP TABLE pg_stale"));
    PQfinish(conn);
    PQfinish(other);
}

int main(void)
{
    const char *dsn = cf_test_server("CLINICFLOW_TEST_PG_DSN");
    test_prepared_once(dsn);
    test_prepared_stale(dsn);
    test_off(dsn);
    test_pool_exec(dsn);
    test_copy(dsn);
    test_arrays(dsn);
    return cf_test_done();
}
