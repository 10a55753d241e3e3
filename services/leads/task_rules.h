/*
 * The response-task rules (tasks.c's header comment tells them in full) as
 * pure functions over JSON: which lead events open and close which tasks,
 * when a task is due in its clinic's working hours, and the events. No I/O:
 * the fold's tasks (tasks.c), the sweeper (sweeper.c) and the call
 * bridge (call_responses.c) read and write the store around them, and
 * tests/unit/leads_tasks runs them on tables of cases.
 */
#ifndef CF_LEADS_TASK_RULES_H
#define CF_LEADS_TASK_RULES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/envelope.h"
#include "common/time.h"
#include "leads.h"

/* What an event on leads.v1 asks of the tasks. */
enum leads_task_input {
    LEADS_TASK_IGNORE = 0, /* not a lead event of ours, or one without a lead id */
    LEADS_TASK_RECEIVED,   /* a new lead: opens its tasks */
    LEADS_TASK_MERGED,     /* a request merged into an open lead: its keys join; it opens
                            * the callback task when it asked to be called back */
    LEADS_TASK_RESPONDED,  /* the first response: closes the lead's tasks */
    LEADS_TASK_STATUS,     /* booked, lost or spam: closes the lead's tasks */
};

/* Classifies the event of type `type` in network_id (either may be NULL)
 * whose data is j_data, the lead event as leads.v1 carries it. */
enum leads_task_input leads_task_input(const char *type, const char *network_id,
                                       const json_t *j_data);

/* Whether an event of type may open or close tasks (received, merged,
 * responded, status_changed): the others are passed over unread. */
int leads_task_type_acts(const char *type);

/* The respond task's due time, in working seconds: the clinic's
 * lead_response_due_s (j_clinic, its object in the network configuration,
 * may be NULL) when it names a positive integer, else the setting. */
long leads_task_response_due_s(const struct leads_settings *cfg, const json_t *j_clinic);

/* The clinic's working hours (its working_hours and holidays in zone tz)
 * into *out: 0, or CF_EINVAL with the reason (a clinic with no hours or
 * zone, or ones that do not parse: the caller counts wall-clock time). */
int leads_task_hours(const char *tz, const json_t *j_clinic, struct cf_time_hours *out,
                     char *errbuf, size_t errbuf_size);

/* The instant `seconds` of working time in h after from_ms; wall-clock
 * seconds when h is NULL or never opens again. */
int64_t leads_task_due_at(const struct cf_time_hours *h, int64_t from_ms, long seconds);

/* 1 if the lead j_lead (lead.received's data) opens a callback task at
 * once: a form (provider generic, tilda or cf7), or a request that asked
 * to be called back (callback_requested: a JivoChat callback), that left a
 * phone number (contact.phone of kind e164). */
int leads_task_wants_callback(const json_t *j_lead);

/* The number a request j_fact (a fact's data on leads.raw) merging into
 * the lead j_lead (its stored document) asks to be called back at: the
 * request wants a callback (leads_task_wants_callback), the lead is open
 * and has not been answered yet, and no callback was asked of it before (its own
 * request's, or a merge's: callback_merged). NULL otherwise. Borrowed
 * from j_fact. */
const json_t *leads_merge_callback_phone(const json_t *j_lead, const json_t *j_fact);

/* The task id: uuid5(network, "lead-task", kind, lead id). out: 37 bytes. */
void leads_task_id(const char *network_id, const char *kind, const char *lead_id,
                   char out[CF_UUID_STR_LEN + 1]);

/* The open task (new ref) of kind ("respond" or "callback") for the lead
 * j_lead (lead.received's data) in network_id, opened at opened_ms and due
 * at due_ms. */
json_t *leads_task_new(const char *network_id, const char *kind, const json_t *j_lead,
                       int64_t opened_ms, int64_t due_ms);

/* Closes the open j_task at closed_ms (never before its opened_at: a
 * status dated earlier closes it as it opened, as the lead's closed_at is
 * never before its received_at): closed_by "response" (a callback task
 * answered by a call also gets closing_call_id) or "status" (booked,
 * lost, spam), on_time (closed at or before due_at; a task closed by an
 * outcome is on time only if a response would have been) and
 * seconds_to_response (wall clock from opening to closing). */
