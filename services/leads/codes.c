/*
 * POST /v1/leads/codes: an attribution code for a visitor's ad tags. A
 * clinic's page (web/clinicflow-leads.js) asks for one and puts it in a
 * messenger link (t.me/<bot>?start=<code>, a wa.me pre-filled text, a VK
 * ref); the first message that carries it gets the tags, which a
 * messenger would otherwise lose (the fold looks the code up).
 *
 * This is a record API, not intake: the code is written to PostgreSQL
 * (leads.codes, the record the fold reads) and committed before the answer,
 * then cached in Redis for its lifetime (a copy for readers that would
 * spare PostgreSQL: a failed write there costs them a look-up in it). PostgreSQL unreachable is a
 * 503 with Retry-After, never a code nobody can resolve.
 *
 * The route is public (browsers call it). CORS is answered for the named
 * clinic's cors_origins; a preflight, which carries no body and so names
 * no clinic, for an origin any clinic lists. The client address is rate
 * limited in Redis (common/rate_limit.h,
 * CLINICFLOW_LEADS_CODES_PER_IP_PER_MINUTE, 429 with Retry-After); while
 * Redis is down the limit is skipped and codes are still issued. A code is 10 characters of a
 * 32-letter lowercase alphabet from the system's CSPRNG: 50 bits, so guessing a live one is
 * hopeless within the rate limit, and it survives being typed or lowercased.
 */
#include "leads.h"
#include "ingest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/client_addr.h"
#include "common/err.h"
#include "common/http.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/rate_limit.h"
#include "common/redis.h"
#include "common/validate.h"
#include "common/xmalloc.h"

#define CODE_LEN 10
/* 32 letters (no i, l, o, u), so each random byte's low 5 bits pick one
 * without bias. */
static const char code_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* The body: the clinic, and the visitor's tags (each optional). */
static const struct cf_field code_fields[] = {
    {"clinic", CF_FIELD_STRING, 1, 1, 64, 0, 0, NULL},
    {"utm_source", CF_FIELD_STRING, 0, 0, 500, 0, 0, NULL},
    {"utm_medium", CF_FIELD_STRING, 0, 0, 500, 0, 0, NULL},
    {"utm_campaign", CF_FIELD_STRING, 0, 0, 500, 0, 0, NULL},
    {"utm_term", CF_FIELD_STRING, 0, 0, 500, 0, 0, NULL},
    {"utm_content", CF_FIELD_STRING, 0, 0, 500, 0, 0, NULL},
    {"gclid", CF_FIELD_STRING, 0, 0, 500, 0, 0, NULL},
    {"yclid", CF_FIELD_STRING, 0, 0, 500, 0, 0, NULL},
    {"fbclid", CF_FIELD_STRING, 0, 0, 500, 0, 0, NULL},
    {"ym_uid", CF_FIELD_STRING, 0, 0, 100, 0, 0, NULL},
    {"client_id", CF_FIELD_STRING, 0, 0, 100, 0, 0, NULL},
    {"referrer", CF_FIELD_STRING, 0, 0, 2000, 0, 0, NULL},
    {"page_url", CF_FIELD_STRING, 0, 0, 2000, 0, 0, NULL},
};
#define N_CODE_FIELDS (sizeof(code_fields) / sizeof(code_fields[0]))

static int origin_listed(const struct cf_clinic *clinic, const char *origin)
{
    return cf_http_origin_listed(json_object_get(clinic->doc, "cors_origins"), origin);
}

/* Sets the CORS headers when the request's Origin is allowed: one of the
 * clinic's origins, or, with clinic NULL (a preflight), any clinic's. */
static void cors(const struct _u_request *req, struct _u_response *resp,
                 const struct cf_netconf_snapshot *snap, const struct cf_clinic *clinic)
{
    const char *origin = cf_http_header(req, "Origin");
    int ok = 0;
    u_map_put(resp->map_header, "Vary", "Origin");
    if (!origin)
        return;
    if (clinic) {
        ok = origin_listed(clinic, origin);
    } else {
        for (size_t i = 0; !ok && i < snap->nnetworks; i++)
            for (size_t k = 0; !ok && k < snap->networks[i].nclinics; k++)
                ok = origin_listed(&snap->networks[i].clinics[k], origin);
    }
    if (!ok)
        return;
    cf_http_cors_allow(resp, origin, "POST, OPTIONS", "Content-Type");
}

/* One more code for the client address (cf_client_key: behind
 * CLINICFLOW_LEADS_TRUSTED_PROXIES the client a proxy names): 0 under the
 * limit, or when Redis could not say; else the seconds until the window
 * that refused it ends. */
