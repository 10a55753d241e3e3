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
 * down), it is skipped with that reason instead (a reminder late only by
 * its due time by the dispatcher, so that its ladder goes on). A missed visit's
 * re-invite and a recall are skipped ("booked_again") when the patient
 * has a future booking by their due time; a re-invite also when the
 * patient came, or booked, for a visit after the missed one meanwhile, a
 * recall when the patient came in since it was drawn.
 *
 * Campaign contacts (recall, re-invite) can each end in a call the front
 * desk makes, so they are paced (pace_rules.c): a clinic releases at most
 * seats x tasks_per_seat_hour of them a clock hour, inside its calling
 * windows, and the others are made due again at the next hour's first
 * window moment, never dropped. The count of an hour is a row of
 * reminders.campaign_pace, locked while a clinic's campaign jobs are
 * taken, so every instance spends the one budget. A visit's reminders are
 * not paced: they are worth nothing after the visit.
 *
 * Commands carry ids only (job, appointment, patient, clinic): the
 * dispatcher reads the contact, and checks the consent, right before it
 * sends, so the topic holds no personal data.
 */
#include "job_sql.h"
#include "reminders.h"
#include "scheduler.h"
#include "pace_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/netconf.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/topics.h"
#include "common/xmalloc.h"

#define SCHEDULE_BATCH 500
/* a job as its command needs it, from reminder_jobs j */
#define JOB_JSON                                                                                   \
    "json_build_object('job_id', j.job_id, 'network_id',"                                          \
    " j.network_id, 'clinic_id', j.clinic_id, 'appointment_id', j.appointment_id,"                 \
    " 'patient_id', j.patient_id, 'kind', j.kind, 'offset_hours', j.offset_hours,"                 \
    " 'channel', j.channel, 'attempt', j.attempt, 'visit_at',"                                     \
    " " CF_PG_UTC_MS("j.visit_at") ", 'due_at', " CF_PG_UTC_MS(                                    \
        "coalesce(j.late_from, j.due_at)") ")::text"

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

/* The commands of the rows (status, job) of res marked emitted, added to
 * out: how many. */
static int stage_commands(const PGresult *res, int n, int64_t now_ms, struct cf_outbox *out)
{
    int emitted = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(PQgetvalue(res, i, 0), "emitted") != 0)
            continue;
        json_t *j_job = cf_json_loads(PQgetvalue(res, i, 1), 0, NULL);
        if (!j_job)
            continue;
        struct cf_event ev = {0};
        reminders_command_event(&ev, j_job, now_ms);
        cf_outbox_add(out, CF_TOPIC_REMINDER_COMMANDS,
                      json_string_value(json_object_get(j_job, "patient_id")), &ev);
        cf_event_clear(&ev);
        json_decref(j_job);
        emitted++;
    }
    return emitted;
}

/* One round of the jobs that are not paced: returns how many it emitted
 * or skipped, or an error. */
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
     * emitted; each row's job as the command needs it. A reminder whose
     * visit is still ahead goes out however late: the dispatcher skips it
     * as late (plan_send_too_late), and its ladder goes on (the SMS rung,
     * or not_confirmed and the front desk's task), as for one that waited
     * for its gateway; skipped here, it would end the ladder unseen. */
    if (rc == 0)
        rc = cf_pg_exec(
            conn,
            "WITH due AS (SELECT job_id, CASE"
            " WHEN kind = 'reminder' AND visit_at <= $1::timestamptz THEN 'visit_started'"
            " WHEN kind <> 'reminder' AND due_at < $1::timestamptz - make_interval(secs =>"
            " $2::int) THEN 'late' END AS skip"
            " FROM reminders.reminder_jobs j WHERE status = 'pending'"
            " AND kind NOT IN " CAMPAIGN_KINDS
            " AND due_at <= $1::timestamptz ORDER BY due_at LIMIT $3::int"
            " FOR UPDATE SKIP LOCKED)"
            " UPDATE reminders.reminder_jobs j SET"
            " status = CASE WHEN due.skip IS NULL THEN 'emitted' ELSE 'skipped' END,"
            " reason = due.skip, updated_at = now() FROM due WHERE j.job_id = due.job_id"
            " RETURNING j.status, " JOB_JSON,
            3, params, &res, errbuf, errbuf_size);
    const int n = rc == 0 ? PQntuples(res) : 0;
    *emitted = stage_commands(res, n, now_ms, out);
    PQclear(res);
    rc = cf_outbox_stage_commit(conn, "reminders", out, rc, errbuf, errbuf_size);
    if (rc < 0)
        return rc;
    cf_metrics_add("clinicflow_reminders_jobs_total", "result=\"emitted\"", *emitted);
    cf_metrics_add("clinicflow_reminders_jobs_total", "result=\"skipped_late\"", n - *emitted);
    return n;
}

