/*
 * The dispatcher: a consumer of clinicflow.reminders.commands.v1 (any
 * number of instances share its partitions) that sends each command
 * through its clinic's gateway channel, once. Right before the send it
 * reads the patient's record and checks what may hold the send back: no
 * phone, no consent for the channel (calls for a robot call, SMS for an
 * SMS; a campaign's, marketing too), the number opted out of it, or (duplicate suppression) another
 * reminder's message on that channel within the policy's duplicate_hours
 * (never for the reminder of a visit within a day: it always goes), or
 * the clinic's calling windows closed since the command was emitted. A
 * send held back is skipped with its reason, and the ladder moves on. A command
 * the job has moved past while it waited on the topic (the patient's key
 * came late and answered the call the retry was for; the visit was moved
 * or cancelled) is skipped as superseded, and moves nothing.
 *
 * The text is the clinic's template for the patient's language and the
 * channel (message_rules.c; a campaign's own), rendered in the clinic's
 * zone; an SMS's segments and cost at the clinic's price are kept with
 * its mark, and told by its first outcome that says it went (outcome.c).
 * A survey's SMS opens its survey first (nps.h) and carries its
 * link.
 *
 * Once, across crashes: each send has an id (UUIDv5 over the job and the
 * attempt) and a row in reminders.sends, written on a connection of its
 * own, outside the runner's transaction, so what a send did survives a
 * batch rolled back and retried. The row says "sending" (committed) before
 * the request leaves and its end right after the answer. A command found
 * with its send still "sending" was taken by a process that died between
 * the two: the request may have reached the gateway, and a webhook gateway
 * keeps no record we can ask, so the send becomes "unknown" (counted) and
 * is never made again blindly. A gateway that cannot be reached takes the
 * mark back, and the job is due again DISPATCH_GATEWAY_DOWN_RETRY_MS later
 * (the scheduler emits it again, under its window and lateness rules):
 * the command is consumed, so one clinic's gateway down holds up no other
 * clinic's commands that share its batch. So is a send resumed after a
 * crash whose gateway's record cannot be read now, for an hour at most
 * (DISPATCH_LOOKUP_GIVE_UP_MS; then it is "unknown").
 *
 * What the dispatcher knows of the outcome itself (skipped, failed,
 * unknown, an SMS handed over) is applied in the runner's transaction
 * (outcome.c); a command read again after its send ended applies it again,
 * which changes nothing the second time.
 */
#include "dispatch.h"
#include "gateway.h"
#include "gateway_testable.h"
#include "message_testable.h"
#include "nps.h"
#include "outcome.h"
#include "reminders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/netconf.h"
#include "common/pg.h"
#include "common/time.h"

/* The reminder of a visit this near always goes (no duplicate
 * suppression). */
#define DISPATCH_ALWAYS_WITHIN_MS (24 * 3600000LL)
/* A job whose gateway could not be reached is due again this much later. */
#define DISPATCH_GATEWAY_DOWN_RETRY_MS (30 * 1000LL)
/* A send resumed after a crash whose gateway's record cannot be read (its
 * API down, a token rotated) is asked again later, as a gateway down is;
 * once its mark is this old, nobody will tell, and it ends "unknown". */
#define DISPATCH_LOOKUP_GIVE_UP_MS (3600 * 1000LL)

/* The jobs the runner thread's current batch put off ("job/attempt" ->
 * true; NULL: none), counted by reminders_dispatch_batch_done once the
 * batch commits: counted at once, a take the batch's rollback undid
 * would count, and count again when the batch is taken again. Each
 * runner thread has its own. */
static __thread json_t *batch_put_offs;

/* The command ev's job, its gateway away (or its record unreadable),
 * due again DISPATCH_GATEWAY_DOWN_RETRY_MS later. */
static int put_off(PGconn *conn, const struct cf_event *ev, const char *job_id, const char *attempt,
                   char *errbuf, size_t errbuf_size)
{
    int moved = 0;
    int rc = send_store_job_later(conn, job_id, attempt, ev->id,
                                  cf_time_now_ms() + DISPATCH_GATEWAY_DOWN_RETRY_MS, &moved, errbuf,
                                  errbuf_size);
    if (rc == 0 && moved) {
        char key[96];
        snprintf(key, sizeof(key), "%s/%s", job_id, attempt);
        if (!batch_put_offs)
            batch_put_offs = json_object();
        json_object_set_new(batch_put_offs, key, json_true());
    }
    return rc;
}

