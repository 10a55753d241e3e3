/*
 * Holds put back after Redis lost its data. The compose file runs Redis
 * without persistence: a restart forgets every hold while pages opened
 * before it still show their numbers, and a number given to a new visitor
 * then would be shown to two people at once, its calls attributed to
 * whichever session matched. So when the route's script finds no epoch it
 * sets a new one and the mark CALLS_DNI_RESTORING with it, and takes no
 * new hold while the mark is there (dni_route.c). The first instance whose
 * request meets the mark (the Redis lock cf:dni:restore:lock) reads the
 * live sessions of calls.dni_sessions, the latest of each number whose
 * hold has not ended, and one script puts each hold back (the number's key
 * and its visitor's, for the time the hold has left, and the held set the
 * pool advice counts), then removes the mark. A number held again already
 * is left as it is. The route never waits on PostgreSQL: a request that
 * meets the mark asks this instance's worker (the flusher thread) to
 * restore, and waits for it CALLS_DNI_RESTORE_WAIT_MS at most; the worker
 * also looks for the mark every flush interval. Requests that meet the
 * mark meanwhile, or while another instance restores, are answered as with
 * Redis down (a page keeps its number). With PostgreSQL down the mark
 * lasts CALLS_DNI_RESTORE_GUARD_MS; then new holds go on without the lost
 * ones.
 *
 * A session's end in PostgreSQL trails the hold's by up to the flush
 * interval (extensions are written in batches, dni_sessions.c): a visitor
 * who comes back in that gap takes a new hold. Sessions still waiting in
 * Redis for PostgreSQL were lost with the rest.
 */
#include "dni.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/redis.h"
#include "common/time.h"
#include "common/xmalloc.h"

#define RESTORE_LOCK "cf:dni:restore:lock"
#define RESTORE_LOCK_MS 10000L

/* The latest session of each number whose hold has not ended, oldest
 * first (a visitor who held two numbers keeps the later). */
static const char live_sessions_sql[] =
    "SELECT network_id, clinic_id, number, visitor_id, r_ms, u_ms FROM ("
    " SELECT DISTINCT ON (network_id, number) network_id, clinic_id, number, visitor_id,"
    " (extract(epoch FROM reserved_at) * 1000)::bigint AS r_ms,"
    " (extract(epoch FROM held_until) * 1000)::bigint AS u_ms"
    " FROM calls.dni_sessions WHERE held_until > now()"
    " ORDER BY network_id, number, reserved_at DESC) s"
    " ORDER BY r_ms";
#define LIVE_SESSION_COLUMNS 6

/* ARGV: now in ms, then six a hold: network, clinic, number, visitor,
 * reserved at ms, held until ms (keys as dni_route.c's script keeps
 * them). Answers how many holds it put back. */
static const char restore_script[] =
    "local now = tonumber(ARGV[1])\n"
    "local n = 0\n"
    "for i = 2, #ARGV - 5, 6 do\n"
    "  local left = tonumber(ARGV[i + 5]) - now\n"
    "  local pool = '" CALLS_DNI_POOL_PREFIX "' .. ARGV[i + 1] .. ':'\n"
    "  local nk = '" CALLS_DNI_HOLDER_PREFIX "' .. ARGV[i] .. ':' .. ARGV[i + 2]\n"
    "  if left > 0 and redis.call('SET', nk, ARGV[i + 1] .. ' ' .. ARGV[i + 3], 'NX', 'PX', left)"
    " then\n"
    "    redis.call('SET', '" CALLS_DNI_VISITOR_PREFIX "' .. ARGV[i + 1] .. ':' .. ARGV[i + 3],\n"
    "      ARGV[i + 2] .. ' ' .. ARGV[i + 4], 'PX', left)\n"
    "    redis.call('ZADD', pool .. 'held', ARGV[i + 5], ARGV[i + 2])\n"
    "    if redis.call('PTTL', pool .. 'held') < left * 2 then\n"
    "      redis.call('PEXPIRE', pool .. 'held', left * 2)\n"
    "    end\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', '" CALLS_DNI_RESTORING "')\n"
    "return n\n";