/* A clinic's due jobs that are not paced, taken while its calling windows
 * are closed (the scheduler behind, the windows changed since they were
 * planned; late ones are left to the round, which skips them): made due
 * at the moment the next window opens (next), if they can wait for it.
 * One that cannot (a visit's reminder whose visit comes first, or no
 * window ahead: next NULL) is left to the round: the dispatcher skips its
 * send (outside_window) and the ladder goes on from there (an SMS in the
 * next window before the visit, or not_confirmed and the front desk's
 * task). A reminder another of the visit's reminders would meet or pass
 * by then is skipped (same_time), as the planner skips one; of two held
 * at once (the scheduler behind), the one nearer the visit is kept.
 * Returns how many it took, or an error. */
static int hold_clinic(PGconn *conn, const char *network_id, const char *clinic_id, const char *now,
                       const char *grace, const char *next, char *errbuf, size_t errbuf_size)
{
    if (!next)
        return 0;
    char lead[16];
    snprintf(lead, sizeof(lead), "%d", PLAN_LEAD_MS / 1000);
    const char *params[] = {now, grace, network_id, clinic_id, next, lead};
    PGresult *res = NULL;
    int rc = cf_pg_exec(
        conn,
        "WITH held AS (SELECT job_id, kind = 'reminder' AND EXISTS (SELECT 1"
        " FROM reminders.reminder_jobs o WHERE o.appointment_id = j.appointment_id"
        " AND o.kind = 'reminder' AND o.status = 'pending' AND o.job_id <> j.job_id"
        " AND o.due_at <= $5::timestamptz"
        /* o goes after j (two held at once: one of them is kept, the one
         * nearer the visit) */
        " AND (o.due_at, -o.offset_hours, o.job_id) > (j.due_at, -j.offset_hours, j.job_id))"
        " AS met"
        " FROM reminders.reminder_jobs j WHERE status = 'pending'"
        " AND kind NOT IN " CAMPAIGN_KINDS " AND network_id = $3 AND clinic_id = $4"
        " AND due_at <= $1::timestamptz"
        " AND due_at >= $1::timestamptz - make_interval(secs => $2::int)"
        " AND (kind <> 'reminder' OR visit_at >= $5::timestamptz + make_interval(secs => $6::int))"
        " FOR UPDATE SKIP LOCKED)"
        " UPDATE reminders.reminder_jobs j SET"
        " status = CASE WHEN h.met THEN 'skipped' ELSE j.status END,"
        " reason = CASE WHEN h.met THEN 'same_time' ELSE j.reason END,"
        " due_at = CASE WHEN h.met THEN j.due_at ELSE $5::timestamptz END,"
        " late_from = CASE WHEN h.met THEN j.late_from END,"
        " updated_at = now() FROM held h WHERE j.job_id = h.job_id RETURNING h.met",
        6, params, &res, errbuf, errbuf_size);
    int met = 0;
    const int n = rc == 0 ? PQntuples(res) : 0;
    for (int i = 0; i < n; i++)
        met += strcmp(PQgetvalue(res, i, 0), "t") == 0;
    PQclear(res);
    if (rc != 0)
        return rc;
    cf_metrics_add("clinicflow_reminders_jobs_total", "result=\"held\"", n - met);
    cf_metrics_add("clinicflow_reminders_jobs_total", "result=\"skipped_same_time\"", met);
    return n;
}

/* Every clinic's due jobs that are not paced, held while its windows are
 * closed (hold_clinic). A clinic whose jobs could not be held is written
 * to the log and passed over: its jobs go to the dispatcher, which sends
 * nothing outside the windows. 0, or an error reading which clinics have
 * due jobs. */
