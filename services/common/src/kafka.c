/*
 * The process's one Kafka producer. Handlers produce a message and wait for
 * that message's own delivery report: the report's opaque points into a
 * small heap "wait" shared by the caller and the report callback, reference
 * counted so that whichever of them finishes last frees it (a caller that
 * timed out simply drops its reference). A dedicated thread polls the handle.
 * A breaker guards the send path: the error callback opens it on
 * ERR__ALL_BROKERS_DOWN (or a message timing out while the statistics see no
 * broker UP) and sends then fail at once; the statistics callback
 * closes it when any real broker is UP again, and while it is open one send
 * per probe interval is let through as a half-open probe whose successful
 * delivery closes it too. The breaker's transitions are a pure function so
 * they can be tested without a broker.
 */
#include "common/kafka.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/testable.h"
#include "kafka_testable.h"
#include "common/json_text.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* ------------------------------------------------------------------------ */
/* Breaker state machine (pure)                                              */
/* ------------------------------------------------------------------------ */

/* Applies an event at now_ms. Returns 1 when the breaker changed between
 * open and closed, else 0. */
CF_TESTABLE int cf_breaker_on_event(struct cf_breaker *b, enum cf_breaker_event ev, int64_t now_ms,
                                    long probe_interval_ms)
{
    int was_open = b->open;
    switch (ev) {
    case CF_BREAKER_TIMED_OUT:
        /* With a broker UP the timeout is one partition's leader still
         * reconnecting (after an outage, up to reconnect.backoff.max.ms):
         * its own messages fail on their own, the others go. */
        if (b->broker_up)
            break;
        /* fall through */
    case CF_BREAKER_ALL_DOWN:
        b->broker_up = 0;
        if (!b->open) {
            b->open = 1;
            b->next_probe_ms = now_ms + probe_interval_ms;
        }
        break;
    case CF_BREAKER_NONE_UP:
        b->broker_up = 0;
        break;
    case CF_BREAKER_BROKER_UP:
        b->broker_up = 1;
        /* fall through */
    case CF_BREAKER_DELIVERED:
        b->open = 0;
        b->next_probe_ms = 0;
        break;
    }
    return was_open != b->open;
}

/* Decides whether a send at now_ms may go. Taking the probe slot moves the
 * next one a probe interval later, so at most one probe per interval. */
CF_TESTABLE enum cf_breaker_admit cf_breaker_admit(struct cf_breaker *b, int64_t now_ms,
                                                   long probe_interval_ms)
{
    if (!b->open)
        return CF_BREAKER_PASS;
    if (now_ms >= b->next_probe_ms) {
        b->next_probe_ms = now_ms + probe_interval_ms;
        return CF_BREAKER_PROBE;
    }
    return CF_BREAKER_REJECT;
}

/*
 * Reads librdkafka's statistics JSON and tells whether any real broker is in
 * state "UP". Brokers whose source is "internal" (the handle's internal
 * broker, always UP) or "logical" (the group coordinator alias) are ignored.
 * Returns 1 (some broker UP), 0 (none) or -1 (not parseable or no "brokers"
 * object).
 */
CF_TESTABLE int cf_kafka_stats_any_broker_up(const char *json, size_t len)
{
    json_error_t jerr;
    json_t *j_stats = cf_json_loadb(json, len, 0, &jerr);
    json_t *j_brokers = j_stats ? json_object_get(j_stats, "brokers") : NULL;
    if (!json_is_object(j_brokers)) {
        json_decref(j_stats);
        return -1;
    }
    int up = 0;
    const char *name;
    json_t *j_broker;
    json_object_foreach(j_brokers, name, j_broker)
    {
        const char *source = json_string_value(json_object_get(j_broker, "source"));
        const char *state = json_string_value(json_object_get(j_broker, "state"));
        if (source && (strcmp(source, "internal") == 0 || strcmp(source, "logical") == 0))
            continue;
        if (state && strcmp(state, "UP") == 0) {
            up = 1;
            break;
        }
    }
    json_decref(j_stats);
    return up;
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

/* Sets one property; the reason names the property, never its value (it may
 * be a password). */
static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errbuf,
                    size_t errbuf_size)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        if (value && *value && strstr(errstr, value))
            cf_seterr(errbuf, errbuf_size, "kafka property %s: invalid value", name);
        else
            cf_seterr(errbuf, errbuf_size, "kafka property %s: %s", name, errstr);
        return CF_EINVAL;
    }
    return 0;
}

