/*
 * What the tracking-number files share: the route (dni_route.c) takes and
 * extends holds in Redis and hands their sessions to dni_sessions.c, which
 * writes them to PostgreSQL, and tells dni_pool_advice.c the demand it
 * saw. dni_local.c (declared in calls.h) is what one instance keeps in
 * memory. Not used outside these files.
 */
#ifndef CF_CALLS_DNI_H
#define CF_CALLS_DNI_H

#include <stdint.h>

#include <jansson.h>

#include "calls.h"

/* The sessions of new holds kept in Redis until PostgreSQL has them:
 * hashes "cf:dni:u:<network>:<number>" (reservation ms -> the session),
 * the set of those hashes, and how many sessions they hold. The route's
 * hold script adds to them; dni_sessions.c writes and removes them. */
#define CALLS_DNI_UNWRITTEN_PREFIX "cf:dni:u:"
#define CALLS_DNI_UNWRITTEN_KEY CALLS_DNI_UNWRITTEN_PREFIX "%s:%s" /* network, number */
#define CALLS_DNI_UNWRITTEN_SET "cf:dni:unwritten"
#define CALLS_DNI_UNWRITTEN_COUNT "cf:dni:unwritten:n"

/* A visitor's hold in Redis: the number's key ("<clinic> <visitor>"),
 * per network as its sessions are, so a number the configuration moves
 * to another clinic's pool is not given to a second visitor while the
 * first still holds it; and the visitor's ("<number> <reserved at ms>"),
 * per clinic. Under the clinic's pool prefix: the numbers held, a sorted
 * set by when each hold ends ("held"), the visitors a full pool turned
 * away ("denied") and the full mark ("full") (dni_route.c). An earlier
 * release kept the number's key under the pool prefix too, its
 * value the visitor alone; the route still honours such a hold, and
 * moves it when its visitor comes back. */
#define CALLS_DNI_HOLDER_PREFIX "cf:dni:h:"  /* + network ":" + number */
#define CALLS_DNI_POOL_PREFIX "cf:dni:n:"    /* + clinic ":" + held|denied|full */
#define CALLS_DNI_VISITOR_PREFIX "cf:dni:v:" /* + clinic ":" + visitor */

/* Set with a new epoch when the route's script finds Redis without one
 * (it lost its data, or is new): while it is there no new hold is taken,
 * until calls_dni_restore has put back the holds PostgreSQL records as
 * live, or for CALLS_DNI_RESTORE_GUARD_MS at most (PostgreSQL down). */
#define CALLS_DNI_RESTORING "cf:dni:restoring"
#define CALLS_DNI_RESTORE_GUARD_MS "60000"

#define CALLS_DNI_RESTORE_WAIT_MS 500L

/* dni_restore.c. The route's, when its script answers "restoring": asks
 * the worker to put the holds back and waits up to ms for it. 1 when it
 * did, 0 when it did not in time, another instance is putting them back,
 * or Redis or PostgreSQL failed: the request is then answered as with
 * Redis down. */
int calls_dni_restore_wait(long ms);
/* The worker's, each turn (tick: at a flush interval, when it also looks
 * for the mark in Redis): puts the holds back when a request asked. */
void calls_dni_restore_work(struct calls_ctx *ctx, int tick);

/* dni_sessions.c. Any thread. The worker (calls_dni_flusher) writes
 * them. */
/* Notes that a request extended the visitor's hold of number, reserved at
 * reserved_ms, to held_until_ms (j_utm: the request's tags, copied). */
void calls_dni_extension_note(const char *network_id, const char *clinic, const char *number,
                              const char *visitor, int64_t reserved_ms, int64_t held_until_ms,
                              const json_t *j_utm);
/* Hands a new hold's session (in Redis already) to the worker and wakes
 * it. */
void calls_dni_new_hold_note(const char *network_id, const char *clinic, const char *number,
                             const char *visitor, int64_t reserved_ms, int64_t held_until_ms,
                             json_t *j_utm);

/* dni_pool_advice.c: the pool size a clinic needs. */
/* Records that `demand` visitors wanted the clinic's numbers at once (the
 * numbers held and the visitors a full pool turned away within a hold)
 * and publishes the decaying peak and the pool size it suggests. */
void calls_dni_note_demand(struct calls_ctx *ctx, const char *clinic, long demand);
/* Publishes every clinic's peak decayed to mono_ms (the worker, each
 * flush interval). */
void calls_dni_publish_peaks(struct calls_ctx *ctx, int64_t mono_ms);

#endif
