/*
 * The reports' rules as pure functions (proto/README.md, "Analytics
 * reports"): reading a query's parameters, the SQL of the calls report,
 * and turning its result into the answer's rows (with the shares computed
 * beside their definitions) and into CSV. No I/O; report_routes.c runs
 * the SQL and answers, and the unit tests call these directly.
 */
#ifndef CF_ANALYTICS_REPORT_TESTABLE_H
#define CF_ANALYTICS_REPORT_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* What a report can be grouped by, in the order group_by names them. */
enum an_group {
    AN_G_CLINIC,
    AN_G_SOURCE,
    AN_G_MEDIUM,
    AN_G_CAMPAIGN,
    AN_G_OPERATOR,
    AN_G_PATIENT_CLASS,
    AN_G_CHANNEL,
    AN_G_DAY,
    AN_G_WEEK,
    AN_G_MONTH,
    AN_G_HOUR,
    AN_G_WEEKDAY,
    AN_G_COUNT
};
extern const char *const an_group_names[AN_G_COUNT];

#define AN_GROUPS_MAX 3
#define AN_CLINICS_MAX 64
#define AN_RANGE_DAYS_MAX 366

struct an_report_params {
    char from[11], to[11]; /* "YYYY-MM-DD", as given */
    char to_next[11];      /* the day after to: the range's exclusive end */
    json_t *clinics;       /* array of clinic ids, or NULL for all */
    char *source;          /* attribution source, or NULL for all */
    enum an_group groups[AN_GROUPS_MAX];
    size_t ngroups;
    int csv; /* answer text/csv */
};

/* Why parameters were refused: the 400's code, field and message. */
struct an_param_error {
    const char *code;
    const char *field;
    char message[200];
};

/* Reads a report query's parameters, each as the request gave it (NULL
 * when absent; a repeated parameter joined with commas): from, to,
 * clinic, source, group_by, format and the Accept header. 0, or CF_EINVAL
 * with err filled in. Clear p in both cases. */
int an_report_params_parse(const char *from, const char *to, const char *clinic, const char *source,
                           const char *group_by, const char *format, const char *accept,
                           struct an_report_params *p, struct an_param_error *err);
void an_report_params_clear(struct an_report_params *p);

/* The params member of the answer: what the report was asked. */
json_t *an_report_params_json(const struct an_report_params *p);

/* The calls report's statement: with grouped, its groups as the first
 * columns (p->groups), else one row of totals; then the counts in the
 * order an_calls_row reads them. Parameters: $1 network id, $2 from,
 * $3 to_next, $4 the clinics as a JSON array (NULL: all), $5 the source
 * (NULL: all). free() it. */
char *an_calls_report_sql(const struct an_report_params *p, int grouped);

/* The columns an_calls_report_sql selects after the groups. */
#define AN_CALLS_SQL_NCOLS 17

/* One row of the calls report from one result row (values: the groups
 * when grouped, then AN_CALLS_SQL_NCOLS; NULL for SQL NULL): the group
 * values under their names, the counts, and the shares and durations of
 * proto/README.md. A new object. */
json_t *an_calls_row(const struct an_report_params *p, int grouped, const char *const *values);

/* The calls report's field names, in the answer's (and CSV's) order. */
extern const char *const an_calls_fields[];
extern const size_t an_calls_nfields;

/* CSV of rows: a header of the group names then fields, one line per row;
 * null is empty, text quoted when it must be (RFC 4180). free() it. */
char *an_report_csv(const struct an_report_params *p, const char *const *fields, size_t nfields,
                    const json_t *rows);

#endif
