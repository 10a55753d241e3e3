/*
 * What the system before this one sent (history.h). PUT and GET
 * /v1/appointments/{id}/reminders: a visit's reminders. PUT takes the
 * visit's row lock, checks the history against it, stores it with one
 * reminder.outcome event per send (dated when the send happened, staged
 * in the outbox in the same transaction), answers after the commit and
 * wakes the relay. PUT /v1/patients/{id}/recall-history: a patient's
 * recall, likewise, with its campaign.member event dated when the patient
 * was asked, and a done job the recall worker sees. The same history
 * again changes nothing (200, "unchanged"); another one for the same
 * visit, or the same recall, is a 409: its sends are counted already.
 */
#include "history.h"
#include "mis_testable.h"
#include "outcome.h"
#include "plan.h"
#include "reminders.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/topics.h"

/* How long an unavailable database makes a caller wait before retrying. */
#define RETRY_AFTER_S 5

/* What a PUT did. */
enum history_result { HISTORY_CREATED, HISTORY_UNCHANGED, HISTORY_REFUSED };

/* The job a history became. */
struct history_job {
    const char *job_id, *kind, *appointment_id, *patient_id, *clinic_id, *network_id;
    int64_t visit_ms; /* a visit's start; -1 for a recall */
};

/* One reminder.outcome event per send of history, added to out: the send
 * as the dispatcher would have recorded it, the outcome as a gateway
 * would have reported it, at its own time. A visit's sends carry the
 * reminder statuses they set; a campaign's set none. */
static void add_outcomes(const struct history_job *job, const json_t *history,
                         struct cf_outbox *out)
{
    char send_id[CF_UUID_STR_LEN + 1];
    const json_t *sends = json_object_get(history, "sends");
    const int visit = strcmp(job->kind, "reminder") == 0;
    for (size_t i = 0; i < json_array_size(sends); i++) {
        const json_t *s = json_array_get(sends, i);
        const json_t *sms = json_object_get(s, "sms");
        const json_t *duration = json_object_get(s, "duration_s");
        int64_t at_ms = 0;
        cf_time_parse(json_string_value(json_object_get(s, "at")), &at_ms);
        history_send_id(job->job_id, (int)i + 1, send_id);
        json_t *row = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:i, s:O}", "send_id", send_id, "job_id",
            job->job_id, "kind", job->kind, "patient_id", job->patient_id, "clinic_id",
            job->clinic_id, "network_id", job->network_id, "channel", json_object_get(s, "channel"),
            "attempt", (int)i + 1, "gateway", json_object_get(history, "gateway"));
        /* null for a recall: the event then has none */
        json_object_set_new(row, "appointment_id",
                            job->appointment_id ? json_string(job->appointment_id) : json_null());
        if (job->visit_ms >= 0)
            json_object_set_new(row, "visit_at", json_integer(job->visit_ms));
        const struct reminders_outcome o = {
            .send_id = send_id,
            .outcome = json_string_value(json_object_get(s, "outcome")),
            .duration_s = duration ? (long)json_integer_value(duration) : -1,
            .segments = sms ? (int)json_integer_value(json_object_get(sms, "segments")) : 0,
            .cost_minor = sms ? (int64_t)json_integer_value(json_object_get(sms, "cost_minor")) : 0,
            .currency = sms ? json_string_value(json_object_get(sms, "currency")) : NULL,
        };
        const struct ladder_next next = {.reminder_status =
                                             visit ? history_status(sends, i) : NULL};
        struct cf_event ev = {0};
        outcome_event(&ev, row, &o, &next, at_ms);
        cf_outbox_add(out, CF_TOPIC_REMINDER_OUTCOMES, job->patient_id, &ev);
        cf_event_clear(&ev);
        json_decref(row);
    }
}

/* Ends an import's transaction by how its work went (rc): its events
 * staged and committed with it (*result created, *staged how many), or
 * everything rolled back. 0, or the error. */
static int commit(PGconn *conn, struct cf_outbox *out, int rc, enum history_result *result,
                  int *staged, char *errbuf, size_t errbuf_size)
{
    rc = cf_outbox_stage_commit(conn, "reminders", out, rc, errbuf, errbuf_size);
    if (rc < 0)
        return rc;
    *staged = rc;
    *result = HISTORY_CREATED;
    return 0;
}

