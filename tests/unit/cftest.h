/*
 * A minimal unit-test harness: CHECK records a failure with its location
 * and goes on; cf_test_done() prints "N passed, N failed" and returns the
 * exit status.
 */
#ifndef CF_TESTS_CFTEST_H
#define CF_TESTS_CFTEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Unix milliseconds of a UTC calendar time. */
__attribute__((unused)) static int64_t cf_test_utc_ms(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000;
}

/* A server's address the test runner gives (CLINICFLOW_TEST_PG_DSN,
 * CLINICFLOW_TEST_REDIS_URL); run alone without it, the test says so and
 * fails. */
__attribute__((unused)) static const char *cf_test_server(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set: run this through ./tests/run\n", name);
        exit(1);
    }
    return v;
}

static int cf_test_passed;
static int cf_test_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            cf_test_passed++;                                                                      \
        } else {                                                                                   \
            cf_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *cf_a_ = (a), *cf_b_ = (b);                                                     \
        if (cf_a_ && cf_b_ && strcmp(cf_a_, cf_b_) == 0) {                                         \
            cf_test_passed++;                                                                      \
        } else {                                                                                   \
            cf_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: '%s' != '%s' (%s vs %s)\n", __FILE__, __LINE__,                \
                    cf_a_ ? cf_a_ : "(null)", cf_b_ ? cf_b_ : "(null)", #a, #b);                   \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long cf_a_ = (long long)(a), cf_b_ = (long long)(b);                                  \
        if (cf_a_ == cf_b_) {                                                                      \
            cf_test_passed++;                                                                      \
        } else {                                                                                   \
            cf_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: %lld != %lld (%s vs %s)\n", __FILE__, __LINE__, cf_a_, cf_b_,  \
                    #a, #b);                                                                       \
        }                                                                                          \
    } while (0)

static inline int cf_test_done(void)
{
    printf("%d passed, %d failed\n", cf_test_passed, cf_test_failed);
    return cf_test_failed ? 1 : 0;
}

/* Captures what the code under test writes on stderr (the log). Unused
 * in some tests, hence the attribute. */
static FILE *capture_file;
static int saved_stderr = -1;

__attribute__((unused)) static void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(capture_file), STDERR_FILENO);
}

/* Restores stderr; returns what was written meanwhile (free() it). */
__attribute__((unused)) static char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    long size = ftell(capture_file);
    if (size < 0)
        size = 0;
    char *text = calloc(1, (size_t)size + 1);
    rewind(capture_file);
    size_t got = fread(text, 1, (size_t)size, capture_file);
    text[got] = '\0';
    fclose(capture_file);
    return text;
}

#endif