/* librdkafka's own log lines (any of its threads) go into our JSON log;
 * syslog levels: up to 4 (warning) warn, 5-6 info, 7 debug. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum cf_log_level lvl = level <= 4 ? CF_LOG_WARN : level <= 6 ? CF_LOG_INFO : CF_LOG_DEBUG;
    cf_log(lvl, "librdkafka %s %s: %s", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

rd_kafka_conf_t *cf_kafka_conf_new(const struct cf_settings *s, char *errbuf, size_t errbuf_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, on_log);
    char client_id[128];
    snprintf(client_id, sizeof(client_id), "clinicflow-%s", s->service ? s->service : "service");
    if (conf_set(conf, "bootstrap.servers", s->kafka_brokers ? s->kafka_brokers : "", errbuf,
                 errbuf_size) ||
        conf_set(conf, "client.id", client_id, errbuf, errbuf_size) ||
        /* After a broker restart, intake answering 503 until its partitions'
         * leaders are reached again: within a second, not librdkafka's 10. */
        conf_set(conf, "reconnect.backoff.max.ms", "1000", errbuf, errbuf_size))
        goto fail;
    for (size_t i = 0; i < s->kafka_props_n; i++) {
        if (conf_set(conf, s->kafka_props[i].name, s->kafka_props[i].value, errbuf, errbuf_size))
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Delivery waits                                                            */
/* ------------------------------------------------------------------------ */

struct dr_wait;

/* The opaque of one produced message. */
struct dr_slot {
    struct dr_wait *w;
    size_t idx;
};

/* Shared by a sending caller and the delivery reports of its messages.
 * refs = 1 (the caller) + the messages whose report has not come yet. */
struct dr_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    size_t pending;
    size_t n;
    int *errs;                  /* CF_ETIMEOUT until reported */
    rd_kafka_resp_err_t *kerrs; /* librdkafka's reason for a failure */
    struct dr_slot *slots;
};

static struct dr_wait *dr_wait_new(size_t n)
{
    struct dr_wait *w = cf_xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &attr);
    pthread_condattr_destroy(&attr);
    w->n = n;
    w->pending = n;
    w->refs = 1 + (int)n;
    w->errs = cf_xcalloc(n, sizeof(*w->errs));
    w->kerrs = cf_xcalloc(n, sizeof(*w->kerrs));
    w->slots = cf_xcalloc(n, sizeof(*w->slots));
    for (size_t i = 0; i < n; i++) {
        w->errs[i] = CF_ETIMEOUT;
        w->slots[i].w = w;
        w->slots[i].idx = i;
    }
    return w;
}

static void dr_wait_free(struct dr_wait *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->errs);
    free(w->kerrs);
    free(w->slots);
    free(w);
}

/* Drops one reference under the lock; the last holder frees after unlock. */
static void dr_wait_unref_unlock(struct dr_wait *w)
{
    int last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last)
        dr_wait_free(w);
}

/* Records the outcome of one message and drops its reference. */
static void dr_slot_complete(struct dr_slot *slot, int err, rd_kafka_resp_err_t kerr)
{
    struct dr_wait *w = slot->w;
    pthread_mutex_lock(&w->mu);
    w->errs[slot->idx] = err;
    w->kerrs[slot->idx] = kerr;
    if (--w->pending == 0)
        pthread_cond_broadcast(&w->cv);
    dr_wait_unref_unlock(w);
}

/* ------------------------------------------------------------------------ */
/* Producer                                                                  */
/* ------------------------------------------------------------------------ */

struct cf_producer {
    rd_kafka_t *rk;
    pthread_t poll_thread;
    int poll_started;
    atomic_int stop;
    atomic_int fatal;
    atomic_int breaker_open; /* mirror of brk.open for lock-free readers */
    atomic_int verify;       /* an idle "all brokers down" for the poll thread to check */
    pthread_mutex_t brk_mu;
    struct cf_breaker brk;
    long probe_interval_ms;
    long delivery_wait_ms;
    atomic_ulong delivered;
    atomic_ulong failed;
    rd_kafka_topic_t *warm[CF_KAFKA_WARM_MAX]; /* cf_kafka_producer_warm's handles */
    size_t nwarm;
    size_t max_message; /* cf_kafka_producer_max_message's; set at creation */
};

