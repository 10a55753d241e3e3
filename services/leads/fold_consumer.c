/*
 * The fold consumer (clinicflow-leads-fold, common/consumer.h): what a
 * message or a batch of lead facts does, in the runner's one transaction
 * with its offsets. First the fold's rules: each run of request facts in
 * a batch goes at once (fold_batch.c: its locks in one sorted round, its
 * people's open leads in one statement, merged in memory, saved in one),
 * and a response or status between runs message by message (fold.c): the
 * same rules either way, in the batch's order. Then the lead events those
 * rules queued open and close the leads' tasks (tasks.c). So a lead and
 * its tasks commit together, and a fact rejected to the DLQ takes its
 * tasks' rows and events with it (the runner rewinds both).
 */
#include "leads.h"
#include "fold_steps.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"

void leads_fold_describe_metrics(void)
{
    cf_metrics_describe("clinicflow_leads_fold_messages_total", "counter",
                        "Lead facts the fold applied in a run of requests at once "
                        "(way=at_once) or message by message (way=one_by_one)");
}

static int is_request(const struct cf_event *ev)
{
    const char *kind = ev ? json_string_value(json_object_get(ev->data, "kind")) : NULL;
    return kind && strcmp(kind, "request") == 0 &&
           strcmp(ev->type, "clinicflow.lead.reported") == 0;
}

static int one_by_one(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *const *evs,
                      const rd_kafka_message_t *const *rkms, size_t n, struct cf_outbox *out,
                      char *errbuf, size_t errbuf_size)
{
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        cf_log_set_request_id(evs[i] ? evs[i]->id : NULL);
        rc = leads_fold_apply_fact(ctx, conn, evs[i], rkms[i], out, errbuf, errbuf_size);
    }
    cf_log_set_request_id(NULL);
    cf_metrics_add("clinicflow_leads_fold_messages_total", "way=\"one_by_one\"", (double)n);
    return rc;
}

/* The batch's facts by the fold's rules, runs of requests at once. */
static int fold_batch(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *const *evs,
                      const rd_kafka_message_t *const *rkms, size_t n, struct cf_outbox *out,
                      char *errbuf, size_t errbuf_size)
{
    size_t i = 0;
    int rc = 0;

    while (i < n && rc == 0) {
        size_t end = i;
        while (end < n && is_request(evs[end]))
            end++;
        if (end - i > 1) {
            /* CF_EINVAL (a fact twice, or one rejected): the runner's careful
             * path takes the batch message by message */
            rc = leads_fold_run(ctx, conn, evs + i, end - i, out, errbuf, errbuf_size);
            if (rc == 0)
                cf_metrics_add("clinicflow_leads_fold_messages_total", "way=\"at_once\"",
                               (double)(end - i));
        } else if (end > i) {
            rc = one_by_one(ctx, conn, evs + i, rkms + i, 1, out, errbuf, errbuf_size);
        }
        i = end;
        if (rc == 0 && i < n) {
            rc = one_by_one(ctx, conn, evs + i, rkms + i, 1, out, errbuf, errbuf_size);
            i++;
        }
    }
    return rc;
}

int leads_fold_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                     const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                     size_t errbuf_size)
{
    const size_t from = out->n;
    int rc = one_by_one(vctx, conn, &ev, &rkm, 1, out, errbuf, errbuf_size);

    if (rc == 0)
        rc = leads_tasks_follow(vctx, conn, out, from, errbuf, errbuf_size);
    return rc;
}

int leads_fold_apply_batch(void *vctx, PGconn *conn, const struct cf_event *const *evs,
                           const rd_kafka_message_t *const *rkms, size_t n, struct cf_outbox *out,
                           char *errbuf, size_t errbuf_size)
{
    const size_t from = out->n;
    int rc = fold_batch(vctx, conn, evs, rkms, n, out, errbuf, errbuf_size);

    if (rc == 0)
        rc = leads_tasks_follow(vctx, conn, out, from, errbuf, errbuf_size);
    return rc;
}
