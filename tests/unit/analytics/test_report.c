/*
 * A report's parameters, the calls report's rows and CSV
 * (proto/README.md, "Analytics reports"): every refusal names its field,
 * the shares are null when their denominator is 0, and CSV quotes what it
 * must.
 */
#include "report_testable.h"

#include "common/err.h"
#include "common/time.h"

#include "cftest.h"

static int parse(const char *from, const char *to, const char *clinic, const char *source,
                 const char *group_by, const char *format, const char *accept,
                 struct an_report_params *p, struct an_param_error *e)
{
    const struct an_query q = {from, to, clinic, source, group_by, NULL, format, accept};
    return an_report_params_parse(&q, p, e);
}

static void refused(const char *from, const char *to, const char *clinic, const char *source,
                    const char *group_by, const char *format, const char *field)
{
    struct an_report_params p;
    struct an_param_error e = {0};
    CHECK_INT(parse(from, to, clinic, source, group_by, format, NULL, &p, &e), CF_EINVAL);
    CHECK_STR(e.code, "invalid_field");
    CHECK_STR(e.field, field);
    CHECK(e.message[0] != '\0');
    an_report_params_clear(&p);
}

static void test_params(void)
{
    struct an_report_params p;
    struct an_param_error e;

    CHECK_INT(
        parse("2026-11-01", "2026-11-30", "c1,c2", "yandex", "clinic,day", NULL, NULL, &p, &e), 0);
    CHECK_STR(p.to_next, "2026-12-01");
    CHECK_INT(json_array_size(p.clinics), 2);
    CHECK_STR(json_string_value(json_array_get(p.clinics, 1)), "c2");
    CHECK_STR(p.source, "yandex");
    CHECK_INT(p.ngroups, 2);
    CHECK_INT(p.groups[0], AN_G_CLINIC);
    CHECK_INT(p.groups[1], AN_G_DAY);
    CHECK_INT(p.csv, 0);
    an_report_params_clear(&p);

    /* the year's end, a leap day, CSV by Accept or by format */
    CHECK_INT(parse("2028-02-29", "2028-12-31", NULL, NULL, NULL, NULL, "text/csv", &p, &e), 0);
    CHECK_STR(p.to_next, "2029-01-01");
    CHECK(p.clinics == NULL && p.source == NULL && p.ngroups == 0);
    CHECK_INT(p.csv, 1);
    an_report_params_clear(&p);
    CHECK_INT(parse("2026-11-01", "2026-11-01", NULL, NULL, NULL, "json", "text/csv", &p, &e), 0);
    CHECK_INT(p.csv, 0);
    an_report_params_clear(&p);

    refused(NULL, "2026-11-30", NULL, NULL, NULL, NULL, "from");
    refused("2026-11-01", "", NULL, NULL, NULL, NULL, "to");
    refused("2026-13-01", "2026-11-30", NULL, NULL, NULL, NULL, "from");
    refused("2026-11-1", "2026-11-30", NULL, NULL, NULL, NULL, "from");
    refused("2026-11-30", "2026-11-01", NULL, NULL, NULL, NULL, "to");
    refused("2026-01-01", "2027-01-02", NULL, NULL, NULL, NULL, "to"); /* 367 days */
    refused("2026-11-01", "2026-11-30", "c1,,c2", NULL, NULL, NULL, "clinic");
    /* an item that is not UTF-8 (a query's %FF) is refused, not left out */
    refused("2026-11-01", "2026-11-30", "c1,\xff", NULL, NULL, NULL, "clinic");
    refused("2026-11-01", "2026-11-30", "\xff", NULL, NULL, NULL, "clinic");
    refused("2026-11-01", "2026-11-30", NULL, NULL, "clinic,\xff", NULL, "group_by");
    refused("2026-11-01", "2026-11-30", NULL, "", NULL, NULL, "source");
    refused("2026-11-01", "2026-11-30", NULL, NULL, "clinic,planet", NULL, "group_by");
    refused("2026-11-01", "2026-11-30", NULL, NULL, "day,day", NULL, "group_by");
    refused("2026-11-01", "2026-11-30", NULL, NULL, "day,clinic,source,hour", NULL, "group_by");
    refused("2026-11-01", "2026-11-30", NULL, NULL, NULL, "xml", "format");
    /* a range ends before the day after its last: 9999-12-31 has none */
    refused("9999-12-01", "9999-12-31", NULL, NULL, NULL, NULL, "to");
    refused("9999-12-31", "9999-12-31", NULL, NULL, NULL, NULL, "from");
    CHECK_INT(parse("9999-12-01", "9999-12-30", NULL, NULL, NULL, NULL, NULL, &p, &e), 0);
    CHECK_STR(p.to_next, "9999-12-31");
    an_report_params_clear(&p);
    CHECK_INT(parse("0001-01-01", "0001-01-01", NULL, NULL, NULL, NULL, NULL, &p, &e), 0);
    CHECK_STR(p.to_next, "0001-01-02");
    an_report_params_clear(&p);
    /* 366 days are allowed */
    CHECK_INT(parse("2028-01-01", "2028-12-31", NULL, NULL, NULL, NULL, NULL, &p, &e), 0);
    an_report_params_clear(&p);
}

