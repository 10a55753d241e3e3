/*
 * The runner's statements against the throwaway PostgreSQL of ./tests/run
 * (CLINICFLOW_TEST_PG_DSN), in a schema of this process's own: one message
 * applied under a savepoint (the careful way), where a message sent to the
 * DLQ leaves nothing behind, not even its event id among the applied, so a
 * replay of it once its cause is fixed is applied; and the partitions'
 * next offsets stored in one statement and read back through
 * cf_consumer_stored_offsets, for more partitions than a fixed array held;
 * and an optimistic batch given to a batch apply at once: only the
 * messages not applied before nor sent to the DLQ, in their order, and a
 * rejection that sends the batch the careful way. An output over what the
 * producer takes is a rejection of the message that made it
 * (output_too_large): Kafka would refuse it on every try. And a runner
 * assigned partitions while PostgreSQL cannot answer waits for its
 * offsets rather than start from Kafka's.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "common/consumer.h"
#include "common/envelope.h"
#include "common/err.h"
#include "common/pg.h"
#include "common/time.h"
#include "cftest.h"
#include "consumer_testable.h"

#define GROUP "unit-group"

/* What the test's apply functions saw and do. */
struct fake {
    int calls;
    int batch_calls;
    char seen[256]; /* the keys the batch apply was given, ","-separated */
};

/* The largest output the test's runner lets through (its producer's, in
 * a service: cf_kafka_producer_max_message). */
#define MAX_OUTPUT 4096

/* An output over MAX_OUTPUT, queued for verdict "big". */
static void add_big_output(struct cf_outbox *out, const char *k)
{
    char *value = malloc(MAX_OUTPUT + 1);
    memset(value, 'x', MAX_OUTPUT);
    value[MAX_OUTPUT] = '\0';
    cf_outbox_push(out, "clinicflow.calls.v1", k, strlen(k), value, MAX_OUTPUT);
}

/* Inserts data.k into t, adds an output event, then answers as data.verdict
 * says: "ok", "reject" (CF_EINVAL), "conflict" (CF_ECONFLICT), "sql" (a
 * statement the server refuses, which aborts the transaction), "big"
 * (0, with a second output over MAX_OUTPUT), or "forget" (0, its applied
 * mark deleted, as a handler that wants its id to come again does). A
 * tombstone is applied as nothing. */
static int fake_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                      const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                      size_t errbuf_size)
{
    struct fake *f = ctx;
    (void)rkm;
    f->calls++;
    if (!ev)
        return 0;
    const char *k = json_string_value(json_object_get(ev->data, "k"));
    const char *verdict = json_string_value(json_object_get(ev->data, "verdict"));
    const char *params[] = {k};
    int rc =
        cf_pg_exec(conn, "INSERT INTO t (k) VALUES ($1)", 1, params, NULL, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    cf_outbox_add(out, "clinicflow.calls.v1", k, ev);
    if (strcmp(verdict, "reject") == 0) {
        snprintf(errbuf, errbuf_size, "refused by the rules");
        return CF_EINVAL;
    }
    if (strcmp(verdict, "conflict") == 0) {
        snprintf(errbuf, errbuf_size, "a unique key");
        return CF_ECONFLICT;
    }
    if (strcmp(verdict, "sql") == 0)
        return cf_pg_exec(conn, "SELECT 1 / 0", 0, NULL, NULL, errbuf, errbuf_size);
    if (strcmp(verdict, "big") == 0)
        add_big_output(out, k);
    if (strcmp(verdict, "forget") == 0) {
        const char *id[] = {ev->id};
        return cf_pg_exec(conn, "DELETE FROM applied_events WHERE event_id = $1::uuid", 1, id, NULL,
                          errbuf, errbuf_size);
    }
    return 0;
}

/* The batch apply: each message's key in t and its output event, in one
 * statement; CF_EINVAL when one of them says "reject". */
static int fake_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                            const rd_kafka_message_t *const *rkms, size_t n, struct cf_outbox *out,
                            char *errbuf, size_t errbuf_size)
{
    struct fake *f = ctx;
    json_t *keys = json_array();
    int reject = 0;
    (void)rkms;
    f->batch_calls++;
    f->seen[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *k = json_string_value(json_object_get(evs[i]->data, "k"));
        const char *verdict = json_string_value(json_object_get(evs[i]->data, "verdict"));
        size_t len = strlen(f->seen);
        snprintf(f->seen + len, sizeof(f->seen) - len, "%s%s", len ? "," : "", k);
        json_array_append_new(keys, json_string(k));
        cf_outbox_add(out, "clinicflow.calls.v1", k, evs[i]);
        if (strcmp(verdict, "big") == 0)
            add_big_output(out, k);
        reject = reject || strcmp(verdict, "reject") == 0;
    }
    char *text = json_dumps(keys, JSON_COMPACT);
    const char *params[] = {text};
    int rc = cf_pg_exec(conn, "INSERT INTO t (k) SELECT jsonb_array_elements_text($1::jsonb)", 1,
                        params, NULL, errbuf, errbuf_size);
    free(text);
    json_decref(keys);
    if (rc == 0 && reject) {
        snprintf(errbuf, errbuf_size, "refused by the rules");
        rc = CF_EINVAL;
    }
    return rc;
}

