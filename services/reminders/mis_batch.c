/*
 * POST /v1/mis/batch: the first load of a clinic's history, as NDJSON of
 * the records PUT /v1/patients/{id} and /v1/appointments/{id} take, on a
 * streaming listener of its own (common/http_stream.h), since ulfius would
 * hold the whole body. Lines are split as they arrive (mis_batch_rules.c,
 * one line held at most), each validated exactly as its PUT (mis_rules.c);
 * a bad line is counted and reported, and nothing of it is written. Good
 * lines are written a batch (BATCH_LINES) a transaction with set-based
 * statements: the stored versions read under their row locks in one
 * statement; the new records sent by COPY straight into their tables and
 * the newer versions of stored ones upserted from a COPY-filled staging
 * table; the reminder jobs of booked and rescheduled future visits
 * (plan_rules.c) likewise; and every created or updated record's event
 * staged through the outbox by COPY. The relay is kicked after each
 * commit. Memory follows the batch
 * and the line limit, never the body. A failed transaction ends the
 * import with a 503 that says up to which line everything is committed.
 */
#include "mis.h"
#include "plan.h"
#include "reminders.h"
#include "mis_batch_testable.h"

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
#include "common/outbox.h"
#include "common/pg.h"
#include "common/pg_copy.h"
#include "common/time.h"
#include "common/xmalloc.h"

#define BATCH_LINES 1000     /* records a transaction */
#define ERRORS_MAX 100       /* bad lines listed in the answer (all are counted) */
#define PROGRESS_EVERY 10000 /* lines between progress marks */
#define PROGRESS_MAX 1000    /* marks kept for the answer */
#define POLICIES_MAX 64      /* clinics whose policy an import keeps */
#define RETRY_AFTER_S 5
#define BATCH_CONNECTIONS 8 /* connections at once (refusals included) */
#define BATCH_IMPORTS 2     /* imports at once: each holds a pooled connection */
#define M_LINES "clinicflow_reminders_batch_lines_total"
#define M_REWRITTEN "clinicflow_reminders_batch_rewritten_total"

enum result { R_CREATED, R_UPDATED, R_UNCHANGED, R_STALE, R_N };
static const char *const result_names[R_N] = {"created", "updated", "unchanged", "stale"};
static const char *const kind_names[2] = {"patient", "appointment"};

/* A good line waiting for its batch's transaction. */
struct row {
    size_t lineno;
    char id[CF_UUID_STR_LEN + 1];
    char mis_id[MIS_ID_MAX + 1];
    int64_t version;
    json_t *record;   /* as mis_rules.c stores it */
    int found;        /* a stored row */
    int erased;       /* a stored patient erased */
    json_t *previous; /* a stored appointment replaced: its record */
    int write;        /* newer than what is stored */
    enum result result;
};

struct policy {
    char *clinic_id;
    struct plan_policy policy;
};

/* One import: the request's state, on its connection thread alone. */
struct batch {
    struct reminders_ctx *ctx;
    struct cf_netconf_snapshot *snap;
    const struct cf_network *net;
    PGconn *conn;
    struct mis_lines lines;
    struct row *rows[2];
    size_t n[2];
    json_t *j_ids;    /* our ids in the batch -> their row index */
    size_t handled;   /* the last line added to the batch or refused */
    size_t committed; /* every line up to it is committed or refused */
    size_t next_progress;
    long counts[2][R_N];
    long invalid;
    json_t *j_errors;
    json_t *j_progress;
    int64_t t0_ms;
    int careful; /* this batch's records all upserted (after a conflict) */
    struct policy policies[POLICIES_MAX];
    size_t npolicies;
    char errbuf[256];
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
    cf_metrics_add(M_LINES, labels, 1);
    if (json_array_size(b->j_errors) >= ERRORS_MAX)
        return;
    json_t *j_msg = json_string(message);
    json_array_append_new(b->j_errors,
                          json_pack("{s:I, s:s?, s:o}", "line", (json_int_t)lineno, "field",
                                    field && field[0] ? field : NULL, "message",
                                    j_msg ? j_msg : json_string("not UTF-8")));
}

