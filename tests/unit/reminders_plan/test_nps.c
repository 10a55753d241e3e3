/*
 * The NPS survey: an unguessable, stable token; the page in the patient's
 * language with the clinic's name escaped; the form's answer read
 * strictly. The token's value is checked against a computation of our
 * own (python3 hmac: HMAC-SHA256 of "nps", 0x1F and the job id with the
 * key "s3cret", its first 32 hex digits).
 */
#include "nps_testable.h"

#include <stdlib.h>
#include <string.h>

#include "cftest.h"
#include "common/err.h"

static void test_token(void)
{
    char a[NPS_TOKEN_LEN + 1], b[NPS_TOKEN_LEN + 1];
    nps_token("s3cret", "9d3e7b21-4c6a-5f08-a1e2-3b4c5d6e7f80", a);
    nps_token("s3cret", "9d3e7b21-4c6a-5f08-a1e2-3b4c5d6e7f80", b);
    CHECK_STR(a, b);
    CHECK_STR(a, "edf03d5c1572ec19b6ac86d2632f15bb");
    CHECK(nps_token_ok(a));
    nps_token("other", "9d3e7b21-4c6a-5f08-a1e2-3b4c5d6e7f80", b);
    CHECK(strcmp(a, b) != 0);
    CHECK(!nps_token_ok("EDF03D5C1572EC19B6AC86D2632F15BB"));
    CHECK(!nps_token_ok("a0c4"));
    CHECK(!nps_token_ok(NULL));
    CHECK(!nps_token_ok("../../../../etc/passwd/aaaaaaaaaaaaa"));
}

static void test_page(void)
{
    char *html = nps_page(NPS_ASK, "ru", "Клиника <Ромашка> & Co", "abc");
    CHECK(strstr(html, "Клиника &lt;Ромашка&gt; &amp; Co") != NULL);
    CHECK(strstr(html, "<form method=\"post\" action=\"abc\">") != NULL);
    CHECK(strstr(html, "value=\"0\"") && strstr(html, "value=\"10\""));
    CHECK(strstr(html, "порекомендуете") != NULL);
    CHECK(strstr(html, "<script") == NULL && strstr(html, "http") == NULL);
    free(html);
    html = nps_page(NPS_INVALID, "en", NULL, "abc");
    CHECK(strstr(html, "Choose a score from 0 to 10.") && strstr(html, "recommend"));
    free(html);
    html = nps_page(NPS_ANSWERED, "en", "Demo", "abc");
    CHECK(strstr(html, "answered already") && !strstr(html, "<form"));
    free(html);
    html = nps_page(NPS_EXPIRED, NULL, "Demo", "abc");
    CHECK(strstr(html, "истёк") != NULL);
    free(html);
}

static int answer(const char *body, int *score, const char **comment, const char **field,
                  struct cf_form *form)
{
    char errbuf[128];
    CHECK_INT(cf_form_parse(body, strlen(body), 8, form, errbuf, sizeof(errbuf)), 0);
    return nps_read_answer(form, score, comment, field);
}

