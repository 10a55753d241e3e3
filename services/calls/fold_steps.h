/*
 * The fold's steps that both of its ways through a batch take: message by
 * message (fold.c) and a batch at once (fold_batch.c). Same rules either
 * way; only who loads and saves the calls differs.
 */
#ifndef CF_CALLS_FOLD_STEPS_H
#define CF_CALLS_FOLD_STEPS_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "calls.h"
#include "common/envelope.h"
#include "common/outbox.h"

/* Why ev can never be folded (CF_EINVAL with the reason), or 0. */
int calls_fold_event_check(const struct cf_event *ev, char *errbuf, size_t errbuf_size);
/* A call the fact ev is the first of. */
json_t *calls_fold_new_call(const struct cf_event *ev);
/* Folds the fact ev (validated) into j_call, stored or new, with the
 * enrich decisions (lk: a batch's, or NULL to look up now), and emits what
 * it changed; the calls whose unique flag it took go to j_corrected. The
 * caller saves j_call. */
int calls_fold_one_fact(struct calls_ctx *ctx, PGconn *conn, struct calls_lookups *lk,
                        const struct cf_event *ev, json_t *j_call, const char *contact_locked,
                        json_t *j_corrected, struct cf_outbox *out, char *errbuf,
                        size_t errbuf_size);
/* Applies the result ev to j_call and emits call.updated when it changed
 * the call: 1 then (save it), else 0. */
int calls_fold_take_result(json_t *j_call, const struct cf_event *ev, struct cf_outbox *out);
/* The results that waited for a new call (j_pending) applied as if they had
 * come after its first fact; 1 when the call changed (save it again). */
int calls_fold_apply_pending(json_t *j_call, const json_t *j_pending, struct cf_outbox *out);
/* call.updated for each call of j_corrected, after ev's own events. */
void calls_fold_emit_corrected(struct cf_outbox *out, const struct cf_event *ev,
                               const json_t *j_corrected);
/* The batch's plan (fold_batch.c, pure): its call ids in order, each
 * call's first fact's network (call id -> network), the sorted contact
 * lock keys of its inbound facts. */
void calls_batch_plan(const struct cf_event *const *evs, size_t n, json_t *ids, json_t *first_nets,
                      json_t *locks);

#endif
