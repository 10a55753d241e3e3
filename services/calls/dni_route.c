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
 *   cf:dni:h:<network>:<number>  "<clinic> <visitor>" holding the number
 *                                (TTL: hold, plus the time answered from
 *                                memory below)
 *   cf:dni:v:<clinic>:<visitor>  "<number> <reserved at ms>" (the same TTL)
 *   cf:dni:n:<clinic>:held|denied|full   the pool's demand (below)
 *   cf:dni:epoch                 set once; new after Redis lost its data
 *
 * A visitor whose hold this instance took or extended in the last
 * CLINICFLOW_CALLS_DNI_LOCAL_S (at most a tenth of the hold) is answered
 * from memory, and every request is counted against the limits by the
 * instance first (dni_local.c). Otherwise one Lua script does the limits
 * and extends or takes the hold in one round trip (with the answers from
 * memory off, the first trip goes without the pool and only a visitor
 * without a hold costs a second one, with it). A new hold is taken with
 * SET NX (no two visitors of the network share a number). Its session (the row of
 * calls.dni_sessions that attributes calls to the number) is kept by the
 * same script in Redis until PostgreSQL has it (dni_sessions.c writes it),
 * so the answer never waits for PostgreSQL and a hold is never promised
 * without its session; at CLINICFLOW_CALLS_DNI_UNWRITTEN_MAX unwritten
 * sessions no new hold is taken: new visitors get the default number
 * (counted), holds already taken go on. The demand the script counts feeds
 * the pool-size advice (dni_pool_advice.c). An exhausted pool answers the
 * clinic's default number and counts an exhaustion; Redis down answers the
 * default number (or, to a visitor this instance holds a number for, that
 * number), never an error.
 */
#include "dni.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/http.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis.h"
#include "common/xmalloc.h"

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
    if (!origin)
        return;
    if (cf_http_origin_listed(json_object_get(clinic->doc, "cors_origins"), origin))
        cf_http_cors_allow(resp, origin, "GET, OPTIONS", NULL);
    u_map_put(resp->map_header, "Vary", "Origin");
}

/*
 * A visitor's hold, and the rate limits, in one round trip. KEYS: the
 * visitor key, the client address's counter (over a minute), the clinic's
 * counter (over the current second), the epoch key, the address's count of
 * new visitors at the clinic within a hold, the address's visitors holding
 * numbers at the clinic (a sorted set scored by when each hold ends). ARGV: visitor, hold seconds,
 * now in ms, the clinic's pool prefix, the index to start the search at, "1" to count this request
 * against the limits, the address's and the clinic's limits, the cap on new holds per address (0:
 * none), the network, the clinic, the request's tags (JSON), the cap on unwritten sessions (0:
 * none), then the pool's numbers.
 *
 * Every answer ends with the epoch: a value set once (to a request's now)
 * and found again until Redis loses its data, when instances must forget
 * what they answer from memory, and the holds PostgreSQL records as live
 * must be put back before any new one is taken: with the epoch the script
 * sets CALLS_DNI_RESTORING, and while that is there a visitor without a
 * hold is answered "restoring" (dni_restore.c). Over a limit the answer
 * is "limited" (1: the address, 2: the clinic) and nothing else is
 * touched. An empty
 * visitor (a clinic without a pool) asks for the limits only ("none"). If
 * the visitor holds a number that is still theirs, both keys live on for
 * at least another hold ("held"; an expiry is never shortened, so
 * instances with other settings cannot cut a hold another promised),
 * unless the pool was sent and no longer has it (the network's
 * configuration took it out, or gave it to another clinic): it is given
 * up, and the visitor takes a new one as below. A request that starts a
 * new visit (new_visit=1: a page whose address has tags of its own, a
 * new ad click) keeps the number and starts a session of its own, with
 * its tags, reserved now ("new"), so a later call is the new click's;
 * with the cap of unwritten sessions reached, or the address's cap of new
 * visitors, it only extends.
 * Otherwise, without numbers the answer is "none". With them: an address
 * that brought its cap of new visitors within a hold (numbers taken, new
 * visits, visitors turned away), or whose visitors hold its cap of
 * numbers now, gets none ("capped": a script cycling visitor ids, or
 * keeping the holds it took, would otherwise empty the pool the people it
 * is for need; and its visitors turned away would swell the demand the
 * pool advice reads); with the cap of unwritten sessions reached, none
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
 * A number's key is the network's (a number a new configuration moves to
 * another clinic stays its visitor's until given up or ended); a hold an
 * earlier release took under the pool prefix is honoured, and moved to
 * the network's key when its visitor comes back.
 *
 * Number keys are computed in the script, so this needs a single Redis
 * server (not a cluster), as everything else here does.
 */
