/*
 * How far a fold has come (fold_progress.c): the horizon before which
 * every fact acknowledged onto its input topic has been stored by the
 * fold, for a sweeper deciding on time-outs (on its thread only), or for
 * consumers asking it (cf_fold_progress_ask, locked).
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

/* For consumers about to decide on what the fold may still hold (any
 * thread: the progress is locked while it is asked; a progress asked so
 * is not also sampled by a sweeper): a sample taken now, then the horizon
 * (cf_fold_progress_horizon), so that asking again once the fold has
 * passed the sample finds it reached; *behind_ms gets how long ago the
 * oldest sample the fold has not reached was taken (0: none), how long it
 * has been behind at least. May wait on Kafka up to 1 s, with conn held:
 * for a rare decision, not one a message. */
int64_t cf_fold_progress_ask(struct cf_fold_progress *fp, struct cf_producer *producer,
                             PGconn *conn, int64_t *behind_ms);

#endif
