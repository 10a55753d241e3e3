/*
 * The outgoing webhook of a clinic (notify.c queues its deliveries,
 * notify_send.c sends them): what both read from the network config.
 */
#ifndef CF_LEADS_NOTIFY_H
#define CF_LEADS_NOTIFY_H

#include <jansson.h>

/* The clinic's lead_webhook (j_clinic: its object in the network config):
 * 1 with *url and *secret borrowed from j_clinic when it names both as
 * non-empty strings, else 0. Pure. */
int leads_notify_webhook(const json_t *j_clinic, const char **url, const char **secret);

/* 1 for the event types a clinic's webhook is told of: lead.received and
 * lead.sla_breached. */
int leads_notify_wanted(const char *type);

#endif
