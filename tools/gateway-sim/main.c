/*
 * clinicflow-gateway-sim: the local demo network's reminder gateways (see
 * sim.h and README.md).
 *
 *   clinicflow-gateway-sim --network FILE [--port 8099] [--host 127.0.0.1]
 *                          [--reminders http://127.0.0.1:8083] [--delay-ms 3000]
 *
 * Prints "listening on PORT" once it listens; SIGINT or SIGTERM stop it.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ulfius.h>

#include "sim.h"

static void usage(void)
{
    fprintf(stderr, "usage: clinicflow-gateway-sim --network FILE [--port PORT] [--host ADDR]\n"
                    "       [--reminders URL] [--delay-ms MS]\n");
}

/* A whole number in [lo, hi] from s, or -1. */
static long number(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= lo && v <= hi ? v : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"network", required_argument, NULL, 'n'},  {"port", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'h'},     {"reminders", required_argument, NULL, 'r'},
        {"delay-ms", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0},
    };
    struct sim_config cfg = {.reminders_url = "http://127.0.0.1:8083", .delay_ms = 3000};
    const char *network = NULL, *host = "127.0.0.1";
    long port = 8099;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            network = optarg;
            break;
        case 'p':
            port = number(optarg, 1, 65535);
            break;
        case 'h':
            host = optarg;
            break;
        case 'r':
            cfg.reminders_url = optarg;
            break;
        case 'd':
            cfg.delay_ms = number(optarg, 0, 3600000);
            break;
        default:
            usage();
            return 2;
        }
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (!network || port < 0 || cfg.delay_ms < 0 || optind != argc ||
        inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        usage();
        return 2;
    }
    json_error_t err;
    if (!(cfg.network = json_load_file(network, 0, &err))) {
        fprintf(stderr, "gateway-sim: %s: %s (line %d)\n", network, err.text, err.line);
        return 2;
    }

    sigset_t sigs;
    int sig;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* the threads started below too */

    struct _u_instance inst;
    int rc = 1;
    if (ulfius_init_instance(&inst, (unsigned int)port, &addr, NULL) != U_OK) {
        json_decref(cfg.network);
        return 1;
    }
    sim_routes(&inst, &cfg);
    if (sim_callbacks_start() != 0) {
        fprintf(stderr, "gateway-sim: no callback thread\n");
    } else {
        if (ulfius_start_framework(&inst) != U_OK) {
            fprintf(stderr, "gateway-sim: could not listen on %s:%ld\n", host, port);
        } else {
            printf("listening on %ld\n", port);
            fflush(stdout);
            sigwait(&sigs, &sig);
            ulfius_stop_framework(&inst);
            rc = 0;
        }
        sim_callbacks_stop();
    }
    ulfius_clean_instance(&inst);
    sim_routes_free();
    json_decref(cfg.network);
    return rc;
}
