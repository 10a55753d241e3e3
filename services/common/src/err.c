/*
 * The error-code table: one stable short name and one HTTP status per
 * cf_err value. Both lookups are switches so that an unknown code falls
 * through to "internal"/500 rather than indexing out of a table.
 */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cf_err_name(int err)
{
    switch (err) {
    case CF_OK:
        return "ok";
    case CF_EINVAL:
        return "invalid";
    case CF_ENOTFOUND:
        return "not_found";
    case CF_ECONFLICT:
        return "conflict";
    case CF_EUNAVAIL:
        return "unavailable";
    case CF_ETIMEOUT:
        return "timeout";
    case CF_EAUTH:
        return "unauthorized";
    case CF_ETOOBIG:
        return "too_large";
    case CF_EWAIT:
        return "wait";
    case CF_EFORBIDDEN:
        return "forbidden";
    case CF_ERATELIMIT:
        return "rate_limited";
    default:
        return "internal";
    }
}

int cf_err_http_status(int err)
{
    switch (err) {
    case CF_OK:
        return 200;
    case CF_EINVAL:
        return 400;
    case CF_ENOTFOUND:
        return 404;
    case CF_ECONFLICT:
        return 409;
    case CF_EUNAVAIL:
        return 503;
    case CF_ETIMEOUT:
        return 504;
    case CF_EAUTH:
        return 401;
    case CF_ETOOBIG:
        return 413;
    case CF_EFORBIDDEN:
        return 403;
    case CF_ERATELIMIT:
        return 429;
    default:
        return 500;
    }
}

void cf_seterr(char *errbuf, size_t errbuf_size, const char *fmt, ...)
{
    if (!errbuf || errbuf_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(errbuf, errbuf_size, fmt, ap);
    va_end(ap);
    size_t len = strlen(errbuf);
    while (len > 0 && (errbuf[len - 1] == '\n' || errbuf[len - 1] == '\r'))
        errbuf[--len] = '\0';
    for (char *c = errbuf; *c; c++) {
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    }
}
