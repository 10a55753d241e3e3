/*
 * The analytics benchmark's loader (bench/analytics/bench.py drives it): a
 * network's calls made up from a call number i, 0 .. N-1, in the order they
 * happened, written two ways:
 *
 *   clinicflow-bench-analytics-loader events N DAYS
 *       each call's clinicflow.call.ended (its whole state, as the calls
 *       service folds it: proto/schemas/call.json) as "key<TAB>envelope"
 *       lines on stdout, for kcat -P -K'\t';
 *   clinicflow-bench-analytics-loader copy DSN N DAYS [JOBS [TABLES]]
 *       what clinicflow-analytics keeps of those calls once it has consumed
 *       them, through COPY: analytics.calls (c: each call's row and the
 *       counts it adds, services/analytics/call_facts.c),
 *       analytics.calls_hourly (r: those counts summed per local hour and
 *       dimensions, as the consumer's upserts leave them), analytics.tasks
 *       (t: the missed calls' callback tasks) and analytics.persons (p: one
 *       row per caller, from their first call); TABLES: the letters of
 *       those to load (crtp). JOBS processes (2) each load whole days, on
 *       a connection of their own.
 *
 * The mix, each figure drawn from a hash of i (a run is repeatable):
 *   - DAYS days from 2026-01-01, N/DAYS calls a day, evenly from 08:00 to
 *     21:00 Moscow time (the demo network's zone, UTC+3);
 *   - 3 clinics (demo-center 50%, demo-north 30%, demo-south 20%), each on
 *     one telephony provider (the rollup's channel);
 *   - 30% of the calls are someone's first: inbound, patient class new,
 *     unique; the rest come from, or go to, an earlier caller (36% of them
 *     outbound); a repeat inbound call is unique one time in five, and its
 *     patient class new 30%, repeat 50%, lapsed 20%;
 *   - inbound calls: 7% missed (missed 60%, abandoned 25%, busy 10%,
 *     voicemail 5%), about 5% of all calls, each with a callback task (85%
 *     called back 30-2,429 s after the call's end, the rest expired);
 *     outbound: 70% answered;
 *   - 20 operators, 6-7 a clinic (op-1 .. op-10 the call centre, the rest
 *     reception); talk 5-404 s; targeted from 20 s;
 *   - the inbound calls' sources as the demo network's tracking numbers
 *     name them: yandex_direct 30%, google_ads 15%, 2gis 10%, site 20%,
 *     prodoctorov 10%, avito 5%, none (the clinic's own number) 10%.
 * Contact keys are 64 hex digits drawn from the person (the service's are
 * an HMAC of their number: the same shape, one a person). For the same
 * calls, the analytics.calls rows written here are the service's own,
 * column for column (bench.py checks it after the apply part).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

/* 2026-01-01T00:00 Moscow (UTC+3) */
#define YEAR_START_UTC 1767214800LL
#define MSK (3 * 3600)
#define WORK_START (8 * 3600)
#define WORK_SECONDS (13 * 3600)
#define NHOURS 13
#define NCLINICS 3
#define NSOURCES 7 /* the six, and none */
#define NOPS 21    /* none, op-1 .. op-20 */
#define NCLASSES 3
#define NCOUNTS 12

static const char *const clinics[NCLINICS] = {"demo-center", "demo-north", "demo-south"};
static const char *const channels[NCLINICS] = {"mango", "asterisk", "zadarma"};
static const char *const clinic_numbers[NCLINICS] = {"+74950000101", "+74950000102",
                                                     "+74950000103"};
static const struct {
    int upto;
    const char *source, *medium, *campaign, *number;
} sources[NSOURCES - 1] = {
    {30, "yandex_direct", "cpc", "implants-2026", "+74950000301"},
    {45, "google_ads", "cpc", "hygiene-2026", "+74950000302"},
    {55, "2gis", "listing", "", "+74950000303"},
    {75, "site", "organic", "", "+74950000304"},
    {85, "prodoctorov", "aggregator", "", "+74950000305"},
    {90, "avito", "classified", "whitening", "+74950000306"},
};
static const char *const classes[NCLASSES] = {"new", "repeat", "lapsed"};

