/*
 * Read access to analytics (read_access.h): the Bearer key when the
 * request has an Authorization header (a wrong one is not retried as a
 * session), else the session cookie; either way the key is looked up in
 * the current configuration snapshot, so a revoked key ends its sessions
 * at the next reload.
 */
#include "read_access.h"
#include "session.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/http.h"

int analytics_authorize_read(struct analytics_ctx *ctx, const struct _u_request *req,
                             struct _u_response *resp, struct an_reader *reader)
{
    const unsigned scope = CF_SCOPE_READ | CF_SCOPE_ADMIN;
    const char *authorization = cf_http_header(req, "Authorization");
    struct cf_key_refusal why;
    uint8_t hash[32];
    const uint8_t *have = NULL;
    int64_t expires_s = 0;
    int rc;

    memset(reader, 0, sizeof(*reader));
    if (authorization) {
        if (cf_netconf_bearer_hash(authorization, hash) == 0)
            have = hash;
    } else {
        const char *sid = u_map_get(req->map_cookie, ANALYTICS_SESSION_COOKIE);
        struct an_session session;
        rc = sid ? analytics_session_find(ctx, sid, &session) : CF_EAUTH;
        if (rc == CF_EUNAVAIL) {
            cf_http_error_from(resp, CF_EUNAVAIL, "sessions cannot be checked now; retry later",
                               NULL, 5);
            return rc;
        }
        if (rc == 0) {
            memcpy(hash, session.key_hash, sizeof(hash));
            have = hash;
        }
        expires_s = rc == 0 ? session.expires_s : 0;
    }
    rc = cf_service_check_grant(ctx->svc, have, scope, &reader->snap, &reader->grant, &why);
    cf_service_refuse(resp, rc, &why);
    if (rc == 0)
        reader->session_expires_s = expires_s;
    return rc;
}

void analytics_reader_release(struct an_reader *reader)
{
    cf_netconf_release(reader->snap);
    memset(reader, 0, sizeof(*reader));
}

int analytics_check_clinics(const struct an_reader *reader, json_t **clinics,
                            struct _u_response *resp)
{
    const struct cf_key_grant *g = &reader->grant;
    size_t i;
    const json_t *j;
    json_array_foreach(*clinics, i, j)
    {
        const char *id = json_string_value(j);
        char msg[200];
        if (!cf_netconf_clinic(g->net, id)) {
            snprintf(msg, sizeof(msg), "no clinic '%.100s' in this network", id);
            cf_http_error(resp, 400, "unknown_clinic", msg, "clinic");
            return CF_EINVAL;
        }
        if (!cf_key_grant_sees(g, id)) {
            snprintf(msg, sizeof(msg), "this key does not see clinic '%.100s'", id);
            cf_http_error(resp, 403, "forbidden", msg, "clinic");
            return CF_EFORBIDDEN;
        }
    }
    if (!*clinics && g->nclinics > 0) {
        *clinics = json_array();
        for (i = 0; i < g->nclinics; i++)
            json_array_append_new(*clinics, json_string(g->clinics[i]));
    }
    return 0;
}
