/*
 * Unit tests for common/envelope.h: the RFC 3339 time helpers, a build ->
 * dump -> parse round trip with the exact serialized form, and a table of
 * malformed envelopes, each rejected with its own reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "cftest.h"

static void test_time_format(void)
{
    static const struct {
        int64_t ms;
        const char *text;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1795334400000, "2026-11-22T08:00:00.000Z"},
        {1795334400123, "2026-11-22T08:00:00.123Z"},
        {1795334400007, "2026-11-22T08:00:00.007Z"},
        {951782400000, "2000-02-29T00:00:00.000Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {253402300799999, "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        int64_t back = 0;
        cf_time_format(cases[i].ms, out);
        CHECK_STR(out, cases[i].text);
        if (cases[i].ms < 0) { /* written, but never read back: -1 is "none" */
            CHECK_INT(cf_time_parse(out, &back), CF_EINVAL);
            continue;
        }
        CHECK_INT(cf_time_parse(out, &back), 0);
        CHECK_INT(back, cases[i].ms);
    }
}

static void test_time_parse(void)
{
    static const struct {
        const char *text;
        int rc;
        int64_t ms;
    } cases[] = {
        {"2026-11-22T08:00:00.000Z", 0, 1795334400000},
        {"2026-11-22T08:00:00Z", 0, 1795334400000},
        {"2026-11-22t08:00:00z", 0, 1795334400000},
        {"2026-11-22T11:00:00+03:00", 0, 1795334400000},
        {"2026-11-22T03:30:00-04:30", 0, 1795334400000},
        {"2026-11-22T08:00:00.5Z", 0, 1795334400500},
        {"2026-11-22T08:00:00.12Z", 0, 1795334400120},
        {"2026-11-22T08:00:00.123456789Z", 0, 1795334400123},
        {"2026-11-22T11:00:00.250+03:00", 0, 1795334400250},
        {"2024-02-29T00:00:00Z", 0, 1709164800000},
        {"2026-11-22T08:00:00", CF_EINVAL, 0},      /* no offset */
        {"2026-11-22 08:00:00Z", CF_EINVAL, 0},     /* space for T */
        {"2026-11-22T08:00:00.Z", CF_EINVAL, 0},    /* empty fraction */
        {"2026-11-22T08:00Z", CF_EINVAL, 0},        /* no seconds */
        {"2026-13-01T00:00:00Z", CF_EINVAL, 0},     /* month */
        {"2026-02-29T00:00:00Z", CF_EINVAL, 0},     /* not a leap year */
        {"2026-04-31T00:00:00Z", CF_EINVAL, 0},     /* day */
        {"2026-11-22T24:00:00Z", CF_EINVAL, 0},     /* hour */
        {"2026-11-22T08:60:00Z", CF_EINVAL, 0},     /* minute */
        {"2026-11-22T08:00:00+0300", CF_EINVAL, 0}, /* offset without colon */
        {"2026-11-22T08:00:00+24:00", CF_EINVAL, 0},
        {"2026-11-22T08:00:00Zjunk", CF_EINVAL, 0},
        {"26-11-22T08:00:00Z", CF_EINVAL, 0},
        {"1970-01-01T00:00:00Z", 0, 0},
        {"1970-01-01T03:00:00+03:00", 0, 0},
        {"1969-12-31T23:59:59.999Z", CF_EINVAL, 0}, /* before 1970: would read as none */
        {"1970-01-01T02:59:59+03:00", CF_EINVAL, 0},
        {"0001-01-01T00:00:00Z", CF_EINVAL, 0},
        /* past 9999 in UTC: a time cf_time_format could not write back */
        {"9999-12-31T23:59:59-23:59", CF_EINVAL, 0},
        {"", CF_EINVAL, 0},
        {NULL, CF_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = 0;
        int rc = cf_time_parse(cases[i].text, &ms);
        if (rc != cases[i].rc)
            fprintf(stderr, "case '%s'\n", cases[i].text ? cases[i].text : "(null)");
        CHECK_INT(rc, cases[i].rc);
        if (rc == 0)
            CHECK_INT(ms, cases[i].ms);
    }
    int64_t now = cf_time_now_ms();
    CHECK(now > 1700000000000 && now < 4102444800000);
}

static const char canonical[] =
    "{\"specversion\":\"1.0\",\"id\":\"f45d65fd-03de-585f-a546-6beb29071c00\","
    "\"source\":\"/clinicflow/calls/generic/-\",\"type\":\"clinicflow.call.reported\","
    "\"subject\":\"4ac2102b-9218-561e-adbd-a3935c125eb9\",\"time\":\"2026-11-22T08:00:00.123Z\","
    "\"datacontenttype\":\"application/json\",\"networkid\":\"net-1\",\"clinicid\":\"clinic-1\","
    "\"data\":{\"event\":\"started\",\"n\":1}}";

static void fill(struct cf_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    snprintf(ev->id, sizeof(ev->id), "%s", "f45d65fd-03de-585f-a546-6beb29071c00");
    ev->source = cf_xstrdup("/clinicflow/calls/generic/-");
    ev->type = cf_xstrdup("clinicflow.call.reported");
    ev->subject = cf_xstrdup("4ac2102b-9218-561e-adbd-a3935c125eb9");
    ev->time_ms = 1795334400123;
    ev->networkid = cf_xstrdup("net-1");
    ev->clinicid = cf_xstrdup("clinic-1");
    ev->data = json_pack("{s:s, s:i}", "event", "started", "n", 1);
}

static void test_round_trip(void)
{
    struct cf_event ev, back;
    char errbuf[256] = "";
    fill(&ev);
    char *text = cf_event_dumps(&ev);
    CHECK_STR(text, canonical);

    CHECK_INT(cf_event_parse(text, strlen(text), &back, errbuf, sizeof(errbuf)), 0);
    CHECK_STR(back.id, ev.id);
    CHECK_STR(back.source, ev.source);
    CHECK_STR(back.type, ev.type);
    CHECK_STR(back.subject, ev.subject);
    CHECK_INT(back.time_ms, ev.time_ms);
    CHECK_STR(back.networkid, ev.networkid);
    CHECK_STR(back.clinicid, ev.clinicid);
    CHECK(json_equal(back.data, ev.data));
    char *again = cf_event_dumps(&back);
    CHECK_STR(again, text);
    free(again);
    cf_event_clear(&back);
    free(text);

    /* Without a clinic the member is omitted, and parses back as NULL. */
    free(ev.clinicid);
    ev.clinicid = NULL;
    text = cf_event_dumps(&ev);
    CHECK(text && strstr(text, "clinicid") == NULL);
    CHECK_INT(cf_event_parse(text, strlen(text), &back, errbuf, sizeof(errbuf)), 0);
    CHECK(back.clinicid == NULL);
    cf_event_clear(&back);
    free(text);

    /* An envelope without data or with a non-UTF-8 string is not built. */
    json_t *j_data = ev.data;
    ev.data = NULL;
    CHECK(cf_event_to_json(&ev) == NULL);
    ev.data = j_data;
    char *subject = ev.subject;
    ev.subject = (char *)"bad \xff";
    CHECK(cf_event_dumps(&ev) == NULL);
    ev.subject = subject;

    /* Optional members may be absent on parse; an offset time is accepted. */
    static const char minimal[] =
        "{\"specversion\":\"1.0\",\"id\":\"F45D65FD-03DE-585F-A546-6BEB29071C00\","
        "\"source\":\"/clinicflow/calls/consumer\",\"type\":\"clinicflow.call.ended\","
        "\"subject\":\"x\",\"time\":\"2026-11-22T11:00:00+03:00\",\"networkid\":\"n\","
        "\"data\":{}}";
    CHECK_INT(cf_event_parse(minimal, strlen(minimal), &back, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(back.time_ms, 1795334400000);
    /* An uppercase id is kept in the lowercase form the database returns. */
    CHECK_STR(back.id, "f45d65fd-03de-585f-a546-6beb29071c00");
    CHECK(back.clinicid == NULL);
    CHECK_INT(json_object_size(back.data), 0);
    cf_event_clear(&back);

    cf_event_clear(&ev);
    CHECK(ev.source == NULL && ev.data == NULL);
}

/* The canonical envelope with one member replaced ("key":value) or removed
 * (value NULL), or an arbitrary text when key is NULL. */
struct bad_case {
    const char *key;
    const char *value;
    const char *reason;
};

static const struct bad_case bad_cases[] = {
    {NULL, "", "envelope: empty value"},
    {NULL, "[1,2]", "envelope: not a JSON object"},
    {NULL, "null", NULL},                     /* the reader wants an array or object */
    {NULL, "{\"specversion\":\"1.0\"", NULL}, /* truncated: not JSON */
    {"specversion", NULL, "envelope: missing member 'specversion'"},
    {"specversion", "\"0.3\"", "envelope: specversion must be \"1.0\""},
    {"specversion", "1.0", "envelope: member 'specversion' is not a string"},
    {"id", NULL, "envelope: missing member 'id'"},
    {"id", "\"not-a-uuid\"", "envelope: id is not a UUID"},
    {"id", "\"\"", "envelope: member 'id' is empty or has a NUL byte"},
    {"id", "42", "envelope: member 'id' is not a string"},
    {"source", NULL, "envelope: missing member 'source'"},
    {"source", "\"/other/calls\"", "envelope: source must start with \"/clinicflow/\""},
    {"source", "\"/clinicflow/\"", "envelope: source must start with \"/clinicflow/\""},
    {"type", NULL, "envelope: missing member 'type'"},
    {"type", "\"com.example.call\"", "envelope: type must start with \"clinicflow.\""},
    {"subject", NULL, "envelope: missing member 'subject'"},
    {"subject", "\"\"", "envelope: member 'subject' is empty or has a NUL byte"},
    {"subject", "\"a\\u0000b\"", NULL}, /* the reader refuses NUL bytes */
    {"time", NULL, "envelope: missing member 'time'"},
    {"time", "\"yesterday\"", "envelope: time is not an RFC 3339 timestamp"},
    {"time", "1795334400000", "envelope: member 'time' is not a string"},
    {"networkid", NULL, "envelope: missing member 'networkid'"},
    {"networkid", "\"\"", "envelope: member 'networkid' is empty or has a NUL byte"},
    {"clinicid", "null", "envelope: member 'clinicid' is not a string"},
    {"clinicid", "7", "envelope: member 'clinicid' is not a string"},
    {"datacontenttype", "\"text/plain\"", "envelope: datacontenttype must be \"application/json\""},
    {"data", NULL, "envelope: missing member 'data'"},
    {"data", "[]", "envelope: data is not an object"},
    {"data", "null", "envelope: data is not an object"},
    {"dataschema", "\"x\"", "envelope: unknown member 'dataschema'"},
};

static void test_invalid(void)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        char *text;
        if (!c->key) {
            text = cf_xstrdup(c->value);
        } else {
            json_error_t jerr;
            json_t *j_ev = json_loads(canonical, 0, &jerr);
            if (c->value) {
                json_t *j_v = json_loads(c->value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
                json_object_set_new(j_ev, c->key, j_v);
            } else {
                json_object_del(j_ev, c->key);
            }
            text = json_dumps(j_ev, JSON_COMPACT);
            json_decref(j_ev);
        }
        struct cf_event ev;
        char errbuf[256] = "";
        memset(&ev, 0x5a, sizeof(ev)); /* parse must not rely on a zeroed struct */
        int rc = cf_event_parse(text, strlen(text), &ev, errbuf, sizeof(errbuf));
        CHECK_INT(rc, CF_EINVAL);
        if (c->reason)
            CHECK_STR(errbuf, c->reason);
        else
            CHECK(strncmp(errbuf, "envelope: not JSON: ", 20) == 0);
        /* A failed parse leaves nothing to free. */
        CHECK(ev.source == NULL && ev.type == NULL && ev.data == NULL && ev.id[0] == '\0');
        free(text);
    }

    /* Duplicate members are rejected by the JSON reader. */
    static const char dup[] = "{\"specversion\":\"1.0\",\"specversion\":\"1.0\"}";
    struct cf_event ev;
    char errbuf[256] = "";
    CHECK_INT(cf_event_parse(dup, strlen(dup), &ev, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK(strstr(errbuf, "duplicate") != NULL);
    /* NULL buffer */
    CHECK_INT(cf_event_parse(NULL, 0, &ev, errbuf, sizeof(errbuf)), CF_EINVAL);
}

/* Derived events: the ids were computed apart from this code, with
 * Python's uuid.uuid5 in the namespace of proto/README.md over the parts
 * joined by 0x1f (the input id, the kind, and the other entity's id). */
static void test_derive(void)
{
    const char *in = "0b9f9c8e-2c1b-5d0a-9b7e-1f2a3b4c5d6e";
    struct cf_event ev = {0}, back;
    char errbuf[256] = "";

    cf_event_derive(&ev, in, "call.ended", NULL, "calls/fold", "call-1", 1795334400123, "net-1",
                    "clinic-1", json_pack("{s:s}", "status", "ended"));
    CHECK_STR(ev.id, "517f97f4-e515-5c1c-957d-97756637f306");
    CHECK_STR(ev.type, "clinicflow.call.ended");
    CHECK_STR(ev.source, "/clinicflow/calls/fold");
    CHECK_STR(ev.subject, "call-1");
    CHECK_STR(ev.networkid, "net-1");
    CHECK_STR(ev.clinicid, "clinic-1");
    /* what it builds is a valid envelope */
    char *text = cf_event_dumps(&ev);
    CHECK_INT(cf_event_parse(text, strlen(text), &back, errbuf, sizeof(errbuf)), 0);
    CHECK_STR(back.id, ev.id);
    cf_event_clear(&back);
    free(text);

    /* the same ev again: what it held is released (ASan counts leaks) */
    cf_event_derive(&ev, in, "call.updated", "7f000000-0000-5000-8000-000000000001", "calls/fold",
                    "7f000000-0000-5000-8000-000000000001", 1795334400123, "net-1", NULL,
                    json_object());
    CHECK_STR(ev.id, "e89e36cb-dceb-5fc2-bbec-c8bd79242ed2");
    CHECK(ev.clinicid == NULL);
    cf_event_clear(&ev);
}

int main(void)
{
    test_time_format();
    test_time_parse();
    test_round_trip();
    test_invalid();
    test_derive();
    return cf_test_done();
}