static uint64_t mix(uint64_t x, uint64_t seed)
{
    /* splitmix64's finalizer over the number and the draw's seed */
    x += 0x9e3779b97f4a7c15ULL * (seed + 1);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void uuid_of(uint64_t n, uint64_t seed, char out[37])
{
    uint64_t a = mix(n, seed), b = mix(n, seed + 100);
    snprintf(out, 37, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
             a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48, b & (uint64_t)0xffffffffffff);
}

enum outcome { ANSWERED, MISSED, ABANDONED, BUSY, VOICEMAIL };
static const char *const outcomes[] = {"answered", "missed", "abandoned", "busy", "voicemail"};

struct call {
    int64_t i;
    int64_t started;                    /* UTC epoch seconds */
    int day, hour_of_day;               /* local: day from the start, hour 8 .. 20 */
    int first, inbound, clinic, source; /* source: 0..5, or 6 for none */
    int op;                             /* 0: none; 1..20 */
    int klass, unique, talk;
    enum outcome outcome;
    int64_t person;
    char call_id[37], contact_key[65];
};

static void make_call(int64_t i, int64_t per_day, struct call *c)
{
    const uint64_t u = (uint64_t)i;
    uint64_t r[9];
    for (int k = 1; k <= 8; k++)
        r[k] = mix(u, (uint64_t)k);
    memset(c, 0, sizeof(*c));
    c->i = i;
    c->day = (int)(i / per_day);
    const int64_t secs = WORK_START + (i % per_day) * WORK_SECONDS / per_day;
    c->hour_of_day = (int)(secs / 3600);
    c->started = YEAR_START_UTC + (int64_t)c->day * 86400 + secs;
    c->first = i % 20 < 6;
    c->inbound = c->first || r[1] % 100 >= 36;
    c->clinic = r[2] % 10 < 5 ? 0 : r[2] % 10 < 8 ? 1 : 2;
    c->person = c->first ? 6 * (i / 20) + i % 20 : (int64_t)(r[7] % (uint64_t)(6 * (i / 20 + 1)));
    c->talk = 5 + (int)(r[8] % 400);
    if (c->inbound) {
        if (r[3] % 1000 >= 70)
            c->outcome = ANSWERED;
        else
            c->outcome = r[3] % 20 < 12   ? MISSED
                         : r[3] % 20 < 17 ? ABANDONED
                         : r[3] % 20 < 19 ? BUSY
                                          : VOICEMAIL;
        c->source = NSOURCES - 1;
        for (int s = 0; s < NSOURCES - 1; s++)
            if ((int)(r[5] % 100) < sources[s].upto) {
                c->source = s;
                break;
            }
        c->unique = c->first || r[6] % 100 < 20;
    } else {
        c->outcome = r[3] % 10 < 7 ? ANSWERED : r[3] % 2 == 0 ? MISSED : BUSY;
        c->source = NSOURCES - 1;
    }
    const int ops = c->clinic < 2 ? 7 : 6;
    if (!c->inbound || c->outcome == ANSWERED)
        c->op = c->clinic + 1 + 3 * (int)(r[4] % (uint64_t)ops);
    c->klass = c->first ? 0 : r[6] % 10 < 3 ? 0 : r[6] % 10 < 8 ? 1 : 2;
    uuid_of(u, 11, c->call_id);
    snprintf(c->contact_key, sizeof(c->contact_key),
             "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, mix((uint64_t)c->person, 13),
             mix((uint64_t)c->person, 14), mix((uint64_t)c->person, 15),
             mix((uint64_t)c->person, 16));
}

static int missed(const struct call *c)
{
    return c->inbound && c->outcome != ANSWERED;
}

/* The counts a call adds (call_facts.c, in an_call_counts' order). */
static void counts_of(const struct call *c, long n[NCOUNTS])
{
    const int ans = c->outcome == ANSWERED, in = c->inbound;
    n[0] = in;
    n[1] = !in;
    n[2] = in && ans;
    n[3] = in && c->unique;
    n[4] = in && ans && c->talk >= 20;
    n[5] = missed(c);
    n[6] = in && c->outcome == ABANDONED;
    n[7] = in && ans && c->op <= 10;
    n[8] = in && ans && c->op > 10;
    n[9] = ans ? c->talk : 0;
    n[10] = ans;
    n[11] = in && ans ? c->talk : 0;
}

static void utc_text(int64_t t, int ms, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (ms)
        strftime(out, size, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    else
        strftime(out, size, "%Y-%m-%d %H:%M:%S+00", &tm);
}

/* The local hour of t, as analytics stores it ("2026-03-01 14:00:00"). */
static void local_hour(int64_t t, char *out, size_t size)
{
    time_t tt = (time_t)(t + MSK);
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, size, "%Y-%m-%d %H:00:00", &tm);
}

static void phone_of(int64_t person, char out[16])
{
    snprintf(out, 16, "+7916%07" PRId64, person % 10000000);
}

static const char *op_group(int op)
{
    return op == 0 ? "" : op <= 10 ? "call_center" : "reception";
}

/* ---- events ------------------------------------------------------------- */

static void party(char *out, size_t size, const char *e164)
{
    snprintf(out, size, "{\"raw\":\"%s\",\"kind\":\"e164\",\"e164\":\"%s\"}", e164, e164);
}

static int events(int64_t n, int64_t per_day)
{
    struct call c;
    char buf[4096], started[32], answered[32], ended[32], phone[16], caller[128], called[128];
    char event_id[37], extra[1024];
    for (int64_t i = 0; i < n; i++) {
        make_call(i, per_day, &c);
        const int ans = c.outcome == ANSWERED;
        const int ring = ans ? 8 : 40;
        const int64_t end = c.started + ring + (ans ? c.talk : 0);
        utc_text(c.started, 1, started, sizeof(started));
        utc_text(c.started + ring, 1, answered, sizeof(answered));
        utc_text(end, 1, ended, sizeof(ended));
        phone_of(c.person, phone);
        const char *ours =
            c.source < NSOURCES - 1 ? sources[c.source].number : clinic_numbers[c.clinic];
        party(caller, sizeof(caller), c.inbound ? phone : ours);
        party(called, sizeof(called), c.inbound ? ours : phone);
        uuid_of((uint64_t)i, 31, event_id);
        size_t k = 0;
        extra[0] = 0;
        if (ans)
            k += (size_t)snprintf(extra + k, sizeof(extra) - k,
                                  ",\"answered_at\":\"%s\",\"talk_seconds\":%d", answered, c.talk);
        if (c.op)
            k += (size_t)snprintf(extra + k, sizeof(extra) - k,
                                  ",\"agent_id\":\"op-%d\",\"agent_group\":\"%s\"", c.op,
                                  op_group(c.op));
        if (c.inbound) {
            k += (size_t)snprintf(extra + k, sizeof(extra) - k,
                                  ",\"tracking_number\":\"%s\",\"targeted\":%s,\"unique\":%s", ours,
                                  ans && c.talk >= 20 ? "true" : "false",
                                  c.unique ? "true" : "false");
            if (c.source < NSOURCES - 1) {
                k += (size_t)snprintf(extra + k, sizeof(extra) - k,
                                      ",\"attribution\":{\"kind\":\"static\",\"tracking_number\":"
                                      "\"%s\",\"source\":\"%s\",\"medium\":\"%s\"",
                                      ours, sources[c.source].source, sources[c.source].medium);
                if (*sources[c.source].campaign)
                    k += (size_t)snprintf(extra + k, sizeof(extra) - k, ",\"campaign\":\"%s\"",
                                          sources[c.source].campaign);
                k += (size_t)snprintf(extra + k, sizeof(extra) - k, "}");
            }
        }
        snprintf(extra + k, sizeof(extra) - k, ",\"patient\":{\"class\":\"%s\"}", classes[c.klass]);
        int len = snprintf(
            buf, sizeof(buf),
            "%s\t{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/clinicflow/calls/fold\","
            "\"type\":\"clinicflow.call.ended\",\"subject\":\"%s\",\"time\":\"%s\","
            "\"datacontenttype\":\"application/json\",\"networkid\":\"demo\",\"clinicid\":\"%s\","
            "\"data\":{\"call_id\":\"%s\",\"clinic_id\":\"%s\",\"direction\":\"%s\","
            "\"status\":\"ended\",\"caller\":%s,\"called\":%s,\"contact_key\":\"%s\","
            "\"started_at\":\"%s\",\"ended_at\":\"%s\",\"ring_seconds\":%d,\"outcome\":\"%s\","
            "\"provider\":\"%s\",\"provider_call_id\":\"bench-%" PRId64 "\",\"facts\":3%s}}\n",
            c.call_id, event_id, c.call_id, ended, clinics[c.clinic], c.call_id, clinics[c.clinic],
            c.inbound ? "inbound" : "outbound", caller, called, c.contact_key, started, ended, ring,
            outcomes[c.outcome], channels[c.clinic], i, extra);
        if (len <= 0 || (size_t)len >= sizeof(buf) ||
            fwrite(buf, 1, (size_t)len, stdout) != (size_t)len)
            return 1;
    }
    return fflush(stdout) != 0;
}

/* ---- COPY --------------------------------------------------------------- */

struct copy {
    PGconn *conn;
    char *buf;
    size_t len, cap;
};

static int copy_begin(struct copy *cp, const char *sql)
{
    PGresult *res = PQexec(cp->conn, sql);
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok)
        fprintf(stderr, "loader: %s: %s", sql, PQerrorMessage(cp->conn));
    PQclear(res);
    cp->len = 0;
    return ok ? 0 : -1;
}

