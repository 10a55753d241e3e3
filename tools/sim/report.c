/*
 * The run's totals. The counts are the model's: every one of them went out
 * as requests, and "requests" says how many were acknowledged, so a test
 * compares analytics' reports with these once acknowledged == sent.
 * Survey answers are the model's figures only (README.md, "What is not
 * sent"); the reminders of the visits past and the recall went as their
 * histories from the system before.
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>

static const char *clinic_label(int c)
{
    return c == 0 ? "strong" : c == 1 ? "weak" : "middle";
}

static json_t *by_kind(const struct sim_http_stats *s)
{
    json_t *j = json_object();
    for (size_t i = 0; i < s->nkinds; i++)
        json_object_set_new(j, s->kinds[i].kind,
                            json_pack("{s:I, s:I, s:I}", "acknowledged", (json_int_t)s->kinds[i].ok,
                                      "refused", (json_int_t)s->kinds[i].refused, "failed",
                                      (json_int_t)s->kinds[i].failed));
    return j;
}

/* Whether requests of kind went out (the histories of the system before
 * go in --month only). */
static int went(const struct sim_http_stats *s, const char *kind)
{
    for (size_t i = 0; i < s->nkinds; i++)
        if (strcmp(s->kinds[i].kind, kind) == 0)
            return s->kinds[i].ok + s->kinds[i].refused + s->kinds[i].failed > 0;
    return 0;
}

