/*
 * What every report shares (report_testable.h): reading its parameters,
 * echoing them, its groups in SQL and in the answer, counts and shares,
 * and CSV.
 */
#include "report_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "common/time.h"

const char *const an_group_names[AN_G_COUNT] = {
    [AN_G_CLINIC] = "clinic",
    [AN_G_SOURCE] = "source",
    [AN_G_MEDIUM] = "medium",
    [AN_G_CAMPAIGN] = "campaign",
    [AN_G_OPERATOR] = "operator",
    [AN_G_DOCTOR] = "doctor",
    [AN_G_PATIENT_CLASS] = "patient_class",
    [AN_G_CHANNEL] = "channel",
    [AN_G_DAY] = "day",
    [AN_G_WEEK] = "week",
    [AN_G_MONTH] = "month",
    [AN_G_HOUR] = "hour",
    [AN_G_WEEKDAY] = "weekday",
};

int an_refuse(struct an_param_error *err, const char *code, const char *field, const char *message)
{
    err->code = code;
    err->field = field;
    snprintf(err->message, sizeof(err->message), "%s", message);
    return CF_EINVAL;
}

static int read_date(const char *s, const char *field, char out[11], int64_t *days,
                     struct an_param_error *err)
{
    char msg[120];
    if (!s || !*s) {
        snprintf(msg, sizeof(msg), "%s is required: a date YYYY-MM-DD in the network's zone",
                 field);
        return an_refuse(err, "invalid_field", field, msg);
    }
    if (strlen(s) != 10 || cf_time_date_parse(s, days) != 0) {
        snprintf(msg, sizeof(msg), "%s must be a date YYYY-MM-DD", field);
        return an_refuse(err, "invalid_field", field, msg);
    }
    /* a range ends before the day after its last (to_next), so that day
     * must be a date too: 9999-12-31 has none */
    int y, m, d;
    cf_time_civil_from_days(*days + 1, &y, &m, &d);
    if (y > 9999) {
        snprintf(msg, sizeof(msg), "%s must be a date up to 9999-12-30", field);
        return an_refuse(err, "invalid_field", field, msg);
    }
    memcpy(out, s, 11);
    return 0;
}

/* The comma-separated items of list, each non-empty, into a new array
 * (at most max). NULL when an item is empty or not UTF-8 (a query's %FF),
 * or there are too many. */
static json_t *split(const char *list, size_t max)
{
    json_t *items = json_array();
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        json_t *item = len == 0 || json_array_size(items) == max ? NULL : json_stringn(p, len);
        if (!item) {
            json_decref(items);
            return NULL;
        }
        json_array_append_new(items, item);
        if (!comma)
            return items;
        p = comma + 1;
    }
}

static int read_groups(const char *group_by, struct an_report_params *p, struct an_param_error *err)
{
    char msg[200];
    json_t *items = split(group_by, AN_GROUPS_MAX);
    size_t i;
    json_t *j;

    if (!items) {
        snprintf(msg, sizeof(msg), "group_by takes one to %d names, comma-separated",
                 AN_GROUPS_MAX);
        return an_refuse(err, "invalid_field", "group_by", msg);
    }
    json_array_foreach(items, i, j)
    {
        int g = 0;
        while (g < AN_G_COUNT && strcmp(an_group_names[g], json_string_value(j)) != 0)
            g++;
        for (size_t k = 0; k < p->ngroups; k++)
            if ((int)p->groups[k] == g)
                g = -1;
        if (g < 0 || g == AN_G_COUNT) {
            snprintf(msg, sizeof(msg),
                     g < 0 ? "group_by names '%s' twice"
                           : "group_by '%s' is not one of clinic, source, medium, campaign, "
                             "operator, doctor, patient_class, channel, day, week, month, hour, "
                             "weekday",
                     json_string_value(j));
            json_decref(items);
            return an_refuse(err, "invalid_field", "group_by", msg);
        }
        p->groups[p->ngroups++] = (enum an_group)g;
    }
    json_decref(items);
    return 0;
}

