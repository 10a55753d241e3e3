/*
 * Internal interface of clinicflow-leads: its settings, its context, and
 * the entry points main.c and routes.c wire up. Each part declares the
 * rest of what it offers in its own header (lead_store.h, tasks.h, ...). Not
 * used outside this service.
 */
#ifndef CF_LEADS_LEADS_H
#define CF_LEADS_LEADS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <ulfius.h>

#include "common/client_addr.h"
#include "common/config.h"
#include "common/consumer.h"
#include "common/envelope.h"
#include "common/fold_progress.h"
#include "common/netconf.h"
#include "common/patients.h"
#include "common/service.h"
#include "common/topics.h"

/* The internal topic of lead facts (the fold's input): intake, the events
 * route and the call bridge produce to it. */
#define LEADS_TOPIC_RAW CF_TOPIC_LEADS_RAW

/* The service's own settings (CLINICFLOW_LEADS_*), read once in main
 * (settings.c); README.md's settings list documents each. Per-clinic and
 * per-channel values in the network configuration win over the defaults
 * here where both exist. */
struct leads_settings {
    /* intake */
    int consumers;         /* this instance also runs the consumers and workers */
    char *default_cc;      /* country code for national number forms */
    char *trusted_proxies; /* addresses/networks whose X-Forwarded-For is believed */
    long text_max;         /* a lead's text is cut (and marked) past this many characters */
    long replay_window_s;  /* a signed provider time further from the arrival is a replay */
    long hook_max_age_s;   /* a provider's own message time is believed this far back */
    long hook_max_ahead_s; /* ... and this far ahead of the arrival */

    /* rate limits on the routes a browser calls (Redis; skipped when it is down) */
    long form_time_max_age_s;       /* a form's submitted_at is believed this far back */
    long form_per_ip_per_minute;    /* form posts per client address per minute */
    long form_per_contact_per_hour; /* form posts per contact (phone/e-mail) per hour */
    long codes_per_ip_per_minute;   /* attribution codes per client address per minute */
    long code_ttl_s;                /* an attribution code is good this long */

    /* the fold */
    long merge_window_s;   /* a request this soon after the open lead's last message merges */
    long fold_batch_max;   /* facts the fold applies in one transaction, at most */
    long fold_runners;     /* fold consumers (threads) of an instance with consumers */
    long pending_expire_s; /* a fact naming a lead not stored yet waits this long, then the DLQ */

    /* tasks and the response clock */
    long response_due_s;    /* a respond task is due this many working seconds after the lead */
    long callback_due_s;    /* a form lead's callback task is due this long after it */
    long sweep_interval_ms; /* how often the sweeper looks for breached leads */
    long task_expire_s;     /* a task still open this long after it opened expires */

    /* the outgoing webhook */
    long notify_timeout_ms;   /* one delivery attempt's deadline */
    long notify_max_attempts; /* attempts before a delivery is given up (and counted) */
    long notify_backoff_ms;   /* the first retry's delay; each next one doubles, up to an hour */
    long notify_interval_ms;  /* how often the deliverer looks for due deliveries */
    long notify_max_age_s;    /* an event older than this on the topic is not sent */

    /* retention (retention.c); days 0: for ever */
    long retention_applied_events_days; /* applied event ids kept this long */
    long retention_deliveries_days;     /* done webhook deliveries kept this long after */
    long retention_tasks_days;          /* closed or expired tasks kept this long after */
    long retention_leads_days;          /* closed leads kept this long after their last message */
    long retention_interval_s;          /* how often the sweeper runs (one instance) */
    long retention_chunk;               /* rows deleted per statement */
};

struct leads_ctx {
    struct cf_service *svc;
    struct leads_settings cfg;
    struct cf_proxies proxies; /* parsed from cfg.trusted_proxies at start */
    /* The phone -> patient view in schema leads (patients.c); its batch
     * state is touched only on the patients consumer's thread. */
    struct cf_patients patients;
    /* How far the lead fold has come, as the calls consumer asks it
     * (call_responses.c), and when it last sampled the topic: made and
     * used on that consumer's thread only, freed at exit. */
    struct cf_fold_progress *calls_fold;
    int64_t calls_fold_sampled_ms;
};

/* settings.c: the table for cf_service_init (its targets cfg's members;
 * *n gets its length) and the checks between settings once loaded: 0, or
 * CF_EINVAL naming the variable (main exits 2). */
const struct cf_config_var *leads_settings_table(struct leads_settings *cfg, size_t *n);
int leads_settings_check(const struct leads_settings *cfg, char *errbuf, size_t errbuf_size);

/* routes.c: every HTTP route of the service. */
void leads_routes_register(struct leads_ctx *ctx);

/* hooks.c: /v1/hooks/leads/{provider}/{channel} (POST, and GET for the
 * handshakes some providers make). */
int leads_handle_hook(const struct _u_request *req, struct _u_response *resp, void *user);
/* Describes the hooks' metrics (once, at start). */
void leads_hooks_describe_metrics(void);

/* events.c: POST /v1/leads/{id}/events (responded, booked, lost, spam). */
int leads_handle_event_post(const struct _u_request *req, struct _u_response *resp, void *user);

/* codes.c: POST (and OPTIONS) /v1/leads/codes, the public attribution code
 * route; snippet.c: GET /v1/leads/snippet.js, the page script. */
int leads_handle_code_post(const struct _u_request *req, struct _u_response *resp, void *user);
int leads_handle_snippet(const struct _u_request *req, struct _u_response *resp, void *user);

/* Consumers and workers, added by main.c where CLINICFLOW_LEADS_CONSUMERS
 * is 1; each file's header says more. */
int leads_fold_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                     const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                     size_t errbuf_size); /* fold_consumer.c: leads.raw -> leads.v1, tasks.v1 */
int leads_fold_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                           const rd_kafka_message_t *const *rkms, size_t n, struct cf_outbox *out,
                           char *errbuf, size_t errbuf_size); /* fold_consumer.c: a batch */
void leads_fold_describe_metrics(void);                       /* fold_consumer.c: once, at start */
int leads_patients_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                         const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                         size_t errbuf_size);             /* patients.c: patients.v1 -> the view */
void leads_patients_batch_done(void *ctx, int committed); /* patients.c: cache versions */
void leads_patients_init(struct leads_ctx *ctx); /* patients.c: the view, before consumers */
/* tasks.c: the lead events queued on out from index from on (the fold's,
 * in its transaction) open and close the leads' tasks -> tasks.v1 */
int leads_tasks_follow(void *ctx, PGconn *conn, struct cf_outbox *out, size_t from, char *errbuf,
                       size_t errbuf_size);
int leads_calls_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                      const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                      size_t errbuf_size); /* call_responses.c: calls.v1 -> responses */
int leads_notify_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                       const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                       size_t errbuf_size); /* notify.c: leads.v1 -> deliveries */
int leads_notify_any(void *ctx);            /* notify.c: 1 when a clinic has a webhook */
void leads_sweeper(void *ctx);              /* sweeper.c: lead.sla_breached */
void leads_notifier(void *ctx);             /* notify_send.c: the outgoing webhook's deliveries */
void leads_pending_expirer(void *ctx);      /* pending.c: waiting facts expire to the DLQ */
void leads_retention_sweeper(void *ctx);    /* retention.c: rows past their retention */

#define LEADS_FOLD_GROUP "clinicflow-leads-fold"
/* The consumer of calls.v1 whose answered calls are leads' responses
 * (call_responses.c). */
#define LEADS_CALLS_GROUP "clinicflow-leads-calls"

#endif
