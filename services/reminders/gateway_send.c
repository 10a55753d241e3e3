/*
 * Sends through the gateways (gateway.h): the webhook gateway (the
 * clinic's dialer), Twilio (the Calls API for a robot call, the Messages
 * API for an SMS, basic auth with the account's SID and auth token) and
 * SMS.ru (sms/send). Each request carries the send id where the gateway
 * takes one (the webhook's Idempotency-Key, Twilio's callback URL); only
 * Twilio keeps a record we can ask after a crash.
 */
#include "gateway.h"
#include "gateway_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/http_client.h"
#include "common/json_text.h"
#include "common/time.h"
#include "common/xmalloc.h"

#define GATEWAY_ANSWER_MAX (1 << 20)
#define FORM_TYPE "Content-Type: application/x-www-form-urlencoded"

static const char *cred(const struct cf_channel *ch, const char *name)
{
    return json_string_value(json_object_get(json_object_get(ch->doc, "credentials"), name));
}

/* The answer's status as a send's: 2xx sent; 5xx (the gateway broke, the
 * request may have been taken) unknown; another failed (429 never comes
 * here: exchange). */
static void judge(long http, struct gateway_result *r)
{
    r->http_status = http;
    if (http >= 200 && http < 300) {
        r->status = "sent";
    } else if (http >= 500) {
        r->status = "unknown";
        r->reason = "gateway_error";
    } else {
        r->status = "failed";
        r->reason = "gateway_refused";
    }
}

/* One exchange: 0 with resp, r judged from its status (or unknown when no
 * answer came: in time, or at all after the request went out, the
 * connection closed or reset under it); CF_EUNAVAIL when nothing went out
 * (no connection) or the gateway refused it for its rate (429: Twilio's
 * concurrency and rate limits), and only then may the message be sent
 * again. */
static int exchange(struct reminders_ctx *ctx, const char *method, const char *url,
                    const char *const *headers, size_t n_headers, const char *body,
                    struct cf_http_client_response *resp, struct gateway_result *r, char *errbuf,
                    size_t errbuf_size)
{
    const struct cf_http_client_request req = {
        .method = method,
        .url = url,
        .headers = headers,
        .n_headers = n_headers,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = ctx->cfg.gateway_timeout_ms,
        .max_response = GATEWAY_ANSWER_MAX,
    };
    int rc = cf_http_client_do(&req, resp, errbuf, errbuf_size);
    if (rc == CF_EINVAL || (rc == CF_EUNAVAIL && !resp->request_sent))
        return CF_EUNAVAIL;
    if (rc != 0) { /* out, and no answer (in time): it may have arrived */
        r->status = "unknown";
        r->reason = rc == CF_EUNAVAIL ? "connection_lost" : "no_answer_in_time";
        return 0;
    }
    if (resp->status == 429) { /* too many requests: refused untaken, so it may go later */
        snprintf(errbuf, errbuf_size, "the gateway answered 429 (too many requests)");
        return CF_EUNAVAIL;
    }
    judge(resp->status, r);
    return 0;
}

static int send_webhook(struct reminders_ctx *ctx, const struct cf_channel *ch,
                        const struct gateway_message *m, struct gateway_result *r, char *errbuf,
                        size_t errbuf_size)
{
    char sig[CF_HMAC_SIG_LEN + 1], sig_h[128], key_h[96];
    char *body = gw_webhook_body(m->send_id, m->command, m->text, m->contact, m->clinic);
    cf_hmac_sha256_sig(cred(ch, "secret"), body, strlen(body), sig);
    snprintf(sig_h, sizeof(sig_h), GW_SIGNATURE_HEADER ": %s", sig);
    snprintf(key_h, sizeof(key_h), "Idempotency-Key: %s", m->send_id);
    const char *headers[] = {"Content-Type: application/json", sig_h, key_h};
    struct cf_http_client_response resp = {0};
    int rc =
        exchange(ctx, "POST", cred(ch, "url"), headers, 3, body, &resp, r, errbuf, errbuf_size);
    cf_http_client_response_free(&resp);
    free(body);
    return rc;
}

/* --- Twilio --- */