static void test_rows(void)
{
    struct an_report_params p;
    struct an_param_error e;
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, NULL, "source,hour", NULL, NULL, &p, &e), 0);

    /* groups, then inbound .. talk_seconds, tasks, called back, on time,
     * lost, within 15 min, median, p90 */
    const char *values[] = {NULL, "9",  "10", "4", "8", "6", "5", "3",   "1",     "2",
                            "4",  "90", "5",  "3", "2", "1", "2", "300", "1020.5"};
    json_t *row = an_report_calls.row(&p, 1, values);
    CHECK(json_is_null(json_object_get(row, "source")));
    CHECK_INT(json_integer_value(json_object_get(row, "hour")), 9);
    CHECK_INT(json_integer_value(json_object_get(row, "inbound")), 10);
    CHECK_INT(json_integer_value(json_object_get(row, "unique")), 6);
    CHECK_INT(json_integer_value(json_object_get(row, "callback_tasks")), 5);
    CHECK_INT(json_integer_value(json_object_get(row, "called_back")), 3);
    CHECK_INT(json_integer_value(json_object_get(row, "lost")), 1);
    /* 3 called back of 5 tasks; 2 within 15 minutes of 5; 2 by the call
     * centre of 2 + 4 answers with a known group */
    CHECK(json_real_value(json_object_get(row, "callback_rate")) == 3.0 / 5.0);
    CHECK(json_real_value(json_object_get(row, "called_back_within_15_min_share")) == 2.0 / 5.0);
    CHECK(json_real_value(json_object_get(row, "call_center_share")) == 2.0 / 6.0);
    CHECK(json_real_value(json_object_get(row, "time_to_callback_p90_s")) == 1020.5);
    json_decref(row);

    /* nothing to divide by: null, and no percentile without a callback */
    const char *zero[] = {"google", "0", "0", "0", "0", "0", "0", "0",  "0", "0",
                          "0",      "0", "0", "0", "0", "0", "0", NULL, NULL};
    row = an_report_calls.row(&p, 1, zero);
    CHECK_STR(json_string_value(json_object_get(row, "source")), "google");
    CHECK(json_is_null(json_object_get(row, "callback_rate")));
    CHECK(json_is_null(json_object_get(row, "call_center_share")));
    CHECK(json_is_null(json_object_get(row, "time_to_callback_median_s")));
    json_decref(row);

    /* the totals: no group columns */
    row = an_report_calls.row(&p, 0, zero + 2);
    CHECK(json_object_get(row, "source") == NULL);
    CHECK_INT(json_object_size(row), an_report_calls.nfields);
    json_decref(row);
    an_report_params_clear(&p);
}

