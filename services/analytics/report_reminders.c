/*
 * The reminders and recall reports (report_testable.h, proto/README.md
 * "Analytics reports"), from reminders.outcomes.v1's rows and the
 * appointments. Reminder sends and their outcomes count when they
 * happened; visits when they start; campaign members when they became
 * members, with what became of them since.
 */
#include "report_testable.h"

#include <stdlib.h>

#include "common/strbuf.h"
#include "common/xmalloc.h"

#define IN_RANGE(alias)                                                                            \
    " WHERE " alias ".network_id = $1 AND " alias ".hour >= $2::timestamp AND " alias              \
    ".hour < $3::timestamp AND ($4::jsonb IS NULL OR " alias ".clinic_id IN"                       \
    " (SELECT jsonb_array_elements_text($4))) AND $5::text IS NULL"

#define SENT_FIRST "r.outcome <> 'skipped' AND " AN_SEND_FIRST_SQL("r")

static char *reminders_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};
    const struct an_cols sends = {.clinic = "r.clinic_id", .hour = "r.hour"};
    const struct an_cols visits = {.clinic = "a.clinic_id", .hour = "a.start_hour"};

    cf_strbuf_add(&b, "SELECT ");
    an_sql_group_list(&b, p, grouped, ", ");
    cf_strbuf_add(&b, "coalesce(sum(sent), 0), coalesce(sum(calls), 0), coalesce(sum(sms), 0),"
                      " coalesce(sum(not_reached), 0), coalesce(sum(confirmed), 0),"
                      " coalesce(sum(declined), 0), coalesce(sum(reschedule), 0),"
                      " coalesce(sum(not_confirmed), 0), coalesce(sum(opt_outs), 0),"
                      " coalesce(sum(segments), 0), coalesce(sum(cost), 0),"
                      " coalesce(sum(conf_arrived), 0), coalesce(sum(conf_no_show), 0),"
                      " coalesce(sum(unconf_arrived), 0), coalesce(sum(unconf_no_show), 0)"
                      " FROM (");
    /* the visits' reminders: sends that went out, each by its first
     * event (a send is one rung of the ladder; its outcomes are several
     * events, maybe days apart), the calls that reached nobody, the
     * statuses the outcomes set, opt-outs, SMS */
    an_sql_part(
        &b, p, grouped, &sends,
        "count(*) FILTER (WHERE " SENT_FIRST ") AS sent,"
        " count(*) FILTER (WHERE " SENT_FIRST " AND r.channel = 'call') AS calls,"
        " count(*) FILTER (WHERE " SENT_FIRST " AND r.channel = 'sms') AS sms,"
        " count(DISTINCT r.send_id) FILTER (WHERE " AN_SEND_NOT_REACHED_SQL(
            "r") ") AS"
                 " not_reached,"
                 " count(*) FILTER (WHERE r.reminder_status = 'confirmed') AS confirmed,"
                 " count(*) FILTER (WHERE r.reminder_status = 'declined') AS declined,"
                 " count(*) FILTER (WHERE r.reminder_status = 'reschedule_requested') AS "
                 "reschedule,"
                 " count(*) FILTER (WHERE r.reminder_status = 'not_confirmed') AS not_confirmed,"
                 " count(*) FILTER (WHERE r.outcome IN ('opt_out_calls', 'opt_out_sms')) AS "
                 "opt_outs,"
                 " coalesce(sum(r.sms_segments), 0)::bigint AS segments,"
                 " coalesce(sum(r.sms_cost), 0)::numeric AS cost, 0::bigint AS conf_arrived,"
                 " 0::bigint AS conf_no_show, 0::bigint AS unconf_arrived, 0::bigint AS "
                 "unconf_no_show",
        " FROM analytics.reminder_outcomes r" IN_RANGE("r") " AND r.kind = 'reminder'");
    /* the reminded visits starting in the range, by the last reminder
     * status their outcomes set: came or not */
    cf_strbuf_add(&b, " UNION ALL ");
    an_sql_part(&b, p, grouped, &visits,
                "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,"
                " count(*) FILTER (WHERE m.st = 'confirmed' AND a.status IN ('arrived',"
                " 'completed')), count(*) FILTER (WHERE m.st = 'confirmed' AND a.status ="
                " 'no_show'), count(*) FILTER (WHERE m.st IS DISTINCT FROM 'confirmed' AND"
                " a.status IN ('arrived', 'completed')), count(*) FILTER (WHERE m.st IS DISTINCT"
                " FROM 'confirmed' AND a.status = 'no_show')",
                " FROM analytics.appointments a JOIN LATERAL (SELECT " AN_VISIT_LAST_STATUS_SQL(
                    "a") " AS st) m ON " AN_VISIT_REMINDED_SQL("a") " WHERE a.network_id = $1 AND "
                                                                    "a.start_hour >="
                                                                    " $2::timestamp AND "
                                                                    "a.start_hour < $3::timestamp "
                                                                    "AND ($4::jsonb IS NULL OR"
                                                                    " a.clinic_id IN (SELECT "
                                                                    "jsonb_array_elements_text($4))"
                                                                    ") AND $5::text IS NULL");
    cf_strbuf_add(&b, ") x");
    an_sql_group_by(&b, p, grouped, AN_SQL_OUTER);
    return cf_strbuf_take(&b);
}

