/*
 * Reminder messages: SMS segments as an SMS centre counts them (GSM 03.38
 * septets, or UCS-2 units as soon as one character is outside it), their
 * cost, templates rendered in the clinic's zone across DST changes, and
 * which template a clinic uses. The limits (160/153 septets, 70/67 units)
 * are 3GPP TS 23.038/23.040's; the zones are the demo network's and New
 * York for a zone with DST.
 */
#include "message_testable.h"

#include "cftest.h"
#include "common/err.h"

/* n copies of s, concatenated (free it). */
static char *rep(const char *s, size_t n)
{
    size_t len = strlen(s);
    char *out = malloc(len * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * len, s, len);
    out[len * n] = '\0';
    return out;
}

/* a then b (free it). */
static char *cat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *out = malloc(la + lb + 1);
    memcpy(out, a, la);
    memcpy(out + la, b, lb + 1);
    return out;
}

static void check_sms(const char *text, enum msg_encoding encoding, size_t units, size_t segments,
                      int line)
{
    struct msg_segments s;
    msg_sms_segments(text, &s);
    if (s.encoding != encoding || s.units != units || s.segments != segments)
        fprintf(stderr, "line %d: got %s %zu units %zu segments\n", line,
                s.encoding == MSG_GSM7 ? "gsm7" : "ucs2", s.units, s.segments);
    CHECK_INT(s.encoding, encoding);
    CHECK_INT(s.units, units);
    CHECK_INT(s.segments, segments);
}

#define SMS(text, enc, units, segments) check_sms(text, enc, units, segments, __LINE__)

/* the same text n times, counted */
static void check_rep(const char *unit, size_t n, enum msg_encoding enc, size_t units,
                      size_t segments, int line)
{
    char *text = rep(unit, n);
    check_sms(text, enc, units, segments, line);
    free(text);
}

#define REP(unit, n, enc, units, segments) check_rep(unit, n, enc, units, segments, __LINE__)

static void test_gsm7_lengths(void)
{
    SMS("", MSG_GSM7, 0, 0);
    SMS("Hello", MSG_GSM7, 5, 1);
    REP("a", 160, MSG_GSM7, 160, 1);
    REP("a", 161, MSG_GSM7, 161, 2);
    REP("a", 306, MSG_GSM7, 306, 2);
    REP("a", 307, MSG_GSM7, 307, 3);
    REP("a", 459, MSG_GSM7, 459, 3);
    REP("a", 460, MSG_GSM7, 460, 4);
}

/* Every character of the default alphabet (0x1B, the escape, aside) is
 * one septet, in its code order; the extension table's are two. */
static void test_gsm7_table(void)
{
    SMS("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
        MSG_GSM7, 127, 1);
    SMS("€", MSG_GSM7, 2, 1);
    SMS("^{}\\[~]|€\f", MSG_GSM7, 20, 1);
    SMS("a^b", MSG_GSM7, 4, 1);
    REP("€", 80, MSG_GSM7, 160, 1);
    REP("€", 81, MSG_GSM7, 162, 2);

    /* outside it: the text is UCS-2 */
    SMS("`", MSG_UCS2, 1, 1);
    SMS("ç", MSG_UCS2, 1, 1); /* only the capital is in the table */
    SMS("Ça va", MSG_GSM7, 5, 1);
    SMS("á", MSG_UCS2, 1, 1);
    SMS("Ó", MSG_UCS2, 1, 1);
    SMS("a\tb", MSG_UCS2, 3, 1);
    SMS("\xc2\xa0", MSG_UCS2, 1, 1); /* a no-break space */
    SMS("“quoted”", MSG_UCS2, 8, 1); /* typographic quotes */
    SMS("2 — 3", MSG_UCS2, 5, 1);    /* an em dash */
    SMS("Α", MSG_UCS2, 1, 1);        /* Greek capital alpha, not Latin A */
}

/* An escape pair is never split: 152 septets and a euro sign leave one
 * septet of the first segment empty, so 306 septets take three segments
 * where 306 plain ones take two. */