/* The policy of a clinic of the import's network, built once an import;
 * NULL with the reason when it cannot be built. */
static const struct plan_policy *policy_of(struct batch *b, const char *clinic_id, char *errbuf,
                                           size_t errbuf_size)
{
    for (size_t i = 0; i < b->npolicies; i++)
        if (strcmp(b->policies[i].clinic_id, clinic_id) == 0)
            return &b->policies[i].policy;
    const struct cf_clinic *clinic = cf_netconf_clinic(b->net, clinic_id);
    if (!clinic || b->npolicies == POLICIES_MAX) {
        snprintf(errbuf, errbuf_size, "no reminder policy for clinic %s", clinic_id);
        return NULL;
    }
    struct policy *p = &b->policies[b->npolicies];
    if (plan_policy_build(json_object_get(b->net->doc, "reminder_policies"),
                          clinic->tz ? clinic->tz : b->net->tz, clinic->doc, &p->policy, errbuf,
                          errbuf_size) != 0)
        return NULL;
    p->clinic_id = cf_xstrdup(clinic_id);
    b->npolicies++;
    return &p->policy;
}

static void rows_clear(struct batch *b)
{
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < b->n[k]; i++) {
            json_decref(b->rows[k][i].record);
            json_decref(b->rows[k][i].previous);
        }
        b->n[k] = 0;
    }
    json_object_clear(b->j_ids);
}

/* --- the transaction --- */

/* The stored versions of the batch's rows of kind, locked; decides which
 * rows are written (the PUT's rules). */
static int read_stored(struct batch *b, int k)
{
    static const char *const sql[2] = {
        "SELECT b.i, t.version, t.erased_at IS NOT NULL, NULL"
        " FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS b(id, i)"
        " JOIN reminders.patients t ON t.patient_id = b.id::uuid"
        " ORDER BY t.patient_id FOR UPDATE OF t",
        "SELECT b.i, t.version, false, t.record::text"
        " FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS b(id, i)"
        " JOIN reminders.appointments t ON t.appointment_id = b.id::uuid"
        " ORDER BY t.appointment_id FOR UPDATE OF t",
    };
    json_t *j_ids = json_array();
    for (size_t i = 0; i < b->n[k]; i++) {
        struct row *r = &b->rows[k][i];
        json_array_append_new(j_ids, json_string(r->id));
        r->write = 1;
        r->result = R_CREATED;
        r->found = r->erased = 0; /* as if read the first time (a batch written again) */
        json_decref(r->previous);
        r->previous = NULL;
    }
    PGresult *res = NULL;
    int rc = cf_pg_exec_json_planned(b->conn, sql[k], j_ids, &res, b->errbuf, sizeof(b->errbuf));
    for (int t = 0; rc == 0 && t < PQntuples(res); t++) {
        size_t i = (size_t)strtoull(PQgetvalue(res, t, 0), NULL, 10) - 1;
        if (i >= b->n[k])
            continue;
        struct row *r = &b->rows[k][i];
        const int64_t stored = strtoll(PQgetvalue(res, t, 1), NULL, 10);
        r->found = 1;
        r->erased = PQgetvalue(res, t, 2)[0] == 't';
        if (stored > r->version || (r->erased && stored == r->version)) {
            r->write = 0;
            r->result = R_STALE;
        } else if (stored == r->version) {
            r->write = 0;
            r->result = R_UNCHANGED;
        } else {
            r->result = r->erased ? R_CREATED : R_UPDATED;
            if (!PQgetisnull(res, t, 3))
                r->previous = json_loads(PQgetvalue(res, t, 3), 0, NULL);
        }
    }
    PQclear(res);
    json_decref(j_ids);
    return rc;
}

/* A new record (none stored when the batch read its versions) goes
 * straight into its table by COPY, the way a first load is mostly made:
 * nothing to merge, no row to return. Should another writer have created
 * it meanwhile, the COPY fails on the key and the batch is written again
 * with every record upserted (flush). */
