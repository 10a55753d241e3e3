/* snippet.c: GET /v1/leads/snippet.js: not written yet. */
#include "leads.h"

#include "common/http.h"

int leads_handle_snippet(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    (void)user;
    cf_http_error(resp, 501, "not_implemented", "not implemented yet", NULL);
    return U_CALLBACK_COMPLETE;
}
