/*
 * What analytics keeps of the MIS's records and of the people who contact
 * the clinics, as pure functions (proto/README.md, "Analytics reports"):
 *   - an appointment's row from its appointment.upserted (its latest
 *     version wins in the store; the earliest event time seen is when it
 *     was booked);
 *   - a patient's row (ids and visit dates, nothing personal) and the
 *     contact keys of its phones, from patient.upserted;
 *   - a person's touch: one contact (an inbound call, a lead) of one
 *     contact_key, with its time and attribution. A person's first touch
 *     is the earliest seen, its last non-direct the latest with a source.
 * No I/O.
 */
#ifndef CF_ANALYTICS_MIS_FACTS_TESTABLE_H
#define CF_ANALYTICS_MIS_FACTS_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The analytics.appointments row of an appointment.upserted's data, the
 * event's time being time_ms: a new object, or NULL with the reason (no
 * appointment_id, version or valid starts_at). */
json_t *an_appointment_row(const json_t *data, int64_t time_ms, const char *network_id,
                           const char *tz, char *errbuf, size_t errbuf_size);

/* The analytics.patients row of a patient.upserted's data, with its
 * contact keys ("contact_keys": an array) for analytics.patient_keys. */
json_t *an_patient_row(const json_t *data, const char *network_id, char *errbuf,
                       size_t errbuf_size);

/* A person's touch from a call's analytics row (an_call_row) or a lead's
 * patch (an_lead_patch of a lead.received): {network_id, contact_key, at,
 * hour, clinic_id, source, medium, campaign, channel, class}; NULL when it
 * is not a contact (an outbound call, a call not ended, no contact key). */
json_t *an_touch_of_call(const json_t *call_row);
json_t *an_touch_of_lead(const json_t *lead_patch);

/* Adds touch to touches (a JSON object by network and contact key): the
 * earliest touch of each person is its first, the latest with a source
 * its last non-direct, so a batch writes one row per person. */
void an_touch_add(json_t *touches, const json_t *touch);

/* 1 when a contact's earlier touch (was, of its stored state) had a
 * source that its touch now (NULL: no longer a contact) does not carry at
 * the same person and time: the person's last non-direct touch may have
 * been that one, and no upsert of the new touch replaces it
 * (an_persons_last_again). 0 otherwise (was direct, or the same touch,
 * whatever its source now). */
int an_touch_withdrawn(const json_t *was, const json_t *now);

#endif
