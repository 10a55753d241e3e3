/*
 * The calls unit tests' fixture: a call as the intake starts it, a fact
 * applied to it as the fold applies one, and two readers of its members.
 */
#ifndef CF_TEST_CALLS_FIXTURE_H
#define CF_TEST_CALLS_FIXTURE_H

#include <jansson.h>

#include "calls.h"
#include "common/time.h"
#include "fold_testable.h"

static const struct calls_settings cfg = {.abandoned_ring_s = 10, .targeted_talk_s = 20};

static inline json_t *new_call(const char *direction)
{
    return json_pack("{s:s, s:s, s:{s:s,s:s,s:s}, s:{s:s,s:s,s:s}, s:s, s:s, s:i}", "call_id",
                     "5b7f0c1e-2d3a-5e4f-8a9b-0c1d2e3f4a5b", "direction", direction, "caller",
                     "raw", "+79161234567", "kind", "e164", "e164", "+79161234567", "called", "raw",
                     "+74950000301", "kind", "e164", "e164", "+74950000301", "provider", "generic",
                     "provider_call_id", "pbx-1", "facts", 0);
}

/* Applies a fact {event, ...extra} at time t (RFC 3339) like the fold does. */
static inline void apply(json_t *j_call, const char *event, const char *t, json_t *extra)
{
    int64_t ms = 0;
    json_t *j_fact = extra ? extra : json_object();
    json_object_set_new(j_fact, "event", json_string(event));
    cf_time_parse(t, &ms);
    calls_fold_fact(j_call, j_fact, ms);
    calls_derive(j_call, &cfg, ms);
    json_decref(j_fact);
}

static inline const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static inline long long num(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

#endif
