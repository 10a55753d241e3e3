/*
 * The life cycle every service shares: start-up in dependency order and a
 * bounded shutdown. The main design choice is that shutdown is a fixed
 * sequence of steps watched by a separate thread: the steps run on the
 * main thread in order (HTTP, consumers, producer flush, config reload,
 * Redis, PostgreSQL), each with a deadline carved out of the overall
 * CLINICFLOW_SHUTDOWN_TIMEOUT_MS so that later steps keep a reserve, and
 * the watchdog exits the process when a step overruns (some library calls
 * have no timeout of their own) or when a second signal arrives. A
 * consumer that does not stop in time is abandoned, and then nothing it
 * may still touch (producer, pools, settings) is freed.
 */
#include "common/service.h"

#include <pthread.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xmalloc.h"
#include "common/time.h"

/* Kafka deliveries, the breaker and consumer lag are recorded by the kafka
 * and consumer modules themselves; only the config version and age are
 * sampled. */
#define M_CONFIG_VERSION "clinicflow_config_version"
#define M_CONFIG_AGE "clinicflow_config_age_seconds"

/* Extra time a step with its own timeout gets before the watchdog steps in. */
#define STEP_GRACE_MS 500

/* 1 when the network config snapshot is too old to authorize API keys
 * with: PostgreSQL could not be read for longer than
 * CLINICFLOW_CONFIG_MAX_AGE_S, so a key revoked since may be in it. */
static int config_stale(struct cf_service *svc, int64_t *age_ms, int *poll_failing)
{
    *age_ms = cf_netconf_age_ms(svc->netconf, poll_failing);
    return *age_ms > (int64_t)svc->settings.config_max_age_s * 1000;
}

/*
 * /readyz follows the instance's role. Every instance needs Kafka and a
 * loaded config snapshot; PostgreSQL too where consumers run, or where the
 * service's routes write it (the default; cf_service_routes_without_pg
 * lifts it for intake routes). An intake-only instance does not ask
 * PostgreSQL (a server that does not answer would hold the probe for the
 * connect timeout): it reports what the config reload last saw. A stale
 * snapshot is reported but does not fail readiness: provider routes still
 * work with it, only API-key routes refuse (cf_service_authorize), and
 * every instance shares the same PostgreSQL. Redis is reported only.
 */
static int service_ready(json_t *j_out, void *user)
{
    struct cf_service *svc = user;
    const int consumers = svc->nconsumers > 0;
    const int needs_pg = consumers || svc->routes_need_pg;
    int64_t age_ms = 0;
    int poll_failing = 0;
    int stale = svc->netconf ? config_stale(svc, &age_ms, &poll_failing) : 0;
    int pg_ok = needs_pg ? svc->pg && cf_pg_pool_ping(svc->pg) == 0 : !poll_failing;
    int kafka_ok = svc->producer && cf_kafka_available(svc->producer);
    int config_ok = svc->netconf != NULL;
    int redis_ok = svc->redis && cf_redis_ping(svc->redis) == 0;
    json_object_set_new(j_out, "role", json_string(consumers ? "intake+consumers" : "intake"));
    json_object_set_new(j_out, "needs",
                        needs_pg ? json_pack("[sss]", "kafka", "config", "postgres")
                                 : json_pack("[ss]", "kafka", "config"));
    json_object_set_new(j_out, "postgres", json_string(pg_ok ? "ok" : "down"));
    json_object_set_new(j_out, "kafka", json_string(kafka_ok ? "ok" : "down"));
    json_object_set_new(j_out, "config", json_string(!config_ok ? "down" : stale ? "stale" : "ok"));
    json_object_set_new(j_out, "redis", json_string(redis_ok ? "ok" : "down"));
    json_object_set_new(j_out, "config_version",
                        json_integer(svc->netconf ? cf_netconf_version(svc->netconf) : 0));
    json_object_set_new(j_out, "config_age_ms", json_integer((json_int_t)age_ms));
    json_t *j_consumers = json_object();
    for (size_t i = 0; i < svc->nconsumers; i++) {
        /* a group's runners (several fold runners) are summed; unknown
         * (null) until one of them knows */
        long long lag = cf_consumer_lag(svc->consumers[i]);
        const json_t *j_prev = json_object_get(j_consumers, svc->consumer_groups[i]);
        if (lag >= 0 && json_is_integer(j_prev))
            lag += (long long)json_integer_value(j_prev);
        if (lag >= 0 || !j_prev)
            json_object_set_new(j_consumers, svc->consumer_groups[i],
                                lag >= 0 ? json_integer(lag) : json_null());
    }
    json_object_set_new(j_out, "consumers", j_consumers);
    return kafka_ok && config_ok && (pg_ok || !needs_pg);
}