int an_report_params_parse(const struct an_query *q, struct an_report_params *p,
                           struct an_param_error *err)
{
    const char *from = q->from, *to = q->to, *clinic = q->clinic, *source = q->source,
               *group_by = q->group_by, *format = q->format, *accept = q->accept;
    int64_t from_days = 0, to_days = 0;
    int y, m, d;

    memset(p, 0, sizeof(*p));
    if (read_date(from, "from", p->from, &from_days, err) != 0 ||
        read_date(to, "to", p->to, &to_days, err) != 0)
        return CF_EINVAL;
    p->from_days = from_days;
    p->to_days = to_days;
    if (to_days < from_days)
        return an_refuse(err, "invalid_field", "to", "to is before from");
    if (to_days - from_days + 1 > AN_RANGE_DAYS_MAX)
        return an_refuse(err, "invalid_field", "to", "a report covers at most 366 days");
    cf_time_civil_from_days(to_days + 1, &y, &m, &d);
    snprintf(p->to_next, sizeof(p->to_next), "%04u-%02u-%02u", (unsigned)y % 10000u,
             (unsigned)m % 100u, (unsigned)d % 100u);

    if (clinic && !(p->clinics = split(clinic, AN_CLINICS_MAX)))
        return an_refuse(err, "invalid_field", "clinic",
                         "clinic takes up to 64 clinic ids, repeated or comma-separated");
    if (source) {
        if (!*source || strlen(source) > 256)
            return an_refuse(err, "invalid_field", "source", "source must be 1 to 256 characters");
        p->source = strdup(source);
        if (!p->source)
            abort();
    }
    if (group_by && read_groups(group_by, p, err) != 0)
        return CF_EINVAL;
    if (q->attribution && strcmp(q->attribution, "first_touch") != 0 &&
        strcmp(q->attribution, "last_non_direct") != 0)
        return an_refuse(err, "invalid_field", "attribution",
                         "attribution is first_touch or last_non_direct");
    p->last_non_direct = q->attribution && strcmp(q->attribution, "last_non_direct") == 0;
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return an_refuse(err, "invalid_field", "format", "format is json or csv");
    p->csv = format ? strcmp(format, "csv") == 0 : accept && strstr(accept, "text/csv") != NULL;
    return 0;
}

void an_report_params_clear(struct an_report_params *p)
{
    json_decref(p->clinics);
    free(p->source);
    p->clinics = NULL;
    p->source = NULL;
}

json_t *an_report_params_json(const struct an_report_params *p)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < p->ngroups; i++)
        json_array_append_new(groups, json_string(an_group_names[p->groups[i]]));
    return json_pack("{s:s, s:s, s:O*, s:s*, s:o, s:s, s:s}", "from", p->from, "to", p->to,
                     "clinic", p->clinics, "source", p->source, "group_by", groups, "attribution",
                     p->last_non_direct ? "last_non_direct" : "first_touch", "format",
                     p->csv ? "csv" : "json");
}

/* "g0, g1" */
static void group_names(struct cf_strbuf *b, const struct an_report_params *p)
{
    for (size_t i = 0; i < p->ngroups; i++) {
        char col[32];
        snprintf(col, sizeof(col), "%sg%zu", i ? ", " : "", i);
        cf_strbuf_add(b, col);
    }
}

void an_sql_group_list(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                       const char *after)
{
    if (!grouped || !p->ngroups)
        return;
    group_names(b, p);
    if (grouped == AN_ROWS_AND_TOTALS)
        cf_strbuf_add(b, ", gk");
    cf_strbuf_add(b, after);
}

/* gk of a level that reads rows: GROUPING() of its first group, 0 on a
 * row of groups and 1 on the totals'. (Not a constant grouped with the
 * groups: PostgreSQL 15 carries a grouped constant up through a UNION
 * ALL as the constant, on the totals' row too.) */
static void group_key(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                      const char *first)
{
    if (grouped != AN_ROWS_AND_TOTALS || !p->ngroups)
        return;
    cf_strbuf_add(b, "GROUPING(");
    cf_strbuf_add(b, first);
    cf_strbuf_add(b, ") AS gk, ");
}

