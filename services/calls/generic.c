/*
 * POST /v1/hooks/calls/generic: the documented call JSON
 * (proto/schemas/generic-call.json) for PBXs and integrators without a
 * provider adapter. It is one of our own APIs, so it is strict: an ingest
 * key, application/json, unknown members rejected, phones must be phones,
 * the clinic must belong to the key's network. The sender's event_id makes
 * the envelope id, so a retry is recognised downstream.
 */
#include "calls.h"
#include "providers/adapters.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/http.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/time.h"
#include "common/validate.h"

static const char *const events[] = {"started", "answered", "ended", NULL};
static const char *const directions[] = {"inbound", "outbound", NULL};
static const char *const outcomes[] = {"answered", "missed", "busy", "failed", "voicemail", NULL};
static const char *const agent_groups[] = {"call_center", "reception", NULL};

static const struct cf_field generic_fields[] = {
    {"event_id", CF_FIELD_STRING, 1, 1, 128, 0, 0, NULL},
    {"clinic_id", CF_FIELD_STRING, 1, 1, 64, 0, 0, NULL},
    {"call_id", CF_FIELD_STRING, 1, 1, 128, 0, 0, NULL},
    {"event", CF_FIELD_ENUM, 1, 0, 0, 0, 0, events},
    {"time", CF_FIELD_TIME, 1, 0, 0, 0, 0, NULL},
    {"direction", CF_FIELD_ENUM, 1, 0, 0, 0, 0, directions},
    {"from", CF_FIELD_STRING, 1, 1, 64, 0, 0, NULL},
    {"to", CF_FIELD_STRING, 1, 1, 64, 0, 0, NULL},
    {"started_at", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"answered_at", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"ended_at", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"ring_seconds", CF_FIELD_INT, 0, 0, 0, 0, 86400, NULL},
    {"talk_seconds", CF_FIELD_INT, 0, 0, 0, 0, 86400, NULL},
    {"outcome", CF_FIELD_ENUM, 0, 0, 0, 0, 0, outcomes},
    {"agent_id", CF_FIELD_STRING, 0, 1, 64, 0, 0, NULL},
    {"agent_group", CF_FIELD_ENUM, 0, 0, 0, 0, 0, agent_groups},
    {"recording_url", CF_FIELD_STRING, 0, 1, 2048, 0, 0, NULL},
    {"tracking_number", CF_FIELD_STRING, 0, 1, 64, 0, 0, NULL},
};

/* The field of generic_fields named name (every member the route reads). */
static const struct cf_field *field_of(const char *name)
{
    for (size_t i = 0; i < sizeof(generic_fields) / sizeof(generic_fields[0]); i++)
        if (strcmp(generic_fields[i].name, name) == 0)
            return &generic_fields[i];
    return NULL;
}

/* Members copied from the request into the fact (times in one form). */
static const char *const passthrough[] = {
    "event",        "direction", "started_at", "answered_at", "ended_at",      "ring_seconds",
    "talk_seconds", "outcome",   "agent_id",   "agent_group", "recording_url", NULL};

/* A party that must be a phone number; sets a 400 and returns NULL if not. */
static json_t *phone_party(struct calls_ctx *ctx, const char *raw, const char *field,
                           int parties_too, struct _u_response *resp)
{
    json_t *j_party = calls_party_new(raw, ctx->cfg.default_cc);
    const char *kind = json_string_value(json_object_get(j_party, "kind"));

    if (strcmp(kind, "e164") != 0 && (!parties_too || strcmp(kind, "invalid") == 0)) {
        json_decref(j_party);
        cf_http_error(resp, 400, "invalid_phone",
                      parties_too ? "not a phone number (national or E.164 form), an extension "
                                    "or a withheld number"
                                  : "not a phone number in national or E.164 form",
                      field);
        return NULL;
    }
    return j_party;
}

