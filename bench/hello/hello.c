/*
 * The baseline of the HTTP benchmarks: a bare ulfius server answering
 * "hello" on every path, with the model that is fastest for plain
 * requests (an epoll pool of 2 threads). Same library, same machine,
 * same run as the service it is compared with.
 *
 *   clinicflow-bench-hello PORT
 */
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include <microhttpd.h>
#include <ulfius.h>

#include "../serve.h"

static int hello(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    (void)user;
    ulfius_set_string_body_response(resp, 200, "hello");
    return U_CALLBACK_COMPLETE;
}

int main(int argc, char **argv)
{
    struct _u_instance inst;
    sigset_t sigs;
    long port = bench_start(argc, argv, 2, "clinicflow-bench-hello PORT", &sigs);

    if (!port)
        return 2;
    if (ulfius_init_instance(&inst, (unsigned int)port, NULL, NULL) != U_OK)
        return 1;
    ulfius_add_endpoint_by_val(&inst, "GET", NULL, "*", 0, hello, NULL);
    /* With options of its own, ulfius needs its two hooks passed back in. */
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        {MHD_OPTION_THREAD_POOL_SIZE, 2, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    return bench_serve(
        &inst,
        ulfius_start_framework_with_mhd_options(&inst, MHD_USE_EPOLL_INTERNAL_THREAD, ops) == U_OK,
        port, &sigs);
}
