/*
 * Dashboard sessions: signing in with a read key gives a session id,
 * carried in an HttpOnly, SameSite=Strict cookie, that stands for the key
 * until it expires or the user signs out. Sessions live in Redis under
 * the SHA-256 of their id (a copy of Redis hands out no session), each
 * holding the SHA-256 of its key and its end; Redis expires them. Without
 * Redis nobody can sign in or read with a cookie (503); Bearer keys work.
 */
#ifndef CF_ANALYTICS_SESSION_H
#define CF_ANALYTICS_SESSION_H

#include <stdint.h>

#include "analytics.h"

#define ANALYTICS_SESSION_COOKIE "cf_session"
#define ANALYTICS_SESSION_ID_LEN 64 /* 32 random bytes in hex */

struct an_session {
    uint8_t key_hash[32];
    int64_t expires_s; /* Unix seconds */
};

/* A new session for the key whose SHA-256 is key_hash: its id in sid and
 * its end in *expires_s. 0, or CF_EUNAVAIL when Redis cannot take it. */
int analytics_session_create(struct analytics_ctx *ctx, const uint8_t key_hash[32],
                             char sid[ANALYTICS_SESSION_ID_LEN + 1], int64_t *expires_s);
/* The session sid: 0 with *out; CF_EAUTH when there is none (malformed,
 * unknown, expired); CF_EUNAVAIL when Redis cannot be asked. */
int analytics_session_find(struct analytics_ctx *ctx, const char *sid, struct an_session *out);
/* Ends the session sid (nothing when there is none). 0 or CF_EUNAVAIL. */
int analytics_session_end(struct analytics_ctx *ctx, const char *sid);

#endif
