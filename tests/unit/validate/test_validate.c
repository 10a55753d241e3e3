/*
 * Unit tests for common/validate.h: lengths are counted in characters, as
 * JSON Schema's maxLength counts them, not in bytes, and a cut keeps
 * whole characters.
 */
#include <string.h>

#include <jansson.h>

#include "common/validate.h"
#include "cftest.h"

/* "Имплантация" (11 Cyrillic letters, 2 bytes each), "€" (3 bytes),
 * "😀" (4 bytes). */
#define IMPLANT                                                                                    \
    "\xd0\x98\xd0\xbc\xd0\xbf\xd0\xbb\xd0\xb0\xd0\xbd\xd1\x82\xd0\xb0\xd1\x86\xd0\xb8\xd1\x8f"
#define EURO "\xe2\x82\xac"
#define SMILE "\xf0\x9f\x98\x80"

static void test_counts_characters(void)
{
    CHECK_INT(cf_validate_utf8_chars("", 0), 0);
    CHECK_INT(cf_validate_utf8_chars("abc", 3), 3);
    CHECK_INT(cf_validate_utf8_chars(IMPLANT, strlen(IMPLANT)), 11);
    CHECK_INT(strlen(IMPLANT), 22);
    CHECK_INT(cf_validate_utf8_chars("a" EURO SMILE, strlen("a" EURO SMILE)), 3);
}

static void test_prefix_keeps_whole_characters(void)
{
    const char *s = "a" EURO SMILE "b";
    const size_t len = strlen(s);
    CHECK_INT(cf_validate_utf8_prefix(s, len, 0), 0);
    CHECK_INT(cf_validate_utf8_prefix(s, len, 1), 1);
    CHECK_INT(cf_validate_utf8_prefix(s, len, 2), 4);
    CHECK_INT(cf_validate_utf8_prefix(s, len, 3), 8);
    CHECK_INT(cf_validate_utf8_prefix(s, len, 4), len);
    CHECK_INT(cf_validate_utf8_prefix(s, len, 100), len);
}

static void test_cut_string(void)
{
    json_t *j = json_pack("{s:s, s:s, s:i}", "long", IMPLANT, "short", "ab", "n", 5);
    CHECK_INT(cf_validate_cut_string(j, "long", 4), 1);
    CHECK_STR(json_string_value(json_object_get(j, "long")), "\xd0\x98\xd0\xbc\xd0\xbf\xd0\xbb");
    CHECK_INT(cf_validate_cut_string(j, "short", 2), 0);
    CHECK_STR(json_string_value(json_object_get(j, "short")), "ab");
    CHECK_INT(cf_validate_cut_string(j, "n", 1), 0); /* not a string: left */
    CHECK_INT(cf_validate_cut_string(j, "absent", 1), 0);
    CHECK_INT(json_integer_value(json_object_get(j, "n")), 5);
    json_decref(j);
}

static void test_max_length_in_characters(void)
{
    static const struct cf_field fields[] = {
        {"comment", CF_FIELD_STRING, 1, 1, 11, 0, 0, NULL},
    };
    char field[64] = "", errbuf[128] = "";
    /* 11 characters in 22 bytes: within a limit of 11. */
    json_t *j = json_pack("{s:s}", "comment", IMPLANT);
    CHECK_INT(cf_validate_object(j, fields, 1, field, sizeof(field), errbuf, sizeof(errbuf)), 0);
    json_decref(j);
    /* 12 characters: one too many. */
    j = json_pack("{s:s}", "comment", IMPLANT "a");
    CHECK(cf_validate_object(j, fields, 1, field, sizeof(field), errbuf, sizeof(errbuf)) != 0);
    CHECK_STR(field, "comment");
    json_decref(j);
}

/* The valid prefix of bytes cut anywhere, or not UTF-8 at all; each
 * prefix it keeps is one Jansson takes. */