void reminders_dispatch_batch_done(void *vctx, int committed)
{
    (void)vctx;
    if (committed && batch_put_offs)
        cf_metrics_add("clinicflow_reminders_jobs_total", "result=\"gateway_unreachable\"",
                       (double)json_object_size(batch_put_offs));
    json_decref(batch_put_offs);
    batch_put_offs = NULL;
}

static void count_send(const char *gateway, const char *status)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "gateway=\"%s\",status=\"%s\"", gateway, status);
    cf_metrics_add("clinicflow_reminders_sends_total", labels, 1);
}

/* The clinic's gateway channel in the snapshot, or NULL. */
static const struct cf_channel *gateway_of(const struct cf_netconf_snapshot *snap,
                                           const char *network_id, const char *clinic_id)
{
    for (size_t i = 0; i < snap->nchannels; i++) {
        const struct cf_channel *ch = &snap->channels[i];
        const char *c = json_string_value(json_object_get(ch->doc, "clinic_id"));
        if (strcmp(ch->kind, "gateway") == 0 && strcmp(ch->network_id, network_id) == 0 && c &&
            strcmp(c, clinic_id) == 0)
            return ch;
    }
    return NULL;
}

/* What the dispatcher itself knows of a send's outcome once it ended:
 * nothing went out (skipped), the gateway refused it (failed), nobody
 * knows (unknown), an SMS was handed over (sms_sent). A robot call's
 * outcome comes later, from the gateway (hooks.c). NULL: none. */
static const char *own_outcome(const char *status, const char *channel)
{
    if (strcmp(status, "sent") == 0)
        return strcmp(channel, "sms") == 0 ? "sms_sent" : NULL;
    return status; /* skipped, failed, unknown */
}

/* 1 when another of the visit's reminders has the patient's answer
 * already: the send is skipped as answered before anything else would hold
 * it back (a consent withdrawn since, a command late or outside its
 * window), so the ladder ends quietly instead of going on to "not
 * confirmed" and a task for a visit the patient confirmed. */
static int answered_already(const json_t *cmd, const struct send_view *view)
{
    const char *kind = json_string_value(json_object_get(cmd, "kind"));
    return kind && strcmp(kind, "reminder") == 0 && ladder_answered(view->reminder_status);
}

/* Why a send may not go to the patient's phone now (view: what was read
 * for it), into *why (NULL: it may); 0, or the database's error. */
static int held_back(PGconn *mc, const struct plan_policy *policy, const struct send_view *view,
                     const json_t *cmd, const char *channel, int64_t now_ms, const char **why,
                     char *errbuf, size_t errbuf_size)
{
    *why = NULL;
    if (view->opted_out) {
        *why = "opted_out";
        return 0;
    }
    const char *kind = json_string_value(json_object_get(cmd, "kind"));
    const int64_t ahead_ms = cf_time_json_get(cmd, "visit_at") - now_ms;
    if ((kind && strcmp(kind, "reminder") == 0 && ahead_ms <= DISPATCH_ALWAYS_WITHIN_MS) ||
        policy->duplicate_ms <= 0)
        return 0;
    int rc = send_store_recent(mc, json_string_value(json_object_get(cmd, "patient_id")), channel,
                               json_string_value(json_object_get(cmd, "job_id")),
                               now_ms - policy->duplicate_ms, errbuf, errbuf_size);
    if (rc == 1)
        *why = "duplicate";
    return rc == 1 ? 0 : rc;
}

/* The send's text: the clinic's template for the patient's language and
 * the channel (a re-invite's own), with the visit's details; a built-in
 * one asks for no reply the gateway ch cannot bring back. A new string. */
static char *message_text(const struct cf_network *net, const struct cf_clinic *clinic,
                          const struct cf_channel *ch, const json_t *patient,
                          const json_t *appointment, const char *kind, const char *channel,
                          int64_t visit_ms, const char *link)
{
    const char *lang = json_string_value(json_object_get(patient, "language"));
    const char *tmpl = msg_template_pick(json_object_get(net->doc, "reminder_policies"),
                                         json_object_get(clinic->doc, "reminder_policy"), lang,
                                         kind && strcmp(kind, "reminder") != 0 ? kind : channel,
                                         gateway_takes_replies(ch));
    const struct msg_values v = {
        .first_name = json_string_value(json_object_get(patient, "first_name")),
        .doctor = json_string_value(json_object_get(appointment, "doctor_name")),
        .clinic = clinic->name,
        .address = json_string_value(json_object_get(clinic->doc, "address")),
        .tz = clinic->tz ? clinic->tz : net->tz,
        .visit_ms = visit_ms,
        .language = lang,
        .link = link,
    };
    return msg_render(tmpl, &v);
}