static long count(PGconn *conn, const char *sql, const char *param)
{
    const char *params[] = {param};
    PGresult *res = NULL;
    char errbuf[256];
    long n = -1;
    if (cf_pg_exec(conn, sql, 1, params, &res, errbuf, sizeof(errbuf)) == 0)
        n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    else
        fprintf(stderr, "%s: %s\n", sql, errbuf);
    PQclear(res);
    return n;
}

static char *envelope(const char *id, const char *k, const char *verdict)
{
    struct cf_event ev = {0};
    snprintf(ev.id, sizeof(ev.id), "%s", id);
    ev.source = strdup("/clinicflow/test/unit");
    ev.type = strdup("clinicflow.test.fact");
    ev.subject = strdup(k);
    ev.time_ms = 1795000000000;
    ev.networkid = strdup("net-1");
    ev.data = json_pack("{s:s, s:s}", "k", k, "verdict", verdict);
    char *value = cf_event_dumps(&ev);
    cf_event_clear(&ev);
    return value;
}

struct one_case {
    const char *name;
    const char *id; /* NULL: a tombstone */
    const char *k;
    const char *verdict;
    int last_resort;
    int want_rc;
    int want_calls;
    long want_applied;    /* rows of applied_events for the id after the case */
    long want_rows;       /* rows of t for k */
    const char *want_dlq; /* reason_code of the one entry queued, or NULL */
    size_t want_out;      /* messages queued in all */
};

#define ID_1 "6f1f7e2a-1c1b-4a55-8f0e-000000000001"
#define ID_2 "6f1f7e2a-1c1b-4a55-8f0e-000000000002"
#define ID_3 "6f1f7e2a-1c1b-4a55-8f0e-000000000003"
#define ID_4 "6f1f7e2a-1c1b-4a55-8f0e-000000000004"
#define ID_8 "6f1f7e2a-1c1b-4a55-8f0e-000000000008"

/* In order: each case commits when it returns 0 and rolls back otherwise,
 * as the runner's batch does. */
static const struct one_case one_cases[] = {
    {"applied", ID_1, "k1", "ok", 0, 0, 1, 1, 1, NULL, 1},
    {"applied before: skipped", ID_1, "k1", "ok", 0, 0, 0, 1, 1, NULL, 0},
    {"rejected: undone, to the DLQ, not applied", ID_2, "k2", "reject", 0, 0, 1, 0, 0, "rejected",
     1},
    {"the rejected one replayed after the fix", ID_2, "k2", "ok", 0, 0, 1, 1, 1, NULL, 1},
    {"refused by the server: undone, to the DLQ", ID_3, "k3", "sql", 0, 0, 1, 0, 0, "rejected", 1},
    {"replayed after the fix", ID_3, "k3", "ok", 0, 0, 1, 1, 1, NULL, 1},
    {"a conflict is transient", ID_4, "k4", "conflict", 0, CF_ECONFLICT, 1, 0, 0, NULL, 1},
    {"a conflict as a last resort: failed", ID_4, "k4", "conflict", 1, 0, 1, 0, 0, "failed", 1},
    {"the failed one replayed", ID_4, "k4", "ok", 0, 0, 1, 1, 1, NULL, 1},
    {"an output over the producer's limit: undone, to the DLQ, not applied", ID_8, "k8", "big", 0,
     0, 1, 0, 0, "output_too_large", 1},
    {"replayed once its outputs fit", ID_8, "k8", "ok", 0, 0, 1, 1, 1, NULL, 1},
    {"a tombstone", NULL, "k5", NULL, 0, 0, 1, 0, 0, NULL, 0},
};

/* A message of partition 1 at offset, value its payload, k its key. */
static rd_kafka_message_t one_message(rd_kafka_topic_t *rkt, int64_t offset, char *value,
                                      const char *k)
{
    rd_kafka_message_t rkm = {0};
    rkm.rkt = rkt;
    rkm.partition = 1;
    rkm.offset = offset;
    rkm.payload = value;
    rkm.len = value ? strlen(value) : 0;
    rkm.key = (void *)k;
    rkm.key_len = strlen(k);
    return rkm;
}