static void test_escape_not_split(void)
{
    char *head = rep("a", 152), *tail = rep("a", 152);
    char *with_euro = cat(head, "€");
    char *text = cat(with_euro, tail);
    SMS(text, MSG_GSM7, 306, 3);
    free(text);
    free(with_euro);
    free(head);

    /* one septet earlier the pair fits: two segments */
    head = rep("a", 151);
    with_euro = cat(head, "€");
    text = cat(with_euro, tail);
    SMS(text, MSG_GSM7, 305, 2);
    free(text);
    free(with_euro);
    free(head);
    free(tail);

    /* a single segment has no header: 158 + 2 fits in 160 */
    head = rep("a", 158);
    text = cat(head, "€");
    SMS(text, MSG_GSM7, 160, 1);
    free(text);
    free(head);
}

static void test_ucs2(void)
{
    SMS("Привет", MSG_UCS2, 6, 1);
    REP("я", 70, MSG_UCS2, 70, 1);
    REP("я", 71, MSG_UCS2, 71, 2);
    REP("я", 134, MSG_UCS2, 134, 2);
    REP("я", 135, MSG_UCS2, 135, 3);
    REP("Ё", 201, MSG_UCS2, 201, 3);
    REP("Ё", 202, MSG_UCS2, 202, 4);

    /* outside the BMP: a surrogate pair, two units */
    SMS("😀", MSG_UCS2, 2, 1);
    SMS("a😀b", MSG_UCS2, 4, 1);
    REP("😀", 35, MSG_UCS2, 70, 1);
    REP("😀", 36, MSG_UCS2, 72, 2);

    /* one Cyrillic letter makes the whole text UCS-2, extension
     * characters one unit each */
    char *latin = rep("a", 100);
    char *text = cat(latin, "я");
    SMS(text, MSG_UCS2, 101, 2);
    free(text);
    SMS("Dr Иванов {10€}", MSG_UCS2, 15, 1);
    free(latin);
}

static void test_invalid_utf8(void)
{
    SMS("abc\xff", MSG_UCS2, 4, 1);
    SMS("\xe2\x82", MSG_UCS2, 2, 1);         /* a euro sign cut short */
    SMS("\xe2\x82z", MSG_UCS2, 3, 1);        /* ... and text after it */
    SMS("\xc0\xaf", MSG_UCS2, 2, 1);         /* an overlong '/' */
    SMS("\xed\xa0\x80", MSG_UCS2, 3, 1);     /* a surrogate */
    SMS("\xf4\x90\x80\x80", MSG_UCS2, 4, 1); /* above U+10FFFF */
    SMS("\x80", MSG_UCS2, 1, 1);             /* a lone continuation byte */
    REP("\xfe", 71, MSG_UCS2, 71, 2);
}

static void test_cost(void)
{
    CHECK_INT(msg_sms_cost_minor(0, 3.35), 0);
    CHECK_INT(msg_sms_cost_minor(1, 3.35), 335);
    CHECK_INT(msg_sms_cost_minor(2, 3.35), 670);
    CHECK_INT(msg_sms_cost_minor(3, 0.0), 0);
    CHECK_INT(msg_sms_cost_minor(1, 0.004), 0);
    CHECK_INT(msg_sms_cost_minor(1, 0.005), 1); /* a half goes up */
    CHECK_INT(msg_sms_cost_minor(2, 0.125), 25);
    CHECK_INT(msg_sms_cost_minor(1, 1.005), 101); /* 1.005 is 1.00499... in binary */
    CHECK_INT(msg_sms_cost_minor(3, 1.005), 302);
    CHECK_INT(msg_sms_cost_minor(4, 0.0249), 10);
    CHECK_INT(msg_sms_cost_minor(7, 4.5), 3150);
}

static void check_render(const char *tmpl, const struct msg_values *v, const char *want, int line)
{
    char *got = msg_render(tmpl, v);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "line %d:\n", line);
    CHECK_STR(got, want);
    free(got);
}

#define RENDER(tmpl, v, want) check_render(tmpl, v, want, __LINE__)

