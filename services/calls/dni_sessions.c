/*
 * The sessions of tracking-number holds, from Redis to PostgreSQL. A
 * session (the row of calls.dni_sessions that attributes calls to a pool
 * number) of a new hold is kept by the route's script in Redis until
 * PostgreSQL has it:
 *
 *   cf:dni:u:<network>:<number>  hash: reservation ms -> the session
 *   cf:dni:unwritten             the set of those hashes
 *   cf:dni:unwritten:n           how many sessions they hold
 *
 * The instance that took the hold hands the row to its worker at once,
 * which writes it (milliseconds later while PostgreSQL is up) and then
 * removes it from Redis. Every flush interval one instance (the Redis lock
 * cf:dni:drain) writes what is left, in chunks: holds taken while
 * PostgreSQL was down, or by an instance that stopped before writing them.
 * The fold writes a number's unwritten sessions itself before it looks
 * one up (calls_dni_settle). An extension is written with the new end of
 * the session in batches by the worker (pending extensions sit in a
 * mutex-guarded table). So a provider that reports a call only at its end
 * (after the hold) is still attributed: the fold matches the call's start
 * against the recorded sessions.
 */
#include "dni.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/redis.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* Writes sessions (an array of {"n": network, "k": number, "r": reserved
 * at (RFC 3339), "u": held until in ms, "c": clinic, "w": visitor, "t":
 * tags}) in one statement, on conn or, if NULL, on a pooled connection: a
 * missing row is inserted, an existing one keeps the later end. The
 * hold's own rows (own: the new hold's, or the one Redis kept for it)
 * also set the tags it was taken with; an extension's (a later request,
 * perhaps from a page without them) only fills a missing row, which the
 * hold's own row corrects when it comes. The rows are written in key
 * order: instances writing the same sessions (a visitor's requests reach
 * several) cannot deadlock. */
static int write_sessions(struct calls_ctx *ctx, PGconn *conn, const json_t *j_rows, int own,
                          char *errbuf, size_t errbuf_size)
{
#define SESSIONS_UPSERT                                                                            \
    "INSERT INTO calls.dni_sessions AS s (network_id, clinic_id, number,"                          \
    " visitor_id, reserved_at, held_until, utm)"                                                   \
    " SELECT e.n, e.c, e.k, e.w, e.r, to_timestamp(e.u / 1000.0),"                                 \
    " coalesce(e.t, '{}') FROM jsonb_to_recordset($1::jsonb)"                                      \
    " AS e(n text, k text, r timestamptz, u bigint, c text, w text, t jsonb)"                      \
    " ORDER BY e.n, e.k, e.r"                                                                      \
    " ON CONFLICT (network_id, number, reserved_at) DO UPDATE"                                     \
    " SET held_until = greatest(s.held_until, EXCLUDED.held_until)"
    static const char extension_sql[] = SESSIONS_UPSERT;
    static const char own_sql[] = SESSIONS_UPSERT ", utm = EXCLUDED.utm";
#undef SESSIONS_UPSERT
    const char *sql = own ? own_sql : extension_sql;
    char *rows = cf_json_dumps(j_rows);
    const char *params[] = {rows};
    int rc;
    if (!rows) {
        snprintf(errbuf, errbuf_size, "out of memory");
        rc = CF_EINTERNAL;
    } else if (conn) {
        rc = cf_pg_exec(conn, sql, 1, params, NULL, errbuf, errbuf_size);
    } else {
        rc = cf_pg_pool_exec(ctx->svc->pg, sql, 1, params, NULL, errbuf, errbuf_size);
    }
    free(rows);
    return rc;
}

/* ---- pending extensions, flushed by the worker ------------------------ */

/* The sessions extended since the last flush: a Jansson object used as a
 * hash table, "<network>\n<number>\n<reserved at>" ->
 * {"n": network, "k": number, "r": reserved at, "u": held until in ms,
 *  "c": clinic, "w": visitor, "t": the request's tags}, so a request notes
 * its extension in O(1) however many visitors hold numbers. The flush
 * writes the session's row if it is missing (its insert failed, or Redis
 * took the hold but the answer came too late), so a hold that Redis has
 * is never without the row that attributes its calls for long. */
static pthread_mutex_t ext_lock = PTHREAD_MUTEX_INITIALIZER; /* guards ext_pending */
static json_t *ext_pending;

