/*
 * The two ways through a batch's messages in the runner's open transaction
 * (consumer_testable.h): the optimistic one (one dedupe statement, the
 * messages applied at once or one after another, no savepoint) and the
 * careful one (each message under a savepoint, so that a rejected one is
 * undone alone and goes to the DLQ). consumer.c decides which to take and
 * commits.
 */
#include "consumer_testable.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/time.h"
#include "common/topics.h"
#include "common/xmalloc.h"

/* Builds the DLQ entry for message rkm and queues it. ev may be NULL (the
 * envelope did not parse). */
static void dlq_add(struct cf_consumer *c, struct cf_outbox *out, const rd_kafka_message_t *rkm,
                    const struct cf_event *orig, const char *reason_code, const char *reason)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    /* An entry over what the producer takes, or over what Kafka refused,
     * would be refused on every try and stop the partition: it keeps a cut
     * of the value instead. Under a bound learnt from a refusal, to half
     * of it (refused again, the bound halves again), not a byte under. */
    int learnt = 0;
    const size_t limit = cf_consumer_output_limit(c, CF_TOPIC_DLQ, &learnt);
    char *value = cf_consumer_dlq_value_within(c->group_id, topic, rkm, orig, reason_code, reason,
                                               cf_time_now_ms(), learnt ? limit / 2 : limit);
    cf_warn("consumer %s: %s [%" PRId32 "] at offset %" PRId64 " sent to the dlq (%s): %s",
            c->group_id, topic, rkm->partition, rkm->offset, reason_code,
            reason && *reason ? reason : "-");
    const size_t keylen = !rkm->key                       ? 0
                          : rkm->key_len > CF_DLQ_KEY_MAX ? CF_DLQ_KEY_MAX
                                                          : rkm->key_len;
    cf_outbox_push(out, CF_TOPIC_DLQ, rkm->key, keylen, value, strlen(value));
}

/* The index of topic's learnt limit in c->limits, or c->nlimits. */
static size_t limit_slot(const struct cf_consumer *c, const char *topic)
{
    size_t i = 0;
    while (i < c->nlimits && strcmp(c->limits[i].topic, topic) != 0)
        i++;
    return i;
}

size_t cf_consumer_output_limit(const struct cf_consumer *c, const char *topic, int *learnt)
{
    const size_t i = topic ? limit_slot(c, topic) : c->nlimits;
    if (learnt)
        *learnt = i < c->nlimits;
    return i < c->nlimits ? c->limits[i].max : c->max_output;
}

/* The first of out's messages from index from on whose key and value are
 * over what its topic takes (cf_consumer_output_limit), or NULL; *limit
 * gets that limit. Such an output would be refused every time the batch
 * is tried again: the careful way sends the message that made it to the
 * DLQ instead (output_too_large). */
static const struct cf_outbox_msg *too_big(const struct cf_consumer *c, const struct cf_outbox *out,
                                           size_t from, size_t *limit)
{
    for (size_t i = from; i < out->n; i++) {
        *limit = cf_consumer_output_limit(c, out->msgs[i].topic, NULL);
        if (*limit && out->msgs[i].keylen + out->msgs[i].valuelen > *limit)
            return &out->msgs[i];
    }
    return NULL;
}

int cf_consumer_refused_output(struct cf_consumer *c, int err, size_t refused, const char *topic,
                               char *errbuf, size_t errbuf_size)
{
    if (err != CF_ETOOBIG || refused < 2 || !topic)
        return err;
    const size_t limit = cf_consumer_output_limit(c, topic, NULL);
    if (limit == 0 || refused - 1 < limit) {
        cf_warn("consumer %s: Kafka refused an output of %zu bytes to %s (under the producer's"
                " limit): outputs to it of %zu bytes or more now send their input to the dlq",
                c->group_id, refused, topic, refused);
        const size_t i = limit_slot(c, topic);
        if (i == c->nlimits) {
            c->limits = cf_xrealloc(c->limits, (c->nlimits + 1) * sizeof(*c->limits));
            c->limits[c->nlimits++].topic = cf_xstrdup(topic);
        }
        c->limits[i].max = refused - 1;
    }
    snprintf(errbuf, errbuf_size, "Kafka refused an output of %zu bytes to %s as too big", refused,
             topic);
    return CF_CONSUMER_BATCH_REJECTED;
}

