/*
 * Unit tests for common/log.h. stderr is redirected into a temporary file
 * with dup2 while lines are logged, then every captured line is parsed as
 * JSON and its members checked: fields, escaping, level filtering and the
 * thread-local request id.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/envelope.h"
#include "common/log.h"
#include "cftest.h"

/* The n-th line of text parsed as a JSON object, or NULL. */
static json_t *line_json(const char *text, int n)
{
    const char *p = text;
    for (int i = 0; i < n && p; i++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p || !*p)
        return NULL;
    const char *end = strchr(p, '\n');
    if (!end)
        return NULL;
    json_error_t err;
    json_t *j = json_loadb(p, (size_t)(end - p), JSON_REJECT_DUPLICATES, &err);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

static const char *member(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static void test_fields(void)
{
    cf_log_init("calls", CF_LOG_INFO);
    capture_begin();
    cf_info("started on port %d", 8081);
    char *text = capture_end();

    CHECK_INT(count_lines(text), 1);
    json_t *j = line_json(text, 0);
    CHECK(j != NULL);
    if (j) {
        CHECK_STR(member(j, "level"), "info");
        CHECK_STR(member(j, "service"), "calls");
        CHECK_STR(member(j, "msg"), "started on port 8081");
        CHECK(json_object_get(j, "request_id") == NULL);
        const char *t = member(j, "time");
        int64_t ms = 0;
        CHECK(t != NULL && strlen(t) == 24 && t[23] == 'Z' && t[19] == '.');
        CHECK_INT(cf_time_parse(t, &ms), 0);
        int64_t now = cf_time_now_ms();
        CHECK(ms <= now && now - ms < 60000);
        CHECK_INT(json_object_size(j), 4);
    }
    json_decref(j);
    free(text);
}

static void test_escaping(void)
{
    static const struct {
        const char *msg;      /* what is logged */
        const char *expected; /* what the parsed line's msg holds */
    } cases[] = {
        {"quote \" backslash \\ slash /", "quote \" backslash \\ slash /"},
        {"two\nlines\r\tand tab", "two\nlines\r\tand tab"},
        {"bell \a esc \x1b del \x7f", "bell \a esc \x1b del \x7f"},
        {"utf-8 \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xe2\x82\xac \xf0\x9f\x93\x9e",
         "utf-8 \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xe2\x82\xac \xf0\x9f\x93\x9e"},
        {"broken \xff\xfe and \xd0", "broken \xef\xbf\xbd\xef\xbf\xbd and \xef\xbf\xbd"},
        {"overlong \xc0\xaf surrogate \xed\xa0\x80",
         "overlong \xef\xbf\xbd\xef\xbf\xbd surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    };
    cf_log_init("say \"hi\"", CF_LOG_DEBUG);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        capture_begin();
        cf_warn("%s", cases[i].msg);
        char *text = capture_end();
        CHECK_INT(count_lines(text), 1);
        json_t *j = line_json(text, 0);
        CHECK(j != NULL);
        CHECK_STR(member(j, "msg"), cases[i].expected);
        CHECK_STR(member(j, "service"), "say \"hi\"");
        CHECK_STR(member(j, "level"), "warn");
        json_decref(j);
        free(text);
    }

    /* A message longer than any fixed buffer arrives whole. */
    size_t big_len = 10000;
    char *big = malloc(big_len + 1);
    memset(big, 'a', big_len);
    big[big_len] = '\0';
    capture_begin();
    cf_error("%s", big);
    char *text = capture_end();
    json_t *j = line_json(text, 0);
    CHECK_STR(member(j, "msg"), big);
    CHECK_STR(member(j, "level"), "error");
    json_decref(j);
    free(text);
    free(big);
}

static void test_levels(void)
{
    static const struct {
        const char *text;
        int rc;
        enum cf_log_level level;
    } cases[] = {
        {"debug", 0, CF_LOG_DEBUG}, {"info", 0, CF_LOG_INFO},   {"warn", 0, CF_LOG_WARN},
        {"error", 0, CF_LOG_ERROR}, {"INFO", 0, CF_LOG_INFO},   {"warning", -1, CF_LOG_INFO},
        {"", -1, CF_LOG_INFO},      {"trace", -1, CF_LOG_INFO}, {NULL, -1, CF_LOG_INFO},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum cf_log_level level = CF_LOG_INFO;
        CHECK_INT(cf_log_level_parse(cases[i].text, &level), cases[i].rc);
        CHECK_INT(level, cases[i].level);
    }

    cf_log_init("calls", CF_LOG_WARN);
    capture_begin();
    cf_debug("hidden debug");
    cf_info("hidden info");
    cf_warn("shown warn");
    cf_error("shown error");
    char *text = capture_end();
    CHECK_INT(count_lines(text), 2);
    CHECK(strstr(text, "hidden") == NULL);
    json_t *j = line_json(text, 1);
    CHECK_STR(member(j, "msg"), "shown error");
    json_decref(j);
    free(text);
}

static void *thread_main(void *arg)
{
    (void)arg;
    cf_log_set_request_id("req-thread-2");
    cf_info("from the thread");
    return NULL;
}

static void test_request_id(void)
{
    cf_log_init("calls", CF_LOG_INFO);
    capture_begin();
    cf_log_set_request_id("0b6c8f0e-6b8a-4d0e-9c53-3f4a6f0a8b1c");
    cf_info("with id");
    pthread_t th;
    pthread_create(&th, NULL, thread_main, NULL);
    pthread_join(th, NULL);
    cf_log_set_request_id(NULL);
    cf_info("without id");
    char *text = capture_end();

    CHECK_INT(count_lines(text), 3);
    json_t *j0 = line_json(text, 0), *j1 = line_json(text, 1), *j2 = line_json(text, 2);
    CHECK_STR(member(j0, "request_id"), "0b6c8f0e-6b8a-4d0e-9c53-3f4a6f0a8b1c");
    CHECK_INT(json_object_size(j0), 5);
    CHECK_STR(member(j1, "request_id"), "req-thread-2");
    CHECK_STR(member(j1, "msg"), "from the thread");
    CHECK(j2 != NULL && json_object_get(j2, "request_id") == NULL);
    json_decref(j0);
    json_decref(j1);
    json_decref(j2);
    free(text);
}

static void test_strerror(void)
{
    CHECK_STR(cf_strerror(ENOENT), "No such file or directory");
    CHECK_STR(cf_strerror(ECONNREFUSED), "Connection refused");
    CHECK(strlen(cf_strerror(99999)) > 0);
    errno = EAGAIN;
    cf_log_init("calls", CF_LOG_ERROR);
    cf_info("suppressed, must not touch errno");
    CHECK_INT(errno, EAGAIN);
}

int main(void)
{
    test_fields();
    test_escaping();
    test_levels();
    test_request_id();
    test_strerror();
    return cf_test_done();
}
