/*
 * Dynamic number insertion: GET /v1/tracking/number?clinic=&visitor=&utm_*...
 * A clinic's web page asks which phone number to show a visitor; the
 * answer is a number of the clinic's pool, held for that visitor for a
 * sliding period (pool "hold_seconds", else CLINICFLOW_CALLS_DNI_HOLD_S),
 * so that a call to it is attributed to the visitor's UTM tags.
 *
 * The route is public (browsers call it): visitor ids are validated, CORS
 * is answered for the clinic's configured origins only, and per-IP and
 * per-clinic limits answer 429. Holds live in Redis:
 *
 *   cf:dni:n:<clinic>:<number>   the visitor holding the number (TTL: hold,
 *                                plus the time answered from memory below)
 *   cf:dni:v:<clinic>:<visitor>  "<number> <reserved at ms>" (the same TTL)
 *   cf:dni:epoch                 set once; new after Redis lost its data
 *
 * A visitor whose hold this instance took or extended in the last
 * CLINICFLOW_CALLS_DNI_LOCAL_S (at most a tenth of the hold) is answered
 * from memory, and every request is counted against the limits by the
 * instance first (dni_local.c). Otherwise one Lua script does the limits
 * and extends or takes the hold in one round trip (with the answers from
 * memory off, the first trip goes without the pool and only a visitor
 * without a hold costs a second one, with it). A new hold is taken with
 * SET NX (no two visitors share a number). Its session (the row of
 * calls.dni_sessions that attributes calls to the number) is kept by the
 * same script in Redis until PostgreSQL has it, so the answer never waits
 * for PostgreSQL and a hold is never promised without its session:
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
 * At CLINICFLOW_CALLS_DNI_UNWRITTEN_MAX unwritten sessions no new hold is
 * taken: new visitors get the default number (counted), holds already
 * taken go on. An extension is written with the new end of the session in
 * batches by the worker (pending extensions sit in a mutex-guarded table).
 * So a provider that reports a call only at its end (after the hold) is
 * still attributed: the fold matches the call's start against the recorded
 * sessions. An exhausted pool answers the clinic's default number and
 * counts an exhaustion; Redis down answers the default number (or, to a
 * visitor this instance holds a number for, that number), never an error.
 */
#include "calls.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/redis.h"
#include "common/xmalloc.h"

/* Writes sessions (an array of {"n": network, "k": number, "r": reserved
 * at (RFC 3339), "u": held until in ms, "c": clinic, "w": visitor, "t":
 * tags}) in one statement, on conn or, if NULL, on a pooled connection: a
 * missing row is inserted, an existing one keeps the later end. The rows
 * are written in key order: instances writing the same sessions (a
 * visitor's requests reach several) cannot deadlock. */
static int write_sessions(struct calls_ctx *ctx, PGconn *conn, const json_t *j_rows, char *errbuf,
                          size_t errbuf_size)
{
    static const char sql[] =
        "INSERT INTO calls.dni_sessions AS s (network_id, clinic_id, number,"
        " visitor_id, reserved_at, held_until, utm)"
        " SELECT e.n, e.c, e.k, e.w, e.r, to_timestamp(e.u / 1000.0),"
        " coalesce(e.t, '{}') FROM jsonb_to_recordset($1::jsonb)"
        " AS e(n text, k text, r timestamptz, u bigint, c text, w text, t jsonb)"
        " ORDER BY e.n, e.k, e.r"
        " ON CONFLICT (network_id, number, reserved_at) DO UPDATE"
        " SET held_until = greatest(s.held_until, EXCLUDED.held_until)";
    char *rows = json_dumps(j_rows, JSON_COMPACT);
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

static void extension_note(const char *network_id, const char *clinic, const char *number,
                           const char *visitor, int64_t reserved_ms, int64_t held_until_ms,
                           const json_t *j_utm)
{
    char key[256], reserved[32];
    cf_time_format(reserved_ms, reserved);
    snprintf(key, sizeof(key), "%s\n%s\n%s", network_id, number, reserved);
    json_t *j_e =
        json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:O}", "n", network_id, "k", number, "r",
                  reserved, "u", (json_int_t)held_until_ms, "c", clinic, "w", visitor, "t", j_utm);
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
    if (write_sessions(ctx, NULL, j_rows, errbuf, sizeof(errbuf)) != 0) {
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

#define UNWRITTEN_SET "cf:dni:unwritten"
#define UNWRITTEN_COUNT "cf:dni:unwritten:n"
#define UNWRITTEN_KEY "cf:dni:u:%s:%s" /* network, number */
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
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&new_cv, &attr);
    pthread_condattr_destroy(&attr);
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
    json_t *j_utm = *endp == '\0' ? json_loadb(part[5], plen[5], 0, &jerr) : NULL;
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
    "    redis.call('SREM', '" UNWRITTEN_SET "', ARGV[i])\n"
    "  end\n"
    "end\n"
    "local left = redis.call('DECRBY', '" UNWRITTEN_COUNT "', n)\n"
    "if left < 0 then redis.call('SET', '" UNWRITTEN_COUNT "', '0'); left = 0 end\n"
    "return left\n";

