/* hooks.c: the provider routes: not written yet. */
#include "leads.h"

#include "common/http.h"

int leads_handle_hook(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    (void)user;
    cf_http_error(resp, 501, "not_implemented", "not implemented yet", NULL);
    return U_CALLBACK_COMPLETE;
}

#include "providers/adapters.h"

#include <string.h>

static const struct leads_adapter *const adapters[] = {
    &leads_adapter_generic,  &leads_adapter_tilda,     &leads_adapter_cf7,
    &leads_adapter_jivo,     &leads_adapter_email,     &leads_adapter_telegram,
    &leads_adapter_whatsapp, &leads_adapter_instagram, &leads_adapter_vk,
    &leads_adapter_viber,
};

const struct leads_adapter *leads_adapter_find(const char *provider)
{
    for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (provider && strcmp(adapters[i]->provider, provider) == 0)
            return adapters[i];
    }
    return NULL;
}
