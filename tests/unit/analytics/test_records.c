/*
 * The records behind a report's row (records_rules.c): which kinds can be
 * filtered by which group, the statement's parameters in order, the
 * cursor's round trip, and refused pages (a cursor's time included).
 */
#include "records_testable.h"

#include "common/err.h"

#include "cftest.h"

static void query(struct an_records_query *q, const char *source)
{
    struct an_param_error e;
    memset(q, 0, sizeof(*q));
    const struct an_query rq = {.from = "2026-11-01", .to = "2026-11-30", .source = source};
    CHECK_INT(an_report_params_parse(&rq, &q->report, &e), 0);
}

static void test_sql(void)
{
    struct an_records_query q;
    struct an_param_error e;
    char *params[AN_RECORDS_PARAMS_MAX] = {0};
    int n = 0;

    query(&q, "yandex");
    q.groups[AN_G_DAY] = "2026-11-22";
    q.groups[AN_G_OPERATOR] = ""; /* the row of calls nobody's agent answered */
    CHECK_INT(an_records_page("50", NULL, &q, &e), 0);
    char *sql = an_records_sql("calls", "net", &q, params, &n, &e);
    CHECK(sql != NULL);
    /* network, from, the day after to, source, operator, day */
    CHECK_INT(n, 6);
    CHECK_STR(params[2], "2026-12-01");
    CHECK_STR(params[3], "yandex");
    CHECK_STR(params[4], "");
    CHECK_STR(params[5], "2026-11-22");
    CHECK(strstr(sql, "coalesce(r.operator, '') = $5::text") != NULL);
    CHECK(strstr(sql, "to_char(r.hour, 'YYYY-MM-DD') = $6::text") != NULL);
    CHECK(strstr(sql, "LIMIT 51") != NULL);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);
    an_records_clear(&q);

    /* appointments have doctors but no source; tasks no doctors */
    query(&q, "yandex");
    CHECK(an_records_sql("appointments", "net", &q, params, &n, &e) == NULL);
    CHECK_STR(e.field, "source");
    an_records_clear(&q);
    query(&q, NULL);
    q.groups[AN_G_DOCTOR] = "dr";
    CHECK(an_records_sql("tasks", "net", &q, params, &n, &e) == NULL);
    CHECK_STR(e.field, "doctor");
    CHECK(an_records_sql("visits", "net", &q, params, &n, &e) == NULL);
    CHECK_STR(e.code, "not_found");
    sql = an_records_sql("appointments", "net", &q, params, &n, &e);
    CHECK(strstr(sql, "coalesce(r.doctor_id, '') = $4::text") != NULL);
    CHECK(strstr(sql, "r.start_hour >= $2::timestamp") != NULL);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);
    /* bookings: the same appointments, placed by when they were booked */
    sql = an_records_sql("bookings", "net", &q, params, &n, &e);
    CHECK(strstr(sql, "FROM analytics.appointments r") != NULL);
    CHECK(strstr(sql, "r.booked_hour >= $2::timestamp") != NULL);
    CHECK(strstr(sql, "ORDER BY r.booked_at") != NULL);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);
    an_records_clear(&q);

    /* callback tasks: by their first missed call's source, as the calls
     * report groups them */
    query(&q, "yandex");
    q.groups[AN_G_OPERATOR] = "op-anna";
    sql = an_records_sql("tasks", "net", &q, params, &n, &e);
    CHECK(sql != NULL);
    CHECK(strstr(sql, "coalesce(r.call_source, '') = $4::text") != NULL);
    CHECK(strstr(sql, "coalesce(r.call_operator, '') = $5::text") != NULL);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);
    an_records_clear(&q);

    /* spend: its id a long expression, the statement whole to its limit */
    query(&q, "google");
    q.limit = 100;
    sql = an_records_sql("spend", "net", &q, params, &n, &e);
    CHECK(sql != NULL);
    CHECK(strstr(sql, "coalesce(r.source, '') = $4::text") != NULL);
    const char *tail = "|| r.clinic_id)::uuid LIMIT 101";
    CHECK(sql && strlen(sql) > strlen(tail) && strcmp(sql + strlen(sql) - strlen(tail), tail) == 0);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);
    an_records_clear(&q);
}

