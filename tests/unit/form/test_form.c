/*
 * The urlencoded decoder and the URL-token check: a table of inputs and the
 * fields they decode to, in order, with repeated names kept; and the
 * webhook routes' form into JSON, which refuses a value that is no text.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cftest.h"
#include "common/err.h"
#include "common/form.h"
#include "common/hook.h"

struct parse_case {
    const char *in;
    size_t max_fields;
    int rc;
    const char *want[8]; /* name, value, name, value, ... NULL */
};

static const struct parse_case parse_cases[] = {
    {"", 10, 0, {NULL}},
    {"&&", 10, 0, {NULL}},
    {"a=1&b=2", 10, 0, {"a", "1", "b", "2", NULL}},
    /* Twilio signs every value of a repeated name: all are kept, in order */
    {"To=%2B1&From=x&To=%2B2", 10, 0, {"To", "+1", "From", "x", "To", "+2", NULL}},
    {"a+b=c+d%20e", 10, 0, {"a b", "c d e", NULL}},
    {"flag&x=", 10, 0, {"flag", "", "x", "", NULL}},
    {"=v&&k=a=b", 10, 0, {"", "v", "k", "a=b", NULL}},
    {"n=%D0%9C%d0%B8", 10, 0, {"n", "\xD0\x9C\xD0\xB8", NULL}},
    {"a=%", 10, CF_EINVAL, {NULL}},
    {"a=%4", 10, CF_EINVAL, {NULL}},
    {"a=%zz", 10, CF_EINVAL, {NULL}},
    {"ok=1&%G1=2", 10, CF_EINVAL, {NULL}},
    {"a=1&b=2&c=3", 3, 0, {"a", "1", "b", "2", "c", "3", NULL}},
    {"a=1&b=2&c=3&d=4", 3, CF_ETOOBIG, {NULL}},
    {"a=1&&&&b=2&", 2, 0, {"a", "1", "b", "2", NULL}},
};

static void test_parse(void)
{
    for (size_t c = 0; c < sizeof(parse_cases) / sizeof(parse_cases[0]); c++) {
        const struct parse_case *pc = &parse_cases[c];
        struct cf_form form;
        char errbuf[128] = "";
        int rc =
            cf_form_parse(pc->in, strlen(pc->in), pc->max_fields, &form, errbuf, sizeof(errbuf));
        if (rc != pc->rc)
            fprintf(stderr, "case %zu (%s): rc %d\n", c, pc->in, rc);
        CHECK_INT(rc, pc->rc);
        if (rc != 0) {
            CHECK(errbuf[0] != '\0');
            CHECK(form.n == 0 && form.fields == NULL);
            continue;
        }
        size_t n = 0;
        while (pc->want[2 * n])
            n++;
        CHECK_INT(form.n, n);
        for (size_t i = 0; i < n && i < form.n; i++) {
            CHECK_STR(form.fields[i].name, pc->want[2 * i]);
            CHECK_STR(form.fields[i].value, pc->want[2 * i + 1]);
        }
        cf_form_free(&form);
    }
}

static void test_bytes(void)
{
    /* %00 is a byte like any other: the length says where the value ends,
     * and only the given n bytes are read (no NUL terminator needed) */
    const char in[] = "k=a%00b&z=9";
    struct cf_form form;
    CHECK_INT(cf_form_parse(in, 7, 10, &form, NULL, 0), 0);
    CHECK_INT(form.n, 1);
    CHECK_INT(form.fields[0].value_len, 3);
    CHECK(memcmp(form.fields[0].value, "a\0b", 4) == 0);
    CHECK_STR(cf_form_get(&form, "k"), "a");
    CHECK(cf_form_get(&form, "z") == NULL);
    cf_form_free(&form);
    cf_form_free(&form); /* an emptied form frees again harmlessly */

    char *out = NULL;
    size_t len = 0;
    CHECK_INT(cf_form_decode("%41%42+", 7, &out, &len), 0);
    CHECK_STR(out, "AB ");
    CHECK_INT(len, 3);
    free(out);
    /* the escape's digits must be inside n, even when the string goes on */
    CHECK_INT(cf_form_decode("x%41", 3, &out, &len), CF_EINVAL);
    CHECK(out == NULL);
}