static void breaker_apply(struct cf_producer *p, enum cf_breaker_event ev)
{
    pthread_mutex_lock(&p->brk_mu);
    int changed = cf_breaker_on_event(&p->brk, ev, cf_time_mono_ms(), p->probe_interval_ms);
    int open = p->brk.open;
    if (changed) {
        atomic_store(&p->breaker_open, open);
        /* under the lock: two changes on two threads set the gauge in the
         * order they changed the breaker, so it ends as the breaker is */
        cf_metrics_set("clinicflow_kafka_breaker_open", "", open ? 1 : 0);
    }
    pthread_mutex_unlock(&p->brk_mu);
    if (!changed)
        return;
    if (open)
        cf_warn("kafka breaker open: all brokers are down; sends fail until one is back");
    else
        cf_info("kafka breaker closed: a broker is reachable again");
}

/* Delivery report callback (poll thread, or the destroying thread while it
 * flushes). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    struct cf_producer *p = opaque;
    struct dr_slot *slot = rkm->_private;
    int err = 0;
    if (rkm->err) {
        rd_kafka_msg_status_t status = rd_kafka_message_status(rkm);
        err = status == RD_KAFKA_MSG_STATUS_NOT_PERSISTED ? CF_EUNAVAIL : CF_ETIMEOUT;
        if (rkm->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
            rkm->err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE)
            err = CF_ETOOBIG; /* the broker's limit: sending it again cannot help */
        atomic_fetch_add(&p->failed, 1);
        cf_metrics_add("clinicflow_kafka_deliveries_total", "result=\"failed\"", 1);
        cf_warn("delivery to %s [%d] failed (%s): %s", rd_kafka_topic_name(rkm->rkt),
                (int)rkm->partition,
                status == RD_KAFKA_MSG_STATUS_NOT_PERSISTED ? "not written" : "possibly written",
                rd_kafka_err2str(rkm->err));
        /* No broker took it in time: the outage that an idle producer's
         * ALL_BROKERS_DOWN could not prove (on_error), unless the latest
         * statistics saw a broker UP. */
        if (rkm->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
            breaker_apply(p, CF_BREAKER_TIMED_OUT);
    } else {
        atomic_fetch_add(&p->delivered, 1);
        cf_metrics_add("clinicflow_kafka_deliveries_total", "result=\"ok\"", 1);
        if (atomic_load(&p->breaker_open))
            breaker_apply(p, CF_BREAKER_DELIVERED);
    }
    if (slot)
        dr_slot_complete(slot, err, rkm->err);
}

static void on_error(rd_kafka_t *rk, int kerr, const char *reason, void *opaque)
{
    struct cf_producer *p = opaque;
    if (kerr == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        cf_error("kafka producer fatal error %s: %s; shutting down", rd_kafka_err2name(orig),
                 fatal);
        atomic_store(&p->fatal, 1);
        /* main waits for SIGTERM in sigwait: ask it to shut down. */
        kill(getpid(), SIGTERM);
        return;
    }
    if (kerr == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        /* librdkafka 2.0.2 also says this when brokers close the idle
         * connections of a quiet producer (connections.max.idle.ms; its
         * issue #5142): with nothing waiting to be sent it proves no outage,
         * and an open breaker would refuse the next webhook and fail
         * readiness on every quiet night. With messages waiting it opens
         * the breaker; when idle, the poll thread asks a broker for
         * metadata, which connects again, and opens it only if none
         * answers. A message that timed out opens it too (on_delivery). */
        if (rd_kafka_outq_len(rk) > 0) {
            breaker_apply(p, CF_BREAKER_ALL_DOWN);
        } else {
            cf_info("kafka: no broker connection while idle (%s); asking for metadata", reason);
            atomic_store(&p->verify, 1);
        }
        return;
    }
    /* Connection failures are already in the log through on_log. */
    enum cf_log_level lvl =
        kerr == RD_KAFKA_RESP_ERR__TRANSPORT || kerr == RD_KAFKA_RESP_ERR__RESOLVE ? CF_LOG_DEBUG
                                                                                   : CF_LOG_WARN;
    cf_log(lvl, "kafka producer error %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)kerr),
           reason);
}

static int on_stats(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    (void)rk;
    struct cf_producer *p = opaque;
    int up = cf_kafka_stats_any_broker_up(json, json_len);
    if (up >= 0)
        breaker_apply(p, up ? CF_BREAKER_BROKER_UP : CF_BREAKER_NONE_UP);
    return 0; /* librdkafka frees json */
}