static int hold_outside_windows(struct reminders_ctx *ctx, PGconn *conn, int64_t now_ms,
                                char *errbuf, size_t errbuf_size)
{
    char now[32], grace[24];
    cf_time_format(now_ms, now);
    snprintf(grace, sizeof(grace), "%ld", ctx->cfg.late_grace_s);
    const char *params[] = {now, grace};
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn,
                        "SELECT DISTINCT network_id, clinic_id FROM reminders.reminder_jobs"
                        " WHERE status = 'pending' AND kind NOT IN " CAMPAIGN_KINDS
                        " AND due_at <= $1::timestamptz"
                        " AND due_at >= $1::timestamptz - make_interval(secs => $2::int)",
                        2, params, &res, errbuf, errbuf_size);
    struct cf_netconf_snapshot *snap = rc == 0 ? cf_netconf_acquire(ctx->svc->netconf) : NULL;
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        const char *network_id = PQgetvalue(res, i, 0), *clinic_id = PQgetvalue(res, i, 1);
        const struct cf_network *net = cf_netconf_network(snap, network_id);
        const struct cf_clinic *clinic = net ? cf_netconf_clinic(net, clinic_id) : NULL;
        struct plan_policy policy;
        if (!clinic) /* the dispatcher skips its sends: no_clinic */
            continue;
        if (plan_policy_build(json_object_get(net->doc, "reminder_policies"),
                              clinic->tz ? clinic->tz : net->tz, clinic->doc, &policy, errbuf,
                              errbuf_size) != 0) {
            cf_warn("scheduler: clinic %s: its windows unread, its jobs go: %s", clinic_id, errbuf);
            continue;
        }
        int64_t next_ms = 0;
        const int where = plan_window_now(&policy, now_ms, &next_ms);
        plan_policy_free(&policy);
        if (where == 0)
            continue;
        char next[32];
        if (where == 1)
            cf_time_format(next_ms, next);
        if (hold_clinic(conn, network_id, clinic_id, now, grace, where == 1 ? next : NULL, errbuf,
                        errbuf_size) < 0)
            cf_warn("scheduler: clinic %s: due jobs outside its windows not held: %s", clinic_id,
                    errbuf);
    }
    if (snap)
        cf_netconf_release(snap);
    PQclear(res);
    return rc;
}

/* The hour's count of a clinic's released campaign contacts (*released),
 * its row locked until the caller's transaction ends: an instance taking
 * the clinic's campaign jobs waits here for one that is. */
static int pace_lock(PGconn *conn, const char *network_id, const char *clinic_id, const char *hour,
                     int *released, char *errbuf, size_t errbuf_size)
{
    const char *params[] = {network_id, clinic_id, hour};
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn,
                        "INSERT INTO reminders.campaign_pace (network_id, clinic_id, hour)"
                        " VALUES ($1, $2, $3::timestamptz)"
                        " ON CONFLICT (network_id, clinic_id, hour)"
                        " DO UPDATE SET released = reminders.campaign_pace.released"
                        " RETURNING released",
                        3, params, &res, errbuf, errbuf_size);
    *released = rc == 0 && PQntuples(res) == 1 ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return rc;
}

/* One round of a clinic's due campaign jobs, in a transaction: late or
 * booked-again ones skipped (a campaign is not late by the minute, as a
 * reminder is: taken after the service was down, a recall still goes,
 * and a re-invite while it is as fresh as a new one may be planned; a
 * recall skipped would keep the patient from the next for
 * recall_again_days), as many of the rest as the hour's budget
 * leaves (oldest first, so none waits forever behind newer ones) emitted,
 * the others made due at the next hour's window moment. p is NULL for a
 * clinic the configuration no longer has: its jobs are skipped
 * ("no_clinic", as the dispatcher would). Returns how many jobs it took,
 * or an error; *emitted and *deferred say what became of them. */