static const char *const reminder_fields[] = {
    "sent",
    "calls",
    "sms",
    "not_reached",
    "confirmed",
    "declined",
    "reschedule_requested",
    "not_confirmed",
    "opt_outs",
    "sms_segments",
    "sms_cost",
    "cost_per_confirmed",
    "confirmed_visits",
    "show_rate_confirmed",
    "unconfirmed_visits",
    "show_rate_unconfirmed",
};

static json_t *reminders_row(const struct an_report_params *p, int grouped,
                             const char *const *values)
{
    json_t *row = json_object();
    const char *const *c = values + an_group_values(p, grouped, values, row);
    const json_int_t confirmed = an_count(c[4]), conf_arrived = an_count(c[11]),
                     conf_no_show = an_count(c[12]), unconf_arrived = an_count(c[13]),
                     unconf_no_show = an_count(c[14]);
    const double cost = an_amount(c[10]);

    json_object_set_new(row, "sent", json_integer(an_count(c[0])));
    json_object_set_new(row, "calls", json_integer(an_count(c[1])));
    json_object_set_new(row, "sms", json_integer(an_count(c[2])));
    json_object_set_new(row, "not_reached", json_integer(an_count(c[3])));
    json_object_set_new(row, "confirmed", json_integer(confirmed));
    json_object_set_new(row, "declined", json_integer(an_count(c[5])));
    json_object_set_new(row, "reschedule_requested", json_integer(an_count(c[6])));
    json_object_set_new(row, "not_confirmed", json_integer(an_count(c[7])));
    json_object_set_new(row, "opt_outs", json_integer(an_count(c[8])));
    json_object_set_new(row, "sms_segments", json_integer(an_count(c[9])));
    json_object_set_new(row, "sms_cost", json_real(cost));
    json_object_set_new(row, "cost_per_confirmed",
                        confirmed > 0 ? json_real(cost / (double)confirmed) : json_null());
    /* visits that came or did not (cancellations apart), by whether the
     * patient had confirmed */
    json_object_set_new(row, "confirmed_visits", json_integer(conf_arrived + conf_no_show));
    json_object_set_new(row, "show_rate_confirmed",
                        an_share(conf_arrived, conf_arrived + conf_no_show));
    json_object_set_new(row, "unconfirmed_visits", json_integer(unconf_arrived + unconf_no_show));
    json_object_set_new(row, "show_rate_unconfirmed",
                        an_share(unconf_arrived, unconf_arrived + unconf_no_show));
    return row;
}

const struct an_report an_report_reminders = {
    .name = "reminders",
    .groups = 1u << AN_G_CLINIC | 1u << AN_G_DAY | 1u << AN_G_WEEK | 1u << AN_G_MONTH,
    .default_group = -1,
    .takes_source = 0,
    .sql = reminders_sql,
    .row = reminders_row,
    .fields = reminder_fields,
    .nfields = sizeof(reminder_fields) / sizeof(reminder_fields[0]),
};

/* The recall report's rows: its members, their outcomes and their
 * appointments after they became members (%s: the wall, or nothing). */
#define RECALL_FROM                                                                                \
    " FROM analytics.campaign_members m"                                                           \
    " CROSS JOIN LATERAL (SELECT"                                                                  \
    " coalesce(bool_or(r.outcome <> 'skipped'), false) AS contacted,"                              \
    " coalesce(bool_or(r.outcome = 'confirmed'), false) AS agreed,"                                \
    " coalesce(bool_or(r.outcome IN ('opt_out_calls', 'opt_out_sms')), false) AS opted_out"        \
    " FROM analytics.reminder_outcomes r WHERE r.job_id = m.job_id) o"                             \
    " CROSS JOIN LATERAL (SELECT count(*) AS booked,"                                              \
    " count(*) FILTER (WHERE a.status IN ('arrived', 'completed') AND a.starts_at > m.at)"         \
    " AS arrived, coalesce(sum(a.amount_paid) FILTER (WHERE a.status IN ('arrived',"               \
    " 'completed') AND a.starts_at > m.at), 0) AS revenue"                                         \
    " FROM analytics.appointments a WHERE a.patient_id = m.patient_id"                             \
    " AND a.booked_at > m.at AND " AN_MEMBER_VISIT_SQL("m", "a") "%s) v" IN_RANGE("m")