static void test_csv(void)
{
    struct an_report_params p;
    struct an_param_error e;
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, NULL, "campaign", NULL, NULL, &p, &e), 0);
    const char *fields[] = {"inbound", "callback_rate"};
    json_t *rows =
        json_pack("[{s:s, s:i, s:f}, {s:n, s:i, s:n}]", "campaign", "spring, \"big\"", "inbound", 3,
                  "callback_rate", 0.5, "campaign", "inbound", 0, "callback_rate");
    char *csv = an_report_csv(&p, fields, 2, rows);
    CHECK_STR(csv, "campaign,inbound,callback_rate\r\n"
                   "\"spring, \"\"big\"\"\",3,0.5\r\n"
                   ",0,\r\n");
    free(csv);
    json_decref(rows);

    /* a tag a spreadsheet would run as a formula stays text */
    rows =
        json_pack("[{s:s, s:i, s:n}, {s:s, s:i, s:n}, {s:s, s:i, s:n}, {s:s, s:i, s:n}]",
                  "campaign", "=HYPERLINK(\"http://x\",\"y\")", "inbound", 1, "callback_rate",
                  "campaign", "+7 spring", "inbound", 2, "callback_rate", "campaign", "@sum",
                  "inbound", 3, "callback_rate", "campaign", "-1", "inbound", 4, "callback_rate");
    csv = an_report_csv(&p, fields, 2, rows);
    CHECK_STR(csv, "campaign,inbound,callback_rate\r\n"
                   "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",1,\r\n"
                   "\"'+7 spring\",2,\r\n"
                   "\"'@sum\",3,\r\n"
                   "\"'-1\",4,\r\n");
    free(csv);
    json_decref(rows);
    an_report_params_clear(&p);
}

static void test_sql(void)
{
    struct an_report_params p;
    struct an_param_error e;
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, NULL, "week,operator", NULL, NULL, &p, &e),
              0);
    char *sql = an_report_calls.sql(&p, 1);
    /* both parts grouped the same way, the outer query sorted by them */
    CHECK(strstr(sql, "to_char(date_trunc('week', c.hour), 'YYYY-MM-DD') AS g0") != NULL);
    CHECK(strstr(sql, "to_char(date_trunc('week', t.hour), 'YYYY-MM-DD') AS g0") != NULL);
    CHECK(strstr(sql, "NULLIF(t.call_operator, '') AS g1") != NULL);
    CHECK(strstr(sql, "ORDER BY g0, g1") != NULL);
    free(sql);
    sql = an_report_calls.sql(&p, 0);
    CHECK(strstr(sql, "g0") == NULL);
    CHECK(strstr(sql, "GROUP BY") == NULL);
    free(sql);
    /* rows and totals at once: each part groups twice (by the groups, gk
     * 0, and not at all, gk 1), the outer query keeps the two apart by gk */
    sql = an_report_calls.sql(&p, AN_ROWS_AND_TOTALS);
    CHECK(strncmp(sql, "SELECT g0, g1, gk, ", 19) == 0);
    CHECK(strstr(sql, "AS g1, GROUPING(to_char(date_trunc('week', c.hour), 'YYYY-MM-DD')) AS gk,"
                      " sum(c.inbound)") != NULL);
    CHECK(strstr(sql, "AS g1, GROUPING(to_char(date_trunc('week', t.hour), 'YYYY-MM-DD')) AS gk,"
                      " 0, 0,") != NULL);
    const char *sets = strstr(sql, " GROUP BY GROUPING SETS ((g0, g1), ())");
    CHECK(sets != NULL);
    CHECK(sets && strstr(sets + 1, " GROUP BY GROUPING SETS ((g0, g1), ())") != NULL);
    CHECK(strstr(sql, ") x GROUP BY g0, g1, gk ORDER BY g0, g1, gk") != NULL);
    free(sql);
    an_report_params_clear(&p);
}

/* The rollup by clinic and hour serves what is grouped and filtered by
 * clinic and time only; an operator, a source group or a source filter
 * needs the one with every dimension. */
