/*
 * Unit tests for the consumer runner's steps that need neither a broker nor
 * a database: the first and next offsets of a batch per partition, the
 * outbox, the id array of the dedupe statement and which messages its
 * answer marks, the offset arrays of the one statement that stores them,
 * and the DLQ entry built for a message (proto/schemas/dlq.entry.json).
 * Topic handles come from a client that never connects (no brokers set).
 * Base64 vectors: python3 -c 'import base64; print(base64.b64encode(b"..."))'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "common/consumer.h"
#include "common/envelope.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/kafka.h"
#include "common/outbox.h"
#include "common/xmalloc.h"
#include "cftest.h"
#include "consumer_testable.h"

#define ID_A "0b7e4c1e-55a4-4f5e-9d0c-7f5f3c2b1a01"
#define ID_B "0b7e4c1e-55a4-4f5e-9d0c-7f5f3c2b1a02"
#define ID_C "0b7e4c1e-55a4-4f5e-9d0c-7f5f3c2b1a03"

static rd_kafka_t *offline_client(void)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    CHECK(rk != NULL);
    return rk;
}

/* ---- first and next offsets of a batch ---- */

struct at {
    int topic; /* index into the case's handles: 0 "a", 1 "b" */
    int32_t partition;
    int64_t offset;
};

struct offsets_case {
    const char *name;
    struct at msgs[8];
    size_t n;
    struct at firsts[4]; /* in the order the partitions first appear */
    struct at nexts[4];
    int nparts;
};

static const struct offsets_case offsets_cases[] = {
    {"one partition", {{0, 0, 10}, {0, 0, 11}, {0, 0, 12}}, 3, {{0, 0, 10}}, {{0, 0, 13}}, 1},
    {"interleaved partitions and topics",
     {{0, 0, 10}, {1, 1, 5}, {0, 0, 11}, {0, 1, 7}, {1, 1, 6}, {0, 0, 12}},
     6,
     {{0, 0, 10}, {1, 1, 5}, {0, 1, 7}},
     {{0, 0, 13}, {1, 1, 7}, {0, 1, 8}},
     3},
    {"same partition number, two topics",
     {{1, 2, 100}, {0, 2, 3}},
     2,
     {{1, 2, 100}, {0, 2, 3}},
     {{1, 2, 101}, {0, 2, 4}},
     2},
    {"offsets not from zero, with a gap",
     {{0, 3, 41}, {0, 3, 45}},
     2,
     {{0, 3, 41}},
     {{0, 3, 46}},
     1},
};

static void check_list(const char *name, const rd_kafka_topic_partition_list_t *list,
                       const struct at *want, int n, const char *const *topics)
{
    CHECK_INT(list->cnt, n);
    for (int i = 0; i < n && i < list->cnt; i++) {
        if (strcmp(list->elems[i].topic, topics[want[i].topic]) != 0 ||
            list->elems[i].partition != want[i].partition ||
            list->elems[i].offset != want[i].offset)
            fprintf(stderr, "%s: element %d is %s [%d] %lld\n", name, i, list->elems[i].topic,
                    (int)list->elems[i].partition, (long long)list->elems[i].offset);
        CHECK_STR(list->elems[i].topic, topics[want[i].topic]);
        CHECK_INT(list->elems[i].partition, want[i].partition);
        CHECK_INT(list->elems[i].offset, want[i].offset);
    }
}

static void test_batch_offsets(void)
{
    rd_kafka_t *rk = offline_client();
    if (!rk)
        return;
    const char *const topics[] = {"a", "b"};
    rd_kafka_topic_t *rkts[] = {rd_kafka_topic_new(rk, topics[0], NULL),
                                rd_kafka_topic_new(rk, topics[1], NULL)};
    for (size_t c = 0; c < sizeof(offsets_cases) / sizeof(offsets_cases[0]); c++) {
        const struct offsets_case *tc = &offsets_cases[c];
        rd_kafka_message_t msgs[8] = {0};
        rd_kafka_message_t *batch[8];
        for (size_t i = 0; i < tc->n; i++) {
            msgs[i].rkt = rkts[tc->msgs[i].topic];
            msgs[i].partition = tc->msgs[i].partition;
            msgs[i].offset = tc->msgs[i].offset;
            batch[i] = &msgs[i];
        }
        rd_kafka_topic_partition_list_t *firsts = NULL, *nexts = NULL;
        cf_consumer_batch_offsets(batch, tc->n, &firsts, &nexts);
        check_list(tc->name, firsts, tc->firsts, tc->nparts, topics);
        check_list(tc->name, nexts, tc->nexts, tc->nparts, topics);
        rd_kafka_topic_partition_list_destroy(firsts);
        rd_kafka_topic_partition_list_destroy(nexts);
    }
    rd_kafka_topic_destroy(rkts[0]);
    rd_kafka_topic_destroy(rkts[1]);
    rd_kafka_destroy(rk);
}

