/*
 * POST /v1/session {"key": "cfk_..."}: signs in with a read (or admin)
 * key and sets the session cookie (from the dashboard's own origin only); GET /v1/session: who is
 * signed in (network, the clinics the key sees, when the session ends), with the cookie or a Bearer
 * key; DELETE /v1/session: signs out and clears the cookie. The key itself is never stored or
 * answered.
 */
#include "analytics.h"
#include "read_access.h"
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/http.h"
#include "common/log.h"
#include "common/time.h"

/* Secure when configured, or when the proxy in front says the browser
 * came over HTTPS. */
static int cookie_secure(const struct analytics_ctx *ctx, const struct _u_request *req)
{
    const char *proto = cf_http_header(req, "X-Forwarded-Proto");
    return ctx->cfg.cookie_secure || (proto && strcasecmp(proto, "https") == 0);
}

/* 1 when host (an Origin's host and port) is one of list's entries (a
 * header value, comma-separated, spaces around them ignored). */
static int host_in(const char *host, const char *list)
{
    const size_t n = strlen(host);

    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        if (end == n && strncasecmp(p, host, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* A browser's Origin names the page that posts: a sign-in posted from
 * another site (to sign the user into someone else's session) is refused.
 * The page's host is the request's Host or, behind a reverse proxy that
 * rewrites it, one the proxy names in X-Forwarded-Host: a page of another
 * site cannot send that header (not without a preflight, which no route
 * here answers), so believing it lets no other site in. No Origin (a
 * script, curl) is not a browser's cross-site post. */
static int same_origin(const struct _u_request *req)
{
    const char *origin = cf_http_header(req, "Origin");
    if (!origin)
        return 1;
    const char *sep = strstr(origin, "://");
    if (!sep || !sep[3])
        return 0;
    if (host_in(sep + 3, cf_http_header(req, "Host")))
        return 1;
    char *forwarded = cf_http_header_list(req, "X-Forwarded-Host");
    const int ok = host_in(sep + 3, forwarded);
    free(forwarded);
    return ok;
}

/* {network {id, name, tz, currency?}, clinics, scopes, expires_at}: what the dashboard shows and
 * offers as filters; a clinic's calling_windows when the network file names them (the reminders
 * page says when reminders go out). expires_s 0: no session (a Bearer key). */
static json_t *who(const struct cf_key_grant *g, int64_t expires_s)
{
    json_t *clinics = json_array();
    for (size_t i = 0; i < g->net->nclinics; i++) {
        const struct cf_clinic *c = &g->net->clinics[i];
        if (!cf_key_grant_sees(g, c->id))
            continue;
        json_t *clinic = json_pack("{s:s, s:s, s:s}", "id", c->id, "name", c->name, "tz", c->tz);
        json_t *windows = json_object_get(c->doc, "calling_windows");
        if (json_is_array(windows))
            json_object_set(clinic, "calling_windows", windows);
        json_array_append_new(clinics, clinic);
    }
    json_t *scopes = json_array();
    if (g->scopes & CF_SCOPE_READ)
        json_array_append_new(scopes, json_string("read"));
    if (g->scopes & CF_SCOPE_ADMIN)
        json_array_append_new(scopes, json_string("admin"));
    json_t *answer = json_pack("{s:{s:s, s:s, s:s}, s:o, s:o, s:b}", "network", "id", g->net->id,
                               "name", g->net->name, "tz", g->net->tz, "clinics", clinics, "scopes",
                               scopes, "limited", g->nclinics > 0);
    /* the currency amounts are in, when the network names it */
    const char *currency = json_string_value(json_object_get(g->net->doc, "currency"));
    if (currency)
        json_object_set_new(json_object_get(answer, "network"), "currency", json_string(currency));
    if (expires_s > 0) {
        char at[32];
        cf_time_format(expires_s * 1000, at);
        json_object_set_new(answer, "expires_at", json_string(at));
    }
    return answer;
}

static int handle_sign_in(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct analytics_ctx *ctx = user;
    json_t *body = NULL;
    struct cf_netconf_snapshot *snap = NULL;
    struct cf_key_grant grant;
    struct cf_key_refusal why;
    const char *key = NULL;
    char sid[ANALYTICS_SESSION_ID_LEN + 1];
    int64_t expires_s = 0;
    uint8_t hash[32];
    int rc;

    if (!same_origin(req)) {
        cf_http_error(resp, 403, "cross_origin",
                      "a sign-in must come from the dashboard's own page (its Origin is neither"
                      " the Host nor an X-Forwarded-Host of this request)",
                      NULL);
        goto out;
    }
    /* JSON only (415 else): a cross-site form's text/plain post would need
     * no preflight, leaving the Origin check alone in its way */
    if (!(body = cf_http_json_body(req, resp)))
        goto out;
    key = json_string_value(json_object_get(body, "key"));
    if (!key || key[0] == '\0' || strlen(key) > 512) {
        cf_http_error(resp, 400, "invalid_field", "key: expected the read key, a string", "key");
        goto out;
    }
    cf_sha256(key, strlen(key), hash);
    rc =
        cf_service_check_grant(ctx->svc, hash, CF_SCOPE_READ | CF_SCOPE_ADMIN, &snap, &grant, &why);
    if (rc != 0) {
        if (rc == CF_EAUTH) /* no WWW-Authenticate: this is a form, not a Bearer route */
            cf_http_error(resp, 401, "unauthorized", "no such key, or it was revoked", "key");
        else
            cf_service_refuse(resp, rc, &why);
        goto out;
    }
    if (analytics_session_create(ctx, hash, sid, &expires_s) != 0) {
        cf_http_error_from(resp, CF_EUNAVAIL, "sessions cannot be stored now; retry later", NULL,
                           5);
        goto out;
    }
    ulfius_add_same_site_cookie_to_response(resp, ANALYTICS_SESSION_COOKIE, sid, NULL,
                                            (unsigned)ctx->cfg.session_ttl_s, NULL, "/",
                                            cookie_secure(ctx, req), 1, U_COOKIE_SAME_SITE_STRICT);
    explicit_bzero(sid, sizeof(sid));
    json_t *answer = who(&grant, expires_s);
    cf_http_json(resp, 200, answer);
    json_decref(answer);
out:
    explicit_bzero(hash, sizeof(hash));
    json_decref(body); /* the key's text goes with it */
    cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}

static int handle_who(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct analytics_ctx *ctx = user;
    struct an_reader reader;
    if (analytics_authorize_read(ctx, req, resp, &reader) != 0)
        return U_CALLBACK_COMPLETE;
    json_t *answer = who(&reader.grant, reader.session_expires_s);
    cf_http_json(resp, 200, answer);
    json_decref(answer);
    analytics_reader_release(&reader);
    return U_CALLBACK_COMPLETE;
}

static int handle_sign_out(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct analytics_ctx *ctx = user;
    const char *sid = u_map_get(req->map_cookie, ANALYTICS_SESSION_COOKIE);
    /* an expired, empty cookie replaces the browser's, whatever Redis
     * says: the browser (a shared computer's) forgets the session even
     * when its end cannot be stored now */
    ulfius_add_same_site_cookie_to_response(resp, ANALYTICS_SESSION_COOKIE, "",
                                            "Thu, 01 Jan 1970 00:00:00 GMT", 0, NULL, "/",
                                            cookie_secure(ctx, req), 1, U_COOKIE_SAME_SITE_STRICT);
    if (sid && analytics_session_end(ctx, sid) != 0)
        cf_http_error_from(resp, CF_EUNAVAIL, "the session cannot be ended now; retry later", NULL,
                           5);
    else
        ulfius_set_empty_body_response(resp, 204);
    return U_CALLBACK_COMPLETE;
}

void analytics_session_routes(struct analytics_ctx *ctx)
{
    cf_http_route(ctx->svc->http, "POST", "/v1/session", handle_sign_in, ctx);
    cf_http_route(ctx->svc->http, "GET", "/v1/session", handle_who, ctx);
    cf_http_route(ctx->svc->http, "DELETE", "/v1/session", handle_sign_out, ctx);
}
