/*
 * POST /v1/hooks/reminders/{provider}/{channel}: where gateways report what
 * became of a send. The channel (network config, kind "gateway") names the
 * clinic and the credentials; the provider in the path is the report's
 * format:
 * - generic: a webhook gateway's dialer, strict JSON signed with the
 *   channel's secret (gateway_webhook.c);
 * - twilio: call status, <Gather> digits, message status and incoming SMS,
 *   signed by Twilio over the callback URL (common/twilio_sig.h), answered
 *   with TwiML; the URL carries the send id, an incoming SMS is matched to
 *   the last SMS sent to its number, and answers what that SMS asked: a
 *   survey's takes a score (nps_reply_target, nps_rules.c), recorded as
 *   the survey's page records it and thanked for by SMS;
 * - smsru: SMS.ru's delivery statuses, matched by SMS.ru's message id,
 *   checked by the token in the URL, answered "100".
 * Each outcome is applied in a transaction of its own (outcome.c), its
 * events staged in the outbox with it; the answer follows the commit, so
 * a gateway that retries on anything but success loses nothing, and a
 * repeat changes nothing. A report of a send is told again harmlessly (the
 * same outcome of the same send is ignored), but an SMS reply names no
 * send: a copy could find another SMS waiting by then and answer it too.
 * So a reply is taken once by the provider's own id of the message (Twilio's
 * MessageSid), in the transaction that applies it, and a copy is answered
 * as the first was and changes nothing.
 */
#include "gateway_testable.h"
#include "job_sql.h"
#include "nps.h"
#include "outcome.h"
#include "reminders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/form.h"
#include "common/hash.h"
#include "common/hook_http.h"
#include "common/http.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/phone.h"
#include "common/time.h"
#include "common/twilio_sig.h"
#include "common/xmalloc.h"

#define RETRY_AFTER_S 5
#define FORM_FIELDS_MAX 256
/* SMS.ru's callback is a batch of statuses, a field each, in a number its
 * documentation does not bound: every one of them is read (the body limit
 * bounds them), since a batch answered "100" is never sent again. */
#define SMSRU_FIELDS_MAX 100000
/* An SMS reply counts for the last SMS sent to its number this recently. */
#define REPLY_WINDOW_MS (7 * 86400000LL)

/* The gateway provider whose reports come in a path's format. */
static const char *const formats[][2] = {
    {"generic", "webhook"},
    {"twilio", "twilio"},
    {"smsru", "smsru"},
};

static void count(const char *provider, const char *result)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "provider=\"%s\",result=\"%s\"", provider, result);
    cf_metrics_add("clinicflow_reminders_outcomes_total", labels, 1);
}

/* One report, as the route hands it to apply(): the outcome (NULL: none
 * the send's ladder would record: an SMS reply that may be a survey's
 * score), how to find its send when the report does not name it (an SMS
 * reply), and what apply() made of an SMS reply to a survey. */
struct report {
    struct reminders_outcome o;
    const char *reply_from; /* the number an SMS reply came from */
    const char *reply_body; /* its text */
    const char *reply_ref;  /* the gateway's id of an SMS reply: its copies change nothing */
    const char *ref;        /* the gateway's id of the send */
    const char *answer;     /* set by apply(): the SMS that answers a survey's reply */
    char *answer_kept;      /* set by apply(): a copy's answer, as the first's (owned) */
    int survey;             /* set by apply(): the reply answered a survey */
    int ambiguous;          /* set by apply(): the reply could answer several sends */
    int copy;               /* set by apply(): the reply was taken before */
    char misfit[160];       /* set by apply(): why the outcome is not one its send can
                             * have (nothing applied), else empty */
};

/* Whether an SMS send s of job j (appointment a) still waits for the
 * patient's reply: its job's latest rung, and either a survey still open,
 * or a reminder or campaign message whose job is out (emitted), or ended
 * because nobody could tell whether it went (unknown; the send's status
 * says it did since), for a visit still as it was asked about
 * (JOB_CURRENT_SQL), a reminder's visit not yet begun, a campaign's patient
 * not booked since (CAMPAIGN_BOOKED_SQL: its question is answered, and a
 * later reply is about the new visit). */