static const char *const rows_direct_sql[2] = {
    "COPY reminders.patients (patient_id, network_id, mis_id, version, record, clinic_id)"
    " FROM STDIN",
    "COPY reminders.appointments (appointment_id, network_id, mis_id, version, record,"
    " clinic_id, patient_id, status, starts_at, ends_at) FROM STDIN",
};

/* The session's staging tables of the batch's records that replace stored
 * ones (as the jobs' below): the rows come by COPY, each record parsed once
 * (to jsonb), and are upserted from there. */
static const char *const rows_stage_sql[2] = {
    "CREATE TEMP TABLE IF NOT EXISTS batch_patients (id uuid, mis_id text, version bigint,"
    " record jsonb) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS batch_appointments (id uuid, mis_id text, version bigint,"
    " record jsonb, patient_id uuid) ON COMMIT DELETE ROWS",
};
static const char *const rows_copy_sql[2] = {"COPY batch_patients FROM STDIN",
                                             "COPY batch_appointments FROM STDIN"};

/* Whether r goes straight in (rows_direct_sql) rather than upserted. */
static int row_direct(const struct batch *b, const struct row *r)
{
    return !b->careful && !r->found;
}

/* Writes the rows of kind to be written: new ones straight in, the others
 * upserted; a row another writer made newer meanwhile is left as it is
 * (and counted stale). */
static int write_rows(struct batch *b, int k)
{
    static const char *const sql[2] = {
        "INSERT INTO reminders.patients AS t (patient_id, network_id, mis_id, version, record,"
        " clinic_id) SELECT r.id, $1, r.mis_id, r.version, r.record, r.record->>'clinic_id'"
        " FROM batch_patients r"
        " ON CONFLICT (patient_id) DO UPDATE SET version = excluded.version,"
        " record = excluded.record, clinic_id = excluded.clinic_id, erased_at = NULL,"
        " updated_at = now() WHERE t.version < excluded.version"
        " RETURNING t.patient_id::text",
        "INSERT INTO reminders.appointments AS t (appointment_id, network_id, mis_id, version,"
        " record, patient_id, clinic_id, status, starts_at, ends_at)"
        " SELECT r.id, $1, r.mis_id, r.version, r.record, r.patient_id,"
        " r.record->>'clinic_id', r.record->>'status', (r.record->>'starts_at')::timestamptz,"
        " (r.record->>'ends_at')::timestamptz"
        " FROM batch_appointments r"
        " ON CONFLICT (appointment_id) DO UPDATE SET version = excluded.version,"
        " record = excluded.record, patient_id = excluded.patient_id,"
        " clinic_id = excluded.clinic_id, status = excluded.status,"
        " starts_at = excluded.starts_at, ends_at = excluded.ends_at, updated_at = now()"
        " WHERE t.version < excluded.version"
        " RETURNING t.appointment_id::text",
    };
    struct cf_pg_copy direct = {0}, copy = {0};
    for (size_t i = 0; i < b->n[k]; i++) {
        struct row *r = &b->rows[k][i];
        char patient_id[CF_UUID_STR_LEN + 1];
        if (!r->write)
            continue;
        if (k == MIS_APPOINTMENT)
            mis_appointment_patient(b->net->id, r->record, patient_id);
        if (row_direct(b, r)) { /* rows_direct_sql's columns */
            cf_pg_copy_text(&direct, r->id);
            cf_pg_copy_text(&direct, b->net->id);
            cf_pg_copy_text(&direct, r->mis_id);
            cf_pg_copy_int(&direct, r->version);
            cf_pg_copy_json(&direct, r->record);
            cf_pg_copy_json(&direct, json_object_get(r->record, "clinic_id"));
            if (k == MIS_APPOINTMENT) {
                cf_pg_copy_text(&direct, patient_id);
                cf_pg_copy_json(&direct, json_object_get(r->record, "status"));
                cf_pg_copy_json(&direct, json_object_get(r->record, "starts_at"));
                cf_pg_copy_json(&direct, json_object_get(r->record, "ends_at"));
            }
            cf_pg_copy_row_end(&direct);
            continue;
        }
        cf_pg_copy_text(&copy, r->id);
        cf_pg_copy_text(&copy, r->mis_id);
        cf_pg_copy_int(&copy, r->version);
        cf_pg_copy_json(&copy, r->record);
        if (k == MIS_APPOINTMENT)
            cf_pg_copy_text(&copy, patient_id);
        cf_pg_copy_row_end(&copy);
        r->write = 0; /* until the database says it wrote it */
    }
    int rc = cf_pg_copy_send(b->conn, rows_direct_sql[k], &direct, b->errbuf, sizeof(b->errbuf));
    if (copy.rows == 0 || rc != 0) {
        cf_pg_copy_clear(&copy);
        return rc;
    }
    rc = cf_pg_exec(b->conn, rows_stage_sql[k], 0, NULL, NULL, b->errbuf, sizeof(b->errbuf));
    if (rc == 0)
        rc = cf_pg_copy_send(b->conn, rows_copy_sql[k], &copy, b->errbuf, sizeof(b->errbuf));
    cf_pg_copy_clear(&copy);
    PGresult *res = NULL;
    if (rc == 0)
        rc = cf_pg_exec(b->conn, sql[k], 1, (const char *const[]){b->net->id}, &res, b->errbuf,
                        sizeof(b->errbuf));
    for (int t = 0; rc == 0 && t < PQntuples(res); t++) {
        const json_t *j_i = json_object_get(b->j_ids, PQgetvalue(res, t, 0));
        if (j_i)
            b->rows[k][json_integer_value(j_i)].write = 1;
    }
    for (size_t i = 0; rc == 0 && i < b->n[k]; i++) {
        struct row *r = &b->rows[k][i];
        if (!r->write && (r->result == R_CREATED || r->result == R_UPDATED))
            r->result = R_STALE; /* a newer version came meanwhile */
    }
    PQclear(res);
    return rc;
}

