/*
 * cf_outbox_stage against the throwaway PostgreSQL of ./tests/run
 * (CLINICFLOW_TEST_PG_DSN): a few messages (one INSERT) and many (COPY)
 * land in the schema's outbox in the order they were added, keys, values,
 * tombstones and the characters COPY escapes exactly as given; a key that
 * is not text is refused before anything is written; a rolled-back
 * transaction leaves nothing staged. And an event queued with
 * cf_outbox_add_kept stays on its message as it was queued. And the
 * relay to librdkafka's mock cluster (in this process, on loopback): a
 * batch the broker refuses as too big loses none of the messages it
 * shares a batch with; only one refused when sent alone is dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cftest.h"
#include "common/err.h"
#include "common/kafka.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/xmalloc.h"
#include "mock_kafka.h"

#define SCHEMA "outbox_test"

/* Set-up and clean-up (several statements at once: no parameters). */
static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    CHECK_INT(PQresultStatus(res), PGRES_COMMAND_OK);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
}

/* The i-th message of a test: key NULL every 5th, a tombstone every 7th. */
static void add_message(struct cf_outbox *out, int i)
{
    char key[32];
    snprintf(key, sizeof(key), "key\t%d", i);
    char *value = i % 7 == 6 ? NULL : cf_xasprintf("{\"n\":%d,\"s\":\"a\\\\b\\nc Ж\"}", i);
    cf_outbox_push(out, i % 2 ? "clinicflow.odd" : "clinicflow.even", i % 5 == 4 ? NULL : key,
                   i % 5 == 4 ? 0 : strlen(key), value, value ? strlen(value) : 0);
}