static void rollup_is(const char *source, const char *group_by, const char *table)
{
    struct an_report_params p;
    struct an_param_error e;
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, source, group_by, NULL, NULL, &p, &e), 0);
    const char *from = an_sql_calls_rollup(&p);
    CHECK(strstr(from, table) != NULL);
    CHECK(strstr(from, "$5") != NULL); /* every parameter stays in the statement */
    char *sql = an_report_calls.sql(&p, 1);
    CHECK(strstr(sql, table) != NULL);
    free(sql);
    an_report_params_clear(&p);
}

static void test_rollup_choice(void)
{
    rollup_is(NULL, NULL, "analytics.calls_clinic_hourly c");
    rollup_is(NULL, "clinic,day", "analytics.calls_clinic_hourly c");
    rollup_is(NULL, "month,hour,weekday", "analytics.calls_clinic_hourly c");
    rollup_is("yandex", "clinic,day", "analytics.calls_hourly c");
    rollup_is(NULL, "clinic,source", "analytics.calls_hourly c");
    rollup_is(NULL, "operator", "analytics.calls_hourly c");
    rollup_is(NULL, "patient_class", "analytics.calls_hourly c");
}

static void test_leads_row(void)
{
    struct an_report_params p;
    struct an_param_error e;
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, NULL, "channel", NULL, NULL, &p, &e), 0);
    /* channel; leads, merged, responded, within 10, breaches, booked,
     * lost, spam, existing; median and p90 working, median wall */
    const char *values[] = {"telegram", "8", "3", "6",   "4",    "2",  "3",
                            "1",        "1", "2", "300", "1620", "410"};
    json_t *row = an_report_leads.row(&p, 1, values);
    CHECK_STR(json_string_value(json_object_get(row, "channel")), "telegram");
    CHECK_INT(json_integer_value(json_object_get(row, "leads")), 8);
    CHECK_INT(json_integer_value(json_object_get(row, "merged")), 3);
    CHECK_INT(json_integer_value(json_object_get(row, "unanswered")), 2);
    /* 4 of 8 within 10 working minutes, the 2 unanswered among the late */
    CHECK(json_real_value(json_object_get(row, "responded_within_10_min_share")) == 0.5);
    CHECK(json_real_value(json_object_get(row, "existing_patient_share")) == 2.0 / 8.0);
    CHECK(json_real_value(json_object_get(row, "first_response_p90_working_s")) == 1620.0);
    CHECK_INT(json_object_size(row), 1 + an_report_leads.nfields);
    json_decref(row);

    char *sql = an_report_leads.sql(&p, 1);
    CHECK(strstr(sql, "l.provider AS g0") != NULL);
    CHECK(strstr(sql, "GROUP BY g0 ORDER BY g0") != NULL);
    free(sql);
    /* one level: it reads the leads, so it groups twice, and sorts */
    sql = an_report_leads.sql(&p, AN_ROWS_AND_TOTALS);
    CHECK(strstr(sql, "l.provider AS g0, GROUPING(l.provider) AS gk, count(*)") != NULL);
    CHECK(strstr(sql, " GROUP BY GROUPING SETS ((g0), ()) ORDER BY g0, gk") != NULL);
    free(sql);
    an_report_params_clear(&p);
}