static json_t *month_json(const struct sim_month *m, const struct sim_http_stats *s,
                          int64_t offset_ms)
{
    const struct sim_model_totals *t = &m->totals;
    char from[32], to[32];
    sim_rfc3339(m->params.end_ms + offset_ms - m->params.days * 86400000LL, from);
    sim_rfc3339(m->params.end_ms + offset_ms, to);
    json_t *j_prov = json_object(), *j_chan = json_object(), *j_conv = json_object(),
           *j_doc = json_array();
    for (int p = 0; p < SIM_CALL_PROVS; p++)
        json_object_set_new(j_prov, sim_prov_name(p), json_integer(t->calls_by_prov[p]));
    for (int c = 0; c < SIM_LEAD_CHANS; c++)
        json_object_set_new(j_chan, sim_chan_name(c), json_integer(t->leads_by_chan[c]));
    /* the front desk's reports, and its replies by clinic (mean working
     * minutes from the request) */
    json_t *j_reports = json_object(), *j_replies = json_object();
    for (int r = 0; r < SIM_REPORTS; r++)
        json_object_set_new(j_reports, sim_report_name(r), json_integer(t->lead_reports[r]));
    json_object_set_new(j_reports, "unanswered", json_integer(t->lead_unanswered));
    for (int c = 0; c < SIM_CLINICS; c++)
        json_object_set_new(
            j_replies, clinic_label(c),
            json_pack("{s:i, s:I, s:f}", "clinic", c, "replies", (json_int_t)t->replies[c],
                      "working_min_mean",
                      t->replies[c] ? t->reply_working_min[c] / (double)t->replies[c] : 0.0));
    for (int c = 0; c < SIM_CLINICS; c++) {
        json_object_set_new(j_conv, clinic_label(c),
                            json_pack("{s:i, s:I, s:I}", "clinic", c, "new_contacts",
                                      (json_int_t)t->new_contacts[c], "new_booked",
                                      (json_int_t)t->new_booked[c]));
        for (int d = 0; d < SIM_DOCTORS; d++)
            json_array_append_new(j_doc,
                                  json_pack("{s:s, s:I, s:I}", "doctor", sim_doctor_name(c, d),
                                            "proposed", (json_int_t)t->doctor_proposed[c][d],
                                            "accepted", (json_int_t)t->doctor_accepted[c][d]));
    }
    return json_pack(
        "{s:I, s:i, s:f, s:s, s:s, s:b,"
        " s:{s:I, s:I, s:I, s:I, s:I, s:o},"
        " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:o},"
        " s:{s:I, s:o, s:I, s:I, s:o, s:o},"
        " s:{s:I, s:I},"
        " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I},"
        " s:{s:I, s:I, s:f, s:o},"
        " s:f, s:{s:I, s:f}, s:o,"
        " s:{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f},"
        " s:{s:b, s:I, s:I, s:I, s:I, s:I},"
        " s:{s:b, s:I, s:I, s:I}}",
        "seed", (json_int_t)m->params.seed, "days", m->params.days, "scale", m->params.scale,
        "from", from, "to", to, "complete",
        s->ok == s->sent - s->retried && s->refused == 0 && s->failed == 0, "requests", "sent",
        (json_int_t)(s->sent - s->retried), "acknowledged", (json_int_t)s->ok, "refused",
        (json_int_t)s->refused, "failed", (json_int_t)s->failed, "retried", (json_int_t)s->retried,
        "by_kind", by_kind(s), "calls", "inbound", (json_int_t)t->calls_inbound, "outbound",
        (json_int_t)t->calls_outbound, "missed", (json_int_t)t->calls_missed, "called_back",
        (json_int_t)t->calls_called_back, "lost", (json_int_t)t->calls_lost, "answered_inbound",
        (json_int_t)t->calls_answered_inbound, "by_provider", j_prov, "leads", "total",
        (json_int_t)t->leads, "by_channel", j_chan, "brand", (json_int_t)t->leads_brand,
        "brand_existing", (json_int_t)t->leads_brand_existing, "reports", j_reports, "replies",
        j_replies, "patients", "total", (json_int_t)t->patients, "existing",
        (json_int_t)t->patients_existing, "appointments", "booked", (json_int_t)t->appts,
        "completed", (json_int_t)t->appts_completed, "no_show", (json_int_t)t->appts_no_show,
        "cancelled", (json_int_t)t->appts_cancelled, "ahead", (json_int_t)t->appts_ahead,
        "new_booked_past", (json_int_t)t->new_booked_past, "new_no_show",
        (json_int_t)t->new_no_show, "plans", "proposed", (json_int_t)t->plans_proposed, "accepted",
        (json_int_t)t->plans_accepted, "accepted_amount", t->plans_accepted_amount, "by_doctor",
        j_doc, "revenue", t->revenue, "spend", "rows", (json_int_t)t->spend_rows, "amount",
        t->spend_amount, "conversion", j_conv, "reminders", "sent", went(s, "reminders"), "calls",
        (json_int_t)t->reminder_calls, "answered", (json_int_t)t->reminder_answered, "confirmed",
        (json_int_t)t->reminder_confirmed, "reschedule", (json_int_t)t->reminder_reschedule, "sms",
        (json_int_t)t->reminder_sms, "sms_cost_minor",
        (json_int_t)t->reminder_sms * SIM_SMS_COST_MINOR, "confirmed_came",
        (json_int_t)t->reminded_visits[1][1], "confirmed_no_show",
        (json_int_t)t->reminded_visits[1][0], "unconfirmed_came",
        (json_int_t)t->reminded_visits[0][1], "unconfirmed_no_show",
        (json_int_t)t->reminded_visits[0][0], "answered_mean_s",
        t->reminder_answered ? t->reminder_answered_seconds / (double)t->reminder_answered : 0.0,
        "recall", "sent", went(s, "recall"), "members", (json_int_t)t->recall_members, "holdout",
        (json_int_t)t->recall_holdout, "booked_target", (json_int_t)t->recall_booked_target,
        "booked_holdout", (json_int_t)t->recall_booked_holdout, "agreed",
        (json_int_t)t->recall_agreed, "nps", "sent", 0, "replies", (json_int_t)t->nps_replies,
        "promoters", (json_int_t)t->nps_promoters, "detractors", (json_int_t)t->nps_detractors);
}

/* The calls by clinic (index, as the network file orders its first
 * three): outbound ones, and the inbound calls of the brand campaign's
 * number. */