static int copy_flush(struct copy *cp)
{
    if (cp->len && PQputCopyData(cp->conn, cp->buf, (int)cp->len) != 1) {
        fprintf(stderr, "loader: COPY: %s", PQerrorMessage(cp->conn));
        return -1;
    }
    cp->len = 0;
    return 0;
}

static int copy_line(struct copy *cp, const char *line, size_t n)
{
    if (cp->len + n > cp->cap && copy_flush(cp) != 0)
        return -1;
    memcpy(cp->buf + cp->len, line, n);
    cp->len += n;
    return 0;
}

static int copy_end(struct copy *cp)
{
    if (copy_flush(cp) != 0 || PQputCopyEnd(cp->conn, NULL) != 1)
        return -1;
    PGresult *res = PQgetResult(cp->conn);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "loader: COPY: %s", PQerrorMessage(cp->conn));
    PQclear(res);
    while ((res = PQgetResult(cp->conn)))
        PQclear(res);
    return ok ? 0 : -1;
}

static int copy_calls(struct copy *cp, int64_t lo, int64_t hi, int64_t per_day)
{
    struct call c;
    char line[1024], started[32], hour[32];
    long n[NCOUNTS];
    if (copy_begin(cp, "COPY analytics.calls (call_id, network_id, hour, clinic_id, source,"
                       " medium, campaign, operator, patient_class, channel, started_at,"
                       " direction, status, outcome, agent_group, contact_key, inbound,"
                       " outbound, answered, unique_calls, targeted, missed, abandoned,"
                       " answered_call_center, answered_reception, talk_seconds, handled,"
                       " inbound_talk_seconds) FROM STDIN") != 0)
        return -1;
    for (int64_t i = lo; i < hi; i++) {
        make_call(i, per_day, &c);
        counts_of(&c, n);
        utc_text(c.started, 0, started, sizeof(started));
        local_hour(c.started, hour, sizeof(hour));
        const int s = c.source;
        char op[8] = "";
        if (c.op)
            snprintf(op, sizeof(op), "op-%d", c.op);
        int len = snprintf(
            line, sizeof(line),
            "%s\tdemo\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\tended\t%s\t%s\t%s"
            "\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\n",
            c.call_id, hour, clinics[c.clinic], s < NSOURCES - 1 ? sources[s].source : "",
            s < NSOURCES - 1 ? sources[s].medium : "", s < NSOURCES - 1 ? sources[s].campaign : "",
            op, classes[c.klass], channels[c.clinic], started, c.inbound ? "inbound" : "outbound",
            outcomes[c.outcome], op_group(c.op), c.contact_key, n[0], n[1], n[2], n[3], n[4], n[5],
            n[6], n[7], n[8], n[9], n[10], n[11]);
        if (copy_line(cp, line, (size_t)len) != 0)
            return -1;
    }
    return copy_end(cp);
}