static void test_render_zones(void)
{
    /* Moscow, UTC+3 all year: 11:30 UTC is 14:30 */
    struct msg_values v = {.tz = "Europe/Moscow",
                           .visit_ms = cf_test_utc_ms(2026, 12, 5, 11, 30, 0),
                           .language = "ru"};
    RENDER("{date} {time}", &v, "05.12 14:30");
    v.language = "en";
    RENDER("{date} {time}", &v, "Dec 5 14:30");
    /* 22:15 UTC is already the next day in Moscow */
    v.visit_ms = cf_test_utc_ms(2026, 12, 31, 22, 15, 0);
    v.language = "ru";
    RENDER("{date} {time}", &v, "01.01 01:15");
    v.language = NULL; /* as ru */
    RENDER("{date}", &v, "01.01");

    /* New York: clocks go forward at 02:00 on 2026-03-08 and back at
     * 02:00 on 2026-11-01 */
    v.tz = "America/New_York";
    v.language = "en";
    v.visit_ms = cf_test_utc_ms(2026, 3, 8, 6, 30, 0); /* EST, UTC-5 */
    RENDER("{date} {time}", &v, "Mar 8 01:30");
    v.visit_ms = cf_test_utc_ms(2026, 3, 8, 15, 0, 0); /* EDT, UTC-4 */
    RENDER("{date} {time}", &v, "Mar 8 11:00");
    v.visit_ms = cf_test_utc_ms(2026, 3, 9, 3, 30, 0); /* the evening before in UTC terms */
    RENDER("{date} {time}", &v, "Mar 8 23:30");
    v.language = "ru";
    RENDER("{date} {time}", &v, "08.03 23:30");
    v.language = "en";
    v.visit_ms = cf_test_utc_ms(2026, 11, 1, 5, 30, 0); /* 01:30 EDT */
    RENDER("{date} {time}", &v, "Nov 1 01:30");
    v.visit_ms = cf_test_utc_ms(2026, 11, 1, 6, 30, 0); /* 01:30 again, EST */
    RENDER("{date} {time}", &v, "Nov 1 01:30");
    v.visit_ms = cf_test_utc_ms(2026, 11, 1, 14, 0, 0); /* 09:00 EST */
    RENDER("{date} {time}", &v, "Nov 1 09:00");
    v.visit_ms = cf_test_utc_ms(2026, 10, 31, 14, 0, 0); /* 10:00 EDT the day before */
    RENDER("{date} {time}", &v, "Oct 31 10:00");

    /* a zone it does not know: no date or time rather than a wrong one */
    v.tz = "Mars/Olympus";
    RENDER("at {date} {time}.", &v, "at  .");
    v.tz = NULL;
    RENDER("at {time}", &v, "at ");
}

static void test_render_placeholders(void)
{
    struct msg_values v = {.first_name = "Анна",
                           .doctor = "Иванов И. И.",
                           .clinic = "Клиника на Тверской",
                           .address = "Тверская ул., 12",
                           .tz = "Europe/Moscow",
                           .visit_ms = cf_test_utc_ms(2026, 3, 8, 7, 5, 0),
                           .language = "ru"};
    RENDER("{first_name}|{doctor}|{clinic}|{address}|{date}|{time}", &v,
           "Анна|Иванов И. И.|Клиника на Тверской|Тверская ул., 12|08.03|10:05");
    RENDER("{time}{time}", &v, "10:0510:05");
    RENDER("no placeholders", &v, "no placeholders");
    RENDER("", &v, "");

    /* NULL and "" render empty */
    v.first_name = NULL;
    v.doctor = "";
    RENDER("[{first_name}][{doctor}]", &v, "[][]");

    /* a '{' that starts no known placeholder is text */
    v.first_name = "Anna";
    RENDER("Hi {name}, {first_name}", &v, "Hi {name}, Anna");
    RENDER("{{first_name}}", &v, "{Anna}");
    RENDER("{} { first_name } {first_name", &v, "{} { first_name } {first_name");
    RENDER("{First_Name} {", &v, "{First_Name} {");
    RENDER("{date}{", &v, "08.03{");
}

/* The result is at most MSG_TEXT_MAX bytes, never ending inside a
 * character. */
