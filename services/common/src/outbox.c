/*
 * The outbox (common/outbox.h): a growing array of messages owned by the
 * outbox, produced as one batch through the process's producer, and its
 * PostgreSQL form for work outside a consumer runner: staged in the
 * caller's transaction, relayed after the commit by one relay per schema
 * at a time, deleted once Kafka has acknowledged them.
 */
#include "common/outbox.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/pg_copy.h"
#include "common/validate.h"
#include "common/xmalloc.h"

void cf_outbox_push(struct cf_outbox *out, const char *topic, const void *key, size_t keylen,
                    char *value, size_t valuelen)
{
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 16;
        out->msgs = cf_xrealloc(out->msgs, out->cap * sizeof(*out->msgs));
    }
    struct cf_outbox_msg *m = &out->msgs[out->n++];
    m->topic = cf_xstrdup(topic);
    m->key = NULL;
    m->keylen = keylen;
    if (key && keylen) {
        m->key = cf_xmalloc(keylen);
        memcpy(m->key, key, keylen);
    }
    m->value = value; /* taken */
    m->valuelen = valuelen;
    m->type = NULL;
    m->event = NULL;
}

void cf_outbox_add(struct cf_outbox *out, const char *topic, const char *key,
                   const struct cf_event *ev)
{
    char *value = cf_event_dumps(ev);
    assert(value); /* an event we built ourselves always serializes */
    cf_outbox_push(out, topic, key, key ? strlen(key) : 0, value, strlen(value));
    out->msgs[out->n - 1].type = cf_xstrdup(ev->type);
}

void cf_outbox_add_kept(struct cf_outbox *out, const char *topic, const char *key,
                        struct cf_event *ev)
{
    struct cf_event *kept = cf_xmalloc(sizeof(*kept));

    cf_outbox_add(out, topic, key, ev);
    *kept = *ev;
    memset(ev, 0, sizeof(*ev));
    out->msgs[out->n - 1].event = kept;
}

void cf_outbox_truncate(struct cf_outbox *out, size_t keep)
{
    while (out->n > keep) {
        struct cf_outbox_msg *m = &out->msgs[--out->n];
        free(m->topic);
        free(m->key);
        free(m->value);
        free(m->type);
        if (m->event) {
            cf_event_clear(m->event);
            free(m->event);
        }
    }
}

struct cf_outbox *cf_outbox_new(void)
{
    return cf_xcalloc(1, sizeof(struct cf_outbox));
}

void cf_outbox_free(struct cf_outbox *out)
{
    if (!out)
        return;
    cf_outbox_truncate(out, 0);
    free(out->msgs);
    free(out);
}

/* The broker's size limit applies to a whole record batch: librdkafka
 * fails every message of a batch it refuses as too big, small ones with
 * the big. So each message refused so is sent again alone, in order; only
 * one refused alone is refused for good. A message that then fails
 * otherwise (Kafka gone) stops the round: it and the rest of those refused
 * fail as unavailable (the relay keeps them for its next round, a
 * consumer's batch is tried again). Returns the batch's result anew: 0, or
 * the first failure's code (CF_ETOOBIG when only refusals for good are
 * left). */
static int ask_alone(struct cf_producer *producer, struct cf_kmsg *msgs, int n, int sent,
                     char *errbuf, size_t errbuf_size)
{
    int stopped = 0, first = 0;
    if (sent == 0)
        return 0;
    for (int i = 0; i < n; i++) {
        if (msgs[i].err == CF_ETOOBIG && stopped) {
            msgs[i].err = CF_EUNAVAIL;
        } else if (msgs[i].err == CF_ETOOBIG) {
            msgs[i].err = 0;
            if (cf_kafka_produce_batch(producer, &msgs[i], 1, errbuf, errbuf_size) != 0 &&
                msgs[i].err != CF_ETOOBIG)
                stopped = 1;
        }
        if (msgs[i].err != 0 && (first == 0 || first == CF_ETOOBIG))
            first = msgs[i].err;
    }
    return first;
}

int cf_outbox_produce(struct cf_producer *producer, const struct cf_outbox *out,
                      struct cf_outbox_refused *refused, char *errbuf, size_t errbuf_size)
{
    if (refused)
        *refused = (struct cf_outbox_refused){0};
    if (out->n == 0)
        return 0;
    struct cf_kmsg *msgs = cf_xcalloc(out->n, sizeof(*msgs));
    for (size_t i = 0; i < out->n; i++) {
        msgs[i].topic = out->msgs[i].topic;
        msgs[i].key = out->msgs[i].key;
        msgs[i].keylen = out->msgs[i].keylen;
        msgs[i].value = out->msgs[i].value;
        msgs[i].valuelen = out->msgs[i].valuelen;
    }
    int err = cf_kafka_produce_batch(producer, msgs, out->n, errbuf, errbuf_size);
    if (err == CF_ETOOBIG && out->n > 1)
        err = ask_alone(producer, msgs, (int)out->n, err, errbuf, errbuf_size);
    for (size_t i = 0; refused && i < out->n; i++)
        if (msgs[i].err == CF_ETOOBIG &&
            (refused->bytes == 0 || msgs[i].keylen + msgs[i].valuelen < refused->bytes)) {
            refused->bytes = msgs[i].keylen + msgs[i].valuelen;
            refused->topic = out->msgs[i].topic;
        }
    free(msgs);
    return err;
}

