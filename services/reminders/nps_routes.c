/*
 * GET and POST /nps/{token}: the one-question page a completed visit's SMS
 * links to. No sign-in: the token is the key (unguessable, nps_rules.c),
 * single-use (answered once, here or by an SMS reply; 409 after) and
 * expiring (410 after NPS_TTL_MS). The answer is stored and its event
 * (clinicflow.nps.answered: the score per clinic and doctor, never the
 * comment) staged in the same transaction; the thank-you page follows the
 * commit. The page is in the patient's language and loads nothing from
 * elsewhere; it is never cached and tells no referrer (the token is in
 * its URL).
 */
#include "nps.h"
#include "reminders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/form.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/topics.h"

#define FORM_FIELDS_MAX 8

static const char *str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

static void answer_page(struct _u_response *resp, int status, enum nps_page page, const json_t *row,
                        const struct cf_netconf_snapshot *snap, const char *token)
{
    const struct cf_network *net = row ? cf_netconf_network(snap, str(row, "network_id")) : NULL;
    const struct cf_clinic *clinic = net ? cf_netconf_clinic(net, str(row, "clinic_id")) : NULL;
    char *html =
        nps_page(page, row ? str(row, "language") : NULL, clinic ? clinic->name : NULL, token);
    u_map_put(resp->map_header, "Content-Type", "text/html; charset=utf-8");
    u_map_put(resp->map_header, "Cache-Control", "no-store");
    u_map_put(resp->map_header, "Referrer-Policy", "no-referrer");
    u_map_put(resp->map_header, "X-Frame-Options", "DENY");
    u_map_put(resp->map_header, "Content-Security-Policy",
              "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
    ulfius_set_string_body_response(resp, (unsigned)status, html);
    free(html);
}

/* The answer's event, from the survey's row. */
static void answered_event(struct cf_event *ev, const json_t *row, int score, int has_comment,
                           int64_t now_ms)
{
    json_t *data =
        json_pack("{s:O, s:O, s:O, s:O, s:O*, s:i, s:s, s:b}", "job_id",
                  json_object_get(row, "job_id"), "patient_id", json_object_get(row, "patient_id"),
                  "appointment_id", json_object_get(row, "appointment_id"), "clinic_id",
                  json_object_get(row, "clinic_id"), "doctor_id", json_object_get(row, "doctor_id"),
                  "score", score, "category", nps_category(score), "has_comment", has_comment);
    cf_time_json_set(data, "answered_at", now_ms);
    cf_event_derive(ev, str(row, "job_id"), "nps.answered", NULL, "reminders/nps",
                    str(row, "patient_id"), now_ms, str(row, "network_id"), str(row, "clinic_id"),
                    data);
}

int nps_answer(PGconn *conn, const json_t *row, int score, const char *comment, int64_t now_ms,
               struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    struct cf_event ev = {0};
    int rc = nps_store_answer(conn, str(row, "token"), score, comment, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    answered_event(&ev, row, score, comment != NULL, now_ms);
    cf_outbox_add(out, CF_TOPIC_REMINDER_OUTCOMES, str(row, "patient_id"), &ev);
    cf_event_clear(&ev);
    return 0;
}

static int handle_nps(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct reminders_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    const char *token = u_map_get(req->map_url, "token");
    const int post = strcmp(req->http_verb, "POST") == 0;
    struct cf_form form = {0};
    json_t *row = NULL;
    PGconn *conn = NULL;
    char errbuf[256];
    int rc = 0, in_tx = 0;

    if (!nps_token_ok(token)) {
        answer_page(resp, 404, NPS_UNKNOWN, NULL, snap, "");
        goto out;
    }
    if (!(conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf)))) {
        cf_http_error_from(resp, CF_EUNAVAIL, "the survey cannot be read now; retry later", NULL,
                           5);
        goto out;
    }
    if (post && (rc = cf_pg_begin(conn, errbuf, sizeof(errbuf))) != 0)
        goto failed;
    in_tx = post;
    if ((rc = nps_store_get(conn, token, post, &row, errbuf, sizeof(errbuf))) != 0)
        goto failed;
    if (!row) {
        answer_page(resp, 404, NPS_UNKNOWN, NULL, snap, token);
        goto out;
    }
    if (json_is_true(json_object_get(row, "answered"))) {
        answer_page(resp, post ? 409 : 200, NPS_ANSWERED, row, snap, token);
        goto out;
    }
    if (json_is_true(json_object_get(row, "expired"))) {
        answer_page(resp, 410, NPS_EXPIRED, row, snap, token);
        goto out;
    }
    if (!post) {
        answer_page(resp, 200, NPS_ASK, row, snap, token);
        goto out;
    }

    int score;
    const char *comment, *field;
    size_t len = 0;
    const char *body = cf_http_body(req, &len);
    if (cf_form_parse(body ? body : "", len, FORM_FIELDS_MAX, &form, errbuf, sizeof(errbuf)) != 0 ||
        nps_read_answer(&form, &score, &comment, &field) != 0) {
        answer_page(resp, 400, NPS_INVALID, row, snap, token);
        goto out;
    }
    struct cf_outbox *outbox = cf_outbox_new();
    rc = nps_answer(conn, row, score, comment, cf_time_now_ms(), outbox, errbuf, sizeof(errbuf));
    rc = cf_outbox_stage_commit(conn, "reminders", outbox, rc, errbuf, sizeof(errbuf));
    in_tx = 0;
    if (rc < 0)
        goto failed;
    reminders_relay_kick(ctx);
    cf_metrics_add("clinicflow_reminders_nps_answers_total", NULL, 1);
    answer_page(resp, 200, NPS_THANKS, row, snap, token);
    goto out;

failed:
    cf_warn("nps survey: %s", errbuf);
    cf_http_error_from(resp, rc == CF_EINVAL ? CF_EINTERNAL : rc,
                       "the survey cannot be stored now; retry later", NULL, 5);
out:
    if (conn) {
        if (in_tx)
            cf_pg_rollback(conn);
        cf_pg_pool_release(ctx->svc->pg, conn);
    }
    cf_form_free(&form);
    json_decref(row);
    cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}

void reminders_nps_routes(struct reminders_ctx *ctx)
{
    cf_metrics_describe("clinicflow_reminders_nps_answers_total", "counter",
                        "NPS surveys answered, on their page or by an SMS reply");
    cf_http_route(ctx->svc->http, "GET", "/nps/:token", handle_nps, ctx);
    cf_http_route(ctx->svc->http, "POST", "/nps/:token", handle_nps, ctx);
}
