/*
 * The sources report (report_testable.h, proto/README.md "Analytics
 * reports"): per ad source (medium, campaign), the contacts it brought
 * and how many were already patients, the bookings, visits and revenue
 * of the people it brought under the chosen attribution, and what it
 * cost. A contact counts under its own source; an appointment under its
 * person's first touch, or last touch with a source (last non-direct). A
 * network-wide spend is split among the clinics by their contacts from
 * that source that day.
 */
#include "report_testable.h"

#include <stdlib.h>

#include "common/strbuf.h"

#define IN_RANGE(net, hour)                                                                        \
    " " net " = $1 AND " hour " >= $2::timestamp AND " hour " < $3::timestamp"
#define CLINIC_AND_SOURCE(clinic, source)                                                          \
    " AND ($4::jsonb IS NULL OR " clinic " IN (SELECT jsonb_array_elements_text($4)))"             \
    " AND ($5::text IS NULL OR " source " = $5)"

/* " FROM (appointments with their person's source, medium and campaign
 * under the attribution: aa.src, aa.med, aa.camp) aa WHERE " then where.
 * free() it. */
static char *attributed(int last_non_direct, const char *where)
{
    struct cf_strbuf buf = {0}, *b = &buf;
    cf_strbuf_add(b, last_non_direct ? " FROM " AN_ATTRIBUTED_SQL("last") " aa WHERE "
                                     : " FROM " AN_ATTRIBUTED_SQL("first") " aa WHERE ");
    cf_strbuf_add(b, where);
    return cf_strbuf_take(b);
}

static char *sources_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};
    const struct an_cols calls = {.clinic = "c.clinic_id",
                                  .hour = "c.hour",
                                  .source = "c.source",
                                  .medium = "c.medium",
                                  .campaign = "c.campaign"};
    const struct an_cols leads = {.clinic = "l.clinic_id",
                                  .hour = "l.hour",
                                  .source = "l.source",
                                  .medium = "l.medium",
                                  .campaign = "l.campaign"};
    const struct an_cols unique = {.clinic = "u.clinic_id",
                                   .hour = "u.hour",
                                   .source = "u.source",
                                   .medium = "u.medium",
                                   .campaign = "u.campaign"};
    const struct an_cols booked = {.clinic = "aa.clinic_id",
                                   .hour = "aa.booked_hour",
                                   .source = "aa.src",
                                   .medium = "aa.med",
                                   .campaign = "aa.camp"};
    const struct an_cols visits = {.clinic = "aa.clinic_id",
                                   .hour = "aa.start_hour",
                                   .source = "aa.src",
                                   .medium = "aa.med",
                                   .campaign = "aa.camp"};
    const struct an_cols spend = {.clinic = "s.clinic_id",
                                  .hour = "s.day::timestamp",
                                  .source = "s.source",
                                  .medium = "s.medium",
                                  .campaign = "s.campaign"};

    cf_strbuf_add(&b, "SELECT ");
    an_sql_group_list(&b, p, grouped, ", ");
    cf_strbuf_add(&b, "coalesce(sum(contacts), 0), coalesce(sum(existing), 0),"
                      " coalesce(sum(uniq), 0), coalesce(sum(leads), 0),"
                      " coalesce(sum(bookings), 0), coalesce(sum(arrivals), 0),"
                      " coalesce(sum(arrived_new), 0), coalesce(sum(revenue), 0),"
                      " coalesce(sum(spend), 0) FROM (");
    /* contacts: ended inbound calls, under their own attribution */
    an_sql_part(
        &b, p, grouped, &calls,
        "sum(c.inbound)::bigint AS contacts, (sum(c.inbound) FILTER (WHERE c.patient_class IN"
        " ('repeat', 'lapsed')))::bigint AS existing, 0::bigint AS uniq, 0::bigint AS leads,"
        " 0::bigint AS bookings, 0::bigint AS arrivals, 0::bigint AS arrived_new,"
        " 0::numeric AS revenue, 0::numeric AS spend",
        " FROM analytics.calls_hourly c WHERE" IN_RANGE("c.network_id", "c.hour")
            CLINIC_AND_SOURCE("c.clinic_id", "c.source"));
    /* ... and leads, under theirs */
    cf_strbuf_add(&b, " UNION ALL ");
    an_sql_part(&b, p, grouped, &leads,
                "count(*), count(*) FILTER (WHERE l.patient_class IN ('repeat', 'lapsed')), 0,"
                " count(*), 0, 0, 0, 0, 0",
                " FROM analytics.leads l WHERE" IN_RANGE("l.network_id", "l.hour")
                    CLINIC_AND_SOURCE("l.clinic_id", "l.source"));
    /* the people among them, once each */
    cf_strbuf_add(&b, " UNION ALL ");
    an_sql_part(
        &b, p, grouped, &unique, "0, 0, count(DISTINCT u.person), 0, 0, 0, 0, 0, 0",
        " FROM (SELECT c.network_id, c.clinic_id, c.hour, c.source, c.medium, c.campaign,"
        " coalesce(c.contact_key, c.call_id::text) AS person FROM analytics.calls c"
        " WHERE c.inbound = 1 UNION ALL SELECT l.network_id, l.clinic_id, l.hour, l.source,"
        " l.medium, l.campaign, coalesce(l.contact_key, l.lead_id::text) FROM analytics.leads l)"
        " u WHERE" IN_RANGE("u.network_id", "u.hour") CLINIC_AND_SOURCE("u.clinic_id", "u.source"));
    /* bookings first seen in the range, under the person's attribution */
    cf_strbuf_add(&b, " UNION ALL ");
    char *from = attributed(
        p->last_non_direct,
        "aa.booked_hour >= $2::timestamp AND aa.booked_hour < $3::timestamp" CLINIC_AND_SOURCE(
            "aa.clinic_id", "aa.src"));
    an_sql_part(&b, p, grouped, &booked, "0, 0, 0, 0, count(*), 0, 0, 0, 0", from);
    free(from);
    /* visits starting in the range: arrivals, first visits, revenue */
    cf_strbuf_add(&b, " UNION ALL ");
    an_sql_part(
        &b, p, grouped, &visits,
        "0, 0, 0, 0, 0, count(*), count(*) FILTER (WHERE " AN_FIRST_VISIT_SQL(
            "aa") "), sum(aa.amount_paid), 0",
        (from = attributed(p->last_non_direct,
                           "aa.start_hour >= $2::timestamp AND aa.start_hour < $3::timestamp"
                           " AND aa.status IN ('arrived', 'completed')" CLINIC_AND_SOURCE(
                               "aa.clinic_id", "aa.src"))));
    free(from);
    /* spend: a clinic's own, and the network-wide split by the clinics'
     * contacts from the source that day (kept whole, with no clinic, when
     * the source brought none that day) */
    cf_strbuf_add(&b, " UNION ALL ");
    an_sql_part(
        &b, p, grouped, &spend, "0, 0, 0, 0, 0, 0, 0, 0, sum(s.amount)",
        " FROM (SELECT day, source, medium, campaign, clinic_id, amount FROM analytics.spend"
        " WHERE network_id = $1 AND clinic_id <> '' UNION ALL SELECT w.day, w.source,"
        " w.medium, w.campaign, coalesce(cs.clinic_id, ''), w.amount * coalesce(cs.n /"
        " NULLIF(cs.total, 0), 1) FROM analytics.spend w LEFT JOIN (SELECT d, source,"
        " clinic_id, n::numeric, (sum(n) OVER (PARTITION BY d, source))::numeric AS total FROM"
        " (SELECT d, source, clinic_id, sum(n) AS n FROM (SELECT c.hour::date AS d, c.source,"
        " c.clinic_id, sum(c.inbound) AS n FROM analytics.calls_hourly c WHERE c.network_id ="
        " $1 GROUP BY 1, 2, 3 UNION ALL SELECT l.hour::date, l.source, l.clinic_id, count(*)"
        " FROM analytics.leads l WHERE l.network_id = $1 AND l.hour IS NOT NULL"
        " GROUP BY 1, 2, 3) k GROUP BY 1, 2, 3) t) cs ON cs.d = w.day AND cs.source = w.source"
        " WHERE w.network_id = $1 AND w.clinic_id = '') s"
        " WHERE s.day >= $2::date AND s.day < $3::date" CLINIC_AND_SOURCE("s.clinic_id",
                                                                          "s.source"));
    cf_strbuf_add(&b, ") x");
    an_sql_group_by(&b, p, grouped, AN_SQL_OUTER);
    return cf_strbuf_take(&b);
}