int handle_generic_call_post(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct calls_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = NULL;
    const struct cf_network *net = NULL;
    json_t *j_body = NULL, *j_fact = NULL, *j_from = NULL, *j_to = NULL, *j_reply = NULL;
    json_error_t jerr;
    char field[64], errbuf[256];
    char event_id[CF_UUID_STR_LEN + 1], call_id[CF_UUID_STR_LEN + 1];
    const char *ctype, *body;
    size_t body_len;
    int64_t time_ms = 0;
    int rc;

    if (cf_service_authorize(ctx->svc, req, resp, CF_SCOPE_INGEST, &snap, &net) != 0)
        return U_CALLBACK_COMPLETE;

    ctype = cf_http_header(req, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
        cf_http_error(resp, 415, "unsupported_media_type", "expected Content-Type application/json",
                      NULL);
        goto out;
    }
    body = cf_http_body(req, &body_len);
    j_body = cf_json_loadb(body ? body : "", body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j_body) {
        cf_http_error(resp, 400, "invalid_json", jerr.text, NULL);
        goto out;
    }
    if (cf_validate_object(j_body, generic_fields,
                           sizeof(generic_fields) / sizeof(generic_fields[0]), field, sizeof(field),
                           errbuf, sizeof(errbuf)) != 0) {
        cf_http_error(resp, 400, "invalid_field", errbuf, field);
        goto out;
    }
    /* Its times bounded as a provider's are (adapters.h), but for age: our
     * own format may bring a call of any age (a PBX's backlog), yet not one
     * ahead of the clock (in 9999: a call retention never deletes), nor a
     * start, answer or end more than a day from its time (a stale start
     * would make a ring of years the fold keeps). */
    const char *bad_time = NULL;
    const int64_t now_ms = cf_time_now_ms();
    if (calls_fact_bound_times(j_body, now_ms, (long)(now_ms / 1000), ctx->cfg.hook_max_ahead_s, 0,
                               &bad_time) != 0) {
        snprintf(errbuf, sizeof(errbuf),
                 "%s: after the time the request arrived, or more than a day from time", bad_time);
        cf_http_error(resp, 400, "invalid_field", errbuf, bad_time);
        goto out;
    }

    const char *clinic_id = json_string_value(json_object_get(j_body, "clinic_id"));
    if (!cf_netconf_clinic(net, clinic_id)) {
        cf_http_error(resp, 400, "unknown_clinic", "no such clinic in this network", "clinic_id");
        goto out;
    }
    /* A party may be an extension (the clinic's side, an internal call) or
     * withheld (a caller who hides the number); a tracking number is a
     * number. */
    if (!(j_from = phone_party(ctx, json_string_value(json_object_get(j_body, "from")), "from", 1,
                               resp)) ||
        !(j_to = phone_party(ctx, json_string_value(json_object_get(j_body, "to")), "to", 1, resp)))
        goto out;
    const char *tracking = json_string_value(json_object_get(j_body, "tracking_number"));
    json_t *j_tracking = NULL;
    if (tracking && !(j_tracking = phone_party(ctx, tracking, "tracking_number", 0, resp)))
        goto out;

    /* Normalize: the fact carries parties with E.164 forms and the contact key
     * of the external party (the caller inbound, the called party outbound). */
    j_fact = json_object();
    for (const char *const *p = passthrough; *p; p++) {
        json_t *v = json_object_get(j_body, *p);
        int64_t at;
        if (!v || json_is_null(v)) /* null: absent, as the schema reads it */
            continue;
        if (field_of(*p)->type == CF_FIELD_TIME &&
            cf_time_parse(json_string_value(v), &at) == 0) /* validated: one form of it */
            cf_time_json_set(j_fact, *p, at);
        else
            json_object_set(j_fact, *p, v);
    }
    const int inbound =
        strcmp(json_string_value(json_object_get(j_body, "direction")), "inbound") == 0;
    const char *external = json_string_value(json_object_get(inbound ? j_from : j_to, "e164"));
    if (external) { /* none for a withheld caller or an internal call */
        char contact_key[CF_SHA256_HEX_LEN + 1];
        cf_contact_key(net->secret, external, contact_key);
        json_object_set_new(j_fact, "contact_key", json_string(contact_key));
    }
    json_object_set_new(j_fact, "from", j_from);
    json_object_set_new(j_fact, "to", j_to);
    j_from = j_to = NULL;
    if (j_tracking)
        json_object_set(j_fact, "tracking_number", json_object_get(j_tracking, "e164"));
    json_decref(j_tracking);
    cf_time_parse(json_string_value(json_object_get(j_body, "time")), &time_ms);

    /* Produce and wait for the acknowledgement; only then 202. */
    rc = calls_ingest_fact(ctx, net, clinic_id, "generic", "-",
                           json_string_value(json_object_get(j_body, "event_id")),
                           json_string_value(json_object_get(j_body, "call_id")), time_ms, j_fact,
                           event_id, call_id, errbuf, sizeof(errbuf));
    j_fact = NULL; /* stolen */
    if (rc != 0) {
        calls_answer_unstored(ctx, resp, rc, "call fact", errbuf);
        goto out;
    }
    j_reply = json_pack("{s:s, s:s}", "id", event_id, "call_id", call_id);
    cf_http_json(resp, 202, j_reply);

out:
    json_decref(j_reply);
    json_decref(j_fact);
    json_decref(j_from);
    json_decref(j_to);
    json_decref(j_body);
    if (snap)
        cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}
