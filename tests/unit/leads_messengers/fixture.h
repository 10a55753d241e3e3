/*
 * The messenger adapters' tests (tests/unit/leads_messengers/): a webhook
 * request built the way hooks.c builds it, read from a fixture file
 * (tests/fixtures/leads/<provider>/<case>.http, the format of
 * tests/fixtures/calls/README.md; what differs is in
 * tests/fixtures/leads/README.md), and the run of a provider's whole
 * directory through its adapter: precheck, verify, parse, reply, each
 * compared with the case's expectation.
 */
#ifndef CF_TESTS_LEADS_MESSENGERS_FIXTURE_H
#define CF_TESTS_LEADS_MESSENGERS_FIXTURE_H

#include <stddef.h>

#include <jansson.h>

#include "providers/adapters.h"

/* One request file, read. Strings are owned (lx_request_free). */
struct lx_request {
    char *path;
    char *method, *url;
    char *content_type; /* NULL when the file gives none */
    char *body;         /* as sent, NUL-terminated; "" when none */
    size_t body_len;
    json_t *j_headers; /* every other header line, names lower-cased */
};

/* One request as an adapter sees it, and the documents it borrows. */
struct lx {
    struct cf_hook h;
    json_t *query, *form, *headers, *channel, *facts;
    struct cf_hook_notes notes;
    char err[256];
    const char *field;
};

/* Reads <provider>/<name>.http; aborts with the reason when it cannot. */
void lx_request_load(const char *provider, const char *name, struct lx_request *out);
void lx_request_free(struct lx_request *req);

/* The provider directory's channel.json: a new document. */
json_t *lx_channel(const char *provider);

/* x made from req (borrowed: free x first) on channel (stolen). */
void lx_init(struct lx *x, const struct lx_request *req, json_t *channel);
/* The same with body (borrowed) in place of the request's. */
void lx_init_body(struct lx *x, const struct lx_request *req, const char *body, json_t *channel);
void lx_free(struct lx *x);

/* Verifies, then parses req (body in place of its own unless NULL) on
 * channel (stolen), arrived at received_ms: verify's rc when it refused,
 * else parse's; the facts in *facts_out (a new reference, [] on refusal).
 * A refusal or failure must give a reason. */
int lx_verify_parse(const struct leads_adapter *a, const struct lx_request *req, const char *body,
                    json_t *channel, int64_t received_ms, json_t **facts_out);

/* Runs every case of the provider's directory through a; the number of
 * failures (a directory without a case, a request without an expectation,
 * a file that is neither count as failures); *cases_out the cases run. */
int lx_run_dir(const char *provider, const struct leads_adapter *a, size_t *cases_out);

#endif
