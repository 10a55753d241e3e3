/*
 * The lead fold's rules (lead_rules.c) as pure functions over JSON and the
 * network configuration: whether a request merges into an open lead, the
 * contact keys a request brings, where a lead's ad tags come from, the
 * response clock and the status rules. fold.c applies them; the unit test
 * (tests/unit/leads_rules) checks them one by one. No I/O.
 */
#ifndef CF_LEADS_FOLD_TESTABLE_H
#define CF_LEADS_FOLD_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/envelope.h"
#include "common/hash.h"
#include "common/netconf.h"
#include "common/time.h"

/* The merge window of a clinic (NULL: none known): its lead_merge_window_s
 * when it names a non-negative integer, else default_s (the setting). */
long leads_merge_window_s(const struct cf_clinic *clinic, long default_s);

/* 1 when a request at request_ms merges into an open lead received at
 * received_ms whose last request was at last_ms: window_s > 0 and the
 * request is at most window_s after the last, and at most window_s
 * before the first (one reported out of order, a provider's retry hours
 * late, is within it too; one days older, retried for days, is a
 * request of its own, not part of a lead that came after it). 0
 * otherwise. */
int leads_merges(int64_t received_ms, int64_t last_ms, int64_t request_ms, long window_s);

/* 1 when the request j_fact (a fact's data) stays apart from the lead
 * j_lead whatever the window: the lead's person was erased (erased), and
 * the request was written after it (not stored erased itself). The person
 * writing again gets a lead of their own, one the clinic can answer: the
 * erased lead has no contact, and its tasks were given up. 0 otherwise. */
int leads_apart_by_erasure(const json_t *j_lead, const json_t *j_fact);

/* The contact keys of a fact as [{"kind": phone|email|messenger, "key"}]
 * (new array): each of its contact_keys, and its contact_key (of the kind
 * its strength says) when not among them. Empty when it has none. */
json_t *leads_fact_keys(const json_t *j_fact);

/* A request fact as the erasure of its person leaves it (new object):
 * what the person wrote and how to reach them gone (contact empty, no
 * text or subject, no messenger ids of them or their chat: external),
 * "erased": true, the rest (keys, times, tags) as it was. The fold stores a request of a person
 * erased after it was made this way (leads_store_erased). */
json_t *leads_erased_fact(const json_t *j_fact);

/* Gives the lead j_lead the keys (leads_fact_keys's) of a kind it lacks in
 * its contact_keys; its contact_key becomes the strongest it has (phone,
 * then e-mail, then messenger). 1 when it gained one, else 0. */
int leads_gain_keys(json_t *j_lead, const json_t *keys);

/* Where a new lead's ad tags come from, set on j_lead as "tags" and
 * "attribution": the request's own ad tags (utm_*, gclid, yclid, fbclid)
 * win ("tags"); else the attribution code's tags, j_code_tags (NULL: no
 * code, or unknown or expired), with the request's other tags where the
 * code has none ("code"); else a CTWA referral ("referral"); else "none"
 * (the request's other tags, a referrer or page, still kept). */
void leads_attribute(json_t *j_lead, const json_t *j_fact, const json_t *j_code_tags);

/* The first response: 1 when a response at at_ms is the lead's first
 * after its received_at (none recorded yet, at_ms not before it, nor
 * after its closed_at when it is closed), and then
 * sets responded_at, response_seconds (wall clock) and working_seconds
 * (within hours; NULL: the wall clock) on j_lead. 0 and nothing changed
 * otherwise. */
int leads_respond(json_t *j_lead, int64_t at_ms, const struct cf_time_hours *hours);

/* 1 when j_lead waits for its first response: open, none recorded (a
 * call answered since, or a callback asked, is then for it). */
int leads_awaits_response(const json_t *j_lead);

/* The working hours of a clinic (its working_hours and holidays in its
 * zone): 0 with *out to free (cf_time_hours_free), CF_ENOTFOUND when it
 * names no hours or zone, CF_EINVAL when they do not parse. */
int leads_clinic_hours(const struct cf_clinic *clinic, struct cf_time_hours *out);

/* What a status fact does to a lead: LEADS_STATUS_APPLY (j_lead's status
 * changes), LEADS_STATUS_IGNORE (the lead is closed already: the first
 * outcome stands), or CF_EINVAL with the reason (an unknown status, a
 * lost reason not on the list). */
enum { LEADS_STATUS_IGNORE = 0, LEADS_STATUS_APPLY = 1 };
int leads_status_rule(const json_t *j_lead, const json_t *j_fact, char *errbuf, size_t errbuf_size);
/* Applies an accepted status fact at at_ms: status, reason (lost: the
 * fact's, "other" when it gave none), appointment_id, closed_at (at_ms,
 * but never before received_at; the staff is the fold's: closed_by). */
void leads_close(json_t *j_lead, const json_t *j_fact, int64_t at_ms);

/* A lost lead's reasons, NULL-terminated. */
extern const char *const leads_lost_reasons[];

/* The lock keys the fold takes (new strings): a contact key's,
 * "<network>/<key>", and a lead id's, "lead/<id>" (fold.c says why). */
char *leads_key_lock(const char *network_id, const char *key);
char *leads_lead_lock(const char *lead_id);

/* The id of the lead a request fact fact_id of network_id opens:
 * uuid5(network, "lead", fact id) (README.md). */
void leads_new_lead_id(const char *network_id, const char *fact_id, char out[CF_UUID_STR_LEN + 1]);

/* The plan of a run of request facts evs[0..n) applied at once
 * (fold_batch.c): 1 when every message is a request fact and no fact is
 * in it twice; locks (an array) then gets every lock the run takes, each
 * once (the contact keys' and the lead ids' the requests would open), and
 * keys (an array) each message's leads_fact_keys. One person writing
 * twice in a run is fine: the run merges in memory as the fold would one
 * by one. 0 otherwise: the run goes message by message (locks and keys
 * then hold a part). */
int leads_batch_plan(const struct cf_event *const *evs, size_t n, json_t *locks, json_t *keys);

/* Which of the leads j_leads (an array of lead documents) a request (or
 * a response by contact) dated at_ms holding their keys belongs to, as it
 * would have found them then (a request told late belongs to the lead it
 * was part of, not to a new one already overdue): among the leads open at
 * at_ms (received by then, and open now or closed since), the one with
 * the latest last_message_at; else the lead, open or closed since, that
 * was received first after at_ms (the request was its first message: the
 * merge window before a lead decides); the lowest lead id among equals
 * (as the store's look-up orders them). A lead closed before at_ms never;
 * an open one with no received_at only when nothing else is; none that
 * the request j_fact (NULL: not a request) stays apart from
 * (leads_apart_by_erasure). Its index, or -1 when there is none. */
int leads_pick_open(const json_t *j_leads, int64_t at_ms, const json_t *j_fact);

/* The lead to try when the request does not merge into leads_pick_open's
 * (it was open at at_ms, but the request is beyond its merge window): the
 * lead received first after at_ms, the request its first message as it
 * would have been folded in order. Its index, or -1 when leads_pick_open
 * chose that one already or there is none. */
int leads_pick_next(const json_t *j_leads, int64_t at_ms, const json_t *j_fact);

/* The lead as lead.received publishes it (new reference): the members of
 * lead.json, without the fold's own. */
json_t *leads_public_lead(const json_t *j_lead);

#endif
