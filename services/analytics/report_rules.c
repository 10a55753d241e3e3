/*
 * The reports' rules (report_testable.h): parameters, the calls report's
 * SQL and rows, CSV. Each figure's definition is proto/README.md's; the
 * counts are summed in SQL, the shares computed here from them.
 */
#include "report_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "common/time.h"

const char *const an_group_names[AN_G_COUNT] = {
    "clinic",  "source", "medium", "campaign", "operator", "patient_class",
    "channel", "day",    "week",   "month",    "hour",     "weekday",
};

static int refuse(struct an_param_error *err, const char *code, const char *field,
                  const char *message)
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
        return refuse(err, "invalid_field", field, msg);
    }
    if (strlen(s) != 10 || cf_time_date_parse(s, days) != 0) {
        snprintf(msg, sizeof(msg), "%s must be a date YYYY-MM-DD", field);
        return refuse(err, "invalid_field", field, msg);
    }
    memcpy(out, s, 11);
    return 0;
}

/* The comma-separated items of list, each non-empty, into a new array
 * (at most max). NULL when an item is empty or there are too many. */
static json_t *split(const char *list, size_t max)
{
    json_t *items = json_array();
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || json_array_size(items) == max) {
            json_decref(items);
            return NULL;
        }
        json_array_append_new(items, json_stringn(p, len));
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
        return refuse(err, "invalid_field", "group_by", msg);
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
                             "operator, patient_class, channel, day, week, month, hour, weekday",
                     json_string_value(j));
            json_decref(items);
            return refuse(err, "invalid_field", "group_by", msg);
        }
        p->groups[p->ngroups++] = (enum an_group)g;
    }
    json_decref(items);
    return 0;
}

int an_report_params_parse(const char *from, const char *to, const char *clinic, const char *source,
                           const char *group_by, const char *format, const char *accept,
                           struct an_report_params *p, struct an_param_error *err)
{
    int64_t from_days = 0, to_days = 0;
    int y, m, d;

    memset(p, 0, sizeof(*p));
    if (read_date(from, "from", p->from, &from_days, err) != 0 ||
        read_date(to, "to", p->to, &to_days, err) != 0)
        return CF_EINVAL;
    if (to_days < from_days)
        return refuse(err, "invalid_field", "to", "to is before from");
    if (to_days - from_days + 1 > AN_RANGE_DAYS_MAX)
        return refuse(err, "invalid_field", "to", "a report covers at most 366 days");
    cf_time_civil_from_days(to_days + 1, &y, &m, &d);
    snprintf(p->to_next, sizeof(p->to_next), "%04u-%02u-%02u", (unsigned)y % 10000u,
             (unsigned)m % 100u, (unsigned)d % 100u);

    if (clinic && !(p->clinics = split(clinic, AN_CLINICS_MAX)))
        return refuse(err, "invalid_field", "clinic",
                      "clinic takes up to 64 clinic ids, repeated or comma-separated");
    if (source) {
        if (!*source || strlen(source) > 256)
            return refuse(err, "invalid_field", "source", "source must be 1 to 256 characters");
        p->source = strdup(source);
        if (!p->source)
            abort();
    }
    if (group_by && read_groups(group_by, p, err) != 0)
        return CF_EINVAL;
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return refuse(err, "invalid_field", "format", "format is json or csv");
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
    return json_pack("{s:s, s:s, s:O*, s:s*, s:o, s:s}", "from", p->from, "to", p->to, "clinic",
                     p->clinics, "source", p->source, "group_by", groups, "format",
                     p->csv ? "csv" : "json");
}

/* A group's value over the rollup (c: calls_hourly) and over a task (t)
 * with its source call (s: calls); an int when is_int. */
static const struct {
    const char *calls;
    const char *tasks;
    int is_int;
} group_sql[AN_G_COUNT] = {
    [AN_G_CLINIC] = {"NULLIF(c.clinic_id, '')", "NULLIF(t.clinic_id, '')", 0},
    [AN_G_SOURCE] = {"NULLIF(c.source, '')", "NULLIF(s.source, '')", 0},
    [AN_G_MEDIUM] = {"NULLIF(c.medium, '')", "NULLIF(s.medium, '')", 0},
    [AN_G_CAMPAIGN] = {"NULLIF(c.campaign, '')", "NULLIF(s.campaign, '')", 0},
    [AN_G_OPERATOR] = {"NULLIF(c.operator, '')", "NULLIF(s.operator, '')", 0},
    [AN_G_PATIENT_CLASS] = {"NULLIF(c.patient_class, '')", "NULLIF(s.patient_class, '')", 0},
    [AN_G_CHANNEL] = {"NULLIF(c.channel, '')", "NULLIF(s.channel, '')", 0},
    [AN_G_DAY] = {"to_char(c.hour, 'YYYY-MM-DD')", "to_char(t.hour, 'YYYY-MM-DD')", 0},
    [AN_G_WEEK] = {"to_char(date_trunc('week', c.hour), 'YYYY-MM-DD')",
                   "to_char(date_trunc('week', t.hour), 'YYYY-MM-DD')", 0},
    [AN_G_MONTH] = {"to_char(c.hour, 'YYYY-MM')", "to_char(t.hour, 'YYYY-MM')", 0},
    [AN_G_HOUR] = {"extract(hour FROM c.hour)::int", "extract(hour FROM t.hour)::int", 1},
    [AN_G_WEEKDAY] = {"extract(isodow FROM c.hour)::int", "extract(isodow FROM t.hour)::int", 1},
};