/* Adds one pending extension (stolen), keeping the later end; ext_lock held. */
static void pending_merge(const char *key, json_t *j_e)
{
    if (!ext_pending)
        ext_pending = json_object();
    json_t *j_old = json_object_get(ext_pending, key);
    if (j_old && json_integer_value(json_object_get(j_old, "u")) >=
                     json_integer_value(json_object_get(j_e, "u")))
        json_decref(j_e);
    else
        json_object_set_new(ext_pending, key, j_e);
}

void calls_dni_extension_note(const char *network_id, const char *clinic, const char *number,
                              const char *visitor, int64_t reserved_ms, int64_t held_until_ms,
                              const json_t *j_utm)
{
    char key[256], reserved[32];
    cf_time_format(reserved_ms, reserved);
    snprintf(key, sizeof(key), "%s\n%s\n%s", network_id, number, reserved);
    /* A deep copy of the tags: the entry crosses to the flusher's thread,
     * and nothing of it may keep a reference this thread still counts. */
    json_t *j_e = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "n", network_id, "k", number,
                            "r", reserved, "u", (json_int_t)held_until_ms, "c", clinic, "w",
                            visitor, "t", json_deep_copy(j_utm));
    pthread_mutex_lock(&ext_lock);
    pending_merge(key, j_e);
    pthread_mutex_unlock(&ext_lock);
}

/* Writes the pending extensions in one statement; if it fails they are
 * pending again for the next flush. */
static void flush_extensions(struct calls_ctx *ctx)
{
    char errbuf[256];
    pthread_mutex_lock(&ext_lock);
    json_t *pending = ext_pending;
    ext_pending = NULL;
    pthread_mutex_unlock(&ext_lock);
    if (!pending)
        return;
    json_t *j_rows = json_array();
    const char *key;
    json_t *j_e;
    json_object_foreach(pending, key, j_e)
    {
        json_array_append(j_rows, j_e);
    }
    if (write_sessions(ctx, NULL, j_rows, 0, errbuf, sizeof(errbuf)) != 0) {
        cf_warn("dni: could not write %zu hold extensions: %s", json_array_size(j_rows), errbuf);
        pthread_mutex_lock(&ext_lock);
        json_object_foreach(pending, key, j_e)
        {
            pending_merge(key, json_incref(j_e));
        }
        pthread_mutex_unlock(&ext_lock);
    }
    json_decref(j_rows);
    json_decref(pending);
}

/* ---- new holds: unwritten sessions, kept in Redis until written -------- */

#define DRAIN_LOCK "cf:dni:drain"
#define DRAIN_KEYS "100"      /* per-number hashes read per chunk */
#define DRAIN_CHUNKS 50       /* chunks per flush interval, at most */
#define NEW_PENDING_MAX 10000 /* rows waiting for this worker; past it the drain writes them */

/* The new holds this instance took, for its worker to write at once:
 * [[hash key, field, row], ...]. Losing them loses nothing (Redis keeps
 * each until it is written), so the array is capped and dropped when a
 * write fails. new_cv (monotonic clock) wakes the worker. */
static pthread_mutex_t new_lock = PTHREAD_MUTEX_INITIALIZER; /* guards new_pending */
static pthread_cond_t new_cv;
static pthread_once_t new_cv_once = PTHREAD_ONCE_INIT;
static json_t *new_pending;

static void new_cv_init(void)
{
    cf_time_cond_init_monotonic(&new_cv);
}

/* The row of a session (write_sessions' form); new ref. */
static json_t *session_row(const char *network_id, const char *clinic, const char *number,
                           const char *visitor, int64_t reserved_ms, int64_t held_until_ms,
                           json_t *j_utm)
{
    char reserved[32];
    cf_time_format(reserved_ms, reserved);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:O}", "n", network_id, "k", number, "r",
                     reserved, "u", (json_int_t)held_until_ms, "c", clinic, "w", visitor, "t",
                     j_utm);
}

/* The row of an unwritten session as hold_script keeps it: field the
 * reservation ms, value "network\nclinic\nnumber\nvisitor\nheld until
 * ms\ntags JSON". NULL if it is not one. */