int reminders_dispatch_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                             const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                             size_t errbuf_size)
{
    struct reminders_ctx *ctx = vctx;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    struct send_view view = {0};
    const struct send_state *have = &view.have;
    struct plan_policy policy;
    struct gateway_result res = {0};
    struct send_cost cost = {0};
    int have_policy = 0;
    PGconn *mc = NULL;
    char send_id[CF_UUID_STR_LEN + 1], attempt[16];
    char *text = NULL;
    const char *status = NULL, *reason = NULL, *gateway = "none", *phone = NULL;
    int rc = 0;
    (void)rkm;

    if (!ev || strcmp(ev->type, "clinicflow.reminder.command") != 0)
        goto out;
    const json_t *cmd = ev->data;
    const char *job_id = json_string_value(json_object_get(cmd, "job_id"));
    const char *patient_id = json_string_value(json_object_get(cmd, "patient_id"));
    const char *clinic_id = json_string_value(json_object_get(cmd, "clinic_id"));
    const char *appointment_id = json_string_value(json_object_get(cmd, "appointment_id"));
    const char *channel = json_string_value(json_object_get(cmd, "channel"));
    const struct cf_network *net = cf_netconf_network(snap, ev->networkid);
    if (!job_id || !patient_id || !clinic_id || !cf_uuid_valid(patient_id) ||
        (appointment_id && !cf_uuid_valid(appointment_id)) || !channel ||
        (strcmp(channel, "call") != 0 && strcmp(channel, "sms") != 0)) {
        snprintf(errbuf, errbuf_size, "command without job_id, patient_id, clinic_id or channel");
        rc = CF_EINVAL;
        goto out;
    }
    snprintf(attempt, sizeof(attempt), "%lld",
             (long long)json_integer_value(json_object_get(cmd, "attempt")));
    const char *parts[] = {job_id, "send", attempt};
    cf_uuid5(parts, 3, send_id);

    if (!(mc = cf_pg_pool_acquire(ctx->svc->pg, errbuf, errbuf_size))) {
        rc = CF_EUNAVAIL;
        goto out;
    }
    if ((rc = send_store_view(mc, send_id, ev->networkid, patient_id, appointment_id, channel,
                              job_id, attempt, &view, errbuf, errbuf_size)) != 0)
        goto out;
    /* a copy of a command whose job waits at its attempt again (put off,
     * or planned anew: a relay's duplicate, a partition read again from
     * before a commit): the scheduler's next command, of this id, is the
     * one to send; the copy changes nothing and is forgotten as applied,
     * as a put-off forgets the first. Asked first: whatever the send's
     * row says (a mark a put-off kept, for its record to be read again),
     * the job's next command decides. */
    if (view.job_put_off) {
        rc = send_store_forget_command(conn, ev->id, errbuf, errbuf_size);
        goto out;
    }
    /* its process died mid-send: the request may have reached the
     * gateway; only one that keeps a record we can ask is asked */
    const int resumed = strcmp(have->status, "sending") == 0;
    if (resumed && cf_time_now_ms() - have->marked_ms < 2 * ctx->cfg.gateway_timeout_ms) {
        /* a mark younger than a gateway's whole exchange may be another
         * dispatcher's send in flight (this command's partition moved to
         * this instance while the other's batch ran): not a crash yet */
        snprintf(errbuf, errbuf_size, "send %s is being made (marked %lld ms ago)", send_id,
                 (long long)(cf_time_now_ms() - have->marked_ms));
        rc = CF_EWAIT;
        goto out;
    }
    const struct cf_channel *ch = gateway_of(snap, ev->networkid, clinic_id);
    if (resumed &&
        (!ch || strcmp(ch->provider, have->gateway) != 0 || strcmp(ch->provider, "twilio") != 0)) {
        status = "unknown";
        reason = "crashed_mid_send";
        gateway = have->gateway;
        goto finish;
    }
    /* the clinic's policy: its windows, price and currency */
    const struct cf_clinic *clinic = net ? cf_netconf_clinic(net, clinic_id) : NULL;
    char policy_err[128];
    have_policy = clinic && plan_policy_build(json_object_get(net->doc, "reminder_policies"),
                                              clinic->tz ? clinic->tz : net->tz, clinic->doc,
                                              &policy, policy_err, sizeof(policy_err)) == 0;
    if (have->status[0] && !resumed) { /* ended already: a command read again, its
                             outcome perhaps not committed */
        status = have->status;
        reason = have->reason[0] ? have->reason : NULL;
        goto outcome;
    }

    /* the job moved on while its command was on the way: the patient's
     * key came late and answered it, or the visit was moved or cancelled */
    if (!view.job_live) {
        status = "skipped";
        reason = "superseded";
        goto finish;
    }
    if (!have_policy) {
        status = "skipped";
        reason = "no_clinic";
        goto finish;
    }
    if (!view.patient) { /* none, erased, or a record that is not JSON */
        status = "skipped";
        reason = "no_patient";
        goto finish;
    }
    if (answered_already(cmd, &view)) {
        status = "skipped";
        reason = "answered";
        goto finish;
    }
    if ((reason = gw_may_send(view.patient, json_string_value(json_object_get(cmd, "kind")),
                              channel, &phone))) {
        status = "skipped";
        goto finish;
    }
    /* a command that waited past its time (the gateway down, a backlog),
     * or past its window's close (the ladder places its next rung in the
     * windows), is not sent; a send resumed after a crash may have gone,
     * and its lookup decides first */
    int64_t opens_ms;
    const char *untimely = plan_send_too_late(
        json_string_value(json_object_get(cmd, "kind")), cf_time_json_get(cmd, "due_at"),
        cf_time_json_get(cmd, "visit_at"), cf_time_now_ms(), ctx->cfg.late_grace_s);
    if (!untimely && plan_window_now(&policy, cf_time_now_ms(), &opens_ms) != 0)
        untimely = "outside_window";
    if (!resumed && untimely) {
        status = "skipped";
        reason = untimely;
        goto finish;
    }
    if ((rc = held_back(mc, &policy, &view, cmd, channel, cf_time_now_ms(), &reason, errbuf,
                        errbuf_size)) != 0)
        goto out;
    if (reason) {
        status = "skipped";
        goto finish;
    }
    if (!ch) {
        status = "skipped";
        reason = "no_gateway";
        goto finish;
    }
    gateway = ch->provider;
    if (!gateway_can(ch, channel)) { /* the ladder goes on to the SMS */
        status = "skipped";
        reason = "gateway_cannot_call";
        goto finish;
    }
    const char *lang = json_string_value(json_object_get(view.patient, "language"));
    const char *kind = json_string_value(json_object_get(cmd, "kind"));
    char link[512] = "";
    if (kind && strcmp(kind, "nps") == 0) { /* the survey opens as its SMS goes */
        char token[NPS_TOKEN_LEN + 1];
        if (!ctx->cfg.public_base_url || !*ctx->cfg.public_base_url) {
            status = "skipped";
            reason = "no_public_url";
            goto finish;
        }
        nps_token(net->secret, job_id, token);
        snprintf(link, sizeof(link), "%.*s/nps/%s",
                 cf_config_base_url_len(ctx->cfg.public_base_url), ctx->cfg.public_base_url, token);
        if ((rc = nps_store_open(mc, token, net->id, cmd,
                                 json_string_value(json_object_get(view.appointment, "doctor_id")),
                                 lang, cf_time_now_ms() + NPS_TTL_MS, errbuf, errbuf_size)) != 0)
            goto out;
    }
    text = message_text(net, clinic, ch, view.patient, view.appointment, kind, channel,
                        cf_time_json_get(cmd, "visit_at"), link);
    if (strcmp(channel, "sms") == 0) {
        struct msg_segments seg = {0};
        msg_sms_segments(text, &seg);
        cost.segments = (int)seg.segments;
        cost.cost_minor = msg_sms_cost_minor(seg.segments, policy.sms_price);
        cost.currency = policy.currency;
    }
    json_t *contact = json_pack("{s:s, s:O?, s:s?}", "phone", phone, "first_name",
                                json_object_get(view.patient, "first_name"), "language", lang);
    /* strings copied: the configuration's values are shared by every thread */
    json_t *j_clinic =
        json_pack("{s:s, s:s?, s:s?}", "id", clinic_id, "name", clinic->name, "address",
                  json_string_value(json_object_get(clinic->doc, "address")));
    const struct gateway_message m = {
        .send_id = send_id,
        .command = cmd,
        .channel = channel,
        .phone = phone,
        .language = lang,
        .text = text,
        .contact = contact,
        .clinic = j_clinic,
    };
    if (resumed) { /* sent already, surely not (send it), or nobody can tell */
        const int found =
            gateway_lookup(ctx, ch, &m, have->marked_ms - 1000, &res, errbuf, errbuf_size);
        if (found == 1) {
            status = "sent";
            reason = res.reason;
        } else if (found == CF_ENOTFOUND) {
            status = "unknown";
            reason = "crashed_mid_send";
        } else if (found == 0 && untimely) { /* surely not sent, and too late now */
            status = "skipped";
            reason = untimely;
        } else if (found < 0 && cf_time_now_ms() - have->marked_ms > DISPATCH_LOOKUP_GIVE_UP_MS) {
            cf_warn("dispatch: %s's record of send %s not read for an hour, given up: %s", ch->id,
                    send_id, errbuf);
            status = "unknown";
            reason = "crashed_mid_send";
        } else if (found < 0) {
            /* the job asks again later; the batch, and the other clinics'
             * commands in it, go on */
            cf_warn("dispatch: %s's record of send %s not read (asked again later): %s", ch->id,
                    send_id, errbuf);
            rc = put_off(conn, ev, job_id, attempt, errbuf, errbuf_size);
            json_decref(contact);
            json_decref(j_clinic);
            goto out;
        }
    }
    if (rc == 0 && !status) {
        int marked = 0;
        rc = send_store_mark_sending(mc, send_id, cmd, gateway, phone, &cost, &marked, errbuf,
                                     errbuf_size);
        if (rc == 0 && !marked && !resumed) {
            /* another dispatcher marked it since this one looked: its send */
            snprintf(errbuf, errbuf_size, "send %s was marked by another dispatcher", send_id);
            rc = CF_EWAIT;
        }
        if (rc == 0)
            rc = gateway_send(ctx, ch, &m, &res, errbuf, errbuf_size);
    }
    json_decref(contact);
    json_decref(j_clinic);
    if (status) /* the gateway's record decided */
        goto finish;
    if (rc == CF_EWAIT)
        goto out;
    if (rc == CF_EUNAVAIL || rc == CF_EINVAL) { /* nothing went out */
        char ignored[128];
        cf_warn("dispatch: gateway %s of clinic %s: %s", ch->id, clinic_id, errbuf);
        if (send_store_unmark(mc, send_id, ignored, sizeof(ignored)) != 0) {
            rc = CF_EUNAVAIL; /* the mark stays: read again, the send is unknown */
            goto out;
        }
        if (rc == CF_EUNAVAIL) {
            /* The job waits for the gateway, not the batch: its command is
             * consumed and the job is due again a little later, so the
             * other clinics' commands of the batch go now. */
            rc = put_off(conn, ev, job_id, attempt, errbuf, errbuf_size);
            goto out;
        }
        status = "failed";
        reason = "gateway_unusable";
    } else if (rc != 0) {
        goto out;
    } else {
        status = res.status;
        reason = res.reason;
    }
finish:;
    int reported = 0;
    rc = send_store_finish(mc, send_id, cmd, status, reason, res.http_status, phone,
                           res.provider_ref[0] ? res.provider_ref : NULL, &cost, &reported, errbuf,
                           errbuf_size);
    if (rc != 0)
        goto out;
    count_send(gateway, reported ? "sent" : status);
    if (reported) /* the gateway's report, applied already, decides */
        goto out;
outcome:;
    /* the ladder's step from what the dispatcher saw, with the command */
    const char *outcome = own_outcome(status, channel);
    if (outcome) {
        const struct reminders_outcome o = {
            .send_id = send_id,
            .outcome = outcome,
            .reason = reason,
            .provider_ref = res.provider_ref[0] ? res.provider_ref : NULL,
            .duration_s = -1,
        };
        int applied = 0, misfit = 0; /* none: its own outcomes fit (own_outcome) */
        rc = reminders_outcome_apply(conn, snap, NULL, &o, cf_time_now_ms(), out, &applied, &misfit,
                                     errbuf, errbuf_size);
    }
out:
    free(text);
    send_view_clear(&view);
    if (have_policy)
        plan_policy_free(&policy);
    cf_netconf_release(snap);
    if (mc)
        cf_pg_pool_release(ctx->svc->pg, mc);
    return rc;
}
