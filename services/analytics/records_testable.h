/*
 * The records behind a report's row (GET /v1/records/{kind}) and the
 * worklist (GET /v1/worklist), as pure functions: which records a query
 * names, as SQL over one kind's table, with its parameters, and the page
 * cursor. records_routes.c runs them.
 */
#ifndef CF_ANALYTICS_RECORDS_TESTABLE_H
#define CF_ANALYTICS_RECORDS_TESTABLE_H

#include <stddef.h>

#include <jansson.h>

#include "report_testable.h"

#define AN_RECORDS_LIMIT_DEFAULT 100
#define AN_RECORDS_LIMIT_MAX 1000
#define AN_RECORDS_PARAMS_MAX 24

/* A records query: the report's parameters (from, to, clinic, source)
 * plus a value per group (groups[g]: NULL when not given; "" for a row
 * whose group value was null), limit and the cursor it continues. */
struct an_records_query {
    struct an_report_params report;
    const char *groups[AN_G_COUNT];
    long limit;
    char *cursor_at, *cursor_id; /* the last record of the page before */
    const char *only;            /* one figure's records of the row, or NULL (borrowed) */
};

/* Reads the page parameters (limit, cursor: NULL when absent) into q:
 * 0, or CF_EINVAL with err. */
int an_records_page(const char *limit, const char *cursor, struct an_records_query *q,
                    struct an_param_error *err);
void an_records_clear(struct an_records_query *q);

/* The statement of kind's records for network_id and q (calls, leads,
 * appointments, tasks): each row's columns are the record as JSON text,
 * its time and id (the cursor's parts). params receives its parameters
 * (strdup'ed; *nparams of them). NULL with err for an unknown kind
 * (code not_found) or a group the kind cannot be filtered by. */
char *an_records_sql(const char *kind, const char *network_id, const struct an_records_query *q,
                     char **params, int *nparams, struct an_param_error *err);

/* The cursor after a record: its time and id, opaque to clients. */
char *an_records_cursor(const char *at, const char *id);

#endif
