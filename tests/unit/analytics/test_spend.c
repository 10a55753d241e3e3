/*
 * Ad spend as the API takes it (spend_rules.c): a row's members checked
 * and named when wrong, CSV with its header in any order, quotes, empty
 * optional cells, and a later line of the same key replacing an earlier.
 */
#include "spend_testable.h"

#include "cftest.h"

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
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(an_spend_csv(bad[i][0], strlen(bad[i][0]), 100, field, sizeof(field), why,
                           sizeof(why)) == NULL);
        CHECK_STR(field, bad[i][1]);
    }
    /* a file over the row limit is refused whole */
    const char *three = "day,source,amount,currency\n2026-11-01,a,1,RUB\n2026-11-02,a,1,RUB\n"
                        "2026-11-03,a,1,RUB\n";
    CHECK(an_spend_csv(three, strlen(three), 2, field, sizeof(field), why, sizeof(why)) == NULL);
    CHECK_STR(field, "line 4");
}

int main(void)
{
    test_row();
    test_csv();
    return cf_test_done();
}
