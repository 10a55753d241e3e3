/*
 * Unit tests for common/phone.h: one table of raw values from the formats
 * PROVIDERS.md section 10 lists, with the expected kind and output.
 */
#include <string.h>

#include "common/phone.h"
#include "cftest.h"

struct phone_case {
    const char *raw;
    const char *cc;
    enum cf_phone_kind kind;
    const char *out; /* "" when nothing is expected */
};

static const struct phone_case cases[] = {
    /* Russian national and international forms */
    {"8 916 123-45-67", "7", CF_PHONE_E164, "+79161234567"},
    {"8 (916) 123-45-67", "7", CF_PHONE_E164, "+79161234567"},
    {"8 916 123 45 67", "7", CF_PHONE_E164, "+79161234567"},
    {"+7 (916) 123-45-67", "7", CF_PHONE_E164, "+79161234567"},
    {"9161234567", "7", CF_PHONE_E164, "+79161234567"},
    {"79161234567", "7", CF_PHONE_E164, "+79161234567"},
    {"+79161234567", "7", CF_PHONE_E164, "+79161234567"},
    {"89161234567", "7", CF_PHONE_E164, "+79161234567"},
    {"84951111111", "7", CF_PHONE_E164, "+74951111111"},
    {"  +79161234567\t", "7", CF_PHONE_E164, "+79161234567"},
    {"77015550102", "7", CF_PHONE_E164, "+77015550102"}, /* Kazakhstan */
    /* international */
    {"+44 20 7946 0958", "7", CF_PHONE_E164, "+442079460958"},
    {"0044 20 7946 0958", "7", CF_PHONE_E164, "+442079460958"},
    {"+16466063895", "7", CF_PHONE_E164, "+16466063895"},
    {"%2B551135892112", "7", CF_PHONE_E164, "+551135892112"},
    {"16315551181", "7", CF_PHONE_E164, "+16315551181"}, /* WhatsApp wa_id */
    {"60173526233", "7", CF_PHONE_E164, "+60173526233"},
    {"998901234567", "7", CF_PHONE_E164, "+998901234567"},
    {"+972511123123", "7", CF_PHONE_E164, "+972511123123"},
    {"+1234567890", "7", CF_PHONE_E164, "+1234567890"},
    {"+123456789012345", "7", CF_PHONE_E164, "+123456789012345"}, /* 15 digits */
    /* URI schemes */
    {"tel:+79161234567", "7", CF_PHONE_E164, "+79161234567"},
    {"whatsapp:+16466063895", "7", CF_PHONE_E164, "+16466063895"},
    {"sip:79161234567@pbx.example", "7", CF_PHONE_E164, "+79161234567"},
    {"sip:101@pbx.example", "7", CF_PHONE_EXTENSION, "101"},
    {"sip:user3@vpbx400.mangosip.ru", "7", CF_PHONE_INVALID, ""},
    {"client:u_alice", "7", CF_PHONE_INVALID, ""},
    {"sip:anonymous@anonymous.invalid", "7", CF_PHONE_ANONYMOUS, ""},
    /* extensions */
    {"101", "7", CF_PHONE_EXTENSION, "101"},
    {"12", "7", CF_PHONE_EXTENSION, "12"},
    {"12345", "7", CF_PHONE_EXTENSION, "12345"},
    /* withheld */
    {"", "7", CF_PHONE_ANONYMOUS, ""},
    {"   ", "7", CF_PHONE_ANONYMOUS, ""},
    {NULL, "7", CF_PHONE_ANONYMOUS, ""},
    {"anonymous", "7", CF_PHONE_ANONYMOUS, ""},
    {"Anonymous", "7", CF_PHONE_ANONYMOUS, ""},
    /* the words Twilio's keypad stand-ins are mapped to (providers/twilio.c) */
    {"Blocked", "7", CF_PHONE_ANONYMOUS, ""},
    {"Unavailable", "7", CF_PHONE_ANONYMOUS, ""},
    {"Private", "7", CF_PHONE_ANONYMOUS, ""},
    {"unknown", "7", CF_PHONE_ANONYMOUS, ""},
    {"<unknown>", "7", CF_PHONE_ANONYMOUS, ""},
    {"restricted", "7", CF_PHONE_ANONYMOUS, ""},
    {"s", "7", CF_PHONE_ANONYMOUS, ""},
    /* not phone numbers */
    {"1", "7", CF_PHONE_INVALID, ""},
    {"123456", "7", CF_PHONE_INVALID, ""},
    {"0815432345", "7", CF_PHONE_INVALID, ""},
    {"012345101", "7", CF_PHONE_INVALID, ""},
    {"8916123456", "7", CF_PHONE_INVALID, ""}, /* 10 digits, not 9xx */
    {"+7 916 123", "7", CF_PHONE_INVALID, ""},
    {"+791612345678", "7", CF_PHONE_INVALID, ""},     /* +7 must be 11 digits */
    {"+1234567890123456", "7", CF_PHONE_INVALID, ""}, /* 16 digits */
    {"+123", "7", CF_PHONE_INVALID, ""},
    {"+", "7", CF_PHONE_INVALID, ""},
    {"call me", "7", CF_PHONE_INVALID, ""},
    {"8916abc4567", "7", CF_PHONE_INVALID, ""},
    {"+7916*1234567", "7", CF_PHONE_INVALID, ""},
    {"7+9161234567", "7", CF_PHONE_INVALID, ""},
    {"000000000000000000000000", "7", CF_PHONE_INVALID, ""},
    /* national RU forms only apply with country code 7 */
    {"9161234567", "44", CF_PHONE_INVALID, ""},
    {"9161234567", NULL, CF_PHONE_INVALID, ""},
};