static long over_limit(struct leads_ctx *ctx, const struct _u_request *req)
{
    char ip[64];
    long retry_s = 1;
    char *xff = cf_http_header_list(req, "X-Forwarded-For");
    cf_client_key(req->client_address, xff, &ctx->proxies, ip, sizeof(ip));
    free(xff);
    char *key = cf_xasprintf("cf:leads:rl:codes-ip:%s", ip);
    const struct cf_rate_rule rules[] = {{"ip", key, ctx->cfg.codes_per_ip_per_minute, 60}};
    const enum cf_rate_verdict v =
        cf_rate_limit(ctx->svc->redis, "leads_codes", rules, 1, NULL, &retry_s);
    free(key);
    return v == CF_RATE_LIMITED ? retry_s : 0;
}

static void new_code(char out[CODE_LEN + 1])
{
    unsigned char raw[CODE_LEN];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0)
            abort(); /* the kernel's CSPRNG failing is not a state to go on in */
        got += (size_t)n;
    }
    for (size_t i = 0; i < CODE_LEN; i++)
        out[i] = code_alphabet[raw[i] & 31];
    out[CODE_LEN] = '\0';
}

/* Writes the code's record and commits it (autocommit). 0 with the
 * expiry (RFC 3339, milliseconds) in expires; CF_ECONFLICT when the code
 * is taken; CF_EUNAVAIL when PostgreSQL cannot be had. */
