/*
 * How far a fold has come (fold_progress.c): the horizon before which
 * every fact acknowledged onto its input topic has been stored by the
 * fold, for a sweeper deciding on time-outs. Used on the sweeper's thread
 * only.
 */
#ifndef CF_COMMON_FOLD_PROGRESS_H
#define CF_COMMON_FOLD_PROGRESS_H

#include <stdint.h>

#include <libpq-fe.h>

struct cf_producer;
struct cf_fold_progress;

/* The progress of the fold group of schema (its consumer bookkeeping)
 * over topic; who names the sweeper in its log lines. */
struct cf_fold_progress *cf_fold_progress_new(const char *schema, const char *group,
                                              const char *topic, const char *who);
void cf_fold_progress_free(struct cf_fold_progress *fp);

/* Samples the topic's high watermarks (may wait on Kafka up to 1 s per
 * try: call it before a connection is held). */
void cf_fold_progress_sample(struct cf_fold_progress *fp, struct cf_producer *producer);

/* Moves the horizon to the newest sample the fold's stored offsets have
 * reached in every partition, and drops the samples up to it. Returns the
 * horizon in ms, or -1 when the fold has reached none yet. */
int64_t cf_fold_progress_horizon(struct cf_fold_progress *fp, PGconn *conn);

#endif
