/*
 * The dispatcher (dispatch.c): a consumer of
 * clinicflow.reminders.commands.v1 that sends each command through its
 * clinic's gateway, once; the sends' store (send_store.c).
 */
#ifndef CF_REMINDERS_DISPATCH_H
#define CF_REMINDERS_DISPATCH_H

#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>

#include "common/envelope.h"
#include "common/outbox.h"

#define REMINDERS_DISPATCH_GROUP "clinicflow-reminders-dispatch"

int reminders_dispatch_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                             const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                             size_t errbuf_size);
/* The consumer's batch_done: counts the jobs the batch put off once it
 * committed (a batch rolled back and taken again counts them once). */
void reminders_dispatch_batch_done(void *ctx, int committed);

/* send_store.c. A send's state: status "" when there is none yet. */
struct send_state {
    char status[16];
    char gateway[32];
    char reason[64];
    int64_t marked_ms; /* when the row was written */
};
/* What a send needs before it goes, read in one statement: its state
 * (have), the patient's record (NULL when there is none or it is erased:
 * patient_found and patient_erased say which), the appointment's record
 * (NULL without appointment_id, or none), whether the patient's first
 * phone is opted out of channel, and whether the job still waits for this
 * send: emitted at this attempt and still about its visit (job_live; not
 * when an answer, a cancel or a reschedule came after the command was
 * emitted). Release with send_view_clear. */
struct send_view {
    struct send_state have;
    int patient_found;
    int patient_erased;
    json_t *patient;
    json_t *appointment;
    int opted_out;
    int job_live;
    int job_put_off;          /* the job waits at this attempt again (put off, or planned anew) */
    char reminder_status[32]; /* the appointment's, "" none */
};
int send_store_view(PGconn *conn, const char *send_id, const char *network_id,
                    const char *patient_id, const char *appointment_id, const char *channel,
                    const char *job_id, const char *attempt, struct send_view *out, char *errbuf,
                    size_t errbuf_size);
void send_view_clear(struct send_view *v);
/* 1 when the patient had a message sent on channel since since_ms for a
 * job other than job_id, 0 when not, or the database's error. */
int send_store_recent(PGconn *conn, const char *patient_id, const char *channel, const char *job_id,
                      int64_t since_ms, char *errbuf, size_t errbuf_size);
/* What an SMS costs, known before it goes (segments 0: no SMS). */
struct send_cost {
    int segments;
    int64_t cost_minor;   /* in minor units of currency */
    const char *currency; /* NULL: the outcome event's default */
};
/* The mark that a request may be going out to phone, committed on its own
 * (conn in no transaction) before the request leaves: found again after a
 * crash, it says the outcome is unknown. It holds an SMS's cost, so the
 * gateway's first report, which may come before the dispatcher's own,
 * tells it (outcome.c). *marked 0 when the send already had a row
 * (another dispatcher's mark, made since this one looked). */
int send_store_mark_sending(PGconn *conn, const char *send_id, const json_t *command,
                            const char *gateway, const char *phone, const struct send_cost *cost,
                            int *marked, char *errbuf, size_t errbuf_size);
/* The job job_id, emitted at attempt, due again at due_ms (pending): its
 * command command_id was consumed without a send, and the scheduler emits
 * it again then, under its window and lateness rules, with the same id:
 * the command is struck from the dispatchers' applied events, so that one
 * is applied. In the caller's transaction; a job that moved on since is
 * left as it is (*moved 0; 1 when the job was put off). */
int send_store_job_later(PGconn *conn, const char *job_id, const char *attempt,
                         const char *command_id, int64_t due_ms, int *moved, char *errbuf,
                         size_t errbuf_size);
/* The command command_id struck from the dispatchers' applied events, in
 * the caller's transaction (a copy of a command put off: the next one of
 * its id is applied). */
int send_store_forget_command(PGconn *conn, const char *command_id, char *errbuf,
                              size_t errbuf_size);
/* The mark taken back, on its own: the request never left (no connection). */
int send_store_unmark(PGconn *conn, const char *send_id, char *errbuf, size_t errbuf_size);
/* The send's end (sent, failed, skipped, unknown), with the gateway's id
 * of it (NULL: none) and an SMS's cost, committed on its own, inserting the
 * row when there was no mark (a skip). An unknown or skipped end of a send
 * the gateway has reported on already (its callback came before its
 * answer) is stored as sent, and *reported is 1: the gateway's report
 * decides, not the dispatcher's. */
int send_store_finish(PGconn *conn, const char *send_id, const json_t *command, const char *status,
                      const char *reason, long http_status, const char *phone,
                      const char *provider_ref, const struct send_cost *cost, int *reported,
                      char *errbuf, size_t errbuf_size);

#endif
