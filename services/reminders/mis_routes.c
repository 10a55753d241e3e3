/*
 * The MIS record API: PUT, GET /v1/patients/{id} and /v1/appointments/{id},
 * DELETE /v1/patients/{id}. A record API (DESIGN.md): the handler reads the
 * stored version under its row lock, writes the newer record, plans (or
 * cancels) an appointment's reminders (plan.c) and stages its
 * event in the same transaction, answers after the commit, and wakes the
 * outbox relay. An older version is a 409 with the stored one; the same
 * version again changes nothing (200, "unchanged"). Strict, as every API
 * of ours: JSON only, every member known (mis_rules.c).
 */
#include "mis.h"
#include "plan.h"
#include "reminders.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* How long an unavailable database makes a caller wait before retrying. */
#define RETRY_AFTER_S 5

static const char *kind_name(enum mis_kind kind)
{
    return kind == MIS_PATIENT ? "patient" : "appointment";
}

/* The MIS id of the path, or NULL with a 400 answered. */
static const char *path_id(const struct _u_request *req, struct _u_response *resp)
{
    const char *id = u_map_get(req->map_url, "id");
    if (!mis_id_ok(id)) {
        cf_http_error(resp, 400, "invalid_field",
                      "the id in the path: 1-128 letters, digits, '.', '_', ':' or '-'", "id");
        return NULL;
    }
    return id;
}

static void answer_unavailable(struct _u_response *resp, int rc, const char *what,
                               const char *errbuf)
{
    cf_warn("mis %s: %s", what, errbuf);
    cf_http_error_from(resp, rc == CF_EINVAL || rc == CF_ECONFLICT ? CF_EINTERNAL : rc,
                       "the record could not be stored now; retry later", NULL, RETRY_AFTER_S);
}

static void answer_stale(struct _u_response *resp, int64_t stored)
{
    json_t *j = json_pack("{s:{s:s, s:s, s:s}, s:I}", "error", "code", "stale_version", "message",
                          "a newer version of this record is stored", "field", "version",
                          "stored_version", (json_int_t)stored);
    cf_http_json(resp, 409, j);
    json_decref(j);
}

/* What every route of the API opens with and closes with: the key checked
 * for scope, the MIS id of the path and our id of it, a connection. */
struct mis_call {
    struct cf_netconf_snapshot *snap;
    const struct cf_network *net;
    const char *mis_id;
    char id[CF_UUID_STR_LEN + 1];
    PGconn *conn;
};

/* 0, or -1 with the answer set (401/403/503, or 400 for the path's id). */
static int call_begin(struct reminders_ctx *ctx, const struct _u_request *req,
                      struct _u_response *resp, unsigned scope, enum mis_kind kind,
                      struct mis_call *c)
{
    memset(c, 0, sizeof(*c));
    if (cf_service_authorize(ctx->svc, req, resp, scope, &c->snap, &c->net) != 0)
        return -1;
    if (!(c->mis_id = path_id(req, resp)))
        return -1;
    mis_record_id(c->net->id, kind_name(kind), c->mis_id, c->id);
    return 0;
}

/* The call's connection: 0, or -1 with a 503 answered. */
static int call_connect(struct reminders_ctx *ctx, struct _u_response *resp, struct mis_call *c,
                        const char *what)
{
    char errbuf[256];
    if ((c->conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf))))
        return 0;
    answer_unavailable(resp, CF_EUNAVAIL, what, errbuf);
    return -1;
}

static void call_end(struct reminders_ctx *ctx, struct mis_call *c)
{
    if (c->conn)
        cf_pg_pool_release(ctx->svc->pg, c->conn);
    if (c->snap)
        cf_netconf_release(c->snap);
}

/* clinicflow_reminders_mis_writes_total{kind, result}: what the MIS's PUTs
 * did (created, updated, unchanged, stale), for an operator watching a
 * sync (a run of stale ones: the MIS replays old versions). */
static void count_write(enum mis_kind kind, const char *result)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "kind=\"%s\",result=\"%s\"", kind_name(kind), result);
    cf_metrics_add("clinicflow_reminders_mis_writes_total", labels, 1);
}

/* What a PUT did, for its answer. */
enum put_result { PUT_CREATED, PUT_UPDATED, PUT_UNCHANGED, PUT_STALE };

/* One attempt at writing version of record in a transaction of its own:
 * CF_ECONFLICT when another request inserted the row meanwhile (the
 * caller tries once more, and then finds it). */