/* calls_hourly: a day's cells (hour, clinic, source, operator, class; the
 * channel follows the clinic) summed, then written; days are whole per
 * job, so no rollup row is written twice. */
#define CELLS (NHOURS * NCLINICS * NSOURCES * NOPS * NCLASSES)
static int copy_rollup(struct copy *cp, int64_t lo, int64_t hi, int64_t per_day)
{
    long(*cells)[NCOUNTS] = calloc(CELLS, sizeof(*cells));
    unsigned char *used = calloc(CELLS, 1);
    struct call c;
    char line[1024], hour[32];
    long n[NCOUNTS];
    int rc = -1;
    if (!cells || !used)
        abort();
    if (copy_begin(cp, "COPY analytics.calls_hourly (network_id, hour, clinic_id, source, medium,"
                       " campaign, operator, patient_class, channel, inbound, outbound, answered,"
                       " unique_calls, targeted, missed, abandoned, answered_call_center,"
                       " answered_reception, talk_seconds, handled, inbound_talk_seconds)"
                       " FROM STDIN") != 0)
        goto out;
    for (int64_t day = lo / per_day; day * per_day < hi; day++) {
        const int64_t from = day * per_day > lo ? day * per_day : lo;
        const int64_t to = (day + 1) * per_day < hi ? (day + 1) * per_day : hi;
        for (int64_t i = from; i < to; i++) {
            make_call(i, per_day, &c);
            counts_of(&c, n);
            const size_t cell =
                ((((size_t)(c.hour_of_day - 8) * NCLINICS + (size_t)c.clinic) * NSOURCES +
                  (size_t)c.source) *
                     NOPS +
                 (size_t)c.op) *
                    NCLASSES +
                (size_t)c.klass;
            used[cell] = 1;
            for (int k = 0; k < NCOUNTS; k++)
                cells[cell][k] += n[k];
        }
        for (size_t cell = 0; cell < CELLS; cell++) {
            if (!used[cell])
                continue;
            size_t x = cell;
            const int klass = (int)(x % NCLASSES);
            x /= NCLASSES;
            const int op = (int)(x % NOPS);
            x /= NOPS;
            const int s = (int)(x % NSOURCES);
            x /= NSOURCES;
            const int clinic = (int)(x % NCLINICS);
            const int h = (int)(x / NCLINICS) + 8;
            local_hour(YEAR_START_UTC + day * 86400 + h * 3600, hour, sizeof(hour));
            char opname[8] = "";
            if (op)
                snprintf(opname, sizeof(opname), "op-%d", op);
            const long *m = cells[cell];
            int len = snprintf(line, sizeof(line),
                               "demo\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s"
                               "\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\n",
                               hour, clinics[clinic], s < NSOURCES - 1 ? sources[s].source : "",
                               s < NSOURCES - 1 ? sources[s].medium : "",
                               s < NSOURCES - 1 ? sources[s].campaign : "", opname, classes[klass],
                               channels[clinic], m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7],
                               m[8], m[9], m[10], m[11]);
            if (copy_line(cp, line, (size_t)len) != 0)
                goto out;
        }
        memset(cells, 0, CELLS * sizeof(*cells));
        memset(used, 0, CELLS);
    }
    rc = copy_end(cp);
