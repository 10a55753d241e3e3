/*
 * GET /v1/records/{kind} (records_rules.c lists the kinds: contacts,
 * persons, calls, leads, appointments, bookings, attributed_bookings,
 * attributed_visits, spend, reminders, nps, members, tasks): the records behind a
 * report's row (its from, to, clinic and source, plus the row's group
 * values as parameters named as the groups: day=2026-11-22&source=vk;
 * an empty value is the row whose value was null), a page at a time
 * (limit, and the cursor the page before gave). GET /v1/worklist: every
 * open task (callbacks, lead responses, reminder follow-ups) with its due
 * time and whether it is overdue, oldest overdue first (up to limit; no
 * pages: it is what to do now), and how many are open, overdue and of
 * each kind in all. A read or admin
 * key's network only; another network's clinic is unknown.
 */
#include "analytics.h"
#include "read_access.h"
#include "records_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/http.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/pg.h"

/* Runs sql (its params) and answers {records, next_cursor} (limit rows;
 * one more means a next page). */
static void answer_page(struct analytics_ctx *ctx, const char *member, const char *sql,
                        char **params, int nparams, long limit, struct _u_response *resp)
{
    char errbuf[256];
    PGresult *res = NULL;
    int rc = cf_pg_pool_exec(ctx->svc->pg, sql, nparams, (const char *const *)params, &res, errbuf,
                             sizeof(errbuf));
    if (rc != 0) {
        cf_warn("records: %s", errbuf);
        cf_http_error_from(resp, rc == CF_EINVAL ? CF_EINTERNAL : rc,
                           "the records cannot be read now; retry later", NULL, 5);
        return;
    }
    json_t *records = json_array();
    const int n = PQntuples(res);
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(records, cf_json_loads(PQgetvalue(res, i, 0), 0, NULL));
    char *cursor = n > limit ? an_records_cursor(PQgetvalue(res, (int)limit - 1, 1),
                                                 PQgetvalue(res, (int)limit - 1, 2))
                             : NULL;
    json_t *answer = json_pack("{s:o, s:s?}", member, records, "next_cursor", cursor);
    cf_http_json(resp, 200, answer);
    json_decref(answer);
    free(cursor);
    PQclear(res);
}

static int handle_records(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct analytics_ctx *ctx = user;
    struct an_reader reader;
    struct an_records_query q;
    struct an_param_error perr;
    char *params[AN_RECORDS_PARAMS_MAX] = {0};
    int nparams = 0;
    char *sql = NULL;

    memset(&q, 0, sizeof(q));
    if (analytics_authorize_read(ctx, req, resp, &reader) != 0)
        return U_CALLBACK_COMPLETE;
    const struct cf_network *net = reader.grant.net;
    struct an_query rq = {
        .from = u_map_get(req->map_url, "from"),
        .to = u_map_get(req->map_url, "to"),
        .clinic = u_map_get(req->map_url, "clinic"),
        .source = u_map_get(req->map_url, "source"),
        .attribution = u_map_get(req->map_url, "attribution"),
    };
    /* source= and clinic= (empty): the row of records without one, a
     * group value as every other group's empty value (a report refuses
     * them). A key limited to clinics finds none: such records are of no
     * clinic of its. */
    const int no_source = rq.source && !*rq.source, no_clinic = rq.clinic && !*rq.clinic;
    if (no_source)
        rq.source = NULL;
    if (no_clinic)
        rq.clinic = NULL;
    if (an_report_params_parse(&rq, &q.report, &perr) != 0 ||
        an_records_page(u_map_get(req->map_url, "limit"), u_map_get(req->map_url, "cursor"), &q,
                        &perr) != 0) {
        cf_http_error(resp, 400, perr.code, perr.message, perr.field);
        goto out;
    }
    for (int g = 0; g < AN_G_COUNT; g++)
        if (g != AN_G_CLINIC && g != AN_G_SOURCE)
            q.groups[g] = u_map_get(req->map_url, an_group_names[g]);
    q.only = u_map_get(req->map_url, "only");
    if (no_source)
        q.groups[AN_G_SOURCE] = "";
    if (no_clinic)
        q.groups[AN_G_CLINIC] = "";
    if (analytics_check_clinics(&reader, &q.report.clinics, resp) != 0)
        goto out;
    q.report.walled = reader.grant.nclinics > 0;
    if (!(sql = an_records_sql(u_map_get(req->map_url, "kind"), net->id, &q, params, &nparams,
                               &perr))) {
        cf_http_error(resp, strcmp(perr.code, "not_found") == 0 ? 404 : 400, perr.code,
                      perr.message, perr.field);
        goto out;
    }
    answer_page(ctx, "records", sql, params, nparams, q.limit, resp);
out:
    free(sql);
    for (int i = 0; i < nparams; i++)
        free(params[i]);
    an_records_clear(&q);
    analytics_reader_release(&reader);
    return U_CALLBACK_COMPLETE;
}

