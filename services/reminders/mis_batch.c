/*
 * POST /v1/mis/batch: the first load of a clinic's history, as NDJSON of
 * the records PUT /v1/patients/{id} and /v1/appointments/{id} take, on a
 * streaming listener of its own (common/http_stream.h), since ulfius would
 * hold the whole body. Lines are split as they arrive (mis_batch_rules.c,
 * one line held at most), each validated exactly as its PUT (mis_rules.c);
 * a bad line is counted and reported, and nothing of it is written. Good
 * lines are handed, a set (BATCH_LINES) at a time, to the import's writer
 * threads (mis_batch_write.c), which write each set in one transaction
 * while the next lines are read. Memory follows three sets and the line
 * limit, never the body. A failed transaction ends the import with a 503
 * that says up to which line everything is committed.
 */
#include "mis.h"
#include "plan.h"
#include "reminders.h"
#include "mis_batch_testable.h"
#include "mis_batch_write.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/http_stream.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/xmalloc.h"

#define ERRORS_MAX 100       /* bad lines listed in the answer (all are counted) */
#define PROGRESS_EVERY 10000 /* lines between progress marks */
#define PROGRESS_MAX 1000    /* marks kept for the answer */
#define RETRY_AFTER_S 5
#define BATCH_CONNECTIONS 8 /* connections at once (refusals included) */
#define BATCH_IMPORTS 2     /* imports at once: each holds a pooled connection */

/* One import: the request's state, on its connection thread (the writer
 * has its own, mis_batch_write.h). */
struct batch {
    struct reminders_ctx *ctx;
    struct cf_netconf_snapshot *snap;
    const struct cf_network *net;
    PGconn *conn; /* the writer's while it runs */
    struct batch_writer *writer;
    struct mis_lines lines;
    size_t handled; /* the last line added to the rows or refused */
    size_t next_progress;
    long invalid;
    json_t *j_errors;
    json_t *j_progress;
    int64_t t0_ms;
};

static struct cf_http_stream *listener;
static atomic_int imports; /* under way */

/* --- lines --- */

static void refuse(struct batch *b, size_t lineno, const char *kind, const char *field,
                   const char *message)
{
    char labels[96];
    b->invalid++;
    snprintf(labels, sizeof(labels), "kind=\"%s\",result=\"invalid\"", kind);
    cf_metrics_add(M_BATCH_LINES, labels, 1);
    if (json_array_size(b->j_errors) >= ERRORS_MAX)
        return;
    json_t *j_msg = json_string(message);
    json_array_append_new(b->j_errors,
                          json_pack("{s:I, s:s?, s:o}", "line", (json_int_t)lineno, "field",
                                    field && field[0] ? field : NULL, "message",
                                    j_msg ? j_msg : json_string("not UTF-8")));
}

/* --- the writer --- */

/* Hands the rows read so far to the writer. 0, or the writer's error. */
static int flush(struct batch *b)
{
    return batch_writer_hand_over(b->writer, b->handled);
}

/* Hands the rows read so far to the writer and waits until everything is
 * written. 0, or the writer's error. */
static int flush_all(struct batch *b)
{
    int rc = batch_writer_hand_over(b->writer, b->handled);
    return rc != 0 ? rc : batch_writer_drain(b->writer);
}

static void progress(struct batch *b, size_t lineno)
{
    const int64_t elapsed = cf_time_mono_ms() - b->t0_ms;
    size_t committed = 0;
    long counts[2][BATCH_RESULTS] = {{0}};
    batch_writer_progress(b->writer, &committed, counts);
    cf_info("mis batch: %zu lines in %lld ms (%.0f lines/s), %ld invalid, %zu committed", lineno,
            (long long)elapsed, elapsed > 0 ? (double)lineno * 1000.0 / (double)elapsed : 0.0,
            b->invalid, committed);
    if (json_array_size(b->j_progress) < PROGRESS_MAX)
        json_array_append_new(b->j_progress, json_pack("{s:I, s:I}", "lines", (json_int_t)lineno,
                                                       "elapsed_ms", (json_int_t)elapsed));
}

/* One line: validated as its PUT, then added to the batch (written when
 * the batch is full). Non-zero: the transaction failed. */