static void test_funnel(void)
{
    struct an_report_params p;
    struct an_param_error e;
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, NULL, "clinic,week", NULL, NULL, &p, &e), 0);
    CHECK_INT(an_report_check(&an_report_funnel, &p, &e), 0);
    /* contacts, unique, new, new booked, bookings, arrivals, no-shows,
     * cancellations, plans proposed, accepted, repeat visits */
    const char *values[] = {"c1", "2026-11-16", "30", "25", "10", "4", "12",
                            "9",  "3",          "2",  "5",  "2",  "4"};
    json_t *row = an_report_funnel.row(&p, 1, values);
    CHECK_STR(json_string_value(json_object_get(row, "week")), "2026-11-16");
    CHECK(json_real_value(json_object_get(row, "first_contact_conversion_new")) == 4.0 / 10.0);
    /* 9 arrived, 3 did not come; the 2 cancelled are not in it */
    CHECK(json_real_value(json_object_get(row, "show_rate")) == 9.0 / 12.0);
    CHECK(json_real_value(json_object_get(row, "plan_acceptance")) == 2.0 / 5.0);
    CHECK_INT(json_integer_value(json_object_get(row, "repeat_visits")), 4);
    json_decref(row);
    char *sql = an_report_funnel.sql(&p, 1);
    CHECK(strstr(sql, "NULLIF(a.clinic_id, '') AS g0") != NULL);
    CHECK(strstr(sql, "to_char(date_trunc('week', pe.first_hour), 'YYYY-MM-DD') AS g1") != NULL);
    free(sql);
    an_report_params_clear(&p);

    /* the funnel is not split by source or operator */
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, NULL, "operator", NULL, NULL, &p, &e), 0);
    CHECK_INT(an_report_check(&an_report_funnel, &p, &e), CF_EINVAL);
    CHECK_STR(e.field, "group_by");
    CHECK_INT(an_report_check(&an_report_calls, &p, &e), 0);
    an_report_params_clear(&p);
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, "vk", NULL, NULL, NULL, &p, &e), 0);
    CHECK_INT(an_report_check(&an_report_funnel, &p, &e), CF_EINVAL);
    CHECK_STR(e.field, "source");
    an_report_params_clear(&p);
}

static void test_sources(void)
{
    struct an_report_params p;
    struct an_param_error e;
    const struct an_query q = {"2026-11-01", "2026-11-30",      NULL, NULL,
                               "source",     "last_non_direct", NULL, NULL};
    CHECK_INT(an_report_params_parse(&q, &p, &e), 0);
    CHECK_INT(p.last_non_direct, 1);
    CHECK_INT(an_report_check(&an_report_sources, &p, &e), 0);
    /* source; contacts, existing, unique, leads, bookings, arrivals,
     * arrived new, revenue, spend */
    const char *values[] = {"yandex", "40", "10", "32", "12", "8", "6", "4", "90000.50", "20000"};
    json_t *row = an_report_sources.row(&p, 1, values);
    CHECK(json_real_value(json_object_get(row, "existing_patient_share")) == 10.0 / 40.0);
    CHECK(json_real_value(json_object_get(row, "cost_per_unique_contact")) == 20000.0 / 32.0);
    CHECK(json_real_value(json_object_get(row, "cost_per_lead")) == 20000.0 / 12.0);
    CHECK(json_real_value(json_object_get(row, "cost_per_booking")) == 20000.0 / 8.0);
    CHECK(json_real_value(json_object_get(row, "cost_per_arrived_new_patient")) == 5000.0);
    CHECK(json_real_value(json_object_get(row, "romi")) == (90000.5 - 20000.0) / 20000.0);
    json_decref(row);
    /* no spend: no ROMI */
    const char *free_[] = {"seo", "5", "0", "5", "0", "1", "1", "1", "3000", NULL};
    row = an_report_sources.row(&p, 1, free_);
    CHECK(json_is_null(json_object_get(row, "romi")));
    CHECK(json_is_null(json_object_get(row, "cost_per_lead")));
    json_decref(row);
    char *sql = an_report_sources.sql(&p, 1);
    CHECK(strstr(sql, "pe.last_source") != NULL);
    CHECK(strstr(sql, "pe.first_source, '') AS src") == NULL);
    free(sql);
    an_report_params_clear(&p);

    const struct an_query bad = {"2026-11-01", "2026-11-30", NULL, NULL,
                                 NULL,         "linear",     NULL, NULL};
    CHECK_INT(an_report_params_parse(&bad, &p, &e), CF_EINVAL);
    CHECK_STR(e.field, "attribution");
    an_report_params_clear(&p);
}