static int put_once(PGconn *conn, enum mis_kind kind, const struct cf_network *net, const char *id,
                    const char *mis_id, int64_t version, const json_t *record,
                    enum put_result *result, int64_t *stored_version, char *errbuf,
                    size_t errbuf_size)
{
    struct mis_stored st = {0};
    struct cf_outbox out = {0};
    struct cf_event ev = {0};

    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0)
        rc = mis_store_get(conn, kind, id, 1, &st, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    *stored_version = st.version;
    if (st.found && (st.version > version || (st.erased && st.version == version))) {
        *result = PUT_STALE;
        goto out;
    }
    if (st.found && st.version == version) {
        *result = PUT_UNCHANGED;
        goto out;
    }
    rc = mis_store_put(conn, kind, id, net->id, mis_id, version, record, !st.found, errbuf,
                       errbuf_size);
    if (rc == 0 && kind == MIS_APPOINTMENT) {
        char patient_id[CF_UUID_STR_LEN + 1];
        mis_appointment_patient(net->id, record, patient_id);
        rc = reminders_plan_appointment(conn, net, id, patient_id, record, cf_time_now_ms(), &out,
                                        errbuf, errbuf_size);
    }
    if (rc != 0)
        goto out;
    json_t *data = kind == MIS_PATIENT ? mis_patient_data(record, id, mis_id, version, net->secret)
                                       : mis_appointment_data(record, id, mis_id, version, net->id,
                                                              st.erased ? NULL : st.record);
    mis_event(&ev, kind, net->id, id, mis_id, version,
              json_string_value(json_object_get(record, "clinic_id")), data);
    cf_outbox_add(&out, mis_topic(kind), id, &ev);
    rc = cf_outbox_stage(conn, "reminders", &out, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_commit(conn, errbuf, errbuf_size);
    if (rc == 0)
        *result = st.found && !st.erased ? PUT_UPDATED : PUT_CREATED;
out:
    if (rc != 0 || *result == PUT_STALE || *result == PUT_UNCHANGED)
        cf_pg_rollback(conn);
    cf_event_clear(&ev);
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
    json_decref(st.record);
    return rc;
}

static int handle_put(struct reminders_ctx *ctx, enum mis_kind kind, const struct _u_request *req,
                      struct _u_response *resp)
{
    struct mis_call c;
    json_t *j_body = NULL, *record = NULL;
    char field[80], errbuf[256];
    int64_t version = 0, stored = 0;
    enum put_result result = PUT_UNCHANGED;

    if (call_begin(ctx, req, resp, CF_SCOPE_INGEST | CF_SCOPE_ADMIN, kind, &c) != 0 ||
        !(j_body = cf_http_json_body(req, resp)))
        goto out;
    int rc = kind == MIS_PATIENT
                 ? mis_patient_record(j_body, c.net, ctx->cfg.default_cc, &record, &version, field,
                                      sizeof(field), errbuf, sizeof(errbuf))
                 : mis_appointment_record(j_body, c.net, &record, &version, field, sizeof(field),
                                          errbuf, sizeof(errbuf));
    if (rc != 0) {
        cf_http_error(resp, 400, "invalid_field", errbuf, field);
        goto out;
    }
    if (call_connect(ctx, resp, &c, kind_name(kind)) != 0)
        goto out;
    rc = put_once(c.conn, kind, c.net, c.id, c.mis_id, version, record, &result, &stored, errbuf,
                  sizeof(errbuf));
    if (rc == CF_ECONFLICT) /* inserted by another request meanwhile: now it is found */
        rc = put_once(c.conn, kind, c.net, c.id, c.mis_id, version, record, &result, &stored,
                      errbuf, sizeof(errbuf));
    if (rc != 0) {
        answer_unavailable(resp, rc, kind_name(kind), errbuf);
        goto out;
    }
    if (result == PUT_STALE) {
        count_write(kind, "stale");
        answer_stale(resp, stored);
        goto out;
    }
    static const char *const results[] = {"created", "updated", "unchanged"};
    count_write(kind, results[result]);
    if (result != PUT_UNCHANGED)
        reminders_relay_kick(ctx);
    json_t *j =
        json_pack("{s:s, s:s, s:I, s:s}", kind == MIS_PATIENT ? "patient_id" : "appointment_id",
                  c.id, "id", c.mis_id, "version", (json_int_t)version, "result", results[result]);
    if (kind == MIS_APPOINTMENT) {
        char patient_id[CF_UUID_STR_LEN + 1];
        mis_appointment_patient(c.net->id, record, patient_id);
        json_object_set_new(j, "patient_id", json_string(patient_id));
    }
    cf_http_json(resp, 200, j);
    json_decref(j);
out:
    call_end(ctx, &c);
    json_decref(record);
    json_decref(j_body);
    return U_CALLBACK_COMPLETE;
}

static int handle_get(struct reminders_ctx *ctx, enum mis_kind kind, const struct _u_request *req,
                      struct _u_response *resp)
{
    struct mis_call c;
    struct mis_stored st = {0};
    char errbuf[256];

    if (call_begin(ctx, req, resp, CF_SCOPE_INGEST | CF_SCOPE_READ | CF_SCOPE_ADMIN, kind, &c) !=
            0 ||
        call_connect(ctx, resp, &c, kind_name(kind)) != 0)
        goto out;
    int rc = mis_store_get(c.conn, kind, c.id, 0, &st, errbuf, sizeof(errbuf));
    if (rc != 0) {
        answer_unavailable(resp, rc, kind_name(kind), errbuf);
        goto out;
    }
    if (!st.found || st.erased || !st.record) {
        cf_http_error(resp, 404, "not_found", "no such record", "id");
        goto out;
    }
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:O}",
                          kind == MIS_PATIENT ? "patient_id" : "appointment_id", c.id, "id",
                          c.mis_id, "version", (json_int_t)st.version, "updated_at", st.updated_at,
                          kind_name(kind), st.record);
    if (kind == MIS_APPOINTMENT) {
        char patient_id[CF_UUID_STR_LEN + 1];
        mis_appointment_patient(c.net->id, st.record, patient_id);
        json_object_set_new(j, "patient_id", json_string(patient_id));
        if (st.reminder_status[0])
            json_object_set_new(j, "reminder_status", json_string(st.reminder_status));
    }
    cf_http_json(resp, 200, j);
    json_decref(j);