/* The import in one transaction on conn: 0 with *result, the answer set
 * for a refusal (404, 409, 400), or the database's error. */
static int import(PGconn *conn, const char *id, const json_t *body, enum history_result *result,
                  int *staged, struct _u_response *resp, char *errbuf, size_t errbuf_size)
{
    struct history_visit v = {0};
    json_t *history = NULL;
    char field[80];
    *result = HISTORY_REFUSED;

    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0)
        rc = history_store_visit(conn, id, 1, &v, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    const int64_t now = cf_time_now_ms();
    if (!v.found) {
        cf_http_error(resp, 404, "not_found", "no such appointment", "id");
    } else if (v.starts_ms > now) {
        cf_http_error(resp, 409, "visit_ahead",
                      "the visit has not started: this service reminds it itself", "id");
    } else if (v.reminded_here) {
        cf_http_error(resp, 409, "reminded_here",
                      "this service reminded the visit itself: its sends are counted", "id");
    } else if (history_parse(body, v.starts_ms, now, &history, field, sizeof(field), errbuf,
                             errbuf_size) != 0) {
        cf_http_error(resp, 400, "invalid_field", errbuf, field);
    } else if (v.stored && json_equal(v.stored, history)) {
        *result = HISTORY_UNCHANGED;
    } else if (v.stored) {
        cf_http_error(resp, 409, "history_exists",
                      "another history of this visit was imported: its sends are counted", "id");
    } else {
        char job_id[CF_UUID_STR_LEN + 1];
        history_job_id(id, job_id);
        const struct history_job job = {job_id,      "reminder",   id,         v.patient_id,
                                        v.clinic_id, v.network_id, v.starts_ms};
        struct cf_outbox *out = cf_outbox_new();
        add_outcomes(&job, history, out);
        rc = history_store_put(conn, job_id, id, &v, history,
                               history_final_status(json_object_get(history, "sends")), errbuf,
                               errbuf_size);
        if ((rc = commit(conn, out, rc, result, staged, errbuf, errbuf_size)) == 0)
            goto done;
    }
out:
    cf_pg_rollback(conn);
done:
    json_decref(history);
    json_decref(v.stored);
    return rc;
}

/* A patient's recall import in one transaction on conn, likewise; the
 * job it is stored under into job_id. */
static int import_recall(PGconn *conn, const struct cf_network *net, const char *patient_id,
                         const json_t *body, enum history_result *result, int *staged,
                         char job_id[CF_UUID_STR_LEN + 1], struct _u_response *resp, char *errbuf,
                         size_t errbuf_size)
{
    json_t *history = NULL, *stored = NULL;
    char field[80];
    int64_t asked_ms = 0;
    int recalled_here = 0;
    *result = HISTORY_REFUSED;

    if (history_parse_recall(body, net, cf_time_now_ms(), &history, &asked_ms, field, sizeof(field),
                             errbuf, errbuf_size) != 0) {
        cf_http_error(resp, 400, "invalid_field", errbuf, field);
        return 0;
    }
    history_recall_job_id(patient_id, asked_ms, job_id);
    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0)
        rc = history_store_recall(conn, job_id, patient_id, net->id,
                                  json_string_value(json_object_get(history, "clinic_id")), &stored,
                                  &recalled_here, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    if (recalled_here) {
        cf_http_error(resp, 409, "recalled_here",
                      "this service's recall has had the patient: its contacts are counted", "id");
    } else if (stored && json_equal(stored, history)) {
        *result = HISTORY_UNCHANGED;
    } else if (stored) {
        cf_http_error(resp, 409, "history_exists",
                      "another recall of the patient asked at that time was imported", "asked_at");
    } else {
        const char *clinic_id = json_string_value(json_object_get(history, "clinic_id"));
        const char *group = json_string_value(json_object_get(history, "group"));
        const json_t *sends = json_object_get(history, "sends");
        const struct history_job job = {job_id, "recall", NULL, patient_id, clinic_id, net->id, -1};
        int64_t first_ms = asked_ms;
        if (json_array_size(sends) > 0)
            cf_time_parse(json_string_value(json_object_get(json_array_get(sends, 0), "at")),
                          &first_ms);
        const struct plan_member m = {
            .campaign = "recall",
            .job_id = job_id,
            .patient_id = patient_id,
            .clinic_id = clinic_id,
            .network_id = net->id,
            .held = strcmp(group, "holdout") == 0,
            .holdout_percent = (int)json_integer_value(json_object_get(history, "holdout_percent")),
            .missed_ms = -1,
            .due_ms = first_ms};
        struct cf_outbox *out = cf_outbox_new();
        plan_member_event(out, &m, asked_ms);
        add_outcomes(&job, history, out);
        rc = history_store_put_recall(conn, job_id, net->id, patient_id, history, errbuf,
                                      errbuf_size);
        if ((rc = commit(conn, out, rc, result, staged, errbuf, errbuf_size)) == 0)
            goto done;
    }
out:
    cf_pg_rollback(conn);
done:
    json_decref(history);
    json_decref(stored);
    return rc;
}