#define SMS_WAITS_SQL                                                                              \
    "(s.attempt = j.attempt AND CASE WHEN j.kind = 'nps' THEN EXISTS (SELECT 1"                    \
    " FROM reminders.nps_surveys n WHERE n.job_id = j.job_id AND n.answered_at IS NULL"            \
    " AND n.expires_at > now()) ELSE (j.status = 'emitted'"                                        \
    " OR (j.status = 'done' AND j.result = 'unknown')) AND " JOB_CURRENT_SQL                       \
    " AND (j.kind <> 'reminder' OR j.visit_at > now()) AND NOT " CAMPAIGN_BOOKED_SQL " END)"

/* The send a report is about, by its number or the gateway's id, into
 * send_id ("" when none), with its job and the job's kind. An SMS reply
 * names no send: it answers the one SMS to its number that still waits
 * for a reply (SMS_WAITS_SQL); when none waits, the latest (a late answer,
 * told and deciding nothing; a survey answered before). A survey's SMS
 * asked after every other that waits takes the reply (a score), unless the
 * others would take it as their answer too (r->o.outcome: "1" is a score
 * and a confirmation), or another survey waits too (a score for which
 * doctor?): then it is ambiguous, as below. One asked before
 * them leaves it to them. When several others wait (a family
 * sharing a phone, two visits a day) the reply could be about any of
 * them: *ambiguous is set and no send matches, so no visit takes an
 * answer meant for another; their not_confirmed tasks stay open and the
 * front desk asks. Several reminders of one visit (24 and 2 hours ahead)
 * ask one question: the latest takes the reply (outcome_store closes the
 * visit's other tasks with it). */
static int find_send(PGconn *conn, const struct cf_channel *ch, const struct report *r,
                     char send_id[CF_UUID_STR_LEN + 1], char job_id[CF_UUID_STR_LEN + 1],
                     char kind[16], int *ambiguous, int *late, char *errbuf, size_t errbuf_size)
{
    char since[32];
    cf_time_format(cf_time_now_ms() - REPLY_WINDOW_MS, since);
    const char *clinic = json_string_value(json_object_get(ch->doc, "clinic_id"));
    const char *by_phone[] = {clinic, r->reply_from, since};
    const char *by_ref[] = {clinic, ch->provider, r->ref};
    PGresult *res = NULL;
    send_id[0] = job_id[0] = kind[0] = '\0';
    *ambiguous = *late = 0;
    int rc = r->reply_from
                 ? cf_pg_exec(conn,
                              "SELECT s.send_id, s.job_id, j.kind, " SMS_WAITS_SQL ","
                              " coalesce(j.appointment_id::text, j.job_id::text)"
                              " FROM reminders.sends s"
                              " JOIN reminders.reminder_jobs j ON j.job_id = s.job_id"
                              " LEFT JOIN reminders.appointments a"
                              " ON a.appointment_id = j.appointment_id"
                              " WHERE s.clinic_id = $1 AND s.phone = $2 AND s.channel = 'sms'"
                              " AND s.status = 'sent' AND s.created_at >= $3::timestamptz"
                              " ORDER BY s.created_at DESC, s.send_id",
                              3, by_phone, &res, errbuf, errbuf_size)
                 : cf_pg_exec(conn,
                              "SELECT s.send_id, s.job_id, j.kind, false, '' FROM reminders.sends s"
                              " JOIN reminders.reminder_jobs j ON j.job_id = s.job_id"
                              " WHERE s.clinic_id = $1 AND s.gateway = $2 AND s.provider_ref = $3"
                              /* a gateway's id is its own: should it give
                               * one again, the report is the latest send's */
                              " ORDER BY s.created_at DESC, s.send_id LIMIT 1",
                              3, by_ref, &res, errbuf, errbuf_size);
    /* the latest SMS, the latest that waits, and whether those that wait
     * and are not surveys ask about more than one visit (or recall) */
    int pick = rc == 0 && PQntuples(res) > 0 ? 0 : -1, first = -1, several = 0, surveys = 0;
    const char *asked = NULL;
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 3), "t") != 0)
            continue;
        if (first < 0)
            first = i;
        if (strcmp(PQgetvalue(res, i, 2), "nps") == 0) {
            surveys++;
            continue;
        }
        if (!asked)
            asked = PQgetvalue(res, i, 4);
        else if (strcmp(asked, PQgetvalue(res, i, 4)) != 0)
            several = 1;
    }
    /* a survey asked last takes a score, but not one the others would
     * take as their answer too ("1": a score, or "yes, I am coming") */
    const int survey_first = first >= 0 && strcmp(PQgetvalue(res, first, 2), "nps") == 0;
    /* two surveys waiting (two visits of one phone, a family's): a score
     * could be about either doctor; each survey's page still takes it */
    const int either =
        survey_first &&
        ((asked && r->o.outcome && strcmp(r->o.outcome, "opt_out_sms") != 0) ||
         (surveys > 1 && !(r->o.outcome && strcmp(r->o.outcome, "opt_out_sms") == 0)));
    if (first >= 0 && !either && (!several || survey_first)) {
        pick = first;
    } else if (first >= 0) {
        *ambiguous = 1;
        pick = -1;
    } else if (pick >= 0 && r->reply_from) {
        /* none waits: the latest, told and deciding nothing (a campaign's
         * patient booked since, a reminder's visit begun) */
        *late = 1;
    }
    if (pick >= 0) {
        snprintf(send_id, CF_UUID_STR_LEN + 1, "%s", PQgetvalue(res, pick, 0));
        snprintf(job_id, CF_UUID_STR_LEN + 1, "%s", PQgetvalue(res, pick, 1));
        snprintf(kind, 16, "%s", PQgetvalue(res, pick, 2));
    }
    PQclear(res);
    return rc;
}