/* Open tasks, overdue first (the oldest due time first), then the rest
 * by due time, up to $3; each row also counts every open task of the
 * query, before the limit: open, overdue, and by kind. */
/* clang-format off */
static const char WORKLIST_SQL[] =
    "SELECT json_build_object('task_id', t.task_id, 'kind', t.kind,"
    " 'clinic_id', NULLIF(t.clinic_id, ''),"
    " 'opened_at', " CF_PG_UTC_MS("t.opened_at") ","
    " 'due_at', " CF_PG_UTC_MS("t.due_at") ","
    " 'sla', CASE WHEN t.due_at < now() THEN 'overdue' ELSE 'due' END,"
    " 'overdue_seconds', GREATEST(0, extract(epoch FROM now() - t.due_at))::bigint,"
    " 'source_call_id', t.source_call_id, 'lead_id', t.lead_id,"
    " 'appointment_id', t.appointment_id, 'missed_calls', t.missed_calls)::text,"
    " json_build_object('open', count(*) OVER (),"
    " 'overdue', count(*) FILTER (WHERE t.due_at < now()) OVER (),"
    " 'callback', count(*) FILTER (WHERE t.kind = 'callback') OVER (),"
    " 'respond', count(*) FILTER (WHERE t.kind = 'respond') OVER (),"
    " 'reminder', count(*) FILTER (WHERE t.kind = 'reminder') OVER ())::text"
    " FROM analytics.tasks t WHERE t.network_id = $1 AND t.status = 'open'"
    " AND ($2::jsonb IS NULL OR t.clinic_id IN (SELECT jsonb_array_elements_text($2)))"
    " ORDER BY t.due_at NULLS LAST, t.task_id LIMIT $3::int";
/* clang-format on */

/* Answers {tasks, totals}: the first limit open tasks, and the counts of
 * them all (a worklist longer than a page still says how long it is). */
static void answer_worklist(struct analytics_ctx *ctx, char **params, long limit,
                            struct _u_response *resp)
{
    char errbuf[256];
    PGresult *res = NULL;
    int rc = cf_pg_pool_exec(ctx->svc->pg, WORKLIST_SQL, 3, (const char *const *)params, &res,
                             errbuf, sizeof(errbuf));
    if (rc != 0) {
        cf_warn("worklist: %s", errbuf);
        cf_http_error_from(resp, rc == CF_EINVAL ? CF_EINTERNAL : rc,
                           "the worklist cannot be read now; retry later", NULL, 5);
        return;
    }
    json_t *tasks = json_array();
    const int n = PQntuples(res);
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(tasks, cf_json_loads(PQgetvalue(res, i, 0), 0, NULL));
    json_t *totals = n > 0 ? cf_json_loads(PQgetvalue(res, 0, 1), 0, NULL)
                           : json_pack("{s:i, s:i, s:i, s:i, s:i}", "open", 0, "overdue", 0,
                                       "callback", 0, "respond", 0, "reminder", 0);
    json_t *answer = json_pack("{s:o, s:o*}", "tasks", tasks, "totals", totals);
    cf_http_json(resp, 200, answer);
    json_decref(answer);
    PQclear(res);
}

static int handle_worklist(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct analytics_ctx *ctx = user;
    struct an_reader reader;
    struct an_records_query q;
    struct an_param_error perr;
    char *clinics = NULL;

    memset(&q, 0, sizeof(q));
    if (analytics_authorize_read(ctx, req, resp, &reader) != 0)
        return U_CALLBACK_COMPLETE;
    const struct cf_network *net = reader.grant.net;
    const char *clinic = u_map_get(req->map_url, "clinic");
    /* the clinics as a report takes them (any dates: the worklist is now) */
    const struct an_query rq = {.from = "2000-01-01", .to = "2000-01-01", .clinic = clinic};
    if (an_report_params_parse(&rq, &q.report, &perr) != 0 ||
        an_records_page(u_map_get(req->map_url, "limit"), NULL, &q, &perr) != 0) {
        cf_http_error(resp, 400, perr.code, perr.message, perr.field);
        goto out;
    }
    if (analytics_check_clinics(&reader, &q.report.clinics, resp) != 0)
        goto out;
    clinics = q.report.clinics ? cf_json_dumps(q.report.clinics) : NULL;
    char limit[24];
    snprintf(limit, sizeof(limit), "%ld", q.limit);
    char *params[] = {(char *)net->id, clinics, limit};
    answer_worklist(ctx, params, q.limit, resp);
out:
    free(clinics);
    an_records_clear(&q);
    analytics_reader_release(&reader);
    return U_CALLBACK_COMPLETE;
}

void analytics_records_routes(struct analytics_ctx *ctx)
{
    cf_http_route(ctx->svc->http, "GET", "/v1/records/:kind", handle_records, ctx);
    cf_http_route(ctx->svc->http, "GET", "/v1/worklist", handle_worklist, ctx);
}
