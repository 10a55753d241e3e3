/*
 * The callback rules (tasks.c's header comment tells them in full) as pure
 * functions over JSON: which calls open, join or close a task, when a task
 * is due and when it is lost, and the task events. No I/O: the callbacks
 * consumer (tasks.c) and the sweeper (sweeper.c) read and write the store
 * around them, and tests/unit/calls_tasks runs them on tables of cases.
 */
#ifndef CF_CALLS_TASK_RULES_H
#define CF_CALLS_TASK_RULES_H

#include <stdint.h>

#include <jansson.h>

#include "calls.h"
#include "common/envelope.h"

/* What a call event asks of the callbacks. */
enum calls_task_input {
    CALLS_TASK_IGNORE = 0, /* not a call event, no contact, or neither of below */
    CALLS_TASK_MISSED,     /* a missed inbound call: opens or joins a task */
    CALLS_TASK_ANSWERED,   /* answered by a person: may close the contact's task */
};

/* Classifies the event of type `type` in network_id (either may be NULL)
 * whose data is j_call, the call as calls.v1 carries it. A call still
 * waiting for its staff leg (agent_pending) is neither a miss nor a
 * callback yet: its call.updated with the staff's outcome is. */
enum calls_task_input calls_task_input(const char *type, const char *network_id,
                                       const json_t *j_call);

/* 1 if j_call ended missed, abandoned, busy, failed or in voicemail,
 * inbound, not from a blocked number. */
int calls_task_is_missed(const json_t *j_call);

/* When the wait for a callback began with the missed call j_call: its end,
 * or its start when the end is not known; -1 with neither. */
int64_t calls_task_miss_end(const json_t *j_call);
/* When the missed call j_call rang: its start, or its end when the start
 * is not known; -1 with neither. */
int64_t calls_task_miss_start(const json_t *j_call);

/* When a task opened at opened_ms is due (an SLA later), and when it is
 * lost (a callback answered later does not close it: the sweeper expires
 * it). */
int64_t calls_task_due_at(const struct calls_settings *cfg, int64_t opened_ms);
int64_t calls_task_lost_at(const struct calls_settings *cfg, int64_t opened_ms);

/* The open task (new ref) of the contact contact_key that the missed call
 * j_call opens in network_id: its id is uuid5(network, "callback",
 * contact key, call id), it opens at the miss's end, is due an SLA later,
 * has the call as its source and one missed call. */
json_t *calls_task_new(const struct calls_settings *cfg, const char *network_id,
                       const char *contact_key, const json_t *j_call);

/* Closes j_task with the call call_id answered at answered_ms: the time
 * from the opening to the answer and whether it came by the due time. */
void calls_task_close(json_t *j_task, const char *call_id, int64_t answered_ms);

/* Makes the missed call call_id, whose wait began at opened_ms, the
 * source of j_task: the task opens then and is due an SLA later. */
void calls_task_set_source(json_t *j_task, const struct calls_settings *cfg, const char *call_id,
                           int64_t opened_ms);

/* 1 if the missed call j_call ended before the open task j_task opened (it
 * was seen later: another partition, a retried webhook), so it is when the
 * wait began. Then a callback answered from its end up to
 * calls_task_settled_until settled it, and it does not join j_task. */
int calls_task_miss_before(const json_t *j_task, const json_t *j_call);
int64_t calls_task_settled_until(const struct calls_settings *cfg, const json_t *j_task,
                                 int64_t miss_end_ms);

/* Drops n missed calls from j_task's count (they moved to a task of their
 * own), which stays at least 1: the task's source is still a miss. */
void calls_task_take_misses(json_t *j_task, size_t n);

/* What the call call_id, answered by a person at answered_ms, does to the
 * contact's open task j_task. */
enum calls_task_answer {
    CALLS_TASK_KEEP = 0, /* before the task (another call), or after it was lost */
    CALLS_TASK_CLOSE,    /* a callback from the opening up to the lost time */
    CALLS_TASK_WITHDRAW, /* the task's source was answered after all: it leaves the task */
};
enum calls_task_answer calls_task_on_answer(const struct calls_settings *cfg, const json_t *j_task,
                                            const char *call_id, int64_t answered_ms);

/* 1 if j_task has what the sweeper needs of a task document: a task_id,
 * opened_at, due_at and an integer missed_calls. */
int calls_task_doc_ok(const json_t *j_task);

/* Fills ev (cleared first; cf_event_clear frees it) with the task event
 * clinicflow.task.<verb> about j_task (copied) in network_id at time_ms:
 * id uuid5(id_base, "task.<verb>"), subject the task id. */
void calls_task_event(struct cf_event *ev, const char *id_base, const char *verb,
                      const json_t *j_task, const char *network_id, int64_t time_ms);

#endif
