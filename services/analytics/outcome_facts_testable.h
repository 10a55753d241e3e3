/*
 * What analytics keeps of reminders.outcomes.v1, as pure functions
 * (proto/README.md, "Analytics reports"): each event is one row of its own
 * (a send's outcome, a campaign member, an NPS answer), keyed by what
 * makes it once (the event id, the job), so a batch inserts them and a
 * repeat inserts nothing. No I/O.
 */
#ifndef CF_ANALYTICS_OUTCOME_FACTS_TESTABLE_H
#define CF_ANALYTICS_OUTCOME_FACTS_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum an_outcome_kind { AN_OUTCOME_SEND, AN_OUTCOME_MEMBER, AN_OUTCOME_NPS, AN_OUTCOME_OTHER };

/* Which table an event type goes to (AN_OUTCOME_OTHER: none). */
enum an_outcome_kind an_outcome_kind_of(const char *type);

/* The row of a reminders.outcomes.v1 event (its id, time, network, data)
 * in zone tz for its kind: a new object, or NULL with the reason (a
 * member missing from the schema's required ones). */
json_t *an_outcome_row(enum an_outcome_kind kind, const char *event_id, int64_t time_ms,
                       const json_t *data, const char *network_id, const char *tz, char *errbuf,
                       size_t errbuf_size);

#endif
