/*
 * The clinic's dialer for the dispatch benchmark: takes the reminders
 * service's webhook gateway POSTs (services/reminders/gateway_webhook.c)
 * and answers 200 at once, and prints one line a request on stdout:
 *
 *   <arrival, unix ms> <send_id> <command.job_id> <command.due_at>
 *
 * so the benchmark reads each command's lag after its due time from the
 * dialer's own clock (the same machine's), apart from the service. Written
 * in C rather than in the Python driver so that taking 1,000 requests a
 * second costs the measured cores little and adds no queueing of its own.
 *
 *   clinicflow-bench-dialer PORT
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <ulfius.h>

#include "../serve.h"

/* One line at a time on stdout, from the pool's threads. */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(const struct _u_request *req, struct _u_response *resp, void *user)
{
    const int64_t arrived = now_ms();
    json_error_t err;
    json_t *doc = json_loadb(req->binary_body, req->binary_body_length, 0, &err);
    const json_t *cmd = json_object_get(doc, "command");
    const char *send_id = json_string_value(json_object_get(doc, "send_id"));
    const char *job_id = json_string_value(json_object_get(cmd, "job_id"));
    const char *due = json_string_value(json_object_get(cmd, "due_at"));
    (void)user;

    pthread_mutex_lock(&out_mu);
    printf("%lld %s %s %s\n", (long long)arrived, send_id ? send_id : "-", job_id ? job_id : "-",
           due ? due : "-");
    pthread_mutex_unlock(&out_mu);
    json_decref(doc);
    ulfius_set_string_body_response(resp, 200, "ok");
    return U_CALLBACK_COMPLETE;
}

int main(int argc, char **argv)
{
    struct _u_instance inst;
    sigset_t sigs;
    long port = bench_start(argc, argv, 2, "clinicflow-bench-dialer PORT", &sigs);

    if (!port)
        return 2;
    /* a line each as it comes: the benchmark counts them while it waits */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (ulfius_init_instance(&inst, (unsigned int)port, NULL, NULL) != U_OK)
        return 1;
    ulfius_add_endpoint_by_val(&inst, "POST", NULL, "*", 0, dial, NULL);
    int rc = bench_serve(&inst, bench_start_pool(&inst), port, &sigs);
    fflush(stdout);
    return rc;
}
