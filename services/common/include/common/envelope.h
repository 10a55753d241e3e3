/*
 * The CloudEvents 1.0 structured envelope every topic carries (proto/README.md):
 * specversion, id, source, type, subject, time, networkid, clinicid, data.
 * Times are RFC 3339 UTC with milliseconds ("2026-11-22T08:00:00.000Z").
 */
#ifndef CF_COMMON_ENVELOPE_H
#define CF_COMMON_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/hash.h"
#include "common/time.h" /* event times: RFC 3339, the clocks */

struct cf_event {
    char id[CF_UUID_STR_LEN + 1];
    char *source;    /* "/clinicflow/calls/generic/-" */
    char *type;      /* "clinicflow.call.ended" */
    char *subject;   /* entity id */
    int64_t time_ms; /* event time, unix milliseconds UTC */
    char *networkid;
    char *clinicid; /* may be NULL */
    json_t *data;   /* owned reference, never NULL once valid */
};

/* Frees the strings and the data reference; the struct itself is the caller's. */
void cf_event_clear(struct cf_event *ev);

/* Serializes to a compact JSON string (free() it). */
char *cf_event_dumps(const struct cf_event *ev);

/*
 * An event a service derives from one it consumed, as every consumer builds
 * them: the id is uuid5(in_id, kind[, id_extra]), so applying the input
 * again (after a crash, a redelivery) yields the same event; the type is
 * "clinicflow.<kind>" (kind: "call.ended", "task.opened"); the source
 * "/clinicflow/<stage>" (stage: "calls/fold"). id_extra tells apart
 * several events of one kind from one input (another entity's, by its id);
 * clinic_id may be NULL. data is stolen. Whatever ev held is cleared.
 */
void cf_event_derive(struct cf_event *ev, const char *in_id, const char *kind, const char *id_extra,
                     const char *stage, const char *subject, int64_t time_ms,
                     const char *network_id, const char *clinic_id, json_t *data);
/* New reference to the envelope object. */
json_t *cf_event_to_json(const struct cf_event *ev);

/* Parses and validates an envelope from bytes (a Kafka value). On success
 * fills ev (cf_event_clear it) and returns 0; else CF_EINVAL with the reason. */
int cf_event_parse(const void *buf, size_t len, struct cf_event *ev, char *errbuf,
                   size_t errbuf_size);

#endif