/* Samples the loaded config version before /metrics and /readyz, so a
 * test can wait for a version instead of sleeping. */
static void service_metrics(void *user)
{
    struct cf_service *svc = user;
    if (svc->netconf) {
        cf_metrics_set(M_CONFIG_VERSION, "", (double)cf_netconf_version(svc->netconf));
        cf_metrics_set(M_CONFIG_AGE, "", (double)cf_netconf_age_ms(svc->netconf, NULL) / 1000.0);
    }
}

static void stop_workers(struct cf_service *svc);

/* Releases what a failed start-up had created, in reverse order. 1 when a
 * consumer did not stop in time and was abandoned: its thread may still
 * use the producer, the pools and the settings, which are then left to the
 * process exit, as cf_service_shutdown does; else 0. */
static int service_teardown(struct cf_service *svc)
{
    int abandoned = 0;
    cf_http_stop(svc->http);
    svc->http = NULL;
    stop_workers(svc);
    for (size_t i = 0; i < svc->nconsumers; i++) {
        if (cf_consumer_stop(svc->consumers[i], 2000) == CF_ETIMEOUT) {
            cf_error("consumer %s did not stop within 2000 ms; abandoning it",
                     svc->consumer_groups[i]);
            abandoned = 1;
            continue; /* its thread may still read the group id */
        }
        free(svc->consumer_groups[i]);
    }
    svc->nconsumers = 0;
    if (abandoned) {
        cf_warn("skipping producer and pool shutdown: a consumer was abandoned");
        return 1;
    }
    if (svc->producer)
        cf_kafka_producer_destroy(svc->producer, 1000);
    svc->producer = NULL;
    if (svc->redis)
        cf_redis_destroy(svc->redis);
    svc->redis = NULL;
    if (svc->netconf)
        cf_netconf_stop(svc->netconf);
    svc->netconf = NULL;
    if (svc->pg)
        cf_pg_pool_destroy(svc->pg);
    svc->pg = NULL;
    return 0;
}

static int migrate_all(struct cf_service *svc, const char *schema,
                       const struct cf_migration *migrations, size_t nmigrations)
{
    char errbuf[512];
    PGconn *conn = cf_pg_connect(svc->settings.pg_dsn, errbuf, sizeof errbuf);
    if (conn == NULL) {
        cf_error("could not connect to postgresql: %s", errbuf);
        return CF_EUNAVAIL;
    }
    int rc = cf_pg_migrate(conn, "config", cf_netconf_migrations, cf_netconf_migrations_n, errbuf,
                           sizeof errbuf);
    if (rc != 0) {
        cf_error("could not migrate schema config: %s", errbuf);
    } else if (schema && migrations && nmigrations > 0) {
        rc = cf_pg_migrate(conn, schema, migrations, nmigrations, errbuf, sizeof errbuf);
        if (rc != 0)
            cf_error("could not migrate schema %s: %s", schema, errbuf);
    }
    PQfinish(conn);
    return rc;
}

/*
 * Signals are blocked first, in the calling (main) thread, so that every
 * thread a library starts later inherits the mask and SIGTERM/SIGINT reach
 * only sigwait/sigtimedwait. Exits 2 on a bad setting (the reason is
 * printed by the settings loader, which also initializes logging).
 */
