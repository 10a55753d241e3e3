/*
 * The outgoing webhook of a clinic (notify.c queues its deliveries,
 * notify_send.c sends them): what both read from the network config.
 */
#ifndef CF_LEADS_NOTIFY_H
#define CF_LEADS_NOTIFY_H

#include <stdint.h>

#include <jansson.h>

/* The clinic's lead_webhook (j_clinic: its object in the network config):
 * 1 with *url and *secret borrowed from j_clinic when it names both as
 * non-empty strings, else 0. Pure. */
int leads_notify_webhook(const json_t *j_clinic, const char **url, const char **secret);

/* 1 for the event types a clinic's webhook is told of: lead.received and
 * lead.sla_breached. */
int leads_notify_wanted(const char *type);

/* 1 when an event the broker took at broker_ms (negative: unknown) is too
 * old at now_ms to be sent, more than max_age_s before it
 * (CLINICFLOW_LEADS_NOTIFY_MAX_AGE_S): the notify group's first read of
 * the topic's 90 days, or an outage longer than that. Pure. */
int leads_notify_too_old(int64_t broker_ms, int64_t now_ms, long max_age_s);

#endif
