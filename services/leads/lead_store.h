/*
 * The lead fold's store (lead_store.c): every statement the fold runs, on
 * the fold consumer's connection inside its transaction. Not used outside
 * the fold, the patients view's erasure, the expiry of waiting facts
 * (pending.c) and the calls consumer, which takes a contact key's lock
 * (call_responses.c).
 */
#ifndef CF_LEADS_LEAD_STORE_H
#define CF_LEADS_LEAD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "common/envelope.h"

/* Whether the lead row alias's person was erased (leads_store_erase
 * marks the document): SQL, for the statements of other parts that must
 * not keep what the erasure took (notify.c, notify_send.c). */
#define LEADS_ERASED_SQL(alias) "(" alias ".doc->>'erased') = 'true'"

/* Takes, in one sorted round, the transaction locks of the contact keys
 * (a JSON array of "network/contact key"), so two instances folding
 * requests of one person never open two leads: each waits for the other's
 * commit and then finds its lead. Blocks until all are held. */
int leads_store_lock_keys(PGconn *conn, const json_t *locks, char *errbuf, size_t errbuf_size);

/* Tries the transaction lock of one contact key ("network/contact key")
 * without waiting: 1 when held now, 0 when another transaction holds it,
 * or the database error. For a transaction that takes keys one at a time
 * (call_responses.c): waiting there, with other keys held, could deadlock
 * with a fold's sorted round. */
int leads_store_try_lock_key(PGconn *conn, const char *lock, char *errbuf, size_t errbuf_size);

/* The lead of network_id holding any of keys (an array of strings) that a
 * fact dated at_ms (j_fact: a request's data, or NULL) belongs to
 * (leads_pick_open's), FOR UPDATE with the
 * person's other candidates: 0 with *out (new reference),
 * CF_ENOTFOUND, or the database error. next (NULL: not asked) gets the
 * lead to try when the request does not merge into *out
 * (leads_pick_next's, new reference), or NULL. */
int leads_store_find_open(PGconn *conn, const char *network_id, const json_t *keys, int64_t at_ms,
                          const json_t *j_fact, json_t **out, json_t **next, char *errbuf,
                          size_t errbuf_size);

/* Every open lead holding one of the contact keys rows ([{"n": network,
 * "k": contact key, "t": the fact's time, Unix ms}]), and every lead
 * closed at or after the key's earliest t (leads_pick_open decides, for
 * each fact, which of them was its lead), FOR UPDATE in lead id order: leads (an object) gets lead
 * id -> its document for each one it lacks, and by_key (an object) "network/key" (leads_key_lock)
 * -> the ids of the leads holding it. A run of requests looks its people up in one statement. */
int leads_store_find_open_by_keys(PGconn *conn, const json_t *rows, json_t *leads, json_t *by_key,
                                  char *errbuf, size_t errbuf_size);

/* The lead lead_id FOR UPDATE: 0 with *out, CF_ENOTFOUND, CF_EINVAL when it
 * is another network's (never touched), or the database error. */
int leads_store_load(PGconn *conn, const char *lead_id, const char *network_id, json_t **out,
                     char *errbuf, size_t errbuf_size);

/* Inserts or replaces the lead row from its document, and records keys
 * (leads_fact_keys's) as its contacts. With pending_out (a lead's first
 * save), also takes the facts of its network waiting for it in
 * leads.pending_facts: *pending_out gets their envelopes (strings, in
 * their order on leads.raw), an empty array when none. */
int leads_store_save(PGconn *conn, const char *network_id, const json_t *j_lead, const json_t *keys,
                     json_t **pending_out, char *errbuf, size_t errbuf_size);

/* leads_store_save of many leads at once, without taking waiting facts:
 * rows is [{"n": network, "doc": the lead's document, "keys": the keys to
 * record or null}], each lead once. */
int leads_store_save_many(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);

/* The facts waiting for any of the leads rows ([{"l": lead id, "n":
 * network}]), in their order on leads.raw: out (an object) gets lead id ->
 * [{"event_id", "event": the envelope}]. Their rows stay, locked until the
 * transaction ends, so that the expiry (which skips locked rows) cannot
 * send one to the DLQ that the run applies; one the expiry holds is
 * waited for, and is gone once it commits. A run takes those of the leads
 * it opens (leads_store_take_pending); a request that merged opened none,
 * and the facts waiting for its id wait on. */
int leads_store_pending_of(PGconn *conn, const json_t *rows, json_t *out, char *errbuf,
                           size_t errbuf_size);

/* Deletes the waiting facts event_ids (an array of ids): applied now. */
int leads_store_take_pending(PGconn *conn, const json_t *event_ids, char *errbuf,
                             size_t errbuf_size);

/* Keeps the fact ev (message rkm) naming lead_id, not stored, in
 * leads.pending_facts until the lead's first save takes it or it expires
 * (pending.c). Once only: a second time changes nothing. */
int leads_store_pend(PGconn *conn, const struct cf_event *ev, const rd_kafka_message_t *rkm,
                     const char *lead_id, char *errbuf, size_t errbuf_size);

/* The ad tags bound to attribution code in network_id, good at at_ms
 * (leads.codes, README.md): 0 with *out a new object, or NULL when the
 * code is unknown, expired, another network's or the table is not there
 * yet; or the database error. */
int leads_store_code_tags(PGconn *conn, const char *network_id, const char *code, int64_t at_ms,
                          json_t **out, char *errbuf, size_t errbuf_size);

/* Appends to contacts (an array of {"n": network, "k": contact key})
 * every contact key of the leads the fold found patient_id by, each with
 * "u": the last message of such a lead (the person held the key until then
 * at least). In the caller's transaction. */
int leads_store_patient_contacts(PGconn *conn, const char *patient_id, json_t *contacts,
                                 char *errbuf, size_t errbuf_size);

/* Erases a person's data from the leads of patient_id, and from those
 * holding one of contacts ([{"n": network, "k": contact key} and, for a
 * key given up, "u"]) that name no patient and came no later than u:
 * contact, text, subject and external leave the documents (lead ids,
 * times, keys and tags stay). In the caller's transaction. */
int leads_store_erase(PGconn *conn, const char *patient_id, const json_t *contacts, char *errbuf,
                      size_t errbuf_size);

/* Which requests are of a person erased since: rows ([{"e": the
 * request's number, "n": network, "k": one of its contact keys, "t": its
 * time in ms}]) matched against leads.erasures (an erasure of the key
 * came after the request, while the person held the key); erased (an
 * object) gets "<e>": true for each. The fold then stores the request
 * erased (leads_erased_fact). In the caller's transaction, after the
 * keys' locks: an erasure that waited for them comes after this fold's
 * commit and finds its lead stored. */
int leads_store_erased(PGconn *conn, const json_t *rows, json_t *erased, char *errbuf,
                       size_t errbuf_size);

/* The erasure as the patients view calls it on a tombstone
 * (cf_patients_erase_fn). */
int leads_erase_person(void *arg, PGconn *conn, const char *patient_id, const json_t *contacts,
                       char *errbuf, size_t errbuf_size);

#endif
