/*
 * Phone numbers to E.164, following the Russian-first rules of PROVIDERS.md
 * section 10. The input is first reduced to an optional '+' and a digit
 * string (after stripping URI schemes and input-mask punctuation); every
 * decision after that is made on the digit count and leading digits only,
 * which keeps the rules in one readable sequence. Anything with letters or
 * unexpected symbols is not a phone number and is reported as INVALID so
 * callers keep the raw value without an E.164 form.
 */
#include "common/phone.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define E164_MAX_DIGITS 15
#define E164_MIN_DIGITS 7 /* the shortest national numbers plus their country code */
#define RU_DIGITS 11      /* 7 and ten national digits */
/* Digits kept while scanning: 15 plus a "00" prefix; more is INVALID. */
#define SCAN_MAX_DIGITS (E164_MAX_DIGITS + 2)

static const char *const anonymous_values[] = {
    "anonymous", "unknown", "<unknown>", "restricted", "blocked", "unavailable", "private", "s"};

/* The rest of s after a case-insensitive prefix, or NULL if s lacks it. */
static const char *strip_prefix(const char *s, size_t len, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (len >= plen && strncasecmp(s, prefix, plen) == 0)
        return s + plen;
    return NULL;
}

static int is_anonymous(const char *s, size_t len)
{
    if (len == 0)
        return 1;
    for (size_t i = 0; i < sizeof(anonymous_values) / sizeof(anonymous_values[0]); i++) {
        if (strlen(anonymous_values[i]) == len && strncasecmp(s, anonymous_values[i], len) == 0)
            return 1;
    }
    return 0;
}

/* Punctuation that input masks and PBXs put between digits. */
static int is_separator(char c)
{
    return c == ' ' || c == '\t' || c == '-' || c == '(' || c == ')' || c == '.' || c == '/';
}

static enum cf_phone_kind put(enum cf_phone_kind kind, const char *prefix, const char *digits,
                              char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%s%s", prefix, digits);
    if (n < 0 || (size_t)n >= out_size) {
        if (out_size > 0)
            out[0] = '\0';
        return CF_PHONE_INVALID;
    }
    return kind;
}

/*
 * Returns the kind of raw; out (out_size bytes, CF_PHONE_MAX suffices) gets
 * "+<digits>" for E164 and the digits for EXTENSION, and "" otherwise.
 * raw may be NULL (anonymous). default_cc may be NULL; the national RU/KZ
 * forms (8-trunk, 10-digit 9xx) apply only when it is "7".
 */
enum cf_phone_kind cf_phone_normalize(const char *raw, const char *default_cc, char *out,
                                      size_t out_size)
{
    if (out_size > 0)
        out[0] = '\0';
    if (!raw)
        return CF_PHONE_ANONYMOUS;

    /* 1. Trim, then strip the URI scheme; a SIP URI keeps its user part. */
    const char *s = raw;
    size_t len = strlen(raw);
    while (len > 0 && isspace((unsigned char)s[0])) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;

    const char *rest;
    if ((rest = strip_prefix(s, len, "sip:")) || (rest = strip_prefix(s, len, "sips:"))) {
        len -= (size_t)(rest - s);
        s = rest;
        size_t user_len = 0;
        while (user_len < len && s[user_len] != '@' && s[user_len] != ';')
            user_len++;
        len = user_len;
    } else if ((rest = strip_prefix(s, len, "tel:")) ||
               (rest = strip_prefix(s, len, "whatsapp:")) ||
               (rest = strip_prefix(s, len, "client:"))) {
        len -= (size_t)(rest - s);
        s = rest;
    }
    while (len > 0 && isspace((unsigned char)s[0])) {
        s++;
        len--;
    }

    /* 2. Withheld numbers. */
    if (is_anonymous(s, len))
        return CF_PHONE_ANONYMOUS;

    /* 3. A leading '+' (also URL-encoded, as some webhooks send it), then
     * digits and mask punctuation only; any letter or other symbol means
     * this is not a phone number. */
    int plus = 0;
    size_t i = 0;
    if (s[0] == '+') {
        plus = 1;
        i = 1;
    } else if (len >= 3 && strncasecmp(s, "%2b", 3) == 0) {
        plus = 1;
        i = 3;
    }
    char buf[SCAN_MAX_DIGITS + 1];
    size_t nd = 0;
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (nd == SCAN_MAX_DIGITS)
                return CF_PHONE_INVALID;
            buf[nd++] = c;
        } else if (!is_separator(c)) {
            return CF_PHONE_INVALID;
        }
    }
    buf[nd] = '\0';
    char *digits = buf;
    if (!plus && nd > 2 && digits[0] == '0' && digits[1] == '0') {
        plus = 1;
        digits += 2;
        nd -= 2;
    }
    if (nd == 0 || nd > E164_MAX_DIGITS)
        return CF_PHONE_INVALID;

    if (!plus) {
        int ru = default_cc && strcmp(default_cc, "7") == 0;
        /* 7. Internal extensions. */
        if (nd >= 2 && nd <= 5)
            return put(CF_PHONE_EXTENSION, "", digits, out, out_size);
        /* 4. The RU/KZ trunk prefix 8 stands for the country code 7. */
        if (ru && nd == RU_DIGITS && digits[0] == '8')
            digits[0] = '7';
        /* 5. A mobile number without trunk prefix gets the country code. */
        if (ru && nd == RU_DIGITS - 1 && digits[0] == '9')
            return put(CF_PHONE_E164, "+7", digits, out, out_size);
        /* 6. Without '+', only 11-15 digits starting with a possible
         * country code (not 0) are taken as international. */
        if (nd < RU_DIGITS || digits[0] == '0')
            return CF_PHONE_INVALID;
    }

    /* 8. Length: at most 15 digits, and +7 numbers have exactly 11. */
    if (nd < E164_MIN_DIGITS || digits[0] == '0')
        return CF_PHONE_INVALID;
    if (digits[0] == '7' && nd != RU_DIGITS)
        return CF_PHONE_INVALID;
    return put(CF_PHONE_E164, "+", digits, out, out_size);
}

