/*
 * The batch import's writer (mis_batch_write.h): up to two threads an
 * import, each on a connection of its own, writing each set of rows the
 * connection thread hands over in one transaction with set-based
 * statements: the stored versions read under
 * their row locks in one statement; the new records sent by COPY straight
 * into their tables and the newer versions of stored ones upserted from a
 * COPY-filled staging table; the reminder jobs of booked and rescheduled
 * future visits (plan_rules.c) likewise; and every created or updated
 * record's event staged through the outbox by COPY. The relay is kicked
 * after each commit.
 */
#include "mis_batch_write.h"
#include "outcome.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/pg_copy.h"
#include "common/time.h"
#include "common/xmalloc.h"

const char *const batch_result_names[BATCH_RESULTS] = {"created", "updated", "unchanged", "stale"};
const char *const batch_kind_names[2] = {"patient", "appointment"};

struct policy {
    char *clinic_id;
    struct plan_policy policy;
};

/* One writer thread and its connection. */
struct lane {
    struct batch_writer *w;
    pthread_t thread;
    int started;  /* the thread runs */
    int own_conn; /* taken from the pool by the writer (the first is the import's) */

    /* the lane's thread's alone */
    PGconn *conn;
    int careful; /* the set's records all upserted (after a conflict) */
    char errbuf[256];

    /* under the writer's mu */
    struct batch_rows *in_hand; /* handed over, not written and cleared yet */
    struct batch_rows *holds;   /* in_hand until its transaction is over: its records */
};

/* A set over (written, or only refused lines) that an earlier one in
 * flight keeps from counting as committed yet. */
struct done {
    uint64_t seq;
    size_t last_line;
};

struct batch_writer {
    struct reminders_ctx *ctx;
    const struct cf_network *net;
    struct batch_rows sets[BATCH_WRITERS_MAX + 1];
    struct batch_rows *filling; /* the connection thread's */
    struct lane lanes[BATCH_WRITERS_MAX];
    int nlanes;

    /* every thread's, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    int failed;        /* the first error: nothing more is handed over */
    char errbuf[256];  /* its reason */
    uint64_t seq;      /* sets handed over so far, in line order */
    uint64_t seq_over; /* every set up to this one is over */
    size_t
        committed; /* the last line of set seq_over: every line up to it is committed or refused */
    struct done done[BATCH_WRITERS_MAX + 1]; /* over, after one still in flight */
    size_t ndone;
    long counts[2][BATCH_RESULTS];
    struct policy **policies; /* each its own block: a returned policy never moves */
    size_t npolicies, cap_policies;
};

const struct plan_policy *batch_writer_policy(struct batch_writer *w, const char *clinic_id,
                                              char *errbuf, size_t errbuf_size)
{
    const struct plan_policy *found = NULL;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; !found && i < w->npolicies; i++)
        if (strcmp(w->policies[i]->clinic_id, clinic_id) == 0)
            found = &w->policies[i]->policy;
    const struct cf_clinic *clinic = found ? NULL : cf_netconf_clinic(w->net, clinic_id);
    if (!found && !clinic) {
        snprintf(errbuf, errbuf_size, "no reminder policy for clinic %s", clinic_id);
    } else if (!found) {
        struct policy *p = cf_xcalloc(1, sizeof(*p));
        if (plan_policy_build(json_object_get(w->net->doc, "reminder_policies"),
                              clinic->tz ? clinic->tz : w->net->tz, clinic->doc, &p->policy, errbuf,
                              errbuf_size) == 0) {
            p->clinic_id = cf_xstrdup(clinic_id);
            if (w->npolicies == w->cap_policies) {
                w->cap_policies = w->cap_policies ? 2 * w->cap_policies : 16;
                w->policies = cf_xrealloc(w->policies, w->cap_policies * sizeof(*w->policies));
            }
            w->policies[w->npolicies++] = p;
            found = &p->policy;
        } else {
            free(p);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return found; /* built once, never changed or moved until the writer stops */
}

/* The event of r's change (its record replacing r->previous, if any),
 * as the outbox takes it. */
static char *row_event(const struct cf_network *net, enum mis_kind k, const struct batch_row *r)
{
    struct cf_event ev = {0};
    json_t *data =
        k == MIS_PATIENT
            ? mis_patient_data(r->record, r->id, r->mis_id, r->version, net->secret)
            : mis_appointment_data(r->record, r->id, r->mis_id, r->version, net->id, r->previous);
    mis_event(&ev, k, net->id, r->id, r->mis_id, r->version,
              json_string_value(json_object_get(r->record, "clinic_id")), data);
    char *text = cf_event_dumps(&ev);
    cf_event_clear(&ev);
    if (!text) /* an event we built ourselves always serializes */
        abort();
    return text;
}

void batch_row_prepare(const struct cf_network *net, enum mis_kind k, struct batch_row *r)
{
    if (k == MIS_APPOINTMENT)
        mis_appointment_patient(net->id, r->record, r->patient_id);
    r->record_text = cf_json_dumps(r->record);
    if (!r->record_text)
        abort(); /* a record mis_rules.c made always serializes */
    r->event = row_event(net, k, r);
}

static void rows_clear(struct batch_rows *s)
{
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < s->n[k]; i++) {
            struct batch_row *r = &s->rows[k][i];
            json_decref(r->record);
            json_decref(r->previous);
            free(r->record_text);
            free(r->event);
        }
        s->n[k] = 0;
    }
    json_object_clear(s->j_ids);
}

