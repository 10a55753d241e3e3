/*
 * The HTTP routes of clinicflow-leads, in one table so that the public
 * surface of the service reads in one place; each handler lives in its own
 * file.
 */
#include "leads.h"

void leads_routes_register(struct leads_ctx *ctx)
{
    struct cf_http *h = ctx->svc->http;

    /* Providers and our own forms; GET for the handshakes (Meta's
     * hub.challenge). */
    cf_http_route(h, "POST", "/v1/hooks/leads/:provider/:channel", leads_handle_hook, ctx);
    cf_http_route(h, "GET", "/v1/hooks/leads/:provider/:channel", leads_handle_hook, ctx);
    /* The front desk and the CRM: a lead's response and outcome. */
    cf_http_route(h, "POST", "/v1/leads/:id/events", leads_handle_event_post, ctx);
    /* Public: browsers ask for an attribution code, and the page script. */
    cf_http_route(h, "POST", "/v1/leads/codes", leads_handle_code_post, ctx);
    cf_http_route(h, "OPTIONS", "/v1/leads/codes", leads_handle_code_post, ctx);
    cf_http_route(h, "GET", "/v1/leads/snippet.js", leads_handle_snippet, ctx);
}