/* ---- the outbox ---- */

static void event_init(struct cf_event *ev, const char *id, const char *subject)
{
    memset(ev, 0, sizeof(*ev));
    snprintf(ev->id, sizeof(ev->id), "%s", id);
    ev->source = strdup("/clinicflow/test/unit");
    ev->type = strdup("clinicflow.test.done");
    ev->subject = strdup(subject);
    ev->time_ms = 1795000000000;
    ev->networkid = strdup("net-1");
    ev->data = json_pack("{s:s}", "k", subject);
}

static void check_msg(const struct cf_outbox_msg *m, const char *topic, const char *key,
                      const char *id)
{
    CHECK_STR(m->topic, topic);
    if (key) {
        CHECK_INT(m->keylen, strlen(key));
        CHECK(m->key && memcmp(m->key, key, strlen(key)) == 0);
    } else {
        CHECK(m->key == NULL);
        CHECK_INT(m->keylen, 0);
    }
    struct cf_event ev = {0};
    char reason[256];
    CHECK_INT(cf_event_parse(m->value, m->valuelen, &ev, reason, sizeof(reason)), 0);
    CHECK_STR(ev.id, id);
    CHECK_STR(m->type, ev.type); /* the type it was queued with, as the text says */
    cf_event_clear(&ev);
}

static void test_outbox(void)
{
    struct cf_outbox *out = cf_outbox_new();
    struct cf_event ev[3];
    event_init(&ev[0], ID_A, "s-a");
    event_init(&ev[1], ID_B, "s-b");
    event_init(&ev[2], ID_C, "s-c");
    cf_outbox_add(out, "t.one", "key-a", &ev[0]);
    cf_outbox_add(out, "t.two", NULL, &ev[1]);
    CHECK_INT(out->n, 2);
    check_msg(&out->msgs[0], "t.one", "key-a", ID_A);
    check_msg(&out->msgs[1], "t.two", NULL, ID_B);

    /* An apply rejected after adding: its entries go, the ones before stay. */
    cf_outbox_add(out, "t.three", "key-c", &ev[2]);
    CHECK_INT(out->n, 3);
    cf_outbox_truncate(out, 1);
    CHECK_INT(out->n, 1);
    check_msg(&out->msgs[0], "t.one", "key-a", ID_A);
    /* Truncating to more than there is changes nothing. */
    cf_outbox_truncate(out, 5);
    CHECK_INT(out->n, 1);
    /* Past the first growth (16 entries), and empty again. */
    for (int i = 0; i < 40; i++)
        cf_outbox_add(out, "t.many", "k", &ev[i % 3]);
    CHECK_INT(out->n, 41);
    check_msg(&out->msgs[40], "t.many", "k", ID_A);
    cf_outbox_truncate(out, 0);
    CHECK_INT(out->n, 0);
    cf_outbox_add(out, "t.again", "k", &ev[1]);
    check_msg(&out->msgs[0], "t.again", "k", ID_B);
    /* a raw value queued as it is has no type */
    cf_outbox_push(out, "t.raw", "k", 1, cf_xstrdup("{}"), 2);
    CHECK(out->msgs[1].type == NULL);
    for (int i = 0; i < 3; i++)
        cf_event_clear(&ev[i]);
    cf_outbox_free(out);
    cf_outbox_free(NULL);
}

/* ---- the dedupe statement's ids and its answer ---- */

struct dedupe_case {
    const char *name;
    const char *ids[5]; /* NULL: not parsed (a tombstone or an invalid envelope) */
    size_t n;
    const char *literal; /* NULL: no statement */
    const char *returned[5];
    size_t nreturned;
    int apply[5];
    size_t marked;
};

