/*
 * GET /v1/reports/{report} (proto/README.md, "Analytics reports"): a read
 * or admin key's network only, and a limited key's clinics only
 * (read_access.c). The parameters are read (report_params.c),
 * every clinic named checked against the key's network (another
 * network's clinic is as unknown as one that does not exist), then the
 * grouped rows and the totals are read in one statement (a report whose
 * statement cannot give both: two, in one read-only transaction; one
 * snapshot either way, so the totals add up to the rows) and answered as
 * JSON or CSV. Answers are cached (report_cache.c).
 */
#include "analytics.h"
#include "read_access.h"
#include "report_cache.h"
#include "report_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/http.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"

/* Runs the report's statement into rows (grouped AN_ROWS) or totals
 * (AN_TOTALS), or both (AN_ROWS_AND_TOTALS: the row whose gk, the column
 * after the groups, is 1 is the totals'; gk is not passed on). */
static int read_rows(PGconn *conn, const struct an_report *report, const char *network_id,
                     const struct an_report_params *p, int grouped, json_t *rows, json_t *totals,
                     char *errbuf, size_t errbuf_size)
{
    char *sql = report->sql(p, grouped);
    char *clinics = p->clinics ? cf_json_dumps(p->clinics) : NULL;
    const char *params[] = {network_id, p->from, p->to_next, clinics, p->source};
    PGresult *res = NULL;
    int rc = cf_pg_exec_planned(conn, sql, 5, params, &res, errbuf, errbuf_size);

    free(sql);
    free(clinics);
    if (rc != 0)
        return rc;
    const int ncols = PQnfields(res);
    const char **values = calloc((size_t)ncols, sizeof(*values));
    if (!values)
        abort();
    const int gk = grouped == AN_ROWS_AND_TOTALS ? (int)p->ngroups : -1;
    for (int r = 0; r < PQntuples(res); r++) {
        int n = 0;
        for (int c = 0; c < ncols; c++)
            if (c != gk)
                values[n++] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
        if (gk >= 0 && strcmp(PQgetvalue(res, r, gk), "1") == 0)
            json_array_append_new(totals, report->row(p, AN_TOTALS, values + p->ngroups));
        else
            json_array_append_new(grouped ? rows : totals, report->row(p, grouped != 0, values));
    }
    free(values);
    PQclear(res);
    return 0;
}

/* The answer {report, params, rows, totals}, from the cache or computed. */
static int answer_of(struct analytics_ctx *ctx, const struct an_report *report,
                     const char *network_id, const struct an_report_params *p, json_t **answer,
                     char *errbuf, size_t errbuf_size)
{
    json_t *params = an_report_params_json(p);
    json_object_del(params, "format"); /* one cached answer for JSON and CSV */
    if (p->walled) /* another answer than an unlimited key's for the same clinics */
        json_object_set_new(params, "walled", json_true());
    /* the network's zone places the hours (the load report's): a zone
     * corrected in the configuration is another answer */
    json_t *key_params = json_copy(params);
    json_object_set_new(key_params, "tz", json_string(p->tz ? p->tz : ""));
    char *key = analytics_cache_key(ctx, report->name, network_id, key_params);
    json_decref(key_params);
    if ((*answer = analytics_cache_get(ctx, key))) {
        cf_metrics_add("clinicflow_analytics_report_cache_total", "result=\"hit\"", 1);
        json_decref(params);
        free(key);
        return 0;
    }
    cf_metrics_add("clinicflow_analytics_report_cache_total", "result=\"miss\"", 1);

    PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, errbuf_size);
    json_t *rows = json_array(), *totals = json_array();
    char timeout[32], work_mem[32];
    int rc = conn ? cf_pg_exec(conn, "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ", 0, NULL,
                               NULL, errbuf, errbuf_size)
                  : CF_EUNAVAIL;
    snprintf(timeout, sizeof(timeout), "%ld", ctx->cfg.timeout_ms);
    snprintf(work_mem, sizeof(work_mem), "%ldMB", ctx->cfg.work_mem_mb);
    const char *tparams[] = {timeout, work_mem};
    /* for this transaction only: the pool's connection goes back as it came */
    if (rc == 0)
        rc = cf_pg_exec(conn,
                        "SELECT set_config('statement_timeout', $1, true),"
                        " set_config('work_mem', $2, true)",
                        2, tparams, NULL, errbuf, errbuf_size);
    if (rc == 0 && p->ngroups && !report->totals_apart)
        rc = read_rows(conn, report, network_id, p, AN_ROWS_AND_TOTALS, rows, totals, errbuf,
                       errbuf_size);
    else if (rc == 0 && (p->ngroups || report->rows_always))
        rc = read_rows(conn, report, network_id, p, AN_ROWS, rows, totals, errbuf, errbuf_size);
    /* the totals' own statement when the rows' gave none */
    if (rc == 0 && json_array_size(totals) == 0)
        rc = read_rows(conn, report, network_id, p, AN_TOTALS, rows, totals, errbuf, errbuf_size);
    if (conn) {
        cf_pg_rollback(conn);
        cf_pg_pool_release(ctx->svc->pg, conn);
    }
    if (rc == 0) {
        if (!p->ngroups && !report->rows_always)
            json_array_extend(rows, totals);
        *answer = json_pack("{s:s, s:O, s:O, s:O}", "report", report->name, "params", params,
                            "rows", rows, "totals", json_array_get(totals, 0));
        analytics_cache_put(ctx, key, *answer);
    }
    json_decref(rows);
    json_decref(totals);
    json_decref(params);
    free(key);
    return rc;
}

