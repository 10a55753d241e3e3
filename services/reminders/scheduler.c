/*
 * The scheduler: a worker (any number of instances run it) that turns due
 * reminder jobs into commands on clinicflow.reminders.commands.v1. Each
 * round takes up to a batch of pending jobs whose due time has come, with
 * FOR UPDATE SKIP LOCKED (a job another instance holds is skipped, and one
 * marked is never taken again, so a job is emitted once), marks them and
 * stages their commands in reminders.outbox in the same transaction; the
 * relay produces them after the commit. A job taken too late is never
 * sent late: once its visit has begun, or more than
 * CLINICFLOW_REMINDERS_LATE_GRACE_S past its due time (the service was
 * down), it is skipped with that reason instead. A missed visit's
 * re-invite is skipped ("booked_again") when the patient has a future
 * booking by its due time.
 *
 * Commands carry ids only (job, appointment, patient, clinic): the
 * dispatcher reads the contact, and checks the consent, right before it
 * sends, so the topic holds no personal data.
 */
#include "reminders.h"
#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/topics.h"
#include "common/xmalloc.h"

#define SCHEDULE_BATCH 500

void reminders_command_event(struct cf_event *ev, const json_t *j_job, int64_t now_ms)
{
    const char *job_id = json_string_value(json_object_get(j_job, "job_id"));
    char attempt[16];
    snprintf(attempt, sizeof(attempt), "%lld",
             (long long)json_integer_value(json_object_get(j_job, "attempt")));
    const char *parts[] = {job_id, "reminder.command", attempt};
    cf_uuid5(parts, 3, ev->id);
    ev->source = cf_xstrdup("/clinicflow/reminders/scheduler");
    ev->type = cf_xstrdup("clinicflow.reminder.command");
    ev->subject = cf_xstrdup(job_id);
    ev->time_ms = now_ms;
    ev->networkid = cf_xstrdup(json_string_value(json_object_get(j_job, "network_id")));
    ev->clinicid = cf_xstrdup(json_string_value(json_object_get(j_job, "clinic_id")));
    ev->data = json_pack(
        "{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "job_id",
        json_object_get(j_job, "job_id"), "kind", json_object_get(j_job, "kind"), "appointment_id",
        json_object_get(j_job, "appointment_id"), "patient_id",
        json_object_get(j_job, "patient_id"), "clinic_id", json_object_get(j_job, "clinic_id"),
        "offset_hours", json_object_get(j_job, "offset_hours"), "visit_at",
        json_object_get(j_job, "visit_at"), "due_at", json_object_get(j_job, "due_at"), "channel",
        json_object_get(j_job, "channel"), "attempt", json_object_get(j_job, "attempt"));
    /* a recall is about a patient, not a visit */
    static const char *const visit_keys[] = {"appointment_id", "visit_at"};
    for (size_t i = 0; i < 2; i++)
        if (json_is_null(json_object_get(ev->data, visit_keys[i])))
            json_object_del(ev->data, visit_keys[i]);
}

/* One round: returns how many jobs it emitted or skipped, or an error. */
static int schedule_round(struct reminders_ctx *ctx, PGconn *conn, int64_t now_ms, int *emitted,
                          char *errbuf, size_t errbuf_size)
{
    char now[32], grace[24], limit[16];
    cf_time_format(now_ms, now);
    snprintf(grace, sizeof(grace), "%ld", ctx->cfg.late_grace_s);
    snprintf(limit, sizeof(limit), "%d", SCHEDULE_BATCH);
    const char *params[] = {now, grace, limit};
    PGresult *res = NULL;
    struct cf_outbox *out = cf_outbox_new();

    *emitted = 0;
    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    /* taken and marked in one statement: late ones skipped, the rest
     * emitted; each row's job as the command needs it */
    if (rc == 0)
        rc = cf_pg_exec(
            conn,
            "WITH due AS (SELECT job_id, CASE"
            " WHEN kind = 'reminder' AND visit_at <= $1::timestamptz THEN 'visit_started'"
            " WHEN due_at < $1::timestamptz - make_interval(secs => $2::int) THEN 'late'"
            " WHEN kind IN ('reinvite', 'recall') AND EXISTS (SELECT 1 FROM reminders.appointments "
            "a"
            " WHERE a.patient_id = j.patient_id AND a.status IN ('booked', 'rescheduled')"
            " AND a.starts_at > $1::timestamptz) THEN 'booked_again' END AS skip"
            " FROM reminders.reminder_jobs j WHERE status = 'pending'"
            " AND due_at <= $1::timestamptz ORDER BY due_at LIMIT $3::int"
            " FOR UPDATE SKIP LOCKED)"
            " UPDATE reminders.reminder_jobs j SET"
            " status = CASE WHEN due.skip IS NULL THEN 'emitted' ELSE 'skipped' END,"
            " reason = due.skip, updated_at = now() FROM due WHERE j.job_id = due.job_id"
            " RETURNING j.status, json_build_object('job_id', j.job_id, 'network_id',"
            " j.network_id, 'clinic_id', j.clinic_id, 'appointment_id', j.appointment_id,"
            " 'patient_id', j.patient_id, 'kind', j.kind, 'offset_hours', j.offset_hours,"
            " 'channel', j.channel, 'attempt', j.attempt, 'visit_at',"
            " " CF_PG_UTC_MS("j.visit_at") ", 'due_at', " CF_PG_UTC_MS("j.due_at") ")::text",
            3, params, &res, errbuf, errbuf_size);
    const int n = rc == 0 ? PQntuples(res) : 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(PQgetvalue(res, i, 0), "emitted") != 0)
            continue;
        json_t *j_job = json_loads(PQgetvalue(res, i, 1), 0, NULL);
        if (!j_job)
            continue;
        struct cf_event ev = {0};
        reminders_command_event(&ev, j_job, now_ms);
        cf_outbox_add(out, CF_TOPIC_REMINDER_COMMANDS,
                      json_string_value(json_object_get(j_job, "patient_id")), &ev);
        cf_event_clear(&ev);
        json_decref(j_job);
        (*emitted)++;
    }
    PQclear(res);
    rc = cf_outbox_stage_commit(conn, "reminders", out, rc, errbuf, errbuf_size);
    if (rc < 0)
        return rc;
    cf_metrics_add("clinicflow_reminders_jobs_total", "result=\"emitted\"", *emitted);
    cf_metrics_add("clinicflow_reminders_jobs_total", "result=\"skipped_late\"", n - *emitted);
    return n;
}

void reminders_scheduler(void *vctx)
{
    struct reminders_ctx *ctx = vctx;
    char errbuf[256];

    cf_metrics_describe("clinicflow_reminders_jobs_total", "counter",
                        "due reminder jobs the scheduler took, by result: emitted as a command, "
                        "or skipped_late (its visit begun, or past the late grace)");
    while (!cf_service_sleep(ctx->svc, ctx->cfg.scheduler_every_ms)) {
        PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_debug("scheduler: %s", errbuf);
            continue;
        }
        int n, emitted = 0, any = 0;
        while ((n = schedule_round(ctx, conn, cf_time_now_ms(), &emitted, errbuf, sizeof(errbuf))) >
               0) {
            any |= emitted > 0;
            if (n < SCHEDULE_BATCH || cf_service_sleep(ctx->svc, 0))
                break;
        }
        if (n < 0)
            cf_warn("scheduler: due jobs not taken: %s", errbuf);
        cf_pg_pool_release(ctx->svc->pg, conn);
        if (any)
            reminders_relay_kick(ctx);
    }
}
