/*
 * clinicflow-gateway-sim: the reminder gateways of the local demo network,
 * played on this machine. It takes the reminders service's sends the way
 * Twilio's Calls and Messages APIs, SMS.ru's sms/send and a clinic's
 * webhook dialer take them, and answers for the patients: a while later it
 * posts each provider's own callbacks, signed as that provider signs them,
 * to the reminders service. The channels and their secrets are the
 * network file's gateway channels, so the demo network is the one
 * configuration both sides read.
 */
#ifndef CF_GATEWAY_SIM_H
#define CF_GATEWAY_SIM_H

#include <stdint.h>

#include <jansson.h>

#include "common/strbuf.h"

struct sim_config {
    const char *reminders_url; /* where SMS.ru and dialer callbacks go */
    int64_t delay_ms;          /* from a send to its patient's answer */
    json_t *network;           /* the network file; gateway channels read from it */
};

/* The gateway channel of provider whose credential `field` is value, or
 * NULL. */
const json_t *sim_channel(const struct sim_config *cfg, const char *provider, const char *field,
                          const char *value);
/* A channel's credential, or NULL. */
const char *sim_cred(const json_t *channel, const char *field);

/* callbacks.c: posts queued callbacks when due, on a thread of its own
 * (the queue is shared under one mutex). sim_callback_add takes url and
 * body (allocated) and the optional header line (copied). */
int sim_callbacks_start(void);
void sim_callbacks_stop(void);
void sim_callback_add(int64_t due_ms, char *url, char *body, const char *content_type,
                      const char *header);
int64_t sim_now_ms(void);

/* providers.c: the routes, on an ulfius instance */
struct _u_instance;
void sim_routes(struct _u_instance *inst, const struct sim_config *cfg);
void sim_routes_free(void);

#endif