/* How often an open breaker with nothing to send asks for metadata. */
#define VERIFY_INTERVAL_MS 2000

/* After an "all brokers down" while idle: a metadata request (any broker,
 * no topics) tells a closed idle connection, which it opens again, from an
 * outage. Runs on the poll thread (up to 1 s); nothing waits for a
 * delivery report meanwhile, as nothing was queued, but for a probe let
 * through by an open breaker in that second. */
static void verify_brokers(struct cf_producer *p)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 0, NULL, &md, 1000);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (err) {
        /* The breaker logs when it opens; this repeats while it is open. */
        cf_debug("kafka: no broker answered a metadata request: %s", rd_kafka_err2str(err));
        breaker_apply(p, CF_BREAKER_ALL_DOWN);
    } else {
        breaker_apply(p, CF_BREAKER_BROKER_UP);
    }
}

static void *poll_main(void *arg)
{
    struct cf_producer *p = arg;
    int64_t next_check = 0;
    while (!atomic_load(&p->stop)) {
        rd_kafka_poll(p->rk, 100);
        /* Checked at once after an idle "all brokers down", and every probe
         * interval while the breaker is open with nothing to send: readiness
         * comes back with the brokers, not with the next webhook. */
        int due = atomic_exchange(&p->verify, 0);
        if (!due && atomic_load(&p->breaker_open) && rd_kafka_outq_len(p->rk) == 0 &&
            cf_time_mono_ms() >= next_check)
            due = 1;
        if (due) {
            verify_brokers(p);
            next_check = cf_time_mono_ms() + VERIFY_INTERVAL_MS;
        }
    }
    return NULL;
}

struct cf_producer *cf_kafka_producer_new(const struct cf_settings *s, char *errbuf,
                                          size_t errbuf_size)
{
    struct cf_producer *p = cf_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->brk_mu, NULL);
    p->probe_interval_ms = s->kafka_probe_interval_ms > 0 ? s->kafka_probe_interval_ms : 2000;
    p->delivery_wait_ms = s->kafka_delivery_wait_ms > 0 ? s->kafka_delivery_wait_ms : 7000;

    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%ld",
             s->kafka_message_timeout_ms > 0 ? s->kafka_message_timeout_ms : 5000);
    rd_kafka_conf_t *conf = cf_kafka_conf_new(s, errbuf, errbuf_size);
    if (!conf)
        goto fail;
    if (conf_set(conf, "enable.idempotence", "true", errbuf, errbuf_size) ||
        conf_set(conf, "acks", "all", errbuf, errbuf_size) ||
        conf_set(conf, "message.timeout.ms", timeout, errbuf, errbuf_size) ||
        conf_set(conf, "statistics.interval.ms", "1000", errbuf, errbuf_size))
        goto fail;
    /* librdkafka refuses a message whose record is over message.max.bytes:
     * the record's framing (a few dozen bytes, no headers here) is left out
     * of what we call the limit with room to spare */
    char max_bytes[32];
    size_t max_bytes_size = sizeof(max_bytes);
    long max_msg =
        rd_kafka_conf_get(conf, "message.max.bytes", max_bytes, &max_bytes_size) == RD_KAFKA_CONF_OK
            ? strtol(max_bytes, NULL, 10)
            : 1000000;
    p->max_message = max_msg > 2 * CF_KAFKA_RECORD_SLACK ? (size_t)(max_msg - CF_KAFKA_RECORD_SLACK)
                                                         : (size_t)max_msg / 2;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_conf_set_opaque(conf, p);

    char errstr[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p->rk) {
        cf_seterr(errbuf, errbuf_size, "could not create kafka producer: %s", errstr);
        goto fail;
    }
    conf = NULL; /* owned by rk now */

    cf_metrics_describe("clinicflow_kafka_breaker_open", "gauge",
                        "1 while the producer's breaker is open (all brokers down)");
    cf_metrics_describe("clinicflow_kafka_deliveries_total", "counter",
                        "Kafka delivery reports by result");
    cf_metrics_set("clinicflow_kafka_breaker_open", "", 0);
    /* Ready only once a broker answered: one that was never reached (a
     * wrong address, brokers down at start) must not pass for available
     * while librdkafka is still trying (up to its connection timeout). */
    verify_brokers(p);

    int rc = pthread_create(&p->poll_thread, NULL, poll_main, p);
    if (rc) {
        cf_seterr(errbuf, errbuf_size, "could not start kafka poll thread: %s", cf_strerror(rc));
        goto fail;
    }
    p->poll_started = 1;
    return p;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (p->rk)
        rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->brk_mu);
    free(p);
    return NULL;
}

