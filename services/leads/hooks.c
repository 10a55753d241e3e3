/*
 * /v1/hooks/leads/{provider}/{channel}[/...]: where forms, messengers and
 * mail post. The channel (network config, kind "form" or "messenger")
 * names the network, the clinic, the credentials and a form's field map.
 * This file decodes the request (common/hook_http.h), runs the provider's
 * adapter (precheck, verify, parse: providers/adapters.h), normalizes every
 * fact (ingest.c) and produces them to leads.raw, answering the provider's
 * expected reply only after Kafka acknowledged all of them. A provider
 * retries on anything but success and a retry has the same event ids, so
 * a 503 loses nothing and a retry duplicates nothing.
 *
 * Our own form endpoint (provider "generic") is the one route a browser
 * calls: it alone is rate-limited, per client address and per contact
 * (Redis; skipped, never the lead, when Redis is down). Provider webhooks
 * come from a few addresses and may disable a hook that is refused, so
 * they are not limited.
 */
#include "ingest.h"
#include "leads.h"
#include "providers/adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/hook_http.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rate_limit.h"
#include "common/xmalloc.h"

static const struct leads_adapter *const adapters[] = {
    &leads_adapter_generic,  &leads_adapter_tilda,     &leads_adapter_cf7,
    &leads_adapter_jivo,     &leads_adapter_email,     &leads_adapter_telegram,
    &leads_adapter_whatsapp, &leads_adapter_instagram, &leads_adapter_vk,
    &leads_adapter_viber,
};

const struct leads_adapter *leads_adapter_find(const char *provider)
{
    for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (provider && strcmp(adapters[i]->provider, provider) == 0)
            return adapters[i];
    }
    return NULL;
}

void leads_hooks_describe_metrics(void)
{
    cf_metrics_describe("clinicflow_leads_hooks_refused_total", "counter",
                        "Lead webhooks and form posts refused, by provider and reason: "
                        "signature (a bad signature or token, 401), source (not from the "
                        "channel's allowed_sources, 401), invalid (no person or not the "
                        "provider's format, 400), unavailable (Kafka could not take the lead, "
                        "503: a provider that does not retry, CF7 or Jivo, does not send it "
                        "again)");
    cf_metrics_describe("clinicflow_leads_hooks_ignored_total", "counter",
                        "Lead webhooks and form posts acknowledged without a lead, by provider "
                        "and reason (honeypot: a bot filled in the form's hidden field; "
                        "invalid: no person, answered with success for a provider that would "
                        "disable the hook)");
    cf_metrics_describe("clinicflow_leads_hooks_amended_total", "counter",
                        "Lead webhooks recorded with a value replaced or left out, by provider "
                        "and reason");
    cf_rate_limit_describe_metrics();
}

static void count(const char *metric, const char *provider, const char *reason)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "provider=\"%s\",reason=\"%s\"", provider, reason);
    cf_metrics_add(metric, labels, 1);
}

/* Counts and logs what an acknowledged request did not record whole: no
 * lead at all (ignored), or one with something replaced or left out
 * (amended). The log line names the channel, never a person. */
static void count_notes(const char *provider, const char *channel_id,
                        const struct cf_hook_notes *notes, size_t nfacts)
{
    if (nfacts == 0) {
        const char *reason = notes->ignored ? notes->ignored : "not_a_lead";
        count("clinicflow_leads_hooks_ignored_total", provider, reason);
        cf_info("%s webhook on channel %s acknowledged without a lead: %s%s%s%s", provider,
                channel_id, reason, notes->detail[0] ? " (\"" : "", notes->detail,
                notes->detail[0] ? "\")" : "");
    }
    if (notes->amended) {
        count("clinicflow_leads_hooks_amended_total", provider, notes->amended);
        cf_info("%s webhook on channel %s recorded amended: %s", provider, channel_id,
                notes->amended);
    }
}

/* The form rate limits: per client address per minute, per contact per
 * hour. 0 to go on (allowed, or Redis could not say), else 429 answered. */
