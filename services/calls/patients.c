/*
 * The phone -> patient view the call tags come from: a consumer of
 * clinicflow.patients.v1 keeping calls.patients and calls.patient_contacts
 * (common/patients.h, the view leads keeps too), and, once each batch is
 * over, moving the cache versions of the contacts it changed. A patient's
 * tombstone also erases that person from the calls of their contact keys
 * (store.c: their party, the patient id, the recording) and from the
 * callback tasks (task_store.c: the number to call): the keys the view
 * holds for the patient and those of the calls the fold found the patient
 * by, so a number the patient gave up is erased too.
 */
#include "calls.h"
#include "tasks.h"

int calls_erase_person(void *arg, PGconn *conn, const char *patient_id, const json_t *contacts,
                       char *errbuf, size_t errbuf_size)
{
    (void)arg;
    /* The view holds the patient's latest numbers only (an upsert replaces
     * them); the calls the patient made from an earlier one name the
     * patient, and give that number too. Read before the calls are erased,
     * which takes their patient id. */
    json_t *all = json_deep_copy(contacts);
    int rc = calls_store_patient_contacts(conn, patient_id, all, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_tasks_erase(conn, patient_id, all, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_store_erase(conn, patient_id, all, errbuf, errbuf_size);
    json_decref(all);
    return rc;
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
