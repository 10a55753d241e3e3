/*
 * /v1/hooks/calls/{provider}/{channel}[/...]: where telephony providers
 * post. The channel (network config) names the network, the credentials,
 * the number-to-clinic mapping and the PBX time zone. This file decodes the
 * request into a struct cf_hook, runs the provider's adapter (precheck,
 * verify, parse; adapters.h), normalizes every fact (parties to E.164 or
 * raw, the contact key of the external party, the clinic from the number
 * mapping) and produces them to calls.raw, answering the provider's
 * expected reply only after Kafka acknowledged all of them. A provider
 * retries on anything but success, and retried facts have the same ids, so
 * a 503 loses nothing and a retry duplicates nothing.
 */
#include "adapters.h"
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/hook_http.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/validate.h"
#include "common/xmalloc.h"

static const struct calls_adapter *const adapters[] = {
    &calls_adapter_twilio,  &calls_adapter_asterisk, &calls_adapter_mango,
    &calls_adapter_zadarma, &calls_adapter_sipuni,   &calls_adapter_uis,
};

const struct calls_adapter *calls_adapter_find(const char *provider)
{
    for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (provider && strcmp(adapters[i]->provider, provider) == 0)
            return adapters[i];
    }
    return NULL;
}

/* The clinic of a fact: the channel's mapping of the number the call came
 * in on (inbound: the called number; outbound: the caller's), else the
 * channel's clinic, else none. A fact that names neither party (a staff
 * leg's, which reports for a call whose own facts name them) has none:
 * the channel's clinic would take the call (the first clinic a call gets
 * is its clinic, unless it was the default of a channel that maps numbers
 * and a later fact's number maps) before its own facts and their number's
 * mapping came. *by_channel: 1 when the clinic is the channel's default. */
static const char *fact_clinic(const json_t *channel, const json_t *j_fact, int inbound,
                               int names_parties, int *by_channel)
{
    const json_t *numbers = json_object_get(channel, "numbers");
    const char *ours = json_string_value(
        json_object_get(json_object_get(j_fact, inbound ? "to" : "from"), "e164"));
    const char *tracking = json_string_value(json_object_get(j_fact, "tracking_number"));
    const char *clinic = NULL;

    if (tracking)
        clinic = json_string_value(json_object_get(numbers, tracking));
    if (!clinic && ours)
        clinic = json_string_value(json_object_get(numbers, ours));
    *by_channel = 0;
    if (!clinic && names_parties) {
        clinic = json_string_value(json_object_get(channel, "clinic_id"));
        *by_channel = clinic != NULL;
    }
    return clinic;
}

/* Normalizes one adapter fact into the calls.raw fact and produces it. */
static int ingest_one(struct calls_ctx *ctx, const struct cf_network *net,
                      const struct cf_channel *ch, json_t *j_in, char *errbuf, size_t errbuf_size)
{
    static const char *const passthrough[] = {"event",
                                              "direction",
                                              "started_at",
                                              "answered_at",
                                              "ended_at",
                                              "ring_seconds",
                                              "talk_seconds",
                                              "outcome",
                                              "agent_id",
                                              "agent_group",
                                              "recording_url",
                                              "agent_outcome",
                                              "agent_answered_at",
                                              "agent_talk_seconds",
                                              "agent_expected",
                                              NULL};
    const char *event_key = cf_hook_str(j_in, "event_key");
    const char *call_key = cf_hook_str(j_in, "call_key");
    const char *direction = cf_hook_str(j_in, "direction");
    const char *from = cf_hook_str(j_in, "from"), *to = cf_hook_str(j_in, "to");
    int64_t time_ms;
    char event_id[CF_UUID_STR_LEN + 1], call_id[CF_UUID_STR_LEN + 1];

    if (!event_key || !call_key || !direction || !from || !to || !cf_hook_str(j_in, "event") ||
        cf_time_parse(cf_hook_str(j_in, "time"), &time_ms) != 0) {
        cf_seterr(errbuf, errbuf_size, "the %s adapter produced an incomplete fact", ch->provider);
        return CF_EINTERNAL;
    }
    const int inbound = strcmp(direction, "inbound") == 0;
    json_t *j_fact = json_object();
    for (const char *const *p = passthrough; *p; p++) {
        json_t *v = json_object_get(j_in, *p);
        if (v && !json_is_null(v))
            json_object_set(j_fact, *p, v);
    }
    /* As much as the schema keeps (call.reported.json); a cut link would
     * lead nowhere, so a longer one is left out. */
    cf_validate_cut_string(j_fact, "agent_id", 128);
    if (cf_validate_json_chars(json_object_get(j_fact, "recording_url")) > 2048)
        json_object_del(j_fact, "recording_url");
    json_t *j_from = calls_party_new(from, ctx->cfg.default_cc);
    json_t *j_to = calls_party_new(to, ctx->cfg.default_cc);
    const char *external = json_string_value(json_object_get(inbound ? j_from : j_to, "e164"));
    if (external) {
        char contact_key[CF_SHA256_HEX_LEN + 1];
        cf_contact_key(net->secret, external, contact_key);
        json_object_set_new(j_fact, "contact_key", json_string(contact_key));
    }
    json_object_set_new(j_fact, "from", j_from);
    json_object_set_new(j_fact, "to", j_to);
    const char *tracking = cf_hook_str(j_in, "tracking_number");
    if (tracking) {
        json_t *j_tr = calls_party_new(tracking, ctx->cfg.default_cc);
        const char *e164 = json_string_value(json_object_get(j_tr, "e164"));
        if (e164)
            json_object_set_new(j_fact, "tracking_number", json_string(e164));
        json_decref(j_tr);
    }
    int by_channel = 0;
    const char *clinic =
        fact_clinic(ch->doc, j_fact, inbound, *from || *to || tracking, &by_channel);
    if (clinic && !cf_netconf_clinic(net, clinic))
        clinic = NULL; /* a mapping to a clinic the network no longer has */
    /* only the channel's default: a later fact of the call that names a
     * mapped number (Sipuni's hangup, after a start that named only the
     * extension) gives the call its clinic (fold.c) */
    if (clinic && by_channel && json_object_size(json_object_get(ch->doc, "numbers")) > 0)
        json_object_set_new(j_fact, "clinic_by_channel", json_true());
    return calls_ingest_fact(ctx, net, clinic, ch->provider, ch->id, event_key, call_key, time_ms,
                             j_fact, event_id, call_id, errbuf, errbuf_size);
}

