/*
 * Reading topics as clinicflowctl dlq does (topic_read.h): a consumer from
 * the services' own Kafka settings with partitions started directly, no
 * consumer group, nothing committed.
 */
#include "topic_read.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* The reader: a consumer without a group. */
static rd_kafka_t *reader_new(const struct cf_settings *s, char *errbuf, size_t errbuf_size)
{
    static const char *const props[][2] = {
        {"enable.partition.eof", "true"}, /* tells an emptied partition's end */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"fetch.wait.max.ms", "100"},
        {"auto.offset.reset", "earliest"}, /* a start compacted away: what is kept */
    };
    char errstr[512];
    rd_kafka_conf_t *conf = cf_kafka_conf_new(s, errbuf, errbuf_size);
    if (!conf)
        return NULL;
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            cf_seterr(errbuf, errbuf_size, "kafka property %s: %s", props[i][0], errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        cf_seterr(errbuf, errbuf_size, "could not create a kafka consumer: %s", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* A partition is done at its message hi[p] - 1, or at its end when that
 * is at or past hi[p] (the last messages may have been deleted meanwhile,
 * or be transaction markers). */
int ctl_topic_read(const struct cf_settings *s, const char *topic, const int64_t *from,
                   const int64_t *hi, int n, long timeout_ms, ctl_take_fn take, void *arg,
                   char *errbuf, size_t errbuf_size)
{
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *rkt = NULL;
    rd_kafka_queue_t *rkqu = NULL;
    char *started = cf_xcalloc((size_t)n, 1);
    char *done = cf_xcalloc((size_t)n, 1);
    int remaining = 0;
    int rc = CF_EUNAVAIL;
    char last_error[256] = "";

    for (int p = 0; p < n; p++)
        remaining += from[p] < hi[p];
    if (remaining == 0) {
        rc = 0;
        goto out;
    }
    if (!(rk = reader_new(s, errbuf, errbuf_size)))
        goto out;
    if (!(rkt = rd_kafka_topic_new(rk, topic, NULL))) {
        cf_seterr(errbuf, errbuf_size, "no handle for %s: %s", topic,
                  rd_kafka_err2str(rd_kafka_last_error()));
        goto out;
    }
    rkqu = rd_kafka_queue_new(rk);
    for (int p = 0; p < n; p++) {
        if (from[p] >= hi[p]) {
            done[p] = 1;
            continue;
        }
        if (rd_kafka_consume_start_queue(rkt, p, from[p], rkqu) != 0) {
            cf_seterr(errbuf, errbuf_size, "could not read %s [%d]: %s", topic, p,
                      rd_kafka_err2str(rd_kafka_last_error()));
            goto out;
        }
        started[p] = 1;
    }

    int64_t moved = cf_time_mono_ms();
    while (remaining > 0) {
        rd_kafka_message_t *rkm = rd_kafka_consume_queue(rkqu, 100);
        if (!rkm) {
            if (cf_time_mono_ms() - moved <= timeout_ms)
                continue;
            for (int p = 0; p < n; p++) {
                if (!done[p]) {
                    cf_seterr(errbuf, errbuf_size,
                              "reading %s stopped moving for %ld ms at partition %d (reading up "
                              "to offset %" PRId64 ")%s%s",
                              topic, timeout_ms, p, hi[p], *last_error ? ": " : "", last_error);
                    break;
                }
            }
            goto out;
        }
        const int32_t p = rkm->partition;
        if (p < 0 || p >= n || done[p]) {
            rd_kafka_message_destroy(rkm);
            continue;
        }
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (rkm->offset >= hi[p]) {
                done[p] = 1;
                remaining--;
            }
        } else if (rkm->err) {
            /* librdkafka retries what it can; what it cannot stops the
             * progress, and the reason is given then. */
            snprintf(last_error, sizeof(last_error), "%s", rd_kafka_message_errstr(rkm));
        } else {
            moved = cf_time_mono_ms();
            if (rkm->offset < hi[p])
                take(arg, rkm);
            if (rkm->offset >= hi[p] - 1) {
                done[p] = 1;
                remaining--;
            }
        }
        rd_kafka_message_destroy(rkm);
    }
    rc = 0;

out:
    for (int p = 0; p < n; p++) {
        if (started[p])
            rd_kafka_consume_stop(rkt, p);
    }
    if (rkqu)
        rd_kafka_queue_destroy(rkqu);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (rk)
        rd_kafka_destroy(rk);
    free(started);
    free(done);
    return rc;
}

int ctl_topic_watermarks(struct cf_producer *producer, const char *topic, long timeout_ms,
                         int64_t **lo, int64_t **hi, int *n, char *errbuf, size_t errbuf_size)
{
    int cap = 16;

    for (;;) {
        *lo = cf_xrealloc(*lo, (size_t)cap * sizeof(**lo));
        *hi = cf_xrealloc(*hi, (size_t)cap * sizeof(**hi));
        *n = cf_kafka_watermarks(producer, topic, *lo, *hi, cap, (int)timeout_ms, errbuf,
                                 errbuf_size);
        if (*n < 0)
            return CF_EUNAVAIL;
        if (*n <= cap)
            return 0;
        cap = *n;
    }
}