/* clinicflow_reminders_history_imports_total{result}: created, unchanged,
 * refused. */
static void count(const char *result)
{
    char labels[48];
    snprintf(labels, sizeof(labels), "result=\"%s\"", result);
    cf_metrics_add("clinicflow_reminders_history_imports_total", labels, 1);
}

static const char *result_name(enum history_result result)
{
    return result == HISTORY_CREATED     ? "created"
           : result == HISTORY_UNCHANGED ? "unchanged"
                                         : "refused";
}

/* What an import came to, answered but for its 200: 1 when the caller
 * answers it (created or unchanged: counted, the relay woken for what was
 * staged), 0 when the answer is set (a refusal, or a 503 or 500 for the
 * database's error, logged with what). */
static int answered(struct reminders_ctx *ctx, struct _u_response *resp, int rc,
                    enum history_result result, int staged, const char *what, const char *errbuf)
{
    if (rc != 0) {
        cf_warn("%s: %s", what, errbuf);
        cf_http_error_from(resp, rc == CF_EUNAVAIL ? rc : CF_EINTERNAL,
                           "the history could not be stored now; retry later", NULL, RETRY_AFTER_S);
        return 0;
    }
    count(result_name(result));
    if (staged > 0)
        reminders_relay_kick(ctx);
    return result != HISTORY_REFUSED;
}

/* What both routes open with: the key checked for scope, the visit's ids
 * from the path, a connection. 0, or -1 with the answer set (401, 403,
 * 400 for the path's id, 503). */
static int begin(struct reminders_ctx *ctx, const struct _u_request *req, struct _u_response *resp,
                 unsigned scope, const char *kind, struct cf_netconf_snapshot **snap,
                 const struct cf_network **net_out, const char **mis_id,
                 char id[CF_UUID_STR_LEN + 1], PGconn **conn)
{
    const struct cf_network *net = NULL;
    char errbuf[256];
    if (cf_service_authorize(ctx->svc, req, resp, scope, snap, &net) != 0)
        return -1;
    *mis_id = u_map_get(req->map_url, "id");
    if (!mis_id_ok(*mis_id)) {
        cf_http_error(resp, 400, "invalid_field",
                      "the id in the path: 1-128 letters, digits, '.', '_', ':' or '-'", "id");
        return -1;
    }
    mis_record_id(net->id, kind, *mis_id, id);
    if (net_out)
        *net_out = net;
    if (!(*conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf)))) {
        cf_warn("reminder history of %s: %s", id, errbuf);
        cf_http_error_from(resp, CF_EUNAVAIL, "the database is unavailable now; retry later", NULL,
                           RETRY_AFTER_S);
        return -1;
    }
    return 0;
}

static void end(struct reminders_ctx *ctx, struct cf_netconf_snapshot *snap, PGconn *conn)
{
    if (conn)
        cf_pg_pool_release(ctx->svc->pg, conn);
    if (snap)
        cf_netconf_release(snap);
}