static void test_render_cut(void)
{
    struct msg_values v = {.tz = "Europe/Moscow", .language = "ru"};
    char *tmpl, *got, *head;

    tmpl = rep("a", MSG_TEXT_MAX + 500);
    got = msg_render(tmpl, &v);
    CHECK_INT(strlen(got), MSG_TEXT_MAX);
    free(got);
    free(tmpl);

    /* "я" (2 bytes) at 999-1000: cut before it */
    head = rep("a", MSG_TEXT_MAX - 1);
    tmpl = cat(head, "я");
    got = msg_render(tmpl, &v);
    CHECK_INT(strlen(got), MSG_TEXT_MAX - 1);
    free(got);
    free(tmpl);
    free(head);

    /* exactly MSG_TEXT_MAX bytes, ending with a whole "я": kept */
    head = rep("a", MSG_TEXT_MAX - 2);
    tmpl = cat(head, "я");
    got = msg_render(tmpl, &v);
    CHECK_STR(got, tmpl);
    free(got);
    free(tmpl);
    free(head);

    /* a value that runs over: an emoji (4 bytes) at 998-1001 goes whole */
    head = rep("b", MSG_TEXT_MAX - 2);
    v.first_name = tmpl = cat(head, "😀 and more");
    got = msg_render("{first_name}", &v);
    CHECK_INT(strlen(got), MSG_TEXT_MAX - 2);
    CHECK_STR(got, head);
    free(got);
    free(tmpl);
    free(head);

    /* all Cyrillic (2 bytes each): 500 whole letters */
    tmpl = rep("ж", 700);
    got = msg_render(tmpl, &v);
    CHECK_INT(strlen(got), MSG_TEXT_MAX);
    free(got);
    free(tmpl);
}

