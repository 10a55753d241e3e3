/*
 * The MIS record API's rules as pure functions (mis_rules.c): what a body
 * must hold, the record stored from it, the ids, and the data of the event
 * it becomes. No I/O; the unit tests call them directly.
 */
#ifndef CF_REMINDERS_MIS_TESTABLE_H
#define CF_REMINDERS_MIS_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/hash.h"
#include "common/netconf.h"

#define MIS_ID_MAX 128

/* Whether id is an MIS id we take: 1..MIS_ID_MAX characters of
 * [A-Za-z0-9._:-] (it goes into paths, ids and logs as it is). */
int mis_id_ok(const char *id);

/* The version a body carries: "version" (an integer) or "updated_at" (an
 * RFC 3339 time, as epoch milliseconds); exactly one. 0, or CF_EINVAL with
 * the member in field. */
int mis_version(const json_t *body, int64_t *version, char *field, size_t field_size, char *errbuf,
                size_t errbuf_size);

/* The patient record stored from body (a new object: the version members
 * left out, phones in E.164 without repeats, every consent present, times
 * in UTC) and its version (mis_version), or CF_EINVAL with the offending
 * member in field ("phones", "consents.fax"). net: the key's network (its
 * clinics); default_cc: the country of national number forms. */
int mis_patient_record(const json_t *body, const struct cf_network *net, const char *default_cc,
                       json_t **record, int64_t *version, char *field, size_t field_size,
                       char *errbuf, size_t errbuf_size);

/* The appointment record stored from body, likewise ("treatment_plan.status",
 * "ends_at" before "starts_at"). Its "patient_id" is the MIS's patient id. */
int mis_appointment_record(const json_t *body, const struct cf_network *net, json_t **record,
                           int64_t *version, char *field, size_t field_size, char *errbuf,
                           size_t errbuf_size);

/* The UUID of an appointment record's patient (its "patient_id" is the
 * MIS's): mis_record_id of the patient. */
void mis_appointment_patient(const char *network_id, const json_t *record,
                             char out[CF_UUID_STR_LEN + 1]);

/* Our ids of the MIS's: UUIDv5 over the network, "mis", the kind
 * ("patient", "appointment") and the MIS id. */
void mis_record_id(const char *network_id, const char *kind, const char *mis_id,
                   char out[CF_UUID_STR_LEN + 1]);
/* An event's id: the record id's parts and "v<version>", so a relay sending
 * it again sends the same event. */
void mis_event_id(const char *network_id, const char *kind, const char *mis_id, int64_t version,
                  char out[CF_UUID_STR_LEN + 1]);

/* patient.upserted's data: the record, its ids and version, and the
 * contact_key of each phone (HMAC with the network's secret). */
json_t *mis_patient_data(const json_t *record, const char *patient_id, const char *mis_id,
                         int64_t version, const char *network_secret);

/* appointment.upserted's data: the record with our ids (patient_id the
 * patient's UUID, mis_patient_id the MIS's), its version, and what the
 * stored appointment had before (previous, NULL on the first version):
 * previous_status and previous_starts_at. */
json_t *mis_appointment_data(const json_t *record, const char *appointment_id, const char *mis_id,
                             int64_t version, const char *network_id, const json_t *previous);

#endif