/* "schema.outbox" with the schema quoted, or NULL (reason in errbuf). */
static char *outbox_table(PGconn *conn, const char *schema, char *errbuf, size_t errbuf_size)
{
    char *ident = PQescapeIdentifier(conn, schema, strlen(schema));
    if (!ident) {
        snprintf(errbuf, errbuf_size, "outbox: %s", PQerrorMessage(conn));
        return NULL;
    }
    char *table = cf_xasprintf("%s.outbox", ident);
    PQfreemem(ident);
    return table;
}

/* 0 when the message's key and value can go into text columns (UTF-8, no
 * NUL), else CF_EINVAL with the reason. */
static int outbox_text_check(const struct cf_outbox_msg *m, char *errbuf, size_t errbuf_size)
{
    if (m->key && cf_validate_utf8_valid_prefix(m->key, m->keylen) != m->keylen) {
        cf_seterr(errbuf, errbuf_size, "outbox: a key for %s is not text", m->topic);
        return CF_EINVAL;
    }
    if (m->value && cf_validate_utf8_valid_prefix(m->value, m->valuelen) != m->valuelen) {
        cf_seterr(errbuf, errbuf_size, "outbox: a message for %s is not UTF-8 text", m->topic);
        return CF_EINVAL;
    }
    return 0;
}

/* Up to this many messages go as one prepared INSERT of a JSON parameter
 * (one round trip); more go by COPY (two round trips, nothing parsed as
 * JSON): a scheduler round or an import's batch of a thousand events. */
#define STAGE_INSERT_MAX 8

int cf_outbox_stage(PGconn *conn, const char *schema, const struct cf_outbox *out, char *errbuf,
                    size_t errbuf_size)
{
    if (out->n == 0)
        return 0;
    for (size_t i = 0; i < out->n; i++)
        if (outbox_text_check(&out->msgs[i], errbuf, errbuf_size) != 0)
            return CF_EINVAL;
    char *table = outbox_table(conn, schema, errbuf, errbuf_size);
    if (!table)
        return CF_EUNAVAIL;
    int rc;
    /* In their order, which the sequence keeps (COPY numbers its rows as
     * they come; the INSERT sorts by the array's order). */
    if (out->n > STAGE_INSERT_MAX) {
        struct cf_pg_copy copy = {0};
        for (size_t i = 0; i < out->n; i++) {
            const struct cf_outbox_msg *m = &out->msgs[i];
            cf_pg_copy_text(&copy, m->topic);
            cf_pg_copy_textn(&copy, m->key, m->keylen);
            cf_pg_copy_textn(&copy, m->value, m->valuelen); /* NULL: a tombstone */
            cf_pg_copy_row_end(&copy);
        }
        char *sql = cf_xasprintf("COPY %s (topic, key, value) FROM STDIN", table);
        rc = cf_pg_copy_send(conn, sql, &copy, errbuf, errbuf_size);
        free(sql);
    } else {
        json_t *rows = json_array();
        for (size_t i = 0; i < out->n; i++) {
            const struct cf_outbox_msg *m = &out->msgs[i];
            json_t *j_key = m->key ? json_stringn(m->key, m->keylen) : json_null();
            json_t *j_value = m->value ? json_stringn(m->value, m->valuelen) : json_null();
            json_array_append_new(rows, json_pack("[s, o, o]", m->topic, j_key, j_value));
        }
        char *sql = cf_xasprintf("INSERT INTO %s (topic, key, value)"
                                 " SELECT e.m->>0, e.m->>1, e.m->>2"
                                 " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(m, n)"
                                 " ORDER BY e.n",
                                 table);
        rc = cf_pg_exec_json(conn, sql, rows, NULL, errbuf, errbuf_size);
        free(sql);
        json_decref(rows);
    }
    free(table);
    return rc;
}