void leads_task_close(json_t *j_task, int64_t closed_ms, const char *closed_by,
                      const char *call_id);

/* When the lead event j_data (responded or status_changed) closes the
 * lead's tasks: responded_at, else the event's time ev_ms. */
int64_t leads_task_closed_at(enum leads_task_input input, const json_t *j_data, int64_t ev_ms);

/* 1 if j_task has what the fold needs of a stored task: kind
 * (respond or callback), task_id, lead_id, opened_at, due_at. */
int leads_task_doc_ok(const json_t *j_task);

/* Fills ev (cleared first) with the task event clinicflow.task.<verb>
 * about j_task in network_id at time_ms: id uuid5(id_base, "task.<verb>",
 * task id), source /clinicflow/leads/tasks, subject the task id. The
 * event's data is j_task itself, not a copy: it is not to change until ev
 * is cleared. */
void leads_task_event(struct cf_event *ev, const char *id_base, const char *verb, json_t *j_task,
                      const char *network_id, int64_t time_ms);

/* Fills ev with the lead.sla_breached of a respond task, j_row its row
 * (lead_id, clinic_id, opened_at as received_at, due_at, channel,
 * provider, contact_key; absent or null members are left out), at
 * time_ms: id uuid5(lead id, "lead.sla_breached"), so however many
 * sweepers decide it, it is one event; source /clinicflow/leads/sweeper,
 * subject the lead id. */
void leads_task_breach_event(struct cf_event *ev, const json_t *j_row, const char *network_id,
                             int64_t time_ms);

/* When the open j_task expires: expire_s (CLINICFLOW_LEADS_TASK_EXPIRE_S)
 * after its opened_at, or -1 when it has none; at erased_ms instead when
 * the person was erased before that (-1: not erased), never before its
 * opened_at: a lead nobody can answer any more gives its tasks up then. */
int64_t leads_task_expires_at(const json_t *j_task, long expire_s, int64_t erased_ms);

/* Gives up the open j_task unanswered: status "expired". It keeps no
 * closed_at, on_time or closed_by (task.json: those tell a closing), so
 * an expired task reads as the open task it was, given up. */
void leads_task_expire(json_t *j_task);

/* Fills ev with the task.expired of the expired j_task (copied) in
 * network_id at time_ms (its leads_task_expires_at): id uuid5(task id,
 * "task.expired"), as calls' sweeper, so however many sweepers look and
 * however often the relay retries, it is one event; source
 * /clinicflow/leads/sweeper, subject the task id. */
void leads_task_expired_event(struct cf_event *ev, const json_t *j_task, const char *network_id,
                              int64_t time_ms);

/* What an event on calls.v1 is to the leads: 1 if j_call (its data) is a
 * call with a contact that a person answered (outcome answered, in either
 * direction, not waiting for its staff leg), with *answered_ms set: its
 * answered_at, else (a provider that reported neither the answer's moment
 * nor the talk) its ended_at, the latest the answer can have been. */
int leads_call_is_answered(const char *type, const char *network_id, const json_t *j_call,
                           int64_t *answered_ms);

/* A call under way that may become a response: 1 if j_call (an event's
 * data on calls.v1) is a call with a contact that was answered (its
 * answered_at, *answered_ms) and whose outcome is not known yet (not
 * ended, or ended while its staff leg is awaited); 0 otherwise. Until it
 * is known, the sweeper breaches none of the contact's leads that the
 * call's answer would have answered in time. */
int leads_call_under_way(const char *type, const char *network_id, const json_t *j_call,
                         int64_t *answered_ms);

/* Fills ev with the response fact (clinicflow.lead.reported, kind
 * response, channel and via "call") that the answered call j_call in
 * network_id is for the lead lead_id: id uuid5(call id, "lead.reported"),
 * the same for every event of the call; key and subject its contact key. */
void leads_call_response_fact(struct cf_event *ev, const char *network_id, const json_t *j_call,
                              const char *lead_id, int64_t answered_ms);

#endif