static int pace_round(PGconn *conn, const char *network_id, const char *clinic_id,
                      const struct plan_policy *p, int64_t now_ms, int *emitted, int *deferred,
                      char *errbuf, size_t errbuf_size)
{
    char now[32], hour[32], later[32], fresh[24], limit[16], may_s[16];
    int released = 0, may = 0;
    int64_t later_ms = now_ms;
    PGresult *res = NULL;
    struct cf_outbox *out = cf_outbox_new();

    *emitted = *deferred = 0;
    cf_time_format(now_ms, now);
    cf_time_format(p ? pace_hour(p, now_ms) : now_ms, hour); /* no clinic: none released */
    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0 && p) {
        rc = pace_lock(conn, network_id, clinic_id, hour, &released, errbuf, errbuf_size);
        may = pace_release(p, now_ms, released, &later_ms);
    }
    cf_time_format(later_ms, later);
    snprintf(fresh, sizeof(fresh), "%lld", (long long)(PLAN_REINVITE_FRESH_MS / 1000));
    snprintf(limit, sizeof(limit), "%d", SCHEDULE_BATCH);
    snprintf(may_s, sizeof(may_s), "%d", may);
    const char *params[] = {now,       fresh, limit, network_id,
                            clinic_id, may_s, later, p ? NULL : "no_clinic"};
    if (rc == 0)
        rc = cf_pg_exec(
            conn,
            "WITH due AS (SELECT job_id, created_at, CASE"
            " WHEN $8::text IS NOT NULL THEN $8::text"
            " WHEN kind = 'reinvite' AND due_at < $1::timestamptz"
            " - make_interval(secs => $2::int) THEN 'late'"
            " WHEN EXISTS (SELECT 1 FROM reminders.appointments a"
            " WHERE a.patient_id = j.patient_id AND ((a.status IN ('booked', 'rescheduled')"
            " AND a.starts_at > $1::timestamptz) OR (j.kind = 'reinvite'"
            " AND a.appointment_id <> j.appointment_id AND a.starts_at > j.visit_at"
            " AND a.status IN ('booked', 'rescheduled', 'arrived', 'completed'))"
            /* a recall's patient who came in since it was drawn, or is
             * in the clinic now (a visit begun within the day) */
            " OR (j.kind = 'recall' AND a.starts_at > j.created_at"
            " AND a.status IN ('arrived', 'completed'))"
            " OR (j.kind = 'recall' AND a.status IN ('booked', 'rescheduled', 'arrived')"
            " AND a.starts_at > $1::timestamptz - interval '1 day')))"
            " THEN 'booked_again' END AS skip"
            " FROM reminders.reminder_jobs j WHERE status = 'pending'"
            " AND kind IN " CAMPAIGN_KINDS " AND network_id = $4 AND clinic_id = $5"
            " AND due_at <= $1::timestamptz ORDER BY created_at, job_id LIMIT $3::int"
            " FOR UPDATE SKIP LOCKED),"
            " ranked AS (SELECT job_id, skip, row_number() OVER"
            " (PARTITION BY skip IS NULL ORDER BY created_at, job_id) AS n FROM due)"
            " UPDATE reminders.reminder_jobs j SET"
            " status = CASE WHEN r.skip IS NOT NULL THEN 'skipped'"
            " WHEN r.n <= $6::int THEN 'emitted' ELSE 'pending' END,"
            " reason = r.skip,"
            " due_at = CASE WHEN r.skip IS NULL AND r.n > $6::int THEN $7::timestamptz"
            " ELSE j.due_at END,"
            " late_from = CASE WHEN r.skip IS NULL AND r.n > $6::int THEN NULL"
            " ELSE j.late_from END,"
            " updated_at = now() FROM ranked r WHERE j.job_id = r.job_id"
            " RETURNING j.status, " JOB_JSON,
            8, params, &res, errbuf, errbuf_size);
    const int n = rc == 0 ? PQntuples(res) : 0;
    *emitted = stage_commands(res, n, now_ms, out);
    for (int i = 0; i < n; i++)
        *deferred += strcmp(PQgetvalue(res, i, 0), "pending") == 0;
    PQclear(res);
    if (rc == 0 && *emitted > 0) {
        char count[16];
        snprintf(count, sizeof(count), "%d", *emitted);
        const char *pace[] = {network_id, clinic_id, hour, count};
        rc = cf_pg_exec(conn,
                        "UPDATE reminders.campaign_pace SET released = released + $4::int"
                        " WHERE network_id = $1 AND clinic_id = $2 AND hour = $3::timestamptz",
                        4, pace, NULL, errbuf, errbuf_size);
    }
    rc = cf_outbox_stage_commit(conn, "reminders", out, rc, errbuf, errbuf_size);
    if (rc < 0)
        return rc;
    cf_metrics_add("clinicflow_reminders_jobs_total", "result=\"emitted\"", *emitted);
    cf_metrics_add("clinicflow_reminders_jobs_total", "result=\"deferred\"", *deferred);
    cf_metrics_add("clinicflow_reminders_jobs_total", "result=\"skipped_late\"",
                   n - *emitted - *deferred);
    return n;
}

