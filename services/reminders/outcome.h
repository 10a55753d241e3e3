/*
 * A send's outcome applied (outcome.c): what a gateway reported (the
 * outcomes hooks, hooks.c) or the dispatcher saw itself (nothing went
 * out, an SMS handed over), recorded on the send, moved up the ladder
 * (ladder_rules.c), told on clinicflow.reminders.outcomes.v1 and, when a
 * person is needed, on clinicflow.tasks.v1. Statements in
 * outcome_store.c, events in outcome_events.c.
 */
#ifndef CF_REMINDERS_OUTCOME_H
#define CF_REMINDERS_OUTCOME_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/envelope.h"
#include "common/netconf.h"
#include "common/outbox.h"
#include "ladder_testable.h"

/* One outcome of one send. Strings borrowed; NULL or -1 when unknown. */
struct reminders_outcome {
    const char *send_id;
    const char *outcome;       /* ladder_testable.h's vocabulary */
    const char *reason;        /* skipped, failed: why */
    const char *provider_ref;  /* the gateway's id of the message or call */
    const char *recording_url; /* a robot call's */
    long duration_s;           /* a robot call's length, -1 unknown */
    /* the SMS's cost its event tells (0 segments: none): an imported
     * history's own; reminders_outcome_apply sets the send's */
    int segments;
    int64_t cost_minor; /* in minor units of currency */
    const char *currency;
    /* an SMS reply to a send that no longer waits for one (hooks.c,
     * SMS_WAITS_SQL): recorded and told, it moves no ladder */
    int late;
    /* what makes this report one of its own: an SMS reply's id (hooks.c);
     * NULL for the others, which reminders_outcome_apply tells apart by
     * the time the send's outcome before it was recorded. Part of the
     * event's id, so a patient who answers "1", then "2", then "1" again
     * (by SMS, or through a dialer's reports) tells the last "1" as a new
     * event, not as a copy of the first that consumers would drop. */
    const char *occurrence;
};

/* Applies o on conn, in the caller's transaction, at now_ms, to a send of
 * clinic_id (NULL: of any clinic; a gateway channel's hook names its
 * clinic, and a send of another is one it never made). The send's
 * outcome recorded (the same outcome again, or a call's end saying nobody
 * pressed a key after the patient's key, changes nothing: *applied 0); an
 * opt-out recorded whatever the rung; and, when ladder_take() says the
 * report moves the job (its latest rung of a visit still booked for the
 * job's time; the patient's key after the same call's end), the ladder's
 * step: the job's next rung or its end, the appointment's reminder
 * status, a front-desk task. Its events are added to out. 0,
 * CF_ENOTFOUND for a send nobody made, or the database's error; and 0
 * with *misfit 1 (errbuf says why, nothing recorded) for an outcome no
 * send on its channel can have (ladder_outcome_fits), which the caller
 * refuses. */
int reminders_outcome_apply(PGconn *conn, const struct cf_netconf_snapshot *snap,
                            const char *clinic_id, const struct reminders_outcome *o,
                            int64_t now_ms, struct cf_outbox *out, int *applied, int *misfit,
                            char *errbuf, size_t errbuf_size);

/* outcome_store.c. A patient's SMS reply taken, once: reply_id (UUIDv5 over
 * the network, the provider, the channel and the provider's id of the
 * message, message_id) recorded in the caller's transaction, *taken 1; or,
 * when it was taken before (a copy the gateway posts again), *taken 0 and
 * *answer (a new string, or NULL) the SMS the first was answered with. A
 * copy that comes while the first is being applied waits for its
 * transaction. 0, or the database's error. */
int outcome_store_reply_take(PGconn *conn, const char *reply_id, const char *network_id,
                             const char *channel_id, const char *message_id, int *taken,
                             char **answer, char *errbuf, size_t errbuf_size);
/* The SMS a reply taken was answered with, kept for its copies. */
int outcome_store_reply_answer(PGconn *conn, const char *reply_id, const char *answer, char *errbuf,
                               size_t errbuf_size);

/* The open tasks about visits the MIS changed, closed at closed_ms:
 * visits [{"appointment_id", "visit_at" (RFC 3339), "reminds" (the new
 * status is one reminded of: booked, rescheduled), "reminded" (the new
 * time has a reminder still to go out: planned pending), "patient_id",
 * "clinic_id"}] as they are now; a task of reason not_confirmed, declined
 * or reschedule is moot once its visit is cancelled, come or missed, or
 * another patient's or clinic's, or moved to another time than its job's
 * (a not_confirmed one only when reminded: else nobody would ask the
 * patient). Called before the visit's jobs are written: a job the replan
 * revives for another patient still names the one its task was about.
 * *closed (a
 * new array) gets each closed task's {"job_id", "reason", "opened",
 * "due" (ms), "network_id", "clinic_id", "appointment_id", "patient_id",
 * "phone" (its latest send's, if any)}. In the caller's transaction. */
int outcome_store_tasks_close_visits(PGconn *conn, const json_t *visits, int64_t closed_ms,
                                     json_t **closed, char *errbuf, size_t errbuf_size);