void an_sql_group_by(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                     enum an_sql_level level)
{
    if (!grouped || !p->ngroups)
        return;
    /* Both at once: a level that reads rows groups them twice, by the
     * groups (gk 0) and not at all (the totals, gk 1); the level that sums
     * parts keeps the two apart by gk. */
    if (grouped == AN_ROWS_AND_TOTALS && level != AN_SQL_OUTER) {
        cf_strbuf_add(b, " GROUP BY GROUPING SETS ((");
        group_names(b, p);
        cf_strbuf_add(b, "), ())");
    } else {
        cf_strbuf_add(b, " GROUP BY ");
        an_sql_group_list(b, p, grouped, "");
    }
    if (level != AN_SQL_PART) {
        cf_strbuf_add(b, " ORDER BY ");
        an_sql_group_list(b, p, grouped, "");
    }
}

void an_sql_part(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                 const struct an_cols *cols, const char *counts, const char *from)
{
    cf_strbuf_add(b, "SELECT ");
    an_sql_groups_of(b, p, grouped, cols);
    cf_strbuf_add(b, counts);
    cf_strbuf_add(b, from);
    an_sql_group_by(b, p, grouped, AN_SQL_PART);
}

void an_sql_groups(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                   const char *const exprs[AN_G_COUNT])
{
    for (size_t i = 0; grouped && i < p->ngroups; i++) {
        char alias[32];
        cf_strbuf_add(b, exprs[p->groups[i]]);
        snprintf(alias, sizeof(alias), " AS g%zu, ", i);
        cf_strbuf_add(b, alias);
    }
    if (grouped && p->ngroups)
        group_key(b, p, grouped, exprs[p->groups[0]]);
}

void an_sql_groups_of(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                      const struct an_cols *cols)
{
    char first[300] = "";

    for (size_t i = 0; grouped && i < p->ngroups; i++) {
        const char *text = NULL;
        char expr[300];
        switch (p->groups[i]) {
        case AN_G_CLINIC:
            text = cols->clinic;
            break;
        case AN_G_SOURCE:
            text = cols->source;
            break;
        case AN_G_MEDIUM:
            text = cols->medium;
            break;
        case AN_G_CAMPAIGN:
            text = cols->campaign;
            break;
        case AN_G_OPERATOR:
            text = cols->operator_;
            break;
        case AN_G_DOCTOR:
            text = cols->doctor;
            break;
        case AN_G_PATIENT_CLASS:
            text = cols->patient_class;
            break;
        case AN_G_CHANNEL:
            text = cols->channel;
            break;
        default:
            break;
        }
        if (p->groups[i] < AN_G_DAY)
            snprintf(expr, sizeof(expr), text ? "NULLIF(%s, '')" : "NULL::text", text);
        else if (!cols->hour)
            snprintf(expr, sizeof(expr), "NULL::text");
        else if (p->groups[i] == AN_G_DAY)
            snprintf(expr, sizeof(expr), "to_char(%s, 'YYYY-MM-DD')", cols->hour);
        else if (p->groups[i] == AN_G_WEEK)
            snprintf(expr, sizeof(expr), "to_char(date_trunc('week', %s), 'YYYY-MM-DD')",
                     cols->hour);
        else if (p->groups[i] == AN_G_MONTH)
            snprintf(expr, sizeof(expr), "to_char(%s, 'YYYY-MM')", cols->hour);
        else
            snprintf(expr, sizeof(expr), "extract(%s FROM %s)::int",
                     p->groups[i] == AN_G_HOUR ? "hour" : "isodow", cols->hour);
        cf_strbuf_add(b, expr);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", expr);
        snprintf(expr, sizeof(expr), " AS g%zu, ", i);
        cf_strbuf_add(b, expr);
    }
    group_key(b, p, grouped, first);
}

/* the network, hours and clinics of either rollup (alias c) */
#define ROLLUP_WHERE                                                                               \
    " c WHERE c.network_id = $1 AND c.hour >= $2::timestamp AND c.hour < $3::timestamp"            \
    " AND ($4::jsonb IS NULL OR c.clinic_id IN (SELECT jsonb_array_elements_text($4)))"

