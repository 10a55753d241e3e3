/* call_responses.c: answered calls on calls.v1 as lead responses: not written yet (it applies
 * nothing). */
#include "leads.h"

int leads_calls_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                      const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                      size_t errbuf_size)
{
    (void)ctx;
    (void)conn;
    (void)ev;
    (void)rkm;
    (void)out;
    (void)errbuf;
    (void)errbuf_size;
    return 0;
}