/* Runs one statement that must succeed inside the batch transaction. */
static int exec_simple(struct cf_consumer *c, const char *sql, char *errbuf, size_t errbuf_size)
{
    return cf_pg_exec(c->conn, sql, 0, NULL, NULL, errbuf, errbuf_size);
}

/* Undoes the message's work under its savepoint, and ends the savepoint:
 * one rolled back to stays open, and a batch of many rejections would
 * otherwise nest a subtransaction for each until its commit. */
static int undo(struct cf_consumer *c, char *errbuf, size_t errbuf_size)
{
    int err = exec_simple(c, "ROLLBACK TO SAVEPOINT cf_apply", errbuf, errbuf_size);
    return err ? err : exec_simple(c, "RELEASE SAVEPOINT cf_apply", errbuf, errbuf_size);
}

/* What an optimistic batch makes of apply's answer rc (its reason). */
static int apply_answer(int rc, const char *reason, char *errbuf, size_t errbuf_size)
{
    if (rc == CF_EINVAL) {
        snprintf(errbuf, errbuf_size, "a message was rejected: %s", reason);
        return CF_CONSUMER_BATCH_REJECTED;
    }
    if (rc != 0) {
        snprintf(errbuf, errbuf_size, "apply failed (%s): %s", cf_err_name(rc), reason);
        return rc;
    }
    return 0;
}

/* The fast path: the messages to apply (not sent to the DLQ, not applied
 * before) go to the batch apply at once, in their order. */
static int apply_all(struct cf_consumer *c, rd_kafka_message_t **batch,
                     const struct cf_consumer_msg *msgs, size_t n, struct cf_outbox *out,
                     char *errbuf, size_t errbuf_size)
{
    const struct cf_event **evs = cf_xcalloc(n + 1, sizeof(const struct cf_event *));
    const rd_kafka_message_t **rkms = cf_xcalloc(n + 1, sizeof(const rd_kafka_message_t *));
    char reason[512] = "";
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (batch[i]->payload && !msgs[i].apply)
            continue;
        evs[k] = msgs[i].parsed ? &msgs[i].ev : NULL;
        rkms[k++] = batch[i];
    }
    int rc = k ? c->apply_batch(c->ctx, c->conn, evs, rkms, k, out, reason, sizeof(reason)) : 0;
    free(evs);
    free(rkms);
    return apply_answer(rc, reason, errbuf, errbuf_size);
}

/* The optimistic way through a batch: one dedupe statement, no savepoint
 * per message. Returns CF_CONSUMER_BATCH_REJECTED as soon as a message is rejected: the
 * caller rolls back and applies the batch again message by message, so
 * that the rejected one's partial effects are undone alone. */
int cf_consumer_apply_optimistic(struct cf_consumer *c, rd_kafka_message_t **batch, size_t n,
                                 struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    struct cf_consumer_msg *msgs = cf_xcalloc(n, sizeof(*msgs));
    char reason[512] = "";
    int err = 0;

    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *rkm = batch[i];
        if (!rkm->payload)
            continue;
        if (cf_event_parse(rkm->payload, rkm->len, &msgs[i].ev, reason, sizeof(reason)) == 0)
            msgs[i].parsed = 1;
        else
            dlq_add(c, out, rkm, NULL, "invalid_envelope", reason);
    }
    err = cf_consumer_dedupe(c, msgs, n, errbuf, errbuf_size);
    if (!err && c->apply_batch)
        err = apply_all(c, batch, msgs, n, out, errbuf, errbuf_size);
    for (size_t i = 0; i < n && !err && !c->apply_batch; i++) {
        const rd_kafka_message_t *rkm = batch[i];
        if (rkm->payload && !msgs[i].apply)
            continue; /* sent to the DLQ above, or applied before */
        cf_log_set_request_id(msgs[i].parsed ? msgs[i].ev.id : NULL);
        int rc = c->apply(c->ctx, c->conn, msgs[i].parsed ? &msgs[i].ev : NULL, rkm, out, reason,
                          sizeof(reason));
        cf_log_set_request_id(NULL);
        err = apply_answer(rc, reason, errbuf, errbuf_size);
    }
    size_t limit = 0;
    const struct cf_outbox_msg *big = err ? NULL : too_big(c, out, 0, &limit);
    if (big) {
        snprintf(errbuf, errbuf_size, "an output to %s of %zu bytes is over the producer's %zu",
                 big->topic, big->keylen + big->valuelen, limit);
        err = CF_CONSUMER_BATCH_REJECTED;
    }
    for (size_t i = 0; i < n; i++)
        cf_event_clear(&msgs[i].ev);
    free(msgs);
    return err;
}

