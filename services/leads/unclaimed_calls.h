/*
 * Answered calls that were nobody's response when they ended
 * (unclaimed_calls.c): a call a person answered with a contact that had no
 * open, unanswered lead then, kept for a day in leads.unclaimed_calls.
 * A lead stored later that was received before the call (a webhook a
 * provider retried long after, dated the moment the person wrote) takes the
 * earliest such call of its contact keys, answered at or after it arrived,
 * as its first response, as it would have had it been stored first. The
 * calls consumer writes the rows (call_responses.c), the fold reads and
 * takes them (fold.c, fold_batch.c), the sweeper forgets those a day old.
 * A row holds the call's ids, its contact key and the response fact
 * without the person's number: nothing a tombstone would have to erase.
 */
#ifndef CF_LEADS_UNCLAIMED_CALLS_H
#define CF_LEADS_UNCLAIMED_CALLS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

/* How long an unclaimed call may still become a lead's response. */
#define LEADS_UNCLAIMED_CALL_MAX_S (24 * 3600)

/* Records the call j_call (an event's data on calls.v1) of network_id,
 * answered at answered_ms, as unclaimed: its response fact (the one the
 * calls consumer would have written, without a lead id) kept for a lead
 * stored later. The caller holds its contact key's lock (leads_key_lock's)
 * and found no lead under it. Once per call. */
int leads_unclaimed_call_note(PGconn *conn, const char *network_id, const json_t *j_call,
                              int64_t answered_ms, char *errbuf, size_t errbuf_size);

/* The unclaimed calls of the contact keys rows ([{"n": network, "k":
 * contact key}], their locks held): out (an object) gets "network/key"
 * (leads_key_lock's) -> [{"call_id", "at": answered ms, "fact": the
 * response fact's envelope}], earliest first. */
int leads_unclaimed_calls_of(PGconn *conn, const json_t *rows, json_t *out, char *errbuf,
                             size_t errbuf_size);

/* Of calls (leads_unclaimed_calls_of's), the earliest on one of keys
 * (leads_fact_keys's) of network_id answered at or after received_ms and
 * not in taken (an array of call ids): its entry (borrowed), or NULL. */
const json_t *leads_unclaimed_call_pick(const json_t *calls, const char *network_id,
                                        const json_t *keys, int64_t received_ms,
                                        const json_t *taken);

/* Deletes the unclaimed calls call_ids (an array of ids): a lead took them. */
int leads_unclaimed_calls_take(PGconn *conn, const json_t *call_ids, char *errbuf,
                               size_t errbuf_size);

/* Deletes those answered more than LEADS_UNCLAIMED_CALL_MAX_S ago. */
int leads_unclaimed_calls_expire(PGconn *conn, char *errbuf, size_t errbuf_size);

#endif
