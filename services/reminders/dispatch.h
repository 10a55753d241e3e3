/*
 * The dispatcher (dispatch.c): a consumer of
 * clinicflow.reminders.commands.v1 that sends each command through its
 * clinic's gateway, once; the sends' store (send_store.c).
 */
#ifndef CF_REMINDERS_DISPATCH_H
#define CF_REMINDERS_DISPATCH_H

#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>

#include "common/envelope.h"
#include "common/outbox.h"

#define REMINDERS_DISPATCH_GROUP "clinicflow-reminders-dispatch"

int reminders_dispatch_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                             const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                             size_t errbuf_size);

/* send_store.c. A send's status and gateway: "" when there is none yet. */
int send_store_status(PGconn *conn, const char *send_id, char status[16], char gateway[32],
                      char *errbuf, size_t errbuf_size);
/* The mark that a request may be going out, committed on its own (conn in
 * no transaction) before the request leaves: found again after a crash, it
 * says the outcome is unknown. */
int send_store_mark_sending(PGconn *conn, const char *send_id, const json_t *command,
                            const char *gateway, char *errbuf, size_t errbuf_size);
/* The mark taken back, on its own: the request never left (no connection). */
int send_store_unmark(PGconn *conn, const char *send_id, char *errbuf, size_t errbuf_size);
/* The send's end (sent, failed, skipped, unknown) in the caller's
 * transaction, inserting the row when there was no mark (a skip). */
int send_store_finish(PGconn *conn, const char *send_id, const json_t *command, const char *status,
                      const char *reason, long http_status, char *errbuf, size_t errbuf_size);

#endif
