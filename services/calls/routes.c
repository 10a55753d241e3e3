/*
 * The HTTP routes of clinicflow-calls, in one table so that the public
 * surface of the service reads in one place; each handler lives in its own
 * file.
 */
#include "calls.h"

void calls_routes_register(struct calls_ctx *ctx)
{
    struct cf_http *h = ctx->svc->http;

    cf_http_route(h, "POST", "/v1/hooks/calls/generic", handle_generic_call_post, ctx);
    cf_http_route(h, "POST", "/v1/calls/:id/result", handle_call_result_post, ctx);
    /* Public: browsers ask which number to show a visitor. */
    cf_http_route(h, "GET", "/v1/tracking/number", handle_tracking_number, ctx);
    cf_http_route(h, "OPTIONS", "/v1/tracking/number", handle_tracking_number, ctx);
    /* Providers: the base URL given to the provider, and the sub-paths some
     * append to it (Mango: /events/call, /events/summary, ...). GET for the
     * checks a provider makes before sending (Zadarma's zd_echo). */
    static const char *const methods[] = {"POST", "GET"};
    for (size_t i = 0; i < 2; i++) {
        cf_http_route(h, methods[i], "/v1/hooks/calls/:provider/:channel", handle_provider_hook,
                      ctx);
        cf_http_route(h, methods[i], "/v1/hooks/calls/:provider/:channel/*", handle_provider_hook,
                      ctx);
    }
}
