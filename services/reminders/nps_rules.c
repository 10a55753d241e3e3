/*
 * The NPS survey (nps_testable.h): one question after a completed visit,
 * "how likely are you to recommend us", 0 to 10, and a comment. The page
 * is plain HTML with its own style: it loads nothing from anywhere else,
 * works without JavaScript and on a phone. A score also comes as a reply
 * to the survey's SMS, read leniently (a person types it, often with a
 * word of thanks), but only while the survey's SMS is the latest thing
 * asked of that phone: a reminder's "1" must stay a confirmation.
 */
#include "nps_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/strbuf.h"
#include "common/validate.h"
#include "common/xmalloc.h"

void nps_token(const char *network_secret, const char *job_id, char out[NPS_TOKEN_LEN + 1])
{
    char msg[64];
    uint8_t mac[32];
    int n = snprintf(msg, sizeof(msg), "nps\x1f%s", job_id);
    cf_hmac_sha256(network_secret, strlen(network_secret), msg,
                   (size_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1), mac);
    cf_hex(mac, NPS_TOKEN_LEN / 2, out);
    out[NPS_TOKEN_LEN] = '\0';
}

int nps_token_ok(const char *s)
{
    return s && strlen(s) == NPS_TOKEN_LEN && strspn(s, "0123456789abcdef") == NPS_TOKEN_LEN;
}

const char *nps_category(int score)
{
    return score >= 9 ? "promoter" : score >= 7 ? "passive" : "detractor";
}

struct words {
    const char *lang, *title, *question, *comment, *send, *thanks, *answered, *expired, *unknown,
        *invalid, *low, *high;
};

static const struct words ru = {
    "ru",
    "Оценка визита",
    "Насколько вероятно, что вы порекомендуете нас друзьям и близким?",
    "Что нам сделать лучше? (необязательно)",
    "Отправить",
    "Спасибо! Ваш ответ получен.",
    "На этот опрос уже ответили. Спасибо!",
    "Срок этого опроса истёк.",
    "Опрос не найден.",
    "Выберите оценку от 0 до 10.",
    "0 — точно нет",
    "10 — обязательно",
};

static const struct words en = {
    "en",
    "Your visit",
    "How likely are you to recommend us to a friend or colleague?",
    "What could we do better? (optional)",
    "Send",
    "Thank you! Your answer is in.",
    "This survey has been answered already. Thank you!",
    "This survey has expired.",
    "No such survey.",
    "Choose a score from 0 to 10.",
    "0: not at all",
    "10: certainly",
};

char *nps_page(enum nps_page page, const char *language, const char *clinic_name, const char *token)
{
    const struct words *w = language && strcmp(language, "en") == 0 ? &en : &ru;
    struct cf_strbuf b = {0};
    char num[8];
    cf_strbuf_add(&b, "<!doctype html><html lang=\"");
    cf_strbuf_add(&b, w->lang);
    cf_strbuf_add(&b, "\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
                      "content=\"width=device-width,initial-scale=1\"><title>");
    cf_strbuf_add(&b, w->title);
    cf_strbuf_add(
        &b, "</title><style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem "
            "auto;padding:0 1rem;color:#1d2733}h1{font-size:1.3rem}.scale{display:flex;"
            "flex-wrap:wrap;gap:.3rem}.scale label{flex:1 0 2.4rem;text-align:center;border:"
            "1px solid #9aa7b4;border-radius:.4rem;padding:.5rem 0}.ends{display:flex;"
            "justify-content:space-between;font-size:.8rem;color:#5b6875}textarea{width:100%;"
            "min-height:5rem}button{margin-top:1rem;padding:.6rem 1.4rem}.note{color:#a33}"
            "</style></head><body><h1>");
    cf_strbuf_add_xml(&b, clinic_name && *clinic_name ? clinic_name : w->title);
    cf_strbuf_add(&b, "</h1>");
    switch (page) {
    case NPS_THANKS:
        cf_strbuf_add(&b, "<p>");
        cf_strbuf_add(&b, w->thanks);
        cf_strbuf_add(&b, "</p>");
        break;
    case NPS_ANSWERED:
        cf_strbuf_add(&b, "<p>");
        cf_strbuf_add(&b, w->answered);
        cf_strbuf_add(&b, "</p>");
        break;
    case NPS_EXPIRED:
        cf_strbuf_add(&b, "<p>");
        cf_strbuf_add(&b, w->expired);
        cf_strbuf_add(&b, "</p>");
        break;
    case NPS_UNKNOWN:
        cf_strbuf_add(&b, "<p>");
        cf_strbuf_add(&b, w->unknown);
        cf_strbuf_add(&b, "</p>");
        break;
    case NPS_ASK:
    case NPS_INVALID:
        if (page == NPS_INVALID) {
            cf_strbuf_add(&b, "<p class=\"note\">");
            cf_strbuf_add(&b, w->invalid);
            cf_strbuf_add(&b, "</p>");
        }
        cf_strbuf_add(&b, "<form method=\"post\" action=\"");
        cf_strbuf_add_xml(&b, token);
        cf_strbuf_add(&b, "\"><p>");
        cf_strbuf_add(&b, w->question);
        cf_strbuf_add(&b, "</p><div class=\"scale\">");
        for (int i = 0; i <= 10; i++) {
            snprintf(num, sizeof(num), "%d", i);
            cf_strbuf_add(&b, "<label><input type=\"radio\" name=\"score\" value=\"");
            cf_strbuf_add(&b, num);
            cf_strbuf_add(&b, "\" required><br>");
            cf_strbuf_add(&b, num);
            cf_strbuf_add(&b, "</label>");
        }
        cf_strbuf_add(&b, "</div><div class=\"ends\"><span>");
        cf_strbuf_add(&b, w->low);
        cf_strbuf_add(&b, "</span><span>");
        cf_strbuf_add(&b, w->high);
        cf_strbuf_add(&b, "</span></div><p><label>");
        cf_strbuf_add(&b, w->comment);
        cf_strbuf_add(&b, "<br><textarea name=\"comment\" maxlength=\"");
        snprintf(num, sizeof(num), "%d", NPS_PAGE_COMMENT_CHARS);
        cf_strbuf_add(&b, num);
        cf_strbuf_add(&b, "\"></textarea></label></p><button type=\"submit\">");
        cf_strbuf_add(&b, w->send);
        cf_strbuf_add(&b, "</button></form>");
        break;
    }
    cf_strbuf_add(&b, "</body></html>");
    return cf_strbuf_take(&b);
}