/* The session's staging table of a batch's planned jobs: made by the first
 * batch that plans (again after one rolled back: IF NOT EXISTS), emptied by
 * each commit in place. The jobs come by COPY, parsed once; the insert from
 * here skips the ones a repeat of the same visit already planned. */
#define JOBS_STAGE_SQL                                                                             \
    "CREATE TEMP TABLE IF NOT EXISTS batch_jobs (job_id uuid, appointment_id uuid,"                \
    " clinic_id text, patient_id uuid, offset_hours int, visit_at timestamptz,"                    \
    " due_at timestamptz, status text, reason text) ON COMMIT DELETE ROWS"

/* The reminders of the written appointments: a booked or rescheduled
 * future visit gets its jobs (as plan.c plans them; a past visit plans
 * nothing, and no missed visit's re-invite is sent for history), and the
 * pending jobs of a replaced appointment not among them are cancelled. */
static int plan_rows(struct batch *b, int64_t now_ms)
{
    json_t *j_replaced = json_array(), *j_jobs = json_array();
    struct cf_pg_copy direct = {0}, jobs = {0};
    for (size_t i = 0; i < b->n[MIS_APPOINTMENT]; i++) {
        struct row *r = &b->rows[MIS_APPOINTMENT][i];
        if (!r->write)
            continue;
        const char *status = json_string_value(json_object_get(r->record, "status"));
        const char *clinic_id = json_string_value(json_object_get(r->record, "clinic_id"));
        const char *visit_at = json_string_value(json_object_get(r->record, "starts_at"));
        const int reminds = plan_status_reminds(status);
        int64_t starts_ms = 0;
        if (r->found)
            json_array_append_new(j_replaced, json_pack("{s:s, s:s}", "appointment_id", r->id,
                                                        "reason", reminds ? "replanned" : status));
        if (!reminds || cf_time_parse(visit_at, &starts_ms) != 0 || starts_ms <= now_ms)
            continue;
        char errbuf[128];
        const struct plan_policy *policy = policy_of(b, clinic_id, errbuf, sizeof(errbuf));
        if (!policy) /* checked when the line was read */
            continue;
        struct plan_job planned[PLAN_OFFSETS_MAX];
        char patient_id[CF_UUID_STR_LEN + 1];
        mis_appointment_patient(b->net->id, r->record, patient_id);
        size_t n = plan_reminders(policy, starts_ms, now_ms, planned, PLAN_OFFSETS_MAX);
        for (size_t j = 0; j < n; j++) {
            char job_id[CF_UUID_STR_LEN + 1], due_at[32];
            plan_job_id(r->id, starts_ms, planned[j].offset_h, job_id);
            if (!planned[j].skip)
                cf_time_format(planned[j].due_ms, due_at);
            if (r->found) /* kept from the cancelling below */
                json_array_append_new(j_jobs, json_string(job_id));
            /* a new visit's jobs straight in (no job can exist for it),
             * the others by the staging table (JOBS_STAGE_SQL, its columns
             * but the network) */
            struct cf_pg_copy *c = row_direct(b, r) ? &direct : &jobs;
            cf_pg_copy_text(c, job_id);
            cf_pg_copy_text(c, r->id);
            if (c == &direct)
                cf_pg_copy_text(c, b->net->id);
            cf_pg_copy_text(c, clinic_id);
            cf_pg_copy_text(c, patient_id);
            cf_pg_copy_int(c, planned[j].offset_h);
            cf_pg_copy_text(c, visit_at);
            cf_pg_copy_text(c, planned[j].skip ? NULL : due_at);
            cf_pg_copy_text(c, planned[j].skip ? "skipped" : "pending");
            cf_pg_copy_text(c, planned[j].skip);
            cf_pg_copy_row_end(c);
        }
    }
    int rc = 0;
    if (json_array_size(j_replaced) > 0) {
        json_t *j_param = json_pack("{s:o, s:o}", "a", j_replaced, "j", j_jobs);
        j_replaced = j_jobs = NULL;
        rc = cf_pg_exec_json_planned(
            b->conn,
            "UPDATE reminders.reminder_jobs AS j SET status = 'cancelled', reason = a.reason,"
            " updated_at = now()"
            " FROM jsonb_to_recordset($1::jsonb->'a') AS a(appointment_id uuid, reason text)"
            " WHERE j.appointment_id = a.appointment_id AND j.status = 'pending'"
            " AND j.job_id NOT IN (SELECT x::uuid FROM jsonb_array_elements_text($1::jsonb->'j')"
            " AS x)",
            j_param, NULL, b->errbuf, sizeof(b->errbuf));
        json_decref(j_param);
    }
    json_decref(j_replaced);
    json_decref(j_jobs);
    if (rc == 0)
        rc = cf_pg_copy_send(b->conn,
                             "COPY reminders.reminder_jobs (job_id, appointment_id, network_id,"
                             " clinic_id, patient_id, offset_hours, visit_at, due_at, status,"
                             " reason) FROM STDIN", /* kind, channel: a reminder by call */
                             &direct, b->errbuf, sizeof(b->errbuf));
    cf_pg_copy_clear(&direct);
    const size_t planned = jobs.rows;
    if (rc == 0 && planned > 0)
        rc = cf_pg_exec(b->conn, JOBS_STAGE_SQL, 0, NULL, NULL, b->errbuf, sizeof(b->errbuf));
    if (rc == 0 && planned > 0)
        rc = cf_pg_copy_send(b->conn, "COPY batch_jobs FROM STDIN", &jobs, b->errbuf,
                             sizeof(b->errbuf));
    if (rc == 0 && planned > 0)
        rc = cf_pg_exec(
            b->conn,
            "INSERT INTO reminders.reminder_jobs (job_id, appointment_id, network_id, clinic_id,"
            " patient_id, offset_hours, visit_at, due_at, status, reason, kind, channel)"
            " SELECT job_id, appointment_id, $1, clinic_id, patient_id, offset_hours, visit_at,"
            " due_at, status, reason, 'reminder', 'call' FROM batch_jobs"
            " ON CONFLICT (job_id) DO NOTHING",
            1, (const char *const[]){b->net->id}, NULL, b->errbuf, sizeof(b->errbuf));
    cf_pg_copy_clear(&jobs);
    return rc;
}