static void test_template_check(void)
{
    char errbuf[128];
    CHECK_INT(msg_template_check("", errbuf, sizeof(errbuf)), 0);
    CHECK_INT(msg_template_check("{first_name} {doctor} {date} {time} {clinic} {address}", errbuf,
                                 sizeof(errbuf)),
              0);
    CHECK_INT(msg_template_check("{} { x } {", errbuf, sizeof(errbuf)), 0);
    CHECK_INT(msg_template_check("Hi {name}!", errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_STR(errbuf, "unknown placeholder {name}");
    CHECK_INT(msg_template_check("{date} {Time}", errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_STR(errbuf, "unknown placeholder {Time}");
    CHECK_INT(msg_template_check("{{foo_1}}", errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_STR(errbuf, "unknown placeholder {foo_1}");

    /* every built-in template passes, those for a gateway that brings no
     * reply back too */
    const char *langs[] = {"ru", "en"}, *channels[] = {"call", "sms", "reinvite", "nps", "recall"};
    for (size_t l = 0; l < 2; l++)
        for (size_t c = 0; c < 5; c++)
            for (int replies = 0; replies < 2; replies++)
                CHECK_INT(msg_template_check(
                              msg_template_pick(NULL, NULL, langs[l], channels[c], replies), errbuf,
                              sizeof(errbuf)),
                          0);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static void test_defaults(void)
{
    const char *ru_call = msg_template_pick(NULL, NULL, "ru", "call", 1);
    const char *ru_sms = msg_template_pick(NULL, NULL, "ru", "sms", 1);
    const char *en_call = msg_template_pick(NULL, NULL, "en", "call", 1);
    const char *en_sms = msg_template_pick(NULL, NULL, "en", "sms", 1);
    CHECK(ends_with(ru_call, "Нажмите 1, чтобы подтвердить визит, 2 — чтобы отменить, 3 — чтобы "
                             "перенести, 9 — чтобы мы больше не звонили."));
    CHECK(ends_with(ru_sms, "Ответьте 1 — подтвердить, 2 — отменить. Отписаться: СТОП"));
    CHECK(ends_with(en_call, "Press 1 to confirm your visit, 2 to decline, 3 to reschedule, or 9 "
                             "if you do not want us to call you again."));
    CHECK(ends_with(en_sms, "Reply 1 to confirm, 2 to cancel; STOP to unsubscribe"));
    CHECK(strstr(ru_sms, "{date}") && strstr(ru_sms, "{time}") && strstr(ru_sms, "{clinic}") &&
          strstr(ru_sms, "{address}"));
    CHECK(strstr(en_sms, "{date}") && strstr(en_sms, "{time}") && strstr(en_sms, "{clinic}") &&
          strstr(en_sms, "{address}"));

    /* rendered with usual values: the ru SMS in two UCS-2 segments, the
     * en one in one GSM-7 segment */
    struct msg_values v = {.first_name = "Екатерина",
                           .doctor = "Смирнова Е. А.",
                           .clinic = "Клиника на Тверской",
                           .address = "Москва, Тверская ул., 12",
                           .tz = "Europe/Moscow",
                           .visit_ms = cf_test_utc_ms(2026, 12, 5, 11, 30, 0),
                           .language = "ru"};
    struct msg_segments s;
    char *text = msg_render(ru_sms, &v);
    msg_sms_segments(text, &s);
    CHECK_INT(s.encoding, MSG_UCS2);
    CHECK(s.segments <= 2);
    CHECK_STR(text, "Ждём вас 05.12 в 14:30: Клиника на Тверской, Москва, Тверская "
                    "ул., 12. Ответьте 1 — подтвердить, 2 — отменить. Отписаться: СТОП");
    free(text);

    v = (struct msg_values){.first_name = "Emily",
                            .doctor = "Dr Jones",
                            .clinic = "Riverside Dental",
                            .address = "120 Main St, Suite 4",
                            .tz = "America/New_York",
                            .visit_ms = cf_test_utc_ms(2026, 11, 2, 14, 30, 0),
                            .language = "en"};
    text = msg_render(en_sms, &v);
    msg_sms_segments(text, &s);
    CHECK_INT(s.encoding, MSG_GSM7);
    CHECK_INT(s.segments, 1);
    CHECK_STR(text, "Emily, a reminder of your visit on Nov 2 at 09:30: Riverside Dental, 120 "
                    "Main St, Suite 4. Reply 1 to confirm, 2 to cancel; STOP to unsubscribe");
    free(text);
}

/* SMS.ru reports delivery only: a built-in text sent through it asks for
 * no reply that would never come back, and names no СТОП that would stop
 * nothing; a text the clinic wrote is the clinic's. */
static void test_texts_for_a_gateway_without_replies(void)
{
    const char *asks[] = {"Ответьте", "СТОП", "Reply", "STOP"};
    const char *langs[] = {"ru", "en"}, *channels[] = {"sms", "reinvite", "recall"};
    for (size_t l = 0; l < 2; l++)
        for (size_t c = 0; c < 3; c++) {
            const char *with = msg_template_pick(NULL, NULL, langs[l], channels[c], 1);
            const char *without = msg_template_pick(NULL, NULL, langs[l], channels[c], 0);
            int asked = 0;
            for (size_t a = 0; a < 4; a++) {
                asked |= strstr(with, asks[a]) != NULL;
                CHECK(strstr(without, asks[a]) == NULL);
            }
            CHECK(asked);
            CHECK(strstr(without, l == 0 ? "позвоните" : "call") ||
                  strstr(without, l == 0 ? "Позвоните" : "call"));
        }
    /* the robot's call and the survey's link are the same either way */
    CHECK_STR(msg_template_pick(NULL, NULL, "ru", "call", 0),
              msg_template_pick(NULL, NULL, "ru", "call", 1));
    CHECK_STR(msg_template_pick(NULL, NULL, "ru", "nps", 0),
              msg_template_pick(NULL, NULL, "ru", "nps", 1));
    json_t *j_clinic = json_loads("{\"templates\": {\"ru\": {\"sms\": \"Ответьте 1\"}}}", 0, NULL);
    CHECK_STR(msg_template_pick(NULL, j_clinic, "ru", "sms", 0), "Ответьте 1");
    json_decref(j_clinic);

    /* the ru text still fits two UCS-2 segments with a usual clinic */
    struct msg_values v = {.clinic = "Клиника на Тверской",
                           .address = "Москва, Тверская ул., 12",
                           .tz = "Europe/Moscow",
                           .visit_ms = cf_test_utc_ms(2026, 12, 5, 11, 30, 0),
                           .language = "ru"};
    struct msg_segments s;
    char *text = msg_render(msg_template_pick(NULL, NULL, "ru", "sms", 0), &v);
    msg_sms_segments(text, &s);
    CHECK(s.segments <= 2);
    CHECK_STR(text, "Ждём вас 05.12 в 14:30: Клиника на Тверской, Москва, Тверская ул., 12. "
                    "Если планы изменились, позвоните нам.");
    free(text);
}

static void test_pick_layers(void)
{
    json_t *j_net = json_loads("{\"offsets_hours\": [24], \"templates\": {"
                               " \"ru\": {\"sms\": \"N ru sms {date}\"},"
                               " \"en\": {\"call\": \"N en call\", \"sms\": \"N en sms\"}}}",
                               0, NULL);
    json_t *j_clinic = json_loads("{\"templates\": {\"ru\": {\"sms\": \"C ru sms\"},"
                                  " \"en\": {\"call\": \"\"}}}",
                                  0, NULL);
    const char *ru_call = msg_template_pick(NULL, NULL, "ru", "call", 1);

    /* a language it does not have is ru */
    CHECK_STR(msg_template_pick(NULL, NULL, "de", "call", 1), ru_call);
    CHECK_STR(msg_template_pick(NULL, NULL, NULL, "call", 1), ru_call);
    CHECK_STR(msg_template_pick(NULL, NULL, "ru-RU", "call", 1), ru_call);
    CHECK(msg_template_pick(NULL, NULL, "ru", "fax", 1) == NULL);
    CHECK(msg_template_pick(NULL, NULL, "ru", NULL, 1) == NULL);

    /* the network's over the defaults, member by member */
    CHECK_STR(msg_template_pick(j_net, NULL, "ru", "sms", 1), "N ru sms {date}");
    CHECK_STR(msg_template_pick(j_net, NULL, "ru", "call", 1), ru_call);
    CHECK_STR(msg_template_pick(j_net, NULL, "en", "call", 1), "N en call");
    CHECK_STR(msg_template_pick(j_net, NULL, "fr", "sms", 1), "N ru sms {date}");

    /* the clinic's over the network's; an empty string is no template */
    CHECK_STR(msg_template_pick(j_net, j_clinic, "ru", "sms", 1), "C ru sms");
    CHECK_STR(msg_template_pick(j_net, j_clinic, "en", "call", 1), "N en call");
    CHECK_STR(msg_template_pick(j_net, j_clinic, "en", "sms", 1), "N en sms");
    CHECK_STR(msg_template_pick(NULL, j_clinic, "ru", "sms", 1), "C ru sms");
    CHECK_STR(msg_template_pick(NULL, j_clinic, "en", "sms", 1),
              msg_template_pick(NULL, NULL, "en", "sms", 1));

    /* shapes clinicflowctl refuses are passed over, not trusted */
    json_t *j_odd = json_loads("{\"templates\": {\"ru\": {\"sms\": 5}, \"en\": \"x\"}}", 0, NULL);
    CHECK_STR(msg_template_pick(j_odd, NULL, "ru", "sms", 1),
              msg_template_pick(NULL, NULL, "ru", "sms", 1));
    CHECK_STR(msg_template_pick(j_odd, NULL, "en", "sms", 1),
              msg_template_pick(NULL, NULL, "en", "sms", 1));
    json_decref(j_odd);
    json_decref(j_net);
    json_decref(j_clinic);
}

int main(void)
{
    test_gsm7_lengths();
    test_gsm7_table();
    test_escape_not_split();
    test_ucs2();
    test_invalid_utf8();
    test_cost();
    test_render_zones();
    test_render_placeholders();
    test_render_cut();
    test_template_check();
    test_defaults();
    test_texts_for_a_gateway_without_replies();
    test_pick_layers();
    return cf_test_done();
}
