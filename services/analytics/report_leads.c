/*
 * The leads report (report_testable.h, proto/README.md "Analytics
 * reports"): a network's leads by the local hour they arrived, from
 * analytics.leads (leads are few beside calls, and their response times'
 * percentiles need the rows); the shares computed here from the counts.
 */
#include "lead_facts_testable.h"
#include "report_testable.h"

#include <stdlib.h>

#include "common/strbuf.h"

/* A group's value over a lead (l). A lead's operator is the staff member
 * who first answered it; its channel the provider (telegram, tilda, ...). */
static const char *const leads_groups[AN_G_COUNT] = {
    [AN_G_CLINIC] = "NULLIF(l.clinic_id, '')",
    [AN_G_SOURCE] = "NULLIF(l.source, '')",
    [AN_G_MEDIUM] = "NULLIF(l.medium, '')",
    [AN_G_CAMPAIGN] = "NULLIF(l.campaign, '')",
    [AN_G_DOCTOR] = "NULL::text",
    [AN_G_OPERATOR] = "l.responder",
    [AN_G_PATIENT_CLASS] = "l.patient_class",
    [AN_G_CHANNEL] = "l.provider",
    [AN_G_DAY] = "to_char(l.hour, 'YYYY-MM-DD')",
    [AN_G_WEEK] = "to_char(date_trunc('week', l.hour), 'YYYY-MM-DD')",
    [AN_G_MONTH] = "to_char(l.hour, 'YYYY-MM')",
    [AN_G_HOUR] = "extract(hour FROM l.hour)::int",
    [AN_G_WEEKDAY] = "extract(isodow FROM l.hour)::int",
};

/* a lead of the report's rows that counts as a breach */
#define BREACHED AN_LEAD_BREACHED("l")

static char *leads_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};

    cf_strbuf_add(&b, "SELECT ");
    an_sql_groups(&b, p, grouped, leads_groups);
    /* 0 leads, 1 merged requests, 2 responded, 3 within 10 working
     * minutes, 4 SLA breaches, 5 booked, 6 lost, 7 spam, 8 existing
     * patients, 9-10 median and p90 of working seconds, 11 median of wall
     * seconds */
    cf_strbuf_add(
        &b, "count(*), coalesce(sum(l.messages - 1), 0),"
            " count(*) FILTER (WHERE l.responded_at IS NOT NULL),"
            " count(*) FILTER (WHERE l.working_seconds <= 600),"
            " count(*) FILTER (WHERE " BREACHED "),"
            " count(*) FILTER (WHERE l.status = 'booked'),"
            " count(*) FILTER (WHERE l.status = 'lost'),"
            " count(*) FILTER (WHERE l.status = 'spam'),"
            " count(*) FILTER (WHERE l.patient_class IN ('repeat', 'lapsed')),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY l.working_seconds),"
            " percentile_cont(0.9) WITHIN GROUP (ORDER BY l.working_seconds),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY l.response_seconds)"
            " FROM analytics.leads l WHERE l.network_id = $1"
            " AND l.hour >= $2::timestamp AND l.hour < $3::timestamp"
            " AND ($4::jsonb IS NULL OR l.clinic_id IN (SELECT jsonb_array_elements_text($4)))"
            " AND ($5::text IS NULL OR l.source = $5)");
    an_sql_group_by(&b, p, grouped, AN_SQL_ONLY);
    return cf_strbuf_take(&b);
}

static const char *const fields[] = {
    "leads",
    "merged",
    "responded",
    "unanswered",
    "first_response_median_working_s",
    "first_response_p90_working_s",
    "first_response_median_s",
    "responded_within_10_min_share",
    "sla_breaches",
    "booked",
    "lost",
    "spam",
    "existing_patient_share",
};

static json_t *leads_row(const struct an_report_params *p, int grouped, const char *const *values)
{
    json_t *row = json_object();
    const char *const *c = values + an_group_values(p, grouped, values, row);
    const json_int_t leads = an_count(c[0]), responded = an_count(c[2]);

    json_object_set_new(row, "leads", json_integer(leads));
    json_object_set_new(row, "merged", json_integer(an_count(c[1])));
    json_object_set_new(row, "responded", json_integer(responded));
    json_object_set_new(row, "unanswered", json_integer(leads - responded));
    json_object_set_new(row, "first_response_median_working_s", an_seconds(c[9]));
    json_object_set_new(row, "first_response_p90_working_s", an_seconds(c[10]));
    json_object_set_new(row, "first_response_median_s", an_seconds(c[11]));
    /* over every lead: one nobody answered is not on time */
    json_object_set_new(row, "responded_within_10_min_share", an_share(an_count(c[3]), leads));
    json_object_set_new(row, "sla_breaches", json_integer(an_count(c[4])));
    json_object_set_new(row, "booked", json_integer(an_count(c[5])));
    json_object_set_new(row, "lost", json_integer(an_count(c[6])));
    json_object_set_new(row, "spam", json_integer(an_count(c[7])));
    json_object_set_new(row, "existing_patient_share", an_share(an_count(c[8]), leads));
    return row;
}

const struct an_report an_report_leads = {
    .name = "leads",
    .groups = AN_GROUPS_CONTACTS,
    .default_group = -1,
    .takes_source = 1,
    .sql = leads_sql,
    .row = leads_row,
    .fields = fields,
    .nfields = sizeof(fields) / sizeof(fields[0]),
};