static const struct dedupe_case dedupe_cases[] = {
    {"all new", {ID_A, ID_B}, 2, "{" ID_A "," ID_B "}", {ID_A, ID_B}, 2, {1, 1}, 2},
    {"none parsed", {NULL, NULL}, 2, NULL, {0}, 0, {0, 0}, 0},
    {"empty batch", {0}, 0, NULL, {0}, 0, {0}, 0},
    {"unparsed ones left out of the array",
     {NULL, ID_A, NULL, ID_C},
     4,
     "{" ID_A "," ID_C "}",
     {ID_C},
     1,
     {0, 0, 0, 1},
     1},
    {"all applied before", {ID_A, ID_B}, 2, "{" ID_A "," ID_B "}", {0}, 0, {0, 0}, 0},
    {"a repeat in the batch applied at its first occurrence only",
     {ID_A, ID_B, ID_A, ID_C},
     4,
     "{" ID_A "," ID_B "," ID_A "," ID_C "}",
     {ID_A, ID_B, ID_C},
     3,
     {1, 1, 0, 1},
     3},
    {"answer in another order",
     {ID_A, ID_B, ID_C},
     3,
     "{" ID_A "," ID_B "," ID_C "}",
     {ID_C, ID_A},
     2,
     {1, 0, 1},
     2},
};

static void test_dedupe_arrays(void)
{
    for (size_t c = 0; c < sizeof(dedupe_cases) / sizeof(dedupe_cases[0]); c++) {
        const struct dedupe_case *tc = &dedupe_cases[c];
        struct cf_consumer_msg msgs[5] = {0};
        for (size_t i = 0; i < tc->n; i++) {
            msgs[i].parsed = tc->ids[i] != NULL;
            if (tc->ids[i])
                snprintf(msgs[i].ev.id, sizeof(msgs[i].ev.id), "%s", tc->ids[i]);
        }
        char *literal = cf_consumer_ids_literal(msgs, tc->n);
        if (tc->literal)
            CHECK_STR(literal, tc->literal);
        else
            CHECK(literal == NULL);
        free(literal);
        size_t marked = cf_consumer_mark_new(msgs, tc->n, tc->returned, tc->nreturned);
        if (marked != tc->marked)
            fprintf(stderr, "dedupe case '%s'\n", tc->name);
        CHECK_INT(marked, tc->marked);
        for (size_t i = 0; i < tc->n; i++)
            CHECK_INT(msgs[i].apply, tc->apply[i]);
    }
}

/* ---- the offsets statement's arrays ---- */

static void free4(char *t, char *p, char *o, char *e)
{
    free(t);
    free(p);
    free(o);
    free(e);
}