/* A score replied to the survey of job_id, in the caller's transaction:
 * recorded as the page records it while the survey is open; r->answer the
 * SMS that says so, or that it was answered before or has expired (a
 * reply changes nothing then). 0, or the database's error. */
static int answer_survey(PGconn *conn, const char *job_id, int score, const char *comment,
                         struct cf_outbox *out, struct report *r, int *applied, char *errbuf,
                         size_t errbuf_size)
{
    json_t *row = NULL;
    int rc = nps_store_get_job(conn, job_id, &row, errbuf, errbuf_size);
    if (rc != 0 || !row) /* the job opened no survey: nothing to answer */
        goto out;
    const char *language = json_string_value(json_object_get(row, "language"));
    r->survey = 1;
    if (json_is_true(json_object_get(row, "answered"))) {
        r->answer = nps_sms_text(NPS_ANSWERED, language);
    } else if (json_is_true(json_object_get(row, "expired"))) {
        r->answer = nps_sms_text(NPS_EXPIRED, language);
    } else {
        rc = nps_answer(conn, row, score, comment, cf_time_now_ms(), out, errbuf, errbuf_size);
        *applied = rc == 0;
        r->answer = nps_sms_text(NPS_THANKS, language);
    }
out:
    json_decref(row);
    return rc;
}

/* The report applied and committed: 0 with *applied, CF_ENOTFOUND (no
 * such send of this channel's clinic), or the database's error. An
 * opt-out by SMS from a number no send reached still opts it out. An SMS
 * reply (r->reply_ref) taken before is a copy (r->copy): nothing applied,
 * r->answer the first's. */