const char *an_sql_calls_rollup(const struct an_report_params *p)
{
    int dims = p->source != NULL;
    for (size_t i = 0; i < p->ngroups; i++)
        dims |= !(AN_GROUPS_CLINIC_TIME & 1u << p->groups[i]);
    return dims ? " FROM analytics.calls_hourly" ROLLUP_WHERE
                  " AND ($5::text IS NULL OR c.source = $5)"
                : " FROM analytics.calls_clinic_hourly" ROLLUP_WHERE " AND $5::text IS NULL";
}

int an_report_check(const struct an_report *report, const struct an_report_params *p,
                    struct an_param_error *err)
{
    char msg[200];
    for (size_t i = 0; i < p->ngroups; i++)
        if (!(report->groups & 1u << p->groups[i])) {
            snprintf(msg, sizeof(msg), "the %s report cannot be grouped by %s", report->name,
                     an_group_names[p->groups[i]]);
            return an_refuse(err, "invalid_field", "group_by", msg);
        }
    if (p->source && !report->takes_source) {
        snprintf(msg, sizeof(msg), "the %s report is not split by source (see the sources report)",
                 report->name);
        return an_refuse(err, "invalid_field", "source", msg);
    }
    return 0;
}

size_t an_group_values(const struct an_report_params *p, int grouped, const char *const *values,
                       json_t *row)
{
    size_t k = 0;
    for (; grouped && k < p->ngroups; k++) {
        const enum an_group g = p->groups[k];
        const char *v = values[k];
        json_object_set_new(row, an_group_names[g],
                            !v                                    ? json_null()
                            : g == AN_G_HOUR || g == AN_G_WEEKDAY ? json_integer(an_count(v))
                                                                  : json_string(v));
    }
    return k;
}

json_int_t an_count(const char *v)
{
    return v ? (json_int_t)strtoll(v, NULL, 10) : 0;
}

json_t *an_share(json_int_t num, json_int_t den)
{
    return den > 0 ? json_real((double)num / (double)den) : json_null();
}

double an_amount(const char *v)
{
    return v ? strtod(v, NULL) : 0.0;
}

json_t *an_seconds(const char *v)
{
    return v ? json_real(strtod(v, NULL)) : json_null();
}

static void csv_value(struct cf_strbuf *b, const json_t *v)
{
    char num[40];
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        cf_strbuf_add(b, num);
    } else if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.15g", json_real_value(v)); /* as the JSON answer */
        cf_strbuf_add(b, num);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        /* a value a spreadsheet would run as a formula (a campaign tag is
         * whatever a visitor's link said): kept as text by a leading ' */
        const int formula = *s && strchr("=+-@\t\r", *s);
        if (!formula && !strpbrk(s, ",\"\r\n")) {
            cf_strbuf_add(b, s);
            return;
        }
        cf_strbuf_add(b, formula ? "\"'" : "\"");
        for (const char *q; (q = strchr(s, '"')); s = q + 1) {
            cf_strbuf_add_n(b, s, (size_t)(q - s) + 1);
            cf_strbuf_add(b, "\"");
        }
        cf_strbuf_add(b, s);
        cf_strbuf_add(b, "\"");
    }
}

char *an_report_csv(const struct an_report_params *p, const char *const *fields, size_t nfields,
                    const json_t *rows)
{
    struct cf_strbuf b = {0};
    size_t i;
    const json_t *row;

    for (size_t k = 0; k < p->ngroups + nfields; k++) {
        cf_strbuf_add(&b, k ? "," : "");
        cf_strbuf_add(&b, k < p->ngroups ? an_group_names[p->groups[k]] : fields[k - p->ngroups]);
    }
    cf_strbuf_add(&b, "\r\n");
    json_array_foreach(rows, i, row)
    {
        for (size_t k = 0; k < p->ngroups + nfields; k++) {
            cf_strbuf_add(&b, k ? "," : "");
            csv_value(&b, json_object_get(row, k < p->ngroups ? an_group_names[p->groups[k]]
                                                              : fields[k - p->ngroups]));
        }
        cf_strbuf_add(&b, "\r\n");
    }
    return cf_strbuf_take(&b);
}
