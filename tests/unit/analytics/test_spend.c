/*
 * Ad spend as the API takes it (spend_rules.c): a row's members checked
 * and named when wrong, CSV with its header in any order, quotes, empty
 * optional cells, a later line of the same key replacing an earlier, and
 * a cell that is not UTF-8 refused by its line and column.
 */
#include "spend_testable.h"

#include "cftest.h"
#include "common/strbuf.h"

#include <stdlib.h>
#include <time.h>

static json_t *row(const char *text, char field[64])
{
    char why[200];
    json_t *j = json_loads(text, 0, NULL);
    json_t *r = an_spend_row(j, field, 64, why, sizeof(why));
    json_decref(j);
    return r;
}

static void test_row(void)
{
    char field[64] = "";
    json_t *r = row("{\"day\": \"2026-11-22\", \"source\": \"yandex\", \"amount\": 1250.5,"
                    " \"currency\": \"RUB\", \"clinic\": \"c1\"}",
                    field);
    CHECK_STR(json_string_value(json_object_get(r, "medium")), "");
    CHECK_STR(json_string_value(json_object_get(r, "clinic_id")), "c1");
    CHECK(json_real_value(json_object_get(r, "amount")) == 1250.5);
    json_decref(r);

    const char *bad[][2] = {
        {"{\"day\": \"2026-02-30\", \"source\": \"y\", \"amount\": 1, \"currency\": \"RUB\"}",
         "day"},
        {"{\"day\": \"2026-11-22\", \"amount\": 1, \"currency\": \"RUB\"}", "source"},
        {"{\"day\": \"2026-11-22\", \"source\": \"y\", \"amount\": -5, \"currency\": \"RUB\"}",
         "amount"},
        {"{\"day\": \"2026-11-22\", \"source\": \"y\", \"amount\": \"5\", \"currency\": \"RUB\"}",
         "amount"},
        {"{\"day\": \"2026-11-22\", \"source\": \"y\", \"amount\": 5, \"currency\": \"rub\"}",
         "currency"},
        {"{\"day\": \"2026-11-22\", \"source\": \"y\", \"amount\": 5, \"currency\": \"RUB\","
         " \"cpc\": 3}",
         "cpc"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(row(bad[i][0], field) == NULL);
        CHECK_STR(field, bad[i][1]);
    }
    /* an optional member given as null is not given: network-wide spend */
    r = row("{\"day\": \"2026-11-22\", \"source\": \"y\", \"amount\": 1, \"currency\": \"RUB\","
            " \"clinic\": null, \"medium\": null, \"campaign\": null}",
            field);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "clinic_id")), "");
    CHECK_STR(json_string_value(json_object_get(r, "medium")), "");
    CHECK_STR(json_string_value(json_object_get(r, "campaign")), "");
    json_decref(r);
}

/* Checks that the CSV text (len bytes) is refused naming field; its
 * reason, valid until the next call. */
static const char *refused(const char *text, size_t len, const char *field)
{
    static char why[200];
    char got[64] = "";
    CHECK(an_spend_csv(text, len, 100, got, sizeof(got), why, sizeof(why)) == NULL);
    CHECK_STR(got, field);
    return why;
}

