/*
 * The operators and doctors reports (report_testable.h, proto/README.md
 * "Analytics reports"): one row per operator (the calls' answering agent,
 * the appointments' booking operator) or per doctor unless the query
 * groups otherwise.
 */
#include "report_testable.h"

#include "common/strbuf.h"

#define WHERE(net, clinic, hour)                                                                   \
    " WHERE " net " = $1 AND " hour " >= $2::timestamp AND " hour " < $3::timestamp"               \
    " AND ($4::jsonb IS NULL OR " clinic " IN (SELECT jsonb_array_elements_text($4)))"             \
    " AND $5::text IS NULL"

/* The operators' bookings in the range: one with no operator (online, or
 * a front desk the MIS names nobody at) is nobody's, and not in the
 * totals either, so their conversion stays the operators'. */
#define OPERATOR_BOOKED                                                                            \
    WHERE("a.network_id", "a.clinic_id", "a.booked_hour") " AND a.operator_id IS NOT NULL"

static char *operators_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};
    const struct an_cols calls = {
        .clinic = "c.clinic_id", .hour = "c.hour", .operator_ = "c.operator"};
    const struct an_cols booked = {.clinic = "a.clinic_id",
                                   .hour = "a.booked_hour",
                                   .operator_ = "coalesce(a.operator_id, '')"};

    cf_strbuf_add(&b, "SELECT ");
    an_sql_group_list(&b, p, grouped, ", ");
    cf_strbuf_add(&b, "coalesce(sum(handled), 0), coalesce(sum(answered), 0),"
                      " coalesce(sum(outbound), 0), coalesce(sum(talk), 0),"
                      " coalesce(sum(bookings), 0) FROM (");
    /* calls: answered (either direction), inbound answered, outbound
     * made, talk time */
    an_sql_part(&b, p, grouped, &calls,
                "sum(c.handled)::bigint AS handled, sum(c.answered)::bigint AS answered,"
                " sum(c.outbound)::bigint AS outbound, sum(c.talk_seconds)::bigint AS talk,"
                " 0::bigint AS bookings",
                " FROM analytics.calls_hourly c" WHERE("c.network_id", "c.clinic_id", "c.hour"));
    /* bookings the operator made, when first seen (OPERATOR_BOOKED) */
    cf_strbuf_add(&b, " UNION ALL ");
    an_sql_part(&b, p, grouped, &booked, "0, 0, 0, 0, count(*)",
                " FROM analytics.appointments a" OPERATOR_BOOKED);
    cf_strbuf_add(&b, ") x");
    an_sql_group_by(&b, p, grouped, AN_SQL_OUTER);
    return cf_strbuf_take(&b);
}

static const char *const operator_fields[] = {
    "calls_handled", "inbound_answered", "outbound",           "talk_seconds",
    "mean_talk_s",   "bookings",         "booking_conversion",
};

static json_t *operators_row(const struct an_report_params *p, int grouped,
                             const char *const *values)
{
    json_t *row = json_object();
    const char *const *c = values + an_group_values(p, grouped, values, row);
    const json_int_t handled = an_count(c[0]), talk = an_count(c[3]), bookings = an_count(c[4]);

    json_object_set_new(row, "calls_handled", json_integer(handled));
    json_object_set_new(row, "inbound_answered", json_integer(an_count(c[1])));
    json_object_set_new(row, "outbound", json_integer(an_count(c[2])));
    json_object_set_new(row, "talk_seconds", json_integer(talk));
    json_object_set_new(row, "mean_talk_s", an_share(talk, handled));
    json_object_set_new(row, "bookings", json_integer(bookings));
    /* bookings over the calls the operator handled */
    json_object_set_new(row, "booking_conversion", an_share(bookings, handled));
    return row;
}

const struct an_report an_report_operators = {
    .name = "operators",
    .groups = 1u << AN_G_OPERATOR | 1u << AN_G_CLINIC | 1u << AN_G_DAY | 1u << AN_G_WEEK |
              1u << AN_G_MONTH,
    .default_group = AN_G_OPERATOR,
    .takes_source = 0,
    .sql = operators_sql,
    .row = operators_row,
    .fields = operator_fields,
    .nfields = sizeof(operator_fields) / sizeof(operator_fields[0]),
};