int cf_service_init(struct cf_service *svc, const char *name, long default_port,
                    const struct cf_config_var *extra, size_t nextra, const char *schema,
                    const struct cf_migration *migrations, size_t nmigrations)
{
    char errbuf[512];
    memset(svc, 0, sizeof *svc);
    svc->extra = extra;
    svc->nextra = nextra;
    svc->routes_need_pg = 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    /* A consumer batch builds and frees statement parameters and outboxes
     * of a megabyte or more on its own thread. glibc gives such blocks back
     * to the kernel (mmap, or a thread arena's heap trimmed) and faults the
     * pages in again for the next batch: a tenth of the lead fold's CPU
     * (bench/RESULTS.md). Blocks up to 32 MiB come from the arenas, which
     * keep up to 64 MiB free. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    /* No fastbins: small blocks freed past the thread cache's few go
     * straight to the bins. With fastbins, every allocation of a kilobyte
     * or more (a statement's parameter growing, an event's text) first
     * merged all of them back (malloc_consolidate), and a batch's JSON
     * frees tens of thousands of small blocks: 13% of the lead fold's CPU
     * (bench/RESULTS.md, leads). */
    mallopt(M_MXFAST, 0);
    pthread_mutex_init(&svc->stop_mu, NULL);
    pthread_condattr_t cattr;
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC); /* cf_service_sleep's clock */
    pthread_cond_init(&svc->stop_cv, &cattr);
    pthread_condattr_destroy(&cattr);
    sigemptyset(&svc->sigs);
    sigaddset(&svc->sigs, SIGINT);
    sigaddset(&svc->sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &svc->sigs, NULL);

    if (cf_config_load_settings(&svc->settings, name, default_port, extra, nextra, errbuf,
                                sizeof errbuf) != 0)
        exit(2); // NOLINT(concurrency-mt-unsafe): start-up, before any thread exists

    cf_metrics_describe(M_CONFIG_VERSION, "gauge",
                        "Version of the network configuration snapshot in use (0: none)");
    cf_metrics_describe(M_CONFIG_AGE, "gauge",
                        "Seconds since the network configuration was last read from PostgreSQL");

    const struct cf_settings *s = &svc->settings;
    int rc = 0;
    cf_pg_set_prepared(s->pg_prepared_statements);
    svc->pg = cf_pg_pool_new(s->pg_dsn, (int)s->pg_pool_size, s->pg_acquire_timeout_ms);
    rc = migrate_all(svc, schema, migrations, nmigrations);
    if (rc != 0)
        goto fail;

    svc->netconf = cf_netconf_start(svc->pg, s->config_reload_ms, errbuf, sizeof errbuf);
    if (svc->netconf == NULL) {
        cf_error("could not load the network configuration: %s", errbuf);
        rc = CF_EUNAVAIL;
        goto fail;
    }
    svc->producer = cf_kafka_producer_new(s, errbuf, sizeof errbuf);
    if (svc->producer == NULL) {
        cf_error("could not create the kafka producer: %s", errbuf);
        rc = CF_EINTERNAL;
        goto fail;
    }
    svc->redis = cf_redis_new(s->redis_url, s->redis_timeout_ms);
    svc->http = cf_http_new(s, errbuf, sizeof errbuf);
    if (svc->http == NULL) {
        cf_error("could not create the http server: %s", errbuf);
        rc = CF_EINTERNAL;
        goto fail;
    }
    cf_http_set_ready(svc->http, service_ready, svc);
    cf_http_set_metrics_hook(svc->http, service_metrics, svc);
    return 0;

fail:
    cf_service_discard(svc);
    return rc;
}

void cf_service_discard(struct cf_service *svc)
{
    if (!service_teardown(svc))
        cf_config_free_settings(&svc->settings, svc->extra, svc->nextra);
}

void cf_service_routes_without_pg(struct cf_service *svc)
{
    svc->routes_need_pg = 0;
}

int cf_service_add_consumer(struct cf_service *svc, const struct cf_consumer_conf *cc)
{
    char errbuf[512];
    if (svc->nconsumers >= CF_SERVICE_MAX_CONSUMERS) {
        cf_error("could not start consumer %s: at most %d consumers", cc->group_id,
                 CF_SERVICE_MAX_CONSUMERS);
        return CF_EINVAL;
    }
    struct cf_consumer *c =
        cf_consumer_start(&svc->settings, svc->producer, cc, errbuf, sizeof errbuf);
    if (c == NULL) {
        cf_error("could not start consumer %s: %s", cc->group_id, errbuf);
        return CF_EUNAVAIL;
    }
    svc->consumers[svc->nconsumers] = c;
    svc->consumer_groups[svc->nconsumers] = cf_xstrdup(cc->group_id);
    svc->nconsumers++;
    return 0;
}

struct worker_start {
    cf_worker_fn fn;
    void *ctx;
};

static void *worker_main(void *arg)
{
    struct worker_start ws = *(struct worker_start *)arg;
    free(arg);
    ws.fn(ws.ctx);
    return NULL;
}