out:
    free(cells);
    free(used);
    return rc;
}

static int copy_tasks(struct copy *cp, int64_t lo, int64_t hi, int64_t per_day)
{
    struct call c;
    char line[1024], hour[32], opened[32], due[32], closed[32], task_id[37], closing[37];
    if (copy_begin(cp, "COPY analytics.tasks (task_id, network_id, kind, status, clinic_id, hour,"
                       " opened_at, due_at, closed_at, on_time, seconds_to_callback,"
                       " seconds_to_response, missed_calls, withdrawn, source_call_id,"
                       " closing_call_id, lead_id, appointment_id, contact_key, call_source,"
                       " call_medium, call_campaign, call_operator, call_patient_class,"
                       " call_channel) FROM STDIN") != 0)
        return -1;
    for (int64_t i = lo; i < hi; i++) {
        make_call(i, per_day, &c);
        if (!missed(&c))
            continue;
        /* its missed call's dimensions, as copy_calls writes them */
        const int s = c.source;
        char op[8] = "", dims[256];
        if (c.op)
            snprintf(op, sizeof(op), "op-%d", c.op);
        snprintf(
            dims, sizeof(dims), "%s\t%s\t%s\t%s\t%s\t%s", s < NSOURCES - 1 ? sources[s].source : "",
            s < NSOURCES - 1 ? sources[s].medium : "", s < NSOURCES - 1 ? sources[s].campaign : "",
            op, classes[c.klass], channels[c.clinic]);
        const uint64_t r = mix((uint64_t)i, 9);
        const int done = r % 100 < 85;
        const int secs = 30 + (int)((r / 100) % 2400);
        const int64_t open = c.started + 40; /* its end: 40 s of ringing */
        uuid_of((uint64_t)i, 21, task_id);
        uuid_of((uint64_t)i, 23, closing);
        local_hour(open, hour, sizeof(hour));
        utc_text(open, 0, opened, sizeof(opened));
        utc_text(open + 900, 0, due, sizeof(due));
        utc_text(open + secs, 0, closed, sizeof(closed));
        int len;
        if (done)
            len = snprintf(line, sizeof(line),
                           "%s\tdemo\tcallback\tclosed\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\\N\t1\tf"
                           "\t%s\t%s\t\\N\t\\N\t%s\t%s\n",
                           task_id, clinics[c.clinic], hour, opened, due, closed,
                           secs <= 900 ? "t" : "f", secs, c.call_id, closing, c.contact_key, dims);
        else
            len = snprintf(line, sizeof(line),
                           "%s\tdemo\tcallback\texpired\t%s\t%s\t%s\t%s\t\\N\t\\N\t\\N\t\\N\t1\tf"
                           "\t%s\t\\N\t\\N\t\\N\t%s\t%s\n",
                           task_id, clinics[c.clinic], hour, opened, due, c.call_id, c.contact_key,
                           dims);
        if (copy_line(cp, line, (size_t)len) != 0)
            return -1;
    }
    return copy_end(cp);
}

