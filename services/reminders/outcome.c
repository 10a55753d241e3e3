/*
 * A send's outcome applied (outcome.h). The ladder moves only from its
 * latest rung: an outcome of an earlier attempt (a status callback that
 * came late), of a job already done, or of a visit moved or cancelled
 * since, is recorded and told, and decides nothing. The one exception is
 * a robot call's key that comes after the same call's end said nobody
 * pressed one: the patient's answer wins (ladder_take, ladder_rules.c).
 * An opt-out counts whenever it comes. A front-desk task an outcome opens
 * is kept (reminders.tasks, ids and times); the patient's answer after the
 * ladder gave up on them closes its not_confirmed task.
 */
#include "outcome.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/topics.h"

static const char *str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

/* The ladder's step for row, into next: 0, or CF_EINVAL (no such clinic
 * or policy: nothing moves). */
static int step(const struct cf_network *net, const json_t *row, const struct reminders_outcome *o,
                int64_t now_ms, struct ladder_next *next, int64_t *task_due, char *errbuf,
                size_t errbuf_size)
{
    const struct cf_clinic *clinic = net ? cf_netconf_clinic(net, str(row, "clinic_id")) : NULL;
    if (!clinic) {
        snprintf(errbuf, errbuf_size, "clinic %s is not configured", str(row, "clinic_id"));
        return CF_EINVAL;
    }
    const char *tz = clinic->tz ? clinic->tz : net->tz;
    struct plan_policy policy;
    int rc = plan_policy_build(json_object_get(net->doc, "reminder_policies"), tz, clinic->doc,
                               &policy, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    const int64_t visit_ms = json_integer_value(json_object_get(row, "visit_at"));
    const char *kind = str(row, "kind");
    if (ladder_ends_quietly(o->outcome, o->reason)) {
        memset(next, 0, sizeof(*next));
        plan_policy_free(&policy);
        return 0;
    }
    rc = kind && strcmp(kind, "reminder") != 0
             ? ladder_campaign_after(kind, o->outcome, next)
             : ladder_after(&policy, str(row, "channel"),
                            (int)json_integer_value(json_object_get(row, "attempt")), o->outcome,
                            now_ms, visit_ms, next);
    /* the patient erased since the send went (a call ringing when the
     * tombstone came): nothing more is sent to them nor asked of the front
     * desk about them */
    if (rc == 0 && json_is_true(json_object_get(row, "patient_erased")))
        ladder_patient_erased(next);
    if (rc == 0 && next->task)
        *task_due = ladder_task_due(&policy, tz, next->task, now_ms, visit_ms);
    plan_policy_free(&policy);
    return rc;
}

/* Each task of closed (outcome_store_tasks_close's or _close_visits's
 * array) told closed by closed_by at now_ms in out: row, the answering
 * send's, and reason, the tasks' (outcome_store_tasks_close's are of one),
 * or NULL for each task's own (a visit's change). */
static void tell_closed(const struct cf_network *net, const json_t *row, const char *reason,
                        const json_t *closed, const char *closed_by, int64_t now_ms,
                        struct cf_outbox *out)
{
    size_t i;
    json_t *j_t;
    json_array_foreach(closed, i, j_t)
    {
        struct cf_event ev = {0};
        outcome_task_closed_event(&ev, row ? row : j_t, net, str(j_t, "job_id"), str(j_t, "phone"),
                                  reason ? reason : str(j_t, "reason"), closed_by,
                                  json_integer_value(json_object_get(j_t, "opened")),
                                  json_integer_value(json_object_get(j_t, "due")), now_ms);
        cf_outbox_add(out, CF_TOPIC_TASKS, ev.subject, &ev);
        cf_event_clear(&ev);
    }
}

/* The patient answered after the ladder gave up on them (a reply to the
 * SMS, a key after the call's end), or answered another reminder of the
 * same visit: the not_confirmed tasks asking the front desk to call them
 * are moot, and close (task.closed). */
static int close_unconfirmed(PGconn *conn, const struct cf_network *net, const json_t *row,
                             int64_t now_ms, struct cf_outbox *out, char *errbuf,
                             size_t errbuf_size)
{
    json_t *closed = NULL;
    int rc = outcome_store_tasks_close(conn, str(row, "job_id"), "not_confirmed", now_ms, &closed,
                                       errbuf, errbuf_size);
    tell_closed(net, row, "not_confirmed", closed, "answer", now_ms, out);
    json_decref(closed);
    return rc;
}

int reminders_close_visit_tasks(PGconn *conn, const struct cf_network *net, const json_t *visits,
                                int64_t now_ms, struct cf_outbox *out, char *errbuf,
                                size_t errbuf_size)
{
    json_t *closed = NULL;
    int rc = outcome_store_tasks_close_visits(conn, visits, now_ms, &closed, errbuf, errbuf_size);
    tell_closed(net, NULL, NULL, closed, "visit", now_ms, out);
    json_decref(closed);
    return rc;
}

int reminders_close_visit_tasks_staged(PGconn *conn, const struct cf_network *net,
                                       const json_t *visits, int64_t now_ms, char *errbuf,
                                       size_t errbuf_size)
{
    struct cf_outbox out = {0};
    int rc = reminders_close_visit_tasks(conn, net, visits, now_ms, &out, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_outbox_stage(conn, "reminders", &out, errbuf, errbuf_size);
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
    return rc;
}

/* Whether outcome says an SMS went: handed over, delivered, failed on the
 * way, answered. */
static int sms_went(const char *outcome)
{
    static const char *const not_gone[] = {"skipped", "failed", "unknown"};
    if (!outcome)
        return 0;
    for (size_t i = 0; i < sizeof(not_gone) / sizeof(not_gone[0]); i++) {
        if (strcmp(outcome, not_gone[i]) == 0)
            return 0;
    }
    return 1;
}

/* Whether o's event tells what the SMS of row's send cost: the first of
 * the send's outcomes that says it went, the dispatcher's or the
 * gateway's, whichever comes first (one recorded before says it was told:
 * cost_told, or an outcome that went recorded by a version that told the
 * cost with its sms_sent). o's cost set to the send's, as its mark kept
 * it, when it tells it. */
static int sms_cost(const json_t *row, struct reminders_outcome *o)
{
    const int segments = (int)json_integer_value(json_object_get(row, "segments"));
    if (strcmp(str(row, "channel"), "sms") != 0 || segments <= 0 || !sms_went(o->outcome) ||
        json_is_true(json_object_get(row, "cost_told")) || sms_went(str(row, "outcome")))
        return 0;
    o->segments = segments;
    o->cost_minor = json_integer_value(json_object_get(row, "cost_minor"));
    o->currency = str(row, "currency");
    return 1;
}

int reminders_outcome_apply(PGconn *conn, const struct cf_netconf_snapshot *snap,
                            const char *clinic_id, const struct reminders_outcome *o,
                            int64_t now_ms, struct cf_outbox *out, int *applied, int *misfit,
                            char *errbuf, size_t errbuf_size)
{
    json_t *row = NULL;
    struct ladder_next next = {0};
    int64_t task_due = 0;
    struct cf_event ev = {0};
    *applied = *misfit = 0;

    int rc = outcome_store_lock(conn, o->send_id, &row, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    if (row && clinic_id && strcmp(str(row, "clinic_id"), clinic_id) != 0) {
        json_decref(row);
        row = NULL;
    }
    if (!row) {
        snprintf(errbuf, errbuf_size, "no send %s", o->send_id);
        return CF_ENOTFOUND;
    }
    if (!ladder_outcome_fits(str(row, "channel"), o->outcome)) {
        snprintf(errbuf, errbuf_size, "outcome: %s is not what a send by %s can have", o->outcome,
                 str(row, "channel") ? str(row, "channel") : "(no channel)");
        json_decref(row);
        *misfit = 1;
        return 0;
    }
    const struct ladder_job job = {
        .current = json_is_true(json_object_get(row, "current")),
        .status = str(row, "job_status"),
        .attempt = (int)json_integer_value(json_object_get(row, "job_attempt")),
        .result = str(row, "job_result"),
    };
    enum ladder_take take =
        ladder_take(str(row, "outcome"), o->outcome,
                    (int)json_integer_value(json_object_get(row, "attempt")), &job);
    if (take == LADDER_MOVE && o->late)
        take = LADDER_TELL;      /* the question it answers was settled since */
    if (take == LADDER_IGNORE) { /* told again, or older news than the send has */
        rc = outcome_store_details(conn, o, errbuf, errbuf_size);
        goto out;
    }
    struct reminders_outcome told = *o;
    /* an outcome after another: its event is told apart from the same
     * outcome told before that other one (confirmed, declined, confirmed) */
    char after[48];
    const json_t *before_us = json_object_get(row, "outcome_at_us");
    if (!told.occurrence && json_is_integer(before_us)) {
        snprintf(after, sizeof(after), "after/%lld", (long long)json_integer_value(before_us));
        told.occurrence = after;
    }
    const int cost_now = sms_cost(row, &told);
    if ((rc = outcome_store_record(conn, &told, cost_now, errbuf, errbuf_size)) != 0)
        goto out;
    *applied = 1;

    const struct cf_network *net = cf_netconf_network(snap, str(row, "network_id"));
    if (step(net, row, o, now_ms, &next, &task_due, errbuf, errbuf_size) != 0) {
        cf_warn("outcome %s of send %s recorded, the ladder not moved: %s", o->outcome, o->send_id,
                errbuf);
        memset(&next, 0, sizeof(next));
    }
    const char *phone = str(row, "phone");
    if (next.opt_out && phone &&
        (rc = outcome_store_opt_out(conn, str(row, "network_id"), phone, next.opt_out, o->outcome,
                                    errbuf, errbuf_size)) != 0)
        goto out;

    if (take != LADDER_MOVE) {
        struct ladder_next none = {.opt_out = next.opt_out};
        next = none;
    } else {
        if ((rc = outcome_store_job(conn, str(row, "job_id"), o->outcome, &next, errbuf,
                                    errbuf_size)) != 0)
            goto out;
        if (next.reminder_status &&
            (rc = outcome_store_reminder_status(conn, str(row, "appointment_id"),
                                                next.reminder_status, errbuf, errbuf_size)) != 0)
            goto out;
        if (next.reminder_status && strcmp(next.reminder_status, "not_confirmed") != 0 &&
            (rc = close_unconfirmed(conn, net, row, now_ms, out, errbuf, errbuf_size)) != 0)
            goto out;
        if (next.task) { /* the event's subject is the task's id */
            outcome_task_event(&ev, row, net, next.task, now_ms, task_due);
            cf_outbox_add(out, CF_TOPIC_TASKS, ev.subject, &ev);
            rc = outcome_store_task_opened(conn, ev.subject, str(row, "job_id"), next.task, now_ms,
                                           task_due, errbuf, errbuf_size);
            cf_event_clear(&ev);
            if (rc != 0)
                goto out;
        }
    }
    outcome_event(&ev, row, &told, &next, now_ms);
    cf_outbox_add(out, CF_TOPIC_REMINDER_OUTCOMES, str(row, "patient_id"), &ev);
    cf_event_clear(&ev);
out:
    json_decref(row);
    return rc;
}
