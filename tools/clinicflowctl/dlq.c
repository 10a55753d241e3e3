/*
 * clinicflowctl dlq list|replay: the dead letters on clinicflow.dlq.v1
 * (proto/README.md, "Dead letters"; one entry per message a consumer group
 * gave up on, keyed as the original, with its bytes in base64).
 *
 * Both commands read every partition from its beginning up to the high
 * watermark taken at the start, so they end on a busy topic and never wait
 * for entries written after it, and select entries by original topic,
 * consumer group and the entry's own time (--since included, --until not).
 * list prints them, oldest first. replay produces each selected original
 * message once (two groups that gave up on one message, or one that gave
 * up twice, give two entries for it) back to its topic with its key and
 * value as they were, in its partition's offset order, then waits for
 * every delivery report. That is safe: consumers skip event ids they
 * applied before, so a group that did apply a message skips it again. On
 * a compacted topic (the latest record of a key is the state) a message
 * whose key was written again after it is not replayed: it would undo the
 * newer record, or bring back a patient a tombstone erased, for every
 * consumer (drop_superseded).
 *
 * The Kafka handles are the services' own (common/kafka.h): the producer,
 * built from the same settings, also gives the watermarks; topics are read
 * without a consumer group (topic_read.h: nothing is committed anywhere).
 * No database is used.
 */
#include "ctl.h"
#include "topic_read.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/envelope.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/time.h"
#include "common/topics.h"
#include "common/xmalloc.h"

/* The services' default (services/common/src/config.c). */
#define DEFAULT_BROKERS "localhost:9092"
/* Messages handed to the producer at once; each batch waits for its reports. */
#define REPLAY_BATCH 500

static char *env_brokers;
static long env_timeout_ms;
static long env_delivery_wait_ms;
static char *env_log_level;