static char *doctors_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};
    const struct an_cols visits = {
        .clinic = "a.clinic_id", .hour = "a.start_hour", .doctor = "a.doctor_id"};
    const struct an_cols answers = {
        .clinic = "n.clinic_id", .hour = "n.hour", .doctor = "coalesce(n.doctor_id, '')"};

    cf_strbuf_add(&b, "SELECT ");
    an_sql_group_list(&b, p, grouped, ", ");
    cf_strbuf_add(&b, "coalesce(sum(arrivals), 0), coalesce(sum(no_shows), 0),"
                      " coalesce(sum(proposed), 0), coalesce(sum(accepted), 0),"
                      " coalesce(sum(revenue), 0), coalesce(sum(plans_amount), 0),"
                      " coalesce(sum(answers), 0), coalesce(sum(promoters), 0),"
                      " coalesce(sum(detractors), 0) FROM (");
    /* visits starting in the range, by their doctor: arrivals, no-shows,
     * plans proposed and accepted (the doctor's "plan acceptance"),
     * revenue */
    an_sql_part(
        &b, p, grouped, &visits,
        "count(*) FILTER (WHERE a.status IN ('arrived', 'completed')) AS arrivals,"
        " count(*) FILTER (WHERE a.status = 'no_show') AS no_shows,"
        " count(*) FILTER (WHERE a.plan_status IS NOT NULL) AS proposed,"
        " count(*) FILTER (WHERE a.plan_status = 'accepted') AS accepted,"
        " coalesce(sum(a.amount_paid) FILTER (WHERE a.status IN ('arrived',"
        " 'completed')), 0) AS revenue, coalesce(sum(a.plan_amount) FILTER (WHERE"
        " a.plan_status = 'accepted'), 0) AS plans_amount, 0::bigint AS answers,"
        " 0::bigint AS promoters, 0::bigint AS detractors",
        " FROM analytics.appointments a" WHERE("a.network_id", "a.clinic_id", "a.start_hour"));
    /* survey answers given in the range, by the visit's doctor */
    cf_strbuf_add(&b, " UNION ALL ");
    an_sql_part(&b, p, grouped, &answers,
                "0, 0, 0, 0, 0, 0, count(*), count(*) FILTER (WHERE n.score >= 9),"
                " count(*) FILTER (WHERE n.score <= 6)",
                " FROM analytics.nps_answers n" WHERE("n.network_id", "n.clinic_id", "n.hour"));
    cf_strbuf_add(&b, ") x");
    an_sql_group_by(&b, p, grouped, AN_SQL_OUTER);
    return cf_strbuf_take(&b);
}

static const char *const doctor_fields[] = {
    "arrivals",       "no_shows",
    "show_rate",      "plans_proposed",
    "plans_accepted", "plan_acceptance",
    "revenue",        "accepted_plans_amount",
    "nps_answers",    "nps",
};

static json_t *doctors_row(const struct an_report_params *p, int grouped, const char *const *values)
{
    json_t *row = json_object();
    const char *const *c = values + an_group_values(p, grouped, values, row);
    const json_int_t arrivals = an_count(c[0]), no_shows = an_count(c[1]),
                     proposed = an_count(c[2]), accepted = an_count(c[3]);

    json_object_set_new(row, "arrivals", json_integer(arrivals));
    json_object_set_new(row, "no_shows", json_integer(no_shows));
    json_object_set_new(row, "show_rate", an_share(arrivals, arrivals + no_shows));
    json_object_set_new(row, "plans_proposed", json_integer(proposed));
    json_object_set_new(row, "plans_accepted", json_integer(accepted));
    json_object_set_new(row, "plan_acceptance", an_share(accepted, proposed));
    json_object_set_new(row, "revenue", json_real(an_amount(c[4])));
    json_object_set_new(row, "accepted_plans_amount", json_real(an_amount(c[5])));
    /* NPS: % promoters (9-10) minus % detractors (0-6) of the answers */
    const json_int_t answers = an_count(c[6]);
    json_object_set_new(row, "nps_answers", json_integer(answers));
    json_object_set_new(
        row, "nps",
        answers > 0 ? json_real(100.0 * (double)(an_count(c[7]) - an_count(c[8])) / (double)answers)
                    : json_null());
    return row;
}

const struct an_report an_report_doctors = {
    .name = "doctors",
    .groups =
        1u << AN_G_DOCTOR | 1u << AN_G_CLINIC | 1u << AN_G_DAY | 1u << AN_G_WEEK | 1u << AN_G_MONTH,
    .default_group = AN_G_DOCTOR,
    .takes_source = 0,
    .sql = doctors_sql,
    .row = doctors_row,
    .fields = doctor_fields,
    .nfields = sizeof(doctor_fields) / sizeof(doctor_fields[0]),
};
