/*
 * Calls a person answered with a contact of the network, and the lead
 * each answered (answered_calls.c), kept for a day in leads.answered_calls.
 * A call that found the contact's open, unanswered lead is recorded with
 * that lead; one that found none once the fold had caught up is recorded
 * unclaimed. A lead stored later that was received before such an
 * unclaimed call (a webhook a provider retried long after, dated the
 * moment the person wrote) takes the earliest of its contact keys',
 * answered at or after it arrived, as its first response, as it would
 * have had it been stored first; the call is then that lead's. A call is
 * one lead's response at most: a later event of it (call.updated) finds
 * it recorded and answers nothing again. The calls consumer writes the
 * rows (call_responses.c), the fold claims them (fold.c, fold_batch.c),
 * the sweeper forgets those a day old. A row holds the call's ids, its
 * contact key and the response fact without the person's number: nothing
 * a tombstone would have to erase.
 */
#ifndef CF_LEADS_ANSWERED_CALLS_H
#define CF_LEADS_ANSWERED_CALLS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/hash.h"

/* How long an unclaimed call may still become a lead's response, and how
 * long before the call that lead may have been received. */
#define LEADS_ANSWERED_CALL_MAX_S (24 * 3600)

/* Records the call j_call (an event's data on calls.v1) of network_id,
 * answered at answered_ms: as lead_id's response, or unclaimed (lead_id
 * NULL) with its response fact (the one the calls consumer would have
 * written, without a lead id) kept for a lead stored later; an unclaimed
 * one is recorded under its contact key's lock (leads_key_lock's), held
 * by the caller, which found no lead under it. *recorded gets 1 when the
 * call is new here, or was recorded as nobody's and lead_id takes it now
 * (the lead gained its contact since the call's first event); 0 when its
 * response was decided before (nothing to do again). 0, or the database
 * error. */
int leads_answered_call_note(PGconn *conn, const char *network_id, const json_t *j_call,
                             int64_t answered_ms, const char *lead_id, int *recorded, char *errbuf,
                             size_t errbuf_size);

/* The unclaimed calls of the contact keys rows ([{"n": network, "k":
 * contact key}], their locks held) answered within the last
 * LEADS_ANSWERED_CALL_MAX_S: out (an object) gets "network/key"
 * (leads_key_lock's) -> [{"call_id", "at": answered ms, "fact": the
 * response fact's envelope}], earliest first. */
int leads_answered_calls_unclaimed(PGconn *conn, const json_t *rows, json_t *out, char *errbuf,
                                   size_t errbuf_size);

/* The call a new lead j_lead (its keys, leads_fact_keys's; network_id)
 * takes of calls (leads_answered_calls_unclaimed's): the earliest of its
 * keys' answered at or after it was received, and at most
 * LEADS_ANSWERED_CALL_MAX_S after, that no lead of claims ([{"call_id",
 * "lead_id"}]) took. Its fact goes among envelopes (the facts waiting for
 * the lead, in their order) before the first one dated after the call, so
 * the lead's first response is the earliest, and the call is appended to
 * claims. 1 when the lead took one, else 0. */
int leads_answered_call_take(const json_t *calls, const char *network_id, const json_t *keys,
                             const json_t *j_lead, json_t *envelopes, json_t *claims);

/* Takes back the last of claims if it is j_lead's and the lead's response
 * is not that call (the facts before it closed the lead, or answered it
 * already): the call stays free for another lead. */
void leads_answered_call_untaken(json_t *claims, const json_t *j_lead);

/* Records the calls claims ([{"call_id", "lead_id"}]) as the leads'. */
int leads_answered_calls_claim(PGconn *conn, const json_t *claims, char *errbuf,
                               size_t errbuf_size);

/* Deletes those answered more than LEADS_ANSWERED_CALL_MAX_S ago. */
int leads_answered_calls_expire(PGconn *conn, char *errbuf, size_t errbuf_size);

#endif
