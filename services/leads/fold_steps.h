/*
 * The steps of the lead fold that both of its ways take: one message at a
 * time (fold.c) and a run of requests at once (fold_batch.c); and the two
 * ways, which the fold consumer (fold_consumer.c) chooses between.
 * Each changes a lead's document in memory and emits its event into the
 * batch's outbox; the caller saves the lead (lead_store.c). Internal to
 * the fold.
 */
#ifndef CF_LEADS_FOLD_STEPS_H
#define CF_LEADS_FOLD_STEPS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/envelope.h"
#include "common/outbox.h"
#include "leads.h"

/* The request ev (its keys, leads_fact_keys's) merged into the open lead
 * j_lead when it comes within the clinic's merge window of the lead's last
 * request: 1 with j_lead changed (a message more, the keys it brings) and
 * lead.merged emitted; 0 and nothing changed when it opens a lead. */
int leads_fold_merge(struct leads_ctx *ctx, const struct cf_event *ev, const json_t *keys,
                     json_t *j_lead, struct cf_outbox *out);

/* The new lead the request ev opens (*out_lead, new reference: its
 * contact, content, ad tags and patient class) and its lead.received.
 * patients: the patients of the run's contacts ("network/key" -> patient,
 * a key without one absent), or NULL to look the lead's up here. 0, or the
 * database error. */
int leads_fold_open(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                    const json_t *keys, const json_t *patients, json_t **out_lead,
                    struct cf_outbox *out, char *errbuf, size_t errbuf_size);

/* The facts that waited for the new lead j_lead (envelopes as strings, in
 * their order on leads.raw), applied as if they had come after the request
 * that opened it: 1 when they changed j_lead, else 0. */
int leads_fold_apply_waiting(struct leads_ctx *ctx, json_t *j_lead, const json_t *j_waiting,
                             struct cf_outbox *out);

/* rows (leads_store_erased's) of the contact keys (leads_fact_keys's) of
 * request number e, of network_id, dated at_ms, appended. */
void leads_erased_rows(json_t *rows, size_t e, const char *network_id, const json_t *keys,
                       int64_t at_ms);

/* One fact (a request, response or status) by the fold's rules, with
 * its events queued on out: 0, CF_EINVAL when the fact is rejected, or
 * the database error (fold.c). */
int leads_fold_apply_fact(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                          const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                          size_t errbuf_size);

/* A run of request facts evs[0..n) at once: 0, CF_EINVAL when it cannot go
 * at once (a fact twice: the runner then takes the batch message by
 * message), or the database error (fold_batch.c). */
int leads_fold_run(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *const *evs, size_t n,
                   struct cf_outbox *out, char *errbuf, size_t errbuf_size);

#endif
