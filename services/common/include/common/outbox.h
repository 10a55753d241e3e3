/*
 * The outbox: events a piece of work decided, collected while it runs and
 * produced only once it is over. A consumer's apply adds its output events
 * to the runner's outbox, which the runner produces (deterministic ids) and
 * has acknowledged before it commits the input; a rejected message's
 * entries are rewound. Work that decides on its own (a sweeper) stages its
 * outbox in PostgreSQL with the decision, and a relay produces it after the
 * commit (the transactional outbox below).
 */
#ifndef CF_COMMON_OUTBOX_H
#define CF_COMMON_OUTBOX_H

#include <stddef.h>

#include <libpq-fe.h>

#include "common/envelope.h"
#include "common/kafka.h"

/* One message to produce. */
struct cf_outbox_msg {
    char *topic;
    void *key;
    size_t keylen;
    char *value;
    size_t valuelen;
    /* the envelope's type when cf_outbox_add queued it, else NULL: a
     * reader of the outbox (leads' tasks) passes over the kinds it does
     * not act on without parsing them */
    char *type;
    /* the event itself when cf_outbox_add_kept queued it, else NULL: a
     * reader of the outbox in the same batch (leads' tasks) takes it as it
     * was queued instead of parsing value back. Read-only: its data may
     * share values with other trees, whose writers replace a shared value
     * and never change one in place. */
    struct cf_event *event;
};

/* The queue; callers read n and msgs, and change it only through the
 * functions below. A zeroed struct is an empty outbox: release it with
 * cf_outbox_truncate(out, 0) and free(out->msgs), or use cf_outbox_new. */
struct cf_outbox {
    struct cf_outbox_msg *msgs;
    size_t n;
    size_t cap;
};

/* Serializes ev now and queues it for topic with the given key. */
void cf_outbox_add(struct cf_outbox *out, const char *topic, const char *key,
                   const struct cf_event *ev);

/* cf_outbox_add that also keeps ev on the message (event above), taking
 * what ev held: ev is left cleared. */
void cf_outbox_add_kept(struct cf_outbox *out, const char *topic, const char *key,
                        struct cf_event *ev);

/* An outbox of one's own, for work outside a runner that emits what apply
 * functions emit (a sweeper): produce it, then commit, then free it. */
struct cf_outbox *cf_outbox_new(void);
void cf_outbox_free(struct cf_outbox *out);

/* The smallest message the broker refused as too big even sent alone:
 * its size (key and value; 0: none) and its topic (out's string, valid
 * while out holds it). */
struct cf_outbox_refused {
    size_t bytes;
    const char *topic;
};

/* Produces every queued message and waits for each acknowledgement. A
 * message the broker refuses as too big is sent again alone (its limit is
 * a record batch's: small messages are refused with a big one); *refused,
 * when not NULL, gets the smallest message refused alone too (bytes 0
 * when none): sending that one again cannot help. */
int cf_outbox_produce(struct cf_producer *producer, const struct cf_outbox *out,
                      struct cf_outbox_refused *refused, char *errbuf, size_t errbuf_size);

/*
 * A transactional outbox, for work that decides on its own (a sweeper)
 * rather than re-applying an input after a failure: what it decided and
 * what it tells Kafka must not disagree when the commit or the produce
 * fails. The decision and its events commit together; the events are
 * produced after the commit, and again until Kafka has acknowledged them
 * (at least once, with their deterministic ids). A consumer runner does
 * not need this: a failed commit re-applies the input.
 *
 * Table it needs in the service schema (a migration of the service):
 *   outbox(seq, topic, key, value, staged_at)
 */
#define CF_OUTBOX_TABLE_SQL                                                                        \
    "CREATE TABLE IF NOT EXISTS outbox ("                                                          \
    " seq bigserial PRIMARY KEY, topic text NOT NULL, key text, value text NOT NULL,"              \
    " staged_at timestamptz NOT NULL DEFAULT now());"

/* Writes every queued message to schema.outbox in the caller's open
 * transaction on conn. CF_EINVAL for a key that is not text. */
int cf_outbox_stage(PGconn *conn, const char *schema, const struct cf_outbox *out, char *errbuf,
                    size_t errbuf_size);

/* Ends the caller's transaction on conn by how its work went (rc): when
 * rc is 0, out staged in schema.outbox and committed with the work, else
 * everything rolled back. Frees out. Returns how many messages were
 * staged, or the error. */
int cf_outbox_stage_commit(PGconn *conn, const char *schema, struct cf_outbox *out, int rc,
                           char *errbuf, size_t errbuf_size);

/* Produces up to limit staged messages of schema.outbox, oldest first, and
 * deletes them once all are acknowledged, in a transaction of its own on
 * conn (held while Kafka acknowledges, up to the delivery wait). One relay
 * per schema at a time (a lock taken only if free, so instances do not
 * reorder each other's messages). Returns how many were produced (0 when
 * none waited or another relay holds the lock), or an error: the messages
 * stay staged for the next relay, but for one the producer refuses for
 * good (too big, when sent alone: the broker refuses a whole batch for
 * one message in it), which is logged (its size, topic and key, never its
 * value) and dropped. */
int cf_outbox_relay(struct cf_producer *producer, PGconn *conn, const char *schema, int limit,
                    char *errbuf, size_t errbuf_size);

/* Queues a message of raw bytes: key is copied, value (valuelen bytes,
 * from malloc) is taken. A NULL value is a tombstone; staging one needs an
 * outbox table whose value column takes NULL. */
void cf_outbox_push(struct cf_outbox *out, const char *topic, const void *key, size_t keylen,
                    char *value, size_t valuelen);

/* Drops the entries from index keep on (the output of an apply that was
 * rejected: keep is out->n as it was before the apply). */
void cf_outbox_truncate(struct cf_outbox *out, size_t keep);

#endif