static void test_offsets_literals(void)
{
    char *t, *p, *o, *e;
    rd_kafka_topic_partition_list_t *nexts = rd_kafka_topic_partition_list_new(4);
    cf_consumer_offsets_literals(nexts, NULL, &t, &p, &o, &e);
    CHECK_STR(t, "{}");
    CHECK_STR(p, "{}");
    CHECK_STR(o, "{}");
    CHECK_STR(e, "{}");
    free4(t, p, o, e);

    rd_kafka_topic_partition_list_add(nexts, "clinicflow.calls.raw.v1", 0)->offset = 13;
    rd_kafka_topic_partition_list_add(nexts, "clinicflow.patients.v1", 11)->offset = 7;
    rd_kafka_topic_partition_list_add(nexts, "clinicflow.calls.raw.v1", 1)->offset =
        9007199254740993; /* past a double's integers: kept as written */
    cf_consumer_offsets_literals(nexts, NULL, &t, &p, &o, &e);
    CHECK_STR(t, "{\"clinicflow.calls.raw.v1\",\"clinicflow.patients.v1\","
                 "\"clinicflow.calls.raw.v1\"}");
    CHECK_STR(p, "{0,11,1}");
    CHECK_STR(o, "{13,7,9007199254740993}");
    CHECK_STR(e, "{NULL,NULL,NULL}"); /* none known: each row must be new */
    free4(t, p, o, e);

    /* What the runner knows stored: by topic and partition, whatever the
     * order, a negative value as it is (an operator's); a partition not in
     * the list (another partition of the topic is) expects no row. */
    rd_kafka_topic_partition_list_t *stored = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_add(stored, "clinicflow.calls.raw.v1", 1)->offset =
        9007199254740990;
    rd_kafka_topic_partition_list_add(stored, "clinicflow.calls.raw.v1", 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(stored, "clinicflow.patients.v1", 12)->offset = 3;
    cf_consumer_offsets_literals(nexts, stored, &t, &p, &o, &e);
    CHECK_STR(o, "{13,7,9007199254740993}");
    CHECK_STR(e, "{-2,NULL,9007199254740990}");
    free4(t, p, o, e);
    rd_kafka_topic_partition_list_destroy(stored);
    rd_kafka_topic_partition_list_destroy(nexts);

    /* Many partitions: the buffers grow. */
    nexts = rd_kafka_topic_partition_list_new(200);
    stored = rd_kafka_topic_partition_list_new(200);
    for (int i = 0; i < 200; i++) {
        rd_kafka_topic_partition_list_add(nexts, "clinicflow.calls.raw.v1", i)->offset = 1000 + i;
        rd_kafka_topic_partition_list_add(stored, "clinicflow.calls.raw.v1", i)->offset = 900 + i;
    }
    cf_consumer_offsets_literals(nexts, stored, &t, &p, &o, &e);
    CHECK(strncmp(p, "{0,1,2,", 7) == 0);
    CHECK(strlen(p) > 5 && strcmp(p + strlen(p) - 5, ",199}") == 0);
    CHECK(strlen(o) > 6 && strcmp(o + strlen(o) - 6, ",1199}") == 0);
    CHECK(strncmp(e, "{900,901,", 9) == 0 && strcmp(e + strlen(e) - 6, ",1099}") == 0);
    CHECK_INT(strlen(t), 200 * (strlen("clinicflow.calls.raw.v1") + 3) + 1);
    free4(t, p, o, e);
    rd_kafka_topic_partition_list_destroy(stored);
    rd_kafka_topic_partition_list_destroy(nexts);
}

/* ---- the DLQ entry ---- */

struct dlq_case {
    const char *name;
    const char *payload; /* NULL: a tombstone */
    const char *key;     /* NULL: no key */
    int with_orig;       /* the envelope parsed: networkid and clinicid kept */
    const char *reason_code;
    const char *reason;
    const char *value_b64;
    const char *key_b64; /* NULL: absent */
    const char *reason_out;
};

static const struct dlq_case dlq_cases[] = {
    {"not an envelope", "{bad", "k1", 0, "invalid_envelope", "not JSON",
     "e2JhZA==", "azE=", "not JSON"},
    {"rejected, tenant kept", "{bad", "k1", 1, "rejected", "no provider",
     "e2JhZA==", "azE=", "no provider"},
    {"no key, empty reason", "{bad", NULL, 0, "failed", "", "e2JhZA==", NULL, "failed"},
    {"tombstone", NULL, "k1", 0, "rejected", NULL, "", "azE=", "rejected"},
};

static void test_dlq_value(void)
{
    static const char *const keys[] = {"group_id",    "topic",  "partition", "offset",
                                       "reason_code", "reason", "value_b64"};
    for (size_t c = 0; c < sizeof(dlq_cases) / sizeof(dlq_cases[0]); c++) {
        const struct dlq_case *tc = &dlq_cases[c];
        rd_kafka_message_t rkm = {0};
        rkm.payload = (void *)tc->payload;
        rkm.len = tc->payload ? strlen(tc->payload) : 0;
        rkm.key = (void *)tc->key;
        rkm.key_len = tc->key ? strlen(tc->key) : 0;
        rkm.partition = 2;
        rkm.offset = 41;
        struct cf_event orig = {0};
        orig.networkid = "net-7";
        orig.clinicid = "clinic-3";
        char *value = cf_consumer_dlq_value("grp", "clinicflow.calls.raw.v1", &rkm,
                                            tc->with_orig ? &orig : NULL, tc->reason_code,
                                            tc->reason, 1795000000123);
        /* A valid envelope ... */
        struct cf_event ev = {0};
        char reason[256] = "";
        CHECK_INT(cf_event_parse(value, strlen(value), &ev, reason, sizeof(reason)), 0);
        if (*reason)
            fprintf(stderr, "dlq case '%s': %s\n", tc->name, reason);
        CHECK_STR(ev.type, "clinicflow.dlq.entry");
        CHECK_STR(ev.source, "/clinicflow/grp/dlq");
        CHECK_STR(ev.subject, "clinicflow.calls.raw.v1/2/41");
        CHECK_INT(ev.time_ms, 1795000000123);
        CHECK_STR(ev.networkid, tc->with_orig ? "net-7" : "unknown");
        if (tc->with_orig)
            CHECK_STR(ev.clinicid, "clinic-3");
        else
            CHECK(ev.clinicid == NULL);
        /* ... whose id is uuid5(topic, partition, offset, group): a repeat
         * of the entry keeps it. */
        char want_id[CF_UUID_STR_LEN + 1];
        const char *parts[] = {"clinicflow.calls.raw.v1", "2", "41", "grp"};
        cf_uuid5(parts, 4, want_id);
        CHECK_STR(ev.id, want_id);
        /* data: exactly the schema's fields. */
        const json_t *d = ev.data;
        CHECK_INT(json_object_size(d), 7 + (tc->key_b64 ? 1 : 0));
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            CHECK(json_object_get(d, keys[k]) != NULL);
        CHECK_STR(json_string_value(json_object_get(d, "group_id")), "grp");
        CHECK_STR(json_string_value(json_object_get(d, "topic")), "clinicflow.calls.raw.v1");
        CHECK_INT(json_integer_value(json_object_get(d, "partition")), 2);
        CHECK_INT(json_integer_value(json_object_get(d, "offset")), 41);
        CHECK_STR(json_string_value(json_object_get(d, "reason_code")), tc->reason_code);
        CHECK_STR(json_string_value(json_object_get(d, "reason")), tc->reason_out);
        CHECK_STR(json_string_value(json_object_get(d, "value_b64")), tc->value_b64);
        if (tc->key_b64)
            CHECK_STR(json_string_value(json_object_get(d, "key_b64")), tc->key_b64);
        else
            CHECK(json_object_get(d, "key_b64") == NULL);
        cf_event_clear(&ev);
        free(value);
    }

    /* Another offset, another entry. */
    rd_kafka_message_t a = {0}, b = {0};
    a.offset = 1;
    b.offset = 2;
    char *va = cf_consumer_dlq_value("grp", "t", &a, NULL, "rejected", "x", 0);
    char *vb = cf_consumer_dlq_value("grp", "t", &b, NULL, "rejected", "x", 0);
    struct cf_event ea = {0}, eb = {0};
    char reason[256];
    CHECK_INT(cf_event_parse(va, strlen(va), &ea, reason, sizeof(reason)), 0);
    CHECK_INT(cf_event_parse(vb, strlen(vb), &eb, reason, sizeof(reason)), 0);
    CHECK(strcmp(ea.id, eb.id) != 0);
    cf_event_clear(&ea);
    cf_event_clear(&eb);
    free(va);
    free(vb);
}

/* A reason cut by its buffer inside a character (a PostgreSQL message
 * quoting Cyrillic text) still makes an entry, with the whole characters
 * before the cut: Jansson takes no broken UTF-8, and a DLQ entry that
 * cannot be built would stop the partition for good. */
static void test_dlq_reason_cut_mid_character(void)
{
    const char reason[] = "\xd0\xbd\xd0\xb5\xd1\x82 \xd0"; /* "нет " and half a letter */
    char *value =
        cf_consumer_dlq_entry("grp", "t", 1, 7, "k", 1, "v", 1, "net-1", NULL, "failed", reason, 0);
    CHECK(value != NULL);
    json_t *j = json_loads(value ? value : "", 0, NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "data"), "reason")),
              "\xd0\xbd\xd0\xb5\xd1\x82 ");
    json_decref(j);
    free(value);
}

