/*
 * The cohorts report (report_testable.h, proto/README.md "Analytics
 * reports"): patients by the local month of their first visit (the
 * earliest arrived or completed appointment analytics holds), and for
 * each month since, how many came again and what the cohort has paid so
 * far. Its rows are cohort x months since; the query's range picks the
 * cohorts, its clinics the clinic of the first visit. For a key limited
 * to clinics the later visits and their revenue are those at its clinics
 * (report_testable.h, walled).
 */
#include "report_testable.h"

#include "common/strbuf.h"

#define VISITS                                                                                     \
    "WITH v AS (SELECT a.patient_id, a.clinic_id, date_trunc('month', a.start_hour) AS m,"         \
    " a.amount_paid, a.starts_at, a.appointment_id FROM analytics.appointments a"                  \
    " WHERE a.network_id = $1 AND a.status IN ('arrived', 'completed')"                            \
    " AND a.patient_id IS NOT NULL),"                                                              \
    " f AS (SELECT DISTINCT ON (v.patient_id) v.patient_id, v.m AS cohort, v.clinic_id FROM v"     \
    " ORDER BY v.patient_id, v.starts_at, v.appointment_id),"                                      \
    " c AS (SELECT f.* FROM f WHERE f.cohort >= date_trunc('month', $2::timestamp)"                \
    " AND f.cohort < $3::timestamp AND ($4::jsonb IS NULL OR f.clinic_id IN"                       \
    " (SELECT jsonb_array_elements_text($4))) AND $5::text IS NULL),"                              \
    " k AS (SELECT c.cohort, c.patient_id, ((extract(year FROM v.m) - extract(year FROM"           \
    " c.cohort)) * 12 + extract(month FROM v.m) - extract(month FROM c.cohort))::int AS k,"        \
    " v.amount_paid FROM c JOIN v ON v.patient_id = c.patient_id"

static char *cohorts_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};
    cf_strbuf_add(&b, VISITS);
    /* a walled key: the cohort's visits at its clinics only */
    cf_strbuf_add(&b, p->walled ? AN_WALL_SQL("v.clinic_id") ")" : ")");
    if (grouped)
        /* cohort, months since, its patients, those who came that month,
         * what the cohort paid up to it */
        cf_strbuf_add(&b,
                      ", n AS (SELECT cohort, count(*) AS n FROM c GROUP BY 1),"
                      " act AS (SELECT cohort, k, count(DISTINCT patient_id) AS active,"
                      " sum(amount_paid) AS revenue FROM k GROUP BY 1, 2)"
                      " SELECT to_char(n.cohort, 'YYYY-MM'), g.k, n.n, coalesce(act.active, 0),"
                      " sum(coalesce(act.revenue, 0)) OVER (PARTITION BY n.cohort ORDER BY g.k)"
                      " FROM n CROSS JOIN LATERAL generate_series(0, (SELECT max(k.k) FROM k"
                      " WHERE k.cohort = n.cohort)) AS g(k) LEFT JOIN act ON act.cohort = n.cohort"
                      " AND act.k = g.k ORDER BY n.cohort, g.k");
    else
        cf_strbuf_add(&b, " SELECT NULL, NULL, (SELECT count(*) FROM c), NULL,"
                          " (SELECT coalesce(sum(amount_paid), 0) FROM k)");
    return cf_strbuf_take(&b);
}

static const char *const fields[] = {
    "cohort",
    "months_since",
    "patients",
    "returning",
    "returning_share",
    "revenue_cumulative",
    "revenue_per_patient",
};

static json_t *cohorts_row(const struct an_report_params *p, int grouped, const char *const *c)
{
    json_t *row = json_object();
    const json_int_t patients = an_count(c[2]), k = an_count(c[1]);
    const double revenue = an_amount(c[4]);
    (void)p;

    json_object_set_new(row, "cohort", c[0] ? json_string(c[0]) : json_null());
    json_object_set_new(row, "months_since", grouped ? json_integer(k) : json_null());
    json_object_set_new(row, "patients", json_integer(patients));
    /* month 0 is the first visit itself: nobody returns in it */
    json_object_set_new(row, "returning",
                        grouped && k > 0 ? json_integer(an_count(c[3])) : json_null());
    json_object_set_new(row, "returning_share",
                        grouped && k > 0 ? an_share(an_count(c[3]), patients) : json_null());
    json_object_set_new(row, "revenue_cumulative", json_real(revenue));
    json_object_set_new(row, "revenue_per_patient",
                        patients > 0 ? json_real(revenue / (double)patients) : json_null());
    return row;
}

const struct an_report an_report_cohorts = {
    .name = "cohorts",
    .groups = 0,
    .default_group = -1,
    .rows_always = 1,
    .totals_apart = 1,
    .takes_source = 0,
    .sql = cohorts_sql,
    .row = cohorts_row,
    .fields = fields,
    .nfields = sizeof(fields) / sizeof(fields[0]),
};
