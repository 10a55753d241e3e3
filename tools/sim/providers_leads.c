/*
 * A person's request as each channel delivers it (services/leads/
 * PROVIDERS.md): our own form endpoint with the channel's token and the
 * page's UTM tags; a Telegram update sharing the person's contact (the
 * secret-token header); a WhatsApp Cloud message (X-Hub-Signature-256);
 * a VK message or lead form (the callback's secret); a Viber contact message
 * (X-Viber-Content-Signature). Every one carries the person's phone, so the
 * funnel can follow them to their booking by the phone's contact key.
 * Telegram, WhatsApp and Viber carry the message's own time, the form its
 * submitted_at (believed within the leads service's bound); VK's lead form
 * is dated by its arrival, so a past month's VK requests are community
 * messages (dated, the phone written in the text) and only --live and
 * --load send lead forms.
 */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/xmalloc.h"

static void json_request(struct sim_req *out, char *url, json_t *j_body)
{
    out->url = url;
    out->body = json_dumps(j_body, JSON_COMPACT);
    out->body_len = strlen(out->body);
    json_decref(j_body);
    sim_req_header(out, "Content-Type: application/json");
}

/* A person's messenger id (Telegram's user and chat, VK's), from the
 * person's number (the digits after +7916): two people share one only
 * when they share a number, whom the leads service takes for one person
 * anyway, and a base patient keeps theirs in a later trickle. Under VK's
 * 2 000 000 000, where its peer ids of group chats start. */
static long long user_id(const struct sim_month *m, uint32_t person)
{
    return 700000000LL + strtoll(m->persons[person].phone + 5, NULL, 10);
}

/* The tag's number (sim_tag): what tells a month's request ids from
 * another seed's. Below 10^8, and a month's lead ids below 10^7 (at most
 * 500 x 100 x 366 / 30), so tag x 10^7 + id is unique per tag and lead. */
static long long tag_number(const struct sim_month *m)
{
    return (long long)(m->params.seed % 100000000ULL);
}

/* The ids a request carries, from its lead.id: the form's and VK's
 * event_id ("<tag>-l<id>"), Telegram's update_id, Viber's message_token. */
static void request_id(const struct sim_month *m, uint32_t id, char out[64])
{
    char tag[16];
    sim_tag(m, tag);
    snprintf(out, 64, "%s-l%u", tag, id);
}

/* An integer (the adapter takes any JSON integer, as jansson's 64 bits),
 * below 2^53 so that a JavaScript reader of the payload keeps it exact. */
static long long telegram_update_id(const struct sim_month *m, uint32_t id)
{
    return 1000000000LL + tag_number(m) * 10000000LL + id;
}

/* An int64, as Viber's tokens are: 5 x 10^18 + up to 10^15. */
static long long viber_token(const struct sim_month *m, uint32_t id)
{
    return 5000000000000000000LL + tag_number(m) * 10000000LL + id;
}

/* The event key the leads service reads from the request (its providers'
 * files): the last part of the fact's id, hence of the lead's. */
static void event_key(const struct sim_month *m, enum sim_lead_chan chan, uint32_t id, char out[96])
{
    char rid[64];
    request_id(m, id, rid);
    switch (chan) {
    case SIM_TELEGRAM:
        snprintf(out, 96, "%lld", telegram_update_id(m, id));
        break;
    case SIM_WHATSAPP:
        snprintf(out, 96, "wamid.%s", rid);
        break;
    case SIM_VIBER:
    case SIM_LEAD_CHANS:
        snprintf(out, 96, "message:%lld", viber_token(m, id));
        break;
    case SIM_FORM:
    case SIM_VK:
        snprintf(out, 96, "%s", rid);
        break;
    }
}

/* The lead the request of lead.id opens (proto/README.md, "Ids"): uuid5
 * of the network, "lead" and the request's fact id, itself of the
 * network, the provider, the channel and the event key. */
static void lead_id(const struct sim_network *net, const struct sim_month *m,
                    enum sim_lead_chan chan, uint32_t id, char out[CF_UUID_STR_LEN + 1])
{
    char key[96], fact[CF_UUID_STR_LEN + 1];
    event_key(m, chan, id, key);
    const char *fact_parts[] = {net->id, sim_chan_name(chan), sim_chan_id(net->chan_leads[chan]),
                                key};
    cf_uuid5(fact_parts, 4, fact);
    const char *lead_parts[] = {net->id, "lead", fact};
    cf_uuid5(lead_parts, 3, out);
}

static void hmac_hex(const char *key, const struct sim_req *r, char out[CF_SHA256_HEX_LEN + 1])
{
    uint8_t h[32];
    cf_hmac_sha256(key, strlen(key), r->body, r->body_len, h);
    cf_hex(h, sizeof(h), out);
}