static int on_line(const char *line, size_t len, size_t lineno, void *user)
{
    struct batch *b = user;
    enum mis_batch_kind kind = MIS_BATCH_PATIENT;
    char mis_id[MIS_ID_MAX + 1], field[80] = "", errbuf[256];
    json_t *j_body = NULL, *record = NULL;
    int64_t version = 0;
    int rc = 0;

    if (mis_batch_line(line, len, &kind, mis_id, sizeof(mis_id), &j_body, field, sizeof(field),
                       errbuf, sizeof(errbuf)) != 0) {
        refuse(b, lineno, "unknown", field, errbuf);
        goto done;
    }
    if (kind == MIS_BATCH_PATIENT)
        rc = mis_patient_record(j_body, b->net, b->ctx->cfg.default_cc, &record, &version, field,
                                sizeof(field), errbuf, sizeof(errbuf));
    else
        rc = mis_appointment_record(j_body, b->net, &record, &version, field, sizeof(field), errbuf,
                                    sizeof(errbuf));
    if (rc == 0 && kind == MIS_BATCH_APPOINTMENT &&
        plan_status_reminds(json_string_value(json_object_get(record, "status"))) &&
        !batch_writer_policy(b->writer, json_string_value(json_object_get(record, "clinic_id")),
                             errbuf, sizeof(errbuf))) {
        snprintf(field, sizeof(field), "clinic_id");
        rc = CF_EINVAL;
    }
    if (rc != 0) {
        refuse(b, lineno, batch_kind_names[kind], field, errbuf);
        rc = 0;
        goto done;
    }
    char id[CF_UUID_STR_LEN + 1];
    mis_record_id(b->net->id, batch_kind_names[kind], mis_id, id);
    struct batch_rows *s = batch_writer_rows(b->writer);
    if (json_object_get(s->j_ids, id)) { /* once a transaction: the earlier one goes first */
        if ((rc = flush(b)) != 0)
            goto out;
        s = batch_writer_rows(b->writer);
    }
    struct batch_row *r = &s->rows[kind][s->n[kind]];
    memset(r, 0, sizeof(*r));
    r->lineno = lineno;
    memcpy(r->id, id, sizeof(r->id));
    snprintf(r->mis_id, sizeof(r->mis_id), "%s", mis_id);
    r->version = version;
    r->record = record;
    record = NULL;
    batch_row_prepare(b->net, (enum mis_kind)kind, r);
    json_object_set_new(s->j_ids, id, json_integer((json_int_t)s->n[kind]));
    s->n[kind]++;
done:
    b->handled = lineno;
    s = batch_writer_rows(b->writer);
    if (s->n[0] + s->n[1] >= BATCH_LINES)
        rc = flush(b);
    if (rc == 0 && lineno >= b->next_progress) {
        progress(b, lineno);
        b->next_progress = (lineno / PROGRESS_EVERY + 1) * PROGRESS_EVERY;
    }
out:
    json_decref(record);
    json_decref(j_body);
    return rc;
}

/* --- the route --- */

/* What the import did so far (the writer idle: drained or failed). */
static json_t *report(const struct batch *b)
{
    size_t committed = 0;
    long counts[2][BATCH_RESULTS] = {{0}};
    batch_writer_progress(b->writer, &committed, counts);
    json_t *j = json_object();
    json_object_set_new(j, "lines", json_integer((json_int_t)b->lines.lineno));
    json_object_set_new(j, "committed_lines", json_integer((json_int_t)committed));
    for (int k = 0; k < 2; k++) {
        json_t *j_k = json_object();
        for (int res = 0; res < BATCH_RESULTS; res++)
            json_object_set_new(j_k, batch_result_names[res], json_integer(counts[k][res]));
        json_object_set_new(j, k == MIS_PATIENT ? "patients" : "appointments", j_k);
    }
    json_object_set_new(j, "invalid", json_integer(b->invalid));
    json_object_set(j, "errors", b->j_errors);
    json_object_set(j, "progress", b->j_progress);
    json_object_set_new(j, "elapsed_ms", json_integer((json_int_t)(cf_time_mono_ms() - b->t0_ms)));
    return j;
}

/* The import's answer once it stops early: an error body with the report
 * beside it. */
