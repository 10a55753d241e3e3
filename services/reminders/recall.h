/*
 * Recall (recall.c): patients not seen for a while asked back by SMS, a
 * clinic at a time; the statements in recall_store.c.
 */
#ifndef CF_REMINDERS_RECALL_H
#define CF_REMINDERS_RECALL_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

/* The worker (cf_service_add_worker). */
void reminders_recall(void *ctx);

/* recall_store.c. Up to limit patients of clinic_id due a recall at now_ms:
 * their last visit (the latest of a completed appointment and the record's
 * last_visit_at) months or more ago, or their doctor-set recall_at come;
 * no future booking; no recall job in the last again_days. *ids a JSON
 * array of patient ids. */
int recall_store_eligible(PGconn *conn, const char *network_id, const char *clinic_id, int months,
                          int again_days, int limit, json_t **ids, char *errbuf,
                          size_t errbuf_size);
/* The jobs ([{"job_id", "patient_id", "due_at", "status", "reason"}]) of
 * clinic_id inserted when new; *inserted the job ids that were. */
int recall_store_jobs(PGconn *conn, const char *network_id, const char *clinic_id,
                      const json_t *jobs, json_t **inserted, char *errbuf, size_t errbuf_size);
/* 1 when this transaction holds the clinic's recall (one instance at a
 * time), 0 when another has it, or an error. */
int recall_store_lock(PGconn *conn, const char *network_id, const char *clinic_id, char *errbuf,
                      size_t errbuf_size);

#endif
