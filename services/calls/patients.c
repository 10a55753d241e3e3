/*
 * The phone -> patient view the call tags come from: a consumer of
 * clinicflow.patients.v1 keeping calls.patients and calls.patient_contacts
 * (common/patients.h, the view leads keeps too), and, once each batch is
 * over, moving the cache versions of the contacts it changed.
 */
#include "calls.h"

void calls_patients_batch_done(void *vctx, int committed)
{
    struct calls_ctx *ctx = vctx;

    (void)committed;
    cf_patients_batch_done(&ctx->patients);
}

int calls_patients_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                         const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                         size_t errbuf_size)
{
    struct calls_ctx *ctx = vctx;

    (void)out;
    return cf_patients_apply(&ctx->patients, conn, ev, rkm, errbuf, errbuf_size);
}
