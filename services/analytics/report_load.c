/*
 * The load report (report_testable.h, proto/README.md "Analytics
 * reports"): contacts by local hour and weekday with the missed share,
 * and how many operators an hour needs (Erlang C: 80% of calls answered
 * within 20 s, from the calls arriving per hour and their mean talk
 * time). The rows are what the query groups by (weekday,hour gives the
 * week's staffing table; no group_by, one row: the totals); an hour's
 * rate is its calls over the hours of the range the row covers (a
 * Tuesday 10:00 row of a four-week range: four hours).
 */
#include "report_testable.h"

#include <math.h>

#include "common/strbuf.h"
#include "common/time.h"

#define TARGET_SHARE 0.8
#define TARGET_S 20.0
#define AGENTS_MAX 1000

int an_erlang_c_agents(double calls_per_hour, double aht_s, double target_share, double target_s)
{
    if (calls_per_hour <= 0 || aht_s <= 0)
        return 0;
    const double a = calls_per_hour * aht_s / 3600.0; /* the traffic, in erlangs */
    double b = 1.0;                                   /* Erlang B for n agents, by recurrence */
    for (int n = 1; n <= AGENTS_MAX; n++) {
        b = a * b / (n + a * b);
        if (n <= a)
            continue; /* fewer agents than erlangs: the queue grows without end */
        const double wait = n * b / (n - a * (1.0 - b)); /* Erlang C: the chance to wait */
        const double served = 1.0 - wait * exp(-(n - a) * target_s / aht_s);
        if (served >= target_share)
            return n;
    }
    return AGENTS_MAX;
}

/* The ISO weekday (1 Monday .. 7 Sunday) of a day since 1970-01-01, a
 * Thursday (4). */
static int iso_weekday(int64_t day)
{
    return (int)((day % 7 + 7 + 3) % 7) + 1;
}

int64_t an_weekdays_in(int64_t from_days, int64_t to_days, int wday)
{
    int64_t n = 0;
    for (int64_t d = from_days; d <= to_days; d++)
        n += iso_weekday(d) == wday;
    return n;
}

int an_local_hours(const char *tz, int64_t day, int hour)
{
    struct cf_time_local lt = {0};
    int64_t start, end;
    cf_time_civil_from_days(day, &lt.year, &lt.month, &lt.day);
    if (!tz || cf_time_from_local(tz, &lt, &start) != 0)
        return hour < 0 ? 24 : 1;
    cf_time_civil_from_days(day + 1, &lt.year, &lt.month, &lt.day);
    if (cf_time_from_local(tz, &lt, &end) != 0)
        return hour < 0 ? 24 : 1;
    const int n = (int)((end - start) / 3600000);
    if (hour < 0 || n == 24)
        return hour < 0 ? n : 1;
    int count = 0; /* the day the offset changes: its hours one by one */
    for (int i = 0; i < n; i++)
        count += cf_time_to_local(tz, start + (int64_t)i * 3600000, &lt) == 0 && lt.hour == hour;
    return count;
}

static char *load_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};
    const struct an_cols calls = {.clinic = "c.clinic_id", .hour = "c.hour"};
    const struct an_cols leads = {.clinic = "l.clinic_id", .hour = "l.hour"};

    cf_strbuf_add(&b, "SELECT ");
    an_sql_group_list(&b, p, grouped, ", ");
    cf_strbuf_add(&b, "coalesce(sum(inbound), 0), coalesce(sum(leads), 0),"
                      " coalesce(sum(answered), 0), coalesce(sum(missed), 0),"
                      " coalesce(sum(talk), 0) FROM (");
    an_sql_part(&b, p, grouped, &calls,
                "sum(c.inbound)::bigint AS inbound, 0::bigint AS leads,"
                " sum(c.answered)::bigint AS answered, sum(c.missed)::bigint AS missed,"
                " sum(c.inbound_talk_seconds)::bigint AS talk",
                an_sql_calls_rollup(p));
    cf_strbuf_add(&b, " UNION ALL ");
    an_sql_part(&b, p, grouped, &leads, "0, count(*), 0, 0, 0",
                " FROM analytics.leads l WHERE l.network_id = $1"
                " AND l.hour >= $2::timestamp AND l.hour < $3::timestamp"
                " AND ($4::jsonb IS NULL OR l.clinic_id IN (SELECT jsonb_array_elements_text($4)))"
                " AND ($5::text IS NULL OR l.source = $5)");
    cf_strbuf_add(&b, ") x");
    an_sql_group_by(&b, p, grouped, AN_SQL_OUTER);
    return cf_strbuf_take(&b);
}

/* The hours of the range a row covers: of its day, its weekday's days or
 * every day, the hours that are its hour (or all of them), as the
 * network's clock counts them (an_local_hours: a change of the offset
 * makes a day of 23 or 25 hours). */
static int64_t hours_of(const struct an_report_params *p, const json_t *row)
{
    const json_t *day = json_object_get(row, "day"), *wday = json_object_get(row, "weekday");
    const json_t *hour = json_object_get(row, "hour");
    const int h = json_is_integer(hour) ? (int)json_integer_value(hour) : -1;
    int64_t from = p->from_days, to = p->to_days, hours = 0;
    if (json_is_string(day) && cf_time_date_parse(json_string_value(day), &from) == 0)
        to = from;
    for (int64_t d = from; d <= to; d++)
        if (!json_is_integer(wday) || iso_weekday(d) == json_integer_value(wday))
            hours += an_local_hours(p->tz, d, h);
    return hours;
}

static const char *const fields[] = {
    "contacts",     "inbound_calls", "leads", "answered",       "missed",
    "missed_share", "mean_talk_s",   "hours", "calls_per_hour", "operators_needed",
};

static json_t *load_row(const struct an_report_params *p, int grouped, const char *const *values)
{
    json_t *row = json_object();
    const char *const *c = values + an_group_values(p, grouped, values, row);
    const json_int_t inbound = an_count(c[0]), leads = an_count(c[1]), answered = an_count(c[2]),
                     missed = an_count(c[3]), talk = an_count(c[4]);
    const int64_t hours = hours_of(p, row);
    const double rate = hours > 0 ? (double)inbound / (double)hours : 0.0;
    const double aht = answered > 0 ? (double)talk / (double)answered : 0.0;

    json_object_set_new(row, "contacts", json_integer(inbound + leads));
    json_object_set_new(row, "inbound_calls", json_integer(inbound));
    json_object_set_new(row, "leads", json_integer(leads));
    json_object_set_new(row, "answered", json_integer(answered));
    json_object_set_new(row, "missed", json_integer(missed));
    json_object_set_new(row, "missed_share", an_share(missed, inbound));
    json_object_set_new(row, "mean_talk_s", an_share(talk, answered));
    json_object_set_new(row, "hours", json_integer(hours));
    json_object_set_new(row, "calls_per_hour", json_real(rate));
    /* null without an answered call's talk time to go by */
    json_object_set_new(row, "operators_needed",
                        answered > 0 && talk > 0
                            ? json_integer(an_erlang_c_agents(rate, aht, TARGET_SHARE, TARGET_S))
                            : json_null());
    return row;
}

const struct an_report an_report_load = {
    .name = "load",
    .groups = 1u << AN_G_CLINIC | 1u << AN_G_DAY | 1u << AN_G_HOUR | 1u << AN_G_WEEKDAY,
    .default_group = -1,
    .takes_source = 1,
    .sql = load_sql,
    .row = load_row,
    .fields = fields,
    .nfields = sizeof(fields) / sizeof(fields[0]),
};