static void test_answer(void)
{
    struct cf_form f = {0};
    int score;
    const char *comment, *field;
    CHECK_INT(answer("score=9&comment=%D0%B2%D1%81%D1%91+%D1%85%D0%BE%D1%80%D0%BE%D1%88%D0%BE",
                     &score, &comment, &field, &f),
              0);
    CHECK_INT(score, 9);
    CHECK_STR(comment, "всё хорошо");
    cf_form_free(&f);
    CHECK_INT(answer("score=0&comment=+++", &score, &comment, &field, &f), 0);
    CHECK_INT(score, 0);
    CHECK(comment == NULL);
    cf_form_free(&f);
    const char *bad[][2] = {
        {"comment=x", "score"},
        {"score=11", "score"},
        {"score=-1", "score"},
        {"score=5&score=6", "score"},
        {"score=", "score"},
        {"score=5x", "score"},
        {"score=5&name=Ivan", "name"},
        {"score=5&comment=a%00b", "comment"},
        {"score=5&comment=%FF", "comment"}, /* not UTF-8: a 400, not the database's 500 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(answer(bad[i][0], &score, &comment, &field, &f), CF_EINVAL);
        CHECK_STR(field, bad[i][1]);
        cf_form_free(&f);
    }
    char big[1200] = "score=5&comment=";
    memset(big + strlen(big), 'a', 1001);
    CHECK_INT(answer(big, &score, &comment, &field, &f), CF_EINVAL);
    CHECK_STR(field, "comment");
    cf_form_free(&f);
    /* characters, as the page's textarea counts them: 600 Russian letters
     * (1,200 bytes) are taken, 1,001 are not */
    for (int n = 600; n <= 1001; n += 401) {
        char cyr[12000] = "score=5&comment=";
        for (int k = 0; k < n; k++)
            strcat(cyr, "%D1%8F"); /* "я" */
        CHECK_INT(answer(cyr, &score, &comment, &field, &f), n == 600 ? 0 : CF_EINVAL);
        if (n == 600)
            CHECK_INT((int)strlen(comment), 1200);
        cf_form_free(&f);
    }
    CHECK_STR(nps_category(10), "promoter");
    CHECK_STR(nps_category(9), "promoter");
    CHECK_STR(nps_category(8), "passive");
    CHECK_STR(nps_category(7), "passive");
    CHECK_STR(nps_category(6), "detractor");
    CHECK_STR(nps_category(0), "detractor");
}

static void check_sms(const char *body, int want_score, const char *want_comment)
{
    int score;
    char comment[NPS_COMMENT_MAX + 1];
    CHECK_INT(nps_read_sms(body, &score, comment), 0);
    CHECK_INT(score, want_score);
    CHECK_STR(comment, want_comment);
}

static void test_sms_answer(void)
{
    check_sms("9", 9, "");
    check_sms("  10 ", 10, "");
    check_sms("0", 0, "");
    check_sms("9 спасибо", 9, "спасибо");
    check_sms("\n7, врач отличный \r\n", 7, "врач отличный");
    check_sms("8! ", 8, "");
    check_sms("10/10", 10, "");
    check_sms("9/10 всё хорошо", 9, "всё хорошо");
    check_sms("5 - долго ждали", 5, "долго ждали");
    check_sms("06", 6, "");

    const char *bad[] = {"",   "   ", "11",      "100",    "-1",     "+9",  "9.5", "9,5",
                         "3D", "2й",  "спасибо", "девять", "10/100", "1/2", NULL};
    for (size_t i = 0; bad[i]; i++) {
        int score = 5;
        char comment[NPS_COMMENT_MAX + 1] = "x";
        CHECK_INT(nps_read_sms(bad[i], &score, comment), CF_EINVAL);
        CHECK_INT(score, -1);
        CHECK_STR(comment, "");
    }
    CHECK_INT(nps_read_sms(NULL, &(int){0}, (char[NPS_COMMENT_MAX + 1]){0}), CF_EINVAL);

    /* a long comment is cut at a character boundary, never inside one */
    char body[3 + 2 * 600 + 1] = "9 a";
    for (size_t i = 0; i < 600; i++)
        memcpy(body + 3 + 2 * i, "ж", 2);
    body[sizeof(body) - 1] = '\0';
    int score;
    char comment[NPS_COMMENT_MAX + 1];
    CHECK_INT(nps_read_sms(body, &score, comment), 0);
    CHECK_INT(score, 9);
    CHECK_INT(strlen(comment), NPS_COMMENT_MAX - 1); /* "a" and 499 whole letters */
    CHECK(strncmp(comment, "aжж", 5) == 0);
    CHECK_INT(((unsigned char)comment[NPS_COMMENT_MAX - 2] & 0xC0), 0x80);
    body[3 + 2 * 450] = '\0'; /* under the limit: kept whole */
    CHECK_INT(nps_read_sms(body, &score, comment), 0);
    CHECK_INT(strlen(comment), 1 + 2 * 450);
}

/* The latest SMS sent to the phone decides what a reply answers. */
static void test_reply_target(void)
{
    int score;
    char comment[NPS_COMMENT_MAX + 1];
    CHECK_INT(nps_reply_target("nps", 0, "9 спасибо", &score, comment), NPS_REPLY_SURVEY);
    CHECK_INT(score, 9);
    CHECK_STR(comment, "спасибо");
    /* after a survey's SMS, 1 is a score */
    CHECK_INT(nps_reply_target("nps", 0, "1", &score, comment), NPS_REPLY_SURVEY);
    CHECK_INT(score, 1);
    /* after a reminder's, a re-invite's or a recall's, digits keep their
     * meaning (and a lone 9 is no score of anything) */
    const char *asked[] = {"reminder", "reinvite", "recall", NULL};
    for (size_t i = 0; asked[i]; i++) {
        CHECK_INT(nps_reply_target(asked[i], 0, "1", &score, comment), NPS_REPLY_SEND);
        CHECK_INT(nps_reply_target(asked[i], 0, "9", &score, comment), NPS_REPLY_SEND);
        CHECK_INT(score, -1);
    }
    /* nothing sent lately */
    CHECK_INT(nps_reply_target(NULL, 0, "9", &score, comment), NPS_REPLY_SEND);
    /* a stop word opts out, whatever was asked */
    CHECK_INT(nps_reply_target("nps", 1, "СТОП", &score, comment), NPS_REPLY_SEND);
    /* words that are no score go to the SMS as before */
    CHECK_INT(nps_reply_target("nps", 0, "спасибо", &score, comment), NPS_REPLY_SEND);
}

static void test_sms_text(void)
{
    CHECK_STR(nps_sms_text(NPS_THANKS, "ru"), "Спасибо! Ваш ответ получен.");
    CHECK_STR(nps_sms_text(NPS_ANSWERED, NULL), "На этот опрос уже ответили. Спасибо!");
    CHECK_STR(nps_sms_text(NPS_EXPIRED, "en"), "This survey has expired.");
    CHECK_STR(nps_sms_text(NPS_THANKS, "en"), "Thank you! Your answer is in.");
    CHECK(nps_sms_text(NPS_ASK, "ru") == NULL);
}

int main(void)
{
    test_sms_answer();
    test_reply_target();
    test_sms_text();
    test_token();
    test_page();
    test_answer();
    return cf_test_done();
}
