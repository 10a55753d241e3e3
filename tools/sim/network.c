/*
 * The network file (deploy/local/NETWORK.md) read for what the requests
 * need: the network's id and secret, the first three clinics (the model's
 * strong, weak and middle clinic, in that order) and the first channel of
 * each provider the simulator speaks. The file is the one clinicflowctl
 * applied, so its secrets are the ones the services check.
 */
#include "sim.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/time.h"

static const json_t *channel_of(const json_t *j_doc, const char *kind, const char *provider)
{
    size_t i;
    const json_t *j_chan;
    json_array_foreach(json_object_get(j_doc, "channels"), i, j_chan)
    {
        const char *k = json_string_value(json_object_get(j_chan, "kind"));
        const char *p = json_string_value(json_object_get(j_chan, "provider"));
        if (k && p && strcmp(k, kind) == 0 && strcmp(p, provider) == 0 &&
            !json_is_true(json_object_get(j_chan, "staff_leg")))
            return j_chan;
    }
    return NULL;
}

int sim_network_load(const char *path, struct sim_network *out, char *errbuf, size_t errbuf_size)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    out->j_doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!out->j_doc) {
        snprintf(errbuf, errbuf_size, "%s:%d: %s", path, jerr.line, jerr.text);
        return CF_EINVAL;
    }
    out->id = json_string_value(json_object_get(out->j_doc, "id"));
    out->secret = json_string_value(json_object_get(out->j_doc, "secret"));
    const json_t *j_clinics = json_object_get(out->j_doc, "clinics");
    if (!out->id || !out->secret || json_array_size(j_clinics) < SIM_CLINICS) {
        snprintf(errbuf, errbuf_size, "%s: needs id, secret and at least %d clinics", path,
                 SIM_CLINICS);
        goto fail;
    }
    for (int i = 0; i < SIM_CLINICS; i++)
        out->clinic_ids[i] =
            json_string_value(json_object_get(json_array_get(j_clinics, (size_t)i), "id"));
    for (int p = 0; p < SIM_CALL_PROVS; p++) {
        out->chan_calls[p] = channel_of(out->j_doc, "telephony", sim_prov_name(p));
        if (!out->chan_calls[p]) {
            snprintf(errbuf, errbuf_size, "%s: no telephony channel of provider %s", path,
                     sim_prov_name(p));
            goto fail;
        }
    }
    out->chan_uis = channel_of(out->j_doc, "telephony", "uis");
    for (int c = 0; c < SIM_LEAD_CHANS; c++) {
        out->chan_leads[c] =
            channel_of(out->j_doc, c == SIM_FORM ? "form" : "messenger", sim_chan_name(c));
        if (!out->chan_leads[c]) {
            snprintf(errbuf, errbuf_size, "%s: no leads channel of provider %s", path,
                     sim_chan_name(c));
            goto fail;
        }
    }
    return 0;
fail:
    sim_network_free(out);
    return CF_EINVAL;
}

void sim_network_free(struct sim_network *net)
{
    json_decref(net->j_doc);
    memset(net, 0, sizeof(*net));
}

const char *sim_chan_cred(const json_t *j_chan, const char *name)
{
    const char *v =
        json_string_value(json_object_get(json_object_get(j_chan, "credentials"), name));
    return v ? v : "";
}

const char *sim_chan_id(const json_t *j_chan)
{
    return json_string_value(json_object_get(j_chan, "id"));
}

int sim_tracking_in_use(const json_t *j_tn, const char *date)
{
    const char *from = json_string_value(json_object_get(j_tn, "valid_from"));
    const char *to = json_string_value(json_object_get(j_tn, "valid_to"));
    return (!from || strncmp(from, date, 10) <= 0) && (!to || strncmp(to, date, 10) >= 0);
}

void sim_network_date(const struct sim_network *net, long long t0, char date[11])
{
    const char *tz = json_string_value(json_object_get(net->j_doc, "timezone"));
    struct cf_time_local lt;
    char at[32];

    if (tz && cf_time_to_local(tz, t0 * 1000, &lt) == 0)
        snprintf(at, sizeof(at), "%04d-%02d-%02d", lt.year, lt.month, lt.day);
    else
        cf_time_format(t0 * 1000, at);
    snprintf(date, 11, "%.10s", at);
}

/* The part of a campaign's name before its period ("hygiene" of
 * "hygiene-2026"): its length. */
static size_t campaign_family(const char *campaign)
{
    const char *dash = strchr(campaign, '-');
    return dash ? (size_t)(dash - campaign) : strlen(campaign);
}

const char *sim_source_campaign_at(const struct sim_network *net, enum sim_source s, long long t0)
{
    const char *own = sim_source_campaign(s), *name = sim_source_name(s);
    char date[11];
    size_t i;
    const json_t *j_tn;

    if (!own || !name)
        return own;
    sim_network_date(net, t0, date);
    const size_t family = campaign_family(own);
    json_array_foreach(json_object_get(net->j_doc, "tracking_numbers"), i, j_tn)
    {
        const char *src = json_string_value(json_object_get(j_tn, "source"));
        const char *campaign = json_string_value(json_object_get(j_tn, "campaign"));
        if (src && campaign && strcmp(src, name) == 0 && sim_tracking_in_use(j_tn, date) &&
            campaign_family(campaign) == family && strncmp(campaign, own, family) == 0)
            return campaign;
    }
    return own;
}