static int form_limited(struct leads_ctx *ctx, const struct _u_request *req,
                        const struct leads_fact *first, struct _u_response *resp)
{
    char ip[64], *ip_key = NULL, *contact_key = NULL;
    long retry_s = 1;

    char *xff = cf_http_header_list(req, "X-Forwarded-For");
    cf_client_key(req->client_address, xff, &ctx->proxies, ip, sizeof(ip));
    free(xff);
    ip_key = cf_xasprintf("cf:leads:rl:form-ip:%s", ip);
    if (first && first->contact_key)
        contact_key = cf_xasprintf("cf:leads:rl:form-contact:%s", first->contact_key);
    const struct cf_rate_rule rules[] = {
        {"ip", ip_key, ctx->cfg.form_per_ip_per_minute, 60},
        {"contact", contact_key, contact_key ? ctx->cfg.form_per_contact_per_hour : 0, 3600},
    };
    const enum cf_rate_verdict v =
        cf_rate_limit(ctx->svc->redis, "leads_form", rules, 2, NULL, &retry_s);
    free(contact_key);
    free(ip_key);
    if (v != CF_RATE_LIMITED)
        return 0;
    char ra[24];
    cf_http_error(resp, 429, "rate_limited", "too many form posts; retry later", NULL);
    snprintf(ra, sizeof(ra), "%ld", retry_s);
    u_map_put(resp->map_header, "Retry-After", ra);
    return 1;
}

/* Our form's answer: 202 with the lead event's id (of the first fact; a
 * random one for a form acknowledged without a lead, so that a bot cannot
 * tell its post was dropped). */
static void generic_reply(struct _u_response *resp, const char *event_id)
{
    char random_id[CF_UUID_STR_LEN + 1];
    if (!event_id) {
        cf_uuid4(random_id);
        event_id = random_id;
    }
    json_t *j_reply = json_pack("{s:s, s:s}", "status", "accepted", "lead_event_id", event_id);
    cf_http_json(resp, 202, j_reply);
    json_decref(j_reply);
}

/* Our form endpoint answers a page script on another site (the page
 * script posts a simple urlencoded request, no preflight): the request's
 * Origin is allowed when it is one of a clinic's cors_origins in the
 * channel's network, so the script can read the answer, refusals too. */
static void form_cors(const struct _u_request *req, struct _u_response *resp,
                      const struct cf_network *net)
{
    const char *origin = cf_http_header(req, "Origin");
    size_t i;
    json_t *j_o;

    if (!origin)
        return;
    u_map_put(resp->map_header, "Vary", "Origin");
    for (size_t c = 0; c < net->nclinics; c++) {
        json_array_foreach(json_object_get(net->clinics[c].doc, "cors_origins"), i, j_o)
        {
            if (json_is_string(j_o) && strcmp(json_string_value(j_o), origin) == 0) {
                u_map_put(resp->map_header, "Access-Control-Allow-Origin", origin);
                return;
            }
        }
    }
}

