/*
 * Redis client for caches and coordination. A handful of hiredis contexts
 * (at most CF_REDIS_MAX_CONTEXTS) sit behind a mutex; a caller takes one,
 * runs its command without holding the lock and gives it back. Connecting
 * is lazy and every connect and command is bounded by the timeout. A context
 * that failed is discarded, never reused, and a failure starts a back-off
 * (500 ms doubling to 5 s) during which commands fail at once instead of
 * each caller waiting out the timeout; when it ends one caller probes with a
 * fresh connection while the others keep failing fast. Warnings are
 * rate-limited so an outage produces a few log lines, not one per request.
 */
#include "common/redis.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "common/time.h"

#define CF_REDIS_MAX_CONTEXTS 8
#define CF_REDIS_BACKOFF_MIN_MS 500
#define CF_REDIS_BACKOFF_MAX_MS 5000
#define CF_REDIS_WARN_EVERY_MS 5000

struct cf_redis {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a context was returned or a slot freed */
    char host[256];
    int port;
    int db;
    int url_ok;
    long timeout_ms;
    redisContext *idle[CF_REDIS_MAX_CONTEXTS];
    int nidle;
    int total;          /* contexts idle, in use, or being connected */
    int64_t down_until; /* monotonic ms; commands fail fast before it */
    long backoff_ms;    /* next back-off length */
    int probing;        /* a caller is trying to reconnect after a back-off */
    int64_t last_warn;  /* monotonic ms of the last warning */
    unsigned long warn_suppressed;
};

int cf_redis_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db)
{
    static const char scheme[] = "redis://";
    if (!url || strncmp(url, scheme, sizeof(scheme) - 1) != 0 || hostlen == 0)
        return CF_EINVAL;
    const char *p = url + sizeof(scheme) - 1;
    const char *host_start, *host_end;
    if (*p == '[') { /* [IPv6]:port */
        host_start = p + 1;
        host_end = strchr(host_start, ']');
        if (!host_end)
            return CF_EINVAL;
        p = host_end + 1;
    } else {
        host_start = p;
        while (*p && *p != ':' && *p != '/')
            p++;
        host_end = p;
    }
    size_t len = (size_t)(host_end - host_start);
    if (len == 0 || len >= hostlen || memchr(host_start, '@', len))
        return CF_EINVAL;

    long port_val = 6379, db_val = 0;
    if (*p == ':') {
        char *end;
        errno = 0;
        port_val = strtol(p + 1, &end, 10);
        if (end == p + 1 || errno || port_val < 1 || port_val > 65535)
            return CF_EINVAL;
        p = end;
    }
    if (*p == '/') {
        p++;
        if (*p) {
            char *end;
            errno = 0;
            db_val = strtol(p, &end, 10);
            if (end == p || errno || db_val < 0 || db_val > 65535)
                return CF_EINVAL;
            p = end;
        }
    }
    if (*p != '\0')
        return CF_EINVAL;

    memcpy(host, host_start, len);
    host[len] = '\0';
    if (port)
        *port = (int)port_val;
    if (db)
        *db = (int)db_val;
    return 0;
}

struct cf_redis *cf_redis_new(const char *url, long timeout_ms)
{
    struct cf_redis *r = cf_xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &attr);
    pthread_condattr_destroy(&attr);
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 200;
    r->backoff_ms = CF_REDIS_BACKOFF_MIN_MS;
    r->url_ok = cf_redis_parse_url(url, r->host, sizeof(r->host), &r->port, &r->db) == 0;
    if (!r->url_ok)
        cf_error("invalid redis url: every redis command will fail");
    return r;
}

/* Logs a warning unless one was logged recently; counts the ones skipped.
 * Called with r->mu held. */
static void warn_limited(struct cf_redis *r, int64_t now, const char *what, const char *why)
{
    if (r->last_warn != 0 && now - r->last_warn < CF_REDIS_WARN_EVERY_MS) {
        r->warn_suppressed++;
        return;
    }
    cf_warn("%s at %s:%d: %s (%lu similar messages suppressed)", what, r->host, r->port, why,
            r->warn_suppressed);
    r->last_warn = now;
    r->warn_suppressed = 0;
}

/* Opens a context, sets its command timeout and selects the database.
 * NULL with the reason in why. Blocks up to about twice the timeout. */
