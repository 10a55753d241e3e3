/*
 * The consumer runner's bookkeeping in PostgreSQL, each a single statement
 * inside the batch's transaction whatever the batch's size: the event ids
 * it applied (the dedupe that makes a redelivered event a no-op) and each
 * partition's next offset, stored and read back (consumer_offsets and
 * applied_events, CF_CONSUMER_TABLES_SQL). Arrays go as PostgreSQL array
 * literals of values that need no quoting (uuids, topic names, numbers).
 */
#include "common/consumer.h"

#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/xmalloc.h"
#include "consumer_testable.h"

/* Appends the elements of an array literal to a growing buffer. */
static void literal_append(char **buf, size_t *len, size_t *cap, const char *text)
{
    size_t tlen = strlen(text);
    if (*len + tlen + 3 > *cap) {
        *cap = (*len + tlen + 3) * 2;
        *buf = cf_xrealloc(*buf, *cap);
    }
    if (*len > 1)
        (*buf)[(*len)++] = ',';
    memcpy(*buf + *len, text, tlen);
    *len += tlen;
    (*buf)[*len] = '\0';
}

static char *literal_end(char *buf, size_t len)
{
    buf[len] = '}';
    buf[len + 1] = '\0';
    return buf;
}

void cf_consumer_offsets_literals(const rd_kafka_topic_partition_list_t *nexts,
                                  const rd_kafka_topic_partition_list_t *stored, char **topics,
                                  char **partitions, char **offsets, char **expected)
{
    size_t tlen = 1, tcap = 64, plen = 1, pcap = 64, olen = 1, ocap = 64, elen = 1, ecap = 64;
    char *t = cf_xmalloc(tcap), *p = cf_xmalloc(pcap), *o = cf_xmalloc(ocap), *e = cf_xmalloc(ecap);
    t[0] = p[0] = o[0] = e[0] = '{';
    for (int i = 0; i < nexts->cnt; i++) {
        /* Kafka allows only [a-zA-Z0-9._-] in topic names: quoted anyway,
         * nothing in them to escape. */
        char topic[256 + 2], partition[16], offset[32], was[32] = "NULL";
        const rd_kafka_topic_partition_t *known =
            stored ? rd_kafka_topic_partition_list_find(stored, nexts->elems[i].topic,
                                                        nexts->elems[i].partition)
                   : NULL;
        snprintf(topic, sizeof(topic), "\"%s\"", nexts->elems[i].topic);
        snprintf(partition, sizeof(partition), "%" PRId32, nexts->elems[i].partition);
        snprintf(offset, sizeof(offset), "%" PRId64, nexts->elems[i].offset);
        if (known)
            snprintf(was, sizeof(was), "%" PRId64, known->offset);
        literal_append(&t, &tlen, &tcap, topic);
        literal_append(&p, &plen, &pcap, partition);
        literal_append(&o, &olen, &ocap, offset);
        literal_append(&e, &elen, &ecap, was);
    }
    *topics = literal_end(t, tlen);
    *partitions = literal_end(p, plen);
    *offsets = literal_end(o, olen);
    *expected = literal_end(e, elen);
}

/* One statement for all the partitions of the batch: the runner's round
 * trips per batch do not grow with its partitions. Each row moves only
 * from the offset the runner knows to be stored (none: the row is new),
 * so a runner whose knowledge is stale moves none: another runner took the
 * partition over while this one's batch outlived max.poll.interval.ms (a
 * runner the group no longer counts, yet still running its batch), or an
 * operator sent the group back or on. Under READ COMMITTED an UPDATE that
 * waited for another transaction's row checks its condition against the
 * row that transaction committed, so two runners of one partition never
 * both move it from the same offset. */
int cf_consumer_store_offsets(struct cf_consumer *c, const rd_kafka_topic_partition_list_t *nexts,
                              char *errbuf, size_t errbuf_size)
{
    if (nexts->cnt == 0)
        return 0;
    char *sql = cf_xasprintf(
        "WITH u AS (SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[])"
        " AS u(t, p, o, e)),"
        " moved AS (UPDATE %s.consumer_offsets s SET next_offset = u.o, updated_at = now()"
        " FROM u WHERE s.group_id = $1 AND s.topic = u.t AND s.partition = u.p"
        " AND s.next_offset = u.e RETURNING 1),"
        " added AS (INSERT INTO %s.consumer_offsets (group_id, topic, partition, next_offset)"
        " SELECT $1, t, p, o FROM u WHERE e IS NULL ON CONFLICT DO NOTHING RETURNING 1)"
        " SELECT (SELECT count(*) FROM moved) + (SELECT count(*) FROM added)",
        c->ident, c->ident);
    char *topics, *partitions, *offsets, *expected;
    cf_consumer_offsets_literals(nexts, c->stored, &topics, &partitions, &offsets, &expected);
    const char *params[] = {c->group_id, topics, partitions, offsets, expected};
    PGresult *res = NULL;
    int err = cf_pg_exec(c->conn, sql, 5, params, &res, errbuf, errbuf_size);
    if (!err && strtol(PQgetvalue(res, 0, 0), NULL, 10) != nexts->cnt) {
        cf_seterr(errbuf, errbuf_size,
                  "the stored offsets of the batch's partitions are no longer %s (another runner"
                  " took a partition over, or an operator moved the group)",
                  expected);
        err = CF_CONSUMER_FENCED;
    }
    PQclear(res);
    free(topics);
    free(partitions);
    free(offsets);
    free(expected);
    free(sql);
    return err;
}

