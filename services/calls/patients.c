/*
 * The phone -> patient view the call tags come from: a consumer of
 * clinicflow.patients.v1 keeping calls.patients and calls.patient_contacts
 * (common/patients.h, the view leads keeps too), and, once each batch is
 * over, moving the cache versions of the contacts it changed. A patient's
 * tombstone also erases that person from the calls of their contact keys
 * (store.c: their party, the patient id, the recording) and from the
 * callback tasks (task_store.c: the number to call).
 */
#include "calls.h"
#include "tasks.h"

int calls_erase_person(void *arg, PGconn *conn, const char *patient_id, const json_t *contacts,
                       char *errbuf, size_t errbuf_size)
{
    (void)arg;
    (void)patient_id; /* the calls name it only beside the contact keys */
    int rc = calls_store_erase(conn, contacts, errbuf, errbuf_size);
    return rc != 0 ? rc : calls_tasks_erase(conn, contacts, errbuf, errbuf_size);
}

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