static void test_csv(void)
{
    char field[64] = "", why[200] = "";
    const char *ok = "Currency,amount,source,day,campaign,clinic\r\n"
                     "RUB,100,yandex,2026-11-22,\"spring, implants\",\r\n"
                     "\r\n"
                     "RUB,40.25,vk,2026-11-22,,c1\r\n"
                     "RUB,150,yandex,2026-11-22,\"spring, implants\",\r\n";
    json_t *rows = an_spend_csv(ok, strlen(ok), 100, field, sizeof(field), why, sizeof(why));
    CHECK(rows != NULL);
    CHECK_INT(json_array_size(rows), 3); /* a row a line of data, each with its line */
    CHECK_INT(json_integer_value(json_object_get(json_array_get(rows, 1), "line")), 4);
    rows = an_spend_latest(rows);
    CHECK_INT(json_array_size(rows), 2); /* the third line replaced the first */
    const json_t *y = json_array_get(rows, 0), *v = json_array_get(rows, 1);
    CHECK_STR(json_string_value(json_object_get(y, "campaign")), "spring, implants");
    CHECK(json_real_value(json_object_get(y, "amount")) == 150.0);
    CHECK_STR(json_string_value(json_object_get(y, "clinic_id")), "");
    CHECK_STR(json_string_value(json_object_get(v, "clinic_id")), "c1");
    CHECK_STR(json_string_value(json_object_get(v, "medium")), "");
    json_decref(rows);

    const char *bad[][2] = {
        {"day,source,amount\n2026-11-22,y,1\n", "line 1: currency"},
        {"day,source,amount,currency\n2026-11-22,y,1,RUB\n2026-11-22,,1,RUB\n", "line 3: source"},
        {"day,source,amount,currency\n2026-11-22,y,1 000,RUB\n", "line 2: amount"},
        {"day,source,amount,currency\n2026-11-22,\"y,1,RUB\n", "line 2"},
        {"day,source,amount,currency\n22.11.2026,y,1,RUB\n", "line 2: day"},
        /* a decimal comma: one cell more than the header, never 1234 */
        {"day,source,currency,amount\n2026-11-22,y,RUB,1234,50\n", "line 2"},
        {"day,source,amount,currency,amount\n2026-11-22,y,1,RUB,2\n", "line 1: amount"},
        /* a column misspelt (read as not given, its values would be lost) */
        {"day,source,amount,currency,clinic_id\n2026-11-22,y,1,RUB,c1\n", "line 1: clinic_id"},
        {"day,source,amount,currency,campaing\n2026-11-22,y,1,RUB,spring\n", "line 1: campaing"},
        /* a long Cyrillic name, named by its first 24 characters, whole */
        {"day,source,amount,currency,\xD0\xBA\xD0\xBB\xD0\xB8\xD0\xBD\xD0\xB8\xD0\xBA\xD0\xB0"
         "\xD0\xBA\xD0\xBB\xD0\xB8\xD0\xBD\xD0\xB8\xD0\xBA\xD0\xB0\xD0\xBA\xD0\xBB\xD0\xB8"
         "\xD0\xBD\xD0\xB8\xD0\xBA\xD0\xB0\xD0\xBA\xD0\xBB\xD0\xB8\xD0\xBD\xD0\xB8\xD0\xBA"
         "\xD0\xB0x\n2026-11-22,y,1,RUB,c\n",
         "line 1: \xD0\xBA\xD0\xBB\xD0\xB8\xD0\xBD\xD0\xB8\xD0\xBA\xD0\xB0\xD0\xBA\xD0\xBB"
         "\xD0\xB8\xD0\xBD\xD0\xB8\xD0\xBA\xD0\xB0\xD0\xBA\xD0\xBB\xD0\xB8\xD0\xBD\xD0\xB8"
         "\xD0\xBA\xD0\xB0\xD0\xBA\xD0\xBB\xD0\xB8"},
        /* text after a closing quote: where the value ends is a guess */
        {"day,source,amount,currency\n2026-11-22,\"y\" direct,1,RUB\n", "line 2: source"},
        {"day,source,amount,currency\n2026-11-22,y,1,\"RUB\"2026-11-23,b,2,RUB\n",
         "line 2: currency"},
        /* amounts strtod would take */
        {"day,source,amount,currency\n2026-11-22,y,0x10,RUB\n", "line 2: amount"},
        {"day,source,amount,currency\n2026-11-22,y,1e3,RUB\n", "line 2: amount"},
        {"day,source,amount,currency\n2026-11-22,y, 12.5,RUB\n", "line 2: amount"},
        {"day,source,amount,currency\n2026-11-22,y,inf,RUB\n", "line 2: amount"},
        {"day,source,amount,currency\n2026-11-22,y,12.,RUB\n", "line 2: amount"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        refused(bad[i][0], strlen(bad[i][0]), bad[i][1]);
    /* a NUL byte in a cell: two sources that differ after it are not one */
    const char nul[] = "day,source,amount,currency\n2026-11-22,ya\0ndex,1,RUB\n";
    CHECK(strstr(refused(nul, sizeof(nul) - 1, "line 2: source"), "NUL") != NULL);
    /* names in any case, with spaces around them; a column with no name
     * (a trailing comma) is not read */
    const char *loose = " Day ,SOURCE,\tamount,currency,\n2026-11-22,y,12.50,RUB,x\n";
    rows = an_spend_csv(loose, strlen(loose), 100, field, sizeof(field), why, sizeof(why));
    CHECK(rows != NULL && json_array_size(rows) == 1);
    CHECK(json_real_value(json_object_get(json_array_get(rows, 0), "amount")) == 12.5);
    json_decref(rows);
    /* a spreadsheet's "CSV UTF-8", which starts with a byte order mark */
    const char *bom = "\xEF\xBB\xBF"
                      "day,source,amount,currency\r\n2026-11-22,yandex,10.5,RUB\r\n";
    rows = an_spend_csv(bom, strlen(bom), 100, field, sizeof(field), why, sizeof(why));
    CHECK(rows != NULL && json_array_size(rows) == 1);
    CHECK(json_real_value(json_object_get(json_array_get(rows, 0), "amount")) == 10.5);
    json_decref(rows);
    /* a file over the row limit is refused whole */
    const char *three = "day,source,amount,currency\n2026-11-01,a,1,RUB\n2026-11-02,a,1,RUB\n"
                        "2026-11-03,a,1,RUB\n";
    CHECK(an_spend_csv(three, strlen(three), 2, field, sizeof(field), why, sizeof(why)) == NULL);
    CHECK_STR(field, "line 4");
}

/* A file at the row limit, its keys all different and a last line that
 * repeats the first: each line is compared with the rows before it by
 * its key, not with each of them (50,000 lines one by one would be 1.25
 * billion comparisons, minutes of a request's CPU). */
static void test_csv_many_rows(void)
{
    enum { N = 50000 };
    struct cf_strbuf b = {0};
    cf_strbuf_add(&b, "day,source,campaign,amount,currency\n");
    for (int i = 0; i < N - 1; i++) {
        char line[96];
        snprintf(line, sizeof(line), "2026-11-%02d,yandex,c%d,%d,RUB\n", 1 + i % 28, i, i);
        cf_strbuf_add(&b, line);
    }
    cf_strbuf_add(&b, "2026-11-01,yandex,c0,7.5,RUB\n");
    char field[64] = "", why[200] = "";
    const time_t started = time(NULL);
    json_t *rows =
        an_spend_latest(an_spend_csv(b.p, b.len, N, field, sizeof(field), why, sizeof(why)));
    CHECK(time(NULL) - started < 30); /* a functional deadline, not a measure */
    CHECK_INT(json_array_size(rows), N - 1);
    const json_t *first = json_array_get(rows, 0);
    CHECK_STR(json_string_value(json_object_get(first, "campaign")), "c0");
    CHECK(json_real_value(json_object_get(first, "amount")) == 7.5);
    CHECK_STR(json_string_value(json_object_get(json_array_get(rows, N - 2), "campaign")),
              "c49998");
    json_decref(rows);
    free(b.p);
    /* keys that would join to the same text stay two rows */
    const char *two = "day,source,medium,amount,currency\n2026-11-22,ab,c,1,RUB\n"
                      "2026-11-22,a,bc,2,RUB\n";
    rows =
        an_spend_latest(an_spend_csv(two, strlen(two), N, field, sizeof(field), why, sizeof(why)));
    CHECK(json_array_size(rows) == 2);
    json_decref(rows);
}

/* A file saved in a legacy code page (Excel's "CSV" in Windows-1251) is
 * refused naming the line and column of its first such cell: a cell left
 * out would move the next ones one column left and store them as the
 * wrong medium and campaign. */
static void test_csv_encoding(void)
{
    const char *bad[][2] = {
        /* "имплантация" in Windows-1251 in campaign */
        {"day,source,campaign,medium,amount,currency\n"
         "2026-11-22,yandex,\xE8\xEC\xEF\xEB\xE0\xED\xF2\xE0\xF6\xE8\xFF,cpc,1,RUB\n",
         "line 2: campaign"},
        /* the same, quoted, after a good line */
        {"day,source,campaign,amount,currency\n2026-11-21,yandex,,1,RUB\n"
         "2026-11-22,yandex,\"\xE8\xEC\xEF\",1,RUB\n",
         "line 3: campaign"},
        /* a column with no name, not read, still moves those after it */
        {"day,,source,amount,currency\n2026-11-22,\xE8,yandex,1,RUB\n", "line 2: column 2"},
        /* a header cell */
        {"day,source,amount,currency,\xEA\xEE\xEC\n2026-11-22,yandex,1,RUB,\n", "line 1: column 5"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(strstr(refused(bad[i][0], strlen(bad[i][0]), bad[i][1]), "not UTF-8") != NULL);

    /* a UTF-8 campaign too long for any column is refused as too long,
     * wherever the cut of what is read falls in a character */
    for (size_t odd = 0; odd < 2; odd++) {
        char csv[2048];
        size_t n = (size_t)snprintf(csv, sizeof(csv),
                                    "day,source,campaign,amount,currency\n"
                                    "2026-11-22,yandex,%s",
                                    odd ? "x" : "");
        for (int k = 0; k < 600; k++) {
            memcpy(csv + n, "\xD1\x8F", 2); /* "я" */
            n += 2;
        }
        memcpy(csv + n, ",1,RUB\n", 7);
        n += 7;
        CHECK(strstr(refused(csv, n, "line 2: campaign"), "not UTF-8") == NULL);
    }
}

int main(void)
{
    test_row();
    test_csv();
    test_csv_many_rows();
    test_csv_encoding();
    return cf_test_done();
}