int nps_read_answer(const struct cf_form *form, int *score, const char **comment,
                    const char **field)
{
    *score = -1;
    *comment = NULL;
    *field = NULL;
    for (size_t i = 0; i < form->n; i++) {
        const char *name = form->fields[i].name, *value = form->fields[i].value;
        if (strcmp(name, "score") == 0) {
            char *end = NULL;
            long v = strtol(value, &end, 10);
            if (*score >= 0 || !*value || *end || v < 0 || v > 10) {
                *field = "score";
                return CF_EINVAL;
            }
            *score = (int)v;
        } else if (strcmp(name, "comment") == 0) {
            while (*value == ' ' || *value == '\t' || *value == '\r' || *value == '\n')
                value++;
            const size_t len = form->fields[i].value_len - (size_t)(value - form->fields[i].value);
            /* one comment, within its length, text: no NUL, UTF-8 (the
             * database takes nothing else) */
            if (*comment || strlen(value) != len ||
                cf_validate_utf8_valid_prefix(value, len) != len ||
                cf_validate_utf8_prefix(value, len, NPS_PAGE_COMMENT_CHARS) != len) {
                *field = "comment";
                return CF_EINVAL;
            }
            *comment = *value ? value : NULL;
        } else {
            *field = name;
            return CF_EINVAL;
        }
    }
    if (*score < 0) {
        *field = "score";
        return CF_EINVAL;
    }
    return 0;
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ASCII punctuation, whatever the locale */
static int punct(char c)
{
    return c && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) != NULL;
}

static int digit(char c)
{
    return c >= '0' && c <= '9';
}

int nps_read_sms(const char *body, int *score, char comment[NPS_COMMENT_MAX + 1])
{
    const char *p = body ? body : "";
    *score = -1;
    comment[0] = '\0';
    while (blank(*p))
        p++;
    if (!digit(*p))
        return CF_EINVAL;
    int v = *p++ - '0';
    if (digit(*p))
        v = v * 10 + (*p++ - '0');
    if (v > 10 || digit(*p))
        return CF_EINVAL;
    if (strncmp(p, "/10", 3) == 0 && !digit(p[3]))
        p += 3;
    /* "9.5", "9,5" or "1/2" is no score of ours; a letter right after the
     * number makes it a word ("3D") */
    if ((*p == '.' || *p == ',' || *p == '/') && digit(p[1]))
        return CF_EINVAL;
    if (*p && !blank(*p) && !punct(*p))
        return CF_EINVAL;
    while (blank(*p) || punct(*p))
        p++;
    size_t n = strlen(p);
    while (n > 0 && blank(p[n - 1]))
        n--;
    if (n > NPS_COMMENT_MAX) {
        /* back to the start of the character the limit falls in */
        n = NPS_COMMENT_MAX;
        while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(comment, p, n);
    comment[n] = '\0';
    *score = v;
    return 0;
}

enum nps_reply_target nps_reply_target(const char *latest_kind, int opt_out, const char *body,
                                       int *score, char comment[NPS_COMMENT_MAX + 1])
{
    *score = -1;
    comment[0] = '\0';
    if (opt_out || !latest_kind || strcmp(latest_kind, "nps") != 0)
        return NPS_REPLY_SEND;
    return nps_read_sms(body, score, comment) == 0 ? NPS_REPLY_SURVEY : NPS_REPLY_SEND;
}

const char *nps_sms_text(enum nps_page page, const char *language)
{
    const struct words *w = language && strcmp(language, "en") == 0 ? &en : &ru;
    switch (page) {
    case NPS_THANKS:
        return w->thanks;
    case NPS_ANSWERED:
        return w->answered;
    case NPS_EXPIRED:
        return w->expired;
    default:
        return NULL;
    }
}