static const char *const fields[] = {
    "contacts",
    "unique_contacts",
    "existing_patient_share",
    "leads",
    "bookings",
    "arrivals",
    "arrived_new_patients",
    "revenue",
    "spend",
    "cost_per_unique_contact",
    "cost_per_lead",
    "cost_per_booking",
    "cost_per_arrived_new_patient",
    "romi",
};

/* spend / n, or null when n is 0 */
static json_t *cost_per(double spend, json_int_t n)
{
    return n > 0 ? json_real(spend / (double)n) : json_null();
}

static json_t *sources_row(const struct an_report_params *p, int grouped, const char *const *values)
{
    json_t *row = json_object();
    const char *const *c = values + an_group_values(p, grouped, values, row);
    const json_int_t contacts = an_count(c[0]), existing = an_count(c[1]), uniq = an_count(c[2]),
                     leads = an_count(c[3]), bookings = an_count(c[4]),
                     arrived_new = an_count(c[6]);
    const double revenue = an_amount(c[7]), spend = an_amount(c[8]);

    json_object_set_new(row, "contacts", json_integer(contacts));
    json_object_set_new(row, "unique_contacts", json_integer(uniq));
    /* contacts from people who were patients already ("brand traffic") */
    json_object_set_new(row, "existing_patient_share", an_share(existing, contacts));
    json_object_set_new(row, "leads", json_integer(leads));
    json_object_set_new(row, "bookings", json_integer(bookings));
    json_object_set_new(row, "arrivals", json_integer(an_count(c[5])));
    json_object_set_new(row, "arrived_new_patients", json_integer(arrived_new));
    json_object_set_new(row, "revenue", json_real(revenue));
    json_object_set_new(row, "spend", json_real(spend));
    json_object_set_new(row, "cost_per_unique_contact", cost_per(spend, uniq));
    json_object_set_new(row, "cost_per_lead", cost_per(spend, leads));
    json_object_set_new(row, "cost_per_booking", cost_per(spend, bookings));
    json_object_set_new(row, "cost_per_arrived_new_patient", cost_per(spend, arrived_new));
    /* (revenue - spend) / spend */
    json_object_set_new(row, "romi",
                        spend > 0 ? json_real((revenue - spend) / spend) : json_null());
    return row;
}

#define SOURCE_GROUPS                                                                              \
    (1u << AN_G_CLINIC | 1u << AN_G_SOURCE | 1u << AN_G_MEDIUM | 1u << AN_G_CAMPAIGN |             \
     1u << AN_G_DAY | 1u << AN_G_WEEK | 1u << AN_G_MONTH)

const struct an_report an_report_sources = {
    .name = "sources",
    .groups = SOURCE_GROUPS,
    .default_group = -1,
    .takes_source = 1,
    .sql = sources_sql,
    .row = sources_row,
    .fields = fields,
    .nfields = sizeof(fields) / sizeof(fields[0]),
};