static int put_history(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct reminders_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = NULL;
    PGconn *conn = NULL;
    json_t *body = NULL;
    const char *mis_id = NULL;
    char id[CF_UUID_STR_LEN + 1], errbuf[256];
    enum history_result result = HISTORY_REFUSED;
    int staged = 0;

    if (begin(ctx, req, resp, CF_SCOPE_INGEST | CF_SCOPE_ADMIN, "appointment", &snap, NULL, &mis_id,
              id, &conn) != 0 ||
        !(body = cf_http_json_body(req, resp)))
        goto out;
    int rc = import(conn, id, body, &result, &staged, resp, errbuf, sizeof(errbuf));
    if (rc == CF_ECONFLICT) /* stored by another request meanwhile: now it is found */
        rc = import(conn, id, body, &result, &staged, resp, errbuf, sizeof(errbuf));
    char what[96];
    snprintf(what, sizeof(what), "reminder history of %s", id);
    if (!answered(ctx, resp, rc, result, staged, what, errbuf))
        goto out;
    json_t *j = json_pack("{s:s, s:s, s:s}", "appointment_id", id, "id", mis_id, "result",
                          result_name(result));
    cf_http_json(resp, 200, j);
    json_decref(j);
out:
    end(ctx, snap, conn);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

static int get_history(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct reminders_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = NULL;
    PGconn *conn = NULL;
    struct history_visit v = {0};
    const char *mis_id = NULL;
    char id[CF_UUID_STR_LEN + 1], errbuf[256];

    if (begin(ctx, req, resp, CF_SCOPE_INGEST | CF_SCOPE_READ | CF_SCOPE_ADMIN, "appointment",
              &snap, NULL, &mis_id, id, &conn) != 0)
        goto out;
    int rc = history_store_visit(conn, id, 0, &v, errbuf, sizeof(errbuf));
    if (rc != 0) {
        cf_warn("reminder history of %s: %s", id, errbuf);
        cf_http_error_from(resp, rc == CF_EUNAVAIL ? rc : CF_EINTERNAL,
                           "the history cannot be read now; retry later", NULL, RETRY_AFTER_S);
        goto out;
    }
    if (!v.stored) {
        cf_http_error(resp, 404, "not_found", "no history of this visit was imported", "id");
        goto out;
    }
    json_t *j =
        json_pack("{s:s, s:s, s:O}", "appointment_id", id, "id", mis_id, "history", v.stored);
    cf_http_json(resp, 200, j);
    json_decref(j);
out:
    json_decref(v.stored);
    end(ctx, snap, conn);
    return U_CALLBACK_COMPLETE;
}

static int put_recall(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct reminders_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = NULL;
    const struct cf_network *net = NULL;
    PGconn *conn = NULL;
    json_t *body = NULL;
    const char *mis_id = NULL;
    char id[CF_UUID_STR_LEN + 1], job_id[CF_UUID_STR_LEN + 1], errbuf[256];
    enum history_result result = HISTORY_REFUSED;
    int staged = 0;

    if (begin(ctx, req, resp, CF_SCOPE_INGEST | CF_SCOPE_ADMIN, "patient", &snap, &net, &mis_id, id,
              &conn) != 0 ||
        !(body = cf_http_json_body(req, resp)))
        goto out;
    int rc =
        import_recall(conn, net, id, body, &result, &staged, job_id, resp, errbuf, sizeof(errbuf));
    if (rc == CF_ECONFLICT) /* stored by another request meanwhile: now it is found */
        rc = import_recall(conn, net, id, body, &result, &staged, job_id, resp, errbuf,
                           sizeof(errbuf));
    char what[96];
    snprintf(what, sizeof(what), "recall history of %s", id);
    if (!answered(ctx, resp, rc, result, staged, what, errbuf))
        goto out;
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "patient_id", id, "id", mis_id, "job_id", job_id,
                          "result", result_name(result));
    cf_http_json(resp, 200, j);
    json_decref(j);
out:
    end(ctx, snap, conn);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

void reminders_history_routes(struct reminders_ctx *ctx)
{
    cf_metrics_describe("clinicflow_reminders_history_imports_total", "counter",
                        "imported histories (a visit's reminders, a patient's recall) by "
                        "result (created, unchanged, refused)");
    cf_http_route(ctx->svc->http, "PUT", "/v1/appointments/:id/reminders", put_history, ctx);
    cf_http_route(ctx->svc->http, "GET", "/v1/appointments/:id/reminders", get_history, ctx);
    cf_http_route(ctx->svc->http, "PUT", "/v1/patients/:id/recall-history", put_recall, ctx);
}
