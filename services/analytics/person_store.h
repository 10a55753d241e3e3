/*
 * The statements on analytics.persons and analytics.person_keys: each one
 * over a whole batch, inside the caller's transaction. 0, or the
 * cf_pg_exec code with the reason in errbuf.
 *
 * A person is one row of persons under their key; person_keys holds the
 * other keys a lead showed them by (lead_facts_testable.h, "One person,
 * several keys"), each bound to the person's key directly (never to
 * another alias).
 */
#ifndef CF_ANALYTICS_PERSON_STORE_H
#define CF_ANALYTICS_PERSON_STORE_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

/* The people's touches (an_touch_add's object): first and last
 * non-direct touch kept, whichever order they arrive in. */
int an_persons_touch(PGconn *conn, const json_t *touches, char *errbuf, size_t errbuf_size);

/* The last non-direct touch of the persons under keys (an array of
 * {network_id, contact_key}) read again from their contacts: the latest
 * inbound call or lead with a source, none when no contact has one. For
 * people whose touch that may have been lost its source
 * (an_touch_withdrawn): an upsert keeps the latest touch it was given, so
 * it cannot take one back. The rows are locked first, so the contacts
 * are read with what every other batch touching those people committed. */
int an_persons_last_again(PGconn *conn, const json_t *keys, char *errbuf, size_t errbuf_size);

/* Locks keys (an array of {network_id, contact_key}) for the rest of the
 * transaction, in one order whoever asks, so that no alias is made while
 * another batch reads it; then *out: the aliases among them, a new array
 * of {network_id, contact_key, person_key}. */
int an_person_keys_load(PGconn *conn, const json_t *keys, json_t **out, char *errbuf,
                        size_t errbuf_size);

/* Stores new aliases (an array of {network_id, contact_key, person_key},
 * each key locked by an_person_keys_load and no alias before): aliases of
 * them now name their person. */
int an_person_keys_link(PGconn *conn, const json_t *links, char *errbuf, size_t errbuf_size);

/* an_persons_touch, with the persons rows of the new aliases (links, as
 * an_person_keys_link's) folded into their persons' (the earliest first
 * touch, the latest last one) in the same statement. */
int an_persons_touch_folding(PGconn *conn, const json_t *touches, const json_t *links, char *errbuf,
                             size_t errbuf_size);

#endif
