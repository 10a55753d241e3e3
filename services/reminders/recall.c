/*
 * Recall: a worker (any number of instances run it; one at a time works a
 * clinic, under an advisory lock) that asks back the patients of clinics
 * whose policy has recall on. A patient is due when a service category's
 * latest completed visit is that category's months ago
 * (recall_months_by_category, recall_months[0] (6) for the others), or the
 * doctor-set recall_at has come (recall_rules.c); with no future booking
 * and not asked in the last recall_again_days (60). The store pre-selects
 * by the shortest threshold, the rule decides. Each gets a recall job (an
 * SMS, the recall template, due at the next calling-window moment) unless
 * drawn into the holdout group (stored skipped, "holdout"); every one goes
 * out as clinicflow.campaign.member, with the jobs in one transaction.
 * Neither names the category: what a patient was treated for stays out of
 * messages and events.
 *
 * A round enrols no more targets than the clinic's front desk takes in an
 * hour less the campaign jobs already waiting (pace_rules.c): the
 * scheduler releases them at that pace anyway, and a patient enrolled
 * weeks before the contact would make the campaign's due times untrue and
 * be enrolled again after recall_again_days. The others stay due and are
 * enrolled in later rounds.
 *
 * The answer: 1 opens a front-desk task to book (reason recall); 2 ends
 * it, and the patient is asked again after recall_again_days; a stop word
 * opts the number out of SMS for good.
 */
#include "pace_testable.h"
#include "plan.h"
#include "plan_testable.h"
#include "recall.h"
#include "recall_testable.h"
#include "reminders.h"

#include <string.h>

#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/netconf.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/topics.h"

#define RECALL_BATCH 500 /* members a clinic a round */
#define RECALL_PAGE 500  /* candidates read at a time */
#define NIL_UUID "00000000-0000-0000-0000-000000000000"
#define RECALL "recall"

/* The due patients among candidates (recall_store_candidates' array) as
 * jobs and members, held-out ones included, until *targets reaches room or
 * the members RECALL_BATCH. 1 when it stopped for that, else 0. */
static int recall_pick(const struct plan_policy *p, const json_t *candidates, int64_t now_ms,
                       int64_t due_ms, int room, int *targets, json_t *jobs, json_t *members)
{
    size_t i;
    json_t *j_candidate;
    json_array_foreach(candidates, i, j_candidate)
    {
        int64_t recall_ms;
        if (recall_due(p, j_candidate, &recall_ms) != 0 || recall_ms > now_ms)
            continue;
        const char *patient_id = json_string_value(json_object_get(j_candidate, "patient_id"));
        if (!patient_id)
            continue;
        const int held = plan_holdout(RECALL, patient_id, p->holdout_percent);
        if (!held && *targets >= room)
            return 1;
        char job_id[CF_UUID_STR_LEN + 1];
        plan_recall_id(patient_id, p->recall_again_days, now_ms, job_id);
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:s*}", "job_id", job_id, "patient_id", patient_id, "status",
                      held ? "skipped" : "pending", "reason", held ? "holdout" : NULL);
        cf_time_json_set(j, "due_at", due_ms);
        json_array_append_new(jobs, j);
        json_object_set_new(members, job_id,
                            json_pack("{s:s, s:b}", "patient_id", patient_id, "held", held));
        *targets += !held;
        if (json_array_size(jobs) >= RECALL_BATCH)
            return 1;
    }
    return 0;
}

/* One clinic's round in a transaction of its own: how many patients were
 * made members, or an error. */
