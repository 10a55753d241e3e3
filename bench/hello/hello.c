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
    return bench_serve(&inst, bench_start_pool(&inst), port, &sigs);
}
