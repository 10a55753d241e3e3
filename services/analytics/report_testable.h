/*
 * The reports' rules as pure functions (proto/README.md, "Analytics
 * reports"): reading a query's parameters, the SQL of the calls report,
 * and turning its result into the answer's rows (with the shares computed
 * beside their definitions) and into CSV. No I/O; report_routes.c runs
 * the SQL and answers, and the unit tests call these directly.
 */
#ifndef CF_ANALYTICS_REPORT_TESTABLE_H
#define CF_ANALYTICS_REPORT_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/strbuf.h"

/* What a report can be grouped by, in the order group_by names them. */
enum an_group {
    AN_G_CLINIC,
    AN_G_SOURCE,
    AN_G_MEDIUM,
    AN_G_CAMPAIGN,
    AN_G_OPERATOR,
    AN_G_DOCTOR,
    AN_G_PATIENT_CLASS,
    AN_G_CHANNEL,
    AN_G_DAY,
    AN_G_WEEK,
    AN_G_MONTH,
    AN_G_HOUR,
    AN_G_WEEKDAY,
    AN_G_COUNT
};
extern const char *const an_group_names[AN_G_COUNT];

#define AN_GROUPS_MAX 3
#define AN_CLINICS_MAX 64
#define AN_RANGE_DAYS_MAX 366

struct an_report_params {
    char from[11], to[11];      /* "YYYY-MM-DD", as given */
    int64_t from_days, to_days; /* the same, days since 1970-01-01 */
    char to_next[11];           /* the day after to: the range's exclusive end */
    json_t *clinics;            /* array of clinic ids, or NULL for all */
    char *source;               /* attribution source, or NULL for all */
    enum an_group groups[AN_GROUPS_MAX];
    size_t ngroups;
    int last_non_direct; /* attribution: 0 first touch (the default), 1 last non-direct */
    int csv;             /* answer text/csv */
    /* The reader is a key limited to clinics (the walled ones in clinics):
     * a figure that follows a patient beyond the clinics asked (a cohort's
     * later visits, a recall member's bookings) counts what happened at
     * those clinics only, so such a key learns nothing of the others. */
    int walled;
    const char *tz; /* the network's zone (borrowed), for the hours a local day has */
};

/* The condition that keeps a walled reader's rows to the asked clinics
 * ($4, as every report statement has them), on the column col. */
#define AN_WALL_SQL(col) " AND " col " IN (SELECT jsonb_array_elements_text($4))"

/* Why parameters were refused: the 400's code, field and message. */
struct an_param_error {
    const char *code;
    const char *field;
    char message[200];
};

/* A report query's parameters, each as the request gave it (NULL when
 * absent; a repeated parameter joined with commas). */
struct an_query {
    const char *from, *to, *clinic, *source, *group_by, *attribution, *format;
    const char *accept; /* the Accept header */
};

/* Reads q into p: 0, or CF_EINVAL with err filled in. Clear p in both
 * cases. */
int an_report_params_parse(const struct an_query *q, struct an_report_params *p,
                           struct an_param_error *err);
void an_report_params_clear(struct an_report_params *p);
/* Fills err (code, field, message) and returns CF_EINVAL. */
int an_refuse(struct an_param_error *err, const char *code, const char *field, const char *message);

/* The params member of the answer: what the report was asked. */
json_t *an_report_params_json(const struct an_report_params *p);

/* What a report's statement reads (sql's grouped): one row of totals
 * (AN_TOTALS), the rows of p's groups (AN_ROWS), or both in one reading
 * of the data (AN_ROWS_AND_TOTALS): the rows, then the totals' row, told
 * apart by the column gk after the groups (0 on a row of groups, 1 on
 * the totals'). */
enum { AN_TOTALS = 0, AN_ROWS = 1, AN_ROWS_AND_TOTALS = 2 };