/* One row a person, from their first call (inbound, so a contact); their
 * last contact with a source is taken as that first one (the calls and
 * funnel reports do not read it). */
static int copy_persons(struct copy *cp, int64_t lo, int64_t hi, int64_t per_day)
{
    struct call c;
    char line[1024], hour[32], at[32];
    if (copy_begin(cp, "COPY analytics.persons (network_id, contact_key, first_at, first_hour,"
                       " first_clinic, first_source, first_medium, first_campaign, first_channel,"
                       " first_class, last_at, last_source, last_medium, last_campaign)"
                       " FROM STDIN") != 0)
        return -1;
    for (int64_t i = lo; i < hi; i++) {
        if (i % 20 >= 6)
            continue;
        make_call(i, per_day, &c);
        local_hour(c.started, hour, sizeof(hour));
        utc_text(c.started, 0, at, sizeof(at));
        const int s = c.source;
        int len;
        if (s < NSOURCES - 1)
            len = snprintf(line, sizeof(line),
                           "demo\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\tnew\t%s\t%s"
                           "\t%s\t%s\n",
                           c.contact_key, at, hour, clinics[c.clinic], sources[s].source,
                           sources[s].medium, sources[s].campaign, channels[c.clinic], at,
                           sources[s].source, sources[s].medium, sources[s].campaign);
        else
            len = snprintf(line, sizeof(line),
                           "demo\t%s\t%s\t%s\t%s\t\t\t\t%s\tnew\t\\N\t\\N\t\\N\t\\N\n",
                           c.contact_key, at, hour, clinics[c.clinic], channels[c.clinic]);
        if (copy_line(cp, line, (size_t)len) != 0)
            return -1;
    }
    return copy_end(cp);
}