/* "g0, g1, " for the outer select and GROUP BY. */
static void add_group_list(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                           const char *sep_after)
{
    for (size_t i = 0; grouped && i < p->ngroups; i++) {
        char col[32];
        snprintf(col, sizeof(col), "%sg%zu", i ? ", " : "", i);
        cf_strbuf_add(b, col);
    }
    if (grouped && p->ngroups)
        cf_strbuf_add(b, sep_after);
}

static void add_group_exprs(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                            int tasks)
{
    for (size_t i = 0; grouped && i < p->ngroups; i++) {
        char alias[32];
        cf_strbuf_add(b, tasks ? group_sql[p->groups[i]].tasks : group_sql[p->groups[i]].calls);
        snprintf(alias, sizeof(alias), " AS g%zu, ", i);
        cf_strbuf_add(b, alias);
    }
}

char *an_calls_report_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};
    const int g = grouped && p->ngroups;

    cf_strbuf_add(&b, "SELECT ");
    add_group_list(&b, p, grouped, ", ");
    /* the counts of both parts, and the task part's percentiles (one task
     * row per group at most: max() picks it) */
    cf_strbuf_add(&b, "coalesce(sum(inbound), 0), coalesce(sum(outbound), 0),"
                      " coalesce(sum(answered), 0), coalesce(sum(unique_calls), 0),"
                      " coalesce(sum(targeted), 0), coalesce(sum(missed), 0),"
                      " coalesce(sum(abandoned), 0), coalesce(sum(answered_call_center), 0),"
                      " coalesce(sum(answered_reception), 0), coalesce(sum(talk_seconds), 0),"
                      " coalesce(sum(callback_tasks), 0), coalesce(sum(called_back), 0),"
                      " coalesce(sum(called_back_on_time), 0), coalesce(sum(lost), 0),"
                      " coalesce(sum(within_15_min), 0), max(median_s), max(p90_s) FROM (SELECT ");
    /* the calls: the hourly rollup */
    add_group_exprs(&b, p, grouped, 0);
    cf_strbuf_add(
        &b, "sum(c.inbound)::bigint AS inbound, sum(c.outbound)::bigint AS outbound,"
            " sum(c.answered)::bigint AS answered, sum(c.unique_calls)::bigint AS unique_calls,"
            " sum(c.targeted)::bigint AS targeted, sum(c.missed)::bigint AS missed,"
            " sum(c.abandoned)::bigint AS abandoned,"
            " sum(c.answered_call_center)::bigint AS answered_call_center,"
            " sum(c.answered_reception)::bigint AS answered_reception,"
            " sum(c.talk_seconds)::bigint AS talk_seconds, 0::bigint AS callback_tasks,"
            " 0::bigint AS called_back, 0::bigint AS called_back_on_time, 0::bigint AS lost,"
            " 0::bigint AS within_15_min, NULL::float8 AS median_s, NULL::float8 AS p90_s"
            " FROM analytics.calls_hourly c WHERE c.network_id = $1"
            " AND c.hour >= $2::timestamp AND c.hour < $3::timestamp"
            " AND ($4::jsonb IS NULL OR c.clinic_id IN (SELECT jsonb_array_elements_text($4)))"
            " AND ($5::text IS NULL OR c.source = $5)");
    if (g) {
        cf_strbuf_add(&b, " GROUP BY ");
        add_group_list(&b, p, grouped, "");
    }
    /* the missed calls' callback tasks, with their first missed call */
    cf_strbuf_add(&b, " UNION ALL SELECT ");
    add_group_exprs(&b, p, grouped, 1);
    cf_strbuf_add(
        &b, "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count(*),"
            " count(*) FILTER (WHERE t.status = 'closed'),"
            " count(*) FILTER (WHERE t.status = 'closed' AND t.on_time),"
            " count(*) FILTER (WHERE t.status = 'expired'),"
            " count(*) FILTER (WHERE t.status = 'closed' AND t.seconds_to_callback <= 900),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY t.seconds_to_callback)"
            " FILTER (WHERE t.status = 'closed'),"
            " percentile_cont(0.9) WITHIN GROUP (ORDER BY t.seconds_to_callback)"
            " FILTER (WHERE t.status = 'closed')"
            " FROM analytics.tasks t LEFT JOIN analytics.calls s"
            " ON s.call_id = t.source_call_id AND s.network_id = t.network_id"
            " WHERE t.network_id = $1 AND t.kind = 'callback' AND t.lead_id IS NULL"
            " AND NOT t.withdrawn AND t.hour >= $2::timestamp AND t.hour < $3::timestamp"
            " AND ($4::jsonb IS NULL OR t.clinic_id IN (SELECT jsonb_array_elements_text($4)))"
            " AND ($5::text IS NULL OR s.source = $5)");
    if (g) {
        cf_strbuf_add(&b, " GROUP BY ");
        add_group_list(&b, p, grouped, "");
    }
    cf_strbuf_add(&b, ") x");
    if (g) {
        cf_strbuf_add(&b, " GROUP BY ");
        add_group_list(&b, p, grouped, " ORDER BY ");
        add_group_list(&b, p, grouped, "");
    }
    return cf_strbuf_take(&b);
}

