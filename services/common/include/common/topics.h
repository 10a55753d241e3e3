/*
 * Topic names of proto/topics.json. Code names topics only through these
 * macros; a unit test checks every clinicflow.*.vN string in the tree
 * against the catalogue.
 */
#ifndef CF_COMMON_TOPICS_H
#define CF_COMMON_TOPICS_H

#define CF_TOPIC_CALLS_RAW "clinicflow.calls.raw.v1"
#define CF_TOPIC_CALLS "clinicflow.calls.v1"
#define CF_TOPIC_TASKS "clinicflow.tasks.v1"
#define CF_TOPIC_LEADS "clinicflow.leads.v1"
#define CF_TOPIC_LEADS_RAW "clinicflow.leads.raw.v1"
#define CF_TOPIC_PATIENTS "clinicflow.patients.v1"
#define CF_TOPIC_APPOINTMENTS "clinicflow.appointments.v1"
#define CF_TOPIC_REMINDER_COMMANDS "clinicflow.reminders.commands.v1"
#define CF_TOPIC_REMINDER_OUTCOMES "clinicflow.reminders.outcomes.v1"
#define CF_TOPIC_METRICS "clinicflow.metrics.v1"
#define CF_TOPIC_DLQ "clinicflow.dlq.v1"

#endif