void sim_leads_request(const struct sim_network *net, const struct sim_targets *t,
                       const struct sim_month *m, const struct sim_ev *ev, int64_t offset_ms,
                       struct sim_req *out)
{
    const enum sim_lead_chan chan = ev->u.lead.chan;
    const json_t *j_chan = net->chan_leads[chan];
    const struct sim_person *p = &m->persons[ev->person];
    const long long at_s = (ev->at_ms + offset_ms) / 1000;
    const long long uid = user_id(m, ev->person);
    char id[64], sig[CF_SHA256_HEX_LEN + 1];
    char *url =
        cf_xasprintf("%s/v1/hooks/leads/%s/%s", t->leads, sim_chan_name(chan), sim_chan_id(j_chan));
    request_id(m, ev->u.lead.id, id);
    out->kind = "lead";

    switch (chan) {
    case SIM_FORM: {
        /* the channel's field_map names: the demo's form says "tel", ... */
        const json_t *j_map = json_object_get(j_chan, "field_map");
        const char *f_name = json_string_value(json_object_get(j_map, "name"));
        const char *f_phone = json_string_value(json_object_get(j_map, "phone"));
        const char *f_comment = json_string_value(json_object_get(j_map, "comment"));
        const char *f_clinic = json_string_value(json_object_get(j_map, "clinic"));
        const char *f_consent = json_string_value(json_object_get(j_map, "consent"));
        json_t *j = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s}", "event_id", id, f_name ? f_name : "name",
            p->first_name, f_phone ? f_phone : "phone", p->phone, f_comment ? f_comment : "comment",
            "Хочу записаться на консультацию", f_clinic ? f_clinic : "clinic",
            net->clinic_ids[ev->clinic], f_consent ? f_consent : "consent", "yes");
        /* when it was filled in, as a site's backend forwarding it says
         * (believed within CLINICFLOW_LEADS_FORM_TIME_MAX_AGE_S) */
        const char *f_submitted = json_string_value(json_object_get(j_map, "submitted_at"));
        char submitted[32];
        sim_rfc3339(ev->at_ms + offset_ms, submitted);
        json_object_set_new(j, f_submitted ? f_submitted : "submitted_at", json_string(submitted));
        const enum sim_source s = ev->u.lead.source;
        if (sim_source_name(s)) {
            json_object_set_new(j, "utm_source", json_string(sim_source_name(s)));
            json_object_set_new(j, "utm_medium", json_string(sim_source_medium(s)));
            const char *campaign = sim_source_campaign_at(net, s, at_s);
            if (campaign)
                json_object_set_new(j, "utm_campaign", json_string(campaign));
        }
        json_request(out, url, j);
        sim_req_header(out, "Authorization: Bearer %s", sim_chan_cred(j_chan, "token"));
        break;
    }
    case SIM_TELEGRAM: {
        json_t *j =
            json_pack("{s:I, s:{s:I, s:{s:I, s:b, s:s}, s:{s:I, s:s}, s:I, s:{s:s, s:s, s:I}}}",
                      "update_id", (json_int_t)telegram_update_id(m, ev->u.lead.id), "message",
                      "message_id", (json_int_t)ev->u.lead.id + 1, "from", "id", (json_int_t)uid,
                      "is_bot", 0, "first_name", p->first_name, "chat", "id", (json_int_t)uid,
                      "type", "private", "date", (json_int_t)at_s, "contact", "phone_number",
                      p->phone, "first_name", p->first_name, "user_id", (json_int_t)uid);
        json_request(out, url, j);
        sim_req_header(out, "X-Telegram-Bot-Api-Secret-Token: %s",
                       sim_chan_cred(j_chan, "secret_token"));
        break;
    }
    case SIM_WHATSAPP: {
        char ts[24], wamid[80];
        snprintf(ts, sizeof(ts), "%lld", at_s);
        snprintf(wamid, sizeof(wamid), "wamid.%s", id);
        json_t *j =
            json_pack("{s:s, s:[{s:s, s:[{s:s, s:{s:s, s:{s:s, s:s}, s:[{s:s, s:{s:s}}], "
                      "s:[{s:s, s:s, s:s, s:s, s:{s:s}}]}}]}]}",
                      "object", "whatsapp_business_account", "entry", "id", "100000000000001",
                      "changes", "field", "messages", "value", "messaging_product", "whatsapp",
                      "metadata", "display_phone_number", "74950000101", "phone_number_id",
                      "100000000000002", "contacts", "wa_id", p->phone + 1, "profile", "name",
                      p->first_name, "messages", "from", p->phone + 1, "id", wamid, "timestamp", ts,
                      "type", "text", "text", "body", "Здравствуйте, сколько стоит чистка?");
        json_request(out, url, j);
        hmac_hex(sim_chan_cred(j_chan, "app_secret"), out, sig);
        sim_req_header(out, "X-Hub-Signature-256: sha256=%s", sig);
        break;
    }
    case SIM_VK: {
        /* a month's history as community messages, which carry their time
         * (the person writes the phone into the text); now (--live,
         * --load) as ad lead forms, which do not */
        if (offset_ms == 0) {
            char text[160];
            snprintf(
                text, sizeof(text),
                "Здравствуйте! Хочу записаться на приём. Мой номер 8 (%.3s) %.3s-%.2s-%.2s, %s",
                p->phone + 2, p->phone + 5, p->phone + 8, p->phone + 10, p->first_name);
            json_t *j =
                json_pack("{s:s, s:i, s:s, s:s, s:s, s:{s:{s:I, s:I, s:I, s:i, s:I, s:I, s:s}}}",
                          "type", "message_new", "group_id", 100001, "event_id", id, "v", "5.199",
                          "secret", sim_chan_cred(j_chan, "secret"), "object", "message", "date",
                          (json_int_t)at_s, "from_id", (json_int_t)uid, "id",
                          (json_int_t)ev->u.lead.id + 1, "out", 0, "peer_id", (json_int_t)uid,
                          "conversation_message_id", (json_int_t)ev->u.lead.id + 1, "text", text);
            json_request(out, url, j);
            break;
        }
        json_t *j = json_pack(
            "{s:s, s:i, s:s, s:s, s:s, s:{s:I, s:i, s:I, s:i, s:s, s:[{s:s, s:s}, {s:s, s:s}]}}",
            "type", "lead_forms_new", "group_id", 100001, "event_id", id, "v", "5.199", "secret",
            sim_chan_cred(j_chan, "secret"), "object", "lead_id", (json_int_t)ev->u.lead.id + 1,
            "group_id", 100001, "user_id", (json_int_t)uid, "form_id", 1, "form_name",
            "Запись на приём", "answers", "key", "first_name", "answer", p->first_name, "key",
            "phone_number", "answer", p->phone);
        json_request(out, url, j);
        break;
    }
    case SIM_VIBER:
    case SIM_LEAD_CHANS: {
        char sender[40], tag[16];
        sim_person_tag(m, ev->person, tag);
        snprintf(sender, sizeof(sender), "%s-u%lld==", tag, uid);
        json_t *j = json_pack("{s:s, s:I, s:I, s:{s:s, s:s}, s:{s:s, s:{s:s, s:s}}}", "event",
                              "message", "timestamp", (json_int_t)(at_s * 1000), "message_token",
                              (json_int_t)viber_token(m, ev->u.lead.id), "sender", "id", sender,
                              "name", p->first_name, "message", "type", "contact", "contact",
                              "name", p->first_name, "phone_number", p->phone);
        json_request(out, url, j);
        hmac_hex(sim_chan_cred(j_chan, "auth_token"), out, sig);
        sim_req_header(out, "X-Viber-Content-Signature: %s", sig);
        break;
    }
    }
}