/* A report: its statement and how a result row becomes an answer's row.
 * sql(p, grouped): with grouped, p's groups as the first columns (and gk
 * after them, AN_ROWS_AND_TOTALS), else one row of totals; then the
 * report's own columns. Its parameters: $1
 * network id, $2 from, $3 to_next, $4 the clinics as a JSON array (NULL:
 * all), $5 the source (NULL: all). free() it. row(p, grouped, values):
 * values are the result row's (NULL for SQL NULL); the group values under
 * their names, the counts, the shares and durations of proto/README.md.
 * fields: the answer's (and CSV's) field names in order. */
struct an_report {
    const char *name;
    unsigned groups;   /* the groups it can be split by: 1u << enum an_group each */
    int default_group; /* its rows' group when the query names none (-1: totals only) */
    int takes_source;  /* it can be filtered by source */
    int rows_always;   /* rows of its own even without groups (sql(p, 1) gives them) */
    int totals_apart;  /* its sql takes no AN_ROWS_AND_TOTALS: rows and totals in two */
    char *(*sql)(const struct an_report_params *p, int grouped);
    json_t *(*row)(const struct an_report_params *p, int grouped, const char *const *values);
    const char *const *fields;
    size_t nfields;
};

/* report_calls.c: calls from the hourly rollup, callbacks from the tasks. */
extern const struct an_report an_report_calls;
/* report_leads.c: leads, their merges, first responses and outcomes. */
extern const struct an_report an_report_leads;
/* report_funnel.c: contacts, new people, bookings, visits, plans. */
extern const struct an_report an_report_funnel;
/* report_sources.c: contacts, bookings, visits, revenue and spend per
 * source, under either attribution. */
extern const struct an_report an_report_sources;
/* report_staff.c: operators (calls handled, talk time, bookings) and
 * doctors (visits, plans, revenue). */
extern const struct an_report an_report_operators;
extern const struct an_report an_report_doctors;
/* report_load.c: contacts per hour and weekday, and the operators an
 * hour needs. */
extern const struct an_report an_report_load;
/* report_reminders.c: reminders sent and answered, show rates by
 * confirmation, SMS cost; campaign members and their uplift. */
extern const struct an_report an_report_reminders;
extern const struct an_report an_report_recall;
/* report_cohorts.c: first-visit cohorts by month, returns and revenue. */
extern const struct an_report an_report_cohorts;

/* Erlang C: the fewest agents that answer at least target_share of calls
 * within target_s seconds, at calls_per_hour arriving and aht_s seconds
 * handled each. 0 when no calls arrive. */
int an_erlang_c_agents(double calls_per_hour, double aht_s, double target_share, double target_s);
/* How many of the days from_days..to_days are ISO weekday wday (1
 * Monday .. 7 Sunday). */
int64_t an_weekdays_in(int64_t from_days, int64_t to_days, int wday);
/* How many hours of the local day `day` (days since 1970-01-01) in zone
 * tz have local hour `hour` (0-23), or how many hours the day has (hour
 * -1): 1 and 24 but on a change of the zone's offset (the autumn day has
 * 25 hours, its repeated hour twice; the spring day 23, its skipped hour
 * none). A zone that is NULL or unknown: 1 and 24. */
int an_local_hours(const char *tz, int64_t day, int hour);

/* Every group; the clinic and local-time groups. */
#define AN_GROUPS_ALL ((1u << AN_G_COUNT) - 1)
/* Every group but the doctor (calls and leads have none). */
#define AN_GROUPS_CONTACTS (AN_GROUPS_ALL & ~(1u << AN_G_DOCTOR))
#define AN_GROUPS_CLINIC_TIME                                                                      \
    (1u << AN_G_CLINIC | 1u << AN_G_DAY | 1u << AN_G_WEEK | 1u << AN_G_MONTH | 1u << AN_G_HOUR |   \
     1u << AN_G_WEEKDAY)