/* Punctuation a person writes inside a phone number in a message: fewer
 * marks than an input mask's (no '.', '/': dates and fractions). */
static int is_text_separator(char c)
{
    return c == ' ' || c == '-' || c == '(' || c == ')';
}

/* The candidate starting at s[0] ('+' or a digit): its length up to its
 * last digit, and its digit count; it stops at any other character and at
 * a third separator in a row (two, as in "8 (916) 123-45-67", go on). */
static size_t candidate(const char *s, size_t len, size_t *ndigits)
{
    size_t i = s[0] == '+' ? 1 : 0, end = 0, run = 0;
    *ndigits = 0;
    for (; i < len; i++) {
        if (isdigit((unsigned char)s[i])) {
            (*ndigits)++;
            end = i + 1;
            run = 0;
        } else if (is_text_separator(s[i]) && ++run <= 2) {
            continue;
        } else {
            break;
        }
    }
    return end;
}

int cf_phone_find(const char *text, size_t len, const char *default_cc, char *out, size_t out_size,
                  size_t *at, size_t *match_len)
{
    const int ru = default_cc && strcmp(default_cc, "7") == 0;
    for (size_t i = 0; i < len; i++) {
        const char c = text[i];
        const int starts =
            c == '+' ? i + 1 < len && (isdigit((unsigned char)text[i + 1]) || text[i + 1] == '(')
                     : isdigit((unsigned char)c);
        /* a number begins where no word or number does ("12.05", "1/2") */
        if (!starts || (i > 0 && (isalnum((unsigned char)text[i - 1]) || text[i - 1] == '+' ||
                                  (unsigned char)text[i - 1] >= 0x80 ||
                                  ((text[i - 1] == '.' || text[i - 1] == '/') && i > 1 &&
                                   isdigit((unsigned char)text[i - 2])))))
            continue;
        size_t nd;
        const size_t n = candidate(text + i, len - i, &nd);
        const size_t after = i + n;
        /* and ends where none goes on */
        const int ends =
            after >= len ||
            !(isalnum((unsigned char)text[after]) || (unsigned char)text[after] >= 0x80 ||
              ((text[after] == '.' || text[after] == '/') && after + 1 < len &&
               isdigit((unsigned char)text[after + 1])));
        /* '+' and 10-15 digits; without it only the RU forms: 11 digits
         * from 7 or 8, 10 from 9 */
        const int shaped = c == '+' ? nd >= 10 && nd <= E164_MAX_DIGITS
                                    : ru && ((nd == RU_DIGITS && (c == '7' || c == '8')) ||
                                             (nd == RU_DIGITS - 1 && c == '9'));
        if (n > 0 && ends && shaped) {
            char raw[64];
            if (n < sizeof(raw)) {
                memcpy(raw, text + i, n);
                raw[n] = '\0';
                if (cf_phone_normalize(raw, default_cc, out, out_size) == CF_PHONE_E164) {
                    *at = i;
                    *match_len = n;
                    return 1;
                }
            }
        }
        i += n > 0 ? n - 1 : 0; /* the next candidate starts past this one */
    }
    if (out_size > 0)
        out[0] = '\0';
    return 0;
}