static const struct cf_config_var settings[] = {
    {"CLINICFLOW_KAFKA_BROKERS", CF_CONF_STRING, NULL, &env_brokers, 0, 0, 0,
     "bootstrap brokers (" DEFAULT_BROKERS " when unset, as for the services)", NULL},
    {"CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS", CF_CONF_INT, "5000", &env_timeout_ms, 1, 3600000, 0,
     "how long the brokers may take to answer, and a replayed message to be delivered", NULL},
    {"CLINICFLOW_KAFKA_DELIVERY_WAIT_MS", CF_CONF_INT, "7000", &env_delivery_wait_ms, 1, 3600000, 0,
     "how long replay waits for a batch's delivery reports", NULL},
    {"CLINICFLOW_LOG_LEVEL", CF_CONF_STRING, "error", &env_log_level, 0, 0, 0,
     "librdkafka's and the common library's log lines on stderr (error: none but errors)", NULL},
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* One entry read from the DLQ; the strings point into j_data. */
struct entry {
    int64_t time_ms;
    int32_t dlq_partition;
    int64_t dlq_offset;
    json_t *j_data; /* the entry's data (a reference) */
    const char *group;
    const char *topic;
    int64_t partition;
    int64_t offset;
    const char *reason_code;
    const char *reason;
    const char *key_b64; /* NULL: a null key */
    const char *value_b64;
};

struct entries {
    struct entry *v;
    size_t n, cap;
    size_t read;    /* entries read, selected or not */
    size_t skipped; /* messages that are no DLQ entry */
};

static void entries_free(struct entries *es)
{
    for (size_t i = 0; i < es->n; i++)
        json_decref(es->v[i].j_data);
    free(es->v);
    es->v = NULL;
    es->n = es->cap = 0;
}

/* ------------------------------------------------------------------------ */
/* Times and base64                                                          */
/* ------------------------------------------------------------------------ */

int ctl_dlq_time_parse(const char *s, int64_t *ms_out)
{
    int64_t days;
    if (cf_time_date_parse(s, &days) == 0) {
        *ms_out = days * 86400000;
        return 0;
    }
    return cf_time_parse(s, ms_out) == 0 ? 0 : CF_EINVAL;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard padded base64 (as cf_base64 writes it) to bytes: *out (free()
 * it; NULL when empty) and *outlen. 0, or CF_EINVAL when s is not that. */
static int b64_decode(const char *s, uint8_t **out, size_t *outlen)
{
    size_t len = strlen(s), n = 0;
    *out = NULL;
    *outlen = 0;
    if (len % 4 != 0)
        return CF_EINVAL;
    if (len == 0)
        return 0;
    uint8_t *buf = cf_xmalloc(len / 4 * 3);
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const int last_group = i + 4 == len;
            if (s[i + k] == '=' && last_group && k >= 2 && (k == 3 || s[i + 3] == '=')) {
                v[k] = 0;
                pad++;
            } else if ((v[k] = b64_value((unsigned char)s[i + k])) < 0 || pad) {
                free(buf);
                return CF_EINVAL;
            }
        }
        const uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        buf[n++] = (uint8_t)(w >> 16);
        if (pad < 2)
            buf[n++] = (uint8_t)(w >> 8);
        if (pad < 1)
            buf[n++] = (uint8_t)w;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading the topic                                                         */
/* ------------------------------------------------------------------------ */

/* A data member that must be a string (or may be absent, when optional). */
static int data_string(const json_t *j_data, const char *name, int optional, const char **out,
                       char *errbuf, size_t errbuf_size)
{
    const json_t *j = json_object_get(j_data, name);
    *out = json_string_value(j);
    if (*out || (optional && !j))
        return 0;
    cf_seterr(errbuf, errbuf_size, "data.%s: expected a string", name);
    return CF_EINVAL;
}

/* A data member that must be an integer >= 0. */
static int data_count(const json_t *j_data, const char *name, int64_t *out, char *errbuf,
                      size_t errbuf_size)
{
    const json_t *j = json_object_get(j_data, name);
    if (!json_is_integer(j) || json_integer_value(j) < 0) {
        cf_seterr(errbuf, errbuf_size, "data.%s: expected an integer >= 0", name);
        return CF_EINVAL;
    }
    *out = json_integer_value(j);
    return 0;
}

/* Reads one DLQ message into *e (e->j_data is then a reference to free).
 * 0, or CF_EINVAL with the reason when it is not a DLQ entry. */
static int entry_parse(const rd_kafka_message_t *rkm, struct entry *e, char *errbuf,
                       size_t errbuf_size)
{
    struct cf_event ev;
    int rc = CF_EINVAL;

    memset(e, 0, sizeof(*e));
    if (!rkm->payload) {
        cf_seterr(errbuf, errbuf_size, "a null value");
        return CF_EINVAL;
    }
    if (cf_event_parse(rkm->payload, rkm->len, &ev, errbuf, errbuf_size) != 0)
        return CF_EINVAL;
    if (strcmp(ev.type, "clinicflow.dlq.entry") != 0) {
        cf_seterr(errbuf, errbuf_size, "type %s, not clinicflow.dlq.entry", ev.type);
        goto out;
    }
    if (data_string(ev.data, "group_id", 0, &e->group, errbuf, errbuf_size) ||
        data_string(ev.data, "topic", 0, &e->topic, errbuf, errbuf_size) ||
        data_count(ev.data, "partition", &e->partition, errbuf, errbuf_size) ||
        data_count(ev.data, "offset", &e->offset, errbuf, errbuf_size) ||
        data_string(ev.data, "reason_code", 0, &e->reason_code, errbuf, errbuf_size) ||
        data_string(ev.data, "reason", 0, &e->reason, errbuf, errbuf_size) ||
        data_string(ev.data, "key_b64", 1, &e->key_b64, errbuf, errbuf_size) ||
        data_string(ev.data, "value_b64", 0, &e->value_b64, errbuf, errbuf_size))
        goto out;
    e->time_ms = ev.time_ms;
    e->dlq_partition = rkm->partition;
    e->dlq_offset = rkm->offset;
    e->j_data = json_incref(ev.data);
    rc = 0;

out:
    cf_event_clear(&ev);
    if (rc != 0)
        memset(e, 0, sizeof(*e));
    return rc;
}

static int selected(const struct ctl_dlq_args *a, const struct entry *e)
{
    return (!a->topic || strcmp(a->topic, e->topic) == 0) &&
           (!a->group || strcmp(a->group, e->group) == 0) && e->time_ms >= a->since_ms &&
           e->time_ms < a->until_ms;
}

/* Where take_message keeps what it reads. */
struct reading {
    const struct ctl_dlq_args *a;
    struct entries *es;
};

/* Takes one message of the DLQ: kept in es when it is a selected entry. */
static void take_message(void *arg, const rd_kafka_message_t *rkm)
{
    const struct ctl_dlq_args *a = ((struct reading *)arg)->a;
    struct entries *es = ((struct reading *)arg)->es;
    char reason[512] = "";
    struct entry e;
    if (entry_parse(rkm, &e, reason, sizeof(reason)) != 0) {
        es->skipped++;
        ctl_errorf("skipped %s [%" PRId32 "] at offset %" PRId64 ": not a DLQ entry: %s",
                   CF_TOPIC_DLQ, rkm->partition, rkm->offset, reason);
        return;
    }
    es->read++;
    if (!selected(a, &e)) {
        json_decref(e.j_data);
        return;
    }
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 64;
        es->v = cf_xrealloc(es->v, es->cap * sizeof(*es->v));
    }
    es->v[es->n++] = e;
}

/* Every selected entry up to the high watermarks taken now. 0 or
 * CF_EUNAVAIL with the reason. */
static int read_entries(const struct cf_settings *s, struct cf_producer *producer,
                        const struct ctl_dlq_args *a, struct entries *es, char *errbuf,
                        size_t errbuf_size)
{
    int64_t *lo = NULL, *hi = NULL;
    int n = 0;
    struct reading r = {a, es};
    int rc = ctl_topic_watermarks(producer, CF_TOPIC_DLQ, env_timeout_ms, &lo, &hi, &n, errbuf,
                                  errbuf_size);

    if (rc == 0)
        rc = ctl_topic_read(s, CF_TOPIC_DLQ, lo, hi, n, env_timeout_ms, take_message, &r, errbuf,
                            errbuf_size);
    free(lo);
    free(hi);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

static void print_table_header(void)
{
    fputs("TIME\tGROUP\tTOPIC/PARTITION/OFFSET\tREASON_CODE\tREASON\n", stdout);
}

static void print_table_row(const struct entry *e)
{
    char when[32];
    char origin[320];
    cf_time_format(e->time_ms, when);
    snprintf(origin, sizeof(origin), "%s/%" PRId64 "/%" PRId64, e->topic, e->partition, e->offset);
    ctl_print_cell(when, "\t");
    ctl_print_cell(e->group, "\t");
    ctl_print_cell(origin, "\t");
    ctl_print_cell(e->reason_code, "\t");
    ctl_print_cell(e->reason, "\n");
}

/* The entry's data without the payloads, its time first and where it is
 * on the DLQ last. */
static int print_json_row(const struct entry *e)
{
    char when[32];
    const char *name;
    json_t *j_val;
    json_t *j_out = json_object();
    cf_time_format(e->time_ms, when);
    json_object_set_new(j_out, "time", json_string(when));
    json_object_foreach(e->j_data, name, j_val)
    {
        if (strcmp(name, "key_b64") != 0 && strcmp(name, "value_b64") != 0)
            json_object_set(j_out, name, j_val);
    }
    json_object_set_new(j_out, "dlq_partition", json_integer(e->dlq_partition));
    json_object_set_new(j_out, "dlq_offset", json_integer(e->dlq_offset));
    int rc = json_dumpf(j_out, stdout, JSON_COMPACT) == 0 && fputc('\n', stdout) != EOF ? 0 : -1;
    json_decref(j_out);
    return rc;
}

/* Oldest first; entries of one moment in the DLQ's order. */
static int cmp_time(const void *pa, const void *pb)
{
    const struct entry *a = pa, *b = pb;
    if (a->time_ms != b->time_ms)
        return a->time_ms < b->time_ms ? -1 : 1;
    if (a->dlq_partition != b->dlq_partition)
        return a->dlq_partition < b->dlq_partition ? -1 : 1;
    return a->dlq_offset < b->dlq_offset ? -1 : a->dlq_offset > b->dlq_offset;
}

/* The original messages' order (one topic): by partition and offset. */
static int cmp_origin(const void *pa, const void *pb)
{
    const struct entry *a = pa, *b = pb;
    if (a->partition != b->partition)
        return a->partition < b->partition ? -1 : 1;
    if (a->offset != b->offset)
        return a->offset < b->offset ? -1 : 1;
    return cmp_time(pa, pb);
}

static int cmd_list(const struct ctl_dlq_args *a, struct entries *es)
{
    if (es->n > 1)
        qsort(es->v, es->n, sizeof(*es->v), cmp_time);
    if (!a->json)
        print_table_header();
    for (size_t i = 0; i < es->n; i++) {
        if (a->json) {
            if (print_json_row(&es->v[i]) != 0)
                break;
        } else {
            print_table_row(&es->v[i]);
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        ctl_errorf("dlq list failed: could not write the output");
        return CTL_EXIT_FAIL;
    }
    fprintf(stderr, "%zu of %zu entries on %s selected\n", es->n, es->read, CF_TOPIC_DLQ);
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Replay                                                                    */
/* ------------------------------------------------------------------------ */

/* Produces msgs[0..n-1] (from es->v[from[i]]) as one batch, waits for
 * every report and names each message that failed. Returns the number
 * delivered. */
static size_t replay_batch(struct cf_producer *producer, struct cf_kmsg *msgs,
                           const struct entries *es, const size_t *from, size_t n)
{
    char errbuf[512] = "";
    size_t ok = 0;
    if (cf_kafka_produce_batch(producer, msgs, n, errbuf, sizeof(errbuf)) != 0)
        ctl_errorf("replay to %s failed: %s", msgs[0].topic, errbuf);
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &es->v[from[i]];
        if (msgs[i].err == 0) {
            ok++;
            continue;
        }
        ctl_errorf("not replayed: %s/%" PRId64 "/%" PRId64 " (%s%s)", e->topic, e->partition,
                   e->offset, cf_err_name(msgs[i].err),
                   msgs[i].err == CF_ETIMEOUT ? ": it may have been written" : "");
    }
    return ok;
}

/* es->v sorted by origin with repeats of one message removed (the first,
 * oldest, entry of each kept). */
static void keep_one_per_message(struct entries *es)
{
    size_t w = 0;
    if (es->n > 1)
        qsort(es->v, es->n, sizeof(*es->v), cmp_origin);
    for (size_t i = 0; i < es->n; i++) {
        if (w > 0 && es->v[w - 1].partition == es->v[i].partition &&
            es->v[w - 1].offset == es->v[i].offset) {
            json_decref(es->v[i].j_data);
            continue;
        }
        es->v[w++] = es->v[i];
    }
    es->n = w;
}

/* The topics whose latest record of a key is the state (proto/topics.json,
 * "cleanup_policy": "compact"). */
static int compacted(const char *topic)
{
    return strcmp(topic, CF_TOPIC_PATIENTS) == 0 || strcmp(topic, CF_TOPIC_METRICS) == 0;
}

/* A read of a compacted topic after the entries' messages: for each entry,
 * the latest offset its key was written at after it. */
struct later {
    const struct entries *es;
    json_t *by_key; /* "<partition>/<key in base64>" -> [entry index, ...] */
    int64_t *seen;  /* per entry: that offset, or -1 */
};

/* "<partition>/<key in base64>", a new string. */
static char *key_name(int64_t partition, const uint8_t *key, size_t keylen)
{
    char *b64 = cf_xmalloc(4 * ((keylen + 2) / 3) + 1);
    cf_base64(key, keylen, b64);
    char *name = cf_xasprintf("%" PRId64 "/%s", partition, b64);
    free(b64);
    return name;
}

static void take_later(void *arg, const rd_kafka_message_t *rkm)
{
    struct later *l = arg;
    if (!rkm->key)
        return;
    char *name = key_name(rkm->partition, rkm->key, rkm->key_len);
    size_t i;
    json_t *j_i;
    json_array_foreach(json_object_get(l->by_key, name), i, j_i)
    {
        const size_t e = (size_t)json_integer_value(j_i);
        if (rkm->offset > l->es->v[e].offset && rkm->offset > l->seen[e])
            l->seen[e] = rkm->offset;
    }
    free(name);
}

/* On a compacted topic the latest record of a key is the state: an
 * entry's message whose key was written again after it (a newer record,
 * or a tombstone that erased a patient) is left out of es, named on
 * stderr, and counted in *superseded; replaying it would undo what came
 * after it for every consumer, and compaction would keep it for good. The
 * topic is read from the first entry's message of each partition up to
 * its high watermark taken now. 0 or CF_EUNAVAIL with the reason. */
static int drop_superseded(const struct cf_settings *s, struct cf_producer *producer,
                           const char *topic, struct entries *es, size_t *superseded, char *errbuf,
                           size_t errbuf_size)
{
    int64_t *lo = NULL, *hi = NULL, *from = NULL;
    int n = 0;
    struct later l = {es, json_object(), cf_xcalloc(es->n + 1, sizeof(*l.seen))};
    int rc =
        ctl_topic_watermarks(producer, topic, env_timeout_ms, &lo, &hi, &n, errbuf, errbuf_size);

    *superseded = 0;
    if (rc == 0) {
        from = cf_xcalloc((size_t)n + 1, sizeof(*from));
        for (int p = 0; p < n; p++)
            from[p] = hi[p]; /* nothing to read where no entry is */
        for (size_t i = 0; i < es->n; i++) {
            const struct entry *e = &es->v[i];
            uint8_t *key = NULL;
            size_t keylen = 0;
            l.seen[i] = -1;
            if (!e->key_b64 || e->partition < 0 || e->partition >= n ||
                b64_decode(e->key_b64, &key, &keylen) != 0)
                continue; /* no key to be superseded by (replay refuses a bad one) */
            char *name = key_name(e->partition, key, keylen);
            json_t *j_list = json_object_get(l.by_key, name);
            if (!j_list)
                json_object_set_new(l.by_key, name, j_list = json_array());
            json_array_append_new(j_list, json_integer((json_int_t)i));
            if (e->offset + 1 < from[e->partition])
                from[e->partition] = e->offset + 1;
            free(name);
            free(key);
        }
        rc = ctl_topic_read(s, topic, from, hi, n, env_timeout_ms, take_later, &l, errbuf,
                            errbuf_size);
    }
    if (rc == 0) {
        size_t w = 0;
        for (size_t i = 0; i < es->n; i++) {
            const struct entry *e = &es->v[i];
            if (l.seen[i] < 0) {
                es->v[w++] = *e;
                continue;
            }
            fprintf(stderr,
                    "not replayed: %s/%" PRId64 "/%" PRId64 ": its key was written again at offset"
                    " %" PRId64 " (the topic is compacted: the latest record of a key is its"
                    " state, and an older one replayed would undo it)\n",
                    e->topic, e->partition, e->offset, l.seen[i]);
            json_decref(e->j_data);
            (*superseded)++;
        }
        es->n = w;
    }
    json_decref(l.by_key);
    free(l.seen);
    free(from);
    free(lo);
    free(hi);
    return rc;
}

/* 0 when entry e can be replayed, else 1 with why it cannot (after "the
 * entry at <dlq partition and offset> ") in why: it holds the beginning of
 * a message too large for the DLQ, or a key or value that is not base64. */
static int refusal(const struct entry *e, char *why, size_t why_size)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (json_is_true(json_object_get(e->j_data, "value_truncated")) ||
        json_is_true(json_object_get(e->j_data, "key_truncated"))) {
        /* its bytes are the original's beginning only */
        snprintf(why, why_size,
                 "holds the beginning of a message too large for the DLQ; the original is on %s"
                 " at that partition and offset while the topic keeps it",
                 e->topic);
        return 1;
    }
    int bad = e->key_b64 && b64_decode(e->key_b64, &bytes, &len) != 0;
    free(bytes);
    bytes = NULL;
    bad = bad || b64_decode(e->value_b64, &bytes, &len) != 0;
    free(bytes);
    if (bad)
        snprintf(why, why_size, "has a key or value that is not base64");
    return bad;
}

/* refusal(e), said on stderr after what (the dry run's "would not
 * replay", the replay's "not replayed"). */
static int unreplayable(const struct entry *e, const char *what)
{
    char why[256];
    const int refused = refusal(e, why, sizeof(why));
    if (refused)
        ctl_errorf("%s: %s/%" PRId64 "/%" PRId64 ": the entry at %s [%" PRId32 "] offset %" PRId64
                   " %s",
                   what, e->topic, e->partition, e->offset, CF_TOPIC_DLQ, e->dlq_partition,
                   e->dlq_offset, why);
    return refused;
}

static int cmd_replay(const struct cf_settings *s, const struct ctl_dlq_args *a,
                      struct cf_producer *producer, struct entries *es)
{
    const size_t entries = es->n;
    size_t superseded = 0;
    char errbuf[512] = "";
    keep_one_per_message(es);
    if (compacted(a->topic) &&
        drop_superseded(s, producer, a->topic, es, &superseded, errbuf, sizeof(errbuf)) != 0) {
        ctl_errorf("dlq replay failed: could not read %s to see which keys were written again: "
                   "%s",
                   a->topic, errbuf);
        return CTL_EXIT_FAIL;
    }
    if (a->dry_run) {
        /* what the replay would do: the entries it would refuse named, and
         * the exit status it would have */
        size_t refused = 0;
        print_table_header();
        for (size_t i = 0; i < es->n; i++) {
            const struct entry *e = &es->v[i];
            if (unreplayable(e, "would not replay")) {
                refused++;
                continue;
            }
            print_table_row(e);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            ctl_errorf("dlq replay failed: could not write the output");
            return CTL_EXIT_FAIL;
        }
        fprintf(stderr,
                "dry run: would replay %zu message%s to %s (%zu entr%s, %zu superseded, %zu"
                " not replayable); nothing produced\n",
                es->n - refused, es->n - refused == 1 ? "" : "s", a->topic, entries,
                entries == 1 ? "y" : "ies", superseded, refused);
        return refused ? CTL_EXIT_FAIL : CTL_EXIT_OK;
    }

    struct cf_kmsg *msgs = cf_xcalloc(REPLAY_BATCH, sizeof(*msgs));
    size_t *from = cf_xcalloc(REPLAY_BATCH, sizeof(*from));
    uint8_t **keys = cf_xcalloc(REPLAY_BATCH, sizeof(*keys));
    uint8_t **values = cf_xcalloc(REPLAY_BATCH, sizeof(*values));
    size_t replayed = 0, failed = 0, next = 0;

    while (next < es->n) {
        size_t n = 0;
        for (; next < es->n && n < REPLAY_BATCH; next++) {
            const struct entry *e = &es->v[next];
            size_t keylen = 0, valuelen = 0;
            if (unreplayable(e, "not replayed")) {
                failed++;
                continue;
            }
            /* both decode: refusal tried them */
            if (e->key_b64)
                (void)b64_decode(e->key_b64, &keys[n], &keylen);
            (void)b64_decode(e->value_b64, &values[n], &valuelen);
            /* An empty value_b64 is a null value (a tombstone stays one),
             * an absent key_b64 a null key. */
            msgs[n] = (struct cf_kmsg){.topic = e->topic,
                                       .key = keys[n],
                                       .keylen = keylen,
                                       .value = values[n],
                                       .valuelen = valuelen,
                                       .err = 0};
            from[n++] = next;
        }
        const size_t ok = n ? replay_batch(producer, msgs, es, from, n) : 0;
        replayed += ok;
        failed += n - ok;
        for (size_t i = 0; i < n; i++) {
            free(keys[i]);
            free(values[i]);
            keys[i] = values[i] = NULL;
        }
        /* A refused message fails alone; with every broker down (the
         * producer's breaker open) the rest would fail alike. */
        if (ok < n && !cf_kafka_available(producer))
            break;
    }
    const size_t not_tried = es->n - next;
    free(msgs);
    free(from);
    free(keys);
    free(values);

    printf("replayed %zu of %zu message%s to %s\n", replayed, es->n, es->n == 1 ? "" : "s",
           a->topic);
    if (superseded)
        fprintf(stderr, "%zu message%s superseded on %s, not replayed\n", superseded,
                superseded == 1 ? "" : "s", a->topic);
    if (fflush(stdout) != 0 || ferror(stdout))
        ctl_errorf("could not write the output");
    if (failed || not_tried) {
        ctl_errorf("dlq replay failed: %zu message%s not replayed%s", failed + not_tried,
                   failed + not_tried == 1 ? "" : "s",
                   not_tried ? " (the rest not tried: no broker is reachable)" : "");
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* The command                                                               */
/* ------------------------------------------------------------------------ */

int ctl_cmd_dlq(const struct ctl_dlq_args *a)
{
    char errbuf[1024] = "";
    char service[] = "clinicflowctl";
    struct cf_settings s = {0};
    struct cf_producer *producer = NULL;
    struct entries es = {0};
    enum cf_log_level level;
    const char *what = a->replay ? "dlq replay" : "dlq list";
    int status = CTL_EXIT_USAGE;

    if (cf_config_load(settings, NSETTINGS, errbuf, sizeof(errbuf)) != 0) {
        ctl_errorf("%s", errbuf);
        goto out;
    }
    if (env_delivery_wait_ms <= env_timeout_ms) {
        ctl_errorf("CLINICFLOW_KAFKA_DELIVERY_WAIT_MS: expected a value greater than "
                   "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS (%ld), got '%ld'",
                   env_timeout_ms, env_delivery_wait_ms);
        goto out;
    }
    if (cf_log_level_parse(env_log_level, &level) != 0) {
        ctl_errorf("CLINICFLOW_LOG_LEVEL: expected one of debug/info/warn/error, got '%s'",
                   env_log_level);
        goto out;
    }
    cf_log_init("clinicflowctl", level);

    s.service = service;
    s.kafka_brokers = env_brokers ? env_brokers : DEFAULT_BROKERS;
    s.kafka_message_timeout_ms = env_timeout_ms;
    s.kafka_delivery_wait_ms = env_delivery_wait_ms;
    s.kafka_probe_interval_ms = 2000;
    cf_config_kafka_props(&s.kafka_props, &s.kafka_props_n);
    /* One the services set themselves (acks=0 would weaken a replay), or
     * one librdkafka refuses (CLINICFLOW_KAFKA_X_*), is a settings error,
     * told before anything connects. */
    if (cf_config_kafka_props_check(s.kafka_props, s.kafka_props_n, errbuf, sizeof(errbuf)) != 0) {
        ctl_errorf("%s", errbuf);
        goto out;
    }
    rd_kafka_conf_t *conf = cf_kafka_conf_new(&s, errbuf, sizeof(errbuf));
    if (!conf) {
        ctl_errorf("%s", errbuf);
        goto out;
    }
    rd_kafka_conf_destroy(conf);

    status = CTL_EXIT_FAIL;
    if (!(producer = cf_kafka_producer_new(&s, errbuf, sizeof(errbuf)))) {
        ctl_errorf("%s failed: %s", what, errbuf);
        goto out;
    }
    if (read_entries(&s, producer, a, &es, errbuf, sizeof(errbuf)) != 0) {
        ctl_errorf("%s failed: could not read %s from the brokers %s (CLINICFLOW_KAFKA_BROKERS%s): "
                   "%s",
                   what, CF_TOPIC_DLQ, s.kafka_brokers, env_brokers ? "" : " unset: the default",
                   errbuf);
        goto out;
    }
    if (es.skipped)
        ctl_errorf("%zu message%s on %s skipped: not DLQ entries", es.skipped,
                   es.skipped == 1 ? "" : "s", CF_TOPIC_DLQ);
    status = a->replay ? cmd_replay(&s, a, producer, &es) : cmd_list(a, &es);

out:
    entries_free(&es);
    if (producer)
        cf_kafka_producer_destroy(producer, (int)env_delivery_wait_ms);
    cf_config_kafka_props_free(s.kafka_props, s.kafka_props_n);
    cf_config_free(settings, NSETTINGS);
    return status;
}
