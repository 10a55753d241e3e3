/*
 * PUT /v1/spend and POST /v1/spend.csv (proto/README.md, "Analytics
 * reports"): an ingest or admin key's network. A row is idempotent per
 * day, source, medium, campaign and clinic: a second PUT of the key
 * replaces its amount. A CSV file is checked whole before anything is
 * stored, then stored in one statement: a bad line changes nothing.
 */
#include "analytics.h"
#include "report_cache.h"
#include "spend_testable.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/http.h"
#include "common/log.h"
#include "common/pg.h"

#define CSV_ROWS_MAX 50000

/* Stores rows for network_id (each row's clinic checked before). */
static int save(struct analytics_ctx *ctx, const char *network_id, json_t *rows, char *errbuf,
                size_t errbuf_size)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_object_set_new(row, "network_id", json_string(network_id));
    }
    PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, errbuf_size);
    if (!conn)
        return CF_EUNAVAIL;
    int rc = cf_pg_exec_json(
        conn,
        "WITH w AS (INSERT INTO analytics.spend AS s (network_id, day, source, medium, campaign,"
        " clinic_id, amount, currency) SELECT network_id, day, source, medium, campaign,"
        " clinic_id, amount, currency FROM jsonb_to_recordset($1::jsonb) AS r(network_id text,"
        " day date, source text, medium text, campaign text, clinic_id text, amount numeric,"
        " currency text) ON CONFLICT (network_id, day, source, medium, campaign, clinic_id)"
        " DO UPDATE SET amount = excluded.amount, currency = excluded.currency,"
        " updated_at = now() RETURNING 1)" ANALYTICS_CACHE_BUMP_SQL,
        rows, NULL, errbuf, errbuf_size);
    cf_pg_pool_release(ctx->svc->pg, conn);
    return rc;
}

/* 0 when every row's clinic is empty or the network's and its amount in
 * the network's currency (its `currency`, RUB when it names none, as the
 * reminders' costs): the reports add spend up with revenue and costs in
 * that currency, with no rates to convert by. Else the 400, naming a
 * file's line (a row's "line") as the field's place. */
static int check_rows(const struct cf_network *net, const json_t *rows, struct _u_response *resp)
{
    const char *own = json_string_value(json_object_get(net->doc, "currency"));
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        const json_t *j_line = json_object_get(row, "line");
        char at[32] = "", field[48];
        if (j_line)
            snprintf(at, sizeof(at), "line %" JSON_INTEGER_FORMAT ": ", json_integer_value(j_line));
        const char *currency = json_string_value(json_object_get(row, "currency"));
        if (strcmp(currency, own ? own : "RUB") != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%sspend must be in the network's currency, %s", at,
                     own ? own : "RUB");
            snprintf(field, sizeof(field), "%scurrency", at);
            cf_http_error(resp, 400, "invalid_field", msg, field);
            return CF_EINVAL;
        }
        const char *clinic = json_string_value(json_object_get(row, "clinic_id"));
        if (*clinic && !cf_netconf_clinic(net, clinic)) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%sno clinic '%.100s' in this network", at, clinic);
            snprintf(field, sizeof(field), "%sclinic", at);
            cf_http_error(resp, 400, "unknown_clinic", msg, field);
            return CF_EINVAL;
        }
    }
    return 0;
}

static int handle_spend(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct analytics_ctx *ctx = user;
    const int csv = strcmp(req->http_verb, "POST") == 0;
    struct cf_netconf_snapshot *snap = NULL;
    const struct cf_network *net = NULL;
    json_t *body = NULL, *rows = NULL;
    char field[128] = "", errbuf[256] = ""; /* a file's column named in field: up to 96 bytes */
    size_t len = 0;
    int rc;

    if (cf_service_authorize(ctx->svc, req, resp, CF_SCOPE_INGEST | CF_SCOPE_ADMIN, &snap, &net) !=
        0)
        return U_CALLBACK_COMPLETE;
    const char *text = cf_http_body(req, &len);
    if (csv) {
        if (!(rows = an_spend_csv(text ? text : "", len, CSV_ROWS_MAX, field, sizeof(field), errbuf,
                                  sizeof(errbuf)))) {
            cf_http_error(resp, 400, "invalid_field", errbuf, field);
            goto out;
        }
    } else {
        json_t *row;
        if (!(body = cf_http_json_body(req, resp))) /* 415 or 400 answered */
            goto out;
        if (!(row = an_spend_row(body, field, sizeof(field), errbuf, sizeof(errbuf)))) {
            cf_http_error(resp, 400, "invalid_field", errbuf, field);
            goto out;
        }
        rows = json_array();
        json_array_append_new(rows, row);
    }
    /* every line checked, a line a later one replaces too */
    if (check_rows(net, rows, resp) != 0)
        goto out;
    if (csv)
        rows = an_spend_latest(rows);
    if ((rc = save(ctx, net->id, rows, errbuf, sizeof(errbuf))) != 0) {
        cf_warn("spend: %s", errbuf);
        cf_http_error_from(resp, rc == CF_EINVAL ? CF_EINTERNAL : rc,
                           "the spend cannot be stored now; retry later", NULL, 5);
        goto out;
    }
    json_t *answer = json_pack("{s:I}", "stored", (json_int_t)json_array_size(rows));
    cf_http_json(resp, 200, answer);
    json_decref(answer);
out:
    json_decref(body);
    json_decref(rows);
    cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}

void analytics_spend_routes(struct analytics_ctx *ctx)
{
    cf_http_route(ctx->svc->http, "PUT", "/v1/spend", handle_spend, ctx);
    cf_http_route(ctx->svc->http, "POST", "/v1/spend.csv", handle_spend, ctx);
}