static void twilio_channel(struct reminders_ctx *ctx, const struct cf_channel *ch,
                           struct gw_twilio_channel *out)
{
    memset(out, 0, sizeof(*out));
    out->channel_id = ch->id;
    out->public_base = ctx->cfg.public_base_url;
    out->account_sid = cred(ch, "account_sid");
    out->from = cred(ch, "from");
    out->messaging_service_sid = cred(ch, "messaging_service_sid");
    out->voice = cred(ch, "voice");
    const char *amd = cred(ch, "machine_detection");
    out->machine_detection = amd && strcmp(amd, "1") == 0;
}

/* "Authorization: Basic base64(account_sid:auth_token)" into out. */
static void twilio_auth(const struct cf_channel *ch, char *out, size_t out_size)
{
    char *basic = cf_http_basic_auth(cred(ch, "account_sid"), cred(ch, "auth_token"));
    snprintf(out, out_size, "Authorization: %s", basic);
    free(basic);
}

/* The channel's API base (its api_url: the provider's REST API host, or a
 * regional edge or a proxy) with path. */
static char *api_url(const struct cf_channel *ch, const char *path)
{
    const char *base = cred(ch, "api_url") ? cred(ch, "api_url") : "";
    size_t n = strlen(base);
    return cf_xasprintf("%.*s%s", (int)(n && base[n - 1] == '/' ? n - 1 : n), base, path);
}

static int send_twilio(struct reminders_ctx *ctx, const struct cf_channel *ch,
                       const struct gateway_message *m, struct gateway_result *r, char *errbuf,
                       size_t errbuf_size)
{
    struct gw_twilio_channel tc;
    struct gw_twilio_request req = {0};
    twilio_channel(ctx, ch, &tc);
    if (!tc.public_base || !*tc.public_base) {
        snprintf(errbuf, errbuf_size,
                 "CLINICFLOW_REMINDERS_PUBLIC_BASE_URL is not set: Twilio has no callback URL");
        return CF_EINVAL;
    }
    int rc =
        strcmp(m->channel, "sms") == 0
            ? gw_twilio_sms_request(&tc, m->send_id, m->phone, m->text, &req, errbuf, errbuf_size)
            : gw_twilio_call_request(&tc, m->send_id, m->phone, m->language, m->text, NULL, &req,
                                     errbuf, errbuf_size);
    if (rc != 0)
        return CF_EINVAL;
    char auth[512];
    twilio_auth(ch, auth, sizeof(auth));
    const char *headers[] = {FORM_TYPE, auth};
    char *url = api_url(ch, req.path);
    struct cf_http_client_response resp = {0};
    rc = exchange(ctx, "POST", url, headers, 2, req.body, &resp, r, errbuf, errbuf_size);
    if (rc == 0 && strcmp(r->status, "sent") == 0) {
        json_t *j = cf_json_loadb(resp.body ? resp.body : "", resp.body_len, 0, NULL);
        const char *sid = json_string_value(json_object_get(j, "sid"));
        snprintf(r->provider_ref, sizeof(r->provider_ref), "%s", sid ? sid : "");
        json_decref(j);
    }
    cf_http_client_response_free(&resp);
    free(url);
    gw_twilio_request_free(&req);
    return rc;
}

static int lookup_twilio(struct reminders_ctx *ctx, const struct cf_channel *ch,
                         const struct gateway_message *m, int64_t since_ms,
                         struct gateway_result *r, char *errbuf, size_t errbuf_size)
{
    struct gw_twilio_channel tc;
    twilio_channel(ctx, ch, &tc);
    char *path = gw_twilio_lookup_path(&tc, m->channel, m->phone);
    if (!path)
        return CF_ENOTFOUND;
    char auth[512];
    twilio_auth(ch, auth, sizeof(auth));
    const char *headers[] = {auth};
    char *url = api_url(ch, path);
    struct cf_http_client_response resp = {0};
    struct gateway_result asked = {0};
    int rc = exchange(ctx, "GET", url, headers, 1, NULL, &resp, &asked, errbuf, errbuf_size);
    if (rc == 0 && strcmp(asked.status, "sent") != 0) {
        snprintf(errbuf, errbuf_size, "Twilio's list answered %ld", asked.http_status);
        rc = CF_EUNAVAIL;
    }
    if (rc == 0) {
        json_t *page = cf_json_loadb(resp.body ? resp.body : "", resp.body_len, 0, NULL);
        struct gw_twilio_found found;
        if (gw_twilio_lookup_match(page, m->channel, m->phone,
                                   strcmp(m->channel, "sms") == 0 ? m->text : NULL, since_ms,
                                   cf_time_now_ms(), &found) != 0) {
            snprintf(errbuf, errbuf_size, "Twilio's list answer is not a list");
            rc = CF_EUNAVAIL;
        } else if (found.n == 1) {
            r->status = "sent";
            r->reason = "found_after_crash";
            r->http_status = asked.http_status;
            snprintf(r->provider_ref, sizeof(r->provider_ref), "%s", found.sid);
            rc = 1;
        } else {
            rc = found.n == 0 ? 0 : CF_ENOTFOUND;
        }
        json_decref(page);
    }
    cf_http_client_response_free(&resp);
    free(url);
    free(path);
    return rc;
}