/* Counts and logs what an acknowledged request did not record whole: no
 * fact at all (ignored), or a fact with something replaced or left out
 * (amended). By provider and reason, both from bounded sets; the log line
 * names the channel, never a party. */
static void count_notes(const char *provider, const char *channel_id,
                        const struct cf_hook_notes *notes, size_t nfacts, const char *unbounded)
{
    char labels[160];

    if (unbounded) {
        snprintf(labels, sizeof(labels), "provider=\"%s\",reason=\"time_out_of_bounds\"", provider);
        cf_metrics_add("clinicflow_calls_hooks_amended_total", labels, 1);
        cf_info("%s webhook on channel %s recorded without %s: out of bounds", provider, channel_id,
                unbounded);
    }
    if (nfacts == 0) {
        const char *reason = notes->ignored ? notes->ignored : "not_a_call_event";
        snprintf(labels, sizeof(labels), "provider=\"%s\",reason=\"%s\"", provider, reason);
        cf_metrics_add("clinicflow_calls_hooks_ignored_total", labels, 1);
        cf_info("%s webhook on channel %s acknowledged without a fact: %s%s%s%s", provider,
                channel_id, reason, notes->detail[0] ? " (\"" : "", notes->detail,
                notes->detail[0] ? "\")" : "");
    }
    if (notes->amended) {
        snprintf(labels, sizeof(labels), "provider=\"%s\",reason=\"%s\"", provider, notes->amended);
        cf_metrics_add("clinicflow_calls_hooks_amended_total", labels, 1);
        cf_info("%s webhook on channel %s recorded amended: %s", provider, channel_id,
                notes->amended);
    }
}

