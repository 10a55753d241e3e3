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

/* recall_store.c. Up to limit patients of clinic_id, in patient id order
 * after `after` (a UUID; the nil UUID from the start), who may be due a
 * recall at now_ms: their doctor-set recall_at come, or a visit (a
 * category's latest completed appointment, or the record's last_visit_at)
 * min_months or more ago; no future booking; no recall job in the last
 * again_days. recall_due decides which are. *candidates a JSON array of
 * {"patient_id", "recall_at", "last_visit_at", "visits"} (recall_due's
 * shape, times in Unix milliseconds). */
int recall_store_candidates(PGconn *conn, const char *network_id, const char *clinic_id,
                            int64_t now_ms, int min_months, int again_days, const char *after,
                            int limit, json_t **candidates, char *errbuf, size_t errbuf_size);
/* How many campaign jobs of clinic_id the next hour's budget is already
 * spoken for by: every pending recall (one waiting for its turn, put off
 * hour after hour by the pace, included: while the windows are closed all
 * of them wait for the same opening) and the re-invites due within the
 * hour after next_ms, the next window moment (a re-invite due in two days
 * takes none of it). */
int recall_store_pending(PGconn *conn, const char *network_id, const char *clinic_id,
                         int64_t now_ms, int *pending, char *errbuf, size_t errbuf_size);
/* The jobs ([{"job_id", "patient_id", "due_at", "status", "reason"}]) of
 * clinic_id inserted when new; *inserted the job ids that were. */
int recall_store_jobs(PGconn *conn, const char *network_id, const char *clinic_id,
                      const json_t *jobs, json_t **inserted, char *errbuf, size_t errbuf_size);
/* 1 when this transaction holds the clinic's recall (one instance at a
 * time), 0 when another has it, or an error. */
int recall_store_lock(PGconn *conn, const char *network_id, const char *clinic_id, char *errbuf,
                      size_t errbuf_size);

#endif
