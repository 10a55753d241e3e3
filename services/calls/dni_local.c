/*
 * What one instance of the tracking-number route decides without Redis.
 * Times here are monotonic milliseconds: a step of the wall clock cannot
 * stretch what is answered from memory.
 *
 * Limits. Every request this instance receives counts against the
 * per-address (per minute) and per-clinic (per second) limits here, in
 * fixed windows, before anything else; the requests that go on to Redis
 * count there too, across instances. So one client is held to the limits
 * by each instance it reaches, and the Redis work of all instances
 * together stays within them. The address table takes at most
 * LOCAL_COUNTERS_MAX addresses between sweeps; a request from an address
 * it cannot count is not answered from memory (Redis counts it).
 *
 * Holds. After Redis took or extended a visitor's hold, the instance keeps
 * the number with the earliest time the hold can end in Redis (the time
 * before the request plus the hold it asked for; Redis never shortens an
 * expiry). A later request is answered from memory while that is at least
 * a whole hold away, so the number stays the visitor's for at least the
 * hold after every request, and nobody else can be given it meanwhile.
 * When Redis answers with a later epoch (it lost its data), the table is
 * forgotten, and a hold learnt in an earlier epoch is not kept. An epoch
 * only tells that all data was lost: partial loss (eviction of keys with
 * an expiry, a restored snapshot, a lagging replica promoted) is not seen,
 * which is why the README asks for noeviction and no such failover, or the
 * memory off.
 *
 * Peaks. The most visitors a clinic's pool was asked to serve at once
 * (numbers held plus visitors turned away within a hold, as Redis counts
 * them) decays by half every CLINICFLOW_CALLS_DNI_PEAK_HALF_LIFE_S, so the
 * advice follows a campaign that ended or a pool that was resized instead
 * of keeping the highest value ever seen until a restart.
 *
 * The tables are Jansson objects used as hash tables under one mutex;
 * calls_dni_local_sweep (the flusher, every flush interval) drops what has
 * expired, and the hold table stops taking entries at LOCAL_HOLDS_MAX.
 */
#include "calls.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_HOLDS_MAX 200000
#define LOCAL_COUNTERS_MAX 100000
#define LOCAL_PEAKS_MAX 10000

static pthread_mutex_t local_lock = PTHREAD_MUTEX_INITIALIZER; /* guards all below */
static json_t *holds;   /* "clinic\nvisitor" -> [number, reserved ms, held in Redis until] */
static json_t *ips;     /* address -> [minute, count] */
static json_t *clinics; /* clinic -> [second, count] */
static json_t *peaks;   /* clinic -> [peak, monotonic ms it was at] */
static char epoch[64];  /* Redis's epoch the holds were learnt in */

/* Counts one request in table[key]'s window: 1 if that makes it over
 * limit, 0 if not, -1 if the table is full and key new (not counted). */
static int count_over(json_t **table, const char *key, long long window, long limit)
{
    if (!*table)
        *table = json_object();
    json_t *j_c = json_object_get(*table, key);
    if (!j_c) {
        if (json_object_size(*table) >= LOCAL_COUNTERS_MAX)
            return -1;
        json_object_set_new(*table, key, json_pack("[I, I]", window, (json_int_t)1));
        return 1 > limit;
    }
    json_t *j_window = json_array_get(j_c, 0), *j_count = json_array_get(j_c, 1);
    long long count = json_integer_value(j_window) == window ? json_integer_value(j_count) + 1 : 1;
    json_integer_set(j_window, window);
    json_integer_set(j_count, count);
    return count > limit;
}

int calls_dni_local_limit(const struct calls_settings *cfg, const char *ip, const char *clinic,
                          int64_t mono_ms)
{
    pthread_mutex_lock(&local_lock);
    int over = count_over(&ips, ip, mono_ms / 60000, cfg->dni_ip_per_minute);
    if (over != 1 && count_over(&clinics, clinic, mono_ms / 1000, cfg->dni_clinic_per_second) == 1)
        over = 2;
    pthread_mutex_unlock(&local_lock);
    return over;
}

static void hold_key(char *key, size_t size, const char *clinic, const char *visitor)
{
    snprintf(key, size, "%s\n%s", clinic, visitor);
}

int calls_dni_local_get(const char *clinic, const char *visitor, int64_t needed_until, char *number,
                        size_t nsize, int64_t *reserved_ms)
{
    char key[256];
    int found = 0;
    hold_key(key, sizeof(key), clinic, visitor);
    pthread_mutex_lock(&local_lock);
    json_t *j_h = json_object_get(holds, key);
    if (j_h && json_integer_value(json_array_get(j_h, 2)) >= needed_until) {
        snprintf(number, nsize, "%s", json_string_value(json_array_get(j_h, 0)));
        *reserved_ms = json_integer_value(json_array_get(j_h, 1));
        found = 1;
    }
    pthread_mutex_unlock(&local_lock);
    return found;
}