/* --- SMS.ru --- */

static int send_smsru(struct reminders_ctx *ctx, const struct cf_channel *ch,
                      const struct gateway_message *m, struct gateway_result *r, char *errbuf,
                      size_t errbuf_size)
{
    const char *test = cred(ch, "test");
    char *body = gw_smsru_send_body(cred(ch, "api_id"), m->phone, m->text, cred(ch, "from"),
                                    test && strcmp(test, "1") == 0);
    if (!body) {
        snprintf(errbuf, errbuf_size, "SMS.ru: no api_id, phone or text");
        return CF_EINVAL;
    }
    char *url = api_url(ch, GW_SMSRU_SEND_PATH);
    const char *headers[] = {FORM_TYPE};
    struct cf_http_client_response resp = {0};
    int rc = exchange(ctx, "POST", url, headers, 1, body, &resp, r, errbuf, errbuf_size);
    if (rc == 0 && strcmp(r->status, "sent") == 0) {
        struct gw_smsru_sent sent;
        if (gw_smsru_parse_send_answer(resp.body, resp.body_len, m->phone, &sent) != 0) {
            r->status = "unknown"; /* an answer we cannot read: it may be queued */
            r->reason = "unreadable_answer";
        } else if (sent.accepted) {
            snprintf(r->provider_ref, sizeof(r->provider_ref), "%s", sent.sms_id);
        } else if (gw_smsru_retryable(sent.status_code)) { /* nothing queued */
            snprintf(errbuf, errbuf_size, "SMS.ru answered %d: %s", sent.status_code, sent.error);
            rc = CF_EUNAVAIL;
        } else {
            r->status = "failed";
            r->reason = "gateway_refused";
        }
    }
    cf_http_client_response_free(&resp);
    free(url);
    free(body);
    return rc;
}

int gateway_can(const struct cf_channel *ch, const char *channel)
{
    if (strcmp(channel, "sms") == 0)
        return 1;
    if (strcmp(ch->provider, "twilio") == 0)
        return cred(ch, "from") && *cred(ch, "from");
    return strcmp(ch->provider, "smsru") != 0;
}

int gateway_takes_replies(const struct cf_channel *ch)
{
    return strcmp(ch->provider, "smsru") != 0;
}

int gateway_send(struct reminders_ctx *ctx, const struct cf_channel *ch,
                 const struct gateway_message *m, struct gateway_result *r, char *errbuf,
                 size_t errbuf_size)
{
    memset(r, 0, sizeof(*r));
    if (strcmp(ch->provider, "webhook") == 0)
        return send_webhook(ctx, ch, m, r, errbuf, errbuf_size);
    if (strcmp(ch->provider, "twilio") == 0)
        return send_twilio(ctx, ch, m, r, errbuf, errbuf_size);
    if (strcmp(ch->provider, "smsru") == 0 && strcmp(m->channel, "sms") == 0)
        return send_smsru(ctx, ch, m, r, errbuf, errbuf_size);
    snprintf(errbuf, errbuf_size, "gateway provider %s cannot send a %s", ch->provider, m->channel);
    return CF_EINVAL;
}

int gateway_lookup(struct reminders_ctx *ctx, const struct cf_channel *ch,
                   const struct gateway_message *m, int64_t since_ms, struct gateway_result *r,
                   char *errbuf, size_t errbuf_size)
{
    memset(r, 0, sizeof(*r));
    if (strcmp(ch->provider, "twilio") == 0)
        return lookup_twilio(ctx, ch, m, since_ms, r, errbuf, errbuf_size);
    return CF_ENOTFOUND;
}
