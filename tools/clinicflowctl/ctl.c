/*
 * What clinicflowctl's commands share (ctl.h): its messages, its table
 * cells, and the configuration's version that every write moves on.
 */
#include "ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/pg.h"

void ctl_print_cell(const char *s, const char *sep)
{
    if (!*s)
        s = "-";
    for (; *s; s++)
        putchar(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
    fputs(sep, stdout);
}

void ctl_errorf(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "clinicflowctl: %s\n", msg);
}

int ctl_bump_version(PGconn *conn, int64_t *out, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn, "UPDATE config.version SET v = v + 1 RETURNING v", 0, NULL, &res,
                        errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    if (PQntuples(res) != 1) {
        snprintf(errbuf, errbuf_size, "config.version has no row: run clinicflowctl migrate");
        PQclear(res);
        return CF_EINTERNAL;
    }
    *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}