/* Every clinic's due campaign jobs, at its pace: 1 when any command was
 * staged, 0, or an error. */
static int pace_campaigns(struct reminders_ctx *ctx, PGconn *conn, char *errbuf, size_t errbuf_size)
{
    char now[32];
    const int64_t now_ms = cf_time_now_ms();
    cf_time_format(now_ms, now);
    const char *params[] = {now};
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn,
                        "SELECT DISTINCT network_id, clinic_id FROM reminders.reminder_jobs"
                        " WHERE status = 'pending' AND kind IN " CAMPAIGN_KINDS
                        " AND due_at <= $1::timestamptz",
                        1, params, &res, errbuf, errbuf_size);
    if (rc != 0) {
        PQclear(res);
        return rc;
    }
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    int any = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        const char *network_id = PQgetvalue(res, i, 0), *clinic_id = PQgetvalue(res, i, 1);
        const struct cf_network *net = cf_netconf_network(snap, network_id);
        const struct cf_clinic *clinic = net ? cf_netconf_clinic(net, clinic_id) : NULL;
        struct plan_policy policy;
        if (clinic && plan_policy_build(json_object_get(net->doc, "reminder_policies"),
                                        clinic->tz ? clinic->tz : net->tz, clinic->doc, &policy,
                                        errbuf, errbuf_size) != 0) {
            cf_warn("scheduler: clinic %s: campaign jobs wait: %s", clinic_id, errbuf);
            continue;
        }
        int n, emitted, deferred;
        while ((n = pace_round(conn, network_id, clinic_id, clinic ? &policy : NULL, now_ms,
                               &emitted, &deferred, errbuf, errbuf_size)) > 0) {
            any |= emitted > 0;
            if (n < SCHEDULE_BATCH || cf_service_sleep(ctx->svc, 0))
                break;
        }
        if (clinic)
            plan_policy_free(&policy);
        if (n < 0)
            rc = n;
    }
    cf_netconf_release(snap);
    PQclear(res);
    return rc < 0 ? rc : any;
}

void reminders_scheduler(void *vctx)
{
    struct reminders_ctx *ctx = vctx;
    char errbuf[256];

    cf_metrics_describe("clinicflow_reminders_jobs_total", "counter",
                        "due reminder jobs the scheduler took, by result: emitted as a command, "
                        "skipped_late (its visit begun, past the late grace, or a campaign's "
                        "patient booked again), deferred (a campaign contact over its "
                        "clinic's hourly pace, due again the next hour), held (taken while "
                        "its clinic's calling windows were closed, due again when the next "
                        "opens), skipped_same_time (held, but another of its visit's "
                        "reminders goes by then), or gateway_unreachable (the dispatcher "
                        "could not reach its clinic's gateway: due again 30 s later)");
    while (!cf_service_sleep(ctx->svc, ctx->cfg.scheduler_every_ms)) {
        PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_debug("scheduler: %s", errbuf);
            continue;
        }
        int n, emitted = 0, any = 0;
        const int64_t now_ms = cf_time_now_ms();
        /* what can wait for the windows is not taken while they are closed */
        if (hold_outside_windows(ctx, conn, now_ms, errbuf, sizeof(errbuf)) < 0)
            cf_warn("scheduler: due jobs outside the windows not held: %s", errbuf);
        while ((n = schedule_round(ctx, conn, now_ms, &emitted, errbuf, sizeof(errbuf))) > 0) {
            any |= emitted > 0;
            if (n < SCHEDULE_BATCH || cf_service_sleep(ctx->svc, 0))
                break;
        }
        if (n < 0)
            cf_warn("scheduler: due jobs not taken: %s", errbuf);
        else if ((n = pace_campaigns(ctx, conn, errbuf, sizeof(errbuf))) < 0)
            cf_warn("scheduler: due campaign jobs not taken: %s", errbuf);
        else
            any |= n;
        cf_pg_pool_release(ctx->svc->pg, conn);
        if (any)
            reminders_relay_kick(ctx);
    }
}