static void answer_failed(struct batch *b, struct cf_http_stream_call *call, int rc)
{
    json_t *j = report(b), *j_err;
    char msg[256];
    if (rc == CF_ETOOBIG) {
        snprintf(msg, sizeof(msg),
                 "line %zu is longer than %d bytes; every line before it is committed or "
                 "reported, nothing after it was read",
                 b->lines.lineno + 1, MIS_BATCH_LINE_MAX);
        j_err = cf_http_stream_error_body("line_too_long", msg, NULL);
        json_object_update(j, j_err);
        cf_http_stream_json(call, 413, j);
    } else {
        const size_t committed = (size_t)json_integer_value(json_object_get(j, "committed_lines"));
        cf_warn("mis batch: stopped after line %zu committed: %s", committed,
                batch_writer_error(b->writer));
        snprintf(msg, sizeof(msg),
                 "the records could not be stored now: lines up to %zu are committed; send the "
                 "rest again later",
                 committed);
        j_err = cf_http_stream_error_body("unavailable", msg, NULL);
        json_object_update(j, j_err);
        cf_http_stream_json(call, 503, j);
        char retry[16];
        snprintf(retry, sizeof(retry), "%d", RETRY_AFTER_S);
        cf_http_stream_header_set(call, "Retry-After", retry);
    }
    json_decref(j_err);
    json_decref(j);
}

static int batch_begin(struct cf_http_stream_call *call, void *user, void **state)
{
    struct reminders_ctx *ctx = user;
    struct cf_service *svc = ctx->svc;
    char retry[24]; /* a long in decimal */
    snprintf(retry, sizeof(retry), "%d", RETRY_AFTER_S);

    /* the services' key check (cf_service_check_key), answered here */
    struct cf_netconf_snapshot *snap = NULL;
    const struct cf_network *net = NULL;
    struct cf_key_refusal why;
    if (cf_service_check_key(svc, cf_http_stream_header(call, "Authorization"),
                             CF_SCOPE_INGEST | CF_SCOPE_ADMIN, &snap, &net, &why) != 0) {
        cf_http_stream_error(call, why.status, why.code, why.message, NULL);
        if (why.retry_after_s > 0) {
            snprintf(retry, sizeof(retry), "%ld", why.retry_after_s);
            cf_http_stream_header_set(call, "Retry-After", retry);
        } else if (why.status == 401) {
            cf_http_stream_header_set(call, "WWW-Authenticate", "Bearer");
        }
        return -1;
    }
    const char *ctype = cf_http_stream_header(call, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/x-ndjson", 20) != 0) {
        cf_netconf_release(snap);
        cf_http_stream_error(call, 415, "unsupported_media_type",
                             "expected Content-Type application/x-ndjson", NULL);
        return -1;
    }
    if (atomic_fetch_add(&imports, 1) >= BATCH_IMPORTS) {
        atomic_fetch_sub(&imports, 1);
        cf_netconf_release(snap);
        cf_http_stream_error(call, 503, "unavailable",
                             "other imports are under way; retry when one has ended", NULL);
        cf_http_stream_header_set(call, "Retry-After", retry);
        return -1;
    }
    char errbuf[256];
    PGconn *conn = cf_pg_pool_acquire(svc->pg, errbuf, sizeof(errbuf));
    if (!conn) {
        atomic_fetch_sub(&imports, 1);
        cf_netconf_release(snap);
        cf_warn("mis batch: %s", errbuf);
        cf_http_stream_error(call, 503, "unavailable",
                             "the records could not be stored now; retry later", NULL);
        cf_http_stream_header_set(call, "Retry-After", retry);
        return -1;
    }
    struct batch_writer *writer = batch_writer_start(ctx, net, conn);
    if (!writer) {
        atomic_fetch_sub(&imports, 1);
        cf_pg_pool_release(svc->pg, conn);
        cf_netconf_release(snap);
        cf_warn("mis batch: no writer thread could be started");
        cf_http_stream_error(call, 503, "unavailable",
                             "the records could not be stored now; retry later", NULL);
        cf_http_stream_header_set(call, "Retry-After", retry);
        return -1;
    }
    struct batch *b = cf_xcalloc(1, sizeof(*b));
    b->ctx = ctx;
    b->snap = snap;
    b->net = net;
    b->conn = conn;
    b->writer = writer;
    mis_lines_init(&b->lines, MIS_BATCH_LINE_MAX);
    b->j_errors = json_array();
    b->j_progress = json_array();
    b->next_progress = PROGRESS_EVERY;
    b->t0_ms = cf_time_mono_ms();
    cf_info("mis batch: import for network %s begins, %d writer%s", net->id,
            batch_writer_count(writer), batch_writer_count(writer) > 1 ? "s" : "");
    *state = b;
    return 0;
}

