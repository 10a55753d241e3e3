/*
 * What the benchmark's servers share: the port argument, and serving until
 * SIGINT or SIGTERM.
 */
#ifndef CF_BENCH_SERVE_H
#define CF_BENCH_SERVE_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <microhttpd.h>
#include <ulfius.h>

/* The port in argv[1] when there are at least min_argc arguments, or 0
 * after printing the usage. Blocks SIGINT and SIGTERM in this thread and in
 * the threads started after it, for bench_serve's sigwait. */
static inline long bench_start(int argc, char **argv, int min_argc, const char *usage,
                               sigset_t *sigs)
{
    long port = argc >= min_argc ? strtol(argv[1], NULL, 10) : 0;

    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: %s\n", usage);
        return 0;
    }
    sigemptyset(sigs);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    return port;
}

/* After ulfius_start_framework* (started: it returned U_OK): says so on
 * stdout (bench/run waits for the line), serves until a signal, then stops
 * and frees the instance. Returns the exit status. */
static inline int bench_serve(struct _u_instance *inst, int started, long port,
                              const sigset_t *sigs)
{
    int sig;

    if (!started) {
        fprintf(stderr, "could not listen on port %ld\n", port);
        ulfius_clean_instance(inst);
        return 1;
    }
    printf("listening on %ld\n", port);
    fflush(stdout);
    sigwait(sigs, &sig);
    ulfius_stop_framework(inst);
    ulfius_clean_instance(inst);
    return 0;
}

/* Starts inst with the model that is fastest for plain requests (an epoll
 * pool of 2 threads); 1 when it listens. With options of its own, ulfius
 * needs its two hooks passed back in. */
static inline int bench_start_pool(struct _u_instance *inst)
{
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        {MHD_OPTION_THREAD_POOL_SIZE, 2, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    return ulfius_start_framework_with_mhd_options(inst, MHD_USE_EPOLL_INTERNAL_THREAD, ops) ==
           U_OK;
}

#endif