/* A robot call's send (alias r, an outcome row) that reached nobody: an
 * outcome of no person (no answer, busy, voicemail, failed, picked up with
 * no key), and no answer of the patient's to the same send since (a key
 * pressed after the call's end reached them after all). The reminders
 * report counts such sends once, its records list them. */
#define AN_SEND_NOT_REACHED_SQL(r)                                                                 \
    r ".channel = 'call' AND " r ".outcome IN ('no_answer', 'busy', 'voicemail', 'failed',"        \
      " 'no_reply') AND NOT EXISTS (SELECT 1 FROM analytics.reminder_outcomes k"                   \
      " WHERE k.send_id = " r ".send_id AND k.outcome IN ('confirmed', 'declined', 'reschedule',"  \
      " 'opt_out_calls'))"

/* An appointment (alias a) booked after the campaign member m became one
 * is that member's only until the patient becomes a member again (any
 * campaign; of two at one moment, the later job id): a visit counts for
 * the patient's latest membership before it was booked, once, however
 * often the patient was asked before. The recall report and its records
 * both narrow to it. */
#define AN_MEMBER_VISIT_SQL(m, a)                                                                  \
    "NOT EXISTS (SELECT 1 FROM analytics.campaign_members n WHERE n.patient_id = " m               \
    ".patient_id AND (n.at, n.job_id) > (" m ".at, " m ".job_id) AND n.at < " a ".booked_at)"

/* A new person booked: a person (alias p of analytics.persons) with an
 * appointment first seen within 14 days of their first contact, of one of
 * the patients their number belongs to, or one whose booking names their
 * call or lead. The funnel counts it, the records narrow to it. wall: ""
 * or, for a key limited to clinics, a condition on the appointment (a)
 * that keeps it to them (AN_WALL_SQL): a booking elsewhere is not theirs
 * to learn of. */
#define AN_NEW_PERSON_BOOKED_SQL(p, wall)                                                          \
    "EXISTS (SELECT 1 FROM analytics.appointments a"                                               \
    " WHERE a.network_id = " p ".network_id AND a.booked_at >= " p ".first_at"                     \
    " AND a.booked_at < " p ".first_at + interval '14 days'" wall " AND (a.patient_id IN"          \
    " (SELECT k.patient_id FROM analytics.patient_keys k WHERE k.network_id = " p ".network_id"    \
    " AND k.contact_key = " p ".contact_key) OR a.call_id IN (SELECT c.call_id FROM"               \
    " analytics.calls c WHERE c.network_id = " p ".network_id AND c.contact_key = " p              \
    ".contact_key) OR a.lead_id IN (SELECT l.lead_id FROM analytics.leads l WHERE"                 \
    " l.network_id = " p ".network_id AND l.contact_key = " p ".contact_key)))"
/* A person new when they first came: not a patient then (or not known). */
#define AN_NEW_PERSON_SQL(p) p ".first_class IN ('new', '')"

/* The network's ($1) appointments, each with its person's ad source under
 * an attribution (touch "first": first touch; "last": the last contact
 * with a source, last non-direct): src, med, camp ('' for none). The
 * person is the one of the call or lead the booking names, else the
 * earliest-seen person of the patient's phones, each of the network's own
 * (a booking naming another network's call or lead, which the MIS may
 * send, takes nothing of it). A named inbound call or lead with no
 * contact key (a hidden number) is a person of its own, whose only
 * contact it is: its own source under either attribution (an outbound or
 * internal call with none, to a number that did not parse, is nobody's:
 * the patient's phones decide). The sources report counts
 * bookings, visits and revenue over it, the records narrow to a source. */
