/*
 * common/json_text.h against jansson itself, the library it stands in
 * for: on fixed documents (each rule of the grammar and each of jansson's
 * limits, valid and not) and on generated ones (random trees written
 * with random white space, then mutated byte by byte), cf_json_loadb
 * must accept exactly what json_loadb accepts with the same flags and
 * build an equal tree with its members in the same order, and
 * cf_json_dumps must write exactly json_dumps(JSON_COMPACT)'s text.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_text.h"
#include "common/strbuf.h"
#include "cftest.h"

static int same_tree(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    char *ta = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    char *tb = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    const int same = json_equal(a, b) && ta && tb && strcmp(ta, tb) == 0;
    free(ta);
    free(tb);
    return same;
}

/* 1 when j holds a real anywhere. */
static int has_real(const json_t *j)
{
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_real(j))
        return 1;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v) if (has_real(v)) return 1;
    }
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v) if (has_real(v)) return 1;
    }
    return 0;
}

static int mismatches;

/* Parses text both ways with flags: 1 when they agree (both reject, or
 * both accept with the same tree, which cf_json_dumps writes as jansson
 * does, reals aside: those it writes shorter, as the same doubles). */
static int agree(const char *text, size_t len, size_t flags)
{
    json_error_t ej, ec;
    json_t *j = json_loadb(text, len, flags, &ej);
    json_t *c = cf_json_loadb(text, len, flags, &ec);
    /* jansson's one slip: a NUL byte right after a number or a literal
     * is skipped (its reader takes a NUL for an empty look-ahead), so
     * "[1\0]" passes there; here it is rejected like any other NUL */
    int slip = 0;
    for (size_t i = 1; i < len; i++)
        slip |= text[i] == '\0' && ((text[i - 1] >= '0' && text[i - 1] <= '9') ||
                                    (text[i - 1] >= 'a' && text[i - 1] <= 'z'));
    if (slip) {
        json_decref(j);
        j = NULL;
    }
    int ok = same_tree(j, c);
    if (ok && j) {
        /* written as jansson writes it, but for reals, which are written
         * shorter (the same doubles: read back, the trees are the same) */
        char *dj = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        char *dc = cf_json_dumps(c);
        json_t *rc = dc ? json_loads(dc, JSON_DECODE_ANY, NULL) : NULL;
        ok = dj && dc && (strcmp(dj, dc) == 0 || (has_real(j) && same_tree(j, rc)));
        json_decref(rc);
        free(dj);
        free(dc);
    }
    if (ok && !j)
        ok = ec.text[0] != '\0' && ec.position >= 0 && (size_t)ec.position <= len;
    if (!ok && mismatches++ < 10) {
        fprintf(stderr, "disagree (flags %zu, jansson %s, ours %s: %s): '", flags,
                j ? "accepts" : "rejects", c ? "accepts" : "rejects", c ? "" : ec.text);
        for (size_t i = 0; i < len && i < 300; i++)
            fprintf(stderr,
                    (unsigned char)text[i] < 0x20 || (unsigned char)text[i] >= 0x7f ? "\\x%02x"
                                                                                    : "%c",
                    (unsigned char)text[i]);
        fprintf(stderr, "'\n");
    }
    json_decref(j);
    json_decref(c);
    return ok;
}

