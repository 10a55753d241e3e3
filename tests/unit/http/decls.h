/*
 * Functions of services/common/src/http.c that are static in normal builds
 * and visible to unit tests (CF_TESTABLE).
 */
#ifndef CF_TESTS_UNIT_HTTP_DECLS_H
#define CF_TESTS_UNIT_HTTP_DECLS_H

#include "common/http.h"

/* 1 if id may be echoed as X-Request-Id (1..64 of [A-Za-z0-9._-]). */
int cf_http_request_id_ok(const char *id);
/* The route wrapper; user is a record from cf_http_find_route. */
int cf_http_dispatch(const struct _u_request *req, struct _u_response *resp, void *user);
/* The route record for method and pattern; NULL method: the not-found route. */
void *cf_http_find_route(struct cf_http *h, const char *method, const char *pattern);

#endif