static int batch_chunk(void *state, const char *data, size_t len, struct cf_http_stream_call *call)
{
    struct batch *b = state;
    int rc = mis_lines_feed(&b->lines, data, len, on_line, b);
    if (rc == CF_ETOOBIG) {
        int frc = flush_all(b); /* the lines before it stand */
        answer_failed(b, call, frc != 0 ? frc : CF_ETOOBIG);
    } else if (rc != 0) {
        answer_failed(b, call, rc);
    }
    return rc;
}

static void batch_end(void *state, struct cf_http_stream_call *call)
{
    struct batch *b = state;
    int rc = mis_lines_finish(&b->lines, on_line, b);
    if (rc == 0)
        rc = flush_all(b);
    if (rc != 0) {
        answer_failed(b, call, rc);
        return;
    }
    json_t *j = report(b);
    size_t committed = 0;
    long n[2][BATCH_RESULTS] = {{0}};
    batch_writer_progress(b->writer, &committed, n);
    cf_info("mis batch: %zu lines in %lld ms: patients %ld created %ld updated %ld unchanged %ld "
            "stale, appointments %ld created %ld updated %ld unchanged %ld stale, %ld invalid",
            b->lines.lineno, (long long)(cf_time_mono_ms() - b->t0_ms), n[0][BATCH_CREATED],
            n[0][BATCH_UPDATED], n[0][BATCH_UNCHANGED], n[0][BATCH_STALE], n[1][BATCH_CREATED],
            n[1][BATCH_UPDATED], n[1][BATCH_UNCHANGED], n[1][BATCH_STALE], b->invalid);
    cf_http_stream_json(call, 200, j);
    json_decref(j);
}

static void batch_release(void *state)
{
    struct batch *b = state;
    batch_writer_stop(b->writer); /* the set in hand written first: its lines were read */
    json_decref(b->j_errors);
    json_decref(b->j_progress);
    mis_lines_free(&b->lines);
    cf_pg_pool_release(b->ctx->svc->pg, b->conn);
    cf_netconf_release(b->snap);
    free(b);
    atomic_fetch_sub(&imports, 1);
    /* Each import runs on a connection thread of its own, whose glibc
     * arena keeps the batch's freed memory: give it back, so imports one
     * after another do not each leave a batch's worth resident. */
    malloc_trim(0);
}

static struct cf_http_stream_route routes[1];

/* Stops the listener once the service shuts down (a worker is stopped
 * after HTTP and before the pools close). */
static void batch_worker(void *vctx)
{
    struct reminders_ctx *ctx = vctx;
    while (!cf_service_sleep(ctx->svc, 1000))
        ;
    cf_http_stream_stop(listener);
    listener = NULL;
}

int reminders_batch_start(struct reminders_ctx *ctx)
{
    char errbuf[256];
    cf_metrics_describe(M_BATCH_LINES, "counter",
                        "lines of POST /v1/mis/batch by kind (patient, appointment, unknown) and "
                        "result (created, updated, unchanged, stale, invalid)");
    cf_metrics_describe(M_BATCH_REWRITTEN, "counter",
                        "batches of POST /v1/mis/batch written again with upserts because "
                        "another writer created one of their new records meanwhile");
    routes[0] = (struct cf_http_stream_route){
        .method = "POST",
        .path = "/v1/mis/batch",
        .begin = batch_begin,
        .chunk = batch_chunk,
        .end = batch_end,
        .release = batch_release,
        .user = ctx,
    };
    const struct cf_settings *s = &ctx->svc->settings;
    struct cf_http_stream_conf conf = {
        .host = s->http_host,
        .port = ctx->cfg.batch_port,
        .port_file = ctx->cfg.batch_port_file,
        .max_connections = BATCH_CONNECTIONS,
        .timeout_s = s->http_timeout_s > 0 ? (unsigned)s->http_timeout_s : 0u,
    };
    listener = cf_http_stream_start(&conf, routes, 1, errbuf, sizeof(errbuf));
    if (!listener) {
        cf_error("mis batch: %s", errbuf);
        return CF_EINTERNAL;
    }
    cf_info("mis batch: listening on %s:%u", conf.host ? conf.host : "127.0.0.1",
            cf_http_stream_port(listener));
    return cf_service_add_worker(ctx->svc, "mis batch listener", batch_worker, ctx);
}
