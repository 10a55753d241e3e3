/*
 * clinicflow-reminders: the clinic's MIS pushes patients and appointments
 * here (a record API: the row and its event's outbox entry commit
 * together, the answer follows the commit, a relay produces the event).
 * Reminder planning and dispatch build on these records.
 */
#ifndef CF_REMINDERS_H
#define CF_REMINDERS_H

#include <pthread.h>
#include <stddef.h>

#include <ulfius.h>

#include "common/config.h"
#include "common/service.h"

struct reminders_settings {
    char *default_cc;        /* country code of national number forms */
    long relay_every_ms;     /* the outbox relay's look for leftovers */
    long scheduler_every_ms; /* how often due jobs are looked for */
    long late_grace_s;       /* a job taken later than this past its due time is skipped */
    long dispatch_runners;   /* consumers of the commands topic an instance runs */
    long gateway_timeout_ms; /* a gateway's whole exchange */
    char *public_base_url;   /* how gateways reach us; "" unset */
    long recall_every_ms;    /* the recall's look for patients due */
    long batch_port;         /* POST /v1/mis/batch's listener (0: ephemeral) */
    long batch_writers;      /* writer threads (and connections) an import: 1 or 2 */
    char *batch_port_file;   /* its bound port written here; NULL none */
    long call_report_wait_s; /* a robot call with no report this long after it went: unknown */
    /* retention (retention.c); days 0: for ever */
    long retention_applied_events_days; /* applied event ids kept this long */
    long retention_sms_replies_days;    /* SMS replies taken kept this long after */
    long retention_nps_surveys_days;    /* unanswered surveys kept this long after expiry */
    long retention_campaign_pace_days;  /* an hour's campaign count kept this long after */
    long retention_interval_s;          /* how often the sweeper runs (one instance) */
    long retention_chunk;               /* rows deleted per statement */
};

struct reminders_ctx {
    struct cf_service *svc;
    struct reminders_settings cfg;
    /* The outbox relay's wake-up (relay.c): a commit with staged events
     * sets kicked and signals; the relay thread alone waits on it. */
    pthread_mutex_t relay_mu;
    pthread_cond_t relay_cv;
    int kicked;
};

/* settings.c */
const struct cf_config_var *reminders_settings_table(struct reminders_settings *cfg, size_t *n);
/* The checks across settings, after they are read: CF_EINVAL with the
 * reason in errbuf (the service exits 2). */
int reminders_settings_check(const struct reminders_settings *cfg, char *errbuf,
                             size_t errbuf_size);

/* mis_routes.c: PUT/GET/DELETE /v1/patients/{id}, PUT/GET /v1/appointments/{id} */
void reminders_mis_routes(struct reminders_ctx *ctx);

/* history_routes.c: PUT and GET /v1/appointments/{id}/reminders, a
 * visit's reminder history from the system before this one (history.h) */
void reminders_history_routes(struct reminders_ctx *ctx);

/* hooks.c: POST /v1/hooks/reminders/{provider}/{channel}, the gateways'
 * outcome reports */
void reminders_hooks_routes(struct reminders_ctx *ctx);

/* mis_batch.c: POST /v1/mis/batch (NDJSON, streamed) on a listener of its
 * own, stopped by a worker at shutdown. 0, or CF_EINTERNAL. */
int reminders_batch_start(struct reminders_ctx *ctx);

/* nps_routes.c: GET and POST /nps/{token}, the survey's page */
void reminders_nps_routes(struct reminders_ctx *ctx);

/* relay.c: produces reminders.outbox after each commit that staged events
 * (reminders_relay_kick) and every relay_every_ms for what an earlier
 * relay here or elsewhere could not send. */
void reminders_relay_init(struct reminders_ctx *ctx);
void reminders_relay_kick(struct reminders_ctx *ctx);
void reminders_relay(void *vctx);

/* silent_calls.c: the worker that gives a robot call no gateway reported
 * on within call_report_wait_s the outcome unknown. */
void reminders_silent_calls(void *vctx);
void reminders_relay_destroy(struct reminders_ctx *ctx);

/* retention.c: the worker deleting rows past their retention, one instance
 * at a time (the lease "retention" in reminders.leases). */
void reminders_retention(void *vctx);

#endif