/* Up to ARGV[1] of the hashes of unwritten sessions, picked at random, as
 * {hashes seen, {key, field, value, key, field, value, ...}}. */
static const char unwritten_script[] =
    "local keys = redis.call('SRANDMEMBER', '" UNWRITTEN_SET "', ARGV[1])\n"
    "local out = {}\n"
    "for _, k in ipairs(keys) do\n"
    "  local h = redis.call('HGETALL', k)\n"
    "  if #h == 0 then redis.call('SREM', '" UNWRITTEN_SET "', k) end\n"
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

/* Hands a new hold's session to the worker and wakes it (the session is
 * in Redis already). Any thread. */
static void new_hold_note(const char *network_id, const char *clinic, const char *number,
                          const char *visitor, int64_t reserved_ms, int64_t held_until_ms,
                          json_t *j_utm)
{
    char key[256], field[24];
    snprintf(key, sizeof(key), UNWRITTEN_KEY, network_id, number);
    snprintf(field, sizeof(field), "%lld", (long long)reserved_ms);
    json_t *j_e = json_pack(
        "[s, s, o]", key, field,
        session_row(network_id, clinic, number, visitor, reserved_ms, held_until_ms, j_utm));
    pthread_once(&new_cv_once, new_cv_init);
    pthread_mutex_lock(&new_lock);
    if (!new_pending)
        new_pending = json_array();
    if (json_array_size(new_pending) < NEW_PENDING_MAX)
        json_array_append(new_pending, j_e);
    pthread_cond_signal(&new_cv);
    pthread_mutex_unlock(&new_lock);
    json_decref(j_e);
}

/* Waits up to ms for new holds to write. */
static void new_holds_wait(long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
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
    if (write_sessions(ctx, NULL, j_rows, errbuf, sizeof(errbuf)) == 0) {
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
    if (json_array_size(j_rows) > 0 && write_sessions(ctx, NULL, j_rows, errbuf, sizeof(errbuf))) {
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
    snprintf(token, sizeof(token), "%ld-%lld", (long)getpid(), (long long)cf_now_ms());
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
    r = cf_redis_command(ctx->svc->redis, "GET %s", UNWRITTEN_COUNT);
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL))
        publish_unwritten(r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0);
    freeReplyObject(r);
}

int calls_dni_settle(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                     const char *number, char *errbuf, size_t errbuf_size)
{
    char key[256];
    snprintf(key, sizeof(key), UNWRITTEN_KEY, network_id, number);
    redisReply *r = cf_redis_command(ctx->svc->redis, "HGETALL %s", key);
    int rc = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
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
            rc = write_sessions(ctx, conn, j_rows, errbuf, errbuf_size);
        json_decref(j_rows);
    }
    freeReplyObject(r);
    return rc;
}

/* ---- peak demand, for the suggested pool size ------------------------- */

static void publish_peak(const char *clinic, double peak, void *arg)
{
    (void)arg;
    char labels[128];
    snprintf(labels, sizeof(labels), "clinic=\"%s\"", clinic);
    /* Hundredths: a peak decaying by a millionth is still the same visitors. */
    cf_metrics_set("clinicflow_dni_peak_concurrent_visitors", labels, round(peak * 100) / 100);
    cf_metrics_set("clinicflow_dni_suggested_pool_size", labels,
                   (double)calls_dni_suggested_pool(peak));
}

/* Records that `demand` visitors wanted the clinic's numbers at once (the
 * numbers held and the visitors a full pool turned away within a hold)
 * and publishes the decaying peak and the pool size it suggests. */
static void note_demand(struct calls_ctx *ctx, const char *clinic, long demand)
{
    publish_peak(clinic,
                 calls_dni_local_peak(clinic, demand, cf_mono_ms(), ctx->cfg.dni_peak_half_life_s),
                 NULL);
}

