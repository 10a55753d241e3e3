/*
 * POST /v1/leads/{id}/events: the front desk or a CRM tells what became
 * of a lead: "responded" (someone answered: who, through which channel,
 * when), "booked" (an appointment), "lost" (why, from a fixed list),
 * "spam". One of our own APIs, so it is strict: an ingest key, JSON,
 * unknown members refused, members of another type refused. The sender's
 * event_id makes the fact's id (uuid5 over the key's network, "api",
 * "lead-event" and it), so a retry is the same fact and the fold applies
 * it once. The intake reads no PostgreSQL: whether the lead exists, and is
 * the key's network's, is the fold's to decide (a fact names the key's
 * network, and the fold applies it only to a lead of that network).
 */
#include "ingest.h"
#include "leads.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/http.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/validate.h"
#include "common/xmalloc.h"

/* How far ahead of this server's clock an event's time may be. */
#define EVENT_AHEAD_MS (5 * 60000)

static const char *const types[] = {"responded", "booked", "lost", "spam", NULL};
static const char *const reasons[] = {
    "no_answer", "price", "chose_other_clinic", "not_relevant", "duplicate", "other", NULL};

static const struct cf_field event_fields[] = {
    {"event_id", CF_FIELD_STRING, 1, 1, 128, 0, 0, NULL},
    {"type", CF_FIELD_ENUM, 1, 0, 0, 0, 0, types},
    {"time", CF_FIELD_TIME, 0, 0, 0, 0, 0, NULL},
    {"staff_id", CF_FIELD_STRING, 0, 1, 64, 0, 0, NULL},
    {"channel", CF_FIELD_STRING, 0, 1, 64, 0, 0, NULL},
    {"appointment_id", CF_FIELD_STRING, 0, 1, 128, 0, 0, NULL},
    {"reason", CF_FIELD_ENUM, 0, 0, 0, 0, 0, reasons},
};

/* The members each type takes besides event_id, type and time: a member
 * of another type's is refused, so a typo in "type" cannot pass as a
 * different outcome. */
static const struct {
    const char *type;
    const char *kind; /* the fact's kind */
    const char *members[3];
    const char *required;
} rules[] = {
    {"responded", "response", {"staff_id", "channel", NULL}, NULL},
    {"booked", "status", {"appointment_id", "staff_id", NULL}, NULL},
    {"lost", "status", {"reason", "staff_id", NULL}, "reason"},
    {"spam", "status", {"staff_id", NULL, NULL}, NULL},
};

/* A member given as null is one not given, as cf_validate_object takes it:
 * dropped once it passed, so that the type's checks and the fact see only
 * members given (a "lost" event with a null reason has none). */
static void drop_nulls(json_t *j_body)
{
    const char *key;
    json_t *v;
    void *tmp;

    json_object_foreach_safe(j_body, tmp, key, v)
    {
        if (json_is_null(v))
            json_object_del(j_body, key);
    }
}

/* 0, or a 400 answered: a member the type does not take, or one it needs. */
static int check_type(const json_t *j_body, const char *type, struct _u_response *resp,
                      size_t *rule_out)
{
    static const char *const optional[] = {"staff_id", "channel", "appointment_id", "reason"};
    size_t r = 0;
    while (strcmp(rules[r].type, type) != 0)
        r++;
    for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
        int taken = 0;
        for (size_t k = 0; k < 3 && rules[r].members[k]; k++)
            taken |= strcmp(rules[r].members[k], optional[i]) == 0;
        if (!taken && json_object_get(j_body, optional[i])) {
            char msg[128];
            snprintf(msg, sizeof(msg), "not a member of a \"%s\" event", type);
            cf_http_error(resp, 400, "invalid_field", msg, optional[i]);
            return CF_EINVAL;
        }
    }
    if (rules[r].required && !json_object_get(j_body, rules[r].required)) {
        char msg[128];
        snprintf(msg, sizeof(msg), "required by a \"%s\" event", type);
        cf_http_error(resp, 400, "invalid_field", msg, rules[r].required);
        return CF_EINVAL;
    }
    *rule_out = r;
    return 0;
}