/* "only": one figure's records of a row, by the report's definition; a
 * name the kind has not is refused with the names it has. */
static void test_only(void)
{
    struct an_records_query q;
    struct an_param_error e;
    char *params[AN_RECORDS_PARAMS_MAX] = {0};
    int n = 0;

    query(&q, NULL);
    q.only = "missed";
    char *sql = an_records_sql("calls", "net", &q, params, &n, &e);
    CHECK(sql != NULL);
    CHECK(strstr(sql, " AND (r.status = 'ended' AND r.direction = 'inbound' AND r.missed = 1)") !=
          NULL);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);
    q.only = "callback_on_time";
    sql = an_records_sql("tasks", "net", &q, params, &n, &e);
    CHECK(strstr(sql, "r.lead_id IS NULL AND NOT r.withdrawn AND r.status = 'closed' AND "
                      "r.on_time") != NULL);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);

    /* contacts: inbound calls and leads as one kind, by its own columns */
    q.only = "leads";
    q.groups[AN_G_CHANNEL] = "vk";
    sql = an_records_sql("contacts", "net", &q, params, &n, &e);
    CHECK(sql != NULL);
    CHECK(strstr(sql, "FROM analytics.calls c WHERE c.inbound = 1 UNION ALL") != NULL);
    CHECK(strstr(sql, "AND (r.kind = 'lead')") != NULL);
    CHECK(strstr(sql, "coalesce(r.channel, '') = $4::text") != NULL);
    CHECK(strstr(sql, "ORDER BY r.at, r.id") != NULL);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);
    q.groups[AN_G_CHANNEL] = NULL;

    /* unique contacts: each person's first among the row's contacts, the
     * row's filters inside the numbering, the page's cursor outside */
    q.only = "unique";
    q.groups[AN_G_DAY] = "2026-11-02";
    q.cursor_at = strdup("2026-11-02T10:00:00.000000Z");
    q.cursor_id = strdup("6f1c2a9e-0d4b-4c55-9d1e-2b7f3c8a9e10");
    sql = an_records_sql("contacts", "net", &q, params, &n, &e);
    CHECK(sql != NULL);
    CHECK(strstr(sql, "FROM (SELECT r.*, row_number() OVER (PARTITION BY r.person ORDER BY r.at,"
                      " r.id) AS nth FROM (SELECT") != NULL);
    CHECK(strstr(sql, "coalesce(c.contact_key, c.call_id::text) AS person") != NULL);
    const char *day = strstr(sql, "to_char(r.hour, 'YYYY-MM-DD') = $4::text");
    const char *firsts = strstr(sql, ") r WHERE r.nth = 1 AND (r.at, r.id) > ($5::timestamptz,");
    CHECK(day && firsts && day < firsts);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);
    q.groups[AN_G_DAY] = NULL;
    free(q.cursor_at);
    free(q.cursor_id);
    q.cursor_at = q.cursor_id = NULL;

    /* the funnel's new people, booked: its own definition */
    q.only = "new_booked";
    sql = an_records_sql("persons", "net", &q, params, &n, &e);
    CHECK(sql != NULL);
    CHECK(strstr(sql, "FROM analytics.persons r WHERE r.network_id = $1 AND r.first_hour >=") !=
          NULL);
    CHECK(strstr(sql, "(r.first_class IN ('new', '') AND EXISTS (SELECT 1 FROM"
                      " analytics.appointments a WHERE a.network_id = r.network_id AND"
                      " a.booked_at >= r.first_at AND a.booked_at < r.first_at + interval"
                      " '14 days'") != NULL);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);

    /* campaign members: what became of them, as the recall report has it */
    q.only = "booked_target";
    q.groups[AN_G_CAMPAIGN] = "recall";
    sql = an_records_sql("members", "net", &q, params, &n, &e);
    CHECK(sql != NULL);
    CHECK(strstr(sql, "FROM analytics.campaign_members r") != NULL);
    CHECK(strstr(sql,
                 "r.grp = 'target' AND EXISTS (SELECT 1 FROM analytics.appointments a WHERE"
                 " a.patient_id = r.patient_id AND a.booked_at > r.at AND " AN_MEMBER_VISIT_SQL(
                     "r", "a") ")") != NULL);
    CHECK(strstr(sql, "coalesce(r.campaign, '') = $4::text") != NULL);
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);
    q.groups[AN_G_CAMPAIGN] = NULL;

    q.only = "missed";
    n = 0;
    CHECK(an_records_sql("leads", "net", &q, params, &n, &e) == NULL);
    CHECK_STR(e.code, "invalid_field");
    CHECK_STR(e.field, "only");
    CHECK_STR(e.message,
              "only for leads is one of: responded, unanswered, sla_breached, booked, lost, spam");
    CHECK_INT(n, 0); /* nothing left for the caller to free */
    an_records_clear(&q);
}

