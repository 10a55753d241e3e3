/*
 * The scheduler (scheduler.c): due reminder jobs to commands on
 * clinicflow.reminders.commands.v1, through the outbox.
 */
#ifndef CF_REMINDERS_SCHEDULER_H
#define CF_REMINDERS_SCHEDULER_H

#include <stdint.h>

#include <jansson.h>

#include "common/envelope.h"

/* The worker (cf_service_add_worker). */
void reminders_scheduler(void *vctx);

/* reminder.command for a job ({"job_id", "network_id", "clinic_id",
 * "appointment_id", "patient_id", "offset_hours", "visit_at", "due_at"}):
 * its id from the job, so a relay repeating it repeats the same event. */
void reminders_command_event(struct cf_event *ev, const json_t *j_job, int64_t now_ms);

#endif
