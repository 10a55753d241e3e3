/*
 * Error codes shared by every module. Fallible functions return 0 or one of
 * these negative values; a human-readable reason goes into the caller's
 * errbuf. cf_err_http_status() is the one mapping from code to HTTP status.
 */
#ifndef CF_COMMON_ERR_H
#define CF_COMMON_ERR_H

#include <stddef.h>

enum cf_err {
    CF_OK = 0,
    CF_EINVAL = -1,     /* bad input: the caller's fault, permanent */
    CF_ENOTFOUND = -2,  /* the named thing does not exist */
    CF_ECONFLICT = -3,  /* already exists / unique violation */
    CF_EUNAVAIL = -4,   /* a dependency cannot take the request now: retry */
    CF_ETIMEOUT = -5,   /* a bounded wait ran out: retry */
    CF_EAUTH = -6,      /* missing or wrong credentials */
    CF_ETOOBIG = -7,    /* input over a size limit */
    CF_EFORBIDDEN = -8, /* credentials valid but lacking the scope */
    CF_ERATELIMIT = -9, /* too many requests */
    CF_EINTERNAL = -10, /* a bug or an unexpected library failure */
    CF_EWAIT = -11      /* not yet: what this depends on is on its way; retry, no failure */
};

/* Short stable name of an error code ("invalid", "unavailable", ...). */
const char *cf_err_name(int err);

/* HTTP status for an error code (400, 404, 409, 503, 504, 401, 413, 403, 429, 500). */
int cf_err_http_status(int err);

/* Formats a reason into errbuf (nothing when errbuf is NULL or empty) as one
 * line: trailing line breaks are cut and inner ones become spaces, since
 * library messages (libpq's) span lines. */
void cf_seterr(char *errbuf, size_t errbuf_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
