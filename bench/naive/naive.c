/*
 * The second baseline of the ingest benchmark: the naive produce-and-wait
 * prototype. Every POST's body is parsed as JSON, produced to
 * clinicflow.calls.raw.v1 (or the topic --topic= names: the leads bench
 * uses clinicflow.leads.raw.v1) as it came, and answered 202 once the
 * broker has acknowledged it (503 if it did not). No keys, no validation,
 * no envelope, no consumers: the ceiling of "answer after Kafka's ack" with
 * ulfius and librdkafka's defaults on this machine and this broker.
 *
 *   clinicflow-bench-naive PORT BROKERS [--topic=NAME] [--any-body] [NAME=VALUE...]
 *                                        (producer settings)
 *
 * --any-body skips the JSON parse, so provider webhooks in form encoding
 * (the simulator's Mango, Asterisk and Sipuni calls) are produced as they
 * came too (bench/run sim-load).
 *
 * Threads: ulfius's default model (a thread per connection) runs the
 * handler, which waits on its own condition variable; one poller thread
 * serves the delivery reports and wakes the waiting request.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <ulfius.h>

#include "../serve.h"

static const char *topic = "clinicflow.calls.raw.v1";
static int any_body;

struct pending {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    rd_kafka_resp_err_t err;
};

static rd_kafka_t *producer;
static atomic_int stopping;
static atomic_ulong counter;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct pending *p = msg->_private;
    (void)rk;
    (void)opaque;
    pthread_mutex_lock(&p->mu);
    p->err = msg->err;
    p->done = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *poller(void *arg)
{
    (void)arg;
    while (!atomic_load(&stopping))
        rd_kafka_poll(producer, 100);
    return NULL;
}

static int ingest(const struct _u_request *req, struct _u_response *resp, void *user)
{
    json_error_t jerr;
    char key[32];
    (void)user;

    if (!any_body) {
        json_t *body = json_loadb(req->binary_body, req->binary_body_length, 0, &jerr);
        if (!body) {
            ulfius_set_string_body_response(resp, 400, "invalid json");
            return U_CALLBACK_COMPLETE;
        }
        json_decref(body);
    }
    snprintf(key, sizeof(key), "%lu", atomic_fetch_add(&counter, 1));
    struct pending p = {.done = 0};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(req->binary_body, req->binary_body_length),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&p), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        pthread_mutex_lock(&p.mu);
        while (!p.done)
            pthread_cond_wait(&p.cv, &p.mu);
        err = p.err;
        pthread_mutex_unlock(&p.mu);
    }
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        ulfius_set_string_body_response(resp, 503, rd_kafka_err2str(err));
    else
        ulfius_set_string_body_response(resp, 202, "{}");
    return U_CALLBACK_COMPLETE;
}

/* Sets one producer setting; prints the error and returns -1 if refused. */
static int set_conf(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return 0;
    fprintf(stderr, "%s\n", errstr);
    return -1;
}

int main(int argc, char **argv)
{
    struct _u_instance inst;
    char errstr[256];
    pthread_t poll_thread;
    sigset_t sigs;
    long port = bench_start(
        argc, argv, 3,
        "clinicflow-bench-naive PORT BROKERS [--topic=NAME] [--any-body] [NAME=VALUE...]", &sigs);

    if (!port)
        return 2;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int bad = set_conf(conf, "bootstrap.servers", argv[2]);
    for (int i = 3; !bad && i < argc; i++) { /* the topic, extra producer settings */
        char *eq = strchr(argv[i], '=');
        if (strncmp(argv[i], "--topic=", 8) == 0) {
            topic = argv[i] + 8;
        } else if (strcmp(argv[i], "--any-body") == 0) {
            any_body = 1;
        } else if (eq) {
            *eq = '\0';
            bad = set_conf(conf, argv[i], eq + 1);
        }
    }
    if (bad) {
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!producer) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    pthread_create(&poll_thread, NULL, poller, NULL);

    int rc = 1;
    if (ulfius_init_instance(&inst, (unsigned int)port, NULL, NULL) == U_OK) {
        ulfius_add_endpoint_by_val(&inst, "POST", NULL, "*", 0, ingest, NULL);
        rc = bench_serve(&inst, ulfius_start_framework(&inst) == U_OK, port, &sigs);
    }
    rd_kafka_flush(producer, 5000);
    atomic_store(&stopping, 1);
    pthread_join(poll_thread, NULL);
    rd_kafka_destroy(producer);
    return rc;
}
