/*
 * The funnel (report_testable.h, proto/README.md "Analytics reports"):
 * from the people who called or wrote to their bookings, visits, plans
 * and returns, by clinic and local time. Each step counts on its own
 * date: contacts when they came, new people on their first contact,
 * bookings when first seen, visits when they start. Read from the facts
 * (calls' rollup, leads, people, appointments) in one statement whose
 * parts are summed per group.
 */
#include "report_testable.h"

#include "common/strbuf.h"

/* The selection of each part: the network, the range, the clinics. */
#define WHERE(net, clinic, hour)                                                                   \
    " WHERE " net " = $1 AND " hour " >= $2::timestamp AND " hour " < $3::timestamp"               \
    " AND ($4::jsonb IS NULL OR " clinic " IN (SELECT jsonb_array_elements_text($4)))"

/* The part's counts in the statement's column order: contacts,
 * unique_contacts, new_persons, new_booked, bookings, arrivals, no_shows,
 * cancellations, plans_proposed, plans_accepted, repeat_visits. */
static void part(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                 const char *clinic, const char *hour, const char *counts, const char *from)
{
    const struct an_cols cols = {.clinic = clinic, .hour = hour};
    an_sql_part(b, p, grouped, &cols, counts, from);
}

static char *funnel_sql(const struct an_report_params *p, int grouped)
{
    struct cf_strbuf b = {0};

    cf_strbuf_add(&b, "SELECT ");
    an_sql_group_list(&b, p, grouped, ", ");
    cf_strbuf_add(&b, "coalesce(sum(contacts), 0), coalesce(sum(unique_contacts), 0),"
                      " coalesce(sum(new_persons), 0), coalesce(sum(new_booked), 0),"
                      " coalesce(sum(bookings), 0), coalesce(sum(arrivals), 0),"
                      " coalesce(sum(no_shows), 0), coalesce(sum(cancellations), 0),"
                      " coalesce(sum(plans_proposed), 0), coalesce(sum(plans_accepted), 0),"
                      " coalesce(sum(repeat_visits), 0) FROM (");
    /* contacts: ended inbound calls (the rollup an_sql_calls_rollup picks:
     * the one by clinic and hour, the funnel having no other dimension) ... */
    part(&b, p, grouped, "c.clinic_id", "c.hour",
         "sum(c.inbound)::bigint AS contacts, 0::bigint AS unique_contacts,"
         " 0::bigint AS new_persons, 0::bigint AS new_booked, 0::bigint AS bookings,"
         " 0::bigint AS arrivals, 0::bigint AS no_shows, 0::bigint AS cancellations,"
         " 0::bigint AS plans_proposed, 0::bigint AS plans_accepted, 0::bigint AS repeat_visits",
         an_sql_calls_rollup(p));
    /* ... and leads */
    cf_strbuf_add(&b, " UNION ALL ");
    part(&b, p, grouped, "l.clinic_id", "l.hour", "count(*), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0",
         " FROM analytics.leads l" WHERE("l.network_id", "l.clinic_id", "l.hour"));
    /* unique contacts: the people among them, once each (a caller whose
     * number is unknown is a person of their own) */
    cf_strbuf_add(&b, " UNION ALL ");
    part(&b, p, grouped, "u.clinic_id", "u.hour",
         "0, count(DISTINCT u.person), 0, 0, 0, 0, 0, 0, 0, 0, 0",
         " FROM (SELECT c.network_id, c.clinic_id, c.hour,"
         " coalesce(c.contact_key, c.call_id::text) AS person FROM analytics.calls c"
         " WHERE c.inbound = 1 UNION ALL SELECT l.network_id, l.clinic_id, l.hour,"
         " coalesce(l.contact_key, l.lead_id::text) FROM analytics.leads l) u" WHERE(
             "u.network_id", "u.clinic_id", "u.hour"));
    /* new people: first contact in the range, not a patient then; booked
     * within 14 days of it: an appointment first seen in that time of one
     * of the patients the person's number belongs to, or one whose
     * booking names the person's call or lead */
    cf_strbuf_add(&b, " UNION ALL ");
    part(&b, p, grouped, "pe.first_clinic", "pe.first_hour",
         p->walled ? "0, 0, count(*), count(*) FILTER (WHERE " AN_NEW_PERSON_BOOKED_SQL(
                         "pe", AN_WALL_SQL("a.clinic_id")) "), 0, 0, 0, 0, 0, 0, 0"
                   : "0, 0, count(*), count(*) FILTER (WHERE " AN_NEW_PERSON_BOOKED_SQL(
                         "pe", "") "), 0, 0, 0, 0, 0, 0, 0",
         " FROM analytics.persons pe" WHERE("pe.network_id", "pe.first_clinic",
                                            "pe.first_hour") " AND " AN_NEW_PERSON_SQL("pe"));
    /* bookings, when first seen */
    cf_strbuf_add(&b, " UNION ALL ");
    part(&b, p, grouped, "a.clinic_id", "a.booked_hour", "0, 0, 0, 0, count(*), 0, 0, 0, 0, 0, 0",
         " FROM analytics.appointments a" WHERE("a.network_id", "a.clinic_id", "a.booked_hour"));
    /* visits, when they start: arrived or completed, no-shows and
     * cancellations apart; plans proposed (whatever became of them) and
     * accepted; a repeat visit is an arrival of a patient who had come
     * before (an earlier arrival here, or a first visit the MIS knows) */
    cf_strbuf_add(&b, " UNION ALL ");
    part(
        &b, p, grouped, "a.clinic_id", "a.start_hour",
        "0, 0, 0, 0, 0, count(*) FILTER (WHERE a.status IN ('arrived', 'completed')),"
        " count(*) FILTER (WHERE a.status = 'no_show'),"
        " count(*) FILTER (WHERE a.status = 'cancelled'),"
        " count(*) FILTER (WHERE a.plan_status IS NOT NULL),"
        " count(*) FILTER (WHERE a.plan_status = 'accepted'),"
        " count(*) FILTER (WHERE a.status IN ('arrived', 'completed') AND NOT (" AN_FIRST_VISIT_SQL(
            "a") "))",
        " FROM analytics.appointments a" WHERE("a.network_id", "a.clinic_id", "a.start_hour"));
    /* not split by source: $5 is always null (an_report_check) */
    cf_strbuf_add(&b, ") x WHERE $5::text IS NULL");
    an_sql_group_by(&b, p, grouped, AN_SQL_OUTER);
    return cf_strbuf_take(&b);
}

