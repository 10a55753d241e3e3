/*
 * The calls report (report_testable.h, proto/README.md "Analytics
 * reports"): the counts summed in SQL from the hourly rollup and the
 * callback tasks, the shares computed here from them.
 */
#include "report_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

/* A group's value over the rollup (c: an_sql_calls_rollup's), and over a
 * task (t), with its first missed call's dimensions (call_*: NULL until
 * that call has ended missed). */
static const char *const calls_groups[AN_G_COUNT] = {
    [AN_G_CLINIC] = "NULLIF(c.clinic_id, '')",
    [AN_G_SOURCE] = "NULLIF(c.source, '')",
    [AN_G_MEDIUM] = "NULLIF(c.medium, '')",
    [AN_G_CAMPAIGN] = "NULLIF(c.campaign, '')",
    [AN_G_DOCTOR] = "NULL::text",
    [AN_G_OPERATOR] = "NULLIF(c.operator, '')",
    [AN_G_PATIENT_CLASS] = "NULLIF(c.patient_class, '')",
    [AN_G_CHANNEL] = "NULLIF(c.channel, '')",
    [AN_G_DAY] = "to_char(c.hour, 'YYYY-MM-DD')",
    [AN_G_WEEK] = "to_char(date_trunc('week', c.hour), 'YYYY-MM-DD')",
    [AN_G_MONTH] = "to_char(c.hour, 'YYYY-MM')",
    [AN_G_HOUR] = "extract(hour FROM c.hour)::int",
    [AN_G_WEEKDAY] = "extract(isodow FROM c.hour)::int",
};
static const char *const tasks_groups[AN_G_COUNT] = {
    [AN_G_CLINIC] = "NULLIF(t.clinic_id, '')",
    [AN_G_SOURCE] = "NULLIF(t.call_source, '')",
    [AN_G_MEDIUM] = "NULLIF(t.call_medium, '')",
    [AN_G_CAMPAIGN] = "NULLIF(t.call_campaign, '')",
    [AN_G_DOCTOR] = "NULL::text",
    [AN_G_OPERATOR] = "NULLIF(t.call_operator, '')",
    [AN_G_PATIENT_CLASS] = "NULLIF(t.call_patient_class, '')",
    [AN_G_CHANNEL] = "NULLIF(t.call_channel, '')",
    [AN_G_DAY] = "to_char(t.hour, 'YYYY-MM-DD')",
    [AN_G_WEEK] = "to_char(date_trunc('week', t.hour), 'YYYY-MM-DD')",
    [AN_G_MONTH] = "to_char(t.hour, 'YYYY-MM')",
    [AN_G_HOUR] = "extract(hour FROM t.hour)::int",
    [AN_G_WEEKDAY] = "extract(isodow FROM t.hour)::int",
};

static char *calls_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};

    cf_strbuf_add(&b, "SELECT ");
    an_sql_group_list(&b, p, grouped, ", ");
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
    an_sql_groups(&b, p, grouped, calls_groups);
    cf_strbuf_add(
        &b, "sum(c.inbound)::bigint AS inbound, sum(c.outbound)::bigint AS outbound,"
            " sum(c.answered)::bigint AS answered, sum(c.unique_calls)::bigint AS unique_calls,"
            " sum(c.targeted)::bigint AS targeted, sum(c.missed)::bigint AS missed,"
            " sum(c.abandoned)::bigint AS abandoned,"
            " sum(c.answered_call_center)::bigint AS answered_call_center,"
            " sum(c.answered_reception)::bigint AS answered_reception,"
            " sum(c.talk_seconds)::bigint AS talk_seconds, 0::bigint AS callback_tasks,"
            " 0::bigint AS called_back, 0::bigint AS called_back_on_time, 0::bigint AS lost,"
            " 0::bigint AS within_15_min, NULL::float8 AS median_s, NULL::float8 AS p90_s");
    cf_strbuf_add(&b, an_sql_calls_rollup(p));
    an_sql_group_by(&b, p, grouped, AN_SQL_PART);
    /* the missed calls' callback tasks, with their first missed call */
    cf_strbuf_add(&b, " UNION ALL SELECT ");
    an_sql_groups(&b, p, grouped, tasks_groups);
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
            " FROM analytics.tasks t WHERE t.network_id = $1 AND t.kind = 'callback'"
            " AND t.lead_id IS NULL AND NOT t.withdrawn AND t.hour >= $2::timestamp AND t.hour < "
            "$3::timestamp"
            " AND ($4::jsonb IS NULL OR t.clinic_id IN (SELECT jsonb_array_elements_text($4)))"
            " AND ($5::text IS NULL OR t.call_source = $5)");
    an_sql_group_by(&b, p, grouped, AN_SQL_PART);
    cf_strbuf_add(&b, ") x");
    an_sql_group_by(&b, p, grouped, AN_SQL_OUTER);
    return cf_strbuf_take(&b);
}

static const char *const fields[] = {
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

static json_t *calls_row(const struct an_report_params *p, int grouped, const char *const *values)
{
    json_t *row = json_object();
    const char *const *c = values + an_group_values(p, grouped, values, row);
    const json_int_t inbound = an_count(c[0]), outbound = an_count(c[1]), answered = an_count(c[2]),
                     unique = an_count(c[3]), targeted = an_count(c[4]), missed = an_count(c[5]),
                     abandoned = an_count(c[6]), by_cc = an_count(c[7]),
                     by_reception = an_count(c[8]), talk = an_count(c[9]), tasks = an_count(c[10]),
                     called_back = an_count(c[11]), on_time = an_count(c[12]),
                     lost = an_count(c[13]), within_15 = an_count(c[14]);

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
    json_object_set_new(row, "callback_rate", an_share(called_back, tasks));
    json_object_set_new(row, "time_to_callback_median_s", an_seconds(c[15]));
    json_object_set_new(row, "time_to_callback_p90_s", an_seconds(c[16]));
    json_object_set_new(row, "called_back_within_15_min_share", an_share(within_15, tasks));
    json_object_set_new(row, "answered_call_center", json_integer(by_cc));
    json_object_set_new(row, "answered_reception", json_integer(by_reception));
    /* over the answered calls whose agent's group is known */
    json_object_set_new(row, "call_center_share", an_share(by_cc, by_cc + by_reception));
    json_object_set_new(row, "talk_seconds", json_integer(talk));
    return row;
}

const struct an_report an_report_calls = {
    .name = "calls",
    .groups = AN_GROUPS_CONTACTS,
    .default_group = -1,
    .takes_source = 1,
    .sql = calls_sql,
    .row = calls_row,
    .fields = fields,
    .nfields = sizeof(fields) / sizeof(fields[0]),
};