static const struct an_report *const reports[] = {
    &an_report_calls,     &an_report_leads,   &an_report_funnel, &an_report_sources,
    &an_report_operators, &an_report_doctors, &an_report_load,   &an_report_reminders,
    &an_report_recall,    &an_report_cohorts,
};

static int handle_report(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct analytics_ctx *ctx = user;
    const char *name = u_map_get(req->map_url, "report");
    const struct an_report *report = NULL;
    struct an_reader reader;
    struct an_report_params p;
    struct an_param_error perr;
    json_t *answer = NULL;
    char errbuf[256];
    int rc;

    memset(&p, 0, sizeof(p));
    if (analytics_authorize_read(ctx, req, resp, &reader) != 0)
        return U_CALLBACK_COMPLETE;
    const struct cf_network *net = reader.grant.net;
    for (size_t i = 0; name && i < sizeof(reports) / sizeof(reports[0]); i++)
        if (strcmp(reports[i]->name, name) == 0)
            report = reports[i];
    if (!report) {
        cf_http_error(resp, 404, "not_found", "no such report", "report");
        goto out;
    }
    const struct an_query q = {
        .from = u_map_get(req->map_url, "from"),
        .to = u_map_get(req->map_url, "to"),
        .clinic = u_map_get(req->map_url, "clinic"),
        .source = u_map_get(req->map_url, "source"),
        .group_by = u_map_get(req->map_url, "group_by"),
        .attribution = u_map_get(req->map_url, "attribution"),
        .format = u_map_get(req->map_url, "format"),
        .accept = cf_http_header(req, "Accept"),
    };
    if (an_report_params_parse(&q, &p, &perr) != 0) {
        cf_http_error(resp, 400, perr.code, perr.message, perr.field);
        goto out;
    }
    if (p.ngroups == 0 && report->default_group >= 0) /* its rows' own group */
        p.groups[p.ngroups++] = (enum an_group)report->default_group;
    if (an_report_check(report, &p, &perr) != 0) {
        cf_http_error(resp, 400, perr.code, perr.message, perr.field);
        goto out;
    }
    if (analytics_check_clinics(&reader, &p.clinics, resp) != 0)
        goto out;
    p.walled = reader.grant.nclinics > 0;
    p.tz = net->tz;
    if ((rc = answer_of(ctx, report, net->id, &p, &answer, errbuf, sizeof(errbuf))) != 0) {
        cf_warn("%s report: %s", report->name, errbuf);
        /* a statement past CLINICFLOW_ANALYTICS_REPORT_TIMEOUT_MS: 503 */
        cf_http_error_from(resp,
                           rc == CF_EINVAL     ? CF_EINTERNAL
                           : rc == CF_ETIMEOUT ? CF_EUNAVAIL
                                               : rc,
                           "the report cannot be read now; retry later", NULL, 5);
        goto out;
    }
    if (p.csv) {
        char *csv =
            an_report_csv(&p, report->fields, report->nfields, json_object_get(answer, "rows"));
        u_map_put(resp->map_header, "Content-Type", "text/csv; charset=utf-8");
        ulfius_set_string_body_response(resp, 200, csv);
        free(csv);
    } else {
        json_object_set_new(answer, "params", an_report_params_json(&p));
        /* 15 significant digits: what a double holds for certain (6.7,
         * not 6.7000000000000002) */
        char *text = json_dumps(answer, JSON_COMPACT | JSON_REAL_PRECISION(15));
        u_map_put(resp->map_header, "Content-Type", "application/json");
        ulfius_set_string_body_response(resp, 200, text);
        free(text);
    }
out:
    json_decref(answer);
    an_report_params_clear(&p);
    analytics_reader_release(&reader);
    return U_CALLBACK_COMPLETE;
}

void analytics_report_routes(struct analytics_ctx *ctx)
{
    cf_http_route(ctx->svc->http, "GET", "/v1/reports/:report", handle_report, ctx);
}