void calls_dni_flusher(void *vctx)
{
    struct calls_ctx *ctx = vctx;
    pthread_once(&new_cv_once, new_cv_init);
    int64_t next = cf_mono_ms() + ctx->cfg.dni_flush_ms;
    /* New holds are written as they come; the rest every flush interval.
     * The wait is cut to a tenth of a second so that the shutdown, which
     * cf_service_sleep reports, is seen soon. */
    while (!cf_service_sleep(ctx->svc, 0)) {
        int64_t now = cf_mono_ms();
        if (now >= next) {
            flush_extensions(ctx);
            drain_unwritten(ctx);
            now = cf_mono_ms();
            calls_dni_local_sweep(now);
            calls_dni_local_peaks_each(now, ctx->cfg.dni_peak_half_life_s, publish_peak, NULL);
            next = now + ctx->cfg.dni_flush_ms;
        }
        const int64_t wait = next - now;
        new_holds_wait(wait < 100 ? (long)wait : 100);
        write_new_holds(ctx);
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

/* ---- the route ----------------------------------------------------------- */

static int visitor_ok(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (n < 8 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_' && v[i] != '.')
            return 0;
    }
    return 1;
}

static const struct cf_clinic *find_clinic(const struct cf_netconf_snapshot *snap, const char *id,
                                           const struct cf_network **net_out)
{
    for (size_t i = 0; id && i < snap->nnetworks; i++) {
        const struct cf_clinic *c = cf_netconf_clinic(&snap->networks[i], id);
        if (c) {
            *net_out = &snap->networks[i];
            return c;
        }
    }
    return NULL;
}

static const json_t *clinic_pool(const struct cf_network *net, const char *clinic_id)
{
    size_t i;
    json_t *j_pool;
    json_array_foreach(json_object_get(net->doc, "number_pools"), i, j_pool)
    {
        const char *c = json_string_value(json_object_get(j_pool, "clinic_id"));
        if (c && strcmp(c, clinic_id) == 0)
            return j_pool;
    }
    return NULL;
}

/* Sets CORS headers when the request's Origin is one of the clinic's. */
static void cors(const struct _u_request *req, struct _u_response *resp,
                 const struct cf_clinic *clinic)
{
    const char *origin = cf_http_header(req, "Origin");
    size_t i;
    json_t *j_o;
    if (!origin)
        return;
    json_array_foreach(json_object_get(clinic->doc, "cors_origins"), i, j_o)
    {
        if (json_is_string(j_o) && strcmp(json_string_value(j_o), origin) == 0) {
            u_map_put(resp->map_header, "Access-Control-Allow-Origin", origin);
            u_map_put(resp->map_header, "Access-Control-Allow-Methods", "GET, OPTIONS");
            u_map_put(resp->map_header, "Access-Control-Max-Age", "600");
            break;
        }
    }
    u_map_put(resp->map_header, "Vary", "Origin");
}

/*
 * A visitor's hold, and the rate limits, in one round trip. KEYS: the
 * visitor key, the client address's counter (over a minute), the clinic's
 * counter (over the current second), the epoch key, the address's count of
 * new holds at the clinic. ARGV: visitor, hold seconds, now in ms, the
 * number key prefix, the index to start the search at, "1" to count this
 * request against the limits, the address's and the clinic's limits, the
 * cap on new holds per address (0: none), the network, the clinic, the
 * request's tags (JSON), the cap on unwritten sessions (0: none), then the
 * pool's numbers.
 *
 * Every answer ends with the epoch: a value set once (to a request's now)
 * and found again until Redis loses its data, when instances must forget
 * what they answer from memory. Over a limit the answer is "limited" (1:
 * the address, 2: the clinic) and nothing else is touched. An empty
 * visitor (a clinic without a pool) asks for the limits only ("none"). If
 * the visitor holds a number that is still theirs, both keys live on for
 * at least another hold ("held"; an expiry is never shortened, so
 * instances with other settings cannot cut a hold another promised).
 * Otherwise, without numbers the answer is "none". With them: an address
 * that took its cap of new holds within a hold gets none ("capped": a
 * script cycling visitor ids would otherwise empty the pool the people it
 * is for need); with the cap of unwritten sessions reached, none
 * ("backlog"); else the first free number from the start index is taken
 * with SET NX and its session kept unwritten (above) in the same step
 * ("new"); else "full", and the pool is marked full for a second so that
 * the next new visitors do not each try every number again. "new" and
 * "full" come with the clinic's demand: the numbers held and the visitors
 * turned away within a hold.
 *
 * The held numbers are counted in a sorted set beside the number keys,
 * scored by when each hold ends: every expiry the script sets on a number
 * key it sets there too, so the set's live members are the held numbers.
 * The visitors a full pool turned away are kept likewise, for a hold after
 * their last request (a visitor who gets a number leaves the set): without
 * them the demand, and the advice, could not exceed the pool.
 * Number keys are computed in the script, so this needs a single Redis
 * server (not a cluster), as everything else here does.
 */
static const char hold_script[] =
    "local e = redis.call('GET', KEYS[4])\n"
    "if not e then e = ARGV[3]; redis.call('SET', KEYS[4], e) end\n"
    "local function answer(what, num, res, k) return {what, num, res, k, e} end\n"
    "local held = ARGV[4] .. 'held'\n"
    "local denied = ARGV[4] .. 'denied'\n"
    "local function keep(set, member)\n"
    "  redis.call('ZADD', set, tonumber(ARGV[3]) + tonumber(ARGV[2]) * 1000, member)\n"
    "  if redis.call('TTL', set) < tonumber(ARGV[2]) * 2 then\n"
    "    redis.call('EXPIRE', set, tonumber(ARGV[2]) * 2)\n"
    "  end\n"
    "end\n"
    "local function count_held(num) keep(held, num) end\n"
    "local function demand()\n"
    "  redis.call('ZREMRANGEBYSCORE', held, '-inf', ARGV[3])\n"
    "  redis.call('ZREMRANGEBYSCORE', denied, '-inf', ARGV[3])\n"
    "  return redis.call('ZCARD', held) + redis.call('ZCARD', denied)\n"
    "end\n"
    "local function turned_away()\n"
    "  keep(denied, ARGV[1])\n"
    "  return answer('full', '', '0', demand())\n"
    "end\n"
    "local function extend(key, num)\n"
    "  if redis.call('PTTL', key) < tonumber(ARGV[2]) * 1000 then\n"
    "    redis.call('EXPIRE', key, ARGV[2])\n"
    "    if num then count_held(num) end\n"
    "  end\n"
    "end\n"
    "if ARGV[6] == '1' then\n"
    "  local a = redis.call('INCR', KEYS[2])\n"
    "  if a == 1 then redis.call('EXPIRE', KEYS[2], 60) end\n"
    "  if a > tonumber(ARGV[7]) then return answer('limited', '', '0', 1) end\n"
    "  local b = redis.call('INCR', KEYS[3])\n"
    "  if b == 1 then redis.call('EXPIRE', KEYS[3], 2) end\n"
    "  if b > tonumber(ARGV[8]) then return answer('limited', '', '0', 2) end\n"
    "end\n"
    "if ARGV[1] == '' then return answer('none', '', '0', 0) end\n"
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then\n"
    "  local num, res = string.match(v, '^(%S+) (%d+)$')\n"
    "  if num and redis.call('GET', ARGV[4] .. num) == ARGV[1] then\n"
    "    extend(ARGV[4] .. num, num)\n"
    "    extend(KEYS[1])\n"
    "    return answer('held', num, res, 0)\n"
    "  end\n"
    "end\n"
    "local n = #ARGV - 13\n"
    "if n == 0 then return answer('none', '', '0', 0) end\n"
    "local cap = tonumber(ARGV[9])\n"
    "if cap > 0 and tonumber(redis.call('GET', KEYS[5]) or '0') >= cap then\n"
    "  return answer('capped', '', '0', 0)\n"
    "end\n"
    "local umax = tonumber(ARGV[13])\n"
    "if umax > 0 and tonumber(redis.call('GET', '" UNWRITTEN_COUNT "') or '0') >= umax then\n"
    "  return answer('backlog', '', '0', 0)\n"
    "end\n"
    "if redis.call('EXISTS', ARGV[4] .. 'full') == 1 then return turned_away() end\n"
    "local start = tonumber(ARGV[5])\n"
    "for k = 0, n - 1 do\n"
    "  local num = ARGV[14 + ((start + k) % n)]\n"
    "  if redis.call('SET', ARGV[4] .. num, ARGV[1], 'NX', 'EX', ARGV[2]) then\n"
    "    redis.call('SET', KEYS[1], num .. ' ' .. ARGV[3], 'EX', ARGV[2])\n"
    "    if cap > 0 and redis.call('INCR', KEYS[5]) == 1 then\n"
    "      redis.call('EXPIRE', KEYS[5], ARGV[2])\n"
    "    end\n"
    "    count_held(num)\n"
    "    redis.call('ZREM', denied, ARGV[1])\n"
    "    local ukey = 'cf:dni:u:' .. ARGV[10] .. ':' .. num\n"
    "    local until_ms = string.format('%.0f', tonumber(ARGV[3]) + tonumber(ARGV[2]) * 1000)\n"
    "    redis.call('HSET', ukey, ARGV[3], ARGV[10] .. '\\n' .. ARGV[11] .. '\\n' .. num .. '\\n'\n"
    "      .. ARGV[1] .. '\\n' .. until_ms .. '\\n' .. ARGV[12])\n"
    "    redis.call('SADD', '" UNWRITTEN_SET "', ukey)\n"
    "    redis.call('INCR', '" UNWRITTEN_COUNT "')\n"
    "    return answer('new', num, ARGV[3], demand())\n"
    "  end\n"
    "end\n"
    "redis.call('SET', ARGV[4] .. 'full', '1', 'PX', 1000)\n"
    "return turned_away()\n";

enum hold_result {
    HOLD_UNAVAILABLE = -1,
    HOLD_FULL = 0,
    HOLD_NEW,
    HOLD_EXTENDED,
    HOLD_NONE,    /* the clinic has no pool */
    HOLD_LIMITED, /* over a rate limit: nothing was touched */
    HOLD_LOCAL,   /* a hold this instance extended recently: not asked of Redis */
    HOLD_CRAWLER, /* a search engine's or other robot's page load: no number */
    HOLD_CAPPED,  /* the address took its share of new holds: no number */
    HOLD_BACKLOG, /* too many sessions wait for PostgreSQL: no new hold */
};

/* What one request asks of Redis. */
struct hold_req {
    const char *network, *clinic, *visitor, *ip;
    const char *tags;      /* the request's tags (JSON), kept with a new hold */
    const json_t *numbers; /* the pool's, or NULL: only extend a hold */
    long hold_s;
    int count;      /* count this request against the rate limits */
    int pooled;     /* the clinic has a pool: without one, only the limits */
    int pool_first; /* send the pool with the first round trip */
    char epoch[64]; /* out: Redis's epoch in its answer */
};

/* EVAL, the script and its key count, the 5 keys and the 13 arguments
 * before the pool's numbers. */
#define HOLD_SCRIPT_FIXED_ARGS (3 + 5 + 13)

/* One run of hold_script. */
static redisReply *run_hold_script(struct calls_ctx *ctx, const struct hold_req *q)
{
    size_t n = json_array_size(q->numbers), argc = 0;
    const char **argv = cf_xcalloc(n + HOLD_SCRIPT_FIXED_ARGS, sizeof(char *));
    char vkey[256], ip_key[128], clinic_key[128], prefix[128], hold[24], now[24], start[24];
    char ip_limit[24], clinic_limit[24], new_key[256], new_cap[24], unwritten_max[24];
    const int64_t t = cf_now_ms();
    uint8_t h[32];

    cf_sha256(q->visitor, strlen(q->visitor), h);
    snprintf(vkey, sizeof(vkey), "cf:dni:v:%s:%s", q->clinic, q->visitor);
    snprintf(ip_key, sizeof(ip_key), "cf:dni:rl:ip:%s", q->ip);
    snprintf(clinic_key, sizeof(clinic_key), "cf:dni:rl:clinic:%s:%lld", q->clinic,
             (long long)(t / 1000));
    snprintf(prefix, sizeof(prefix), "cf:dni:n:%s:", q->clinic);
    snprintf(hold, sizeof(hold), "%ld", q->hold_s);
    snprintf(now, sizeof(now), "%lld", (long long)t);
    /* spread new visitors over the pool */
    snprintf(start, sizeof(start), "%zu", n ? ((size_t)h[0] << 8 | h[1]) % n : 0);
    snprintf(ip_limit, sizeof(ip_limit), "%ld", ctx->cfg.dni_ip_per_minute);
    snprintf(clinic_limit, sizeof(clinic_limit), "%ld", ctx->cfg.dni_clinic_per_second);
    snprintf(new_key, sizeof(new_key), "cf:dni:new:%s:%s", q->clinic, q->ip);
    snprintf(new_cap, sizeof(new_cap), "%ld", ctx->cfg.dni_new_holds_per_address);
    snprintf(unwritten_max, sizeof(unwritten_max), "%ld", ctx->cfg.dni_unwritten_max);
    argv[argc++] = "EVAL";
    argv[argc++] = hold_script;
    argv[argc++] = "5";
    argv[argc++] = vkey;
    argv[argc++] = ip_key;
    argv[argc++] = clinic_key;
    argv[argc++] = "cf:dni:epoch";
    argv[argc++] = new_key;
    argv[argc++] = q->pooled ? q->visitor : "";
    argv[argc++] = hold;
    argv[argc++] = now;
    argv[argc++] = prefix;
    argv[argc++] = start;
    argv[argc++] = q->count ? "1" : "0";
    argv[argc++] = ip_limit;
    argv[argc++] = clinic_limit;
    argv[argc++] = new_cap;
    argv[argc++] = q->network;
    argv[argc++] = q->clinic;
    argv[argc++] = q->tags;
    argv[argc++] = unwritten_max;
    assert(argc == HOLD_SCRIPT_FIXED_ARGS);
    for (size_t i = 0; i < n; i++) {
        const char *num = json_string_value(json_array_get(q->numbers, i));
        if (num)
            argv[argc++] = num;
    }
    redisReply *r = cf_redis_command_argv(ctx->svc->redis, (int)argc, argv, NULL);
    free(argv);
    if (r &&
        !(r->type == REDIS_REPLY_ARRAY && r->elements == 5 &&
          r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
          r->element[2]->type == REDIS_REPLY_STRING && r->element[3]->type == REDIS_REPLY_INTEGER &&
          r->element[4]->type == REDIS_REPLY_STRING && r->element[4]->len < 64)) {
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

/* The rate limits and the visitor's hold extended or taken, in one round
 * trip with the pool. When every request goes to Redis
 * (CLINICFLOW_CALLS_DNI_LOCAL_S=0: most are returning visitors), the first
 * trip goes without the pool, and only a visitor without a hold costs a
 * second one with it. *limited is 1 (the address) or
 * 2 (the clinic) for HOLD_LIMITED. When Redis cannot say, the limits are
 * skipped: the route degrades, it does not fail. */
static enum hold_result hold_number(struct calls_ctx *ctx, struct hold_req *q, char *number,
                                    size_t nsize, int64_t *reserved_ms, int *limited)
{
    const json_t *numbers = q->numbers;
    /* Answering returning visitors from memory leaves mostly new visitors
     * and refreshes to Redis: the pool goes along at once. */
    q->numbers = q->pool_first ? numbers : NULL;
    q->count = 1;
    redisReply *r = run_hold_script(ctx, q);
    if (r && !q->numbers && strcmp(r->element[0]->str, "none") == 0 &&
        json_array_size(numbers) > 0) {
        freeReplyObject(r);
        q->numbers = numbers;
        q->count = 0;
        r = run_hold_script(ctx, q);
    }
    if (!r)
        return HOLD_UNAVAILABLE;
    const char *what = r->element[0]->str;
    long long taken = r->element[3]->integer;
    snprintf(q->epoch, sizeof(q->epoch), "%s", r->element[4]->str);
    calls_dni_local_epoch(q->epoch);
    enum hold_result res;
    snprintf(number, nsize, "%s", r->element[1]->str);
    *reserved_ms = strtoll(r->element[2]->str, NULL, 10);
    if (strcmp(what, "limited") == 0) {
        res = HOLD_LIMITED;
        *limited = (int)taken;
    } else if (strcmp(what, "none") == 0) {
        res = HOLD_NONE;
    } else if (strcmp(what, "held") == 0) {
        res = HOLD_EXTENDED;
    } else if (strcmp(what, "capped") == 0) {
        res = HOLD_CAPPED;
    } else if (strcmp(what, "backlog") == 0) {
        res = HOLD_BACKLOG;
    } else if (strcmp(what, "new") == 0) {
        res = HOLD_NEW;
        note_demand(ctx, q->clinic, (long)taken); /* this visitor included */
    } else {
        res = HOLD_FULL;
        note_demand(ctx, q->clinic, (long)taken); /* this visitor included */
    }
    freeReplyObject(r);
    return res;
}

/* 1 if the User-Agent is a robot's: search engines render pages with
 * their scripts, and each render, a new visitor to us, would hold a pool
 * number for a whole hold, so a crawl could take every number from the
 * people the pool is for. The marks are what robots name themselves with
 * ("Googlebot/2.1", "YandexBot/3.0", "bingbot/2.0", "AhrefsBot/7.0"):
 * "bot" right before a slash, ';' or ')' (not the CUBOT phone's name),
 * and a few without it. */
static int calls_dni_crawler(const char *ua)
{
    static const char *const marks[] = {
        "bot/",  "bot;",          "bot)",         "crawler",    "spider",
        "slurp", "mediapartners", "externalhit/", "lighthouse", "inspectiontool"};
    char lower[512];
    size_t n = 0;
    if (!ua)
        return 0;
    for (; ua[n] && n < sizeof(lower) - 1; n++)
        lower[n] = (char)tolower((unsigned char)ua[n]);
    lower[n] = '\0';
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
        if (strstr(lower, marks[i]))
            return 1;
    return 0;
}

/* The request's UTM tags, click ids, referrer and landing page (new ref). */
static json_t *request_tags(const struct _u_request *req)
{
    json_t *j_utm = json_object();
    for (size_t i = 0; i < calls_tags_n; i++) {
        const char *v = u_map_get(req->map_url, calls_tags[i].param);
        json_t *j_v = v && *v ? json_string(v) : NULL; /* NULL: not UTF-8 */
        if (j_v)
            json_object_set_new(j_utm, calls_tags[i].member, j_v);
    }
    calls_cut_tags(j_utm);
    return j_utm;
}

int handle_tracking_number(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct calls_ctx *ctx = user;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    const struct cf_network *net = NULL;
    const char *clinic_id = u_map_get(req->map_url, "clinic");
    const char *visitor = u_map_get(req->map_url, "visitor");
    const struct cf_clinic *clinic = find_clinic(snap, clinic_id, &net);
    json_t *j_reply = NULL, *j_utm = NULL;
    char *tags = NULL;
    char number[64] = "", labels[128], ip[64];

    if (!clinic) {
        cf_http_error(resp, 400, "unknown_clinic", "no such clinic", "clinic");
        goto out;
    }
    cors(req, resp, clinic);
    if (strcmp(req->http_verb, "OPTIONS") == 0) {
        ulfius_set_empty_body_response(resp, 204);
        goto out;
    }
    if (!visitor_ok(visitor)) {
        cf_http_error(resp, 400, "invalid_field",
                      "visitor must be 8 to 64 letters, digits, '-', '_' or '.'", "visitor");
        goto out;
    }
    calls_client_key(req->client_address, cf_http_header(req, "X-Forwarded-For"), &ctx->proxies, ip,
                     sizeof(ip));

    const json_t *pool = clinic_pool(net, clinic->id);
    json_t *j_hold = json_object_get(pool, "hold_seconds");
    struct hold_req q = {
        .network = net->id,
        .clinic = clinic->id,
        .visitor = visitor,
        .ip = ip,
        .numbers = json_object_get(pool, "numbers"),
        .hold_s = json_is_integer(j_hold) ? (long)json_integer_value(j_hold) : ctx->cfg.dni_hold_s,
    };
    /* The hold the visitor is promised. Redis keeps it longer by the time
     * this instance may answer from memory (dni_local.c): at most a tenth
     * of the hold, so pool numbers stay taken little longer than before. */
    const long hold_s = q.hold_s;
    const long local_s = ctx->cfg.dni_local_s < hold_s / 10 ? ctx->cfg.dni_local_s : hold_s / 10;
    q.hold_s += local_s;
    q.pool_first = local_s > 0;
    const int pooled = q.pooled = json_array_size(q.numbers) > 0;
    const char *fallback = json_string_value(json_object_get(clinic->doc, "default_phone"));
    int dynamic = 0, limited = 0;
    int64_t reserved_ms = 0;
    const int64_t mono = cf_mono_ms();
    enum hold_result held;
    snprintf(labels, sizeof(labels), "clinic=\"%s\"", clinic->id);

    limited = calls_dni_local_limit(&ctx->cfg, ip, clinic->id, mono);
    if (limited > 0)
        held = HOLD_LIMITED;
    else if (calls_dni_crawler(cf_http_header(req, "User-Agent")))
        held = HOLD_CRAWLER;
    else if (pooled && local_s > 0 && limited == 0 &&
             calls_dni_local_get(clinic->id, visitor, mono + hold_s * 1000, number, sizeof(number),
                                 &reserved_ms))
        held = HOLD_LOCAL;
    else {
        /* The tags go along with every trip that may take a hold: its
         * session is kept in the same step. */
        j_utm = request_tags(req);
        tags = json_dumps(j_utm, JSON_COMPACT);
        q.tags = tags ? tags : "{}";
        held = hold_number(ctx, &q, number, sizeof(number), &reserved_ms, &limited);
    }
    if ((held == HOLD_NEW || held == HOLD_EXTENDED) && local_s > 0)
        calls_dni_local_put(clinic->id, visitor, number, reserved_ms, mono + q.hold_s * 1000,
                            q.epoch);

    switch (held) {
    case HOLD_LIMITED: {
        long retry_s = limited == 1 ? 60 : 1;
        char ra[24];
        cf_metrics_add("clinicflow_dni_rate_limited_total", labels, 1);
        cf_http_error_from(resp, CF_ERATELIMIT, "too many requests", NULL, retry_s);
        snprintf(ra, sizeof(ra), "%ld", retry_s);
        u_map_put(resp->map_header, "Retry-After", ra);
        goto out;
    }
    case HOLD_EXTENDED:
        dynamic = 1;
        extension_note(net->id, clinic->id, number, visitor, reserved_ms,
                       cf_now_ms() + q.hold_s * 1000, j_utm);
        cf_metrics_add("clinicflow_dni_extensions_total", labels, 1);
        break;
    case HOLD_LOCAL: /* the hold in Redis (and in PostgreSQL) already lasts long enough */
        dynamic = 1;
        cf_metrics_add("clinicflow_dni_local_answers_total", labels, 1);
        break;
    case HOLD_NEW:
        dynamic = 1;
        new_hold_note(net->id, clinic->id, number, visitor, reserved_ms,
                      reserved_ms + q.hold_s * 1000, j_utm);
        cf_metrics_add("clinicflow_dni_reservations_total", labels, 1);
        break;
    case HOLD_FULL:
        cf_metrics_add("clinicflow_dni_exhausted_total", labels, 1);
        break;
    case HOLD_CRAWLER:
        cf_metrics_add("clinicflow_dni_crawler_requests_total", labels, 1);
        break;
    case HOLD_CAPPED:
        cf_metrics_add("clinicflow_dni_address_capped_total", labels, 1);
        break;
    case HOLD_BACKLOG:
        cf_metrics_add("clinicflow_dni_unwritten_full_total", labels, 1);
        break;
    case HOLD_UNAVAILABLE:
        if (pooled)
            cf_metrics_add("clinicflow_dni_redis_unavailable_total", "", 1);
        break;
    case HOLD_NONE:
        break;
    }
    if (!dynamic)
        snprintf(number, sizeof(number), "%s", fallback ? fallback : "");
    j_reply = json_pack("{s:s, s:b, s:I}", "number", number, "dynamic", dynamic, "hold_seconds",
                        (json_int_t)(dynamic ? hold_s : 0));
    u_map_put(resp->map_header, "Cache-Control", "no-store");
    cf_http_json(resp, 200, j_reply);

out:
    free(tags);
    json_decref(j_utm);
    json_decref(j_reply);
    cf_netconf_release(snap);
    return U_CALLBACK_COMPLETE;
}

void calls_dni_describe_metrics(void)
{
    cf_metrics_describe("clinicflow_dni_reservations_total", "counter",
                        "New number holds taken for visitors, by clinic");
    cf_metrics_describe("clinicflow_dni_extensions_total", "counter",
                        "Requests that extended a visitor's existing hold, by clinic");
    cf_metrics_describe("clinicflow_dni_local_answers_total", "counter",
                        "Returning visitors answered from this instance's memory (their hold "
                        "in Redis lasts long enough), by clinic");
    cf_metrics_describe("clinicflow_dni_exhausted_total", "counter",
                        "Requests answered with the default number because the pool was full");
    cf_metrics_describe("clinicflow_dni_crawler_requests_total", "counter",
                        "Requests from robots (search engines rendering pages), answered with "
                        "the default number and holding none");
    cf_metrics_describe("clinicflow_dni_address_capped_total", "counter",
                        "New visitors answered with the default number because their address "
                        "took CLINICFLOW_CALLS_DNI_NEW_HOLDS_PER_ADDRESS holds within a hold, "
                        "by clinic");
    cf_metrics_describe("clinicflow_dni_rate_limited_total", "counter",
                        "Requests refused with 429, by clinic");
    cf_metrics_describe("clinicflow_dni_redis_unavailable_total", "counter",
                        "Requests answered with the default number because Redis was down");
    cf_metrics_describe("clinicflow_dni_unrecorded_total", "counter",
                        "New holds whose session this instance could not write to PostgreSQL "
                        "at once (kept in Redis and written later)");
    cf_metrics_describe("clinicflow_dni_unwritten_sessions", "gauge",
                        "Sessions of new holds kept in Redis that PostgreSQL does not have yet "
                        "(all instances; at CLINICFLOW_CALLS_DNI_UNWRITTEN_MAX no new hold is "
                        "taken)");
    cf_metrics_describe("clinicflow_dni_unwritten_full_total", "counter",
                        "New visitors answered with the default number because "
                        "CLINICFLOW_CALLS_DNI_UNWRITTEN_MAX sessions wait for PostgreSQL, by "
                        "clinic");
    cf_metrics_describe("clinicflow_dni_peak_concurrent_visitors", "gauge",
                        "Most visitors that wanted a pool number at once (numbers held plus "
                        "visitors a full pool turned away within a hold) seen by this "
                        "instance, halved every CLINICFLOW_CALLS_DNI_PEAK_HALF_LIFE_S, by "
                        "clinic");
    cf_metrics_describe("clinicflow_dni_suggested_pool_size", "gauge",
                        "Peak concurrent visitors plus a quarter: a pool this size rarely "
                        "runs out with the configured hold (may exceed the pool)");
}
