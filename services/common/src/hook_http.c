/*
 * A webhook request decoded into a struct cf_hook (common/hook_http.h).
 * Everything the adapters read is copied into JSON values owned by the
 * struct cf_hook_http, so an adapter never touches a ulfius type and unit
 * tests build a struct cf_hook by hand.
 */
#include "common/hook_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "common/log.h"
#include "common/time.h"
#include "common/xmalloc.h"

int cf_hook_http_route(const struct _u_request *req, const char *prefix, struct cf_hook_http *out)
{
    const size_t plen = strlen(prefix);
    const char *p = req->url_path, *slash;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (!p || strncmp(p, prefix, plen) != 0)
        return -1;
    p += plen;
    slash = strchr(p, '/');
    if (!slash || (n = (size_t)(slash - p)) == 0 || n >= sizeof(out->provider))
        return -1;
    memcpy(out->provider, p, n);
    out->provider[n] = '\0';
    p = slash + 1;
    slash = strchr(p, '/');
    n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || n >= sizeof(out->channel))
        return -1;
    memcpy(out->channel, p, n);
    out->channel[n] = '\0';
    out->hook.subpath = slash ? slash : "";
    return 0;
}

static void collect_headers(const struct _u_request *req, json_t *obj)
{
    const char **keys = u_map_enum_keys(req->map_header);

    for (size_t i = 0; keys && keys[i]; i++) {
        char name[128];
        size_t k = 0;
        for (; keys[i][k] && k < sizeof(name) - 1; k++)
            name[k] = (char)tolower((unsigned char)keys[i][k]);
        name[k] = '\0';
        json_t *v = json_string(u_map_get(req->map_header, keys[i]));
        if (v)
            json_object_set_new(obj, name, v);
    }
}

int cf_hook_http_decode(const struct _u_request *req, const char *public_base_url,
                        struct cf_hook_http *out, struct _u_response *resp)
{
    size_t body_len = 0;
    const char *body = cf_http_body(req, &body_len);
    const char *ctype = cf_http_header(req, "Content-Type");
    const char *q = strchr(req->http_url, '?');

    out->query = json_object();
    out->form = json_object();
    out->headers = json_object();
    /* A field whose value is no text is kept aside, not answered here: the
     * route answers it after verify, its own way (invalid_field). */
    int form_rc =
        q ? cf_hook_parse_urlencoded(q + 1, strlen(q + 1), out->query, &out->invalid_field) : 0;
    if (out->invalid_field)
        form_rc = 0;
    if (form_rc == 0 && ctype && strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0 &&
        body) {
        char *invalid = NULL;
        form_rc = cf_hook_parse_urlencoded(body, body_len, out->form, &invalid);
        if (invalid) {
            form_rc = 0;
            if (!out->invalid_field)
                out->invalid_field = invalid;
            else
                free(invalid);
        }
    }
    if (form_rc == CF_ETOOBIG) {
        cf_http_error(resp, 413, "too_many_fields", "the form or query has too many fields", NULL);
        return CF_ETOOBIG;
    }
    if (form_rc != 0) {
        cf_http_error(resp, 400, "invalid_field",
                      "the form or query has a '%' not followed by two hex digits", NULL);
        return CF_EINVAL;
    }
    collect_headers(req, out->headers);
    if (public_base_url && *public_base_url) {
        out->public_url = cf_xasprintf("%.*s%s", cf_config_base_url_len(public_base_url),
                                       public_base_url, req->http_url);
    } else {
        const char *host = cf_http_header(req, "Host");
        out->public_url = cf_xasprintf("http://%s%s", host ? host : "localhost", req->http_url);
    }
    out->hook.method = req->http_verb;
    out->hook.public_url = out->public_url;
    out->hook.content_type = ctype;
    out->hook.body = body ? body : "";
    out->hook.body_len = body ? body_len : 0;
    out->hook.query = out->query;
    out->hook.form = out->form;
    out->hook.headers = out->headers;
    out->hook.received_ms = cf_time_now_ms();
    return 0;
}

void cf_hook_http_clear(struct cf_hook_http *out)
{
    json_decref(out->query);
    json_decref(out->form);
    json_decref(out->headers);
    free(out->public_url);
    free(out->invalid_field);
    out->query = out->form = out->headers = NULL;
    out->public_url = out->invalid_field = NULL;
}

int cf_hook_http_invalid(const struct cf_hook_http *in, const char **field, char *errbuf,
                         size_t errbuf_size)
{
    if (!in->invalid_field)
        return 0;
    *field = in->invalid_field;
    cf_seterr(errbuf, errbuf_size, "%s: the value is not UTF-8 text or holds a NUL byte",
              in->invalid_field);
    return CF_EINVAL;
}

void cf_hook_http_reply(struct _u_response *resp, const struct cf_hook_reply *reply)
{
    ulfius_set_string_body_response(resp, (unsigned)(reply->status ? reply->status : 200),
                                    reply->body);
    u_map_put(resp->map_header, "Content-Type",
              reply->content_type ? reply->content_type : "text/plain");
}

int cf_hook_http_source_allowed(const struct _u_request *req, const char *channel_id,
                                const json_t *j_allowed, const struct cf_proxies *proxies)
{
    struct cf_proxies allowed = {0};
    char errbuf[256];
    size_t i, len = 1;
    json_t *j_net;
    int ok = 0;

    json_array_foreach(j_allowed, i, j_net) len += json_string_length(j_net) + 1;
    char *spec = cf_xmalloc(len), *p = spec;
    json_array_foreach(j_allowed, i, j_net)
    {
        size_t n = json_string_length(j_net);
        memcpy(p, json_string_value(j_net) ? json_string_value(j_net) : "", n);
        p[n] = ',';
        p += n + 1;
    }
    *p = '\0';
    if (!json_is_array(j_allowed) || cf_proxies_parse(spec, &allowed, errbuf, sizeof(errbuf)))
        cf_warn("channel %s: allowed_sources: %s", channel_id,
                json_is_array(j_allowed) ? errbuf : "not an array");
    else {
        char *xff = cf_http_header_list(req, "X-Forwarded-For");
        ok = cf_client_allowed(req->client_address, xff, proxies, &allowed);
        free(xff);
    }
    cf_proxies_free(&allowed);
    free(spec);
    return ok;
}
