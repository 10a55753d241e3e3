/*
 * Unit tests for common/redis.h without a server: URL parsing.
 */
#include <stddef.h>

#include "common/err.h"
#include "common/redis.h"
#include "cftest.h"

struct url_case {
    const char *url;
    int err;
    const char *host;
    int port;
    int db;
};

static const struct url_case cases[] = {
    {"redis://127.0.0.1:6379/0", 0, "127.0.0.1", 6379, 0},
    {"redis://localhost:6380/3", 0, "localhost", 6380, 3},
    {"redis://cache.internal:7000", 0, "cache.internal", 7000, 0},
    {"redis://cache.internal", 0, "cache.internal", 6379, 0},
    {"redis://cache.internal/2", 0, "cache.internal", 6379, 2},
    {"redis://127.0.0.1:6379/", 0, "127.0.0.1", 6379, 0},
    {"redis://[::1]:6379/1", 0, "::1", 6379, 1},
    {"redis://127.0.0.1:0/0", CF_EINVAL, NULL, 0, 0},
    {"redis://127.0.0.1:65536", CF_EINVAL, NULL, 0, 0},
    {"redis://127.0.0.1:port", CF_EINVAL, NULL, 0, 0},
    {"redis://127.0.0.1:", CF_EINVAL, NULL, 0, 0},
    {"redis://127.0.0.1:6379/x", CF_EINVAL, NULL, 0, 0},
    {"redis://127.0.0.1:6379/-1", CF_EINVAL, NULL, 0, 0},
    {"redis://127.0.0.1:6379/0/extra", CF_EINVAL, NULL, 0, 0},
    {"redis://:6379/0", CF_EINVAL, NULL, 0, 0},
    {"redis://user:pw@host:6379", CF_EINVAL, NULL, 0, 0},
    {"redis://[::1", CF_EINVAL, NULL, 0, 0},
    {"rediss://127.0.0.1:6379", CF_EINVAL, NULL, 0, 0},
    {"http://127.0.0.1:6379", CF_EINVAL, NULL, 0, 0},
    {"127.0.0.1:6379", CF_EINVAL, NULL, 0, 0},
    {"", CF_EINVAL, NULL, 0, 0},
    {NULL, CF_EINVAL, NULL, 0, 0},
};

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char host[64] = "";
        int port = -1, db = -1;
        int err = cf_redis_parse_url(cases[i].url, host, sizeof(host), &port, &db);
        if (err != cases[i].err)
            fprintf(stderr, "url %s\n", cases[i].url ? cases[i].url : "(null)");
        CHECK_INT(err, cases[i].err);
        if (err == 0 && cases[i].err == 0) {
            CHECK_STR(host, cases[i].host);
            CHECK_INT(port, cases[i].port);
            CHECK_INT(db, cases[i].db);
        }
    }

    /* A host longer than the buffer is rejected, not truncated. */
    char small[8];
    int port, db;
    CHECK_INT(cf_redis_parse_url("redis://a-long-hostname:1/0", small, sizeof(small), &port, &db),
              CF_EINVAL);
    CHECK_INT(cf_redis_parse_url("redis://short:1/0", small, sizeof(small), &port, &db), 0);
    CHECK_STR(small, "short");
    return cf_test_done();
}