int cf_service_add_worker(struct cf_service *svc, const char *name, cf_worker_fn fn, void *ctx)
{
    if (svc->nworkers >= CF_SERVICE_MAX_WORKERS) {
        cf_error("too many workers (at most %d)", CF_SERVICE_MAX_WORKERS);
        return CF_EINTERNAL;
    }
    struct worker_start *ws = cf_xmalloc(sizeof(*ws));
    ws->fn = fn;
    ws->ctx = ctx;
    int rc = pthread_create(&svc->workers[svc->nworkers], NULL, worker_main, ws);
    if (rc != 0) {
        free(ws);
        cf_error("could not start worker %s: %s", name, cf_strerror(rc));
        return CF_EINTERNAL;
    }
    svc->worker_names[svc->nworkers++] = cf_xstrdup(name);
    return 0;
}

int cf_service_sleep(struct cf_service *svc, long ms)
{
    struct timespec until;
    cf_time_deadline(CLOCK_MONOTONIC, ms, &until);
    pthread_mutex_lock(&svc->stop_mu);
    while (!svc->stopping) {
        if (pthread_cond_timedwait(&svc->stop_cv, &svc->stop_mu, &until) != 0)
            break;
    }
    int stopping = svc->stopping;
    pthread_mutex_unlock(&svc->stop_mu);
    return stopping;
}

/* Tells the workers to stop and joins them; the watchdog bounds the wait. */
static void stop_workers(struct cf_service *svc)
{
    pthread_mutex_lock(&svc->stop_mu);
    svc->stopping = 1;
    pthread_cond_broadcast(&svc->stop_cv);
    pthread_mutex_unlock(&svc->stop_mu);
    for (size_t i = 0; i < svc->nworkers; i++) {
        pthread_join(svc->workers[i], NULL);
        free(svc->worker_names[i]);
        svc->worker_names[i] = NULL;
    }
    svc->nworkers = 0;
}

int cf_service_start(struct cf_service *svc)
{
    char errbuf[512];
    int rc = cf_http_start(svc->http, errbuf, sizeof errbuf);
    if (rc != 0) {
        cf_error("%s", errbuf);
        return rc;
    }
    cf_info("listening on http://%s:%u", svc->settings.http_host, cf_http_port(svc->http));
    return 0;
}

/* What the watchdog watches: the step under way and the deadlines. */
struct shutdown_watch {
    pthread_mutex_t mu;
    sigset_t sigs;
    long long deadline_ms;      /* overall */
    long long step_deadline_ms; /* the current step's */
    const char *step;
    long timeout_ms;
    int done;
};

static void watch_step(struct shutdown_watch *w, const char *step, long long step_deadline_ms)
{
    pthread_mutex_lock(&w->mu);
    w->step = step;
    w->step_deadline_ms = step_deadline_ms < w->deadline_ms ? step_deadline_ms : w->deadline_ms;
    pthread_mutex_unlock(&w->mu);
    cf_info("shutdown: %s", step);
}

/*
 * The watchdog thread: a second SIGTERM/SIGINT exits 130 at once; a step
 * past its deadline, or the whole shutdown past CLINICFLOW_SHUTDOWN_TIMEOUT_MS,
 * is logged and exits 1. _exit skips atexit handlers and stdio flushing on
 * purpose: the threads still running may hold any lock.
 */
static void *watchdog_main(void *arg)
{
    struct shutdown_watch *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        int done = w->done;
        const char *step = w->step;
        long long step_deadline = w->step_deadline_ms;
        pthread_mutex_unlock(&w->mu);
        if (done)
            return NULL;

        long long now = cf_time_mono_ms();
        if (now >= w->deadline_ms) {
            cf_error("shutdown did not finish within %ld ms (step '%s' hung), exiting",
                     w->timeout_ms, step ? step : "-");
            _exit(1);
        }
        if (step && now >= step_deadline) {
            cf_error("shutdown step '%s' overran its deadline, exiting", step);
            _exit(1);
        }
        struct timespec slice = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
        int sig = sigtimedwait(&w->sigs, NULL, &slice);
        if (sig > 0) {
            cf_warn("second signal (%d) during shutdown, exiting at once", sig);
            _exit(130);
        }
    }
}

static long remaining_ms(long long until)
{
    long long left = until - cf_time_mono_ms();
    return left > 0 ? (long)left : 1;
}