static int apply(struct reminders_ctx *ctx, const struct cf_netconf_snapshot *snap,
                 const struct cf_channel *ch, struct report *r, int *applied, char *errbuf,
                 size_t errbuf_size)
{
    char send_id[CF_UUID_STR_LEN + 1], job_id[CF_UUID_STR_LEN + 1], kind[16] = "";
    char reply_id[CF_UUID_STR_LEN + 1] = "";
    char comment[NPS_COMMENT_MAX + 1];
    int score;
    PGconn *conn = cf_pg_pool_acquire(ctx->svc->pg, errbuf, errbuf_size);
    *applied = 0;
    if (!conn)
        return CF_EUNAVAIL;
    struct cf_outbox *out = cf_outbox_new();
    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    if (rc == 0 && r->reply_ref) {
        /* over what calls' and leads' event ids are: network, provider,
         * channel and the provider's own key */
        const char *parts[] = {ch->network_id, ch->provider, ch->id, r->reply_ref};
        int taken = 0;
        cf_uuid5(parts, 4, reply_id);
        rc = outcome_store_reply_take(conn, reply_id, ch->network_id, ch->id, r->reply_ref, &taken,
                                      &r->answer_kept, errbuf, errbuf_size);
        r->copy = rc == 0 && !taken;
        if (r->copy)
            r->answer = r->answer_kept;
    }
    if (rc == 0 && !r->copy && !r->o.send_id) {
        rc = find_send(conn, ch, r, send_id, job_id, kind, &r->ambiguous, &r->o.late, errbuf,
                       errbuf_size);
        r->o.send_id = send_id[0] ? send_id : NULL;
    }
    const int opt_out = r->o.outcome && strcmp(r->o.outcome, "opt_out_sms") == 0;
    if (rc != 0 || r->copy) {
        /* nothing to apply, or applied before with all it did */
    } else if (r->reply_body && r->o.send_id &&
               nps_reply_target(kind, opt_out, r->reply_body, &score, comment) ==
                   NPS_REPLY_SURVEY) {
        rc = answer_survey(conn, job_id, score, comment[0] ? comment : NULL, out, r, applied,
                           errbuf, errbuf_size);
    } else if (!r->o.outcome) {
        /* a reply that answers no survey and means nothing to the SMS it
         * would answer */
    } else if (!r->o.send_id && r->reply_from && opt_out) {
        rc = outcome_store_opt_out(conn, ch->network_id, r->reply_from, "sms", r->o.outcome, errbuf,
                                   errbuf_size);
        *applied = rc == 0;
    } else if (r->ambiguous) {
        /* an answer, but to which visit: none takes it (find_send) */
    } else if (!r->o.send_id) {
        snprintf(errbuf, errbuf_size, "no send matches");
        rc = CF_ENOTFOUND;
    } else {
        r->o.occurrence = reply_id[0] ? reply_id : NULL;
        int misfit = 0;
        rc = reminders_outcome_apply(
            conn, snap, json_string_value(json_object_get(ch->doc, "clinic_id")), &r->o,
            cf_time_now_ms(), out, applied, &misfit, errbuf, errbuf_size);
        if (rc == 0 && misfit)
            snprintf(r->misfit, sizeof(r->misfit), "%s", errbuf);
    }
    /* what a copy is answered with: the same */
    if (rc == 0 && reply_id[0] && !r->copy && r->answer)
        rc = outcome_store_reply_answer(conn, reply_id, r->answer, errbuf, errbuf_size);
    /* a misfit outcome is refused: nothing of it kept (an SMS reply's
     * mark either, so its copy is refused as well) */
    const int refused = rc == 0 && r->misfit[0];
    rc = cf_outbox_stage_commit(conn, "reminders", out, refused ? CF_EINVAL : rc, errbuf,
                                errbuf_size);
    if (refused)
        rc = 0;
    cf_pg_pool_release(ctx->svc->pg, conn);
    if (rc > 0)
        reminders_relay_kick(ctx);
    return rc < 0 ? rc : 0;
}