size_t cf_kafka_producer_max_message(const struct cf_producer *p)
{
    return p->max_message;
}

static int produce_err(rd_kafka_resp_err_t kerr)
{
    if (kerr == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        return CF_ETOOBIG;
    return CF_EUNAVAIL; /* queue full, fatal, unknown topic: nothing was written */
}

int cf_kafka_produce_event(struct cf_producer *p, const char *topic, const struct cf_event *ev,
                           char *errbuf, size_t errbuf_size)
{
    char *value = cf_event_dumps(ev);
    int rc = cf_kafka_produce_sync(p, topic, ev->subject, strlen(ev->subject), value, strlen(value),
                                   errbuf, errbuf_size);
    free(value);
    return rc;
}

int cf_kafka_produce_batch(struct cf_producer *p, struct cf_kmsg *msgs, size_t n, char *errbuf,
                           size_t errbuf_size)
{
    if (n == 0)
        return 0;
    if (atomic_load(&p->fatal)) {
        for (size_t i = 0; i < n; i++)
            msgs[i].err = CF_EUNAVAIL;
        cf_seterr(errbuf, errbuf_size, "kafka producer hit a fatal error");
        return CF_EUNAVAIL;
    }
    pthread_mutex_lock(&p->brk_mu);
    enum cf_breaker_admit admit =
        cf_breaker_admit(&p->brk, cf_time_mono_ms(), p->probe_interval_ms);
    pthread_mutex_unlock(&p->brk_mu);
    if (admit == CF_BREAKER_REJECT) {
        for (size_t i = 0; i < n; i++)
            msgs[i].err = CF_EUNAVAIL;
        cf_seterr(errbuf, errbuf_size, "kafka unavailable: all brokers are down");
        return CF_EUNAVAIL;
    }
    if (admit == CF_BREAKER_PROBE)
        cf_info("kafka breaker half-open: letting a probe through");

    struct dr_wait *w = dr_wait_new(n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t kerr = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(msgs[i].topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY((void *)msgs[i].key, msgs[i].keylen),
            RD_KAFKA_V_VALUE((void *)msgs[i].value, msgs[i].valuelen),
            RD_KAFKA_V_OPAQUE(&w->slots[i]), RD_KAFKA_V_END);
        if (kerr) {
            atomic_fetch_add(&p->failed, 1);
            cf_metrics_add("clinicflow_kafka_deliveries_total", "result=\"failed\"", 1);
            cf_warn("could not produce to %s: %s", msgs[i].topic, rd_kafka_err2str(kerr));
            dr_slot_complete(&w->slots[i], produce_err(kerr), kerr);
        }
    }

    struct timespec deadline;
    cf_time_deadline(CLOCK_MONOTONIC, p->delivery_wait_ms, &deadline);
    pthread_mutex_lock(&w->mu);
    while (w->pending > 0) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) == ETIMEDOUT)
            break;
    }
    const int unreported = w->pending > 0;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        msgs[i].err = w->errs[i];
        if (msgs[i].err && !first) {
            first = msgs[i].err;
            if (w->kerrs[i])
                cf_seterr(errbuf, errbuf_size, "delivery to %s failed: %s", msgs[i].topic,
                          rd_kafka_err2str(w->kerrs[i]));
            else
                cf_seterr(errbuf, errbuf_size, "no delivery report from %s within %ld ms",
                          msgs[i].topic, p->delivery_wait_ms);
        }
    }
    dr_wait_unref_unlock(w);
    /* Nothing came back within the wait: as good a sign of an outage as a
     * timed-out message, and sooner (its report can come seconds later);
     * and no more: while the statistics see a broker UP, it is one slow
     * partition leader, whose own messages fail, not every partition's. */
    if (unreported)
        breaker_apply(p, CF_BREAKER_TIMED_OUT);
    return first;
}