/* The careful way: applies one message under a savepoint, so that a
 * rejected one, or one whose output is over what the producer takes
 * (output_too_large), is undone alone. As a last resort (the batch kept failing),
 * a conflict is the message's: it is undone and sent to the DLQ as
 * "failed". The event id is recorded as applied under the same savepoint:
 * one sent to the DLQ is not applied, and a replay of it (its cause fixed)
 * must not be skipped. Returns 0 (applied, skipped or sent to the DLQ) or
 * a transient error. */
int cf_consumer_apply_one(struct cf_consumer *c, const rd_kafka_message_t *rkm,
                          struct cf_outbox *out, int last_resort, json_t *seen, char *errbuf,
                          size_t errbuf_size)
{
    struct cf_consumer_msg m = {0};
    char reason[512] = "";
    int err = 0;

    if (rkm->payload) {
        if (cf_event_parse(rkm->payload, rkm->len, &m.ev, reason, sizeof(reason))) {
            dlq_add(c, out, rkm, NULL, "invalid_envelope", reason);
            return 0;
        }
        m.parsed = 1;
        if (seen && json_object_get(seen, m.ev.id)) { /* a repeat within the batch */
            cf_event_clear(&m.ev);
            return 0;
        }
        if (seen)
            json_object_set_new(seen, m.ev.id, json_true());
    }
    cf_log_set_request_id(m.parsed ? m.ev.id : NULL);
    err = exec_simple(c, "SAVEPOINT cf_apply", errbuf, errbuf_size);
    if (err)
        goto out;
    if (m.parsed) {
        err = cf_consumer_dedupe(c, &m, 1, errbuf, errbuf_size);
        if (!err && !m.apply) /* applied before: nothing to undo */
            err = exec_simple(c, "RELEASE SAVEPOINT cf_apply", errbuf, errbuf_size);
        if (err || !m.apply)
            goto out;
    }
    size_t outbox_mark = out->n;
    const struct cf_event *evp = m.parsed ? &m.ev : NULL;
    /* without apply, apply_batch takes the message alone */
    int rc = c->apply ? c->apply(c->ctx, c->conn, evp, rkm, out, reason, sizeof(reason))
                      : c->apply_batch(c->ctx, c->conn, &evp, &rkm, 1, out, reason, sizeof(reason));
    size_t limit = 0;
    const struct cf_outbox_msg *big = rc == 0 ? too_big(c, out, outbox_mark, &limit) : NULL;
    if (big) {
        snprintf(reason, sizeof(reason),
                 "an output to %s of %zu bytes is over the producer's %zu (message.max.bytes)",
                 big->topic, big->keylen + big->valuelen, limit);
        cf_outbox_truncate(out, outbox_mark);
        err = undo(c, errbuf, errbuf_size);
        if (!err)
            dlq_add(c, out, rkm, evp, "output_too_large", reason);
    } else if (rc == 0) {
        err = exec_simple(c, "RELEASE SAVEPOINT cf_apply", errbuf, errbuf_size);
    } else if (rc == CF_EINVAL ||
               (last_resort && rc == CF_ECONFLICT && PQstatus(c->conn) == CONNECTION_OK)) {
        cf_outbox_truncate(out, outbox_mark);
        err = undo(c, errbuf, errbuf_size);
        if (!err && rc == CF_EINVAL) {
            dlq_add(c, out, rkm, evp, "rejected", reason);
        } else if (!err) {
            char failed[600];
            snprintf(failed, sizeof(failed), "%s after %d attempts: %s", cf_err_name(rc),
                     c->failures + 1, reason);
            dlq_add(c, out, rkm, evp, "failed", failed);
        }
    } else {
        snprintf(errbuf, errbuf_size, "apply failed (%s): %s", cf_err_name(rc), reason);
        err = rc;
    }
out:
    cf_log_set_request_id(NULL);
    cf_event_clear(&m.ev);
    return err;
}