/* The report of a dialer (generic): 0 with r set, or -1 with the answer. */
static int read_generic(const struct cf_channel *ch, const struct cf_hook *h, json_t **j_body,
                        struct report *r, struct _u_response *resp)
{
    const json_t *cred = json_object_get(ch->doc, "credentials");
    if (!cf_hmac_sha256_sig_valid(json_string_value(json_object_get(cred, "secret")), h->body,
                                  h->body_len, cf_hook_str(h->headers, "x-clinicflow-signature"))) {
        count("generic", "refused");
        cf_http_error(resp, 401, "unauthorized", "the request's signature is not valid", NULL);
        return -1;
    }
    json_error_t jerr;
    struct gw_report got;
    const char *field = NULL;
    char errbuf[256];
    if (!(*j_body =
              cf_json_loadb(h->body ? h->body : "", h->body_len, JSON_REJECT_DUPLICATES, &jerr))) {
        count("generic", "invalid");
        cf_http_error(resp, 400, "invalid_json", jerr.text, NULL);
        return -1;
    }
    if (gw_webhook_outcome(*j_body, &got, &field, errbuf, sizeof(errbuf)) != 0) {
        count("generic", "invalid");
        cf_http_error(resp, 400, "invalid_field", errbuf, field);
        return -1;
    }
    r->o.send_id = got.send_id;
    r->o.outcome = got.outcome;
    r->o.provider_ref = got.provider_ref;
    r->o.recording_url = got.recording_url;
    r->o.duration_s = got.duration_s;
    return 0;
}

static void reply_text(struct _u_response *resp, const char *type, const char *text)
{
    u_map_put(resp->map_header, "Content-Type", type);
    ulfius_set_string_body_response(resp, 200, text);
}

/* TwiML that answers an incoming SMS with text, sent by Twilio from the
 * number the patient wrote to. A new string. */
static char *sms_reply(const char *text)
{
    char *escaped = gw_xml_escape(text);
    char *twiml = cf_xasprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>%s"
                               "</Message></Response>",
                               escaped);
    free(escaped);
    return twiml;
}