void sim_lead_outcome_request(const struct sim_network *net, const struct sim_targets *t,
                              const struct sim_month *m, const struct sim_ev *ev, int64_t offset_ms,
                              struct sim_req *out)
{
    const enum sim_lead_report report = ev->u.outcome.report;
    char lead[CF_UUID_STR_LEN + 1], rid[64], event_id[96], at[32], staff[24];
    lead_id(net, m, ev->u.outcome.chan, ev->u.outcome.id, lead);
    request_id(m, ev->u.outcome.id, rid);
    snprintf(event_id, sizeof(event_id), "%s-%s", rid, sim_report_name(report));
    sim_rfc3339(ev->at_ms + offset_ms, at);
    snprintf(staff, sizeof(staff), "desk-%d", ev->clinic + 1);
    json_t *j = json_pack("{s:s, s:s, s:s}", "event_id", event_id, "type", sim_report_name(report),
                          "time", at);
    if (report != SIM_LEAD_SPAM)
        json_object_set_new(j, "staff_id", json_string(staff));
    if (report == SIM_REPLIED) /* a form is phoned back, a message answered where it came */
        json_object_set_new(j, "channel",
                            json_string(ev->u.outcome.chan == SIM_FORM
                                            ? "call"
                                            : sim_chan_name(ev->u.outcome.chan)));
    if (report == SIM_LEAD_BOOKED) {
        char appt[32];
        sim_appt_id(m, ev->u.outcome.appt, appt);
        json_object_set_new(j, "appointment_id", json_string(appt));
    }
    if (report == SIM_LEAD_LOST)
        json_object_set_new(j, "reason", json_string(sim_lost_reason_name(ev->u.outcome.reason)));
    json_request(out, cf_xasprintf("%s/v1/leads/%s/events", t->leads, lead), j);
    sim_req_header(out, "Authorization: Bearer %s", t->ingest_key);
    out->kind = "lead report";
}
