/*
 * The request-id check, the form field count, the dispatcher and the
 * route lookup of http.c. Included by the defining file and by its unit
 * test, so both see one declaration: static in normal builds, external in
 * unit tests (common/testable.h).
 */
#ifndef CF_COMMON_HTTP_TESTABLE_H
#define CF_COMMON_HTTP_TESTABLE_H

#include <stddef.h>

#include <ulfius.h>

#include "common/http.h"
#include "common/testable.h"

CF_TESTABLE int cf_http_request_id_ok(const char *id);
CF_TESTABLE size_t cf_http_form_fields(const struct _u_request *req);
CF_TESTABLE int cf_http_dispatch(const struct _u_request *req, struct _u_response *resp,
                                 void *user);
#ifdef CF_UNIT_TEST
CF_TESTABLE void *cf_http_find_route(struct cf_http *h, const char *method, const char *pattern);
#endif

#endif
