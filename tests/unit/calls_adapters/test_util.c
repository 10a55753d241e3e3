/*
 * The helpers every adapter shares (adapters_util.c) over common/time.h
 * and common/form.h: PBX local times in a channel's zone, the decoded
 * query and form, and the URL token.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters.h"
#include "cftest.h"
#include "common/err.h"

static void test_local_time(void)
{
    int64_t ms = 0;
    char date[11];

    CHECK_INT(calls_local_time("2026-12-03 10:00:00", "Europe/Moscow", &ms), 0);
    CHECK_INT(ms, cf_test_utc_ms(2026, 12, 3, 7, 0, 0));
    CHECK_INT(calls_local_time("2026-12-03T10:00:00", "Asia/Almaty", &ms), 0);
    CHECK_INT(ms, cf_test_utc_ms(2026, 12, 3, 5, 0, 0));
    /* a PBX in New York: the hour the clocks skip, and the one they repeat */
    CHECK_INT(calls_local_time("2026-03-08 02:30:00", "America/New_York", &ms), 0);
    CHECK_INT(ms, cf_test_utc_ms(2026, 3, 8, 7, 30, 0));
    CHECK_INT(calls_local_time("2026-11-01 01:30:00", "America/New_York", &ms), 0);
    CHECK_INT(ms, cf_test_utc_ms(2026, 11, 1, 5, 30, 0));
    /* a date that does not exist is malformed, not the 2nd of March */
    CHECK_INT(calls_local_time("2026-02-30 10:00:00", "Europe/Moscow", &ms), CF_EINVAL);
    CHECK_INT(calls_local_time("2026-12-03 10:00:00", "Europe/Nowhere", &ms), CF_EINVAL);
    CHECK_INT(calls_local_time("2026-12-03 10:00:00", "../../etc/passwd", &ms), CF_EINVAL);
    CHECK_INT(calls_local_time("2026-12-03 10:00:00", NULL, &ms), CF_EINVAL);

    CHECK_INT(calls_local_date(cf_test_utc_ms(2026, 12, 3, 21, 30, 0), "Europe/Moscow", date), 0);
    CHECK_STR(date, "2026-12-04");
    CHECK_INT(calls_local_date(cf_test_utc_ms(2026, 12, 3, 21, 30, 0), "America/New_York", date),
              0);
    CHECK_STR(date, "2026-12-03");
    CHECK_INT(calls_local_date(0, "Nowhere", date), CF_EINVAL);
}

static void test_urlencoded(void)
{
    json_t *j_obj = json_object();
    const char ok[] = "a=1&a=2&b=%D0%9C&c+d=x+y&=skipped";
    CHECK_INT(cf_hook_parse_urlencoded(ok, strlen(ok), j_obj, NULL), 0);
    CHECK_STR(json_string_value(json_object_get(j_obj, "a")), "1");
    CHECK_STR(json_string_value(json_object_get(j_obj, "b")), "\xD0\x9C");
    CHECK_STR(json_string_value(json_object_get(j_obj, "c d")), "x y");
    CHECK_INT(json_object_size(j_obj), 3);
    json_decref(j_obj);

    /* a value that is not UTF-8 is an error naming it, the rest taken */
    j_obj = json_object();
    char *invalid = NULL;
    CHECK_INT(cf_hook_parse_urlencoded("a=1&n=%FF", 9, j_obj, &invalid), CF_EINVAL);
    CHECK_STR(invalid ? invalid : "", "n");
    CHECK_INT(json_object_size(j_obj), 1);
    free(invalid);
    json_decref(j_obj);

    /* a bad escape is an error, and nothing is taken */
    j_obj = json_object();
    CHECK_INT(cf_hook_parse_urlencoded("a=1&b=%zz", 9, j_obj, NULL), CF_EINVAL);
    CHECK_INT(json_object_size(j_obj), 0);
    json_decref(j_obj);

    /* more fields than the cap: refused before decoding */
    size_t n = (CF_HOOK_FORM_FIELDS_MAX + 1) * 4;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < CF_HOOK_FORM_FIELDS_MAX + 1; i++)
        memcpy(big + 4 * i, "a=1&", 4);
    j_obj = json_object();
    CHECK_INT(cf_hook_parse_urlencoded(big, n, j_obj, NULL), CF_ETOOBIG);
    CHECK_INT(cf_hook_parse_urlencoded(big, n - 4, j_obj, NULL), 0);
    json_decref(j_obj);
    free(big);
}

static void test_url_token(void)
{
    json_t *j_channel = json_pack("{s{ss}}", "credentials", "url_token", "t0ken");
    json_t *j_query = json_pack("{ss}", "token", "t0ken");
    struct cf_hook h = {.query = j_query, .channel = j_channel};
    char errbuf[64];

    CHECK_INT(cf_hook_verify_url_token(&h, errbuf, sizeof(errbuf)), 0);
    json_object_set_new(j_query, "token", json_string("t0ke"));
    CHECK_INT(cf_hook_verify_url_token(&h, errbuf, sizeof(errbuf)), CF_EAUTH);
    json_object_del(j_query, "token");
    CHECK_INT(cf_hook_verify_url_token(&h, errbuf, sizeof(errbuf)), CF_EAUTH);
    CHECK_STR(errbuf, "missing URL token");
    json_decref(j_channel);
    json_decref(j_query);
}

int main(void)
{
    test_local_time();
    test_urlencoded();
    test_url_token();
    return cf_test_done();
}