static redisContext *redis_connect(struct cf_redis *r, char *why, size_t whylen)
{
    struct timeval tv = {.tv_sec = r->timeout_ms / 1000,
                         .tv_usec = (suseconds_t)((r->timeout_ms % 1000) * 1000)};
    redisContext *rc = redisConnectWithTimeout(r->host, r->port, tv);
    if (!rc || rc->err) {
        snprintf(why, whylen, "%s", rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return NULL;
    }
    if (redisSetTimeout(rc, tv) != REDIS_OK) {
        snprintf(why, whylen, "could not set timeout: %s", rc->errstr);
        redisFree(rc);
        return NULL;
    }
    if (r->db != 0) {
        redisReply *reply = redisCommand(rc, "SELECT %d", r->db);
        if (!reply || rc->err || reply->type == REDIS_REPLY_ERROR) {
            snprintf(why, whylen, "SELECT %d failed: %s", r->db,
                     rc->err ? rc->errstr : (reply ? reply->str : "no reply"));
            freeReplyObject(reply);
            redisFree(rc);
            return NULL;
        }
        freeReplyObject(reply);
    }
    return rc;
}

/* Starts or lengthens the back-off and drops the idle contexts, which most
 * likely share the fate of the one that failed. Called with r->mu held. */
static void backoff_locked(struct cf_redis *r)
{
    r->down_until = cf_time_mono_ms() + r->backoff_ms;
    r->backoff_ms *= 2;
    if (r->backoff_ms > CF_REDIS_BACKOFF_MAX_MS)
        r->backoff_ms = CF_REDIS_BACKOFF_MAX_MS;
    while (r->nidle > 0) {
        redisFree(r->idle[--r->nidle]);
        r->total--;
    }
    pthread_cond_broadcast(&r->cv);
}

/* Takes a context: an idle one, or a new connection if a slot is free.
 * NULL at once while backing off, after a failed connect (which starts the
 * back-off), or when every slot stays busy for the timeout. *probe is set
 * when this caller is the one reconnecting after a back-off. */
static redisContext *redis_take(struct cf_redis *r, int *probe)
{
    *probe = 0;
    if (!r->url_ok)
        return NULL;
    pthread_mutex_lock(&r->mu);
    if (r->down_until != 0) {
        if (cf_time_mono_ms() < r->down_until || r->probing) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        r->probing = 1;
        *probe = 1;
    }
    struct timespec deadline;
    cf_time_deadline(CLOCK_MONOTONIC, r->timeout_ms, &deadline);
    redisContext *rc = NULL;
    for (;;) {
        if (r->nidle > 0) {
            rc = r->idle[--r->nidle];
            pthread_mutex_unlock(&r->mu);
            return rc;
        }
        if (r->total < CF_REDIS_MAX_CONTEXTS) {
            r->total++;
            break;
        }
        if (pthread_cond_timedwait(&r->cv, &r->mu, &deadline) == ETIMEDOUT && r->nidle == 0 &&
            r->total >= CF_REDIS_MAX_CONTEXTS) {
            if (*probe)
                r->probing = 0;
            warn_limited(r, cf_time_mono_ms(), "redis busy",
                         "no connection free within the timeout");
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
    }
    pthread_mutex_unlock(&r->mu);

    /* Connecting blocks: outside the lock. */
    char why[256];
    rc = redis_connect(r, why, sizeof(why));
    if (!rc) {
        pthread_mutex_lock(&r->mu);
        r->total--;
        if (*probe)
            r->probing = 0;
        backoff_locked(r);
        warn_limited(r, cf_time_mono_ms(), "could not connect to redis", why);
        pthread_mutex_unlock(&r->mu);
    }
    return rc;
}

/* Returns a context after use: kept when ok (and the back-off is cleared),
 * else freed and the back-off starts or grows. */
static void redis_give(struct cf_redis *r, redisContext *rc, int ok, int probe, const char *why)
{
    pthread_mutex_lock(&r->mu);
    if (probe)
        r->probing = 0;
    if (ok) {
        if (r->down_until != 0)
            cf_info("redis at %s:%d is reachable again", r->host, r->port);
        r->down_until = 0;
        r->backoff_ms = CF_REDIS_BACKOFF_MIN_MS;
        assert(r->nidle < CF_REDIS_MAX_CONTEXTS);
        r->idle[r->nidle++] = rc;
        pthread_cond_signal(&r->cv);
    } else {
        redisFree(rc);
        r->total--;
        backoff_locked(r);
        warn_limited(r, cf_time_mono_ms(), "redis command failed", why);
    }
    pthread_mutex_unlock(&r->mu);
}

/* Sends one command on a pooled context and sorts out its reply: NULL (the
 * context dropped or the error reply logged) or the reply. */
static redisReply *redis_finish(struct cf_redis *r, redisContext *rc, int probe, redisReply *reply)
{
    if (!reply || rc->err) {
        char why[160];
        snprintf(why, sizeof(why), "%s", rc->err ? rc->errstr : "no reply");
        freeReplyObject(reply);
        redis_give(r, rc, 0, probe, why);
        return NULL;
    }
    redis_give(r, rc, 1, probe, NULL);
    if (reply->type == REDIS_REPLY_ERROR) {
        /* An error reply is an answer: the connection stays healthy. */
        char why[160];
        snprintf(why, sizeof(why), "%.*s", (int)(reply->len < 150 ? reply->len : 150),
                 reply->str ? reply->str : "");
        freeReplyObject(reply);
        pthread_mutex_lock(&r->mu);
        warn_limited(r, cf_time_mono_ms(), "redis error reply", why);
        pthread_mutex_unlock(&r->mu);
        return NULL;
    }
    return reply;
}

redisReply *cf_redis_command(struct cf_redis *r, const char *fmt, ...)
{
    int probe;
    redisContext *rc = redis_take(r, &probe);
    if (!rc)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(rc, fmt, ap);
    va_end(ap);
    return redis_finish(r, rc, probe, reply);
}

redisReply *cf_redis_command_argv(struct cf_redis *r, int argc, const char **argv,
                                  const size_t *argvlen)
{
    int probe;
    redisContext *rc = redis_take(r, &probe);
    if (!rc)
        return NULL;
    return redis_finish(r, rc, probe, redisCommandArgv(rc, argc, argv, argvlen));
}

int cf_redis_ping(struct cf_redis *r)
{
    redisReply *reply = cf_redis_command(r, "PING");
    int ok =
        reply && reply->type == REDIS_REPLY_STATUS && reply->str && strcmp(reply->str, "PONG") == 0;
    freeReplyObject(reply);
    return ok ? 0 : CF_EUNAVAIL;
}

void cf_redis_destroy(struct cf_redis *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    while (r->nidle > 0)
        redisFree(r->idle[--r->nidle]);
    pthread_mutex_unlock(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