static void test_fixed(void)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        " { } ",
        "\t[\n]\r\n",
        "{\"a\":1}",
        "[1,2,3]",
        "[-0]",
        "[0]",
        "[-1]",
        "[9223372036854775807]",
        "[-9223372036854775808]",
        "[9223372036854775808]",
        "[-9223372036854775809]",
        "[1.5]",
        "[-1.5e10]",
        "[1E5]",
        "[1e+5]",
        "[1e-5]",
        "[0.0]",
        "[1e400]",
        "[-1e400]",
        "[1e-400]",
        "[01]",
        "[-01]",
        "[1.]",
        "[.5]",
        "[+1]",
        "[-]",
        "[1e]",
        "[1e+]",
        "[--1]",
        "[0x10]",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,}",
        "{1:2}",
        "{'a':1}",
        "{\"a\":1 \"b\":2}",
        "[true,false,null]",
        "[True]",
        "[nul]",
        "[nullx]",
        "[truefalse]",
        "[true1]",
        "[\"\"]",
        "[\"a\\\"b\"]",
        "[\"\\\\\\/\\b\\f\\n\\r\\t\"]",
        "[\"\\u0041\\u00e9\\u20AC\"]",
        "[\"\\ud83d\\ude00\"]",
        "[\"\\ud83d\"]",
        "[\"\\ude00\"]",
        "[\"\\ud83d\\u0041\"]",
        "[\"\\ud83dx\"]",
        "[\"\\u0000\"]",
        "{\"\\u0000\":1}",
        "{\"a\\u0000b\":1}",
        "[\"\\u12\"]",
        "[\"\\u12G4\"]",
        "[\"\\x\"]",
        "[\"\\'\"]",
        "[\"a\nb\"]",
        "[\"a\tb\"]",
        "[\"\x01\"]",
        "[\"\x7f\"]",
        "[\"\xc3\xa9\"]",
        "[\"\xe2\x82\xac\"]",
        "[\"\xf0\x9f\x98\x80\"]",
        "[\"\xc3\"]",
        "[\"\xc0\xaf\"]",
        "[\"\xe0\x80\xaf\"]",
        "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]",
        "[\"\xff\"]",
        "[\"\x80\"]",
        "\xef\xbb\xbf{}",
        "[\"unterminated",
        "[1",
        "{\"a\":1",
        "{\"a\":{\"b\":[1,{\"c\":null}]}}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"b\":2,\"a\":3}",
        "[] x",
        "[]]",
        "{}{}",
        "",
        " ",
        "1",
        "\"s\"",
        "null",
        "true",
        "-5",
        "2.5",
        "[\"\xc3\xa9\\u00e9\"]",
        "{\"\\u00e9\":\"\\n\",\"k\":\"v\\\"\"}",
        "{\"\":\"\"}",
        "[1.7976931348623157e308]",
        "[4.9e-324]",
        "[123456789012345678901234567890]",
        "[1e-7]",
        "[100000000000000000000.5]",
    };
    static const size_t flag_sets[] = {0, JSON_REJECT_DUPLICATES, JSON_DECODE_ANY,
                                       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        for (size_t f = 0; f < 4; f++)
            CHECK(agree(docs[i], strlen(docs[i]), flag_sets[f]));

    /* a NUL byte in the buffer, inside a string and outside */
    CHECK(agree("[\"a\0b\"]", 7, 0));
    CHECK(agree("[1,\0 2]", 7, 0));
    json_error_t e;
    CHECK(cf_json_loadb("[1\0]", 4, 0, &e) == NULL);
    CHECK(cf_json_loadb("[null\0]", 7, 0, &e) == NULL);
    /* a buffer not NUL-terminated: only len bytes are read */
    CHECK(agree("[1,2]]]]", 5, 0));
    CHECK(agree("{\"a\":\"b\"}xyz", 9, 0));
}

static void nested(int depth, int scalar_inside)
{
    struct cf_strbuf b = {0};
    for (int i = 0; i < depth; i++)
        cf_strbuf_add(&b, "[");
    if (scalar_inside)
        cf_strbuf_add(&b, "1");
    for (int i = 0; i < depth; i++)
        cf_strbuf_add(&b, "]");
    CHECK(agree(b.p, b.len, 0));
    free(b.p);
}

/* jansson's depth limit (2048 values deep), exactly at it and past it */
static void test_depth(void)
{
    nested(2047, 1);
    nested(2048, 0);
    nested(2048, 1);
    nested(2049, 0);
    nested(5000, 0);
    json_error_t e;
    struct cf_strbuf b = {0};
    for (int i = 0; i < 2049; i++)
        cf_strbuf_add(&b, "[");
    CHECK(cf_json_loadb(b.p, b.len, 0, &e) == NULL);
    CHECK(json_error_code(&e) == json_error_stack_overflow);
    free(b.p);
}