/* Every written record's event, staged in the transaction. */
static int stage_events(struct batch *b)
{
    struct cf_outbox out = {0};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < b->n[k]; i++) {
            const struct row *r = &b->rows[k][i];
            if (!r->write)
                continue;
            struct cf_event ev = {0};
            json_t *data =
                k == MIS_PATIENT
                    ? mis_patient_data(r->record, r->id, r->mis_id, r->version, b->net->secret)
                    : mis_appointment_data(r->record, r->id, r->mis_id, r->version, b->net->id,
                                           r->previous);
            mis_event(&ev, (enum mis_kind)k, b->net->id, r->id, r->mis_id, r->version,
                      json_string_value(json_object_get(r->record, "clinic_id")), data);
            cf_outbox_add(&out, mis_topic((enum mis_kind)k), r->id, &ev);
            cf_event_clear(&ev);
        }
    }
    int rc = cf_outbox_stage(b->conn, "reminders", &out, b->errbuf, sizeof(b->errbuf));
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
    return rc;
}

/* Writes the batch in one transaction; rolled back on an error. */
static int write_batch(struct batch *b)
{
    int rc = cf_pg_begin(b->conn, b->errbuf, sizeof(b->errbuf));
    for (int k = 0; rc == 0 && k < 2; k++)
        if (b->n[k] > 0)
            rc = read_stored(b, k);
    for (int k = 0; rc == 0 && k < 2; k++)
        rc = write_rows(b, k);
    if (rc == 0)
        rc = plan_rows(b, cf_time_now_ms());
    if (rc == 0)
        rc = stage_events(b);
    if (rc == 0)
        rc = cf_pg_commit(b->conn, b->errbuf, sizeof(b->errbuf));
    if (rc != 0)
        cf_pg_rollback(b->conn);
    return rc;
}

