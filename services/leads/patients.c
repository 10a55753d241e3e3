/*
 * Who wrote: a consumer of clinicflow.patients.v1 keeping the phone ->
 * patient view in schema leads (common/patients.h, the view calls keeps
 * too), which gives a new lead its patient class. A patient's tombstone
 * also erases that person's data from the leads (lead_store.c): contact,
 * text, subject and the messenger's ids of them (external) leave the
 * documents of the leads of the patient, and of the leads naming nobody
 * under one of its contact keys (the view's, and those of its leads: a
 * number given up, up to its last lead from it); lead ids, times, keys and
 * tags stay.
 */
#include "leads.h"
#include "lead_store.h"

void leads_patients_init(struct leads_ctx *ctx)
{
    ctx->patients = (struct cf_patients){
        .schema = "leads", .redis = ctx->svc->redis, .erase = leads_erase_person, .erase_arg = ctx};
}

void leads_patients_batch_done(void *vctx, int committed)
{
    struct leads_ctx *ctx = vctx;

    (void)committed;
    cf_patients_batch_done(&ctx->patients);
}

int leads_patients_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                         const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                         size_t errbuf_size)
{
    struct leads_ctx *ctx = vctx;

    (void)out;
    return cf_patients_apply(&ctx->patients, conn, ev, rkm, errbuf, errbuf_size);
}
