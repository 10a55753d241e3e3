/*
 * Internal interface of clinicflow-analytics: its settings, its context,
 * and the entry points main.c wires up. Not used outside this service.
 */
#ifndef CF_ANALYTICS_ANALYTICS_H
#define CF_ANALYTICS_ANALYTICS_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <ulfius.h>

#include "common/consumer.h"
#include "common/service.h"

/* The consumer groups: calls.v1 and tasks.v1; leads.v1; appointments.v1
 * and patients.v1. */
#define ANALYTICS_CALLS_GROUP "clinicflow-analytics-calls"
#define ANALYTICS_LEADS_GROUP "clinicflow-analytics-leads"
#define ANALYTICS_MIS_GROUP "clinicflow-analytics-mis"
#define ANALYTICS_REMINDERS_GROUP "clinicflow-analytics-reminders"

/* The service's own settings (CLINICFLOW_ANALYTICS_*), read once in main
 * (settings.c); README.md's settings list documents each. */
struct analytics_settings {
    long runners;       /* consumer runners of each group in an instance */
    long batch_max;     /* messages applied in one transaction, at most */
    long cache_ttl_s;   /* a cached report answer lives this long at most; 0: no cache */
    long timeout_ms;    /* a report's statements may run this long */
    long work_mem_mb;   /* a report statement's work_mem */
    long session_ttl_s; /* a dashboard session lives this long */
    int cookie_secure;  /* the session cookie is Secure */
    char *web_dir;      /* the dashboard's files ("": beside the binary) */
};

struct analytics_web;

struct analytics_ctx {
    struct cf_service *svc;
    struct analytics_settings cfg;
    char store_id[40];         /* analytics.store's id, read at start (report_cache.c) */
    struct analytics_web *web; /* the dashboard's files, read at start (web_routes.c) */
};

const struct cf_config_var *analytics_settings_table(struct analytics_settings *cfg, size_t *n);

/* The values of obj (a batch's rows by id) as a new array, for a
 * statement over the whole batch. */
static inline json_t *analytics_values(const json_t *obj)
{
    json_t *arr = json_array(), *v;
    const char *key;
    json_object_foreach((json_t *)obj, key, v)
    {
        json_array_append(arr, v);
    }
    return arr;
}

/* The consumer of calls.v1 and tasks.v1 (calls_apply.c): a
 * cf_apply_batch_fn with an analytics_ctx (it takes single messages too:
 * the consumers have no apply of their own). */
int analytics_calls_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                                const rd_kafka_message_t *const *rkms, size_t n,
                                struct cf_outbox *out, char *errbuf, size_t errbuf_size);
/* The consumer of leads.v1 (leads_apply.c), the same way. */
int analytics_leads_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                                const rd_kafka_message_t *const *rkms, size_t n,
                                struct cf_outbox *out, char *errbuf, size_t errbuf_size);

/* The consumer of appointments.v1 and patients.v1 (mis_apply.c). */
int analytics_mis_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                              const rd_kafka_message_t *const *rkms, size_t n,
                              struct cf_outbox *out, char *errbuf, size_t errbuf_size);

/* The consumer of reminders.outcomes.v1 (outcomes_apply.c). */
int analytics_outcomes_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                                   const rd_kafka_message_t *const *rkms, size_t n,
                                   struct cf_outbox *out, char *errbuf, size_t errbuf_size);

/* PUT /v1/spend and POST /v1/spend.csv (spend_routes.c). */
void analytics_spend_routes(struct analytics_ctx *ctx);

/* GET /v1/records/{kind} and GET /v1/worklist (records_routes.c). */
void analytics_records_routes(struct analytics_ctx *ctx);

/* GET /v1/reports/{report} (report_routes.c). */
/* 0 when every clinic id in clinics (an array, or NULL) is one of net's;
 * else the 400 unknown_clinic set on resp (another network's clinic is
 * as unknown as one that does not exist). */
void analytics_report_routes(struct analytics_ctx *ctx);
void analytics_session_routes(struct analytics_ctx *ctx);
/* Reads the dashboard's files and serves them at / and /assets/ (0, or
 * the reason in errbuf: the folder holds no index.html). */
int analytics_web_routes(struct analytics_ctx *ctx, char *errbuf, size_t errbuf_size);
void analytics_web_free(struct analytics_ctx *ctx);

#endif