out:
    call_end(ctx, &c);
    json_decref(st.record);
    return U_CALLBACK_COMPLETE;
}

/* Erasure: the person's data leaves this service's tables and a tombstone
 * tells every consumer of clinicflow.patients.v1 to drop theirs. */
static int erase_patient(struct reminders_ctx *ctx, PGconn *conn, const char *id, int *found,
                         char *errbuf, size_t errbuf_size)
{
    struct mis_stored st = {0};
    struct cf_outbox out = {0};

    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0)
        rc = mis_store_get(conn, MIS_PATIENT, id, 1, &st, errbuf, errbuf_size);
    *found = rc == 0 && st.found && !st.erased;
    if (rc == 0 && *found) {
        rc = mis_store_erase(conn, id, errbuf, errbuf_size);
        if (rc == 0) /* nothing is sent to a person who is gone */
            rc = plan_store_cancel_patient(conn, id, "erased", errbuf, errbuf_size);
        cf_outbox_push(&out, mis_topic(MIS_PATIENT), id, strlen(id), NULL, 0);
        if (rc == 0)
            rc = cf_outbox_stage(conn, "reminders", &out, errbuf, errbuf_size);
        if (rc == 0)
            rc = cf_pg_commit(conn, errbuf, errbuf_size);
    }
    if (rc != 0 || !*found)
        cf_pg_rollback(conn);
    if (rc == 0 && *found)
        reminders_relay_kick(ctx);
    json_decref(st.record);
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
    return rc;
}

static int handle_delete_patient(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct reminders_ctx *ctx = user;
    struct mis_call c;
    char errbuf[256];
    int found = 0;

    if (call_begin(ctx, req, resp, CF_SCOPE_ADMIN, MIS_PATIENT, &c) != 0 ||
        call_connect(ctx, resp, &c, "patient erasure") != 0)
        goto out;
    int rc = erase_patient(ctx, c.conn, c.id, &found, errbuf, sizeof(errbuf));
    if (rc != 0) {
        answer_unavailable(resp, rc, "patient erasure", errbuf);
        goto out;
    }
    if (!found) {
        cf_http_error(resp, 404, "not_found", "no such patient", "id");
        goto out;
    }
    cf_info("mis: patient %s erased", c.id);
    json_t *j =
        json_pack("{s:s, s:s, s:s}", "patient_id", c.id, "id", c.mis_id, "result", "erased");
    cf_http_json(resp, 200, j);
    json_decref(j);
out:
    call_end(ctx, &c);
    return U_CALLBACK_COMPLETE;
}

static int put_patient(const struct _u_request *req, struct _u_response *resp, void *user)
{
    return handle_put(user, MIS_PATIENT, req, resp);
}

static int put_appointment(const struct _u_request *req, struct _u_response *resp, void *user)
{
    return handle_put(user, MIS_APPOINTMENT, req, resp);
}

static int get_patient(const struct _u_request *req, struct _u_response *resp, void *user)
{
    return handle_get(user, MIS_PATIENT, req, resp);
}

static int get_appointment(const struct _u_request *req, struct _u_response *resp, void *user)
{
    return handle_get(user, MIS_APPOINTMENT, req, resp);
}

void reminders_mis_routes(struct reminders_ctx *ctx)
{
    struct cf_http *h = ctx->svc->http;

    cf_metrics_describe("clinicflow_reminders_mis_writes_total", "counter",
                        "the MIS's PUTs by kind (patient, appointment) and result (created, "
                        "updated, unchanged, stale)");

    cf_http_route(h, "PUT", "/v1/patients/:id", put_patient, ctx);
    cf_http_route(h, "GET", "/v1/patients/:id", get_patient, ctx);
    cf_http_route(h, "DELETE", "/v1/patients/:id", handle_delete_patient, ctx);
    cf_http_route(h, "PUT", "/v1/appointments/:id", put_appointment, ctx);
    cf_http_route(h, "GET", "/v1/appointments/:id", get_appointment, ctx);
}
