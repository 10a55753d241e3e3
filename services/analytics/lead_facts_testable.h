/*
 * What analytics keeps of a lead, as pure functions of its events
 * (proto/README.md, "Leads, for analysts" and "Analytics reports"). Each
 * lead.* event tells part of a lead: lead.received the whole of it, the
 * others what changed (a merge, the first response, the outcome, the
 * breach). So an event becomes a patch: the analytics.leads columns it
 * sets; the store keeps the other columns as they are. No I/O.
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

#endif