static int record_code(struct leads_ctx *ctx, const char *code, const char *network_id,
                       const char *clinic_id, const char *tags, char *expires, size_t expires_size,
                       char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%ld", ctx->cfg.code_ttl_s);
    const char *params[] = {code, network_id, clinic_id, tags, ttl};
    int rc =
        cf_pg_pool_exec(ctx->svc->pg,
                        "INSERT INTO leads.codes (code, network_id, clinic_id, tags, expires_at)"
                        " VALUES ($1, $2, $3, $4::jsonb, now() + make_interval(secs => $5::int))"
                        " RETURNING " CF_PG_UTC_MS("expires_at"),
                        5, params, &res, errbuf, errbuf_size);
    if (rc == 0)
        snprintf(expires, expires_size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* Caches the record in Redis for the code's lifetime, for readers that
 * would spare PostgreSQL (the fold reads leads.codes, the record, in its
 * transaction); a failure is only counted. */
static void cache_code(struct leads_ctx *ctx, const char *code, const char *network_id,
                       const char *clinic_id, json_t *j_tags, const char *expires)
{
    char key[64], ttl[24];
    json_t *j_rec = json_pack("{s:s, s:s, s:O, s:s}", "network_id", network_id, "clinic_id",
                              clinic_id, "tags", j_tags, "expires_at", expires);
    char *value = cf_json_dumps(j_rec);
    snprintf(key, sizeof(key), "cf:leads:code:%s", code);
    snprintf(ttl, sizeof(ttl), "%ld", ctx->cfg.code_ttl_s);
    const char *argv[] = {"SET", key, value, "EX", ttl};
    redisReply *reply = cf_redis_command_argv(ctx->svc->redis, 5, argv, NULL);
    if (!reply) /* unreachable, or an error reply (cf_redis_command) */
        cf_metrics_add("clinicflow_leads_codes_uncached_total", "", 1);
    freeReplyObject(reply);
    free(value);
    json_decref(j_rec);
}

/* The ready-made links the network config allows (new ref): a Telegram
 * deep link for each Telegram channel of the clinic (or of the whole
 * network) that names its bot_username. */
static json_t *code_links(const struct cf_netconf_snapshot *snap, const struct cf_network *net,
                          const struct cf_clinic *clinic, const char *code)
{
    json_t *j_links = json_object();
    int have_own = 0;
    for (size_t i = 0; i < snap->nchannels; i++) {
        const struct cf_channel *ch = &snap->channels[i];
        if (strcmp(ch->network_id, net->id) != 0 || strcmp(ch->provider, "telegram") != 0)
            continue;
        const char *ch_clinic = json_string_value(json_object_get(ch->doc, "clinic_id"));
        const char *bot = json_string_value(json_object_get(ch->doc, "bot_username"));
        if (!bot || (ch_clinic && strcmp(ch_clinic, clinic->id) != 0))
            continue;
        /* the clinic's own bot wins over the network's; among several of
         * the clinic's, the first in the configuration */
        if (json_object_get(j_links, "telegram") && (!ch_clinic || have_own))
            continue;
        have_own = ch_clinic != NULL;
        char url[160];
        snprintf(url, sizeof(url), "https://t.me/%s?start=%s", bot, code);
        json_object_set_new(j_links, "telegram", json_string(url));
    }
    return j_links;
}

static void describe_metrics(void)
{
    cf_rate_limit_describe_metrics();
    cf_metrics_describe("clinicflow_leads_codes_issued_total", "counter",
                        "Attribution codes issued (POST /v1/leads/codes), by clinic");
    cf_metrics_describe("clinicflow_leads_codes_rate_limited_total", "counter",
                        "Attribution code requests refused with 429 "
                        "(CLINICFLOW_LEADS_CODES_PER_IP_PER_MINUTE), by clinic");
    cf_metrics_describe("clinicflow_leads_codes_uncached_total", "counter",
                        "Attribution codes recorded in PostgreSQL but not cached in Redis (it was "
                        "down): looked up in PostgreSQL alone");
}

int leads_handle_code_post(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static pthread_once_t described = PTHREAD_ONCE_INIT;
    struct leads_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    const struct cf_network *net = NULL;
    json_t *j_body = NULL, *j_tags = NULL, *j_reply = NULL;
    char *tags = NULL;
    char field[64] = "", errbuf[256] = "", code[CODE_LEN + 1], expires[40] = "";
    json_error_t jerr;
    int rc = 0;

    pthread_once(&described, describe_metrics);
    if (strcmp(req->http_verb, "OPTIONS") == 0) {
        cors(req, resp, snap, NULL);
        ulfius_set_empty_body_response(resp, 204);
        goto out;
    }
    const char *ctype = cf_http_header(req, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
        cors(req, resp, snap, NULL);
        cf_http_error(resp, 415, "unsupported_media_type", "expected Content-Type application/json",
                      NULL);
        goto out;
    }
    size_t body_len;
    const char *body = cf_http_body(req, &body_len);
    j_body = cf_json_loadb(body ? body : "", body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j_body) {
        cors(req, resp, snap, NULL);
        cf_http_error(resp, 400, "invalid_json", jerr.text, NULL);
        goto out;
    }
    if (cf_validate_object(j_body, code_fields, N_CODE_FIELDS, field, sizeof(field), errbuf,
                           sizeof(errbuf)) != 0) {
        cors(req, resp, snap, NULL);
        cf_http_error(resp, 400, "invalid_field", errbuf, field);
        goto out;
    }
    const struct cf_clinic *clinic =
        cf_netconf_find_clinic(snap, json_string_value(json_object_get(j_body, "clinic")), &net);
    if (!clinic) {
        cors(req, resp, snap, NULL);
        cf_http_error(resp, 400, "unknown_clinic", "no such clinic", "clinic");
        goto out;
    }
    cors(req, resp, snap, clinic);

    long retry_s = over_limit(ctx, req);
    if (retry_s > 0) {
        char ra[24], labels[160];
        snprintf(labels, sizeof(labels), "clinic=\"%s\"", clinic->id);
        cf_metrics_add("clinicflow_leads_codes_rate_limited_total", labels, 1);
        cf_http_error_from(resp, CF_ERATELIMIT, "too many requests", NULL, retry_s);
        snprintf(ra, sizeof(ra), "%ld", retry_s);
        u_map_put(resp->map_header, "Retry-After", ra);
        goto out;
    }

    /* The tags: every member but the clinic, empty ones left out, each
     * cut to what a lead's tag holds (a form's are cut so, ingest.c;
     * proto/schemas/lead.json): a page's long utm_content still gets its
     * code. */
    j_tags = json_object();
    const char *key;
    json_t *j_val;
    json_object_foreach(j_body, key, j_val)
    {
        const char *v = json_string_value(j_val);
        const size_t len = json_string_length(j_val);
        if (strcmp(key, "clinic") == 0 || len == 0)
            continue;
        const int link = strcmp(key, "referrer") == 0 || strcmp(key, "page_url") == 0;
        json_object_set_new(j_tags, key,
                            json_stringn(v, cf_validate_utf8_prefix(
                                                v, len, link ? LEADS_LINK_MAX : LEADS_SHORT_MAX)));
    }
    tags = cf_json_dumps(j_tags);

    /* A taken code (1 in 2^50 per live code) draws again. */
    for (int tries = 0; tries < 3; tries++) {
        new_code(code);
        rc = record_code(ctx, code, net->id, clinic->id, tags, expires, sizeof(expires), errbuf,
                         sizeof(errbuf));
        if (rc != CF_ECONFLICT)
            break;
    }
    if (rc != 0) {
        cf_warn("could not record an attribution code: %s", errbuf);
        cf_http_error_from(resp, rc == CF_ECONFLICT ? CF_EINTERNAL : CF_EUNAVAIL,
                           "attribution codes cannot be recorded now", NULL, 5);
        goto out;
    }
    cache_code(ctx, code, net->id, clinic->id, j_tags, expires);

    char labels[160];
    snprintf(labels, sizeof(labels), "clinic=\"%s\"", clinic->id);
    cf_metrics_add("clinicflow_leads_codes_issued_total", labels, 1);
    j_reply = json_pack("{s:s, s:s, s:o}", "code", code, "expires_at", expires, "links",
                        code_links(snap, net, clinic, code));
    u_map_put(resp->map_header, "Cache-Control", "no-store");
    cf_http_json(resp, 201, j_reply);

out:
    free(tags);
    json_decref(j_tags);
    json_decref(j_body);
    json_decref(j_reply);
    cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}