const char *const an_calls_fields[] = {
    "inbound",
    "outbound",
    "answered",
    "unique",
    "targeted",
    "missed",
    "abandoned",
    "callback_tasks",
    "called_back",
    "called_back_on_time",
    "lost",
    "callback_rate",
    "time_to_callback_median_s",
    "time_to_callback_p90_s",
    "called_back_within_15_min_share",
    "answered_call_center",
    "answered_reception",
    "call_center_share",
    "talk_seconds",
};
const size_t an_calls_nfields = sizeof(an_calls_fields) / sizeof(an_calls_fields[0]);

static json_int_t count(const char *v)
{
    return v ? (json_int_t)strtoll(v, NULL, 10) : 0;
}

/* num / den, or null when den is 0. */
static json_t *share(json_int_t num, json_int_t den)
{
    return den > 0 ? json_real((double)num / (double)den) : json_null();
}

static json_t *seconds(const char *v)
{
    return v ? json_real(strtod(v, NULL)) : json_null();
}

json_t *an_calls_row(const struct an_report_params *p, int grouped, const char *const *values)
{
    json_t *row = json_object();
    size_t k = 0;

    for (; grouped && k < p->ngroups; k++) {
        const char *v = values[k];
        json_object_set_new(row, an_group_names[p->groups[k]],
                            !v                               ? json_null()
                            : group_sql[p->groups[k]].is_int ? json_integer(count(v))
                                                             : json_string(v));
    }
    const char *const *c = values + k;
    const json_int_t inbound = count(c[0]), outbound = count(c[1]), answered = count(c[2]),
                     unique = count(c[3]), targeted = count(c[4]), missed = count(c[5]),
                     abandoned = count(c[6]), by_cc = count(c[7]), by_reception = count(c[8]),
                     talk = count(c[9]), tasks = count(c[10]), called_back = count(c[11]),
                     on_time = count(c[12]), lost = count(c[13]), within_15 = count(c[14]);

    json_object_set_new(row, "inbound", json_integer(inbound));
    json_object_set_new(row, "outbound", json_integer(outbound));
    json_object_set_new(row, "answered", json_integer(answered));
    json_object_set_new(row, "unique", json_integer(unique));
    json_object_set_new(row, "targeted", json_integer(targeted));
    json_object_set_new(row, "missed", json_integer(missed));
    json_object_set_new(row, "abandoned", json_integer(abandoned));
    json_object_set_new(row, "callback_tasks", json_integer(tasks));
    json_object_set_new(row, "called_back", json_integer(called_back));
    json_object_set_new(row, "called_back_on_time", json_integer(on_time));
    json_object_set_new(row, "lost", json_integer(lost));
    /* tasks still open count against the rate until they close or expire */
    json_object_set_new(row, "callback_rate", share(called_back, tasks));
    json_object_set_new(row, "time_to_callback_median_s", seconds(c[15]));
    json_object_set_new(row, "time_to_callback_p90_s", seconds(c[16]));
    json_object_set_new(row, "called_back_within_15_min_share", share(within_15, tasks));
    json_object_set_new(row, "answered_call_center", json_integer(by_cc));
    json_object_set_new(row, "answered_reception", json_integer(by_reception));
    /* over the answered calls whose agent's group is known */
    json_object_set_new(row, "call_center_share", share(by_cc, by_cc + by_reception));
    json_object_set_new(row, "talk_seconds", json_integer(talk));
    return row;
}

static void csv_value(struct cf_strbuf *b, const json_t *v)
{
    char num[40];
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        cf_strbuf_add(b, num);
    } else if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        cf_strbuf_add(b, num);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strpbrk(s, ",\"\r\n")) {
            cf_strbuf_add(b, s);
            return;
        }
        cf_strbuf_add(b, "\"");
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