static json_t *unwritten_row(const char *field, const char *value, size_t len)
{
    const char *part[6];
    size_t plen[6];
    const char *p = value, *end = value + len;
    for (int i = 0; i < 5; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl == p)
            return NULL;
        part[i] = p;
        plen[i] = (size_t)(nl - p);
        p = nl + 1;
    }
    part[5] = p;
    plen[5] = (size_t)(end - p);
    char *endp;
    const long long reserved = strtoll(field, &endp, 10);
    if (*endp != '\0' || reserved <= 0)
        return NULL;
    char *text[5];
    for (int i = 0; i < 5; i++)
        text[i] = cf_xasprintf("%.*s", (int)plen[i], part[i]);
    const long long until = strtoll(text[4], &endp, 10);
    json_error_t jerr;
    json_t *j_utm = *endp == '\0' ? cf_json_loadb(part[5], plen[5], 0, &jerr) : NULL;
    json_t *j_row = NULL;
    if (json_is_object(j_utm))
        j_row = session_row(text[0], text[1], text[2], text[3], reserved, until, j_utm);
    json_decref(j_utm);
    for (int i = 0; i < 5; i++)
        free(text[i]);
    return j_row;
}

/* Removes written sessions from Redis: ARGV holds (hash key, field) pairs.
 * Answers how many sessions are left unwritten. */
static const char forget_script[] =
    "local n = 0\n"
    "for i = 1, #ARGV, 2 do\n"
    "  n = n + redis.call('HDEL', ARGV[i], ARGV[i + 1])\n"
    "  if redis.call('HLEN', ARGV[i]) == 0 then\n"
    "    redis.call('SREM', '" CALLS_DNI_UNWRITTEN_SET "', ARGV[i])\n"
    "  end\n"
    "end\n"
    "local left = redis.call('DECRBY', '" CALLS_DNI_UNWRITTEN_COUNT "', n)\n"
    "if left < 0 then redis.call('SET', '" CALLS_DNI_UNWRITTEN_COUNT "', '0'); left = 0 end\n"
    "return left\n";

/* Up to ARGV[1] of the hashes of unwritten sessions, picked at random, as
 * {hashes seen, {key, field, value, key, field, value, ...}}. */
static const char unwritten_script[] =
    "local keys = redis.call('SRANDMEMBER', '" CALLS_DNI_UNWRITTEN_SET "', ARGV[1])\n"
    "local out = {}\n"
    "for _, k in ipairs(keys) do\n"
    "  local h = redis.call('HGETALL', k)\n"
    "  if #h == 0 then redis.call('SREM', '" CALLS_DNI_UNWRITTEN_SET "', k) end\n"
    "  for i = 1, #h, 2 do\n"
    "    out[#out + 1] = k; out[#out + 1] = h[i]; out[#out + 1] = h[i + 1]\n"
    "  end\n"
    "end\n"
    "return {#keys, out}\n";

static void publish_unwritten(long long left)
{
    cf_metrics_set("clinicflow_dni_unwritten_sessions", "", (double)left);
}

/* Forgets the written sessions of pairs ([key, field, ...]): -1 if Redis
 * could not be told (they are written again later: harmless). */
static long long forget_unwritten(struct calls_ctx *ctx, const json_t *j_pairs)
{
    const size_t n = json_array_size(j_pairs);
    const char **argv = cf_xcalloc(n + 3, sizeof(char *));
    size_t argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = forget_script;
    argv[argc++] = "0";
    for (size_t i = 0; i < n; i++)
        argv[argc++] = json_string_value(json_array_get(j_pairs, i));
    redisReply *r = cf_redis_command_argv(ctx->svc->redis, (int)argc, argv, NULL);
    free(argv);
    long long left = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (left >= 0)
        publish_unwritten(left);
    return left;
}

