/*
 * The batch import's pure parts: the NDJSON splitter (lines cut anywhere
 * across chunks, "\r\n", blank lines, the last line without "\n", the
 * line limit, a callback stopping the feed, memory held to one line) and
 * a line's envelope ({"kind", "id", ...the PUT's body}).
 */
#include "mis_batch_testable.h"

#include <string.h>

#include "cftest.h"
#include "common/err.h"

/* What the callback saw: "lineno:line|" each. */
struct seen {
    char text[4096];
    size_t calls;
    size_t stop_at; /* a line number whose callback returns CF_EUNAVAIL; 0 none */
};

static int collect(const char *line, size_t len, size_t lineno, void *user)
{
    struct seen *s = user;
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof(s->text) - used, "%zu:%.*s|", lineno, (int)len, line);
    s->calls++;
    return lineno == s->stop_at ? CF_EUNAVAIL : 0;
}

/* Feeds body in chunks of step bytes and finishes; returns the first
 * non-zero feed or finish result. */
static int split(const char *body, size_t step, size_t max, struct seen *s, size_t *held_max)
{
    struct mis_lines lines;
    mis_lines_init(&lines, max);
    size_t len = strlen(body);
    int rc = 0;
    *held_max = 0;
    for (size_t off = 0; rc == 0 && off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        rc = mis_lines_feed(&lines, body + off, n, collect, s);
        if (lines.len > *held_max)
            *held_max = lines.len;
    }
    if (rc == 0)
        rc = mis_lines_finish(&lines, collect, s);
    mis_lines_free(&lines);
    return rc;
}

static void test_splitter(void)
{
    static const struct {
        const char *body;
        size_t max;
        int want_rc;
        const char *want;
    } cases[] = {
        {"a\nbb\nccc\n", 100, 0, "1:a|2:bb|3:ccc|"},
        {"a\nbb\nccc", 100, 0, "1:a|2:bb|3:ccc|"}, /* no final "\n" */
        {"a\r\nb\r\n", 100, 0, "1:a|2:b|"},        /* CRLF */
        {"a\n\n  \n\r\nb\n", 100, 0, "1:a|5:b|"},  /* blank lines counted, skipped */
        {"", 100, 0, ""},
        {"\n\n", 100, 0, ""},
        {"12345\n123456\nx\n", 5, CF_ETOOBIG, "1:12345|"}, /* line 2 over the limit */
        {"12345", 5, 0, "1:12345|"},
        {"123456", 5, CF_ETOOBIG, ""}, /* found before its end */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t step = 1; step <= 8; step++) { /* lines cut at every place */
            struct seen s = {.text = ""};
            size_t held = 0;
            int rc = split(cases[i].body, step, cases[i].max, &s, &held);
            CHECK_INT(rc, cases[i].want_rc);
            CHECK_STR(s.text, cases[i].want);
            CHECK(held <= cases[i].max);
        }
    }
}

static void test_splitter_stops(void)
{
    struct seen s = {.text = "", .stop_at = 2};
    size_t held = 0;
    CHECK_INT(split("a\nb\nc\n", 64, 100, &s, &held), CF_EUNAVAIL);
    CHECK_STR(s.text, "1:a|2:b|");

    /* a long body through a small limit: memory is one line, not the body */
    static char body[200000];
    for (size_t i = 0; i < sizeof(body) - 1; i++)
        body[i] = i % 50 == 49 ? '\n' : 'x';
    body[sizeof(body) - 1] = '\0';
    struct seen many = {.text = ""};
    struct mis_lines lines;
    mis_lines_init(&lines, 64);
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < sizeof(body) - 1; off += 777) {
        size_t n = sizeof(body) - 1 - off < 777 ? sizeof(body) - 1 - off : 777;
        many.text[0] = '\0';
        rc = mis_lines_feed(&lines, body + off, n, collect, &many);
    }
    CHECK_INT(rc, 0);
    CHECK_INT(lines.lineno, (sizeof(body) - 1) / 50);
    CHECK(lines.cap <= 4096);
    mis_lines_free(&lines);
}

/* The field a line is refused for ("" when taken); kind and id otherwise. */
static void envelope(const char *text, const char *want_field, int want_kind, const char *want_id,
                     const char *want_body)
{
    enum mis_batch_kind kind = MIS_BATCH_PATIENT;
    char mis_id[129] = "", field[80] = "", errbuf[256] = "";
    json_t *body = NULL;
    int rc = mis_batch_line(text, strlen(text), &kind, mis_id, sizeof(mis_id), &body, field,
                            sizeof(field), errbuf, sizeof(errbuf));
    CHECK_INT(rc != 0, want_field != NULL);
    if (rc != 0) {
        CHECK_STR(field, want_field);
        CHECK(errbuf[0] != '\0');
        CHECK(body == NULL);
        return;
    }
    CHECK_INT(kind, want_kind);
    CHECK_STR(mis_id, want_id);
    char *dumped = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(dumped, want_body);
    free(dumped);
    json_decref(body);
}

static void test_envelope(void)
{
    envelope("{\"kind\":\"patient\",\"id\":\"p-1\",\"version\":3,\"first_name\":\"A\"}", NULL,
             MIS_BATCH_PATIENT, "p-1", "{\"first_name\":\"A\",\"version\":3}");
    envelope("{\"version\":1,\"id\":\"MIS:9.a_b\",\"kind\":\"appointment\"}", NULL,
             MIS_BATCH_APPOINTMENT, "MIS:9.a_b", "{\"version\":1}");
    envelope("{\"kind\":\"patient\",\"id\":\"p-1\"", "", 0, NULL, NULL); /* not JSON */
    envelope("[1,2]", "", 0, NULL, NULL);                                /* no object */
    envelope("{\"id\":\"p-1\",\"version\":1}", "kind", 0, NULL, NULL);   /* no kind */
    envelope("{\"kind\":\"visit\",\"id\":\"p-1\"}", "kind", 0, NULL, NULL);
    envelope("{\"kind\":7,\"id\":\"p-1\"}", "kind", 0, NULL, NULL);
    envelope("{\"kind\":\"patient\",\"version\":1}", "id", 0, NULL, NULL); /* no id */
    envelope("{\"kind\":\"patient\",\"id\":\"a/b\"}", "id", 0, NULL, NULL);
    envelope("{\"kind\":\"patient\",\"id\":42}", "id", 0, NULL, NULL);
    envelope("{\"kind\":\"patient\",\"kind\":\"appointment\",\"id\":\"p\"}", "", 0, NULL,
             NULL); /* a member twice */
}

int main(void)
{
    test_splitter();
    test_splitter_stops();
    test_envelope();
    return cf_test_done();
}
