/*
 * What analytics keeps of a lead, as pure functions of its events
 * (proto/README.md, "Leads, for analysts" and "Analytics reports"). Each
 * lead.* event tells part of a lead: lead.received the whole of it as it
 * opened (its patch marked initial: on a lead stored already, it fills
 * only what is missing), the others what changed (a merge, the first
 * response, the outcome, the breach). So an event becomes a patch: the
 * analytics.leads columns it sets; the store keeps the other columns as
 * they are. No I/O.
 */
#ifndef CF_ANALYTICS_LEAD_FACTS_TESTABLE_H
#define CF_ANALYTICS_LEAD_FACTS_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The patch of one lead.* event (type, its data, its time time_ms) in
 * network network_id, hours in zone tz: a new object with lead_id and
 * network_id and the columns the event sets; an empty object for a lead.*
 * type it does not read; NULL with the reason when the event cannot be
 * placed (no lead_id, a lead.received without a valid received_at). */
json_t *an_lead_patch(const char *type, const json_t *data, int64_t time_ms, const char *network_id,
                      const char *tz, char *errbuf, size_t errbuf_size);

/* Merges patch, a lead's later event in a batch, into have, the batch's
 * patch of the same lead so far: the later event's columns win, but an
 * initial patch (a lead.received after the lead's other events) does not
 * undo the requests counted, the status, the breach or the key that they
 * set, as the store does not (lead_store.c's LATER columns). */
void an_lead_patch_merge(json_t *have, const json_t *patch);

#endif