#define AN_ATTRIBUTED_SQL(touch)                                                                   \
    "(SELECT a.*, coalesce(pe.src, '') AS src, coalesce(pe.med, '') AS med, coalesce(pe.camp, '')" \
    " AS camp FROM analytics.appointments a LEFT JOIN LATERAL (SELECT * FROM (SELECT"              \
    " coalesce(pe.first_at, c.started_at) AS first_at, CASE WHEN c.contact_key IS NULL THEN"       \
    " c.source ELSE pe." touch "_source END AS src, CASE WHEN c.contact_key IS NULL THEN"          \
    " c.medium ELSE pe." touch "_medium END AS med, CASE WHEN c.contact_key IS NULL THEN"          \
    " c.campaign ELSE pe." touch "_campaign END AS camp, 0 AS prio FROM analytics.calls c"         \
    " LEFT JOIN analytics.persons pe ON pe.network_id = c.network_id"                              \
    " AND pe.contact_key = c.contact_key WHERE c.network_id = a.network_id"                        \
    " AND c.call_id = a.call_id AND ((c.contact_key IS NULL AND c.direction = 'inbound')"          \
    " OR pe.contact_key IS NOT NULL)"                                                              \
    " UNION ALL SELECT coalesce(pe.first_at, l.received_at), CASE WHEN l.contact_key IS NULL"      \
    " THEN l.source ELSE pe." touch "_source END, CASE WHEN l.contact_key IS NULL THEN l.medium"   \
    " ELSE pe." touch "_medium END, CASE WHEN l.contact_key IS NULL THEN l.campaign ELSE"          \
    " pe." touch "_campaign END, 1 FROM analytics.leads l LEFT JOIN analytics.persons pe"          \
    " ON pe.network_id = l.network_id AND pe.contact_key = l.contact_key"                          \
    " WHERE l.network_id = a.network_id AND l.lead_id = a.lead_id"                                 \
    " AND (l.contact_key IS NULL OR pe.contact_key IS NOT NULL) UNION ALL SELECT pe.first_at,"     \
    " pe." touch "_source, pe." touch "_medium, pe." touch "_campaign, 2 FROM"                     \
    " analytics.patient_keys k JOIN analytics.persons pe ON pe.network_id = k.network_id"          \
    " AND pe.contact_key = k.contact_key WHERE k.network_id = a.network_id"                        \
    " AND k.patient_id = a.patient_id) o ORDER BY prio, first_at LIMIT 1) pe ON true"              \
    " WHERE a.network_id = $1)"
/* A visit (alias a) that is its patient's first arrival: no earlier
 * arrival here (of two at the same time, the one of the lower id first, as
 * the cohorts take it), no earlier first visit the MIS knows (the sources
 * report's arrived new patients; an arrival that is not one is the
 * funnel's repeat visit). */
#define AN_FIRST_VISIT_SQL(a)                                                                      \
    "NOT EXISTS (SELECT 1 FROM analytics.appointments e WHERE e.patient_id = " a                   \
    ".patient_id AND (e.starts_at, e.appointment_id) < (" a ".starts_at, " a ".appointment_id)"    \
    " AND e.status IN ('arrived', 'completed'))"                                                   \
    " AND NOT EXISTS (SELECT 1 FROM analytics.patients pa WHERE pa.patient_id = " a                \
    ".patient_id AND pa.first_visit_at < " a ".starts_at)"

/* An outcome (alias r of analytics.reminder_outcomes) that is its send's
 * first that went out: no event of the send not skipped before it (of
 * two at once, the lower event id first). A send counts once, on the day
 * it went out, whatever later events it has (an SMS delivered or
 * answered the next day). */
#define AN_SEND_FIRST_SQL(r)                                                                       \
    "NOT EXISTS (SELECT 1 FROM analytics.reminder_outcomes e WHERE e.send_id = " r ".send_id"      \
    " AND e.outcome <> 'skipped' AND (e.at, e.event_id) < (" r ".at, " r ".event_id))"
/* A visit (alias a of analytics.appointments) reminded: a reminder of it
 * went out (an outcome of kind reminder, not skipped). */
#define AN_VISIT_REMINDED_SQL(a)                                                                   \
    "EXISTS (SELECT 1 FROM analytics.reminder_outcomes ro WHERE ro.appointment_id = " a            \
    ".appointment_id AND ro.kind = 'reminder' AND ro.outcome <> 'skipped')"