int leads_handle_hook(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct leads_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    json_t *j_facts = json_array();
    struct leads_fact *facts = NULL;
    size_t nfacts = 0;
    struct cf_hook_http in;
    char errbuf[256], event_id[CF_UUID_STR_LEN + 1], first_id[CF_UUID_STR_LEN + 1] = "";
    struct cf_hook_reply reply = {.status = 200};
    struct cf_hook_notes notes = {0};
    const struct leads_adapter *ad = NULL;
    const struct cf_channel *ch = NULL;
    const struct cf_network *net = NULL;
    int is_form = 0;

    if (cf_hook_http_route(req, "/v1/hooks/leads/", &in) != 0 ||
        !(ad = leads_adapter_find(in.provider)) || !(ch = cf_netconf_channel(snap, in.channel)) ||
        (strcmp(ch->kind, "form") != 0 && strcmp(ch->kind, "messenger") != 0) ||
        strcmp(ch->provider, in.provider) != 0 ||
        !(net = cf_netconf_network(snap, ch->network_id))) {
        cf_http_error(resp, 404, "not_found", "no such leads channel for this provider", NULL);
        goto out;
    }
    const char *provider = ch->provider;
    is_form = strcmp(provider, "generic") == 0;

    /* Where a provider signs nothing of the event (a static secret), the
     * channel may name its addresses: a request from elsewhere is refused
     * before anything is read. */
    const json_t *j_allowed = json_object_get(ch->doc, "allowed_sources");
    if (j_allowed && !cf_hook_http_source_allowed(req, ch->id, j_allowed, &ctx->proxies)) {
        cf_info("%s webhook on channel %s refused: not from an allowed source", provider, ch->id);
        count("clinicflow_leads_hooks_refused_total", provider, "source");
        cf_http_error(resp, 401, "unauthorized",
                      "the request does not come from an address this channel allows", NULL);
        goto out;
    }
    if (cf_hook_http_decode(req, NULL, &in, resp) != 0)
        goto out;
    struct cf_hook hook = in.hook;
    hook.channel = ch->doc;
    hook.replay_window_s = ctx->cfg.replay_window_s;
    hook.default_cc = ctx->cfg.default_cc;
    hook.notes = &notes;

    if (ad->precheck && ad->precheck(&hook, &reply)) {
        cf_hook_http_reply(resp, &reply);
        goto out;
    }
    if (ad->verify(&hook, errbuf, sizeof(errbuf)) != 0) {
        cf_info("%s webhook on channel %s refused: %s", provider, ch->id, errbuf);
        count("clinicflow_leads_hooks_refused_total", provider,
              notes.refused ? notes.refused : "signature");
        cf_http_error(resp, 401, "unauthorized", "the request's signature or token is not valid",
                      NULL);
        goto out;
    }
    const char *field = NULL;
    if (cf_hook_http_invalid(&in, &field, errbuf, sizeof(errbuf)) != 0 ||
        ad->parse(&hook, j_facts, &field, errbuf, sizeof(errbuf)) != 0) {
        if (ad->never_refuse) {
            /* a 4xx would make the provider disable the hook */
            cf_info("%s webhook on channel %s acknowledged without a lead: %s", provider, ch->id,
                    errbuf);
            count("clinicflow_leads_hooks_ignored_total", provider, "invalid");
            ad->reply_ok(&hook, &reply);
            cf_hook_http_reply(resp, &reply);
            goto out;
        }
        count("clinicflow_leads_hooks_refused_total", provider, "invalid");
        cf_http_error(resp, 400, "invalid_field", errbuf, field);
        goto out;
    }

    /* Normalize them all before anything is produced: a fact an adapter
     * should never make refuses the whole request. */
    nfacts = json_array_size(j_facts);
    facts = cf_xcalloc(nfacts + 1, sizeof(*facts));
    const struct leads_norm norm = {
        .provider = provider,
        .channel = ch->id,
        .channel_clinic = cf_hook_str(ch->doc, "clinic_id"),
        .net = net,
        .default_cc = ctx->cfg.default_cc,
        .text_max = ctx->cfg.text_max,
        .received_ms = hook.received_ms,
        .claimed_max_age_ms = ctx->cfg.form_time_max_age_s * 1000,
        .time_max_age_ms = (int64_t)ctx->cfg.hook_max_age_s * 1000,
        .time_max_ahead_ms = (int64_t)ctx->cfg.hook_max_ahead_s * 1000,
    };
    for (size_t i = 0; i < nfacts; i++) {
        if (leads_fact_normalize(&norm, json_array_get(j_facts, i), &facts[i], errbuf,
                                 sizeof(errbuf)) != 0) {
            cf_error("%s webhook on channel %s: %s", provider, ch->id, errbuf);
            cf_http_error_from(resp, CF_EINTERNAL, "the request could not be read", NULL, 0);
            goto out;
        }
        if (facts[i].time_amended && !notes.amended)
            cf_hook_amended(&hook, "time_out_of_bounds");
    }
    if (is_form && form_limited(ctx, req, nfacts ? &facts[0] : NULL, resp))
        goto out;
    /* A request that names nobody opens no lead: acknowledged as the
     * provider expects, nothing produced (a form's own adapter refuses it
     * with a 400 before). A response delivered with its request answers
     * that request's person. */
    size_t nproduce = nfacts;
    if (!is_form && nfacts > 0 && leads_fact_names_nobody(&facts[0])) {
        cf_hook_ignored(&hook, "no_contact");
        nproduce = 0;
    }
    for (size_t i = 1; i < nproduce; i++)
        if (strcmp(cf_hook_str(facts[0].data, "kind"), "request") == 0 &&
            strcmp(cf_hook_str(facts[i].data, "kind"), "response") == 0)
            leads_fact_answers(&facts[i], &facts[0]);
    for (size_t i = 0; i < nproduce; i++) {
        int rc = leads_ingest_fact(ctx, &norm, &facts[i], event_id, errbuf, sizeof(errbuf));
        if (rc != 0) {
            if (cf_err_http_status(rc == CF_ETIMEOUT ? CF_EUNAVAIL : rc) == 503)
                count("clinicflow_leads_hooks_refused_total", provider, "unavailable");
            leads_answer_unstored(ctx, resp, rc, "lead fact", errbuf);
            goto out;
        }
        if (i == 0)
            memcpy(first_id, event_id, sizeof(first_id));
    }
    count_notes(provider, ch->id, &notes, nproduce);
    if (is_form) {
        generic_reply(resp, first_id[0] ? first_id : NULL);
    } else {
        ad->reply_ok(&hook, &reply);
        cf_hook_http_reply(resp, &reply);
    }

out:
    if (is_form)
        form_cors(req, resp, net);
    for (size_t i = 0; facts && i < nfacts; i++)
        leads_fact_clear(&facts[i]);
    free(facts);
    cf_hook_http_clear(&in);
    json_decref(j_facts);
    cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}
