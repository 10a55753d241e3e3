/*
 * common/pg_copy.h without a server: COPY's text format (PostgreSQL's
 * documentation of COPY, "Text Format"): what would end a field or a row,
 * or start an escape, is escaped; NULL is \N; a row's fields are separated
 * by tabs and end with a newline; JSON values become their text.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cftest.h"
#include "common/pg_copy.h"

static void test_fields(void)
{
    static const struct {
        const char *in; /* NULL: SQL NULL */
        const char *want;
    } cases[] = {
        {"plain", "plain"},
        {"", ""},
        {NULL, "\\N"},
        {"\\N", "\\\\N"}, /* the text \N, not a NULL */
        {"a\tb", "a\\tb"},
        {"line\nnext\r", "line\\nnext\\r"},
        {"\\.", "\\\\."},                             /* never the end-of-data marker */
        {"{\"s\":\"x\\ny\"}", "{\"s\":\"x\\\\ny\"}"}, /* JSON's own escape kept */
        {"\xd0\x9f\xd1\x80\xd0\xb8", "\xd0\x9f\xd1\x80\xd0\xb8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cf_pg_copy c = {0};
        cf_pg_copy_text(&c, cases[i].in);
        CHECK_STR(c.b.p, cases[i].want);
        CHECK_INT(c.rows, 0); /* no row until it is ended */
        cf_pg_copy_clear(&c);
    }
    /* n bytes, not up to a NUL */
    struct cf_pg_copy c = {0};
    cf_pg_copy_textn(&c, "a\nbcd", 3);
    CHECK_STR(c.b.p, "a\\nb");
    cf_pg_copy_clear(&c);
    CHECK(c.b.p == NULL && c.b.len == 0);
}

static void test_rows(void)
{
    struct cf_pg_copy c = {0};
    json_t *doc = json_pack("{s:s, s:[i, b]}", "note", "x\ty", "n", 1, 1);
    json_t *real = json_real(2.5);
    cf_pg_copy_text(&c, "first");
    cf_pg_copy_int(&c, -42);
    cf_pg_copy_json(&c, doc);
    cf_pg_copy_json(&c, NULL);
    cf_pg_copy_row_end(&c);
    json_t *str = json_string("s\\");
    json_t *num = json_integer(7);
    cf_pg_copy_json(&c, str);
    cf_pg_copy_json(&c, num);
    cf_pg_copy_json(&c, json_true());
    cf_pg_copy_json(&c, json_null());
    cf_pg_copy_json(&c, real);
    cf_pg_copy_row_end(&c);
    CHECK_INT(c.rows, 2);
    CHECK_STR(c.b.p, "first\t-42\t{\"note\":\"x\\\\ty\",\"n\":[1,true]}\t\\N\n"
                     "s\\\\\t7\ttrue\t\\N\t2.5\n");
    cf_pg_copy_clear(&c);
    CHECK_INT(c.rows, 0);
    CHECK_INT(c.fields, 0);
    json_decref(doc);
    json_decref(real);
    json_decref(str);
    json_decref(num);
}

int main(void)
{
    test_fields();
    test_rows();
    return cf_test_done();
}