/* The last reminder status a visit's outcomes set (NULL: none). The
 * reminders report splits the reminded visits that came or did not by
 * whether it is confirmed; the records narrow to either side. */
#define AN_VISIT_LAST_STATUS_SQL(a)                                                                \
    "(SELECT ro.reminder_status FROM analytics.reminder_outcomes ro WHERE ro.appointment_id = " a  \
    ".appointment_id AND ro.reminder_status IS NOT NULL ORDER BY ro.at DESC LIMIT 1)"

/* 0 when report can answer p, else CF_EINVAL with err (a group it cannot
 * split by, a source it cannot filter by). */
int an_report_check(const struct an_report *report, const struct an_report_params *p,
                    struct an_param_error *err);

/* Building a report's statement: "g0, g1" then after (nothing without
 * groups), for a GROUP BY or ORDER BY; "expr AS g0, expr AS g1, " with
 * the report's expression of each group (exprs, by enum an_group). With
 * AN_ROWS_AND_TOTALS, gk follows the groups: "g0, g1, gk" and
 * "... AS g1, GROUPING(<the first group's expression>) AS gk, ". */
void an_sql_group_list(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                       const char *after);
void an_sql_groups(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                   const char *const exprs[AN_G_COUNT]);
/* Where a GROUP BY is in a report's statement: a part that reads rows,
 * the outer level that sums the parts, or the only level (it reads rows
 * and is outermost). */
enum an_sql_level { AN_SQL_PART, AN_SQL_OUTER, AN_SQL_ONLY };
/* " GROUP BY g0, g1", and at the outermost level " ORDER BY g0, g1"
 * after it; nothing without groups. With AN_ROWS_AND_TOTALS, a level
 * that reads rows groups by GROUPING SETS ((g0, g1), ()). */
void an_sql_group_by(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                     enum an_sql_level level);

/* The columns (SQL expressions) a part of a report's statement groups
 * on; NULL for one it does not have (the report refuses that group). */
struct an_cols {
    const char *clinic, *hour, *source, *medium, *campaign, *operator_, *doctor, *patient_class,
        *channel;
};
/* "expr AS g0, " of p's groups over cols: text columns whose '' means
 * none become NULL, hour (a timestamp of the local hour) gives the
 * times. */
void an_sql_groups_of(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                      const struct an_cols *cols);
/* One part of a report's statement: "SELECT <groups over cols>, counts
 * from GROUP BY <groups>" (from: its FROM and WHERE). */
/* " FROM <the calls rollup> c WHERE <network $1, hours $2..$3, clinics $4,
 * source $5>" for p: calls_clinic_hourly when p is grouped by clinic and
 * time only with no source (the same sums from a hundredth of the rows),
 * else calls_hourly with every dimension. A part over it groups by c. */
const char *an_sql_calls_rollup(const struct an_report_params *p);
void an_sql_part(struct cf_strbuf *b, const struct an_report_params *p, int grouped,
                 const struct an_cols *cols, const char *counts, const char *from);
/* Sets the group values (the first of values) into row under their names
 * (hour and weekday as integers, NULL as null); how many it read. */
size_t an_group_values(const struct an_report_params *p, int grouped, const char *const *values,
                       json_t *row);
/* A count from SQL text (NULL: 0); num / den, or null when den is 0; a
 * duration in seconds from SQL text (NULL: null). */
json_int_t an_count(const char *v);
json_t *an_share(json_int_t num, json_int_t den);
json_t *an_seconds(const char *v);
/* An amount of money from SQL text (NULL: 0). */
double an_amount(const char *v);

/* CSV of rows: a header of the group names then fields, one line per row;
 * null is empty, text quoted when it must be (RFC 4180). free() it. */
char *an_report_csv(const struct an_report_params *p, const char *const *fields, size_t nfields,
                    const json_t *rows);

#endif