/* Erlang C against figures worked by hand from the Erlang B recurrence
 * (B(0) = 1, B(n) = A B(n-1) / (n + A B(n-1)); C = n B / (n - A (1 - B));
 * answered within t = 1 - C exp(-(n - A) t / AHT)). */
static void test_erlang(void)
{
    /* 100 calls an hour of 180 s: A = 5 erlangs. n = 7: B = 0.1205,
     * C = 0.3242, within 20 s 1 - 0.3242 e^(-2*20/180) = 0.740; n = 8:
     * B = 0.0700, C = 0.1673, 1 - 0.1673 e^(-3*20/180) = 0.880 */
    CHECK_INT(an_erlang_c_agents(100, 180, 0.8, 20), 8);
    CHECK_INT(an_erlang_c_agents(100, 180, 0.7, 20), 7);
    /* 10 calls an hour of 120 s: A = 1/3; two agents answer 80% in 20 s */
    CHECK_INT(an_erlang_c_agents(10, 120, 0.8, 20), 2);
    /* a call every two hours still needs one */
    CHECK_INT(an_erlang_c_agents(0.5, 60, 0.8, 20), 1);
    CHECK_INT(an_erlang_c_agents(0, 180, 0.8, 20), 0);

    /* November 2026 began on a Sunday: five Mondays, five Sundays, four
     * Saturdays */
    int64_t from, to;
    cf_time_date_parse("2026-11-01", &from);
    cf_time_date_parse("2026-11-30", &to);
    CHECK_INT(an_weekdays_in(from, to, 1), 5);
    CHECK_INT(an_weekdays_in(from, to, 7), 5);
    CHECK_INT(an_weekdays_in(from, to, 6), 4);

    /* the hours of a local day: 24 and one of each, but where the clock
     * changes */
    int64_t autumn, spring, plain;
    cf_time_date_parse("2026-10-25", &autumn);
    cf_time_date_parse("2026-03-29", &spring);
    cf_time_date_parse("2026-11-02", &plain);
    CHECK_INT(an_local_hours("Europe/Berlin", autumn, -1), 25);
    CHECK_INT(an_local_hours("Europe/Berlin", autumn, 2), 2);
    CHECK_INT(an_local_hours("Europe/Berlin", autumn, 3), 1);
    CHECK_INT(an_local_hours("Europe/Berlin", spring, -1), 23);
    CHECK_INT(an_local_hours("Europe/Berlin", spring, 2), 0);
    CHECK_INT(an_local_hours("Europe/Berlin", spring, 3), 1);
    CHECK_INT(an_local_hours("Europe/Berlin", plain, -1), 24);
    CHECK_INT(an_local_hours("Europe/Berlin", plain, 2), 1);
    CHECK_INT(an_local_hours("Europe/Moscow", autumn, -1), 24);
    CHECK_INT(an_local_hours("Europe/Moscow", autumn, 2), 1);
    CHECK_INT(an_local_hours(NULL, autumn, -1), 24);
    CHECK_INT(an_local_hours("Nowhere/Else", spring, 2), 1);
}

/* The hours of a load row (grouped by group_by, values as the statement
 * gives them) of October 2026 in Europe/Berlin. */
static json_int_t october_hours(const char *group_by, int grouped, const char *const *values)
{
    struct an_report_params p;
    struct an_param_error e;
    if (parse("2026-10-01", "2026-10-31", NULL, NULL, group_by, NULL, NULL, &p, &e) != 0)
        return -1;
    p.tz = "Europe/Berlin";
    json_t *row = an_report_load.row(&p, grouped, values);
    const json_int_t hours = json_integer_value(json_object_get(row, "hours"));
    json_decref(row);
    an_report_params_clear(&p);
    return hours;
}

