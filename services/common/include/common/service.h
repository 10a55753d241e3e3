/*
 * The life cycle every service shares, so that a service's main.c shows
 * only its own data path: settings, logging, signals (blocked before any
 * library starts threads), PostgreSQL (the config schema and the service's
 * schema migrated under advisory locks), the network config snapshot, the
 * producer, Redis, the HTTP server with /healthz, /readyz and /metrics, and
 * the bounded shutdown on SIGTERM/SIGINT.
 */
#ifndef CF_COMMON_SERVICE_H
#define CF_COMMON_SERVICE_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include "common/config.h"
#include "common/consumer.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/netconf.h"
#include "common/pg.h"
#include "common/redis.h"

/* The most consumers a service holds: leads at its most fold runners (6)
 * and its three other consumers is 9; each a thread and a connection. */
#define CF_SERVICE_MAX_CONSUMERS 12
#define CF_SERVICE_MAX_WORKERS 8

/* A background loop of the service's own (a sweeper): fn(ctx) runs in its
 * own thread and returns once cf_service_sleep() reports the shutdown. */
typedef void (*cf_worker_fn)(void *ctx);

struct cf_service {
    struct cf_settings settings;
    const struct cf_config_var *extra; /* the service's own table */
    size_t nextra;
    sigset_t sigs;
    struct cf_pg_pool *pg;
    struct cf_producer *producer;
    struct cf_redis *redis;
    struct cf_netconf *netconf;
    struct cf_http *http;
    struct cf_consumer *consumers[CF_SERVICE_MAX_CONSUMERS];
    char *consumer_groups[CF_SERVICE_MAX_CONSUMERS]; /* group ids, for /readyz */
    size_t nconsumers;
    pthread_t workers[CF_SERVICE_MAX_WORKERS];
    char *worker_names[CF_SERVICE_MAX_WORKERS];
    size_t nworkers;
    int routes_need_pg;      /* readiness needs PostgreSQL without consumers too */
    pthread_mutex_t stop_mu; /* guards stopping; stop_cv wakes sleeping workers */
    pthread_cond_t stop_cv;
    int stopping;
};

/* Everything up to (not including) starting HTTP. A bad setting prints the
 * reason and exits 2; any other failure returns a negative cf_err with the
 * reason logged (main exits 1). schema/migrations may be NULL/0. */
int cf_service_init(struct cf_service *svc, const char *name, long default_port,
                    const struct cf_config_var *extra, size_t nextra, const char *schema,
                    const struct cf_migration *migrations, size_t nmigrations);

/* Releases what cf_service_init created, for a main that stops before
 * cf_service_start (a setting of its own refused): the producer's threads
 * and the pools do not outlive it to the exit. */
void cf_service_discard(struct cf_service *svc);

/* Declares that the service's HTTP routes take events without PostgreSQL
 * (verify, normalize, produce: the intake shape), so an instance that runs
 * no consumer is ready with Kafka and a loaded config snapshot alone.
 * Without it readiness always needs PostgreSQL (a record API's handlers
 * write it). Call after cf_service_init, before cf_service_start. */
void cf_service_routes_without_pg(struct cf_service *svc);

/* Starts a consumer runner and keeps it for shutdown. */
int cf_service_add_consumer(struct cf_service *svc, const struct cf_consumer_conf *cc);

/* Starts HTTP (routes added before with cf_http_route on svc->http). */
int cf_service_start(struct cf_service *svc);

/* Waits for SIGTERM/SIGINT, then shuts down in order with deadlines: stop
 * HTTP, stop consumers, flush the producer, close pools. Returns the exit
 * code: 0 when every step finished in time, 1 when one was abandoned.
 * A second signal exits at once. */
int cf_service_run(struct cf_service *svc);

/* Starts a worker thread running fn(ctx) (after cf_service_init). It is
 * stopped, and joined under the shutdown deadlines, right after HTTP stops
 * and before the consumers. 0, or CF_EINTERNAL. */
int cf_service_add_worker(struct cf_service *svc, const char *name, cf_worker_fn fn, void *ctx);
/* Sleeps up to ms; returns 1 at once when the service is shutting down,
 * 0 when the time passed. Workers call it between rounds. */
int cf_service_sleep(struct cf_service *svc, long ms);

/* Why an API key was refused: the answer's status (401, 403, or 503 while
 * the config snapshot is stale), error code and message, and the
 * Retry-After of a 503 (0: none). */
struct cf_key_refusal {
    int status;
    const char *code;
    char message[160];
    long retry_after_s;
};

/* The key check itself, for any listener: authorization is the request's
 * Authorization header (NULL when absent). 0 with *snap_out (release it)
 * and *net_out; otherwise the error (CF_EUNAVAIL, CF_EAUTH, CF_EFORBIDDEN)
 * with *why filled in and nothing held. A key limited to some clinics is
 * refused (403): a route that serves only some clinics asks
 * cf_service_check_grant and checks them itself. */
int cf_service_check_key(struct cf_service *svc, const char *authorization, unsigned scope,
                         struct cf_netconf_snapshot **snap_out, const struct cf_network **net_out,
                         struct cf_key_refusal *why);
/* The same check for a key known by its SHA-256 (NULL: no key at all, a
 * 401), with what the key may do in *grant (valid while *snap_out is held). */
int cf_service_check_grant(struct cf_service *svc, const uint8_t *hash, unsigned scope,
                           struct cf_netconf_snapshot **snap_out, struct cf_key_grant *grant,
                           struct cf_key_refusal *why);
/* Answers a refused check (rc and why from the two above): 503 with
 * Retry-After, or 401 (with WWW-Authenticate) or 403. */
void cf_service_refuse(struct _u_response *resp, int rc, const struct cf_key_refusal *why);

/* Authorizes a request: on failure sets a 401/403 error response and
 * returns non-zero. While the config snapshot is older than
 * CLINICFLOW_CONFIG_MAX_AGE_S (PostgreSQL unreadable that long, so a key
 * revoked since would still pass) it refuses every key with 503 and
 * Retry-After and returns CF_EUNAVAIL. On success *snap_out holds a
 * snapshot reference (release it) and *net_out the key's network. */
int cf_service_authorize(struct cf_service *svc, const struct _u_request *req,
                         struct _u_response *resp, unsigned scope,
                         struct cf_netconf_snapshot **snap_out, const struct cf_network **net_out);

#endif