static void test_valid_prefix(void)
{
    static const struct {
        const char *s;
        size_t len, want;
    } cases[] = {
        {"abc", 3, 3},
        {"\xd0\x9f\xd1\x80\xd0\xb8", 6, 6}, /* "При" */
        {"\xd0\x9f\xd1\x80\xd0", 5, 4},     /* cut inside the third letter */
        {"ab\xe2\x82", 4, 2},               /* cut inside the euro sign */
        {"ab\xe2\x82\xac", 5, 5},
        {"\xf0\x9f\x98\x80!", 5, 5}, /* U+1F600 */
        {"a\xc0\xaf"
         "b",
         4, 1},                      /* overlong '/' */
        {"a\xed\xa0\x80", 4, 1},     /* a surrogate */
        {"a\xf4\x90\x80\x80", 5, 1}, /* past U+10FFFF */
        {"a\xff"
         "b",
         3, 1},
        {"a\x80", 2, 1}, /* a continuation with no lead */
        {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const size_t got = cf_validate_utf8_valid_prefix(cases[i].s, cases[i].len);
        CHECK_INT((long)got, (long)cases[i].want);
        json_t *j = json_stringn(cases[i].s, got);
        CHECK(j != NULL);
        json_decref(j);
    }
}

/* Numbers (integer or real) within bounds, arrays by their item count,
 * objects by their type alone: the caller checks what is inside. */
static void test_numbers_arrays_objects(void)
{
    static const struct cf_field fields[] = {
        {"amount", CF_FIELD_NUMBER, 0, 0, 0, 0, 1000000, NULL},
        {"phones", CF_FIELD_ARRAY, 0, 0, 2, 0, 0, NULL},
        {"plan", CF_FIELD_OBJECT, 0, 0, 0, 0, 0, NULL},
    };
    const size_t n = sizeof(fields) / sizeof(fields[0]);
    char field[64] = "", errbuf[128] = "";
    static const struct {
        const char *json, *field; /* field "" when it passes */
    } cases[] = {
        {"{\"amount\": 1500}", ""},
        {"{\"amount\": 1500.50}", ""},
        {"{\"amount\": 0}", ""},
        {"{\"amount\": -0.01}", "amount"},
        {"{\"amount\": 1000000.5}", "amount"},
        {"{\"amount\": \"1500\"}", "amount"},
        {"{\"phones\": []}", ""},
        {"{\"phones\": [\"a\", \"b\"]}", ""},
        {"{\"phones\": [\"a\", \"b\", \"c\"]}", "phones"},
        {"{\"phones\": \"a\"}", "phones"},
        {"{\"plan\": {}}", ""},
        {"{\"plan\": []}", "plan"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = json_loads(cases[i].json, 0, NULL);
        CHECK(j != NULL);
        field[0] = '\0';
        const int rc =
            cf_validate_object(j, fields, n, field, sizeof(field), errbuf, sizeof(errbuf));
        CHECK_INT(rc != 0, cases[i].field[0] != '\0');
        CHECK_STR(field, cases[i].field);
        json_decref(j);
    }
}

static void test_currency(void)
{
    CHECK_INT(cf_validate_currency("RUB"), 1);
    CHECK_INT(cf_validate_currency("KZT"), 1);
    CHECK_INT(cf_validate_currency("rub"), 0);
    CHECK_INT(cf_validate_currency("RU"), 0);
    CHECK_INT(cf_validate_currency("RUBL"), 0);
    CHECK_INT(cf_validate_currency("R1B"), 0);
    CHECK_INT(cf_validate_currency(""), 0);
    CHECK_INT(cf_validate_currency(NULL), 0);
}

int main(void)
{
    test_currency();
    test_counts_characters();
    test_prefix_keeps_whole_characters();
    test_cut_string();
    test_max_length_in_characters();
    test_valid_prefix();
    test_numbers_arrays_objects();
    return cf_test_done();
}
