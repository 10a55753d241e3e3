/*
 * GET /v1/leads/snippet.js: the page script (web/clinicflow-leads.js),
 * built into the binary (web/embed.cmake), so every instance serves the
 * script of its own version and a page needs nothing but this service. It
 * is public and the same for everyone: browsers and CDNs may keep it for a
 * few minutes and then revalidate it by its ETag (a digest of the script,
 * computed per request: a few microseconds for its size).
 */
#include "leads.h"

#include <stdio.h>
#include <string.h>

#include "common/hash.h"
#include "common/http.h"

/* snippet_js.c, generated at build time. */
extern const unsigned char leads_snippet_js[];
extern const size_t leads_snippet_js_len;

int leads_handle_snippet(const struct _u_request *req, struct _u_response *resp, void *user)
{
    uint8_t digest[32];
    char hex[CF_SHA256_HEX_LEN + 1], etag[24];
    (void)user;

    cf_sha256(leads_snippet_js, leads_snippet_js_len, digest);
    cf_hex(digest, sizeof(digest), hex);
    snprintf(etag, sizeof(etag), "\"%.16s\"", hex);
    u_map_put(resp->map_header, "ETag", etag);
    u_map_put(resp->map_header, "Cache-Control", "public, max-age=300");
    const char *inm = cf_http_header(req, "If-None-Match");
    if (inm && strstr(inm, etag)) {
        ulfius_set_empty_body_response(resp, 304);
        return U_CALLBACK_COMPLETE;
    }
    u_map_put(resp->map_header, "Content-Type", "text/javascript; charset=utf-8");
    u_map_put(resp->map_header, "X-Content-Type-Options", "nosniff");
    ulfius_set_binary_body_response(resp, 200, (const char *)leads_snippet_js,
                                    leads_snippet_js_len);
    return U_CALLBACK_COMPLETE;
}