/* outcome.c: outcome_store_tasks_close_visits, and each closed task told
 * (task.closed, closed_by "visit") in out. */
int reminders_close_visit_tasks(PGconn *conn, const struct cf_network *net, const json_t *visits,
                                int64_t now_ms, struct cf_outbox *out, char *errbuf,
                                size_t errbuf_size);
/* reminders_close_visit_tasks with its events staged in the transactional
 * outbox (cf_outbox_stage) at once: for work with no outbox of its own (the
 * first load's writer). */
int reminders_close_visit_tasks_staged(PGconn *conn, const struct cf_network *net,
                                       const json_t *visits, int64_t now_ms, char *errbuf,
                                       size_t errbuf_size);
/* The send with its job and appointment, locked:
 * {"send_id", "job_id", "attempt", "channel", "gateway", "phone",
 * "outcome", "outcome_at_us" (when it was recorded, in microseconds; null
 * before any), "patient_id", "clinic_id", "network_id", "appointment_id",
 * "job_status", "job_attempt", "job_result", "visit_at" (ms), "kind", "current" (the
 * visit still booked for the job's time; a re-invite's still missed),
 * an SMS's "segments", "cost_minor", "currency" and "cost_told"};
 * *row NULL when there is no such send. Its visit (appointment) is
 * locked before them (outcome_store_lock_visit). */
int outcome_store_lock(PGconn *conn, const char *send_id, json_t **row, char *errbuf,
                       size_t errbuf_size);
/* Locks the visit (appointment) of send_id, if it has one, in the
 * caller's transaction: what a transaction that will lock the send or its
 * job takes first, in the order the MIS's changes take the two (the
 * visit, then its jobs); the other way round, the two deadlock. */
int outcome_store_lock_visit(PGconn *conn, const char *send_id, char *errbuf, size_t errbuf_size);
/* The send's outcome o recorded, with what it tells of the send; cost_told
 * 1 when o's event tells the SMS's cost (the send's own, kept since its
 * mark). */
int outcome_store_record(PGconn *conn, const struct reminders_outcome *o, int cost_told,
                         char *errbuf, size_t errbuf_size);
/* What an outcome that decides nothing still tells of its send (the call's
 * length, its recording, the provider's id), kept where the send has none:
 * Twilio reports a call's end after the key the patient pressed in it. */
int outcome_store_details(PGconn *conn, const struct reminders_outcome *o, char *errbuf,
                          size_t errbuf_size);
/* The job's next rung (next->next_channel set: pending again), its wait
 * for a reply to an SMS out (next->waits: emitted still) or its end
 * (done), result the outcome. */
int outcome_store_job(PGconn *conn, const char *job_id, const char *result,
                      const struct ladder_next *next, char *errbuf, size_t errbuf_size);
int outcome_store_reminder_status(PGconn *conn, const char *appointment_id, const char *status,
                                  char *errbuf, size_t errbuf_size);
int outcome_store_opt_out(PGconn *conn, const char *network_id, const char *phone,
                          const char *channel, const char *source, char *errbuf,
                          size_t errbuf_size);

/* A front-desk task opened (its ids and times; the contact stays the
 * send's), once. */
int outcome_store_task_opened(PGconn *conn, const char *task_id, const char *job_id,
                              const char *reason, int64_t opened_ms, int64_t due_ms, char *errbuf,
                              size_t errbuf_size);
/* Closes the open tasks of reason of job_id and, for a reminder, of its
 * visit's other reminders to the same patient (an answer to one answers
 * the visit) at closed_ms; *closed (new array) gets {"job_id", "opened",
 * "due"} (ms) and "phone" (its job's last send's, when known) of each. */
int outcome_store_tasks_close(PGconn *conn, const char *job_id, const char *reason,
                              int64_t closed_ms, json_t **closed, char *errbuf, size_t errbuf_size);

/* outcome_events.c. The outcome's event for clinicflow.reminders.outcomes.v1
 * (ids only, no person), keyed by the patient. */
void outcome_event(struct cf_event *ev, const json_t *row, const struct reminders_outcome *o,
                   const struct ladder_next *next, int64_t now_ms);
/* A front-desk task for clinicflow.tasks.v1: call the patient about the
 * visit (reason: not_confirmed, declined, reschedule), due at due_ms. */
void outcome_task_event(struct cf_event *ev, const json_t *row, const struct cf_network *net,
                        const char *reason, int64_t now_ms, int64_t due_ms);
/* The task of job_id (row's, or another reminder of its visit), whose
 * contact was phone, closed at closed_ms, opened at opened_ms and due at
 * due_ms; closed_by: "answer", the patient answered (the send of row:
 * their answer), or "visit", the MIS changed the visit (row: the task's
 * job, without a send). */
void outcome_task_closed_event(struct cf_event *ev, const json_t *row, const struct cf_network *net,
                               const char *job_id, const char *phone, const char *reason,
                               const char *closed_by, int64_t opened_ms, int64_t due_ms,
                               int64_t closed_ms);

#endif