void cf_consumer_stored_note(struct cf_consumer *c, const rd_kafka_topic_partition_list_t *nexts)
{
    if (!c->stored)
        c->stored = rd_kafka_topic_partition_list_new(nexts->cnt);
    for (int i = 0; i < nexts->cnt; i++) {
        const char *topic = nexts->elems[i].topic;
        const int32_t partition = nexts->elems[i].partition;
        rd_kafka_topic_partition_t *known =
            rd_kafka_topic_partition_list_find(c->stored, topic, partition);
        if (!known)
            known = rd_kafka_topic_partition_list_add(c->stored, topic, partition);
        known->offset = nexts->elems[i].offset;
    }
}

int cf_consumer_stored_offsets(PGconn *conn, const char *schema, const char *group_id,
                               const char *topic, int64_t *next_offsets, int npartitions,
                               char *errbuf, size_t errbuf_size)
{
    assert(npartitions >= 0);
    for (int p = 0; p < npartitions; p++)
        next_offsets[p] = 0;
    char *ident = PQescapeIdentifier(conn, schema, strlen(schema));
    if (!ident) {
        snprintf(errbuf, errbuf_size, "stored offsets: %s", PQerrorMessage(conn));
        return CF_EUNAVAIL;
    }
    char *sql = cf_xasprintf("SELECT partition, next_offset FROM %s.consumer_offsets"
                             " WHERE group_id = $1 AND topic = $2",
                             ident);
    PQfreemem(ident);
    PGresult *res = NULL;
    const char *params[] = {group_id, topic};
    int err = cf_pg_exec(conn, sql, 2, params, &res, errbuf, errbuf_size);
    free(sql);
    for (int i = 0; !err && i < PQntuples(res); i++) {
        long p = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (p >= 0 && p < npartitions)
            next_offsets[p] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    }
    PQclear(res);
    return err;
}

char *cf_consumer_ids_literal(const struct cf_consumer_msg *msgs, size_t n)
{
    size_t nids = 0;
    for (size_t i = 0; i < n; i++)
        nids += msgs[i].parsed;
    if (nids == 0)
        return NULL;
    /* The ids are validated UUIDs, nothing to escape. */
    char *ids = cf_xmalloc(nids * (CF_UUID_STR_LEN + 1) + 3), *p = ids;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].parsed)
            continue;
        if (p > ids + 1)
            *p++ = ',';
        memcpy(p, msgs[i].ev.id, CF_UUID_STR_LEN);
        p += CF_UUID_STR_LEN;
    }
    *p++ = '}';
    *p = '\0';
    return ids;
}

size_t cf_consumer_mark_new(struct cf_consumer_msg *msgs, size_t n, const char *const *ids,
                            size_t nids)
{
    /* Few rows per batch (at most the batch size): a scan per message is
     * cheaper than building a set. Each returned id is claimed once. */
    char *claimed = cf_xcalloc(nids + 1, 1);
    size_t marked = 0;
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].parsed)
            continue;
        for (size_t r = 0; r < nids; r++) {
            if (!claimed[r] && strcmp(ids[r], msgs[i].ev.id) == 0) {
                claimed[r] = 1;
                msgs[i].apply = 1;
                marked++;
                break;
            }
        }
    }
    free(claimed);
    return marked;
}

/* Marks which parsed messages to apply: one statement records every event
 * id of the batch as applied and returns those it had not seen; a repeated
 * id within the batch is applied at its first occurrence only. */
int cf_consumer_dedupe(struct cf_consumer *c, struct cf_consumer_msg *msgs, size_t n, char *errbuf,
                       size_t errbuf_size)
{
    char *ids = cf_consumer_ids_literal(msgs, n);
    if (!ids)
        return 0;
    char *sql = cf_xasprintf("INSERT INTO %s.applied_events (group_id, event_id)"
                             " SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING"
                             " RETURNING event_id::text",
                             c->ident);
    const char *params[] = {c->group_id, ids};
    PGresult *res = NULL;
    int err = cf_pg_exec(c->conn, sql, 2, params, &res, errbuf, errbuf_size);
    free(sql);
    free(ids);
    if (err)
        return err;
    size_t rows = (size_t)PQntuples(res);
    const char **returned = cf_xcalloc(rows + 1, sizeof(*returned));
    for (size_t r = 0; r < rows; r++)
        returned[r] = PQgetvalue(res, (int)r, 0);
    size_t nparsed = 0;
    for (size_t i = 0; i < n; i++)
        nparsed += msgs[i].parsed;
    size_t marked = cf_consumer_mark_new(msgs, n, returned, rows);
    if (marked < nparsed)
        cf_debug("consumer %s: %zu events already applied, skipped", c->group_id, nparsed - marked);
    free(returned);
    PQclear(res);
    return 0;
}