static void test_load_and_staff(void)
{
    struct an_report_params p;
    struct an_param_error e;
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, NULL, "weekday,hour", NULL, NULL, &p, &e), 0);
    CHECK_INT(an_report_check(&an_report_load, &p, &e), 0);
    /* Mondays at 10:00 of November: 5 hours; 500 calls, 20 leads, 450
     * answered with 81,000 s of talk (180 s each), 50 missed: 100 calls an
     * hour, 8 operators (above) */
    const char *values[] = {"1", "10", "500", "20", "450", "50", "81000"};
    json_t *row = an_report_load.row(&p, 1, values);
    CHECK_INT(json_integer_value(json_object_get(row, "hours")), 5);
    CHECK_INT(json_integer_value(json_object_get(row, "contacts")), 520);
    CHECK(json_real_value(json_object_get(row, "calls_per_hour")) == 100.0);
    CHECK(json_real_value(json_object_get(row, "missed_share")) == 0.1);
    CHECK(json_real_value(json_object_get(row, "mean_talk_s")) == 180.0);
    CHECK_INT(json_integer_value(json_object_get(row, "operators_needed")), 8);
    json_decref(row);
    /* the totals: the month's 720 hours */
    row = an_report_load.row(&p, 0, values + 2);
    CHECK_INT(json_integer_value(json_object_get(row, "hours")), 720);
    json_decref(row);
    an_report_params_clear(&p);

    /* a zone whose clock goes back on the last Sunday of October 2026
     * (the 25th, 03:00 CEST to 02:00 CET): October's 02:00 comes 32 times,
     * its Sundays at 02:00 five times, and the month has 745 hours */
    const char *two[] = {"2", "320", "0", "300", "20", "54000"};
    const char *three[] = {"3", "310", "0", "300", "10", "54000"};
    const char *sunday_two[] = {"7", "2", "60", "0", "50", "10", "9000"};
    CHECK_INT(october_hours("hour", 1, two), 32);
    CHECK_INT(october_hours("hour", 1, three), 31);
    CHECK_INT(october_hours("hour", 0, two + 1), 745);
    CHECK_INT(october_hours("weekday,hour", 1, sunday_two), 5);

    /* doctors: their own rows unless grouped otherwise; not by source */
    CHECK_INT(an_report_doctors.default_group, AN_G_DOCTOR);
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, NULL, "doctor", NULL, NULL, &p, &e), 0);
    CHECK_INT(an_report_check(&an_report_doctors, &p, &e), 0);
    CHECK_INT(an_report_check(&an_report_calls, &p, &e), CF_EINVAL);
    /* doctor; arrivals, no-shows, plans proposed, accepted, revenue,
     * accepted plans' amount, NPS answers, promoters, detractors */
    const char *doc[] = {"dr-ivanova", "9", "1", "6", "4", "45000", "520000", "8", "5", "1"};
    row = an_report_doctors.row(&p, 1, doc);
    CHECK_STR(json_string_value(json_object_get(row, "doctor")), "dr-ivanova");
    CHECK(json_real_value(json_object_get(row, "plan_acceptance")) == 4.0 / 6.0);
    CHECK(json_real_value(json_object_get(row, "show_rate")) == 0.9);
    CHECK(json_real_value(json_object_get(row, "accepted_plans_amount")) == 520000.0);
    /* 5 promoters and 1 detractor of 8: 100 * (5 - 1) / 8 = 50 */
    CHECK(json_real_value(json_object_get(row, "nps")) == 50.0);
    json_decref(row);
    an_report_params_clear(&p);

    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, NULL, "operator", NULL, NULL, &p, &e), 0);
    const char *op[] = {"op-7", "40", "30", "12", "4800", "10"};
    row = an_report_operators.row(&p, 1, op);
    CHECK(json_real_value(json_object_get(row, "mean_talk_s")) == 120.0);
    CHECK(json_real_value(json_object_get(row, "booking_conversion")) == 0.25);
    json_decref(row);
    an_report_params_clear(&p);
}