/* ---- generated documents ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void add_space(struct cf_strbuf *b)
{
    static const char *const ws[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    cf_strbuf_add(b, ws[rnd(7)]);
}

static void gen_string(struct cf_strbuf *b)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "0",
                                         " ",
                                         "_",
                                         "-",
                                         "/",
                                         "\\\"",
                                         "\\\\",
                                         "\\/",
                                         "\\b",
                                         "\\f",
                                         "\\n",
                                         "\\r",
                                         "\\t",
                                         "\\u0041",
                                         "\\u00E9",
                                         "\\u00e9",
                                         "\\u001f",
                                         "\\u20ac",
                                         "\\ud83d\\ude00",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\xd0\x9f\xd1\x80\xd0\xb8",
                                         "\x7f",
                                         "clinic",
                                         "+79161234567",
                                         "2026-12-05T10:00:00Z"};
    cf_strbuf_add(b, "\"");
    for (uint32_t n = rnd(8); n; n--)
        cf_strbuf_add(b, pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))]);
    cf_strbuf_add(b, "\"");
}

static void gen_number(struct cf_strbuf *b)
{
    static const char *const nums[] = {"0",
                                       "-0",
                                       "1",
                                       "-1",
                                       "42",
                                       "1234567890123",
                                       "9223372036854775807",
                                       "-9223372036854775808",
                                       "0.5",
                                       "-2.25",
                                       "1e3",
                                       "1E-3",
                                       "6.02e+23",
                                       "3.141592653589793",
                                       "100",
                                       "0.1",
                                       "1e308",
                                       "2.5e-308",
                                       "77"};
    cf_strbuf_add(b, nums[rnd(sizeof(nums) / sizeof(nums[0]))]);
}

static void gen_value(struct cf_strbuf *b, int depth)
{
    const uint32_t kind = depth > 5 ? 2 + rnd(4) : rnd(6);
    add_space(b);
    switch (kind) {
    case 0: {
        cf_strbuf_add(b, "{");
        uint32_t n = rnd(6);
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                cf_strbuf_add(b, ",");
            add_space(b);
            /* few distinct keys, so duplicates come up */
            if (rnd(3) == 0)
                gen_string(b);
            else {
                char key[16];
                snprintf(key, sizeof(key), "\"k%u\"", rnd(5));
                cf_strbuf_add(b, key);
            }
            add_space(b);
            cf_strbuf_add(b, ":");
            gen_value(b, depth + 1);
        }
        add_space(b);
        cf_strbuf_add(b, "}");
        break;
    }
    case 1: {
        cf_strbuf_add(b, "[");
        uint32_t n = rnd(6);
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                cf_strbuf_add(b, ",");
            gen_value(b, depth + 1);
        }
        add_space(b);
        cf_strbuf_add(b, "]");
        break;
    }
    case 2:
        gen_string(b);
        break;
    case 3:
        gen_number(b);
        break;
    case 4:
        cf_strbuf_add(b, rnd(2) ? "true" : "false");
        break;
    default:
        cf_strbuf_add(b, "null");
    }
    add_space(b);
}

/* One byte of text changed, dropped or added: what a mangled document
 * looks like. */
static void mutate(char *text, size_t *len)
{
    static const char bytes[] = "{}[]:,\"\\ 0123456789-+.eEtrufalsn\x01\x7f\xc3\xa9\xff\x80\0";
    const size_t at = *len ? rnd((uint32_t)*len) : 0;
    switch (rnd(3)) {
    case 0:
        if (*len)
            text[at] = bytes[rnd(sizeof(bytes) - 1)];
        break;
    case 1:
        if (*len) {
            memmove(text + at, text + at + 1, *len - at - 1);
            (*len)--;
        }
        break;
    default:
        memmove(text + at + 1, text + at, *len - at);
        text[at] = bytes[rnd(sizeof(bytes) - 1)];
        (*len)++;
    }
}