/* --- one transaction --- */

/* The stored versions of the batch's rows of kind, locked; decides which
 * rows are written (the PUT's rules). */
static int read_stored(struct lane *l, struct batch_rows *s, int k)
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
    for (size_t i = 0; i < s->n[k]; i++) {
        struct batch_row *r = &s->rows[k][i];
        json_array_append_new(j_ids, json_string(r->id));
        r->write = 1;
        r->result = BATCH_CREATED;
        r->found = r->erased = 0; /* as if read the first time (a batch written again) */
        json_decref(r->previous);
        r->previous = NULL;
    }
    PGresult *res = NULL;
    int rc = cf_pg_exec_json_planned(l->conn, sql[k], j_ids, &res, l->errbuf, sizeof(l->errbuf));
    for (int t = 0; rc == 0 && t < PQntuples(res); t++) {
        size_t i = (size_t)strtoull(PQgetvalue(res, t, 0), NULL, 10) - 1;
        if (i >= s->n[k])
            continue;
        struct batch_row *r = &s->rows[k][i];
        const int64_t stored = strtoll(PQgetvalue(res, t, 1), NULL, 10);
        r->found = 1;
        r->erased = PQgetvalue(res, t, 2)[0] == 't';
        if (stored > r->version || (r->erased && stored == r->version)) {
            r->write = 0;
            r->result = BATCH_STALE;
        } else if (stored == r->version) {
            r->write = 0;
            r->result = BATCH_UNCHANGED;
        } else {
            r->result = r->erased ? BATCH_CREATED : BATCH_UPDATED;
            if (!PQgetisnull(res, t, 3))
                r->previous = cf_json_loads(PQgetvalue(res, t, 3), 0, NULL);
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
 * with every record upserted (write_set). */
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
static int row_direct(const struct lane *l, const struct batch_row *r)
{
    return !l->careful && !r->found;
}

/* The stored appointment (t) written again by the batch (excluded). */
#define BATCH_REMINDER_STATUS                                                                      \
    MIS_REMINDER_STATUS_SQL("t.", "excluded.starts_at", "excluded.patient_id", "excluded.status")

/* Writes the rows of kind to be written: new ones straight in, the others
 * upserted; a row another writer made newer meanwhile is left as it is
 * (and counted stale). */
static int write_rows(struct lane *l, struct batch_rows *s, int k)
{
    struct batch_writer *w = l->w;
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
        " starts_at = excluded.starts_at, ends_at = excluded.ends_at,"
        " updated_at = now()," BATCH_REMINDER_STATUS " WHERE t.version < excluded.version"
        " RETURNING t.appointment_id::text",
    };
    struct cf_pg_copy direct = {0}, copy = {0};
    for (size_t i = 0; i < s->n[k]; i++) {
        struct batch_row *r = &s->rows[k][i];
        if (!r->write)
            continue;
        if (row_direct(l, r)) { /* rows_direct_sql's columns */
            cf_pg_copy_text(&direct, r->id);
            cf_pg_copy_text(&direct, w->net->id);
            cf_pg_copy_text(&direct, r->mis_id);
            cf_pg_copy_int(&direct, r->version);
            cf_pg_copy_text(&direct, r->record_text);
            cf_pg_copy_json(&direct, json_object_get(r->record, "clinic_id"));
            if (k == MIS_APPOINTMENT) {
                cf_pg_copy_text(&direct, r->patient_id);
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
        cf_pg_copy_text(&copy, r->record_text);
        if (k == MIS_APPOINTMENT)
            cf_pg_copy_text(&copy, r->patient_id);
        cf_pg_copy_row_end(&copy);
        r->write = 0; /* until the database says it wrote it */
    }
    int rc = cf_pg_copy_send(l->conn, rows_direct_sql[k], &direct, l->errbuf, sizeof(l->errbuf));
    if (copy.rows == 0 || rc != 0) {
        cf_pg_copy_clear(&copy);
        return rc;
    }
    rc = cf_pg_exec(l->conn, rows_stage_sql[k], 0, NULL, NULL, l->errbuf, sizeof(l->errbuf));
    if (rc == 0)
        rc = cf_pg_copy_send(l->conn, rows_copy_sql[k], &copy, l->errbuf, sizeof(l->errbuf));
    cf_pg_copy_clear(&copy);
    PGresult *res = NULL;
    if (rc == 0)
        rc = cf_pg_exec(l->conn, sql[k], 1, (const char *const[]){w->net->id}, &res, l->errbuf,
                        sizeof(l->errbuf));
    for (int t = 0; rc == 0 && t < PQntuples(res); t++) {
        const json_t *j_i = json_object_get(s->j_ids, PQgetvalue(res, t, 0));
        if (j_i)
            s->rows[k][json_integer_value(j_i)].write = 1;
    }
    for (size_t i = 0; rc == 0 && i < s->n[k]; i++) {
        struct batch_row *r = &s->rows[k][i];
        if (!r->write && (r->result == BATCH_CREATED || r->result == BATCH_UPDATED))
            r->result = BATCH_STALE; /* a newer version came meanwhile */
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
 * pending jobs of a replaced appointment not among them are cancelled (but
 * for a campaign's its status still calls for: PLAN_STORE_CAMPAIGN_KEPT). */
static int plan_rows(struct lane *l, struct batch_rows *s, int64_t now_ms)
{
    struct batch_writer *w = l->w;
    json_t *j_replaced = json_array(), *j_jobs = json_array(), *j_visits = json_array();
    struct cf_pg_copy direct = {0}, jobs = {0};
    for (size_t i = 0; i < s->n[MIS_APPOINTMENT]; i++) {
        struct batch_row *r = &s->rows[MIS_APPOINTMENT][i];
        if (!r->write)
            continue;
        const char *status = json_string_value(json_object_get(r->record, "status"));
        const char *clinic_id = json_string_value(json_object_get(r->record, "clinic_id"));
        const char *visit_at = json_string_value(json_object_get(r->record, "starts_at"));
        const int reminds = plan_status_reminds(status);
        int64_t starts_ms = 0;
        json_t *j_visit = NULL; /* its entry in j_visits, "reminded" set once planned */
        if (r->found) {
            json_array_append_new(j_replaced,
                                  json_pack("{s:s, s:s, s:s?}", "appointment_id", r->id, "reason",
                                            reminds ? "replanned" : status, "status", status));
            if (visit_at && clinic_id &&
                (j_visit = json_pack("{s:s, s:s, s:b, s:b, s:s, s:s}", "appointment_id", r->id,
                                     "visit_at", visit_at, "reminds", reminds, "reminded", 0,
                                     "patient_id", r->patient_id, "clinic_id", clinic_id)))
                json_array_append_new(j_visits, j_visit);
        }
        if (!reminds || cf_time_parse(visit_at, &starts_ms) != 0 || starts_ms <= now_ms)
            continue;
        char errbuf[128];
        const struct plan_policy *policy =
            batch_writer_policy(w, clinic_id, errbuf, sizeof(errbuf));
        if (!policy) /* checked when the line was read */
            continue;
        struct plan_job planned[PLAN_OFFSETS_MAX];
        size_t n = plan_reminders(policy, starts_ms, now_ms, planned, PLAN_OFFSETS_MAX);
        for (size_t j = 0; j < n; j++) {
            if (j_visit && !planned[j].skip)
                json_object_set_new(j_visit, "reminded", json_true());
            char job_id[CF_UUID_STR_LEN + 1], due_at[32];
            plan_job_id(r->id, starts_ms, planned[j].offset_h, job_id);
            if (!planned[j].skip)
                cf_time_format(planned[j].due_ms, due_at);
            if (r->found) /* kept from the cancelling below */
                json_array_append_new(j_jobs, json_string(job_id));
            /* a new visit's jobs straight in (no job can exist for it),
             * the others by the staging table (JOBS_STAGE_SQL, its columns
             * but the network) */
            struct cf_pg_copy *c = row_direct(l, r) ? &direct : &jobs;
            cf_pg_copy_text(c, job_id);
            cf_pg_copy_text(c, r->id);
            if (c == &direct)
                cf_pg_copy_text(c, w->net->id);
            cf_pg_copy_text(c, clinic_id);
            cf_pg_copy_text(c, r->patient_id);
            cf_pg_copy_int(c, planned[j].offset_h);
            cf_pg_copy_text(c, visit_at);
            cf_pg_copy_text(c, planned[j].skip ? NULL : due_at);
            cf_pg_copy_text(c, planned[j].skip ? "skipped" : "pending");
            cf_pg_copy_text(c, planned[j].skip);
            cf_pg_copy_row_end(c);
        }
    }
    int rc = 0;
    /* the front desk's tasks about the visits as they were, before their
     * jobs are written (outcome.h) */
    if (json_array_size(j_visits) > 0)
        rc = reminders_close_visit_tasks_staged(l->conn, w->net, j_visits, now_ms, l->errbuf,
                                                sizeof(l->errbuf));
    if (rc == 0 && json_array_size(j_replaced) > 0) {
        json_t *j_param = json_pack("{s:o, s:o}", "a", j_replaced, "j", j_jobs);
        j_replaced = j_jobs = NULL;
        rc = cf_pg_exec_json_planned(
            l->conn,
            "UPDATE reminders.reminder_jobs AS j SET status = 'cancelled', reason = a.reason,"
            " updated_at = now()"
            " FROM jsonb_to_recordset($1::jsonb->'a') AS a(appointment_id uuid, reason text,"
            " status text)"
            " WHERE j.appointment_id = a.appointment_id AND j.status = 'pending'"
            " AND j.job_id NOT IN (SELECT x::uuid FROM jsonb_array_elements_text($1::jsonb->'j')"
            " AS x) AND NOT" PLAN_STORE_CAMPAIGN_KEPT("coalesce(a.status, '')"),
            j_param, NULL, l->errbuf, sizeof(l->errbuf));
        json_decref(j_param);
    }
    json_decref(j_replaced);
    json_decref(j_jobs);
    if (rc == 0)
        rc = cf_pg_copy_send(l->conn,
                             "COPY reminders.reminder_jobs (job_id, appointment_id, network_id,"
                             " clinic_id, patient_id, offset_hours, visit_at, due_at, status,"
                             " reason) FROM STDIN", /* kind, channel: a reminder by call */
                             &direct, l->errbuf, sizeof(l->errbuf));
    cf_pg_copy_clear(&direct);
    const size_t planned = jobs.rows;
    if (rc == 0 && planned > 0)
        rc = cf_pg_exec(l->conn, JOBS_STAGE_SQL, 0, NULL, NULL, l->errbuf, sizeof(l->errbuf));
    if (rc == 0 && planned > 0)
        rc = cf_pg_copy_send(l->conn, "COPY batch_jobs FROM STDIN", &jobs, l->errbuf,
                             sizeof(l->errbuf));
    if (rc == 0 && planned > 0)
        rc = cf_pg_exec(
            l->conn,
            "INSERT INTO reminders.reminder_jobs (job_id, appointment_id, network_id, clinic_id,"
            " patient_id, offset_hours, visit_at, due_at, status, reason, kind, channel)"
            " SELECT job_id, appointment_id, $1, clinic_id, patient_id, offset_hours, visit_at,"
            " due_at, status, reason, 'reminder', 'call' FROM batch_jobs"
            " ON CONFLICT (job_id) DO UPDATE" PLAN_STORE_REVIVE_SQL,
            1, (const char *const[]){w->net->id}, NULL, l->errbuf, sizeof(l->errbuf));
    cf_pg_copy_clear(&jobs);
    json_decref(j_visits);
    return rc;
}

/* Every written record's event, staged in the transaction. */
static int stage_events(struct lane *l, struct batch_rows *s)
{
    struct batch_writer *w = l->w;
    struct cf_outbox out = {0};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < s->n[k]; i++) {
            struct batch_row *r = &s->rows[k][i];
            if (!r->write)
                continue;
            /* made on the connection thread, unless it tells of a
             * replaced appointment (or a first try used it) */
            char *value = r->event && (k == MIS_PATIENT || !r->previous)
                              ? r->event
                              : row_event(w->net, (enum mis_kind)k, r);
            if (value == r->event)
                r->event = NULL; /* the outbox's now */
            cf_outbox_push(&out, mis_topic((enum mis_kind)k), r->id, strlen(r->id), value,
                           strlen(value));
        }
    }
    int rc = cf_outbox_stage(l->conn, "reminders", &out, l->errbuf, sizeof(l->errbuf));
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
    return rc;
}

/* Writes the batch in one transaction; rolled back on an error. */
static int write_batch(struct lane *l, struct batch_rows *s)
{
    int rc = cf_pg_begin(l->conn, l->errbuf, sizeof(l->errbuf));
    for (int k = 0; rc == 0 && k < 2; k++)
        if (s->n[k] > 0)
            rc = read_stored(l, s, k);
    for (int k = 0; rc == 0 && k < 2; k++)
        rc = write_rows(l, s, k);
    if (rc == 0)
        rc = plan_rows(l, s, cf_time_now_ms());
    if (rc == 0)
        rc = stage_events(l, s);
    if (rc == 0)
        rc = cf_pg_commit(l->conn, l->errbuf, sizeof(l->errbuf));
    if (rc != 0)
        cf_pg_rollback(l->conn);
    return rc;
}

/* Writes the set s: new records straight in, and when another writer
 * created one of them meanwhile (a key taken: CF_ECONFLICT), once more with
 * every record upserted; counts what it wrote. 0, or the error with the
 * reason in l->errbuf. */
static int write_set(struct lane *l, struct batch_rows *s)
{
    struct batch_writer *w = l->w;
    int rc = write_batch(l, s);
    if (rc == CF_ECONFLICT) {
        cf_info("mis batch: lines up to %zu met another writer of the same records (%s);"
                " written again with upserts",
                s->last_line, l->errbuf);
        cf_metrics_add(M_BATCH_REWRITTEN, NULL, 1);
        l->careful = 1;
        rc = write_batch(l, s);
        l->careful = 0;
    }
    if (rc != 0)
        return rc == CF_EINVAL || rc == CF_ECONFLICT ? CF_EINTERNAL : rc;
    long counts[2][BATCH_RESULTS] = {{0}};
    int wrote = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < s->n[k]; i++) {
            counts[k][s->rows[k][i].result]++;
            wrote |= s->rows[k][i].write;
        }
    pthread_mutex_lock(&w->mu);
    for (int k = 0; k < 2; k++)
        for (int res = 0; res < BATCH_RESULTS; res++)
            w->counts[k][res] += counts[k][res];
    pthread_mutex_unlock(&w->mu);
    for (int k = 0; k < 2; k++)
        for (int res = 0; res < BATCH_RESULTS; res++) {
            if (!counts[k][res])
                continue;
            char labels[96];
            snprintf(labels, sizeof(labels), "kind=\"%s\",result=\"%s\"", batch_kind_names[k],
                     batch_result_names[res]);
            cf_metrics_add(M_BATCH_LINES, labels, (double)counts[k][res]);
        }
    if (wrote)
        reminders_relay_kick(w->ctx);
    return 0;
}

/* --- the threads --- */

/* Under mu: the set seq, whose lines end at last_line, is written. The
 * committed line moves to the last set written with every earlier one
 * written too (a failed set is never over: nothing after it counts). */
static void set_over(struct batch_writer *w, uint64_t seq, size_t last_line)
{
    if (w->ndone == sizeof(w->done) / sizeof(w->done[0]))
        abort(); /* more sets over than lanes */
    w->done[w->ndone++] = (struct done){seq, last_line};
    for (size_t i = 0; i < w->ndone;) {
        if (w->done[i].seq != w->seq_over + 1) {
            i++;
            continue;
        }
        w->seq_over++;
        w->committed = w->done[i].last_line;
        w->done[i] = w->done[--w->ndone];
        i = 0;
    }
}

static void *lane_main(void *arg)
{
    struct lane *l = arg;
    struct batch_writer *w = l->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!l->in_hand && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        struct batch_rows *s = l->in_hand;
        if (!s)
            break; /* stopping, nothing in hand */
        pthread_mutex_unlock(&w->mu);
        const int rc = write_set(l, s);
        pthread_mutex_lock(&w->mu);
        /* its records are no longer a reason for another set to wait */
        l->holds = NULL;
        if (rc != 0 && !w->failed) {
            w->failed = rc;
            snprintf(w->errbuf, sizeof(w->errbuf), "%s", l->errbuf);
        }
        if (rc == 0)
            set_over(w, s->seq, s->last_line);
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        rows_clear(s); /* still in hand: no one fills it meanwhile */
        pthread_mutex_lock(&w->mu);
        l->in_hand = NULL;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct batch_writer *batch_writer_start(struct reminders_ctx *ctx, const struct cf_network *net,
                                        PGconn *conn)
{
    struct batch_writer *w = cf_xcalloc(1, sizeof(*w));
    w->ctx = ctx;
    w->net = net;
    for (size_t i = 0; i < sizeof(w->sets) / sizeof(w->sets[0]); i++) {
        w->sets[i].rows[0] = cf_xcalloc(BATCH_LINES, sizeof(struct batch_row));
        w->sets[i].rows[1] = cf_xcalloc(BATCH_LINES, sizeof(struct batch_row));
        w->sets[i].j_ids = json_object();
    }
    w->filling = &w->sets[0];
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    /* The import's connection, and a second one while the pool keeps
     * BATCH_POOL_LEFT free beside it for the routes and workers; without
     * it the import runs on one. */
    long wanted = ctx->cfg.batch_writers;
    for (long i = 0; i < wanted && i < BATCH_WRITERS_MAX; i++) {
        struct lane *l = &w->lanes[w->nlanes];
        l->w = w;
        l->conn = conn;
        if (i > 0) {
            char errbuf[128];
            l->conn = cf_pg_pool_try_acquire(ctx->svc->pg, BATCH_POOL_LEFT, errbuf, sizeof(errbuf));
            if (!l->conn) {
                cf_info("mis batch: one writer: %s", errbuf);
                break;
            }
            l->own_conn = 1;
        }
        if (pthread_create(&l->thread, NULL, lane_main, l) != 0) {
            if (l->own_conn)
                cf_pg_pool_release(ctx->svc->pg, l->conn);
            l->own_conn = 0;
            break;
        }
        l->started = 1;
        w->nlanes++;
    }
    if (w->nlanes == 0) {
        batch_writer_stop(w);
        return NULL;
    }
    return w;
}

struct batch_rows *batch_writer_rows(struct batch_writer *w)
{
    return w->filling;
}

/* Whether sets a and b hold a record in common. */
static int share_records(const struct batch_rows *a, const struct batch_rows *b)
{
    const char *id;
    json_t *j_v;
    if (json_object_size(a->j_ids) > json_object_size(b->j_ids)) {
        const struct batch_rows *t = a;
        a = b;
        b = t;
    }
    json_object_foreach(a->j_ids, id, j_v)
    {
        if (json_object_get(b->j_ids, id))
            return 1;
    }
    return 0;
}

/* Under mu: a lane free to take s now, or NULL. A set holding a record
 * that a set in flight holds too waits for it, so a record's versions are
 * written, and their events staged, in the order of the lines. */
static struct lane *lane_for(struct batch_writer *w, const struct batch_rows *s)
{
    struct lane *free_lane = NULL;
    for (int i = 0; i < w->nlanes; i++) {
        struct lane *l = &w->lanes[i];
        if (l->holds && share_records(l->holds, s))
            return NULL;
        if (!l->in_hand && !free_lane)
            free_lane = l;
    }
    return free_lane;
}

/* Under mu: a set neither being filled nor in a lane's hand. */
static struct batch_rows *free_set(struct batch_writer *w)
{
    for (size_t i = 0; i < sizeof(w->sets) / sizeof(w->sets[0]); i++) {
        struct batch_rows *s = &w->sets[i];
        int held = s == w->filling;
        for (int j = 0; j < w->nlanes; j++)
            held |= w->lanes[j].in_hand == s;
        if (!held)
            return s;
    }
    abort(); /* a set more than the lanes */
}

int batch_writer_hand_over(struct batch_writer *w, size_t last_line)
{
    struct batch_rows *s = w->filling;
    struct lane *l = NULL;
    pthread_mutex_lock(&w->mu);
    if (s->n[0] + s->n[1] == 0) {
        /* only refused lines since the last set (the end of a body, most
         * often): committed once every set before them is */
        while (!w->failed && w->seq_over < w->seq)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->failed)
            w->committed = last_line;
    } else {
        while (!w->failed && !(l = lane_for(w, s)))
            pthread_cond_wait(&w->cv, &w->mu);
    }
    const int rc = w->failed;
    if (l && !rc) {
        s->last_line = last_line;
        s->seq = ++w->seq;
        l->in_hand = l->holds = s;
        w->filling = free_set(w);
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc != 0)
        rows_clear(s); /* never to be written */
    return rc;
}

int batch_writer_drain(struct batch_writer *w)
{
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->nlanes; i++)
        while (w->lanes[i].in_hand)
            pthread_cond_wait(&w->cv, &w->mu);
    const int rc = w->failed;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void batch_writer_progress(struct batch_writer *w, size_t *committed, long counts[2][BATCH_RESULTS])
{
    pthread_mutex_lock(&w->mu);
    *committed = w->committed;
    for (int k = 0; k < 2; k++)
        for (int res = 0; res < BATCH_RESULTS; res++)
            counts[k][res] += w->counts[k][res];
    pthread_mutex_unlock(&w->mu);
}

const char *batch_writer_error(struct batch_writer *w)
{
    return w->errbuf; /* set with failed, under mu, before the caller learnt of it */
}

int batch_writer_count(const struct batch_writer *w)
{
    return w->nlanes; /* set before any other thread starts using w */
}

void batch_writer_stop(struct batch_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < BATCH_WRITERS_MAX; i++) {
        struct lane *l = &w->lanes[i];
        if (l->started)
            pthread_join(l->thread, NULL);
        if (l->own_conn)
            cf_pg_pool_release(w->ctx->svc->pg, l->conn);
    }
    for (size_t i = 0; i < sizeof(w->sets) / sizeof(w->sets[0]); i++) {
        rows_clear(&w->sets[i]);
        free(w->sets[i].rows[0]);
        free(w->sets[i].rows[1]);
        json_decref(w->sets[i].j_ids);
    }
    for (size_t i = 0; i < w->npolicies; i++) {
        plan_policy_free(&w->policies[i]->policy);
        free(w->policies[i]->clinic_id);
        free(w->policies[i]);
    }
    free(w->policies);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