/*
 * Waits for SIGTERM/SIGINT, then shuts down in order. Each step's deadline
 * leaves a reserve of the overall timeout for the steps after it
 * (consumers 20%, producer flush 10%, the rest 5%), so a slow step eats
 * its own share and any slack but never the others' minimum. Call from
 * the main thread after cf_service_start.
 */
int cf_service_run(struct cf_service *svc)
{
    int sig = 0;
    sigwait(&svc->sigs, &sig);
    cf_info("received signal %d, shutting down", sig);

    long total = svc->settings.shutdown_timeout_ms > 0 ? svc->settings.shutdown_timeout_ms : 10000;
    long long start = cf_time_mono_ms();
    long long reserve_rest = total * 5 / 100;
    long long reserve_producer = total * 10 / 100;
    long long reserve_consumers = svc->nconsumers ? total * 20 / 100 : 0;

    struct shutdown_watch w;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.mu, NULL);
    w.sigs = svc->sigs;
    w.timeout_ms = total;
    w.deadline_ms = start + total;
    w.step_deadline_ms = w.deadline_ms;
    pthread_t watchdog;
    int have_watchdog = pthread_create(&watchdog, NULL, watchdog_main, &w) == 0;
    if (!have_watchdog)
        cf_error("could not start the shutdown watchdog; shutting down unwatched");

    int code = 0, abandoned = 0;

    /* A request in flight may wait for its delivery report as long as the
     * HTTP layer drains; the step gets that long even if it eats into the
     * later steps' reserves (never past the whole deadline). */
    const long long planned_http =
        w.deadline_ms - reserve_consumers - reserve_producer - reserve_rest;
    long long http_deadline = planned_http;
    long long drain_deadline = start + cf_http_drain_ms(svc->http) + STEP_GRACE_MS;
    if (drain_deadline > http_deadline)
        http_deadline = drain_deadline < w.deadline_ms ? drain_deadline : w.deadline_ms;
    watch_step(&w, "stop http", http_deadline);
    cf_http_stop(svc->http);
    svc->http = NULL;
    /* A drain past the plan moves the next steps' deadlines as much (their
     * reserves shrink, the whole deadline holds). */
    long long overrun = cf_time_mono_ms() - planned_http;
    if (overrun < 0)
        overrun = 0;

    if (svc->nworkers > 0) {
        long long d = overrun > 0 ? cf_time_mono_ms() + 1000 : planned_http;
        watch_step(&w, "stop workers",
                   d < w.deadline_ms - reserve_rest ? d : w.deadline_ms - reserve_rest);
        stop_workers(svc);
    }

    long long consumers_deadline = w.deadline_ms - reserve_producer - reserve_rest + overrun;
    if (consumers_deadline > w.deadline_ms - reserve_rest)
        consumers_deadline = w.deadline_ms - reserve_rest;
    for (size_t i = 0; i < svc->nconsumers; i++)
        cf_consumer_stop_begin(svc->consumers[i]); /* all at once: see consumer.h */
    for (size_t i = 0; i < svc->nconsumers; i++) {
        char step[160];
        snprintf(step, sizeof step, "stop consumer %s", svc->consumer_groups[i]);
        long timeout = remaining_ms(consumers_deadline);
        watch_step(&w, step, cf_time_mono_ms() + timeout + STEP_GRACE_MS);
        if (cf_consumer_stop(svc->consumers[i], (int)timeout) == CF_ETIMEOUT) {
            cf_error("consumer %s did not stop within %ld ms; abandoning it",
                     svc->consumer_groups[i], timeout);
            code = 1;
            abandoned = 1;
            continue; /* its thread may still read the group id */
        }
        svc->consumers[i] = NULL;
    }

    if (abandoned) {
        /* An abandoned consumer thread may still use the producer, the
         * pools and the settings: leave them all to the process exit. */
        cf_warn("skipping producer flush and pool shutdown: a consumer was abandoned");
    } else {
        long timeout = remaining_ms(w.deadline_ms - reserve_rest);
        watch_step(&w, "flush producer", cf_time_mono_ms() + timeout + STEP_GRACE_MS);
        int left = cf_kafka_producer_destroy(svc->producer, (int)timeout);
        if (left > 0)
            cf_warn("producer closed with %d messages not delivered", left);
        svc->producer = NULL;

        watch_step(&w, "stop config reload", w.deadline_ms);
        cf_netconf_stop(svc->netconf);
        svc->netconf = NULL;
        watch_step(&w, "close redis", w.deadline_ms);
        cf_redis_destroy(svc->redis);
        svc->redis = NULL;
        watch_step(&w, "close postgresql pool", w.deadline_ms);
        cf_pg_pool_destroy(svc->pg);
        svc->pg = NULL;
        for (size_t i = 0; i < svc->nconsumers; i++) {
            free(svc->consumer_groups[i]);
            svc->consumer_groups[i] = NULL;
        }
        svc->nconsumers = 0;
    }

    pthread_mutex_lock(&w.mu);
    w.done = 1;
    pthread_mutex_unlock(&w.mu);
    if (have_watchdog)
        pthread_join(watchdog, NULL);
    pthread_mutex_destroy(&w.mu);

    cf_info("shutdown %s in %lld ms", code == 0 ? "complete" : "abandoned a step",
            cf_time_mono_ms() - start);
    if (!abandoned) {
        cf_metrics_reset();
        cf_config_free_settings(&svc->settings, svc->extra, svc->nextra);
    }
    return code;
}

