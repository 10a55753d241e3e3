/*
 * What one instance of the tracking-number route decides without Redis.
 *
 * Limits. Every request this instance receives counts against the
 * per-address (per minute) and per-clinic (per second) limits here, in
 * fixed windows, before anything else; the requests that go on to Redis
 * count there too, across instances. So one client is held to the limits
 * by each instance it reaches, and the Redis work of all instances
 * together stays within them.
 *
 * Recent holds. A visitor whose hold this instance took or extended in
 * Redis less than CLINICFLOW_CALLS_DNI_LOCAL_S ago is answered from memory:
 * holds are set in Redis for the hold plus that long, so the number stays
 * the visitor's for at least the hold after each request, whichever
 * instance answered it, and nobody else can be given it meanwhile.
 *
 * Both tables are Jansson objects used as hash tables under one mutex;
 * calls_dni_local_sweep (the flusher, every flush interval) drops what has
 * expired, and the hold table stops taking entries at LOCAL_HOLDS_MAX.
 */
#include "calls.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define LOCAL_HOLDS_MAX 200000

static pthread_mutex_t local_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the three tables */
static json_t *holds;   /* "clinic\nvisitor" -> [number, reserved ms, fresh until ms] */
static json_t *ips;     /* address -> [minute, count] */
static json_t *clinics; /* clinic -> [second, count] */

/* Counts one request in table[key]'s window; 1 if that makes it over limit. */
static int count_over(json_t **table, const char *key, long long window, long limit)
{
    if (!*table)
        *table = json_object();
    json_t *j_c = json_object_get(*table, key);
    long long count = 1;
    if (j_c && json_integer_value(json_array_get(j_c, 0)) == window)
        count = json_integer_value(json_array_get(j_c, 1)) + 1;
    json_object_set_new(*table, key, json_pack("[I, I]", window, count));
    return count > limit;
}

int calls_dni_local_limit(const struct calls_settings *cfg, const char *ip, const char *clinic,
                          int64_t now_ms)
{
    pthread_mutex_lock(&local_lock);
    int over = count_over(&ips, ip, now_ms / 60000, cfg->dni_ip_per_minute)              ? 1
               : count_over(&clinics, clinic, now_ms / 1000, cfg->dni_clinic_per_second) ? 2
                                                                                         : 0;
    pthread_mutex_unlock(&local_lock);
    return over;
}

static void hold_key(char *key, size_t size, const char *clinic, const char *visitor)
{
    snprintf(key, size, "%s\n%s", clinic, visitor);
}

int calls_dni_local_get(const char *clinic, const char *visitor, int64_t now_ms, char *number,
                        size_t nsize, int64_t *reserved_ms)
{
    char key[256];
    int found = 0;
    hold_key(key, sizeof(key), clinic, visitor);
    pthread_mutex_lock(&local_lock);
    json_t *j_h = json_object_get(holds, key);
    if (j_h && json_integer_value(json_array_get(j_h, 2)) > now_ms) {
        snprintf(number, nsize, "%s", json_string_value(json_array_get(j_h, 0)));
        *reserved_ms = json_integer_value(json_array_get(j_h, 1));
        found = 1;
    }
    pthread_mutex_unlock(&local_lock);
    return found;
}

void calls_dni_local_put(const char *clinic, const char *visitor, const char *number,
                         int64_t reserved_ms, int64_t fresh_until_ms)
{
    char key[256];
    hold_key(key, sizeof(key), clinic, visitor);
    pthread_mutex_lock(&local_lock);
    if (!holds)
        holds = json_object();
    if (json_object_size(holds) < LOCAL_HOLDS_MAX || json_object_get(holds, key))
        json_object_set_new(
            holds, key,
            json_pack("[s, I, I]", number, (json_int_t)reserved_ms, (json_int_t)fresh_until_ms));
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

void calls_dni_local_sweep(int64_t now_ms)
{
    pthread_mutex_lock(&local_lock);
    drop_older(holds, 2, now_ms + 1); /* fresh until now or earlier: stale */
    drop_older(ips, 0, now_ms / 60000);
    drop_older(clinics, 0, now_ms / 1000);
    pthread_mutex_unlock(&local_lock);
}

void calls_dni_local_free(void)
{
    pthread_mutex_lock(&local_lock);
    json_decref(holds);
    json_decref(ips);
    json_decref(clinics);
    holds = ips = clinics = NULL;
    pthread_mutex_unlock(&local_lock);
}