/* A message over what an entry carries whole: the entry keeps the first
 * CF_DLQ_VALUE_MAX bytes of its value and CF_DLQ_KEY_MAX of its key, says
 * so with the value's size, and fits the default message.max.bytes
 * (1,000,000): an entry Kafka refuses would stop the partition for good. A
 * message just at the limits is carried whole and says nothing. */
static void test_dlq_entry_of_a_large_message(void)
{
    const size_t vlen = 900 * 1024, klen = 3000;
    char *big = malloc(vlen), *key = malloc(klen);
    for (size_t i = 0; i < vlen; i++)
        big[i] = (char)('a' + i % 26);
    memset(key, 'k', klen);
    char *value = cf_consumer_dlq_entry("grp", "t", 1, 7, key, klen, big, vlen, "net-1", NULL,
                                        "rejected", "too big", 0);
    CHECK(strlen(value) < 1000000 - CF_KAFKA_RECORD_SLACK - CF_DLQ_KEY_MAX);
    json_t *j = json_loads(value, 0, NULL);
    const json_t *d = json_object_get(j, "data");
    CHECK(json_is_true(json_object_get(d, "value_truncated")));
    CHECK_INT(json_integer_value(json_object_get(d, "value_bytes")), (int64_t)vlen);
    CHECK(json_is_true(json_object_get(d, "key_truncated")));
    char *want = malloc(4 * ((CF_DLQ_VALUE_MAX + 2) / 3) + 1);
    cf_base64((const uint8_t *)big, CF_DLQ_VALUE_MAX, want);
    CHECK_STR(json_string_value(json_object_get(d, "value_b64")), want);
    cf_base64((const uint8_t *)key, CF_DLQ_KEY_MAX, want);
    CHECK_STR(json_string_value(json_object_get(d, "key_b64")), want);
    json_decref(j);
    free(value);

    value = cf_consumer_dlq_entry("grp", "t", 1, 7, key, CF_DLQ_KEY_MAX, big, CF_DLQ_VALUE_MAX,
                                  "net-1", NULL, "rejected", "at the limit", 0);
    j = json_loads(value, 0, NULL);
    d = json_object_get(j, "data");
    CHECK(json_object_get(d, "value_truncated") == NULL);
    CHECK(json_object_get(d, "value_bytes") == NULL);
    CHECK(json_object_get(d, "key_truncated") == NULL);
    cf_base64((const uint8_t *)big, CF_DLQ_VALUE_MAX, want);
    CHECK_STR(json_string_value(json_object_get(d, "value_b64")), want);
    json_decref(j);
    free(value);
    free(want);
    free(key);
    free(big);
}