/* Writes the batch: new records straight in, and when another writer
 * created one of them meanwhile (a key taken: CF_ECONFLICT), once more with
 * every record upserted. 0 (everything up to the last line handled is
 * done), or the error with the reason in b->errbuf. */
static int flush(struct batch *b)
{
    if (b->n[0] + b->n[1] == 0) {
        b->committed = b->handled;
        return 0;
    }
    int rc = write_batch(b);
    if (rc == CF_ECONFLICT) {
        cf_info("mis batch: lines up to %zu met another writer of the same records (%s);"
                " written again with upserts",
                b->handled, b->errbuf);
        cf_metrics_add(M_REWRITTEN, NULL, 1);
        b->careful = 1;
        rc = write_batch(b);
        b->careful = 0;
    }
    if (rc != 0) {
        rows_clear(b);
        return rc == CF_EINVAL || rc == CF_ECONFLICT ? CF_EINTERNAL : rc;
    }
    long batch_counts[2][R_N] = {{0}};
    int wrote = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < b->n[k]; i++) {
            batch_counts[k][b->rows[k][i].result]++;
            wrote |= b->rows[k][i].write;
        }
    for (int k = 0; k < 2; k++)
        for (int res = 0; res < R_N; res++) {
            if (!batch_counts[k][res])
                continue;
            char labels[96];
            snprintf(labels, sizeof(labels), "kind=\"%s\",result=\"%s\"", kind_names[k],
                     result_names[res]);
            cf_metrics_add(M_LINES, labels, (double)batch_counts[k][res]);
            b->counts[k][res] += batch_counts[k][res];
        }
    if (wrote)
        reminders_relay_kick(b->ctx);
    b->committed = b->handled;
    rows_clear(b);
    return 0;
}

static void progress(struct batch *b, size_t lineno)
{
    const int64_t elapsed = cf_time_mono_ms() - b->t0_ms;
    cf_info("mis batch: %zu lines in %lld ms (%.0f lines/s), %ld invalid, %zu committed", lineno,
            (long long)elapsed, elapsed > 0 ? (double)lineno * 1000.0 / (double)elapsed : 0.0,
            b->invalid, b->committed);
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
        !policy_of(b, json_string_value(json_object_get(record, "clinic_id")), errbuf,
                   sizeof(errbuf))) {
        snprintf(field, sizeof(field), "clinic_id");
        rc = CF_EINVAL;
    }
    if (rc != 0) {
        refuse(b, lineno, kind_names[kind], field, errbuf);
        rc = 0;
        goto done;
    }
    char id[CF_UUID_STR_LEN + 1];
    mis_record_id(b->net->id, kind_names[kind], mis_id, id);
    if (json_object_get(b->j_ids, id)) { /* once a transaction: the earlier one goes first */
        if ((rc = flush(b)) != 0)
            goto out;
    }
    struct row *r = &b->rows[kind][b->n[kind]];
    memset(r, 0, sizeof(*r));
    r->lineno = lineno;
    memcpy(r->id, id, sizeof(r->id));
    snprintf(r->mis_id, sizeof(r->mis_id), "%s", mis_id);
    r->version = version;
    r->record = record;
    record = NULL;
    json_object_set_new(b->j_ids, id, json_integer((json_int_t)b->n[kind]));
    b->n[kind]++;