static const char hold_script[] =
    "local e = redis.call('GET', KEYS[4])\n"
    "if not e then\n"
    "  e = ARGV[3]\n"
    "  redis.call('SET', KEYS[4], e)\n"
    "  redis.call('SET', '" CALLS_DNI_RESTORING "', e, 'PX', " CALLS_DNI_RESTORE_GUARD_MS ")\n"
    "end\n"
    "local function answer(what, num, res, k) return {what, num, res, k, e} end\n"
    "local cap = tonumber(ARGV[9])\n"
    "local me = ARGV[11] .. ' ' .. ARGV[1]\n"
    "local nk = '" CALLS_DNI_HOLDER_PREFIX "' .. ARGV[10] .. ':'\n"
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
    "local umax = tonumber(ARGV[13])\n"
    "local function backlogged()\n"
    "  return umax > 0 and tonumber(redis.call('GET', '" CALLS_DNI_UNWRITTEN_COUNT
    "') or '0') >= umax\n"
    "end\n"
    "local function unwritten(num)\n"
    "  local ukey = '" CALLS_DNI_UNWRITTEN_PREFIX "' .. ARGV[10] .. ':' .. num\n"
    "  local until_ms = string.format('%.0f', tonumber(ARGV[3]) + tonumber(ARGV[2]) * 1000)\n"
    /* counted once a field: a second visit of the number in the same
     * millisecond overwrites the first, which the writer's HDEL takes
     * back once */
    "  local added = redis.call('HSET', ukey, ARGV[3], ARGV[10] .. '\\n' .. ARGV[11] .. '\\n'\n"
    "    .. num .. '\\n' .. ARGV[1] .. '\\n' .. until_ms .. '\\n' .. ARGV[12])\n"
    "  redis.call('SADD', '" CALLS_DNI_UNWRITTEN_SET "', ukey)\n"
    "  if added == 1 then redis.call('INCR', '" CALLS_DNI_UNWRITTEN_COUNT "') end\n"
    "end\n"
    /* the new visitors an address brought within a hold: those it took
     * numbers for, the new visits of its visitors, those turned away */
    "local function brought()\n"
    "  return cap > 0 and tonumber(redis.call('GET', KEYS[5]) or '0') >= cap\n"
    "end\n"
    "local function bring()\n"
    "  if cap > 0 and redis.call('INCR', KEYS[5]) == 1 then\n"
    "    redis.call('EXPIRE', KEYS[5], ARGV[2])\n"
    "  end\n"
    "end\n"
    /* a visitor counted once while turned away, however often it asks */
    "local function turned_away()\n"
    "  if redis.call('ZSCORE', denied, ARGV[1]) then\n"
    "    keep(denied, ARGV[1])\n"
    "  elseif not brought() then\n"
    "    bring()\n"
    "    keep(denied, ARGV[1])\n"
    "  end\n"
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
    "local n = #ARGV - 14\n"
    "local function in_pool(num)\n"
    "  for k = 15, #ARGV do if ARGV[k] == num then return true end end\n"
    "  return false\n"
    "end\n"
    "local function holder(num)\n"
    "  local h = redis.call('GET', nk .. num)\n"
    "  local old = ARGV[4] .. num\n"
    "  if h or redis.call('GET', old) ~= ARGV[1] then return h end\n"
    "  local left = redis.call('PTTL', old)\n"
    "  redis.call('DEL', old)\n"
    "  if left <= 0 then return nil end\n"
    "  redis.call('SET', nk .. num, me, 'PX', left)\n"
    "  return me\n"
    "end\n"
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then\n"
    "  local num, res = string.match(v, '^(%S+) (%d+)$')\n"
    "  if num and holder(num) == me then\n"
    "    if n == 0 or in_pool(num) then\n"
    "      extend(nk .. num, num)\n"
    "      if cap > 0 and redis.call('ZSCORE', KEYS[6], ARGV[1]) then keep(KEYS[6], ARGV[1]) end\n"
    "      if ARGV[14] == '1' and not backlogged() and not brought() then\n"
    "        bring()\n"
    "        redis.call('SET', KEYS[1], num .. ' ' .. ARGV[3], 'EX', ARGV[2])\n"
    "        unwritten(num)\n"
    "        return answer('new', num, ARGV[3], demand())\n"
    "      end\n"
    "      extend(KEYS[1])\n"
    "      return answer('held', num, res, 0)\n"
    "    end\n"
    "    redis.call('DEL', nk .. num)\n"
    "    redis.call('ZREM', KEYS[6], ARGV[1])\n"
    "  end\n"
    "end\n"
    "if n == 0 then return answer('none', '', '0', 0) end\n"
    "if redis.call('EXISTS', '" CALLS_DNI_RESTORING "') == 1 then\n"
    "  return answer('restoring', '', '0', 0)\n"
    "end\n"
    "if cap > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', ARGV[3])\n"
    "  if brought() or redis.call('ZCARD', KEYS[6]) >= cap then\n"
    "    return answer('capped', '', '0', 0)\n"
    "  end\n"
    "end\n"
    "if backlogged() then return answer('backlog', '', '0', 0) end\n"
    "if redis.call('EXISTS', ARGV[4] .. 'full') == 1 then return turned_away() end\n"
    "local start = tonumber(ARGV[5])\n"
    "for k = 0, n - 1 do\n"
    "  local num = ARGV[15 + ((start + k) % n)]\n"
    "  if redis.call('EXISTS', ARGV[4] .. num) == 0 and\n"
    "     redis.call('SET', nk .. num, me, 'NX', 'EX', ARGV[2]) then\n"
    "    redis.call('SET', KEYS[1], num .. ' ' .. ARGV[3], 'EX', ARGV[2])\n"
    "    if not redis.call('ZSCORE', denied, ARGV[1]) then bring() end\n"
    "    if cap > 0 then keep(KEYS[6], ARGV[1]) end\n"
    "    count_held(num)\n"
    "    redis.call('ZREM', denied, ARGV[1])\n"
    "    unwritten(num)\n"
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
    HOLD_NONE,      /* the clinic has no pool */
    HOLD_LIMITED,   /* over a rate limit: nothing was touched */
    HOLD_LOCAL,     /* a hold this instance extended recently: not asked of Redis */
    HOLD_CRAWLER,   /* a search engine's or other robot's page load: no number */
    HOLD_CAPPED,    /* the address took its share of new holds: no number */
    HOLD_BACKLOG,   /* too many sessions wait for PostgreSQL: no new hold */
    HOLD_RESTORING, /* Redis lost its data; another instance puts the holds back */
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
    int new_visit;  /* a page with tags of its own: a held number starts a new session */
    char epoch[64]; /* out: Redis's epoch in its answer */
};

