/*
 * A visit's reminder history from the system before this one, as pure
 * functions (history_rules.c): what PUT /v1/appointments/{id}/reminders
 * takes, the history stored from it, and the ids and statuses of the
 * reminder.outcome events it becomes. A network that switches to
 * clinicflow imports the months before, so its show rates, confirmations
 * and SMS costs before and after the switch are on the same pages. No
 * I/O; the unit tests call them directly.
 */
#ifndef CF_REMINDERS_HISTORY_TESTABLE_H
#define CF_REMINDERS_HISTORY_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/hash.h"
#include "common/netconf.h"

/* A history's sends: at most the ladder's rungs (reminder.outcome's
 * attempt). */
#define HISTORY_SENDS_MAX 12

/* The history stored from body for a visit starting at visit_ms, known at
 * now_ms: a new object {"gateway", "sends": [{"channel", "at" (UTC,
 * milliseconds), "outcome", "duration_s"?, "sms"?}]}, or CF_EINVAL with
 * the offending member in field ("sends[2].outcome"). Every member is
 * known; each send is of its channel (a call's outcomes, an SMS's; a
 * call's length, an SMS's segments and cost) and before the visit, the
 * sends in the order they went out, the last one already past. */
int history_parse(const json_t *body, int64_t visit_ms, int64_t now_ms, json_t **out, char *field,
                  size_t field_size, char *errbuf, size_t errbuf_size);

/* A patient's recall by the system before (PUT
 * /v1/patients/{id}/recall-history) stored from body, known at now_ms: a
 * new object {"gateway", "clinic_id" (one of net's), "asked_at" (UTC,
 * milliseconds: when the patient became a member of the campaign),
 * "group" (target, holdout), "holdout_percent", "sends" (as a visit's, at
 * or after asked_at; at least one for the target group, none for the
 * holdout, which is never contacted)}, and asked_at into *asked_ms; or
 * CF_EINVAL with the offending member in field. */
int history_parse_recall(const json_t *body, const struct cf_network *net, int64_t now_ms,
                         json_t **out, int64_t *asked_ms, char *field, size_t field_size,
                         char *errbuf, size_t errbuf_size);
/* Its job: UUIDv5 over the patient, "recall", "history" and asked_at's
 * epoch milliseconds (one per time the patient was asked). */
void history_recall_job_id(const char *patient_id, int64_t asked_ms, char out[CF_UUID_STR_LEN + 1]);

/* The history's job: UUIDv5 over the appointment and "history" (never one
 * of the planner's: theirs name the visit's time and the hours before it). */
void history_job_id(const char *appointment_id, char out[CF_UUID_STR_LEN + 1]);
/* A send of it: the job, "send" and the attempt, as the dispatcher names
 * its own. */
void history_send_id(const char *job_id, int attempt, char out[CF_UUID_STR_LEN + 1]);

/* The reminder status the send at index i of sends sets: the patient's
 * answer (confirmed, declined, reschedule_requested); not_confirmed on
 * the last send of a history nobody answered; NULL for the others. */
const char *history_status(const json_t *sends, size_t i);
/* The status the whole history leaves the visit in (the last one set). */
const char *history_final_status(const json_t *sends);

#endif
