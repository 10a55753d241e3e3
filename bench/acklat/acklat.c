/*
 * The time to Kafka's acknowledgement, one message at a time: the floor
 * under any server that answers after the ack. Produces messages of the
 * size of a call fact to clinicflow.calls.raw.v1 with the service's
 * delivery settings (idempotent, acks=all; its message timeout does not
 * matter while the broker answers), waits for each delivery report before
 * the next, and prints the percentiles of produce-to-report.
 *
 *   clinicflow-bench-acklat BROKERS LINGER_MS [COUNT]
 *
 * One thread: the delivery report is served by rd_kafka_poll on the
 * producing thread, so no wake-up of another thread is measured.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define TOPIC "clinicflow.calls.raw.v1"
#define WARMUP 200
#define FACT_BYTES 900

static int delivered;
static rd_kafka_resp_err_t delivery_err;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    delivery_err = m->err;
    delivered = 1;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "acklat: %s: %s\n", name, err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: clinicflow-bench-acklat BROKERS LINGER_MS [COUNT]\n");
        return 2;
    }
    char *end = NULL;
    long count = argc > 3 ? strtol(argv[3], &end, 10) : 2000;
    if ((end && *end != '\0') || count < 100 || count > 1000000) {
        fprintf(stderr, "acklat: COUNT must be 100..1000000\n");
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", argv[1]) || set(conf, "linger.ms", argv[2]) ||
        set(conf, "enable.idempotence", "true") || set(conf, "acks", "all")) {
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "acklat: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    static char body[FACT_BYTES];
    memset(body, 'f', sizeof(body));
    double *lat = calloc((size_t)count, sizeof(*lat));
    int rc = 0;
    if (!lat) {
        fprintf(stderr, "acklat: out of memory\n");
        rc = 1;
    }
    for (long i = -WARMUP; i < count && rc == 0; i++) {
        char key[32];
        snprintf(key, sizeof(key), "call-%ld", i);
        delivered = 0;
        double t0 = now_ms();
        rd_kafka_resp_err_t e =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE(body, sizeof(body)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) {
            fprintf(stderr, "acklat: produce: %s\n", rd_kafka_err2str(e));
            rc = 1;
            break;
        }
        while (!delivered)
            rd_kafka_poll(rk, 100);
        if (delivery_err) {
            fprintf(stderr, "acklat: delivery: %s\n", rd_kafka_err2str(delivery_err));
            rc = 1;
            break;
        }
        if (i >= 0)
            lat[i] = now_ms() - t0;
    }
    if (rc == 0) {
        qsort(lat, (size_t)count, sizeof(*lat), by_value);
        printf("linger.ms %s: %ld messages, produce to delivery report p50 %.3f p90 %.3f "
               "p99 %.3f ms\n",
               argv[2], count, lat[count / 2], lat[count * 9 / 10], lat[count * 99 / 100]);
    }
    free(lat);
    rd_kafka_destroy(rk);
    return rc;
}