int cf_service_check_grant(struct cf_service *svc, const uint8_t *hash, unsigned scope,
                           struct cf_netconf_snapshot **snap_out, struct cf_key_grant *grant,
                           struct cf_key_refusal *why)
{
    int64_t age_ms = 0;
    int poll_failing = 0;
    *snap_out = NULL;
    memset(grant, 0, sizeof(*grant));
    memset(why, 0, sizeof(*why));
    if (config_stale(svc, &age_ms, &poll_failing)) {
        why->status = 503;
        why->code = "unavailable";
        snprintf(why->message, sizeof(why->message),
                 "API keys cannot be checked: the network configuration could not be read for "
                 "%lld s",
                 (long long)(age_ms / 1000));
        why->retry_after_s = svc->settings.kafka_retry_after_s;
        return CF_EUNAVAIL;
    }
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(svc->netconf);
    int rc = hash ? cf_netconf_grant(snap, hash, scope, grant) : CF_EAUTH;
    if (rc == 0) {
        *snap_out = snap;
        return 0;
    }
    cf_netconf_release(snap);
    if (rc == CF_EFORBIDDEN) {
        why->status = 403;
        why->code = "forbidden";
        snprintf(why->message, sizeof(why->message),
                 "the API key lacks the scope this route needs");
    } else {
        why->status = 401;
        why->code = "unauthorized";
        snprintf(why->message, sizeof(why->message), "a valid API key is required");
    }
    return rc;
}

int cf_service_check_key(struct cf_service *svc, const char *authorization, unsigned scope,
                         struct cf_netconf_snapshot **snap_out, const struct cf_network **net_out,
                         struct cf_key_refusal *why)
{
    uint8_t hash[32];
    struct cf_key_grant grant;
    int rc =
        cf_service_check_grant(svc, cf_netconf_bearer_hash(authorization, hash) == 0 ? hash : NULL,
                               scope, snap_out, &grant, why);
    if (rc == 0 && grant.nclinics > 0) {
        /* a key limited to some clinics, on a route that does not look at
         * clinics: refused, never widened to the whole network */
        cf_netconf_release(*snap_out);
        *snap_out = NULL;
        why->status = 403;
        why->code = "forbidden";
        snprintf(why->message, sizeof(why->message),
                 "the API key is limited to some clinics; this route serves the whole network");
        return CF_EFORBIDDEN;
    }
    *net_out = grant.net;
    return rc;
}

void cf_service_refuse(struct _u_response *resp, int rc, const struct cf_key_refusal *why)
{
    if (rc == CF_EUNAVAIL) {
        cf_http_error_from(resp, CF_EUNAVAIL, why->message, NULL, why->retry_after_s);
    } else if (rc != 0) {
        cf_http_error(resp, why->status, why->code, why->message, NULL);
        if (why->status == 401)
            u_map_put(resp->map_header, "WWW-Authenticate", "Bearer");
    }
}

int cf_service_authorize(struct cf_service *svc, const struct _u_request *req,
                         struct _u_response *resp, unsigned scope,
                         struct cf_netconf_snapshot **snap_out, const struct cf_network **net_out)
{
    struct cf_key_refusal why;
    int rc = cf_service_check_key(svc, cf_http_header(req, "Authorization"), scope, snap_out,
                                  net_out, &why);
    cf_service_refuse(resp, rc, &why);
    return rc;
}