/* cf_phone_find: the phone a person wrote in a message, where it is. */
struct find_case {
    const char *text;
    const char *out;   /* "" when there is none */
    const char *match; /* the text it was read from */
};

static const struct find_case finds[] = {
    {"Здравствуйте! Хочу на чистку, мой номер 8 (916) 123-45-67, Анна", "+79161234567",
     "8 (916) 123-45-67"},
    {"Перезвоните: +7 916 123 45 67.", "+79161234567", "+7 916 123 45 67"},
    {"89161234567", "+79161234567", "89161234567"},
    {"тел.9161234567 после 18", "+79161234567", "9161234567"},
    {"call +44 20 7946 0958 please", "+442079460958", "+44 20 7946 0958"},
    {"записаться на 12.05.2026 в 10:00, телефон 8-495-111-11-11", "+74951111111",
     "8-495-111-11-11"},
    /* the first of two */
    {"79161234567 или 79031234567", "+79161234567", "79161234567"},
    /* not phones: dates, times, prices, order and card numbers, words */
    {"приду 12.05.2026 в 10:00", "", ""},
    {"стоимость 15 000 руб", "", ""},
    {"заказ №1234567890", "", ""},
    {"заказ 12345678901234", "", ""},
    {"карта 4276 1234 5678 9012", "", ""},
    {"код 8916123456", "", ""}, /* 10 digits not from 9 */
    {"id79161234567", "", ""},
    {"79161234567abc", "", ""},
    {"8916123456789", "", ""},
    {"+7 916 123", "", ""},
    {"", "", ""},
};

static void test_find(void)
{
    for (size_t i = 0; i < sizeof(finds) / sizeof(finds[0]); i++) {
        const struct find_case *c = &finds[i];
        char out[CF_PHONE_MAX];
        size_t at = 99, n = 99;
        const int found = cf_phone_find(c->text, strlen(c->text), "7", out, sizeof(out), &at, &n);
        if (found != (*c->out != '\0'))
            fprintf(stderr, "find case %zu: '%s'\n", i, c->text);
        CHECK_INT(found, *c->out != '\0');
        CHECK_STR(out, c->out);
        if (found) {
            CHECK_INT((int)n, (int)strlen(c->match));
            CHECK(strncmp(c->text + at, c->match, n) == 0);
        }
    }
    /* the national forms need the country code 7 */
    char out[CF_PHONE_MAX];
    size_t at, n;
    CHECK_INT(cf_phone_find("89161234567", 11, "44", out, sizeof(out), &at, &n), 0);
    CHECK_INT(cf_phone_find("+79161234567", 12, NULL, out, sizeof(out), &at, &n), 1);
    CHECK_STR(out, "+79161234567");
    /* only len bytes are read */
    CHECK_INT(cf_phone_find("8916123456789", 11, "7", out, sizeof(out), &at, &n), 1);
}

int main(void)
{
    test_find();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct phone_case *c = &cases[i];
        char out[CF_PHONE_MAX];
        memset(out, 'x', sizeof(out));
        enum cf_phone_kind kind = cf_phone_normalize(c->raw, c->cc, out, sizeof(out));
        if (kind != c->kind)
            fprintf(stderr, "case %zu: raw '%s'\n", i, c->raw ? c->raw : "(null)");
        CHECK_INT(kind, c->kind);
        CHECK_STR(out, c->out);
    }

    /* A buffer too small for the result is not overrun. */
    char tiny[5];
    CHECK_INT(cf_phone_normalize("+79161234567", "7", tiny, sizeof(tiny)), CF_PHONE_INVALID);
    CHECK_STR(tiny, "");
    return cf_test_done();
}