static void test_apply_one(struct cf_consumer *c, struct fake *f, rd_kafka_topic_t *rkt)
{
    char errbuf[512];
    for (size_t i = 0; i < sizeof(one_cases) / sizeof(one_cases[0]); i++) {
        const struct one_case *tc = &one_cases[i];
        char *value = tc->id ? envelope(tc->id, tc->k, tc->verdict) : NULL;
        rd_kafka_message_t rkm = one_message(rkt, (int64_t)i, value, tc->k);
        struct cf_outbox out = {0};
        f->calls = 0;
        c->failures = tc->last_resort ? 5 : 0;
        CHECK_INT(cf_pg_begin(c->conn, errbuf, sizeof(errbuf)), 0);
        int rc =
            cf_consumer_apply_one(c, &rkm, &out, tc->last_resort, NULL, errbuf, sizeof(errbuf));
        if (rc == 0)
            CHECK_INT(cf_pg_commit(c->conn, errbuf, sizeof(errbuf)), 0);
        else
            cf_pg_rollback(c->conn);
        if (rc != tc->want_rc || f->calls != tc->want_calls)
            fprintf(stderr, "case '%s': %d, %s\n", tc->name, rc, errbuf);
        CHECK_INT(rc, tc->want_rc);
        CHECK_INT(f->calls, tc->want_calls);
        if (tc->id)
            CHECK_INT(count(c->conn,
                            "SELECT count(*) FROM applied_events WHERE group_id = '" GROUP
                            "' AND event_id = $1::uuid",
                            tc->id),
                      tc->want_applied);
        CHECK_INT(count(c->conn, "SELECT count(*) FROM t WHERE k = $1", tc->k), tc->want_rows);
        if (out.n != tc->want_out)
            fprintf(stderr, "case '%s': %zu queued\n", tc->name, out.n);
        CHECK_INT(out.n, tc->want_out);
        if (tc->want_dlq && out.n == 1) {
            /* Only the DLQ entry: what the rejected apply added is gone. */
            struct cf_event ev = {0};
            char reason[256];
            CHECK_STR(out.msgs[0].topic, "clinicflow.dlq.v1");
            CHECK_INT(cf_event_parse(out.msgs[0].value, out.msgs[0].valuelen, &ev, reason,
                                     sizeof(reason)),
                      0);
            CHECK_STR(json_string_value(json_object_get(ev.data, "reason_code")), tc->want_dlq);
            CHECK_INT(json_integer_value(json_object_get(ev.data, "offset")), (int64_t)i);
            cf_event_clear(&ev);
        }
        cf_outbox_truncate(&out, 0);
        free(out.msgs);
        free(value);
    }
}

/* A message undone under its savepoint ends the savepoint too: none is
 * left open for the next message to nest in (a batch of many rejections
 * would otherwise hold a subtransaction for each until its commit). */