done:
    b->handled = lineno;
    if (b->n[0] + b->n[1] >= BATCH_LINES)
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

static json_t *report(const struct batch *b)
{
    json_t *j = json_object();
    json_object_set_new(j, "lines", json_integer((json_int_t)b->lines.lineno));
    json_object_set_new(j, "committed_lines", json_integer((json_int_t)b->committed));
    for (int k = 0; k < 2; k++) {
        json_t *j_k = json_object();
        for (int res = 0; res < R_N; res++)
            json_object_set_new(j_k, result_names[res], json_integer(b->counts[k][res]));
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
        cf_warn("mis batch: stopped after line %zu committed: %s", b->committed, b->errbuf);
        snprintf(msg, sizeof(msg),
                 "the records could not be stored now: lines up to %zu are committed; send the "
                 "rest again later",
                 b->committed);
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
    struct batch *b = cf_xcalloc(1, sizeof(*b));
    b->ctx = ctx;
    b->snap = snap;
    b->net = net;
    b->conn = conn;
    mis_lines_init(&b->lines, MIS_BATCH_LINE_MAX);
    b->rows[0] = cf_xcalloc(BATCH_LINES, sizeof(struct row));
    b->rows[1] = cf_xcalloc(BATCH_LINES, sizeof(struct row));
    b->j_ids = json_object();
    b->j_errors = json_array();
    b->j_progress = json_array();
    b->next_progress = PROGRESS_EVERY;
    b->t0_ms = cf_time_mono_ms();
    cf_info("mis batch: import for network %s begins", net->id);
    *state = b;
    return 0;
}

static int batch_chunk(void *state, const char *data, size_t len, struct cf_http_stream_call *call)
{
    struct batch *b = state;
    int rc = mis_lines_feed(&b->lines, data, len, on_line, b);
    if (rc == CF_ETOOBIG) {
        int frc = flush(b); /* the lines before it stand */
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
        rc = flush(b);
    if (rc != 0) {
        answer_failed(b, call, rc);
        return;
    }
    json_t *j = report(b);
    cf_info("mis batch: %zu lines in %lld ms: patients %ld created %ld updated %ld unchanged %ld "
            "stale, appointments %ld created %ld updated %ld unchanged %ld stale, %ld invalid",
            b->lines.lineno, (long long)(cf_time_mono_ms() - b->t0_ms), b->counts[0][R_CREATED],
            b->counts[0][R_UPDATED], b->counts[0][R_UNCHANGED], b->counts[0][R_STALE],
            b->counts[1][R_CREATED], b->counts[1][R_UPDATED], b->counts[1][R_UNCHANGED],
            b->counts[1][R_STALE], b->invalid);
    cf_http_stream_json(call, 200, j);
    json_decref(j);
}

static void batch_release(void *state)
{
    struct batch *b = state;
    rows_clear(b);
    free(b->rows[0]);
    free(b->rows[1]);
    for (size_t i = 0; i < b->npolicies; i++) {
        plan_policy_free(&b->policies[i].policy);
        free(b->policies[i].clinic_id);
    }
    json_decref(b->j_ids);
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
    cf_metrics_describe(M_LINES, "counter",
                        "lines of POST /v1/mis/batch by kind (patient, appointment, unknown) and "
                        "result (created, updated, unchanged, stale, invalid)");
    cf_metrics_describe(M_REWRITTEN, "counter",
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