/* A broker that refused an output smaller than an entry would make (its
 * topic's max.message.bytes set low): the entry keeps as much of the value
 * as leaves it, with its key, within the bound, says it was cut, and is
 * still an entry when nothing of the value fits. */
static void test_dlq_entry_within_a_learnt_bound(void)
{
    const size_t vlen = 300000;
    char *big = malloc(vlen);
    for (size_t i = 0; i < vlen; i++)
        big[i] = (char)('a' + i % 26);
    rd_kafka_message_t rkm = {0};
    rkm.payload = big;
    rkm.len = vlen;
    rkm.key = (void *)"key-1";
    rkm.key_len = 5;
    static const size_t bounds[] = {120000, 5000, 10};
    for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
        char *value =
            cf_consumer_dlq_value_within("grp", "t", &rkm, NULL, "rejected", "x", 0, bounds[b]);
        if (bounds[b] > 1000)
            CHECK(strlen(value) + rkm.key_len <= bounds[b]);
        json_t *j = json_loads(value, 0, NULL);
        const json_t *data = json_object_get(j, "data");
        const json_t *d = json_object_get(data, "value_b64");
        CHECK(json_is_true(json_object_get(data, "value_truncated")));
        CHECK_INT(json_integer_value(json_object_get(data, "value_bytes")), (int64_t)vlen);
        /* the value's first bytes, as many as fit (none under 10 bytes) */
        const size_t b64 = strlen(json_string_value(d) ? json_string_value(d) : "");
        const size_t kept = b64 / 4 * 3;
        CHECK(bounds[b] > 1000 ? kept > bounds[b] / 2 : kept == 0);
        char *want = malloc(4 * ((kept + 2) / 3) + 1);
        cf_base64((const uint8_t *)big, kept, want);
        CHECK_STR(json_string_value(d), want);
        free(want);
        json_decref(j);
        free(value);
    }
    /* no bound, or one the entry is under: as cf_consumer_dlq_value */
    char *whole = cf_consumer_dlq_value("grp", "t", &rkm, NULL, "rejected", "x", 0);
    char *within =
        cf_consumer_dlq_value_within("grp", "t", &rkm, NULL, "rejected", "x", 0, 1000000);
    CHECK_STR(within, whole);
    CHECK(strstr(whole, "value_truncated") == NULL);
    free(within);
    free(whole);
    free(big);
}

int main(void)
{
    test_batch_offsets();
    test_outbox();
    test_dedupe_arrays();
    test_offsets_literals();
    test_dlq_value();
    test_dlq_reason_cut_mid_character();
    test_dlq_entry_of_a_large_message();
    test_dlq_entry_within_a_learnt_bound();
    return cf_test_done();
}