int cf_outbox_stage_commit(PGconn *conn, const char *schema, struct cf_outbox *out, int rc,
                           char *errbuf, size_t errbuf_size)
{
    if (rc == 0)
        rc = cf_outbox_stage(conn, schema, out, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_commit(conn, errbuf, errbuf_size);
    else
        cf_pg_rollback(conn);
    const int n = (int)out->n;
    cf_outbox_free(out);
    return rc == 0 ? n : rc;
}

int cf_outbox_relay(struct cf_producer *producer, PGconn *conn, const char *schema, int limit,
                    char *errbuf, size_t errbuf_size)
{
    char *table = outbox_table(conn, schema, errbuf, errbuf_size);
    if (!table)
        return CF_EUNAVAIL;
    char nlimit[16];
    snprintf(nlimit, sizeof(nlimit), "%d", limit > 0 ? limit : 1);
    PGresult *res = NULL;
    struct cf_kmsg *msgs = NULL;
    char *sql = NULL;
    int n = 0;
    size_t seqs_len = 2;
    /* The two-key form: a lock space apart from the one-key locks the
     * services take on their own keys. */
    const char *lock_params[] = {table};
    int rc = cf_pg_begin(conn, errbuf, errbuf_size);
    /* A relay that hangs (a frozen process, a dead connection) must not
     * keep the lock for hours: its session ends a while after the longest
     * wait for Kafka. */
    if (rc == 0)
        rc = cf_pg_exec(conn, "SET LOCAL idle_in_transaction_session_timeout = '5min'", 0, NULL,
                        NULL, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec(conn,
                        "SELECT pg_try_advisory_xact_lock(hashtext('clinicflow.outbox'),"
                        " hashtext($1))",
                        1, lock_params, &res, errbuf, errbuf_size);
    if (rc != 0 || strcmp(PQgetvalue(res, 0, 0), "t") != 0)
        goto done;
    PQclear(res);
    res = NULL;
    sql = cf_xasprintf("SELECT seq, topic, key, value FROM %s ORDER BY seq LIMIT $1", table);
    const char *params[] = {nlimit};
    rc = cf_pg_exec(conn, sql, 1, params, &res, errbuf, errbuf_size);
    free(sql);
    sql = NULL;
    n = rc == 0 ? PQntuples(res) : 0;
    if (n == 0)
        goto done;
    msgs = cf_xcalloc((size_t)n, sizeof(*msgs));
    for (int i = 0; i < n; i++) {
        msgs[i].topic = PQgetvalue(res, i, 1);
        if (!PQgetisnull(res, i, 2)) {
            msgs[i].key = PQgetvalue(res, i, 2);
            msgs[i].keylen = (size_t)PQgetlength(res, i, 2);
        }
        /* NULL: a tombstone (a compacted topic's erasure), produced as such */
        if (!PQgetisnull(res, i, 3)) {
            msgs[i].value = PQgetvalue(res, i, 3);
            msgs[i].valuelen = (size_t)PQgetlength(res, i, 3);
        }
        seqs_len += (size_t)PQgetlength(res, i, 0) + 1;
    }
    int sent = cf_kafka_produce_batch(producer, msgs, (size_t)n, errbuf, errbuf_size);
    if (n > 1)
        sent = ask_alone(producer, msgs, n, sent, errbuf, errbuf_size);
    /* What leaves the outbox: all of it once Kafka has it all (a failure
     * keeps every row, so the next relay keeps the order), and any message
     * the producer refuses for good (too big, sent alone), which would
     * otherwise stop every event behind it. */
    int only_too_big = 1; /* every failure is a refusal for good */
    for (int i = 0; i < n; i++)
        only_too_big = only_too_big && (msgs[i].err == 0 || msgs[i].err == CF_ETOOBIG);
    char *seqs = cf_xmalloc(seqs_len + 1); /* "{1,2,3}" */
    size_t at = 0;
    int gone = 0;
    seqs[at++] = '{';
    for (int i = 0; i < n; i++) {
        if (!only_too_big && msgs[i].err != CF_ETOOBIG)
            continue;                  /* kept, and sent again in order with the rest */
        if (msgs[i].err == CF_ETOOBIG) /* the value may carry personal data: not logged */
            cf_error("outbox %s: a message of %zu bytes to %s (key %s) is too big for Kafka; "
                     "dropped",
                     table, msgs[i].valuelen, msgs[i].topic,
                     msgs[i].key ? (const char *)msgs[i].key : "none");
        at += (size_t)snprintf(seqs + at, seqs_len + 1 - at, "%s%s", gone++ ? "," : "",
                               PQgetvalue(res, i, 0));
    }
    seqs[at++] = '}';
    seqs[at] = '\0';
    if (gone > 0) {
        sql = cf_xasprintf("DELETE FROM %s WHERE seq = ANY($1::bigint[])", table);
        const char *del_params[] = {seqs};
        rc = cf_pg_exec(conn, sql, 1, del_params, NULL, errbuf, errbuf_size);
        if (rc == 0)
            rc = cf_pg_commit(conn, errbuf, errbuf_size);
    }
    free(seqs);
    if (rc == 0)
        rc = sent != 0 && !only_too_big ? sent : n; /* a failure's reason is in errbuf */
done:
    if (rc <= 0)
        cf_pg_rollback(conn); /* nothing to keep: a rollback ends the lock too */
    PQclear(res);
    free(msgs);
    free(sql);
    free(table);
    return rc;
}