static int handle_hook(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct reminders_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    struct cf_hook_http in;
    struct cf_form form = {0};
    struct report r = {.o = {.duration_s = -1}};
    const struct cf_channel *ch = NULL;
    const char *gateway = NULL, *format = NULL;
    json_t *j_body = NULL;
    char errbuf[256], e164[24];
    char *thanks = NULL;
    int applied = 0, rc = 0;

    if (cf_hook_http_route(req, "/v1/hooks/reminders/", &in) != 0 ||
        !(gateway = CF_HOOK_LOOKUP(formats, in.provider)) ||
        !(ch = cf_netconf_channel(snap, in.channel)) || strcmp(ch->kind, "gateway") != 0 ||
        strcmp(ch->provider, gateway) != 0) {
        cf_http_error(resp, 404, "not_found", "no such gateway channel for this provider", NULL);
        goto out;
    }
    format = in.provider;
    if (cf_hook_http_decode(req, ctx->cfg.public_base_url, &in, resp) != 0)
        goto out;
    const char *invalid = NULL;
    /* no gateway sends such a value (Twilio and SMS.ru send UTF-8): a
     * request no retry makes readable, as a malformed escape */
    if (cf_hook_http_invalid(&in, &invalid, errbuf, sizeof(errbuf)) != 0) {
        count(format, "invalid");
        cf_http_error(resp, 400, "invalid_field", errbuf, invalid);
        goto out;
    }
    const struct cf_hook *h = &in.hook;
    const json_t *cred = json_object_get(ch->doc, "credentials");

    if (strcmp(format, "generic") == 0) {
        if (read_generic(ch, h, &j_body, &r, resp) != 0)
            goto out;
    } else if (strcmp(format, "twilio") == 0) {
        if (cf_twilio_verify_request(
                json_string_value(json_object_get(cred, "auth_token")), h->public_url, h->method,
                h->content_type, h->body, h->body_len, cf_hook_str(h->query, "bodySHA256"),
                cf_hook_str(h->headers, "x-twilio-signature"), errbuf, sizeof(errbuf)) != 0) {
            count(format, "refused");
            cf_info("twilio report on channel %s refused: %s", ch->id, errbuf);
            cf_http_error(resp, 401, "unauthorized", "the request's signature is not valid", NULL);
            goto out;
        }
        struct gw_twilio_event tev;
        const char *kind = cf_hook_str(h->query, "kind");
        if (cf_form_parse(h->body ? h->body : "", h->body_len, FORM_FIELDS_MAX, &form, errbuf,
                          sizeof(errbuf)) != 0 ||
            gw_twilio_parse_callback(&form, kind, &tev) != 0) {
            count(format, "invalid");
            cf_http_error(resp, 400, "invalid_field", "not a Twilio call or message callback",
                          NULL);
            goto out;
        }
        if (strcmp(tev.kind, "gather") == 0)
            thanks =
                gw_twilio_reply_thanks(cf_hook_str(h->query, "lang"),
                                       json_string_value(json_object_get(cred, "voice")), NULL);
        int score;
        char comment[NPS_COMMENT_MAX + 1];
        const int incoming = strcmp(tev.kind, "incoming_sms") == 0;
        if (tev.outcome != GW_OUTCOME_IGNORED)
            r.o.outcome = gw_outcome_name(tev.outcome);
        else if (strcmp(tev.kind, "call_status") == 0 && tev.answered)
            /* picked up, and no key came with the gather: nobody the
             * ladder can count on; should the key still come, it wins
             * (ladder_take) */
            r.o.outcome = "no_reply";
        if (!r.o.outcome && !(incoming && nps_read_sms(tev.status, &score, comment) == 0)) {
            count(format, "ignored");
            reply_text(resp, GW_TWIML_CONTENT_TYPE, thanks ? thanks : gw_twilio_reply_empty());
            goto out;
        }
        /* a reply's MessageSid is the reply's, not the send's */
        r.o.provider_ref = incoming ? NULL : tev.sid;
        r.o.recording_url = tev.recording_url;
        r.o.duration_s = tev.duration_s;
        if (incoming) {
            if (!tev.from || cf_phone_normalize(tev.from, ctx->cfg.default_cc, e164,
                                                sizeof(e164)) != CF_PHONE_E164) {
                count(format, "ignored");
                reply_text(resp, GW_TWIML_CONTENT_TYPE, gw_twilio_reply_empty());
                goto out;
            }
            r.reply_from = e164;
            r.reply_body = tev.status;
            r.reply_ref = tev.sid; /* MessageSid: the same in Twilio's copies */
        } else {
            r.o.send_id = cf_hook_str(h->query, "send_id");
            if (!r.o.send_id || !cf_uuid_valid(r.o.send_id)) {
                count(format, "invalid");
                cf_http_error(resp, 400, "invalid_field", "the callback URL has no send_id",
                              "send_id");
                goto out;
            }
        }
    } else { /* smsru */
        if (gw_smsru_check_token(cred, cf_hook_str(h->query, "token"), errbuf, sizeof(errbuf)) !=
            0) {
            count(format, "refused");
            cf_http_error(resp, 401, "unauthorized", "the callback's token is not valid", NULL);
            goto out;
        }
        size_t skipped = 0, n = 0;
        const int parsed = cf_form_parse(h->body ? h->body : "", h->body_len, SMSRU_FIELDS_MAX,
                                         &form, errbuf, sizeof(errbuf));
        if (parsed != 0) { /* not a form: nothing in it can be read, now or later */
            count(format, "invalid");
            if (parsed == CF_ETOOBIG)
                cf_http_error(resp, 413, "too_many_fields", errbuf, NULL);
            else
                cf_http_error(resp, 400, "invalid_field", "not an SMS.ru status callback", NULL);
            goto out;
        }
        struct gw_smsru_status *st = cf_xcalloc(form.n ? form.n : 1, sizeof(*st));
        n = gw_smsru_parse_callback(&form, st, form.n, &skipped);
        for (size_t i = 0; i < n; i++) {
            struct report one = {.o = {.duration_s = -1}};
            if (st[i].outcome == GW_OUTCOME_IGNORED)
                continue;
            one.o.outcome = gw_outcome_name(st[i].outcome);
            one.o.provider_ref = st[i].sms_id;
            one.ref = st[i].sms_id;
            rc = apply(ctx, snap, ch, &one, &applied, errbuf, sizeof(errbuf));
            if (rc == CF_ENOTFOUND) {
                count(format, "unknown_send");
                rc = 0;
            } else if (rc == 0 && one.misfit[0]) {
                count(format, "invalid");
            } else if (rc != 0) {
                break;
            } else {
                count(format, applied ? "applied" : "unchanged");
            }
        }
        free(st);
        /* entries that are not statuses: read, never usable */
        if (skipped)
            count(format, "invalid");
        /* SMS.ru sends the batch again until it reads 100 */
        if (rc != 0) {
            cf_warn("smsru report on channel %s: %s", ch->id, errbuf);
            cf_http_error_from(resp, rc == CF_EINVAL ? CF_EINTERNAL : rc,
                               "the statuses could not be stored now; retry later", NULL,
                               RETRY_AFTER_S);
        } else {
            reply_text(resp, "text/plain", GW_SMSRU_CALLBACK_ANSWER);
        }
        goto out;
    }

    rc = apply(ctx, snap, ch, &r, &applied, errbuf, sizeof(errbuf));
    if (rc == CF_ENOTFOUND || (rc == 0 && r.misfit[0])) {
        count(format, rc == CF_ENOTFOUND ? "unknown_send" : "invalid");
        if (strcmp(format, "twilio") == 0) /* nothing Twilio could fix by retrying */
            reply_text(resp, GW_TWIML_CONTENT_TYPE, thanks ? thanks : gw_twilio_reply_empty());
        else if (rc == CF_ENOTFOUND)
            cf_http_error(resp, 400, "invalid_field", "no send of this channel has that id",
                          "send_id");
        else /* a call's outcome for an SMS, or an SMS's for a call */
            cf_http_error(resp, 400, "invalid_field", r.misfit, "outcome");
    } else if (rc != 0) {
        cf_warn("reminders report on channel %s: %s", ch->id, errbuf);
        cf_http_error_from(resp, rc == CF_EINVAL ? CF_EINTERNAL : rc,
                           "the outcome could not be stored now; retry later", NULL, RETRY_AFTER_S);
    } else {
        count(format, applied                                ? "applied"
                      : r.ambiguous                          ? "ambiguous"
                      : !r.copy && !r.o.outcome && !r.survey ? "ignored"
                                                             : "unchanged");
        if (r.survey && applied)
            cf_metrics_add("clinicflow_reminders_nps_answers_total", NULL, 1);
        if (r.answer) {
            free(thanks);
            thanks = sms_reply(r.answer);
            reply_text(resp, GW_TWIML_CONTENT_TYPE, thanks);
        } else if (strcmp(format, "twilio") == 0) {
            reply_text(resp, GW_TWIML_CONTENT_TYPE, thanks ? thanks : gw_twilio_reply_empty());
        } else {
            json_t *j = json_pack("{s:s}", "status", applied ? "applied" : "unchanged");
            cf_http_json(resp, 200, j);
            json_decref(j);
        }
    }
out:
    free(thanks);
    free(r.answer_kept);
    cf_form_free(&form);
    json_decref(j_body);
    cf_hook_http_clear(&in);
    cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}

void reminders_hooks_routes(struct reminders_ctx *ctx)
{
    cf_metrics_describe("clinicflow_reminders_outcomes_total", "counter",
                        "gateway outcome reports by format and result: applied, unchanged (told "
                        "again), ignored (nothing to record), ambiguous (an SMS reply to a number "
                        "several sends wait on: applied to none), refused (bad signature or "
                        "token), invalid, unknown_send");
    cf_http_route(ctx->svc->http, "POST", "/v1/hooks/reminders/:provider/:channel", handle_hook,
                  ctx);
}