static void test_generated(void)
{
    int all_agree = 1, accepted = 0, rejected = 0;
    for (int i = 0; i < 20000; i++) {
        struct cf_strbuf b = {0};
        gen_value(&b, 0);
        const size_t flags = (rnd(2) ? JSON_REJECT_DUPLICATES : 0) | (rnd(2) ? JSON_DECODE_ANY : 0);
        all_agree &= agree(b.p, b.len, flags);
        /* room for the mutations' added bytes */
        char *text = cf_strbuf_take(&b);
        size_t len = strlen(text);
        text = realloc(text, len + 16);
        for (int m = 0; m < 1 + (int)rnd(3); m++)
            mutate(text, &len);
        json_error_t e;
        json_t *j = json_loadb(text, len, flags, &e);
        if (j)
            accepted++;
        else
            rejected++;
        json_decref(j);
        all_agree &= agree(text, len, flags);
        free(text);
    }
    CHECK(all_agree);
    /* the mutations make both kinds: the rejections are tested too */
    CHECK(accepted > 1000);
    CHECK(rejected > 1000);
}

/* Trees built through the API, with what a parsed text never holds (a
 * NUL in a string, every control character), written both ways. */
static void test_dumps(void)
{
    json_t *j = json_object();
    char ctl[40];
    for (int c = 0; c < 32; c++)
        ctl[c] = (char)(c + 1 == 32 ? 0x7f : c + 1);
    json_object_set_new(j, "controls", json_stringn(ctl, 32));
    json_object_set_new(j, "nul", json_stringn("a\0b", 3));
    json_object_set_new(j, "ключ \"с\" кавычками\n", json_string("значение"));
    json_object_set_new(j, "big", json_integer(INT64_MIN));
    json_object_set_new(j, "nested", json_pack("{s:[{}, [], [[]], {s:n}]}", "x", "y"));
    json_object_set_new(j, "emoji", json_string("\xf0\x9f\x98\x80 \\ /"));
    char *dj = json_dumps(j, JSON_COMPACT);
    char *dc = cf_json_dumps(j);
    CHECK_STR(dc, dj);
    free(dj);
    free(dc);

    /* reals: the shortest text that reads back as the same double (money
     * as written: 1234.56, not 1234.5599999999999), a real still */
    static const struct {
        double v;
        const char *text;
    } reals[] = {
        {0.1, "0.1"},    {1234.56, "1234.56"}, {19.99, "19.99"}, {-1e-7, "-1e-07"},
        {1e21, "1e+21"}, {3.0, "3.0"},         {-0.0, "-0.0"},   {1.0 / 3, "0.3333333333333333"},
    };
    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        json_t *r = json_real(reals[i].v);
        dc = cf_json_dumps(r);
        CHECK_STR(dc, reals[i].text);
        json_t *back = json_loads(dc, JSON_DECODE_ANY, NULL);
        CHECK(json_is_real(back) && json_real_value(back) == reals[i].v);
        json_decref(back);
        free(dc);
        json_decref(r);
    }

    /* appended to what a buffer holds */
    struct cf_strbuf b = {0};
    cf_strbuf_add(&b, "x=");
    CHECK_INT(cf_json_dump_to(&b, json_object_get(j, "nested")), 0);
    CHECK_STR(b.p, "x={\"x\":[{},[],[[]],{\"y\":null}]}");
    free(b.p);

    /* a scalar, and nothing */
    json_t *s = json_string("a\"b");
    dc = cf_json_dumps(s);
    CHECK_STR(dc, "\"a\\\"b\"");
    free(dc);
    json_decref(s);
    CHECK(cf_json_dumps(NULL) == NULL);

    /* a string that is not UTF-8 (built unchecked) is not written */
    json_object_set_new_nocheck(j, "bad", json_string_nocheck("\xff"));
    CHECK(cf_json_dumps(j) == NULL);
    CHECK(json_dumps(j, JSON_COMPACT) == NULL);
    json_decref(j);

    /* a loop is not written (jansson says the same) */
    json_t *a = json_array(), *o = json_object();
    json_array_append(a, o);
    json_object_set(o, "a", a);
    CHECK(cf_json_dumps(a) == NULL);
    CHECK(json_dumps(a, JSON_COMPACT) == NULL);
    json_object_del(o, "a");
    json_decref(o);
    json_decref(a);
}

int main(void)
{
    test_fixed();
    test_depth();
    test_generated();
    test_dumps();
    return cf_test_done();
}