int leads_handle_event_post(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct leads_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = NULL;
    const struct cf_network *net = NULL;
    json_t *j_body = NULL, *j_data = NULL, *j_reply = NULL;
    json_error_t jerr;
    char field[64], errbuf[256], lead_id[CF_UUID_STR_LEN + 1];
    struct cf_event ev = {0};
    size_t body_len = 0, r = 0;

    if (cf_service_authorize(ctx->svc, req, resp, CF_SCOPE_INGEST, &snap, &net) != 0)
        return U_CALLBACK_COMPLETE;

    const char *id = u_map_get(req->map_url, "id");
    if (!id || !cf_uuid_valid(id)) {
        cf_http_error(resp, 400, "invalid_field", "the lead id in the path is not a UUID", "id");
        goto out;
    }
    snprintf(lead_id, sizeof(lead_id), "%s", id);
    cf_uuid_lower(lead_id);
    const char *ctype = cf_http_header(req, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
        cf_http_error(resp, 415, "unsupported_media_type", "expected Content-Type application/json",
                      NULL);
        goto out;
    }
    const char *body = cf_http_body(req, &body_len);
    j_body = cf_json_loadb(body ? body : "", body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j_body) {
        cf_http_error(resp, 400, "invalid_json", jerr.text, NULL);
        goto out;
    }
    if (cf_validate_object(j_body, event_fields, sizeof(event_fields) / sizeof(event_fields[0]),
                           field, sizeof(field), errbuf, sizeof(errbuf)) != 0) {
        cf_http_error(resp, 400, "invalid_field", errbuf, field);
        goto out;
    }
    drop_nulls(j_body);
    const char *type = json_string_value(json_object_get(j_body, "type"));
    if (check_type(j_body, type, resp, &r) != 0)
        goto out;

    /* the fact (README.md): a response, or a status */
    const char *event_id = json_string_value(json_object_get(j_body, "event_id"));
    j_data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", rules[r].kind, "provider", "api",
                       "channel", "api", "provider_event_id", event_id, "lead_id", lead_id);
    json_t *v;
    if ((v = json_object_get(j_body, "staff_id")))
        json_object_set(j_data, "staff_id", v);
    if (strcmp(rules[r].kind, "response") == 0) {
        v = json_object_get(j_body, "channel");
        json_object_set_new(j_data, "via", v ? json_incref(v) : json_string("api"));
    } else {
        json_object_set_new(j_data, "status", json_string(type));
        if ((v = json_object_get(j_body, "reason")))
            json_object_set(j_data, "reason", v);
        if ((v = json_object_get(j_body, "appointment_id")))
            json_object_set(j_data, "appointment_id", v);
    }
    int64_t time_ms;
    const int64_t now_ms = cf_time_now_ms();
    if (cf_time_parse(json_string_value(json_object_get(j_body, "time")), &time_ms) != 0)
        time_ms = now_ms; /* absent: it happened now */
    /* a sender's clock ahead of ours: a response dated later than it was
     * would stop the clock late, a breach before the due time */
    if (time_ms > now_ms + EVENT_AHEAD_MS) {
        cf_http_error(resp, 400, "invalid_field",
                      "time is in the future (more than 5 minutes ahead of this server)", "time");
        goto out;
    }

    const char *parts[] = {net->id, "api", "lead-event", event_id};
    cf_uuid5(parts, 4, ev.id);
    ev.source = cf_xstrdup("/clinicflow/leads/api");
    ev.type = cf_xstrdup("clinicflow.lead.reported");
    ev.subject = cf_xstrdup(lead_id);
    ev.time_ms = time_ms;
    ev.networkid = cf_xstrdup(net->id);
    ev.data = j_data;
    j_data = NULL;
    int rc = leads_produce_raw(ctx, &ev, errbuf, sizeof(errbuf));
    if (rc != 0) {
        leads_answer_unstored(ctx, resp, rc, "lead event", errbuf);
        goto out;
    }
    j_reply = json_pack("{s:s, s:s}", "id", ev.id, "lead_id", lead_id);
    cf_http_json(resp, 202, j_reply);

out:
    cf_event_clear(&ev);
    json_decref(j_reply);
    json_decref(j_data);
    json_decref(j_body);
    if (snap)
        cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}