static void test_pages(void)
{
    struct an_records_query q;
    struct an_param_error e;
    char *params[AN_RECORDS_PARAMS_MAX] = {0};
    int n = 0;

    char *cursor =
        an_records_cursor("2026-11-22T06:00:00.000000Z", "2cf1a9d2-1df0-5f99-bcae-b347bfa25b6e");
    query(&q, NULL);
    CHECK_INT(an_records_page(NULL, cursor, &q, &e), 0);
    CHECK_INT(q.limit, AN_RECORDS_LIMIT_DEFAULT);
    CHECK_STR(q.cursor_at, "2026-11-22T06:00:00.000000Z");
    CHECK_STR(q.cursor_id, "2cf1a9d2-1df0-5f99-bcae-b347bfa25b6e");
    char *sql = an_records_sql("leads", "net", &q, params, &n, &e);
    CHECK(strstr(sql, "(r.received_at, r.lead_id) > ($4::timestamptz, $5::uuid)") != NULL);
    CHECK_STR(params[4], "2cf1a9d2-1df0-5f99-bcae-b347bfa25b6e");
    free(sql);
    for (int i = 0; i < n; i++)
        free(params[i]);
    an_records_clear(&q);
    free(cursor);

    const char *bad_limits[] = {"0", "1001", "ten", ""};
    for (size_t i = 0; i < 4; i++) {
        query(&q, NULL);
        CHECK_INT(an_records_page(bad_limits[i], NULL, &q, &e), CF_EINVAL);
        CHECK_STR(e.field, "limit");
        an_records_clear(&q);
    }
    const char *bad_cursors[] = {"zz", "abc", "41424344"}; /* not hex; odd; no "|id" */
    for (size_t i = 0; i < 3; i++) {
        query(&q, NULL);
        CHECK_INT(an_records_page(NULL, bad_cursors[i], &q, &e), CF_EINVAL);
        CHECK_STR(e.field, "cursor");
        an_records_clear(&q);
    }
    /* a cursor whose id is right but whose time PostgreSQL would not read
     * (a failed statement, a 500) is refused as one not of this API */
    const char *bad_times[] = {
        "",
        "yesterday",
        "2026-02-30T06:00:00.000000Z",
        "2026-11-22 06:00:00.000000Z",
        "0000-01-01T00:00:00.000000Z", /* there is no year 0 */
        "2026-11-22T06:00:00+23:00",   /* an offset of 16 hours or more */
        "2026-11-22T06:00:00.000000",
        "2026-11-22T06:00:00.000000Z'",
    };
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
        cursor = an_records_cursor(bad_times[i], "2cf1a9d2-1df0-5f99-bcae-b347bfa25b6e");
        query(&q, NULL);
        CHECK_INT(an_records_page(NULL, cursor, &q, &e), CF_EINVAL);
        CHECK_STR(e.code, "invalid_field");
        CHECK_STR(e.field, "cursor");
        CHECK(q.cursor_at == NULL);
        an_records_clear(&q);
        free(cursor);
    }
}

int main(void)
{
    test_sql();
    test_only();
    test_pages();
    return cf_test_done();
}