static void test_reminders_and_recall(void)
{
    struct an_report_params p;
    struct an_param_error e;
    CHECK_INT(parse("2026-11-01", "2026-11-30", NULL, NULL, NULL, NULL, NULL, &p, &e), 0);
    /* sent, calls, sms, not reached, confirmed, declined, reschedule, not
     * confirmed, opt-outs, segments, cost; confirmed visits that came and
     * did not, unconfirmed ones that came and did not */
    const char *rem[] = {"120", "100", "20",   "30", "60", "5",  "6", "9",
                         "2",   "25",  "87.5", "55", "5",  "10", "10"};
    json_t *row = an_report_reminders.row(&p, 0, rem);
    CHECK(json_real_value(json_object_get(row, "cost_per_confirmed")) == 87.5 / 60.0);
    CHECK_INT(json_integer_value(json_object_get(row, "confirmed_visits")), 60);
    CHECK(json_real_value(json_object_get(row, "show_rate_confirmed")) == 55.0 / 60.0);
    CHECK(json_real_value(json_object_get(row, "show_rate_unconfirmed")) == 0.5);
    json_decref(row);

    /* members, target, holdout, contacted, agreed, opt-outs, booked
     * (target, holdout), arrived, revenue */
    const char *rec[] = {"110", "100", "10", "80", "30", "3", "25", "1", "20", "150000"};
    row = an_report_recall.row(&p, 0, rec);
    /* 25 of 100 booked against 1 of 10: uplift 0.25 - 0.1 */
    CHECK(json_real_value(json_object_get(row, "uplift")) == 0.25 - 0.1);
    CHECK(json_real_value(json_object_get(row, "booked_share_holdout")) == 0.1);
    json_decref(row);
    const char *no_holdout[] = {"10", "10", "0", "8", "3", "0", "2", "0", "1", "500"};
    row = an_report_recall.row(&p, 0, no_holdout);
    CHECK(json_is_null(json_object_get(row, "uplift")));
    json_decref(row);
    an_report_params_clear(&p);
}

static void test_cohorts(void)
{
    struct an_report_params p;
    struct an_param_error e;
    CHECK_INT(parse("2026-01-01", "2026-06-30", NULL, NULL, NULL, NULL, NULL, &p, &e), 0);
    CHECK_INT(an_report_cohorts.rows_always, 1);
    CHECK_INT(parse("2026-01-01", "2026-06-30", NULL, NULL, "clinic", NULL, NULL, &p, &e), 0);
    CHECK_INT(an_report_check(&an_report_cohorts, &p, &e), CF_EINVAL);
    an_report_params_clear(&p);
    CHECK_INT(parse("2026-01-01", "2026-06-30", NULL, NULL, NULL, NULL, NULL, &p, &e), 0);
    /* the January cohort of 40, three months on: 10 came that month, and
     * it has paid 600,000 so far */
    const char *row3[] = {"2026-01", "3", "40", "10", "600000"};
    json_t *row = an_report_cohorts.row(&p, 1, row3);
    CHECK_STR(json_string_value(json_object_get(row, "cohort")), "2026-01");
    CHECK(json_real_value(json_object_get(row, "returning_share")) == 0.25);
    CHECK(json_real_value(json_object_get(row, "revenue_per_patient")) == 15000.0);
    json_decref(row);
    /* month 0 is the first visit: no returns in it */
    const char *row0[] = {"2026-01", "0", "40", "40", "200000"};
    row = an_report_cohorts.row(&p, 1, row0);
    CHECK(json_is_null(json_object_get(row, "returning")));
    json_decref(row);
    char *sql = an_report_cohorts.sql(&p, 1);
    CHECK(strstr(sql, "generate_series(0") != NULL);
    free(sql);
    an_report_params_clear(&p);
}

int main(void)
{
    test_cohorts();
    test_reminders_and_recall();
    test_erlang();
    test_load_and_staff();
    test_sources();
    test_funnel();
    test_leads_row();
    test_params();
    test_rows();
    test_csv();
    test_sql();
    test_rollup_choice();
    return cf_test_done();
}
