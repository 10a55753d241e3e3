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
    CHECK(strstr(html, "<form method=\"post\" action=\"/nps/abc\">") != NULL);
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
        {"comment=x", "score"},        {"score=11", "score"},
        {"score=-1", "score"},         {"score=5&score=6", "score"},
        {"score=", "score"},           {"score=5x", "score"},
        {"score=5&name=Ivan", "name"}, {"score=5&comment=a%00b", "comment"},
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
    CHECK_STR(nps_category(10), "promoter");
    CHECK_STR(nps_category(9), "promoter");
    CHECK_STR(nps_category(8), "passive");
    CHECK_STR(nps_category(7), "passive");
    CHECK_STR(nps_category(6), "detractor");
    CHECK_STR(nps_category(0), "detractor");
}

int main(void)
{
    test_token();
    test_page();
    test_answer();
    return cf_test_done();
}
