/*
 * COPY FROM STDIN (common/pg_copy.h): text-format rows built into one
 * buffer, sent in chunks, the server's answer read to the end so the
 * connection is ready for the caller's next statement or rollback.
 */
#include "common/pg_copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "pg_internal.h"

#define CHUNK (256 * 1024) /* bytes a PQputCopyData */

static void field_start(struct cf_pg_copy *c)
{
    if (c->fields++ > 0)
        cf_strbuf_add_n(&c->b, "\t", 1);
}

/* n bytes of s, escaped (COPY's text format: backslash, tab, newline and
 * carriage return; the rest, UTF-8 included, as it is). */
static void add_escaped(struct cf_strbuf *b, const char *s, size_t n)
{
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = s[i] == '\\'   ? "\\\\"
                          : s[i] == '\t' ? "\\t"
                          : s[i] == '\n' ? "\\n"
                          : s[i] == '\r' ? "\\r"
                                         : NULL;
        if (!esc)
            continue;
        cf_strbuf_add_n(b, s + from, i - from);
        cf_strbuf_add_n(b, esc, 2);
        from = i + 1;
    }
    cf_strbuf_add_n(b, s + from, n - from);
}

void cf_pg_copy_textn(struct cf_pg_copy *c, const char *s, size_t n)
{
    field_start(c);
    if (!s)
        cf_strbuf_add_n(&c->b, "\\N", 2);
    else
        add_escaped(&c->b, s, n);
}

void cf_pg_copy_text(struct cf_pg_copy *c, const char *s)
{
    cf_pg_copy_textn(c, s, s ? strlen(s) : 0);
}

void cf_pg_copy_int(struct cf_pg_copy *c, long long v)
{
    char num[24];
    field_start(c);
    cf_strbuf_add_n(&c->b, num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

/* json_dump_callback's writer: a piece of the document, escaped. */
static int dump_escaped(const char *buffer, size_t size, void *data)
{
    add_escaped(data, buffer, size);
    return 0;
}

void cf_pg_copy_json(struct cf_pg_copy *c, const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        cf_pg_copy_textn(c, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        cf_pg_copy_int(c, (long long)json_integer_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        cf_pg_copy_text(c, json_is_true(v) ? "true" : "false");
        break;
    case JSON_NULL:
        cf_pg_copy_textn(c, NULL, 0);
        break;
    default: /* a real, an object, an array: its JSON text */
        field_start(c);
        json_dump_callback(v, dump_escaped, &c->b, JSON_COMPACT | JSON_ENCODE_ANY);
        break;
    }
}

void cf_pg_copy_row_end(struct cf_pg_copy *c)
{
    cf_strbuf_add_n(&c->b, "\n", 1);
    c->fields = 0;
    c->rows++;
}

void cf_pg_copy_clear(struct cf_pg_copy *c)
{
    free(c->b.p);
    *c = (struct cf_pg_copy){0};
}

/* cf_pg_result_err's, the reason marked as the COPY's. */
static int copy_err(PGconn *conn, const PGresult *res, char *errbuf, size_t errbuf_size)
{
    char reason[256];
    const int rc = cf_pg_result_err(conn, res, reason, sizeof(reason));
    cf_seterr(errbuf, errbuf_size, "copy: %s", reason);
    return rc;
}

int cf_pg_copy_send(PGconn *conn, const char *sql, struct cf_pg_copy *c, char *errbuf,
                    size_t errbuf_size)
{
    if (c->rows == 0) {
        cf_pg_copy_clear(c);
        return 0;
    }
    PGresult *res = PQexec(conn, sql);
    const ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COPY_IN) {
        int rc = CF_EINTERNAL; /* a statement that ran but was no COPY: the caller's bug */
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
            cf_seterr(errbuf, errbuf_size, "postgresql: not a COPY FROM STDIN: %.60s", sql);
        else
            rc = copy_err(conn, res, errbuf, errbuf_size);
        PQclear(res);
        cf_pg_copy_clear(c);
        return rc;
    }
    PQclear(res);
    int sent = 1, rc = 0;
    for (size_t off = 0; sent && off < c->b.len; off += CHUNK) {
        const size_t n = c->b.len - off < CHUNK ? c->b.len - off : CHUNK;
        sent = PQputCopyData(conn, c->b.p + off, (int)n) == 1;
    }
    /* A send that failed ends the COPY as failed, so the server answers. */
    if (PQputCopyEnd(conn, sent ? NULL : "the rows could not be sent") != 1)
        sent = 0;
    while ((res = PQgetResult(conn)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = copy_err(conn, res, errbuf, errbuf_size);
        PQclear(res);
    }
    if (rc == 0 && !sent)
        rc = copy_err(conn, NULL, errbuf, errbuf_size);
    cf_pg_copy_clear(c);
    return rc;
}