/* Puts the live sessions of res back as holds; 1 when Redis took them. */
static int put_back(struct calls_ctx *ctx, PGresult *res)
{
    const int rows = PQntuples(res);
    const char **argv = cf_xcalloc(4 + LIVE_SESSION_COLUMNS * (size_t)rows, sizeof(char *));
    char now[24];
    int argc = 0;

    snprintf(now, sizeof(now), "%lld", (long long)cf_time_now_ms());
    argv[argc++] = "EVAL";
    argv[argc++] = restore_script;
    argv[argc++] = "0";
    argv[argc++] = now;
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < LIVE_SESSION_COLUMNS; c++)
            argv[argc++] = PQgetvalue(res, i, c);
    redisReply *r = cf_redis_command_argv(ctx->svc->redis, argc, argv, NULL);
    free(argv);
    const int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (ok) {
        cf_info("dni: redis had lost its data; %lld of %d live holds put back from postgresql",
                r->integer, rows);
        cf_metrics_add("clinicflow_dni_restored_holds_total", "", (double)r->integer);
    }
    freeReplyObject(r);
    return ok;
}

/* What the route asked of the worker, and what the worker did. */
static pthread_mutex_t ask_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the three below */
static pthread_cond_t ask_cv;                                /* a restore was tried */
static pthread_once_t ask_cv_once = PTHREAD_ONCE_INIT;
static int wanted;               /* a request met the mark */
static unsigned long tried, put; /* restores tried by the worker, and those that put holds back */

static void ask_cv_init(void)
{
    cf_time_cond_init_monotonic(&ask_cv);
}

static int calls_dni_restore(struct calls_ctx *ctx)
{
    char token[64], errbuf[256];
    PGresult *res = NULL;
    int done = 0;

    snprintf(token, sizeof(token), "%ld-%lld", (long)getpid(), (long long)cf_time_mono_ms());
    redisReply *r = cf_redis_command(ctx->svc->redis, "SET %s %s NX PX %ld", RESTORE_LOCK, token,
                                     RESTORE_LOCK_MS);
    const int locked = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!locked)
        return 0; /* another instance restores, or Redis is down */
    if (cf_pg_pool_exec(ctx->svc->pg, live_sessions_sql, 0, NULL, &res, errbuf, sizeof(errbuf)))
        cf_warn("dni: redis lost its holds; postgresql cannot give them back now: %s", errbuf);
    else
        done = put_back(ctx, res);
    PQclear(res);
    freeReplyObject(cf_redis_command(
        ctx->svc->redis, "EVAL %s 1 %s %s",
        "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end",
        RESTORE_LOCK, token));
    return done;
}

int calls_dni_restore_wait(long ms)
{
    struct timespec until;

    pthread_once(&ask_cv_once, ask_cv_init);
    cf_time_deadline(CLOCK_MONOTONIC, ms, &until);
    pthread_mutex_lock(&ask_lock);
    const unsigned long had_tried = tried, had_put = put;
    wanted = 1;
    while (tried == had_tried && pthread_cond_timedwait(&ask_cv, &ask_lock, &until) == 0)
        ;
    const int done = put != had_put;
    pthread_mutex_unlock(&ask_lock);
    return done;
}

void calls_dni_restore_work(struct calls_ctx *ctx, int tick)
{
    pthread_once(&ask_cv_once, ask_cv_init);
    pthread_mutex_lock(&ask_lock);
    int want = wanted;
    wanted = 0;
    pthread_mutex_unlock(&ask_lock);
    if (!want && tick) {
        redisReply *r = cf_redis_command(ctx->svc->redis, "EXISTS %s", CALLS_DNI_RESTORING);
        want = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
    }
    if (!want)
        return;
    const int done = calls_dni_restore(ctx);
    pthread_mutex_lock(&ask_lock);
    tried++;
    put += done;
    pthread_cond_broadcast(&ask_cv);
    pthread_mutex_unlock(&ask_lock);
}
