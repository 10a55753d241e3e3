/*
 * The phone -> patient view a service keeps from clinicflow.patients.v1
 * (a compacted topic keyed by patient id): <schema>.patients and
 * <schema>.patient_contacts (contact key -> patient) as the latest upsert
 * says, a patient deleted on its tombstone (right to erasure), and the
 * patient of a contact with its class at contact time (new, repeat,
 * lapsed), cached in Redis. Each service keeps its own copy in its own
 * schema (CF_PATIENTS_TABLES_SQL in one of its migrations); calls and
 * leads share this code.
 *
 * The cache: an entry is "<version>|<patient JSON or none>" under
 * cf:<schema>:patient-cache:<network>:<contact key>, good only while the
 * contact's version (cf:<schema>:patient-version:<network>:<contact key>)
 * is the one it was read under. The consumer moves the versions of the
 * contacts a batch changed once the batch is over (cf_patients_batch_done):
 * dropping entries inside the transaction would not do, as a lookup made
 * before the commit reads the old rows and caches them again.
 */
#ifndef CF_COMMON_PATIENTS_H
#define CF_COMMON_PATIENTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "common/envelope.h"
#include "common/redis.h"

#define CF_PATIENTS_TABLES_SQL                                                                     \
    "CREATE TABLE patients ("                                                                      \
    " network_id text NOT NULL,"                                                                   \
    " patient_id uuid NOT NULL UNIQUE,"                                                            \
    " last_visit_at timestamptz,"                                                                  \
    " recall_at timestamptz,"                                                                      \
    " doc jsonb NOT NULL,"                                                                         \
    " PRIMARY KEY (network_id, patient_id));"                                                      \
    "CREATE TABLE patient_contacts ("                                                              \
    " network_id text NOT NULL,"                                                                   \
    " contact_key text NOT NULL,"                                                                  \
    " patient_id uuid NOT NULL,"                                                                   \
    " PRIMARY KEY (network_id, contact_key));"                                                     \
    "CREATE INDEX patient_contacts_patient ON patient_contacts (patient_id);"

/* A patient whose last visit is at most this long before the contact is
 * "repeat"; longer ago "lapsed" (DESIGN.md: about six months). */
#define CF_PATIENTS_REPEAT_WITHIN_MS (183LL * 86400 * 1000)

/* An erase's contacts as rows (n, k, u) of a statement. $1 is the array
 * cf_patients_erase_fn gets (below), to which a service may add {"n",
 * "k", "u"}: a number the patient gave up, held until u at least. A
 * contact listed twice is one row, with no u if any listing has none (the
 * view holds it: any time is theirs). */
#define CF_PATIENTS_ERASED_KEYS_SQL                                                                \
    "(SELECT n, k, CASE WHEN bool_and(u IS NOT NULL) THEN max(u) END AS u"                         \
    " FROM jsonb_to_recordset($1::jsonb) AS r(n text, k text, u timestamptz) GROUP BY n, k)"

/* Appends to contacts, for an erase, a row {"n", "k", "u"} (network,
 * contact key, the time the patient held it until at least) of each row
 * of sql, a statement of one parameter ($1: patient_id) giving those three
 * columns: the contacts a service's own records tie to the patient (its
 * calls, its leads). In the caller's transaction. */
int cf_patients_add_held_contacts(PGconn *conn, const char *sql, const char *patient_id,
                                  json_t *contacts, char *errbuf, size_t errbuf_size);

/*
 * Called inside the consumer's transaction when a tombstone deleted a
 * patient: patient_id, and contacts, the array of {"n": network, "k":
 * contact key} the view held for it (maybe empty). What else the service
 * keeps of that person goes here. 0 or an error code (cf_apply_fn's).
 */
typedef int (*cf_patients_erase_fn)(void *arg, PGconn *conn, const char *patient_id,
                                    const json_t *contacts, char *errbuf, size_t errbuf_size);

/* One service's view. schema and redis are the caller's and outlive it;
 * touched is the consumer thread's (NULL to begin with). */
struct cf_patients {
    const char *schema; /* "calls", "leads" */
    struct cf_redis *redis;
    cf_patients_erase_fn erase; /* optional */
    void *erase_arg;
    json_t *touched; /* the version keys the current batch changed */
};

/* Applies one patients.v1 message in the consumer's open transaction on
 * conn (cf_apply_fn's contract; ev NULL for a tombstone, whose key rkm
 * holds): an upsert replaces the patient and its contacts (a contact
 * moves to the patient who declares it last), a tombstone deletes them
 * and calls pv->erase; other event types are not ours (0). */
int cf_patients_apply(struct cf_patients *pv, PGconn *conn, const struct cf_event *ev,
                      const rd_kafka_message_t *rkm, char *errbuf, size_t errbuf_size);

/* The consumer's batch_done: moves the versions of the contacts the batch
 * changed (committed or not: a commit whose answer was lost looks rolled
 * back; a version moved for nothing costs a cache miss). Redis down is
 * logged: old answers then live up to the entries' 300 s. */
void cf_patients_batch_done(struct cf_patients *pv);

/* The patient of a contact as {"patient_id", "last_visit_at"?} (*out, new
 * reference) or *out NULL: Redis first, then conn (the answer cached, none
 * included). 0 or the database error. Blocks; the caller's thread. */
int cf_patients_lookup(struct cf_patients *pv, PGconn *conn, const char *network_id,
                       const char *contact_key, json_t **out, char *errbuf, size_t errbuf_size);

/* The patients of many contacts at once, from PostgreSQL: rows is an
 * array of {"i": place, "n": network, "k": contact key}; *res gets a row
 * (i, patient_id, last visit as Unix ms or NULL, first visit as the MIS
 * gave it or NULL) per contact that has a patient (PQclear it). 0 or the
 * database error. */
int cf_patients_lookup_many(const struct cf_patients *pv, PGconn *conn, const json_t *rows,
                            PGresult **res, char *errbuf, size_t errbuf_size);

/* The patient of row i of a look-up's result, from its column col
 * (patient_id), col + 1 (last visit as Unix ms, or NULL) and col + 2 (first
 * visit, RFC 3339, or NULL): {"patient_id", "last_visit_at"?,
 * "first_visit_at"?}, as cf_patients_lookup gives it (new reference). */
json_t *cf_patients_row(const PGresult *res, int i, int col);

/* The class of a contact at at_ms with patient j_pat (NULL: none): "new"
 * (no patient, or no visit), "repeat" (last visit within
 * CF_PATIENTS_REPEAT_WITHIN_MS before) or "lapsed". A contact classed
 * after the first visit it led to (the MIS's first_visit_at after at_ms)
 * is "new". Pure. */
const char *cf_patients_class(const json_t *j_pat, int64_t at_ms);

#endif