static int recall_clinic(PGconn *conn, const struct cf_network *net, const struct cf_clinic *clinic,
                         const struct plan_policy *p, int64_t now_ms, char *errbuf,
                         size_t errbuf_size)
{
    json_t *candidates = NULL, *jobs = json_array(), *inserted = NULL, *members = json_object();
    struct cf_outbox *out = cf_outbox_new();
    char after[CF_UUID_STR_LEN + 1] = NIL_UUID;
    int64_t due_ms;
    int n = 0, pending = 0, targets = 0;

    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0 && cf_time_next_allowed(&p->windows, now_ms, &due_ms) != 0)
        goto out; /* no window ahead: nobody could be contacted */
    if (rc == 0 && (rc = recall_store_lock(conn, net->id, clinic->id, errbuf, errbuf_size)) == 1)
        rc = recall_store_pending(conn, net->id, clinic->id, due_ms, &pending, errbuf, errbuf_size);
    else if (rc == 0) /* another instance has this clinic now */
        goto out;
    const int room = pace_enrol(p, pending);
    if (rc != 0 || room == 0)
        goto out;
    for (;;) {
        json_decref(candidates);
        if ((rc = recall_store_candidates(conn, net->id, clinic->id, now_ms, recall_min_months(p),
                                          p->recall_again_days, after, RECALL_PAGE, &candidates,
                                          errbuf, errbuf_size)) != 0)
            goto out;
        const size_t got = json_array_size(candidates);
        if (recall_pick(p, candidates, now_ms, due_ms, room, &targets, jobs, members) ||
            got < RECALL_PAGE)
            break;
        snprintf(
            after, sizeof(after), "%s",
            json_string_value(json_object_get(json_array_get(candidates, got - 1), "patient_id")));
    }
    if (json_array_size(jobs) == 0)
        goto out;

    size_t i;
    json_t *j_id;
    if ((rc = recall_store_jobs(conn, net->id, clinic->id, jobs, &inserted, errbuf, errbuf_size)) !=
        0)
        goto out;
    json_array_foreach(inserted, i, j_id)
    {
        const json_t *m = json_object_get(members, json_string_value(j_id));
        const char *patient_id = json_string_value(json_object_get(m, "patient_id"));
        const int held = json_is_true(json_object_get(m, "held"));
        const struct plan_member member = {.campaign = RECALL,
                                           .job_id = json_string_value(j_id),
                                           .patient_id = patient_id,
                                           .clinic_id = clinic->id,
                                           .network_id = net->id,
                                           .held = held,
                                           .holdout_percent = p->holdout_percent,
                                           .missed_ms = -1,
                                           .due_ms = due_ms};
        plan_member_event(out, &member, now_ms);
        n++;
    }
out:
    rc = cf_outbox_stage_commit(conn, "reminders", out, rc < 0 ? rc : 0, errbuf, errbuf_size);
    json_decref(candidates);
    json_decref(jobs);
    json_decref(inserted);
    json_decref(members);
    return rc < 0 ? rc : n;
}

void reminders_recall(void *vctx)
{
    struct reminders_ctx *ctx = vctx;
    char errbuf[256];

    cf_metrics_describe("clinicflow_reminders_recall_members_total", "counter",
                        "patients made members of a recall (target or holdout)");
    cf_metrics_describe("clinicflow_reminders_recall_rounds_total", "counter",
                        "looks of this instance's recall over every clinic");
    while (!cf_service_sleep(ctx->svc, ctx->cfg.recall_every_ms)) {
        PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, sizeof(errbuf));
        if (!conn) {
            cf_debug("recall: %s", errbuf);
            continue;
        }
        struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
        int any = 0;
        for (size_t k = 0; k < snap->nnetworks; k++) {
            const struct cf_network *net = &snap->networks[k];
            for (size_t c = 0; c < net->nclinics; c++) {
                const struct cf_clinic *clinic = &net->clinics[c];
                struct plan_policy p;
                if (plan_policy_build(json_object_get(net->doc, "reminder_policies"),
                                      clinic->tz ? clinic->tz : net->tz, clinic->doc, &p, errbuf,
                                      sizeof(errbuf)) != 0)
                    continue;
                int n = p.recall ? recall_clinic(conn, net, clinic, &p, cf_time_now_ms(), errbuf,
                                                 sizeof(errbuf))
                                 : 0;
                plan_policy_free(&p);
                if (n < 0)
                    cf_warn("recall: clinic %s: %s", clinic->id, errbuf);
                else if (n > 0) {
                    any = 1;
                    cf_metrics_add("clinicflow_reminders_recall_members_total", NULL, n);
                }
            }
        }
        cf_netconf_release(snap);
        cf_pg_pool_release(ctx->svc->pg, conn);
        if (any)
            reminders_relay_kick(ctx);
        cf_metrics_add("clinicflow_reminders_recall_rounds_total", NULL, 1);
    }
}
