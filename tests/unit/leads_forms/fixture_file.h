/*
 * Provider payloads kept in files (tests/fixtures/leads/<provider>/, the
 * format in tests/fixtures/leads/README.md): reading a request file into
 * the struct fx of adapter_fixture.h, and running a provider's whole
 * directory through its adapter against each case's expectation. A
 * mismatch is printed with the file and the field, and what the adapter
 * gave; the caller counts the failures (this file keeps no test counters
 * of its own: cftest.h's are per test program).
 */
#ifndef CF_TESTS_LEADS_FORMS_FIXTURE_FILE_H
#define CF_TESTS_LEADS_FORMS_FIXTURE_FILE_H

#include <stddef.h>

#include <jansson.h>

#include "adapter_fixture.h"

/* One request file, read. Strings are owned (fixture_request_free). */
struct fixture_request {
    char *path;         /* the file, for messages */
    char *method, *url; /* "POST" | "GET"; the URL the provider called */
    char *subpath;      /* url's path after /v1/hooks/leads/{provider}/{channel} */
    char *content_type; /* NULL when the file gives none */
    char *body;         /* as sent, NUL-terminated; "" when none */
    size_t body_len;
    json_t *j_headers; /* every other header line, names lower-cased */
};

/* Reads the request file at path into out: 0, or -1 with the reason (the
 * line) in errbuf and out left empty. */
int fixture_request_read(const char *path, struct fixture_request *out, char *errbuf,
                         size_t errbuf_size);
void fixture_request_free(struct fixture_request *req);

/* Reads <provider>/<name>.http from the fixtures directory for a case kept
 * in C (one that varies a payload at run time); aborts with the reason
 * when it cannot. */
void fixture_request_load(const char *provider, const char *name, struct fixture_request *out);

/* The demo network's channel demo-<provider> with the directory's
 * channel.json applied to it (a JSON merge patch): a new document. Aborts
 * when either cannot be read. */
json_t *fixture_channel(const char *provider);

/* x made from req on channel (stolen) as hooks.c builds a request: the
 * query from the URL, the headers, the body decoded as a form when it is
 * one. x borrows from req: fx_free(x) before fixture_request_free(req). */
void fixture_fx_init(struct fx *x, const struct fixture_request *req, json_t *channel);

/* Runs every case of the provider's fixture directory through a: verify,
 * then parse, compared with each <case>[.<variant>].expect.json. Returns
 * the number of failures (a directory without a case, a request without
 * an expectation and a file that is neither are failures too) and sets
 * *cases_out to the number of expectations run. */
int fixture_run_dir(const char *provider, const struct leads_adapter *a, size_t *cases_out);

#endif