/* Stages n messages in a transaction, then checks what the table holds. */
static void stage_and_read(PGconn *conn, int n)
{
    char errbuf[256] = "";
    struct cf_outbox out = {0};
    for (int i = 0; i < n; i++)
        add_message(&out, i);
    exec_ok(conn, "TRUNCATE " SCHEMA ".outbox");
    CHECK_INT(cf_pg_begin(conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_outbox_stage(conn, SCHEMA, &out, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_pg_commit(conn, errbuf, sizeof(errbuf)), 0);

    PGresult *res = NULL;
    CHECK_INT(cf_pg_exec(conn,
                         "SELECT topic, key, value, key IS NULL, value IS NULL FROM " SCHEMA
                         ".outbox ORDER BY seq",
                         0, NULL, &res, errbuf, sizeof(errbuf)),
              0);
    CHECK_INT(res ? PQntuples(res) : -1, n);
    for (int i = 0; res && i < PQntuples(res) && i < n; i++) {
        const struct cf_outbox_msg *m = &out.msgs[i];
        CHECK_STR(PQgetvalue(res, i, 0), m->topic);
        CHECK_STR(PQgetvalue(res, i, 3), m->key ? "f" : "t");
        CHECK_STR(PQgetvalue(res, i, 4), m->value ? "f" : "t");
        if (m->key) /* keylen bytes, not NUL-terminated */
            CHECK(PQgetlength(res, i, 1) == (int)m->keylen &&
                  memcmp(PQgetvalue(res, i, 1), m->key, m->keylen) == 0);
        if (m->value)
            CHECK_STR(PQgetvalue(res, i, 2), m->value);
    }
    PQclear(res);
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
}

static void test_refused(PGconn *conn)
{
    char errbuf[256] = "";
    struct cf_outbox out = {0};
    for (int i = 0; i < 20; i++)
        add_message(&out, i);
    cf_outbox_push(&out, "clinicflow.bad", "k\0y", 3, cf_xstrdup("{}"), 2); /* a NUL in the key */
    exec_ok(conn, "TRUNCATE " SCHEMA ".outbox");
    CHECK_INT(cf_pg_begin(conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_outbox_stage(conn, SCHEMA, &out, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK(strstr(errbuf, "clinicflow.bad") != NULL);
    cf_pg_rollback(conn);
    cf_outbox_truncate(&out, 0);

    /* not UTF-8 */
    cf_outbox_push(&out, "clinicflow.bad", "k", 1, cf_xstrdup("\xff\xfe"), 2);
    CHECK_INT(cf_pg_begin(conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_outbox_stage(conn, SCHEMA, &out, errbuf, sizeof(errbuf)), CF_EINVAL);
    cf_pg_rollback(conn);
    cf_outbox_truncate(&out, 0);

    /* staged, then rolled back: nothing */
    for (int i = 0; i < 20; i++)
        add_message(&out, i);
    CHECK_INT(cf_pg_begin(conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_outbox_stage(conn, SCHEMA, &out, errbuf, sizeof(errbuf)), 0);
    cf_pg_rollback(conn);
    cf_outbox_truncate(&out, 0);
    free(out.msgs);

    PGresult *res = NULL;
    CHECK_INT(cf_pg_exec(conn, "SELECT count(*) FROM " SCHEMA ".outbox", 0, NULL, &res, errbuf,
                         sizeof(errbuf)),
              0);
    if (res)
        CHECK_STR(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
}

static void test_kept(void)
{
    struct cf_outbox out = {0};
    struct cf_event ev = {0};

    cf_event_derive(&ev, "7f1c1e0e-6a3a-4a57-9a43-3c0a7c1f5d11", "lead.received", NULL,
                    "leads/fold", "lead-1", 1700000000000LL, "net", NULL,
                    json_pack("{s:s}", "lead_id", "lead-1"));
    char id[sizeof(ev.id)];
    memcpy(id, ev.id, sizeof(id));
    json_t *data = ev.data;
    cf_outbox_add_kept(&out, "clinicflow.leads.v1", "lead-1", &ev);
    CHECK(ev.data == NULL && ev.type == NULL); /* taken */
    CHECK_INT((int)out.n, 1);
    CHECK(out.msgs[0].event != NULL);
    if (out.msgs[0].event) {
        CHECK_STR(out.msgs[0].event->id, id);
        CHECK_STR(out.msgs[0].event->type, "clinicflow.lead.received");
        CHECK(out.msgs[0].event->data == data);
    }
    CHECK(strstr(out.msgs[0].value, id) != NULL); /* and serialized as cf_outbox_add does */
    CHECK_STR(out.msgs[0].type, "clinicflow.lead.received");

    cf_event_derive(&ev, id, "lead.merged", NULL, "leads/fold", "lead-1", 1700000000000LL, "net",
                    NULL, json_object());
    cf_outbox_add(&out, "clinicflow.leads.v1", "lead-1", &ev);
    cf_event_clear(&ev);
    CHECK(out.msgs[1].event == NULL); /* not kept */
    cf_outbox_truncate(&out, 0);      /* frees the kept event too (the sanitizer's leak check) */
    free(out.msgs);
}

#define RELAY_TOPIC "outbox-test.relay"
#define PRODUCE_API 0 /* Kafka's ApiKey of a Produce request */

/* Stages three small messages, makes the broker refuse the next `refusals`
 * Produce requests as too big, relays once; then the outbox must be
 * empty, and the topic must hold 3 - dropped messages. */
static void relay_refused(PGconn *conn, rd_kafka_mock_cluster_t *mc, struct cf_producer *p,
                          int refusals, int dropped, int64_t *high)
{
    char errbuf[256] = "";
    struct cf_outbox *out = cf_outbox_new();
    for (int i = 0; i < 3; i++) {
        char value[32];
        snprintf(value, sizeof(value), "{\"n\":%d}", i);
        cf_outbox_push(out, RELAY_TOPIC, "k", 1, cf_xstrdup(value), strlen(value));
    }
    exec_ok(conn, "TRUNCATE " SCHEMA ".outbox");
    CHECK_INT(cf_pg_begin(conn, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_outbox_stage_commit(conn, SCHEMA, out, 0, errbuf, sizeof(errbuf)), 3);
    for (int i = 0; i < refusals; i++)
        rd_kafka_mock_push_request_errors(mc, PRODUCE_API, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    CHECK_INT(cf_outbox_relay(p, conn, SCHEMA, 100, errbuf, sizeof(errbuf)), 3);
    PGresult *res = PQexec(conn, "SELECT count(*) FROM " SCHEMA ".outbox");
    CHECK_STR(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
    int64_t lo[1], hi[1];
    CHECK_INT(cf_kafka_watermarks(p, RELAY_TOPIC, lo, hi, 1, 5000, errbuf, sizeof(errbuf)), 1);
    CHECK_INT(hi[0] - *high, 3 - dropped);
    *high = hi[0];
}

/* A consumer's outputs (cf_outbox_produce): three in one batch that the
 * broker refuses as too big, sent again alone; the first refused alone
 * too is the one too big for good (its size and topic told), the others
 * are written.
 * Nothing refused: no size told. */
static void test_produce_refused(rd_kafka_mock_cluster_t *mc, struct cf_producer *p)
{
    char errbuf[256] = "";
    struct cf_outbox out = {0};
    for (int i = 0; i < 3; i++) {
        char value[32];
        snprintf(value, sizeof(value), "{\"n\":%d%s}", i, i == 0 ? ",\"big\":1" : "");
        cf_outbox_push(&out, RELAY_TOPIC, "k", 1, cf_xstrdup(value), strlen(value));
    }
    int64_t lo[1], hi[1], before;
    CHECK_INT(cf_kafka_watermarks(p, RELAY_TOPIC, lo, hi, 1, 5000, errbuf, sizeof(errbuf)), 1);
    before = hi[0];
    struct cf_outbox_refused refused = {99, "none"};
    rd_kafka_mock_push_request_errors(mc, PRODUCE_API, 2, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    CHECK_INT(cf_outbox_produce(p, &out, &refused, errbuf, sizeof(errbuf)), CF_ETOOBIG);
    CHECK_INT((int)refused.bytes, (int)(1 + strlen("{\"n\":0,\"big\":1}")));
    CHECK_STR(refused.topic, RELAY_TOPIC);
    CHECK_INT(cf_kafka_watermarks(p, RELAY_TOPIC, lo, hi, 1, 5000, errbuf, sizeof(errbuf)), 1);
    CHECK_INT(hi[0] - before, 2);
    /* taken whole this time */
    CHECK_INT(cf_outbox_produce(p, &out, &refused, errbuf, sizeof(errbuf)), 0);
    CHECK_INT((int)refused.bytes, 0);
    CHECK(refused.topic == NULL);
    cf_outbox_truncate(&out, 0);
    free(out.msgs);
}

static void test_relay(PGconn *conn)
{
    char errbuf[256] = "";
    struct mock_kafka m;
    CHECK_INT(mock_kafka_start(&m, 1), 0);
    if (!m.mc)
        return;
    rd_kafka_mock_cluster_t *mc = m.mc;
    CHECK_INT(rd_kafka_mock_topic_create(mc, RELAY_TOPIC, 1, 1), 0);
    struct cf_settings s = mock_kafka_settings("outbox-test", rd_kafka_mock_cluster_bootstraps(mc));
    struct cf_producer *p = cf_kafka_producer_new(&s, errbuf, sizeof(errbuf));
    CHECK(p != NULL);
    if (p) {
        int64_t high = 0;
        /* the three in one batch, refused whole: each then goes alone */
        relay_refused(conn, mc, p, 1, 0, &high);
        /* and the first refused alone as well: it alone is dropped */
        relay_refused(conn, mc, p, 2, 1, &high);
        test_produce_refused(mc, p);
        cf_kafka_producer_destroy(p, 1000);
    }
    mock_kafka_stop(&m);
}

int main(void)
{
    const char *dsn = cf_test_server("CLINICFLOW_TEST_PG_DSN");
    char errbuf[256] = "";
    PGconn *conn = cf_pg_connect(dsn, errbuf, sizeof(errbuf));
    CHECK(conn != NULL);
    if (!conn)
        return cf_test_done();
    exec_ok(conn, "DROP SCHEMA IF EXISTS " SCHEMA " CASCADE");
    exec_ok(conn, "CREATE SCHEMA " SCHEMA);
    exec_ok(conn, "SET search_path TO " SCHEMA);
    exec_ok(conn, CF_OUTBOX_TABLE_SQL "ALTER TABLE outbox ALTER COLUMN value DROP NOT NULL;");
    exec_ok(conn, "RESET search_path");
    stage_and_read(conn, 3);   /* one INSERT */
    stage_and_read(conn, 8);   /* still one INSERT */
    stage_and_read(conn, 9);   /* COPY */
    stage_and_read(conn, 500); /* COPY */
    test_refused(conn);
    test_kept();
    test_relay(conn);
    exec_ok(conn, "DROP SCHEMA " SCHEMA " CASCADE");
    PQfinish(conn);
    return cf_test_done();
}