/* EVAL, the script and its key count, the 6 keys and the 14 arguments
 * before the pool's numbers. */
#define HOLD_SCRIPT_FIXED_ARGS (3 + 6 + 14)

/* One run of hold_script. */
static redisReply *run_hold_script(struct calls_ctx *ctx, const struct hold_req *q)
{
    size_t n = json_array_size(q->numbers), argc = 0;
    const char **argv = cf_xcalloc(n + HOLD_SCRIPT_FIXED_ARGS, sizeof(char *));
    char vkey[256], ip_key[128], clinic_key[128], prefix[128], hold[24], now[24], start[24];
    char ip_limit[24], clinic_limit[24], new_key[256], live_key[256], new_cap[24],
        unwritten_max[24];
    const int64_t t = cf_time_now_ms();
    uint8_t h[32];

    cf_sha256(q->visitor, strlen(q->visitor), h);
    snprintf(vkey, sizeof(vkey), CALLS_DNI_VISITOR_PREFIX "%s:%s", q->clinic, q->visitor);
    snprintf(ip_key, sizeof(ip_key), "cf:dni:rl:ip:%s", q->ip);
    snprintf(clinic_key, sizeof(clinic_key), "cf:dni:rl:clinic:%s:%lld", q->clinic,
             (long long)(t / 1000));
    snprintf(prefix, sizeof(prefix), CALLS_DNI_POOL_PREFIX "%s:", q->clinic);
    snprintf(hold, sizeof(hold), "%ld", q->hold_s);
    snprintf(now, sizeof(now), "%lld", (long long)t);
    /* spread new visitors over the pool */
    snprintf(start, sizeof(start), "%zu", n ? ((size_t)h[0] << 8 | h[1]) % n : 0);
    snprintf(ip_limit, sizeof(ip_limit), "%ld", ctx->cfg.dni_ip_per_minute);
    snprintf(clinic_limit, sizeof(clinic_limit), "%ld", ctx->cfg.dni_clinic_per_second);
    snprintf(new_key, sizeof(new_key), "cf:dni:new:%s:%s", q->clinic, q->ip);
    snprintf(live_key, sizeof(live_key), "cf:dni:live:%s:%s", q->clinic, q->ip);
    snprintf(new_cap, sizeof(new_cap), "%ld", ctx->cfg.dni_new_holds_per_address);
    snprintf(unwritten_max, sizeof(unwritten_max), "%ld", ctx->cfg.dni_unwritten_max);
    argv[argc++] = "EVAL";
    argv[argc++] = hold_script;
    argv[argc++] = "6";
    argv[argc++] = vkey;
    argv[argc++] = ip_key;
    argv[argc++] = clinic_key;
    argv[argc++] = "cf:dni:epoch";
    argv[argc++] = new_key;
    argv[argc++] = live_key;
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
    argv[argc++] = q->new_visit ? "1" : "0";
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

/* 1 if numbers (the clinic's pool) has number. */
static int in_pool(const json_t *numbers, const char *number)
{
    size_t i;
    const json_t *j_num;
    json_array_foreach(numbers, i, j_num)
    {
        if (json_is_string(j_num) && strcmp(json_string_value(j_num), number) == 0)
            return 1;
    }
    return 0;
}

/* The rate limits and the visitor's hold extended or taken, in one round
 * trip with the pool. When every request goes to Redis
 * (CLINICFLOW_CALLS_DNI_LOCAL_S=0: most are returning visitors), the first
 * trip goes without the pool (but for a new visit), and only a visitor
 * without a hold costs a second one with it (so does a hold of a number
 * the pool no longer has: the script gives it up). *limited is 1 (the address) or
 * 2 (the clinic) for HOLD_LIMITED. When Redis cannot say, the limits are
 * skipped: the route degrades, it does not fail. */
static enum hold_result hold_number(struct calls_ctx *ctx, struct hold_req *q, char *number,
                                    size_t nsize, int64_t *reserved_ms, int *limited)
{
    const json_t *numbers = q->numbers;
    /* Answering returning visitors from memory leaves mostly new visitors
     * and refreshes to Redis: the pool goes along at once. So it does with
     * a new visit, whose held number starts a session on the first trip:
     * one the pool no longer has must be given up there, not renewed. */
    q->numbers = q->pool_first || q->new_visit ? numbers : NULL;
    q->count = 1;
    redisReply *r = run_hold_script(ctx, q);
    if (r && !q->numbers && json_array_size(numbers) > 0 &&
        (strcmp(r->element[0]->str, "none") == 0 ||
         (strcmp(r->element[0]->str, "held") == 0 && !in_pool(numbers, r->element[1]->str)))) {
        freeReplyObject(r);
        q->numbers = numbers;
        q->count = 0;
        r = run_hold_script(ctx, q);
    }
    if (r && strcmp(r->element[0]->str, "restoring") == 0) {
        /* Redis lost its data: its holds are put back before this visitor
         * takes one (by this instance's worker; the wait is bounded). The
         * answer's epoch is the new one: what this instance answers from
         * memory is forgotten now, not once the restore is over. */
        calls_dni_local_epoch(r->element[4]->str);
        freeReplyObject(r);
        if (!calls_dni_restore_wait(CALLS_DNI_RESTORE_WAIT_MS))
            return HOLD_RESTORING;
        q->numbers = numbers;
        q->count = 0;
        r = run_hold_script(ctx, q);
        if (r && strcmp(r->element[0]->str, "restoring") == 0) {
            calls_dni_local_epoch(r->element[4]->str);
            freeReplyObject(r);
            return HOLD_RESTORING;
        }
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
        calls_dni_note_demand(ctx, q->clinic, (long)taken); /* this visitor included */
    } else {
        res = HOLD_FULL;
        calls_dni_note_demand(ctx, q->clinic, (long)taken); /* this visitor included */
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
    const struct cf_clinic *clinic = cf_netconf_find_clinic(snap, clinic_id, &net);
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
    char *xff = cf_http_header_list(req, "X-Forwarded-For");
    cf_client_key(req->client_address, xff, &ctx->proxies, ip, sizeof(ip));
    free(xff);

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
    const char *new_visit = u_map_get(req->map_url, "new_visit");
    q.new_visit = new_visit && strcmp(new_visit, "1") == 0;
    const char *fallback = json_string_value(json_object_get(clinic->doc, "default_phone"));
    int dynamic = 0, limited = 0;
    int64_t reserved_ms = 0;
    const int64_t mono = cf_time_mono_ms();
    enum hold_result held;
    snprintf(labels, sizeof(labels), "clinic=\"%s\"", clinic->id);

    limited = calls_dni_local_limit(&ctx->cfg, ip, clinic->id, mono);
    if (limited > 0)
        held = HOLD_LIMITED;
    else if (calls_dni_crawler(cf_http_header(req, "User-Agent")))
        held = HOLD_CRAWLER;
    else if (pooled && local_s > 0 && limited == 0 && !q.new_visit &&
             calls_dni_local_get(clinic->id, visitor, mono + hold_s * 1000, number, sizeof(number),
                                 &reserved_ms) &&
             in_pool(q.numbers, number)) /* else Redis gives it up */
        held = HOLD_LOCAL;
    else {
        /* The tags go along with every trip that may take a hold: its
         * session is kept in the same step. */
        j_utm = request_tags(req);
        tags = cf_json_dumps(j_utm);
        q.tags = tags ? tags : "{}";
        held = hold_number(ctx, &q, number, sizeof(number), &reserved_ms, &limited);
    }
    if ((held == HOLD_NEW || held == HOLD_EXTENDED) && local_s > 0)
        calls_dni_local_put(clinic->id, visitor, number, reserved_ms, mono + q.hold_s * 1000,
                            mono + local_s * 1000, q.epoch);

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
        calls_dni_extension_note(net->id, clinic->id, number, visitor, reserved_ms,
                                 cf_time_now_ms() + q.hold_s * 1000, j_utm);
        cf_metrics_add("clinicflow_dni_extensions_total", labels, 1);
        break;
    case HOLD_LOCAL: /* the hold in Redis (and in PostgreSQL) already lasts long enough */
        dynamic = 1;
        cf_metrics_add("clinicflow_dni_local_answers_total", labels, 1);
        break;
    case HOLD_NEW:
        dynamic = 1;
        calls_dni_new_hold_note(net->id, clinic->id, number, visitor, reserved_ms,
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
    case HOLD_RESTORING:
        cf_metrics_add("clinicflow_dni_restoring_total", labels, 1);
        break;
    case HOLD_NONE:
        break;
    }
    if (!dynamic)
        snprintf(number, sizeof(number), "%s", fallback ? fallback : "");
    j_reply = json_pack("{s:s, s:b, s:I}", "number", number, "dynamic", dynamic, "hold_seconds",
                        (json_int_t)(dynamic ? hold_s : 0));
    /* the page keeps a number it holds while the hold lasts, and asks again */
    if ((held == HOLD_UNAVAILABLE && pooled) || held == HOLD_RESTORING)
        json_object_set_new(j_reply, "unavailable", json_true());
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
    cf_metrics_describe("clinicflow_dni_settle_skipped_total", "counter",
                        "Calls to a pool number folded while Redis could not say whether the "
                        "visitor's session still waited there (attributed from PostgreSQL alone)");
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
    cf_metrics_describe("clinicflow_dni_restoring_total", "counter",
                        "New visitors answered with the default number while another instance "
                        "put back the holds Redis lost, by clinic");
    cf_metrics_describe("clinicflow_dni_restored_holds_total", "counter",
                        "Holds put back from PostgreSQL's live sessions after Redis lost its "
                        "data");
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