void calls_dni_new_hold_note(const char *network_id, const char *clinic, const char *number,
                             const char *visitor, int64_t reserved_ms, int64_t held_until_ms,
                             json_t *j_utm)
{
    char key[256], field[24];
    snprintf(key, sizeof(key), CALLS_DNI_UNWRITTEN_KEY, network_id, number);
    snprintf(field, sizeof(field), "%lld", (long long)reserved_ms);
    /* The entry is handed to the flusher's thread whole: built from a deep
     * copy of the tags and given to the queue (not shared), so no reference
     * count of it is touched by two threads. */
    json_t *j_tags = json_deep_copy(j_utm);
    json_t *j_e = json_pack(
        "[s, s, o]", key, field,
        session_row(network_id, clinic, number, visitor, reserved_ms, held_until_ms, j_tags));
    json_decref(j_tags);
    pthread_once(&new_cv_once, new_cv_init);
    pthread_mutex_lock(&new_lock);
    if (!new_pending)
        new_pending = json_array();
    if (json_array_size(new_pending) < NEW_PENDING_MAX) {
        json_array_append_new(new_pending, j_e);
        j_e = NULL;
    }
    pthread_cond_signal(&new_cv);
    pthread_mutex_unlock(&new_lock);
    json_decref(j_e); /* not queued: the queue is full */
}

/* Waits up to ms for new holds to write. */
static void new_holds_wait(long ms)
{
    struct timespec until;
    cf_time_deadline(CLOCK_MONOTONIC, ms, &until);
    pthread_mutex_lock(&new_lock);
    while (!new_pending && pthread_cond_timedwait(&new_cv, &new_lock, &until) == 0)
        ;
    pthread_mutex_unlock(&new_lock);
}

/* Writes the sessions of the new holds this instance took, then forgets
 * them in Redis. If PostgreSQL cannot take them, they stay in Redis for
 * the drain. Worker thread. */
static void write_new_holds(struct calls_ctx *ctx)
{
    char errbuf[256];
    pthread_mutex_lock(&new_lock);
    json_t *pending = new_pending;
    new_pending = NULL;
    pthread_mutex_unlock(&new_lock);
    if (!pending)
        return;
    json_t *j_rows = json_array(), *j_pairs = json_array();
    size_t i;
    json_t *j_e;
    json_array_foreach(pending, i, j_e)
    {
        json_array_append(j_rows, json_array_get(j_e, 2));
        json_array_append(j_pairs, json_array_get(j_e, 0));
        json_array_append(j_pairs, json_array_get(j_e, 1));
    }
    if (write_sessions(ctx, NULL, j_rows, 1, errbuf, sizeof(errbuf)) == 0) {
        forget_unwritten(ctx, j_pairs);
    } else {
        cf_warn("dni: could not record %zu reservations (kept in redis, written later): %s",
                json_array_size(j_rows), errbuf);
        cf_metrics_add("clinicflow_dni_unrecorded_total", "", (double)json_array_size(j_rows));
    }
    json_decref(j_pairs);
    json_decref(j_rows);
    json_decref(pending);
}

/* One chunk of the drain: 1 if more may be left, 0 when done, -1 when
 * Redis or PostgreSQL failed (try again next interval). */
static int drain_chunk(struct calls_ctx *ctx)
{
    char errbuf[256];
    redisReply *r = cf_redis_command(ctx->svc->redis, "EVAL %s 0 %s", unwritten_script, DRAIN_KEYS);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return -1;
    }
    const redisReply *flat = r->element[1];
    json_t *j_rows = json_array(), *j_pairs = json_array();
    for (size_t i = 0; i + 2 < flat->elements; i += 3) {
        const redisReply *k = flat->element[i], *f = flat->element[i + 1],
                         *v = flat->element[i + 2];
        if (k->type != REDIS_REPLY_STRING || f->type != REDIS_REPLY_STRING ||
            v->type != REDIS_REPLY_STRING)
            continue;
        json_t *j_row = unwritten_row(f->str, v->str, v->len);
        if (j_row)
            json_array_append_new(j_rows, j_row);
        else
            cf_warn("dni: dropped an unwritten session that is not one (%s %s)", k->str, f->str);
        json_array_append_new(j_pairs, json_string(k->str));
        json_array_append_new(j_pairs, json_string(f->str));
    }
    int more = r->element[0]->integer >= strtoll(DRAIN_KEYS, NULL, 10);
    if (json_array_size(j_rows) > 0 &&
        write_sessions(ctx, NULL, j_rows, 1, errbuf, sizeof(errbuf))) {
        cf_warn("dni: could not record %zu reservations kept in redis: %s", json_array_size(j_rows),
                errbuf);
        more = -1;
    } else if (json_array_size(j_pairs) > 0 && forget_unwritten(ctx, j_pairs) < 0) {
        more = -1;
    }
    json_decref(j_rows);
    json_decref(j_pairs);
    freeReplyObject(r);
    return more;
}