/* Campaign members (m) in the range; what each became: contacted, agreed,
 * opted out (its job's outcomes), booked again (an appointment of the
 * patient first seen after it became a member and before the patient's
 * next membership, AN_MEMBER_VISIT_SQL, at any clinic, or for a
 * key limited to clinics at its clinics: report_testable.h, walled), came,
 * and paid. */
static char *recall_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};
    const struct an_cols members = {
        .clinic = "m.clinic_id", .hour = "m.hour", .campaign = "m.campaign"};
    char *from = cf_xasprintf(RECALL_FROM, p->walled ? AN_WALL_SQL("a.clinic_id") : "");

    an_sql_part(&b, p, grouped, &members,
                "count(*), count(*) FILTER (WHERE m.grp = 'target'),"
                " count(*) FILTER (WHERE m.grp = 'holdout'),"
                " count(*) FILTER (WHERE o.contacted), count(*) FILTER (WHERE o.agreed),"
                " count(*) FILTER (WHERE o.opted_out),"
                " count(*) FILTER (WHERE m.grp = 'target' AND v.booked > 0),"
                " count(*) FILTER (WHERE m.grp = 'holdout' AND v.booked > 0),"
                " count(*) FILTER (WHERE m.grp = 'target' AND v.arrived > 0),"
                " coalesce(sum(v.revenue) FILTER (WHERE m.grp = 'target'), 0)",
                from);
    free(from);
    if (grouped && p->ngroups) { /* one part: its groups in order */
        cf_strbuf_add(&b, " ORDER BY ");
        an_sql_group_list(&b, p, grouped, "");
    }
    return cf_strbuf_take(&b);
}

static const char *const recall_fields[] = {
    "members",  "target",         "holdout",        "contacted",           "agreed",
    "opt_outs", "booked_target",  "booked_holdout", "booked_share_target", "booked_share_holdout",
    "uplift",   "arrived_target", "revenue_target",
};

static json_t *recall_row(const struct an_report_params *p, int grouped, const char *const *values)
{
    json_t *row = json_object();
    const char *const *c = values + an_group_values(p, grouped, values, row);
    const json_int_t target = an_count(c[1]), holdout = an_count(c[2]), booked_t = an_count(c[6]),
                     booked_h = an_count(c[7]);

    json_object_set_new(row, "members", json_integer(an_count(c[0])));
    json_object_set_new(row, "target", json_integer(target));
    json_object_set_new(row, "holdout", json_integer(holdout));
    json_object_set_new(row, "contacted", json_integer(an_count(c[3])));
    json_object_set_new(row, "agreed", json_integer(an_count(c[4])));
    json_object_set_new(row, "opt_outs", json_integer(an_count(c[5])));
    json_object_set_new(row, "booked_target", json_integer(booked_t));
    json_object_set_new(row, "booked_holdout", json_integer(booked_h));
    json_object_set_new(row, "booked_share_target", an_share(booked_t, target));
    json_object_set_new(row, "booked_share_holdout", an_share(booked_h, holdout));
    /* what contacting them added: the target's share booked again minus
     * the untouched holdout's */
    json_object_set_new(row, "uplift",
                        target > 0 && holdout > 0 ? json_real((double)booked_t / (double)target -
                                                              (double)booked_h / (double)holdout)
                                                  : json_null());
    json_object_set_new(row, "arrived_target", json_integer(an_count(c[8])));
    json_object_set_new(row, "revenue_target", json_real(an_amount(c[9])));
    return row;
}

const struct an_report an_report_recall = {
    .name = "recall",
    .groups = 1u << AN_G_CLINIC | 1u << AN_G_CAMPAIGN | 1u << AN_G_DAY | 1u << AN_G_WEEK |
              1u << AN_G_MONTH,
    .default_group = -1,
    .takes_source = 0,
    .sql = recall_sql,
    .row = recall_row,
    .fields = recall_fields,
    .nfields = sizeof(recall_fields) / sizeof(recall_fields[0]),
};