static void test_get_first(void)
{
    struct cf_form form;
    CHECK_INT(cf_form_parse("a=1&a=2", 7, 10, &form, NULL, 0), 0);
    CHECK_STR(cf_form_get(&form, "a"), "1");
    cf_form_free(&form);
}

static void test_token(void)
{
    char errbuf[64];
    CHECK_INT(cf_form_check_token("s3cret", "s3cret", errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_form_check_token("s3cret", "s3cre", errbuf, sizeof(errbuf)), CF_EAUTH);
    CHECK_STR(errbuf, "wrong URL token");
    CHECK_INT(cf_form_check_token("s3cret", "s3cres", errbuf, sizeof(errbuf)), CF_EAUTH);
    CHECK_INT(cf_form_check_token("s3cret", NULL, errbuf, sizeof(errbuf)), CF_EAUTH);
    CHECK_STR(errbuf, "missing URL token");
    /* a channel without a token accepts nothing, not even an empty one */
    CHECK_INT(cf_form_check_token("", "", errbuf, sizeof(errbuf)), CF_EAUTH);
    CHECK_INT(cf_form_check_token(NULL, "x", errbuf, sizeof(errbuf)), CF_EAUTH);
    CHECK_STR(errbuf, "the channel has no url_token credential");
}

/* A value in another charset (a windows-1251 page) or with a NUL byte
 * would be read as missing or cut short: the call says so and names the
 * field, and keeps the others (for the token check). */
static void test_hook_values(void)
{
    static const struct {
        const char *in;
        const char *invalid; /* NULL: accepted */
        size_t kept;
    } cases[] = {
        {"name=%D0%98%D0%B2%D0%B0%D0%BD&phone=%2B79001234567", NULL, 2},
        {"name=%C8%E2%E0%ED&phone=%2B79001234567", "name", 1},
        {"phone=%2B79001234567&website=%FF", "website", 1},
        {"name=Ivan%00x&phone=1", "name", 1},
        {"name=%00", "name", 0},
        /* a letter cut in half, an overlong '/', a surrogate */
        {"a=%D0&b=1", "a", 1},
        {"a=%C0%AF", "a", 0},
        {"a=%ED%A0%80", "a", 0},
        /* the first of two is named; a name that is no text is dropped */
        {"a=%FF&b=%FE&c=1", "a", 1},
        {"%FF=1&x%00=2&c=3", NULL, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j_obj = json_object();
        char *invalid = (char *)"unset";
        int rc = cf_hook_parse_urlencoded(cases[i].in, strlen(cases[i].in), j_obj, &invalid);
        CHECK_INT(rc, cases[i].invalid ? CF_EINVAL : 0);
        if (cases[i].invalid)
            CHECK_STR(invalid ? invalid : "(null)", cases[i].invalid);
        else
            CHECK(invalid == NULL);
        CHECK_INT((int)json_object_size(j_obj), (int)cases[i].kept);
        free(invalid);
        json_decref(j_obj);
    }
    /* a malformed escape names no field, and takes nothing */
    json_t *j_obj = json_object();
    char *invalid = NULL;
    CHECK_INT(cf_hook_parse_urlencoded("a=%FF&b=%zz", 11, j_obj, &invalid), CF_EINVAL);
    CHECK(invalid == NULL);
    CHECK_INT((int)json_object_size(j_obj), 0);
    /* nobody asking for the name: the same answer */
    CHECK_INT(cf_hook_parse_urlencoded("a=%FF", 5, j_obj, NULL), CF_EINVAL);
    json_decref(j_obj);
}

int main(void)
{
    test_parse();
    test_hook_values();
    test_bytes();
    test_get_first();
    test_token();
    return cf_test_done();
}