static void calls_by_clinic(json_t *j_calls, const struct sim_model_totals *t)
{
    json_t *j_out = json_array();
    for (int c = 0; c < SIM_CLINICS; c++)
        json_array_append_new(j_out, json_integer(t->calls_outbound_by_clinic[c]));
    json_object_set_new(j_calls, "outbound_by_clinic", j_out);
    json_object_set_new(j_calls, "brand_line", json_integer(t->calls_brand_line));
}

void sim_report_month(FILE *f, const struct sim_month *m, const struct sim_http_stats *s,
                      int64_t offset_ms, int json)
{
    json_t *j = month_json(m, s, offset_ms);
    calls_by_clinic(json_object_get(j, "calls"), &m->totals);
    if (json) {
        char *text = json_dumps(j, JSON_COMPACT);
        fprintf(f, "%s\n", text);
        free(text);
        json_decref(j);
        return;
    }
    const struct sim_model_totals *t = &m->totals;
    fprintf(f, "month of seed %llu: %d days, scale %g\n", (unsigned long long)m->params.seed,
            m->params.days, m->params.scale);
    fprintf(f, "requests    %ld sent, %ld acknowledged, %ld refused, %ld failed (%ld retried)\n",
            s->sent - s->retried, s->ok, s->refused, s->failed, s->retried);
    fprintf(f,
            "calls       %ld inbound (%ld answered, %ld missed: %ld called back, %ld lost), "
            "%ld outbound\n",
            t->calls_inbound, t->calls_answered_inbound, t->calls_missed, t->calls_called_back,
            t->calls_lost, t->calls_outbound);
    fprintf(f, "leads       %ld:", t->leads);
    for (int c = 0; c < SIM_LEAD_CHANS; c++)
        fprintf(f, " %s %ld", sim_chan_name(c), t->leads_by_chan[c]);
    fprintf(f, "; brand %ld (%ld existing patients)\n", t->leads_brand, t->leads_brand_existing);
    fprintf(f, "front desk  %ld replies (mean working minutes:", t->lead_reports[SIM_REPLIED]);
    for (int c = 0; c < SIM_CLINICS; c++)
        fprintf(f, " %s %.0f", clinic_label(c),
                t->replies[c] ? t->reply_working_min[c] / (double)t->replies[c] : 0.0);
    fprintf(f, "), %ld never answered; %ld booked, %ld lost, %ld spam\n", t->lead_unanswered,
            t->lead_reports[SIM_LEAD_BOOKED], t->lead_reports[SIM_LEAD_LOST],
            t->lead_reports[SIM_LEAD_SPAM]);
    fprintf(f, "patients    %ld (%ld before the month)\n", t->patients, t->patients_existing);
    fprintf(f, "visits      %ld booked: %ld came, %ld no-show, %ld cancelled, %ld ahead\n",
            t->appts, t->appts_completed, t->appts_no_show, t->appts_cancelled, t->appts_ahead);
    fprintf(f, "plans       %ld proposed, %ld accepted (%.0f RUB); revenue %.0f RUB\n",
            t->plans_proposed, t->plans_accepted, t->plans_accepted_amount, t->revenue);
    fprintf(f, "spend       %ld rows, %.2f RUB\n", t->spend_rows, t->spend_amount);
    fprintf(f, "reminders   %ld calls (%ld answered, %ld confirmed, %ld reschedule), %ld SMS\n",
            t->reminder_calls, t->reminder_answered, t->reminder_confirmed, t->reminder_reschedule,
            t->reminder_sms);
    fprintf(f,
            "recall      %ld members (holdout %ld), %ld agreed; booked after: %ld target, %ld "
            "holdout\n",
            t->recall_members, t->recall_holdout, t->recall_agreed, t->recall_booked_target,
            t->recall_booked_holdout);
    fprintf(f, "not sent    NPS replies %ld\n", t->nps_replies);
    json_decref(j);
}