int handle_provider_hook(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct calls_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    json_t *j_facts = json_array(), *j_channel = NULL;
    struct cf_hook_http in;
    char errbuf[256];
    struct cf_hook_reply reply = {.status = 200};
    struct cf_hook_notes notes = {0};
    const struct calls_adapter *ad = NULL;
    const struct cf_channel *ch = NULL;
    const struct cf_network *net = NULL;

    if (cf_hook_http_route(req, "/v1/hooks/calls/", &in) != 0 ||
        !(ad = calls_adapter_find(in.provider)) || !(ch = cf_netconf_channel(snap, in.channel)) ||
        strcmp(ch->kind, "telephony") != 0 || strcmp(ch->provider, in.provider) != 0 ||
        !(net = cf_netconf_network(snap, ch->network_id))) {
        cf_http_error(resp, 404, "not_found", "no such telephony channel for this provider", NULL);
        goto out;
    }
    const char *provider = ch->provider;

    /* Where the provider's signature covers only part of the event (or
     * there is none), the channel may name the provider's addresses: a
     * request from elsewhere is refused before anything is read. */
    const json_t *j_allowed = json_object_get(ch->doc, "allowed_sources");
    if (j_allowed && !cf_hook_http_source_allowed(req, ch->id, j_allowed, &ctx->proxies)) {
        cf_info("%s webhook on channel %s refused: not from an allowed source", provider, ch->id);
        cf_metrics_add("clinicflow_calls_hooks_refused_total", "reason=\"source\"", 1);
        cf_http_error(resp, 401, "unauthorized",
                      "the request does not come from an address this channel allows", NULL);
        goto out;
    }
    if (cf_hook_http_decode(req, ctx->cfg.public_base_url, &in, resp) != 0)
        goto out;

    /* A channel without a zone of its own has the network's (PBX local
     * times need one). A deep copy: the configuration's values are shared
     * by every thread, and a shallow copy takes a reference on each. */
    if (!json_is_string(json_object_get(ch->doc, "timezone")) && net->tz) {
        j_channel = json_deep_copy(ch->doc);
        json_object_set_new(j_channel, "timezone", json_string(net->tz));
    }
    struct cf_hook hook = in.hook;
    hook.channel = j_channel ? j_channel : ch->doc;
    hook.replay_window_s = ctx->cfg.replay_window_s;
    hook.notes = &notes;
    if (ad->precheck && ad->precheck(&hook, &reply)) {
        cf_hook_http_reply(resp, &reply);
        goto out;
    }
    if (ad->verify(&hook, errbuf, sizeof(errbuf)) != 0) {
        cf_info("%s webhook on channel %s refused: %s", provider, ch->id, errbuf);
        char labels[64];
        snprintf(labels, sizeof(labels), "reason=\"%s\"",
                 notes.refused ? notes.refused : "signature");
        cf_metrics_add("clinicflow_calls_hooks_refused_total", labels, 1);
        cf_http_error(resp, 401, "unauthorized", "the request's signature or token is not valid",
                      NULL);
        goto out;
    }
    const char *invalid = NULL;
    if (cf_hook_http_invalid(&in, &invalid, errbuf, sizeof(errbuf)) != 0 ||
        ad->parse(&hook, j_facts, errbuf, sizeof(errbuf)) != 0) {
        cf_http_error(resp, 400, "invalid_field", errbuf, invalid);
        goto out;
    }
    size_t i;
    json_t *j_in;
    /* Before any is produced: a call key is kept whole (the call's id and
     * later reports about it are derived from it), and no provider's call
     * id comes near the 256 characters the events keep. */
    json_array_foreach(j_facts, i, j_in)
    {
        if (cf_validate_json_chars(json_object_get(j_in, "call_key")) > 256) {
            cf_http_error(resp, 400, "invalid_field",
                          "the provider's call id is longer than 256 characters", NULL);
            goto out;
        }
    }
    /* Times far from the arrival (a retry with a stale start, a body cut
     * short that reads as 1970) and durations beyond a day are never
     * folded: refused, or, where a refusal would lose the call, left out. */
    const char *unbounded = NULL;
    json_array_foreach(j_facts, i, j_in)
    {
        const char *field = NULL;
        const int b =
            calls_fact_bound_times(j_in, hook.received_ms, ctx->cfg.hook_max_age_s,
                                   ctx->cfg.hook_max_ahead_s, ad->keep_on_bad_time, &field);
        if (b < 0) {
            cf_info("%s webhook on channel %s refused: %s out of bounds", provider, ch->id, field);
            cf_metrics_add("clinicflow_calls_hooks_refused_total", "reason=\"time\"", 1);
            snprintf(errbuf, sizeof(errbuf),
                     "%s: too far from when the request arrived, or longer than a day", field);
            cf_http_error(resp, 400, "invalid_field", errbuf, field);
            goto out;
        }
        if (b > 0 && !unbounded)
            unbounded = field;
    }
    json_array_foreach(j_facts, i, j_in)
    {
        int rc = ingest_one(ctx, net, ch, j_in, errbuf, sizeof(errbuf));
        if (rc != 0) {
            calls_answer_unstored(ctx, resp, rc, "provider call fact", errbuf);
            goto out;
        }
    }
    count_notes(provider, ch->id, &notes, json_array_size(j_facts), unbounded);
    ad->reply_ok(&hook, &reply);
    cf_hook_http_reply(resp, &reply);

out:
    json_decref(j_channel);
    cf_hook_http_clear(&in);
    json_decref(j_facts);
    cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}