void calls_dni_local_put(const char *clinic, const char *visitor, const char *number,
                         int64_t reserved_ms, int64_t held_until, int64_t usable_until,
                         const char *redis_epoch)
{
    char key[256];
    hold_key(key, sizeof(key), clinic, visitor);
    pthread_mutex_lock(&local_lock);
    if (!holds)
        holds = json_object();
    /* A hold learnt in an epoch that is no longer the current one (another
     * request saw Redis lose its data meanwhile) is not kept. */
    if (strcmp(redis_epoch, epoch) == 0 &&
        (json_object_size(holds) < LOCAL_HOLDS_MAX || json_object_get(holds, key)))
        json_object_set_new(holds, key,
                            json_pack("[s, I, I, I]", number, (json_int_t)reserved_ms,
                                      (json_int_t)held_until, (json_int_t)usable_until));
    pthread_mutex_unlock(&local_lock);
}

/* Epochs are the milliseconds of the request that set them: a later one
 * is larger, and an answer that brings a smaller one is older than what
 * this instance already knows. */
void calls_dni_local_epoch(const char *redis_epoch)
{
    pthread_mutex_lock(&local_lock);
    if (!epoch[0] || strtoll(redis_epoch, NULL, 10) > strtoll(epoch, NULL, 10)) {
        if (epoch[0])
            json_object_clear(holds);
        snprintf(epoch, sizeof(epoch), "%s", redis_epoch);
    }
    pthread_mutex_unlock(&local_lock);
}

/* Drops the entries of table whose element at index idx is below min. */
static void drop_older(json_t *table, size_t idx, long long min)
{
    const char *key;
    json_t *j_v;
    void *tmp;
    json_object_foreach_safe(table, tmp, key, j_v)
    {
        if (json_integer_value(json_array_get(j_v, idx)) < min)
            json_object_del(table, key);
    }
}

void calls_dni_local_sweep(int64_t mono_ms)
{
    pthread_mutex_lock(&local_lock);
    drop_older(holds, 2, mono_ms + 1); /* held until now or earlier: gone */
    /* past the moment it could answer (a whole hold left in Redis): it
     * would only take room from new visitors until its hold ends */
    drop_older(holds, 3, mono_ms + 1);
    drop_older(ips, 0, mono_ms / 60000);
    drop_older(clinics, 0, mono_ms / 1000);
    pthread_mutex_unlock(&local_lock);
}

double calls_dni_peak_decayed(double peak, int64_t elapsed_ms, long half_life_s)
{
    if (elapsed_ms <= 0 || half_life_s <= 0)
        return peak;
    return peak * exp2(-(double)elapsed_ms / ((double)half_life_s * 1000.0));
}

long calls_dni_suggested_pool(double peak)
{
    /* A peak that decayed to 5.2 still asks for 6 numbers: visitors come whole. */
    const long p = peak > 0 ? (long)ceil(peak - 1e-9) : 0;
    return p + (p + 3) / 4 + (p > 0 ? 0 : 1); /* a quarter more, rounded up; at least one */
}

double calls_dni_local_peak(const char *clinic, long demand, int64_t mono_ms, long half_life_s)
{
    double peak = (double)demand;
    pthread_mutex_lock(&local_lock);
    if (!peaks)
        peaks = json_object();
    json_t *j_p = json_object_get(peaks, clinic);
    if (j_p) {
        const double decayed = calls_dni_peak_decayed(
            json_real_value(json_array_get(j_p, 0)),
            mono_ms - json_integer_value(json_array_get(j_p, 1)), half_life_s);
        if (decayed > peak)
            peak = decayed;
        json_array_set_new(j_p, 0, json_real(peak));
        json_array_set_new(j_p, 1, json_integer(mono_ms));
    } else if (json_object_size(peaks) < LOCAL_PEAKS_MAX) {
        json_object_set_new(peaks, clinic, json_pack("[f, I]", peak, (json_int_t)mono_ms));
    }
    pthread_mutex_unlock(&local_lock);
    return peak;
}

void calls_dni_local_peaks_each(int64_t mono_ms, long half_life_s,
                                void (*fn)(const char *clinic, double peak, void *arg), void *arg)
{
    const char *clinic;
    json_t *j_p;
    pthread_mutex_lock(&local_lock);
    json_object_foreach(peaks, clinic, j_p)
    {
        fn(clinic,
           calls_dni_peak_decayed(json_real_value(json_array_get(j_p, 0)),
                                  mono_ms - json_integer_value(json_array_get(j_p, 1)),
                                  half_life_s),
           arg);
    }
    pthread_mutex_unlock(&local_lock);
}

void calls_dni_local_free(void)
{
    pthread_mutex_lock(&local_lock);
    json_decref(holds);
    json_decref(ips);
    json_decref(clinics);
    json_decref(peaks);
    holds = ips = clinics = peaks = NULL;
    epoch[0] = '\0';
    pthread_mutex_unlock(&local_lock);
}