static int load(const char *dsn, const char *what, int64_t lo, int64_t hi, int64_t per_day)
{
    struct copy cp = {.cap = 1 << 20};
    cp.buf = malloc(cp.cap);
    cp.conn = PQconnectdb(dsn);
    if (!cp.buf || PQstatus(cp.conn) != CONNECTION_OK) {
        fprintf(stderr, "loader: %s", PQerrorMessage(cp.conn));
        return 1;
    }
    PGresult *res = PQexec(cp.conn, "SET synchronous_commit = off");
    PQclear(res);
    int rc = 0;
    if (strchr(what, 'c'))
        rc = rc ? rc : copy_calls(&cp, lo, hi, per_day);
    if (strchr(what, 'r'))
        rc = rc ? rc : copy_rollup(&cp, lo, hi, per_day);
    if (strchr(what, 't'))
        rc = rc ? rc : copy_tasks(&cp, lo, hi, per_day);
    if (strchr(what, 'p'))
        rc = rc ? rc : copy_persons(&cp, lo, hi, per_day);
    PQfinish(cp.conn);
    free(cp.buf);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "events") == 0) {
        const int64_t n = strtoll(argv[2], NULL, 10), days = strtoll(argv[3], NULL, 10);
        if (n <= 0 || days <= 0)
            return 2;
        return events(n, (n + days - 1) / days);
    }
    if (argc >= 5 && strcmp(argv[1], "copy") == 0) {
        const char *dsn = argv[2];
        const int64_t n = strtoll(argv[3], NULL, 10), days = strtoll(argv[4], NULL, 10);
        const int jobs = argc >= 6 ? (int)strtol(argv[5], NULL, 10) : 2;
        const char *what = argc >= 7 ? argv[6] : "crtp";
        if (n <= 0 || days <= 0 || jobs <= 0)
            return 2;
        const int64_t per_day = (n + days - 1) / days;
        const int64_t ndays = (n + per_day - 1) / per_day;
        for (int j = 0; j < jobs; j++) {
            /* whole days a job: a rollup row is one job's */
            const int64_t lo = ndays * j / jobs * per_day, hi = ndays * (j + 1) / jobs * per_day;
            pid_t pid = fork();
            if (pid < 0)
                return 1;
            if (pid == 0)
                _exit(load(dsn, what, lo, hi < n ? hi : n, per_day));
        }
        int status, failed = 0;
        while (wait(&status) > 0)
            failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        return failed;
    }
    fprintf(stderr, "usage: clinicflow-bench-analytics-loader events N DAYS\n"
                    "       clinicflow-bench-analytics-loader copy DSN N DAYS [JOBS [crtp]]\n");
    return 2;
}