static const char *const fields[] = {
    "contacts",           "unique_contacts", "new_persons",
    "new_persons_booked", "bookings",        "first_contact_conversion_new",
    "arrivals",           "no_shows",        "cancellations",
    "show_rate",          "plans_proposed",  "plans_accepted",
    "plan_acceptance",    "repeat_visits",
};

static json_t *funnel_row(const struct an_report_params *p, int grouped, const char *const *values)
{
    json_t *row = json_object();
    const char *const *c = values + an_group_values(p, grouped, values, row);
    const json_int_t new_persons = an_count(c[2]), new_booked = an_count(c[3]),
                     arrivals = an_count(c[5]), no_shows = an_count(c[6]),
                     proposed = an_count(c[8]), accepted = an_count(c[9]);

    json_object_set_new(row, "contacts", json_integer(an_count(c[0])));
    json_object_set_new(row, "unique_contacts", json_integer(an_count(c[1])));
    json_object_set_new(row, "new_persons", json_integer(new_persons));
    json_object_set_new(row, "new_persons_booked", json_integer(new_booked));
    json_object_set_new(row, "bookings", json_integer(an_count(c[4])));
    /* of the new people who first contacted in the range, those booked
     * within 14 days of it */
    json_object_set_new(row, "first_contact_conversion_new", an_share(new_booked, new_persons));
    json_object_set_new(row, "arrivals", json_integer(arrivals));
    json_object_set_new(row, "no_shows", json_integer(no_shows));
    json_object_set_new(row, "cancellations", json_integer(an_count(c[7])));
    /* cancellations apart: a visit cancelled ahead is not a no-show */
    json_object_set_new(row, "show_rate", an_share(arrivals, arrivals + no_shows));
    json_object_set_new(row, "plans_proposed", json_integer(proposed));
    json_object_set_new(row, "plans_accepted", json_integer(accepted));
    json_object_set_new(row, "plan_acceptance", an_share(accepted, proposed));
    json_object_set_new(row, "repeat_visits", json_integer(an_count(c[10])));
    return row;
}

const struct an_report an_report_funnel = {
    .name = "funnel",
    .groups = AN_GROUPS_CLINIC_TIME,
    .default_group = -1,
    .takes_source = 0,
    .sql = funnel_sql,
    .row = funnel_row,
    .fields = fields,
    .nfields = sizeof(fields) / sizeof(fields[0]),
};