static void test_undone_savepoint_released(struct cf_consumer *c, rd_kafka_topic_t *rkt)
{
    char errbuf[512] = "";
    char *value = envelope("6f1f7e2a-1c1b-4a55-8f0e-000000000009", "k9", "reject");
    rd_kafka_message_t rkm = one_message(rkt, 90, value, "k9");
    struct cf_outbox out = {0};
    CHECK_INT(cf_pg_begin(c->conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_consumer_apply_one(c, &rkm, &out, 0, NULL, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(out.n, 1); /* its DLQ entry */
    CHECK(cf_pg_exec(c->conn, "RELEASE SAVEPOINT cf_apply", 0, NULL, NULL, errbuf,
                     sizeof(errbuf)) != 0);
    cf_pg_rollback(c->conn);
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
    free(value);
}

/* A batch taken the careful way applies a repeated id at its first
 * occurrence only, as the optimistic way does, even when the first one's
 * apply forgot its applied mark (the reminders dispatcher's put-off does,
 * for the scheduler's next command of that id): without the batch's seen
 * ids, the copy would be applied a second time in the same transaction. */
static void test_careful_repeat_applied_once(struct cf_consumer *c, struct fake *f,
                                             rd_kafka_topic_t *rkt)
{
    char errbuf[512] = "";
    char *value = envelope("6f1f7e2a-1c1b-4a55-8f0e-00000000000a", "k10", "forget");
    rd_kafka_message_t rkm = one_message(rkt, 100, value, "k10");
    struct cf_outbox out = {0};
    json_t *seen = json_object();
    c->failures = 0;
    f->calls = 0;
    CHECK_INT(cf_pg_begin(c->conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_consumer_apply_one(c, &rkm, &out, 0, seen, errbuf, sizeof(errbuf)), 0);
    rkm.offset = 101; /* the copy, later in the batch */
    CHECK_INT(cf_consumer_apply_one(c, &rkm, &out, 0, seen, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(f->calls, 1);
    CHECK_INT(count(c->conn, "SELECT count(*) FROM t WHERE k = $1", "k10"), 1);
    cf_pg_rollback(c->conn);
    json_decref(seen);
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
    free(value);
}

#define ID_5 "6f1f7e2a-1c1b-4a55-8f0e-000000000005"
#define ID_6 "6f1f7e2a-1c1b-4a55-8f0e-000000000006"
#define ID_7 "6f1f7e2a-1c1b-4a55-8f0e-000000000007"

/* A message of the batch tests at offset. */
static rd_kafka_message_t *batch_msg(rd_kafka_topic_t *rkt, int64_t offset, char *value,
                                     const char *k)
{
    rd_kafka_message_t *rkm = calloc(1, sizeof(*rkm));
    rkm->rkt = rkt;
    rkm->partition = 2;
    rkm->offset = offset;
    rkm->payload = value;
    rkm->len = strlen(value);
    rkm->key = (void *)k;
    rkm->key_len = strlen(k);
    return rkm;
}

/* The batch's first message alone, made k7 with verdict, the optimistic
 * way in a transaction rolled back: its answer (the batch apply called
 * once). */
static int alone(struct cf_consumer *c, struct fake *f, rd_kafka_message_t **batch, char **values,
                 const char *verdict, struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    free(values[0]);
    values[0] = envelope(ID_7, "k7", verdict);
    batch[0]->payload = values[0];
    batch[0]->len = strlen(values[0]);
    f->batch_calls = 0;
    CHECK_INT(cf_pg_begin(c->conn, errbuf, errbuf_size), 0);
    int rc = cf_consumer_apply_optimistic(c, batch, 1, out, errbuf, errbuf_size);
    cf_pg_rollback(c->conn);
    CHECK_INT(f->batch_calls, 1);
    return rc;
}

static void test_apply_batch(struct cf_consumer *c, struct fake *f, rd_kafka_topic_t *rkt)
{
    char errbuf[512] = "";
    char bad[] = "not an envelope";
    /* k5; an invalid envelope; k1 applied before (test_apply_one); k6 and
     * its repeat (the same event id) */
    char *values[] = {envelope(ID_5, "k5", "ok"), bad, envelope(ID_1, "k1", "ok"),
                      envelope(ID_6, "k6", "ok"), envelope(ID_6, "k6", "ok")};
    const char *keys[] = {"k5", "bad", "k1", "k6", "k6"};
    rd_kafka_message_t *batch[5];
    for (int i = 0; i < 5; i++)
        batch[i] = batch_msg(rkt, 100 + i, values[i], keys[i]);
    struct cf_outbox out = {0};

    c->apply_batch = fake_apply_batch;
    f->calls = f->batch_calls = 0;
    CHECK_INT(cf_pg_begin(c->conn, errbuf, sizeof(errbuf)), 0);
    int rc = cf_consumer_apply_optimistic(c, batch, 5, &out, errbuf, sizeof(errbuf));
    if (rc)
        fprintf(stderr, "batch: %s\n", errbuf);
    CHECK_INT(rc, 0);
    CHECK_INT(cf_pg_commit(c->conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(f->batch_calls, 1); /* at once */
    CHECK_INT(f->calls, 0);       /* never one by one */
    CHECK_STR(f->seen, "k5,k6");
    CHECK_INT(count(c->conn, "SELECT count(*) FROM t WHERE k = ANY ($1::text[])", "{k5,k6}"), 2);
    CHECK_INT(count(c->conn,
                    "SELECT count(*) FROM applied_events WHERE group_id = '" GROUP
                    "' AND event_id = ANY ($1::uuid[])",
                    "{" ID_5 "," ID_6 "}"),
              2);
    /* the DLQ entry of the invalid envelope, then the two outputs */
    CHECK_INT(out.n, 3);
    if (out.n == 3) {
        CHECK_STR(out.msgs[0].topic, "clinicflow.dlq.v1");
        CHECK_STR(out.msgs[1].topic, "clinicflow.calls.v1");
    }
    cf_outbox_truncate(&out, 0);

    /* A rejection: the batch goes the careful way, nothing of it kept. */
    CHECK_INT(alone(c, f, batch, values, "reject", &out, errbuf, sizeof(errbuf)),
              CF_CONSUMER_BATCH_REJECTED);
    CHECK_INT(count(c->conn, "SELECT count(*) FROM t WHERE k = $1", "k7"), 0);
    CHECK_INT(count(c->conn,
                    "SELECT count(*) FROM applied_events WHERE group_id = '" GROUP
                    "' AND event_id = $1::uuid",
                    ID_7),
              0);
    cf_outbox_truncate(&out, 0);

    /* An output over the producer's limit: the careful way too, which
     * sends its input to the DLQ alone (test_apply_one). */
    CHECK_INT(alone(c, f, batch, values, "big", &out, errbuf, sizeof(errbuf)),
              CF_CONSUMER_BATCH_REJECTED);
    CHECK(strstr(errbuf, "over the producer's") != NULL);
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
    c->apply_batch = NULL;
    for (int i = 0; i < 5; i++) {
        if (values[i] != bad)
            free(values[i]);
        free(batch[i]);
    }
}

/* A batch's offsets stored and committed, then noted as the runner does. */
static void store(struct cf_consumer *c, rd_kafka_topic_partition_list_t *nexts)
{
    char errbuf[512] = "";
    CHECK_INT(cf_pg_begin(c->conn, errbuf, sizeof(errbuf)), 0);
    int rc = cf_consumer_store_offsets(c, nexts, errbuf, sizeof(errbuf));
    if (rc)
        fprintf(stderr, "store offsets: %s\n", errbuf);
    CHECK_INT(rc, 0);
    CHECK_INT(cf_pg_commit(c->conn, errbuf, sizeof(errbuf)), 0);
    cf_consumer_stored_note(c, nexts);
}

/* A batch's offsets that must be refused: fenced, then rolled back. */
static void store_fenced(struct cf_consumer *c, rd_kafka_topic_partition_list_t *nexts)
{
    char errbuf[512] = "";
    CHECK_INT(cf_pg_begin(c->conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_consumer_store_offsets(c, nexts, errbuf, sizeof(errbuf)), CF_CONSUMER_FENCED);
    CHECK(strstr(errbuf, "no longer") != NULL);
    cf_pg_rollback(c->conn);
}

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(conn));
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
    PQclear(res);
}

static void check_stored(struct cf_consumer *c, const char *group, const char *topic,
                         const int64_t *want, int n)
{
    char errbuf[512] = "";
    int64_t *got = calloc((size_t)n + 1, sizeof(*got));
    got[n] = -7; /* past the array: never written */
    CHECK_INT(cf_consumer_stored_offsets(c->conn, c->schema, group, topic, got, n, errbuf,
                                         sizeof(errbuf)),
              0);
    for (int p = 0; p < n; p++) {
        if (got[p] != want[p])
            fprintf(stderr, "%s %s [%d]: %" PRId64 " != %" PRId64 "\n", group, topic, p, got[p],
                    want[p]);
        CHECK_INT(got[p], want[p]);
    }
    CHECK_INT(got[n], -7);
    free(got);
}

static void test_offsets(struct cf_consumer *c)
{
    rd_kafka_topic_partition_list_t *nexts = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_add(nexts, "a", 0)->offset = 13;
    rd_kafka_topic_partition_list_add(nexts, "b", 1)->offset = 7;
    rd_kafka_topic_partition_list_add(nexts, "a", 1)->offset = 8;
    store(c, nexts);
    check_stored(c, GROUP, "a", (const int64_t[]){13, 8, 0}, 3);
    check_stored(c, GROUP, "b", (const int64_t[]){0, 7}, 2);
    check_stored(c, GROUP, "a", (const int64_t[]){13}, 1); /* fewer asked: the rest not read */
    check_stored(c, "another-group", "a", (const int64_t[]){0, 0}, 2);
    rd_kafka_topic_partition_list_destroy(nexts);

    /* A later batch moves one partition; the others keep theirs. */
    nexts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(nexts, "a", 0)->offset = 20;
    store(c, nexts);
    check_stored(c, GROUP, "a", (const int64_t[]){20, 8}, 2);
    rd_kafka_topic_partition_list_destroy(nexts);

    /* No partitions: nothing to store. */
    nexts = rd_kafka_topic_partition_list_new(1);
    store(c, nexts);
    rd_kafka_topic_partition_list_destroy(nexts);

    /* More partitions than the fold's horizon once held (64). */
    enum { WIDE = 100 };
    int64_t want[WIDE];
    nexts = rd_kafka_topic_partition_list_new(WIDE);
    for (int p = 0; p < WIDE; p++) {
        want[p] = 1000 + 3 * p;
        rd_kafka_topic_partition_list_add(nexts, "wide", p)->offset = want[p];
    }
    store(c, nexts);
    check_stored(c, GROUP, "wide", want, WIDE);
    rd_kafka_topic_partition_list_destroy(nexts);
}

/* A runner's batch stores offsets while another runner's transaction
 * holds the same rows (the one stores on a thread of its own). */
struct racing {
    struct cf_consumer *c;
    rd_kafka_topic_partition_list_t *nexts;
    int rc;
};

static void *racing_main(void *arg)
{
    struct racing *r = arg;
    char errbuf[512] = "";
    CHECK_INT(cf_pg_begin(r->c->conn, errbuf, sizeof(errbuf)), 0);
    r->rc = cf_consumer_store_offsets(r->c, r->nexts, errbuf, sizeof(errbuf));
    cf_pg_rollback(r->c->conn);
    return NULL;
}

/* Offsets move only from what the runner knows stored: when another
 * runner (the partition's new owner while this one's batch outlived
 * max.poll.interval.ms) or an operator moved them, the batch is refused
 * whole, and the runner reads on from them. */
static void test_offsets_fenced(struct cf_consumer *c, const char *dsn)
{
    /* An operator sends partition a/0 back (from 20) while the runner runs. */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "UPDATE %s.consumer_offsets SET next_offset = 5 WHERE group_id = '%s'"
             " AND topic = 'a' AND partition = 0",
             c->schema, GROUP);
    exec_ok(c->conn, sql);
    rd_kafka_topic_partition_list_t *nexts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(nexts, "a", 1)->offset = 9;
    rd_kafka_topic_partition_list_add(nexts, "a", 0)->offset = 25;
    store_fenced(c, nexts);
    check_stored(c, GROUP, "a", (const int64_t[]){5, 8}, 2); /* a/1 not moved either */

    /* Read again, as the runner does: it goes on from 5. */
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, "a", 0)->offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_topic_partition_list_add(parts, "a", 1)->offset = RD_KAFKA_OFFSET_INVALID;
    CHECK_INT(cf_consumer_load_offsets_wait(c, parts), 0);
    CHECK_INT((int)parts->elems[0].offset, 5);
    nexts->elems[1].offset = 6;
    store(c, nexts);
    check_stored(c, GROUP, "a", (const int64_t[]){6, 9}, 2);

    /* A partition the runner knows no row of, which another runner added. */
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s.consumer_offsets (group_id, topic, partition, next_offset)"
             " VALUES ('%s', 'a', 2, 40)",
             c->schema, GROUP);
    exec_ok(c->conn, sql);
    rd_kafka_topic_partition_list_t *third = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(third, "a", 2)->offset = 3;
    store_fenced(c, third);
    check_stored(c, GROUP, "a", (const int64_t[]){6, 9, 40}, 3);

    /* An operator writes librdkafka's "from the beginning" (-2): the
     * runner reads it, starts there, and moves it as any other. */
    snprintf(sql, sizeof(sql),
             "UPDATE %s.consumer_offsets SET next_offset = -2 WHERE group_id = '%s'"
             " AND topic = 'a' AND partition = 2",
             c->schema, GROUP);
    exec_ok(c->conn, sql);
    third->elems[0].offset = RD_KAFKA_OFFSET_INVALID;
    CHECK_INT(cf_consumer_load_offsets_wait(c, third), 0);
    CHECK_INT((int)third->elems[0].offset, (int)RD_KAFKA_OFFSET_BEGINNING);
    third->elems[0].offset = 3;
    store(c, third);
    check_stored(c, GROUP, "a", (const int64_t[]){6, 9, 3}, 3);
    rd_kafka_topic_partition_list_destroy(third);

    /* Two runners of one partition, each knowing it at 6: the second waits
     * for the first's row, then finds it moved, and moves nothing. */
    CHECK_INT(cf_consumer_load_offsets_wait(c, parts), 0);
    char errbuf[512] = "";
    struct cf_consumer other = {0};
    other.group_id = GROUP;
    other.schema = c->schema;
    other.ident = c->ident;
    other.conn = cf_pg_connect(dsn, errbuf, sizeof(errbuf));
    CHECK(other.conn != NULL);
    CHECK_INT(cf_consumer_load_offsets_wait(&other, parts), 0);
    CHECK_INT((int)parts->elems[0].offset, 6);
    nexts->elems[0].offset = 10;
    nexts->elems[1].offset = 7;
    CHECK_INT(cf_pg_begin(other.conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_consumer_store_offsets(&other, nexts, errbuf, sizeof(errbuf)), 0);
    struct racing r = {.c = c, .nexts = nexts, .rc = -100};
    pthread_t t;
    CHECK_INT(pthread_create(&t, NULL, racing_main, &r), 0);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", PQbackendPID(c->conn));
    const int64_t deadline = cf_time_mono_ms() + 30000;
    /* the lock table as it is now (pg_stat_activity would show other's
     * transaction the sessions as they were at its first look) */
    while (count(other.conn, "SELECT cardinality(pg_blocking_pids($1::int))", pid) <= 0 &&
           cf_time_mono_ms() < deadline)
        usleep(10 * 1000);
    CHECK(cf_time_mono_ms() < deadline); /* it waited on the row */
    CHECK_INT(cf_pg_commit(other.conn, errbuf, sizeof(errbuf)), 0);
    pthread_join(t, NULL);
    CHECK_INT(r.rc, CF_CONSUMER_FENCED);
    check_stored(c, GROUP, "a", (const int64_t[]){7, 10}, 2);

    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_topic_partition_list_destroy(nexts);
    rd_kafka_topic_partition_list_destroy(other.stored);
    PQfinish(other.conn);
}

/* What the helper thread of test_offsets_wait does after a pause: creates
 * the schema the runner reads its offsets from (with one stored offset),
 * or asks the runner to stop. */
struct later {
    const char *dsn, *schema;
    struct cf_consumer *stop;
};

static void *later_main(void *arg)
{
    const struct later *l = arg;
    usleep(300 * 1000);
    if (l->stop) {
        atomic_store(&l->stop->stop, 1);
        return NULL;
    }
    char errbuf[256], *sql = NULL;
    PGconn *conn = cf_pg_connect(l->dsn, errbuf, sizeof(errbuf));
    CHECK(conn != NULL);
    size_t len = strlen(CF_CONSUMER_TABLES_SQL) + 3 * strlen(l->schema) + 256;
    sql = malloc(len);
    snprintf(sql, len,
             "CREATE SCHEMA %s; SET search_path TO %s; %s"
             " INSERT INTO %s.consumer_offsets (group_id, topic, partition, next_offset)"
             " VALUES ('wait-group', 'a', 0, 42)",
             l->schema, l->schema, CF_CONSUMER_TABLES_SQL, l->schema);
    PGresult *res = PQexec(conn, sql);
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
    PQclear(res);
    free(sql);
    PQfinish(conn);
    return NULL;
}

/* A runner assigned partitions while PostgreSQL cannot say where it is
 * (here: its schema is not there yet) waits for it, and starts from the
 * stored offsets, never from Kafka's; asked to stop meanwhile, it gives
 * up and assigns nothing. */
static void test_offsets_wait(const char *dsn)
{
    char schema[64];
    snprintf(schema, sizeof(schema), "unit_consumer_wait_%ld", (long)getpid());
    struct cf_consumer c = {0};
    c.group_id = "wait-group";
    c.schema = schema;
    c.dsn = (char *)dsn;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, "a", 0)->offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_topic_partition_list_add(parts, "a", 1)->offset = RD_KAFKA_OFFSET_INVALID;

    struct later l = {.dsn = dsn, .schema = schema};
    pthread_t t;
    const int64_t t0 = cf_time_mono_ms();
    CHECK_INT(pthread_create(&t, NULL, later_main, &l), 0);
    CHECK_INT(cf_consumer_load_offsets_wait(&c, parts), 0);
    CHECK(cf_time_mono_ms() - t0 >= 300);
    pthread_join(t, NULL);
    CHECK_INT((int)parts->elems[0].offset, 42);
    CHECK_INT((int)parts->elems[1].offset, (int)RD_KAFKA_OFFSET_INVALID);

    /* a schema that never comes, and the runner stopping */
    struct cf_consumer away = {0};
    away.group_id = "wait-group";
    away.schema = "unit_consumer_never_there";
    away.dsn = (char *)dsn;
    struct later stop = {.dsn = dsn, .stop = &away};
    parts->elems[0].offset = RD_KAFKA_OFFSET_INVALID;
    CHECK_INT(pthread_create(&t, NULL, later_main, &stop), 0);
    CHECK_INT(cf_consumer_load_offsets_wait(&away, parts), CF_EUNAVAIL);
    pthread_join(t, NULL);
    CHECK_INT((int)parts->elems[0].offset, (int)RD_KAFKA_OFFSET_INVALID);

    rd_kafka_topic_partition_list_destroy(parts);
    char sql[160];
    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
    PGresult *res = PQexec(c.conn, sql);
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c.conn);
    PQfinish(away.conn);
    free(c.ident);
    free(away.ident);
    rd_kafka_topic_partition_list_destroy(c.stored);
}

/* Kafka refusing an output as too big that the producer took (the
 * broker's or the topic's limit set lower): the batch is rejected, to go
 * the careful way, and that topic's limit drops under that size, so that
 * output's message goes to the DLQ there (output_too_large) instead of
 * the batch being refused for ever; a larger refusal later never raises
 * it again, and other topics keep the producer's limit. Other answers
 * pass. */
static void test_refused_output(struct cf_consumer *c, rd_kafka_topic_t *rkt)
{
    char errbuf[256] = "";
    const size_t was = c->max_output;
    int learnt = 1;
    CHECK_INT(cf_consumer_refused_output(c, 0, 0, NULL, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_consumer_refused_output(c, CF_EUNAVAIL, 0, NULL, errbuf, sizeof(errbuf)),
              CF_EUNAVAIL);
    CHECK_INT(cf_consumer_refused_output(c, CF_ETOOBIG, 0, NULL, errbuf, sizeof(errbuf)),
              CF_ETOOBIG);
    CHECK_INT((int)cf_consumer_output_limit(c, "t.a", &learnt), (int)was);
    CHECK(!learnt);
    CHECK_INT(cf_consumer_refused_output(c, CF_ETOOBIG, 1000, "t.a", errbuf, sizeof(errbuf)),
              CF_CONSUMER_BATCH_REJECTED);
    CHECK_INT((int)cf_consumer_output_limit(c, "t.a", &learnt), 999);
    CHECK(learnt);
    CHECK(strstr(errbuf, "1000 bytes to t.a") != NULL);
    CHECK_INT(cf_consumer_refused_output(c, CF_ETOOBIG, 2000, "t.a", errbuf, sizeof(errbuf)),
              CF_CONSUMER_BATCH_REJECTED);
    CHECK_INT((int)cf_consumer_output_limit(c, "t.a", NULL), 999);
    /* another topic keeps the producer's limit */
    CHECK_INT((int)cf_consumer_output_limit(c, "t.b", &learnt), (int)was);
    CHECK(!learnt);
    CHECK_INT(cf_consumer_refused_output(c, CF_ETOOBIG, 1500, "t.b", errbuf, sizeof(errbuf)),
              CF_CONSUMER_BATCH_REJECTED);
    CHECK_INT((int)cf_consumer_output_limit(c, "t.b", NULL), 1499);
    CHECK_INT((int)cf_consumer_output_limit(c, "t.a", NULL), 999);

    /* What Kafka refused may be a DLQ entry itself (a large message
     * rejected, the DLQ topic's limit set low): the entry of the same
     * message, built again, keeps a cut of the value within half the
     * limit learnt, so it goes, instead of being refused on every try
     * and stopping the partition. */
    CHECK_INT(cf_consumer_refused_output(c, CF_ETOOBIG, 20001, "clinicflow.dlq.v1", errbuf,
                                         sizeof(errbuf)),
              CF_CONSUMER_BATCH_REJECTED);
    char *payload = malloc(40001);
    memset(payload, 'x', 40000);
    payload[40000] = '\0';
    rd_kafka_message_t rkm = one_message(rkt, 77, payload, "k-big");
    struct cf_outbox out = {0};
    CHECK_INT(cf_pg_begin(c->conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_consumer_apply_one(c, &rkm, &out, 0, NULL, errbuf, sizeof(errbuf)), 0);
    cf_pg_rollback(c->conn);
    CHECK_INT(out.n, 1);
    if (out.n == 1) {
        CHECK_STR(out.msgs[0].topic, "clinicflow.dlq.v1");
        CHECK(out.msgs[0].keylen + out.msgs[0].valuelen <= 20000 / 2);
        struct cf_event ev = {0};
        char reason[256];
        CHECK_INT(
            cf_event_parse(out.msgs[0].value, out.msgs[0].valuelen, &ev, reason, sizeof(reason)),
            0);
        CHECK_STR(json_string_value(json_object_get(ev.data, "reason_code")), "invalid_envelope");
        CHECK(json_is_true(json_object_get(ev.data, "value_truncated")));
        CHECK_INT(json_integer_value(json_object_get(ev.data, "value_bytes")), 40000);
        cf_event_clear(&ev);
    }
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
    free(payload);
    for (size_t i = 0; i < c->nlimits; i++)
        free(c->limits[i].topic);
    free(c->limits);
    c->limits = NULL;
    c->nlimits = 0;
    CHECK_INT((int)c->max_output, (int)was);
}

int main(void)
{
    const char *dsn = cf_test_server("CLINICFLOW_TEST_PG_DSN");
    char errbuf[512] = "", schema[64];
    snprintf(schema, sizeof(schema), "unit_consumer_%ld", (long)getpid());
    PGconn *conn = cf_pg_connect(dsn, errbuf, sizeof(errbuf));
    CHECK(conn != NULL);
    if (!conn) {
        fprintf(stderr, "%s\n", errbuf);
        return cf_test_done();
    }
    char *sql = NULL;
    int len = snprintf(NULL, 0,
                       "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s;"
                       " SET search_path TO %s; %s CREATE TABLE t (k text PRIMARY KEY);",
                       schema, schema, schema, CF_CONSUMER_TABLES_SQL);
    sql = malloc((size_t)len + 1);
    snprintf(sql, (size_t)len + 1,
             "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s;"
             " SET search_path TO %s; %s CREATE TABLE t (k text PRIMARY KEY);",
             schema, schema, schema, CF_CONSUMER_TABLES_SQL);
    PGresult *res = PQexec(conn, sql);
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
    PQclear(res);
    free(sql);

    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "clinicflow.calls.raw.v1", NULL);

    struct fake f = {0};
    struct cf_consumer c = {0};
    c.group_id = GROUP;
    c.schema = schema;
    c.ident = schema; /* a plain lower-case name: quoting changes nothing */
    c.conn = conn;
    c.apply = fake_apply;
    c.ctx = &f;
    c.max_output = MAX_OUTPUT;
    test_apply_one(&c, &f, rkt);
    test_undone_savepoint_released(&c, rkt);
    test_careful_repeat_applied_once(&c, &f, rkt);
    test_apply_batch(&c, &f, rkt);
    test_offsets(&c);
    test_offsets_fenced(&c, dsn);
    test_offsets_wait(dsn);
    test_refused_output(&c, rkt);

    rd_kafka_topic_partition_list_destroy(c.stored);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    snprintf(errbuf, sizeof(errbuf), "DROP SCHEMA %s CASCADE", schema);
    res = PQexec(conn, errbuf);
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(conn);
    return cf_test_done();
}
