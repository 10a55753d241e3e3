/*
 * Redis as a cache and coordinator, never the record. Every command has a
 * timeout; when Redis is down, commands fail fast (NULL) for a back-off
 * period instead of blocking each caller, and callers degrade.
 * Thread-safe: a small set of contexts behind a mutex.
 */
#ifndef CF_COMMON_REDIS_H
#define CF_COMMON_REDIS_H

#include <hiredis/hiredis.h>

struct cf_redis;

/* url: redis://host:port[/db]. Connects lazily; never fails (a bad URL is
 * rejected by config validation before). */
struct cf_redis *cf_redis_new(const char *url, long timeout_ms);
/* One command (hiredis format; pass binary data with %b and a length).
 * Returns a reply (freeReplyObject it) or NULL when Redis is unreachable,
 * timed out or answered an error reply (logged, rate-limited). */
redisReply *cf_redis_command(struct cf_redis *r, const char *fmt, ...);
/* The same with the arguments as an array (argvlen NULL: NUL-terminated),
 * for commands whose argument count varies (EVAL). */
redisReply *cf_redis_command_argv(struct cf_redis *r, int argc, const char **argv,
                                  const size_t *argvlen);
/* 0 if PING answers PONG now. */
int cf_redis_ping(struct cf_redis *r);
void cf_redis_destroy(struct cf_redis *r);

/* Parses redis://host:port[/db]; 0 or CF_EINVAL. host has hostlen bytes. */
int cf_redis_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db);

#endif