int cf_kafka_produce_sync(struct cf_producer *p, const char *topic, const void *key, size_t keylen,
                          const void *value, size_t valuelen, char *errbuf, size_t errbuf_size)
{
    struct cf_kmsg msg = {.topic = topic,
                          .key = key,
                          .keylen = keylen,
                          .value = value,
                          .valuelen = valuelen,
                          .err = 0};
    return cf_kafka_produce_batch(p, &msg, 1, errbuf, errbuf_size);
}

int cf_kafka_watermarks(struct cf_producer *p, const char *topic, int64_t *lo, int64_t *hi, int max,
                        int timeout_ms, char *errbuf, size_t errbuf_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    if (!rkt) {
        cf_seterr(errbuf, errbuf_size, "watermarks of %s: no topic handle", topic);
        return -1;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    int n = -1;
    if (!err && md && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
        n = md->topics[0].partition_cnt;
    else if (!err)
        err = md && md->topic_cnt == 1 && md->topics[0].err
                  ? md->topics[0].err
                  : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (!err && n > max)
        return n; /* the caller's arrays are too small: it asks again with n */
    /* One budget for all of it: a caller on its way to shutdown waits
     * timeout_ms at most, twice. ListOffsets for the earliest and the latest
     * offset of every partition at once: librdkafka 2.0.2's
     * rd_kafka_query_watermark_offsets ignores its timeout while the
     * partition's broker is down (measured: it returned when the brokers
     * did), and this path must not hang through an outage. */
    const int64_t until = cf_time_mono_ms() + timeout_ms;
    for (int end = 0; end <= 1 && !err && n > 0; end++) {
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
        for (int i = 0; i < n; i++)
            rd_kafka_topic_partition_list_add(parts, topic, i)->offset =
                end ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
        const int64_t left = until - cf_time_mono_ms();
        err = left <= 0 ? RD_KAFKA_RESP_ERR__TIMED_OUT
                        : rd_kafka_offsets_for_times(p->rk, parts, (int)left);
        for (int i = 0; i < parts->cnt && !err; i++) {
            const rd_kafka_topic_partition_t *tp = &parts->elems[i];
            if (tp->err)
                err = tp->err;
            else if (tp->partition >= 0 && tp->partition < n)
                (end ? hi : lo)[tp->partition] = tp->offset;
        }
        rd_kafka_topic_partition_list_destroy(parts);
    }
    if (err) {
        cf_seterr(errbuf, errbuf_size, "watermarks of %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    return n;
}

int cf_kafka_available(const struct cf_producer *p)
{
    return !atomic_load(&p->breaker_open) && !atomic_load(&p->fatal);
}

void cf_kafka_stats(const struct cf_producer *p, unsigned long *delivered, unsigned long *failed)
{
    if (delivered)
        *delivered = atomic_load(&p->delivered);
    if (failed)
        *failed = atomic_load(&p->failed);
}

void cf_kafka_producer_warm(struct cf_producer *p, const char *const *topics, size_t n)
{
    for (size_t i = 0; i < n && p->nwarm < CF_KAFKA_WARM_MAX; i++) {
        /* A topic handle new to the client asks the cluster for the
         * topic's leaders at once, without waiting for an answer. */
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topics[i], NULL);
        if (rkt)
            p->warm[p->nwarm++] = rkt;
        else
            cf_warn("kafka: no handle for topic %s: %s", topics[i],
                    rd_kafka_err2str(rd_kafka_last_error()));
    }
}

int cf_kafka_producer_destroy(struct cf_producer *p, int timeout_ms)
{
    if (!p)
        return 0;
    if (p->poll_started) {
        atomic_store(&p->stop, 1);
        pthread_join(p->poll_thread, NULL);
    }
    /* flush serves delivery reports itself now that the poll thread is gone */
    rd_kafka_flush(p->rk, timeout_ms > 0 ? timeout_ms : 0);
    int left = rd_kafka_outq_len(p->rk);
    if (left > 0) {
        cf_warn("kafka producer closing with %d messages or requests not delivered", left);
        /* Purged messages get their reports (ERR__PURGE_*), which release
         * their waits; otherwise those would leak. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int i = 0; i < 10 && rd_kafka_outq_len(p->rk) > 0; i++)
            rd_kafka_poll(p->rk, 50);
    }
    for (size_t i = 0; i < p->nwarm; i++)
        rd_kafka_topic_destroy(p->warm[i]);
    rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->brk_mu);
    free(p);
    return left;
}
