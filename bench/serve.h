/*
 * What the benchmark's servers share: the port argument, and serving until
 * SIGINT or SIGTERM.
 */
#ifndef CF_BENCH_SERVE_H
#define CF_BENCH_SERVE_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
