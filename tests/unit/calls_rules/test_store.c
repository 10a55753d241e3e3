/*
 * What the fold's batch save writes (store.c): a call's row, with absent
 * members as NULL and the whole document; and the COPY text of its rows,
 * in the staging table's column order.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_fixture.h"
#include "cftest.h"
#include "common/time.h"
#include "store_testable.h"

static void test_store_row(void)
{
    json_t *c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:01:00Z",
          json_pack("{s:s, s:i}", "answered_at", "2026-11-20T10:00:10Z", "talk_seconds", 50));
    json_object_set_new(c, "result", json_pack("{s:s}", "value", "booked"));
    json_t *row = calls_store_row("net-1", c);
    CHECK_STR(str(row, "network_id"), "net-1");
    CHECK_STR(str(row, "call_id"), "5b7f0c1e-2d3a-5e4f-8a9b-0c1d2e3f4a5b");
    CHECK_STR(str(row, "status"), "ended");
    CHECK_STR(str(row, "answered_at"), "2026-11-20T10:00:10.000Z");
    CHECK_INT(num(row, "talk_seconds"), 50);
    CHECK_INT(num(row, "facts"), 0);
    CHECK_STR(str(row, "result"), "booked");
    /* absent: null, so the column is NULL rather than missing */
    CHECK(json_is_null(json_object_get(row, "clinic_id")));
    CHECK(json_is_null(json_object_get(row, "contact_key")));
    /* the whole document, private part included */
    CHECK(json_object_get(row, "doc") == c);
    CHECK(json_is_object(json_object_get(json_object_get(row, "doc"), "reported")));
    json_decref(row);
    json_decref(c);
}

static void test_copy_row(void)
{
    json_t *c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:01:00Z",
          json_pack("{s:s, s:i}", "answered_at", "2026-11-20T10:00:10Z", "talk_seconds", 50));
    json_object_set_new(c, "clinic_id", json_string("c\t1\\"));
    json_object_set_new(c, "agent_id", json_string("a\nb"));
    json_t *row = calls_store_row("net-1", c);
    struct cf_pg_copy copy = {0};
    calls_copy_row(&copy, row);
    calls_copy_row(&copy, row);
    CHECK_INT(copy.rows, 2);
    const struct cf_strbuf b = copy.b;

    /* two lines, each of the 17 columns */
    const char *nl = strchr(b.p, '\n');
    CHECK(nl != NULL);
    if (!nl)
        nl = b.p;
    CHECK_INT(b.len, 2 * (size_t)(nl - b.p + 1));
    CHECK(strncmp(b.p, nl + 1, (size_t)(nl - b.p + 1)) == 0);
    int tabs = 0;
    for (const char *p = b.p; p < nl; p++)
        tabs += *p == '\t';
    CHECK_INT(tabs, 16);
    /* the columns in the staging table's order */
    char *line = strndup(b.p, (size_t)(nl - b.p));
    char *fields[17] = {0};
    int nf = 0;
    for (char *p = line; nf < 17; nf++) {
        fields[nf] = p;
        char *tab = strchr(p, '\t');
        if (!tab) {
            nf++;
            break;
        }
        *tab = '\0';
        p = tab + 1;
    }
    CHECK_INT(nf, 17);
    CHECK_STR(fields[0], "5b7f0c1e-2d3a-5e4f-8a9b-0c1d2e3f4a5b");
    CHECK_STR(fields[1], "net-1");
    CHECK_STR(fields[2], "c\\t1\\\\");
    CHECK_STR(fields[3], "inbound");
    CHECK_STR(fields[4], "ended");
    CHECK_STR(fields[5], "\\N"); /* no contact key */
    CHECK_STR(fields[7], "2026-11-20T10:00:10.000Z");
    CHECK_STR(fields[9], "answered");
    CHECK_STR(fields[11], "50");
    CHECK_STR(fields[12], "generic");
    CHECK_STR(fields[14], "0");
    CHECK_STR(fields[16], "\\N"); /* no result */
    /* the document: the compact JSON of the call, escaped once, whole */
    char *doc = json_dumps(c, JSON_COMPACT);
    struct cf_pg_copy want = {0};
    cf_pg_copy_text(&want, doc);
    CHECK_STR(fields[15], want.b.p);
    CHECK(strstr(fields[15], "a\\\\nb") != NULL); /* JSON's \n, its backslash doubled */
    CHECK(strstr(fields[15], "\"reported\"") != NULL);
    cf_pg_copy_clear(&want);
    free(doc);
    free(line);
    cf_pg_copy_clear(&copy);
    json_decref(row);
    json_decref(c);
}

int main(void)
{
    test_store_row();
    test_copy_row();
    return cf_test_done();
}