/* Writes the sessions left in Redis (held while PostgreSQL was down, or by
 * an instance that stopped) in chunks, one instance at a time. */
static void drain_unwritten(struct calls_ctx *ctx)
{
    char token[64];
    /* A drain stuck on PostgreSQL (or an instance that died draining)
     * lets another go after ten flush intervals, at least 5 s. */
    const long lock_ms = ctx->cfg.dni_flush_ms * 10 > 5000 ? ctx->cfg.dni_flush_ms * 10 : 5000;
    snprintf(token, sizeof(token), "%ld-%lld", (long)getpid(), (long long)cf_time_now_ms());
    redisReply *r =
        cf_redis_command(ctx->svc->redis, "SET %s %s NX PX %ld", DRAIN_LOCK, token, lock_ms);
    const int locked = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!locked)
        return; /* another instance drains, or Redis is down */
    int more = 1;
    for (int i = 0; i < DRAIN_CHUNKS && more == 1; i++)
        more = drain_chunk(ctx);
    freeReplyObject(cf_redis_command(
        ctx->svc->redis, "EVAL %s 1 %s %s",
        "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end", DRAIN_LOCK,
        token));
    r = cf_redis_command(ctx->svc->redis, "GET %s", CALLS_DNI_UNWRITTEN_COUNT);
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL))
        publish_unwritten(r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0);
    freeReplyObject(r);
}

int calls_dni_settle(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                     const char *number, char *errbuf, size_t errbuf_size)
{
    char key[256];
    snprintf(key, sizeof(key), CALLS_DNI_UNWRITTEN_KEY, network_id, number);
    redisReply *r = cf_redis_command(ctx->svc->redis, "HGETALL %s", key);
    int rc = 0;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        /* Redis is never required: the call is folded without waiting, and
         * without the session if one waited there (counted, so the cost of
         * the outage is visible). */
        cf_warn("could not read the waiting visitor sessions of a pool number from redis; the "
                "call is attributed from postgresql alone");
        cf_metrics_add("clinicflow_dni_settle_skipped_total", NULL, 1);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        json_t *j_rows = json_array();
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const redisReply *f = r->element[i], *v = r->element[i + 1];
            json_t *j_row = f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING
                                ? unwritten_row(f->str, v->str, v->len)
                                : NULL;
            if (j_row)
                json_array_append_new(j_rows, j_row);
        }
        if (json_array_size(j_rows) > 0)
            rc = write_sessions(ctx, conn, j_rows, 1, errbuf, errbuf_size);
        json_decref(j_rows);
    }
    freeReplyObject(r);
    return rc;
}

void calls_dni_flusher(void *vctx)
{
    struct calls_ctx *ctx = vctx;
    pthread_once(&new_cv_once, new_cv_init);
    int64_t next = cf_time_mono_ms() + ctx->cfg.dni_flush_ms;
    /* New holds are written as they come; the rest every flush interval.
     * The wait is cut to a tenth of a second so that the shutdown, which
     * cf_service_sleep reports, is seen soon. */
    while (!cf_service_sleep(ctx->svc, 0)) {
        int64_t now = cf_time_mono_ms();
        const int tick = now >= next;
        if (tick) {
            flush_extensions(ctx);
            drain_unwritten(ctx);
            now = cf_time_mono_ms();
            calls_dni_local_sweep(now);
            calls_dni_publish_peaks(ctx, now);
            next = now + ctx->cfg.dni_flush_ms;
        }
        const int64_t wait = next - now;
        new_holds_wait(wait < 100 ? (long)wait : 100);
        write_new_holds(ctx);
        calls_dni_restore_work(ctx, tick); /* holds Redis lost (dni_restore.c) */
    }
    /* What the last interval collected; new holds PostgreSQL cannot take
     * now stay in Redis for another instance, or the next start. */
    write_new_holds(ctx);
    flush_extensions(ctx);
    calls_dni_local_free();
    pthread_mutex_lock(&ext_lock);
    json_decref(ext_pending); /* PostgreSQL gone at shutdown: nothing more to do */
    ext_pending = NULL;
    pthread_mutex_unlock(&ext_lock);
}
