/*
 * Reminder messages (message_testable.h). A text is counted as the SMS
 * centre will bill it: GSM-7 when every character is in the GSM 03.38
 * default alphabet or its extension table, UCS-2 as soon as one is not (a
 * single Cyrillic letter or emoji halves the room of every segment).
 * Templates are plain text with a closed set of placeholders, so a typo
 * in a network file is refused by clinicflowctl rather than read out by
 * the robot; anything else in braces is left as text.
 */
#include "message_testable.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* --- SMS segments --------------------------------------------------- */

#define GSM7_SINGLE 160 /* septets in a message of one segment */
#define GSM7_PART 153   /* in each segment of a longer one (the header takes 7) */
#define UCS2_SINGLE 70
#define UCS2_PART 67

#define NO_CHAR 0xFFFFFFFFu /* 0x1B, the escape, stands for no character */

/* The GSM 03.38 (3GPP TS 23.038 section 6.2.1) default alphabet as
 * Unicode, in its code order 0x00..0x7F, and the characters of its
 * extension table (reached by 0x1B, so two septets each). Checked against
 * the 3GPP TS 23.038 table as an SMPP provider's message-encoding guide
 * reproduces it and the Siemens TC35 AT command set's "default GSM 03.38 alphabet" table. The
 * Unicode Consortium's GSM0338.TXT maps 0x09 to small c-cedilla instead;
 * the specification's table has the capital, which we follow: a small
 * c-cedilla makes a text UCS-2. */
static const uint32_t gsm7_basic[128] = {
    /* 0x00 */ 0x40,
    0xA3,
    0x24,
    0xA5,
    0xE8,
    0xE9,
    0xF9,
    0xEC, /* @ £ $ ¥ è é ù ì */
    /* 0x08 */ 0xF2,
    0xC7,
    0x0A,
    0xD8,
    0xF8,
    0x0D,
    0xC5,
    0xE5, /* ò Ç LF Ø ø CR Å å */
    /* 0x10 */ 0x394,
    0x5F,
    0x3A6,
    0x393,
    0x39B,
    0x3A9,
    0x3A0,
    0x3A8, /* Δ _ Φ Γ Λ Ω Π Ψ */
    /* 0x18 */ 0x3A3,
    0x398,
    0x39E,
    NO_CHAR,
    0xC6,
    0xE6,
    0xDF,
    0xC9, /* Σ Θ Ξ ESC Æ æ ß É */
    /* 0x20 */ 0x20,
    0x21,
    0x22,
    0x23,
    0xA4,
    0x25,
    0x26,
    0x27, /* SP ! " # ¤ % & ' */
    /* 0x28 */ 0x28,
    0x29,
    0x2A,
    0x2B,
    0x2C,
    0x2D,
    0x2E,
    0x2F, /* ( ) * + , - . / */
    /* 0x30 */ 0x30,
    0x31,
    0x32,
    0x33,
    0x34,
    0x35,
    0x36,
    0x37, /* 0-7 */
    /* 0x38 */ 0x38,
    0x39,
    0x3A,
    0x3B,
    0x3C,
    0x3D,
    0x3E,
    0x3F, /* 8 9 : ; < = > ? */
    /* 0x40 */ 0xA1,
    0x41,
    0x42,
    0x43,
    0x44,
    0x45,
    0x46,
    0x47, /* ¡ A-G */
    /* 0x48 */ 0x48,
    0x49,
    0x4A,
    0x4B,
    0x4C,
    0x4D,
    0x4E,
    0x4F, /* H-O */
    /* 0x50 */ 0x50,
    0x51,
    0x52,
    0x53,
    0x54,
    0x55,
    0x56,
    0x57, /* P-W */
    /* 0x58 */ 0x58,
    0x59,
    0x5A,
    0xC4,
    0xD6,
    0xD1,
    0xDC,
    0xA7, /* X Y Z Ä Ö Ñ Ü § */
    /* 0x60 */ 0xBF,
    0x61,
    0x62,
    0x63,
    0x64,
    0x65,
    0x66,
    0x67, /* ¿ a-g */
    /* 0x68 */ 0x68,
    0x69,
    0x6A,
    0x6B,
    0x6C,
    0x6D,
    0x6E,
    0x6F, /* h-o */
    /* 0x70 */ 0x70,
    0x71,
    0x72,
    0x73,
    0x74,
    0x75,
    0x76,
    0x77, /* p-w */
    /* 0x78 */ 0x78,
    0x79,
    0x7A,
    0xE4,
    0xF6,
    0xF1,
    0xFC,
    0xE0, /* x y z ä ö ñ ü à */
};

/* 0x1B 0x0A form feed, 0x14 ^, 0x28 {, 0x29 }, 0x2F \, 0x3C [, 0x3D ~,
 * 0x3E ], 0x40 |, 0x65 euro sign */
static const uint32_t gsm7_extension[] = {0x0C, 0x5E, 0x7B, 0x7D, 0x5C,
                                          0x5B, 0x7E, 0x5D, 0x7C, 0x20AC};

/* Septets of code point cp in GSM-7: 1, 2 (extension table), or 0 when
 * GSM-7 cannot carry it. */
static size_t gsm7_septets(uint32_t cp)
{
    for (size_t i = 0; i < sizeof(gsm7_basic) / sizeof(gsm7_basic[0]); i++)
        if (gsm7_basic[i] == cp)
            return 1;
    for (size_t i = 0; i < sizeof(gsm7_extension) / sizeof(gsm7_extension[0]); i++)
        if (gsm7_extension[i] == cp)
            return 2;
    return 0;
}

/* Decodes one UTF-8 character at s (not at its NUL): returns the bytes it
 * takes and sets *cp, or returns 1 with *cp NO_CHAR for a byte that does
 * not start a well-formed sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        *cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        *cp = c & 0x0Fu;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        *cp = c & 0x07u;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *cp = NO_CHAR;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        unsigned char b = s[i]; /* a NUL ends the loop here: never read past it */
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) {
            *cp = NO_CHAR;
            return 1;
        }
        *cp = (*cp << 6) | (b & 0x3Fu);
    }
    return len;
}

void msg_sms_segments(const char *utf8, struct msg_segments *out)
{
    const unsigned char *s = (const unsigned char *)utf8;
    size_t septets = 0, units = 0;
    int gsm7 = 1;
    uint32_t cp;
    for (size_t i = 0; s[i];) {
        i += utf8_next(s + i, &cp);
        size_t w = cp == NO_CHAR ? 0 : gsm7_septets(cp);
        if (w == 0)
            gsm7 = 0;
        septets += w;
        units += cp != NO_CHAR && cp > 0xFFFF ? 2 : 1; /* a surrogate pair, or a bad byte's 1 */
    }
    out->encoding = gsm7 ? MSG_GSM7 : MSG_UCS2;
    if (!gsm7) {
        out->units = units;
        out->segments = units == 0             ? 0
                        : units <= UCS2_SINGLE ? 1
                                               : (units + UCS2_PART - 1) / UCS2_PART;
        return;
    }
    out->units = septets;
    if (septets <= GSM7_SINGLE) {
        out->segments = septets == 0 ? 0 : 1;
        return;
    }
    /* longer: fill segments one character at a time, so an escape pair
     * that would straddle two moves whole into the next */
    size_t segments = 1, fill = 0;
    for (size_t i = 0; s[i];) {
        i += utf8_next(s + i, &cp);
        size_t w = gsm7_septets(cp);
        if (fill + w > GSM7_PART) {
            segments++;
            fill = 0;
        }
        fill += w;
    }
    out->segments = segments;
}

int64_t msg_sms_cost_minor(size_t segments, double price_per_segment)
{
    double minor = (double)segments * price_per_segment * 100.0;
    /* a price comes in decimal: 1.005 is stored as 1.00499999..., and a
     * relative nudge far above that error and far below a real
     * difference keeps the half where it was written */
    minor += copysign(1e-9 * fmax(1.0, fabs(minor)), minor);
    return (int64_t)llround(minor);
}

/* --- templates ------------------------------------------------------ */

enum placeholder {
    PH_FIRST_NAME,
    PH_DOCTOR,
    PH_DATE,
    PH_TIME,
    PH_CLINIC,
    PH_ADDRESS,
    PH_LINK,
    PH_NONE
};

static const char *const placeholder_names[] = {
    [PH_FIRST_NAME] = "first_name",
    [PH_DOCTOR] = "doctor",
    [PH_DATE] = "date",
    [PH_TIME] = "time",
    [PH_CLINIC] = "clinic",
    [PH_ADDRESS] = "address",
    [PH_LINK] = "link",
};

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* At a '{': the length of the name in "{name}" (0 when what follows is
 * not a placeholder's shape) and which placeholder it is. */
static size_t placeholder_at(const char *p, enum placeholder *ph)
{
    size_t n = 0;
    *ph = PH_NONE;
    while (is_name_char(p[1 + n]))
        n++;
    if (n == 0 || p[1 + n] != '}')
        return 0;
    for (size_t i = 0; i < PH_NONE; i++)
        if (strlen(placeholder_names[i]) == n && memcmp(p + 1, placeholder_names[i], n) == 0)
            *ph = (enum placeholder)i;
    return n;
}

int msg_template_check(const char *tmpl, char *errbuf, size_t errbuf_size)
{
    for (const char *p = strchr(tmpl, '{'); p; p = strchr(p + 1, '{')) {
        enum placeholder ph;
        size_t n = placeholder_at(p, &ph);
        if (n > 0 && ph == PH_NONE) {
            cf_seterr(errbuf, errbuf_size, "unknown placeholder {%.*s}", (int)n, p + 1);
            return CF_EINVAL;
        }
    }
    return 0;
}

/* The rendered text, kept to a little over MSG_TEXT_MAX so the cut can
 * see whether the character at the limit goes on. */
struct text {
    char buf[MSG_TEXT_MAX + 4];
    size_t len;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    size_t room = sizeof(t->buf) - t->len;
    if (n > room)
        n = room;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
}

static void text_adds(struct text *t, const char *s)
{
    if (s)
        text_add(t, s, strlen(s));
}

static const char *const month_abbr[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

char *msg_render(const char *tmpl, const struct msg_values *v)
{
    struct text t = {.len = 0};
    struct cf_time_local lt;
    /* the zone is read once: both {date} and {time} need it */
    int have_time = v->tz && cf_time_to_local(v->tz, v->visit_ms, &lt) == 0;
    int en = v->language && strcmp(v->language, "en") == 0;
    char part[32];

    for (const char *p = tmpl; *p && t.len < sizeof(t.buf);) {
        const char *brace = strchr(p, '{');
        if (!brace) {
            text_adds(&t, p);
            break;
        }
        text_add(&t, p, (size_t)(brace - p));
        enum placeholder ph;
        size_t n = placeholder_at(brace, &ph);
        p = brace + (ph == PH_NONE ? 1 : n + 2);
        switch (ph) {
        case PH_FIRST_NAME:
            text_adds(&t, v->first_name);
            break;
        case PH_DOCTOR:
            text_adds(&t, v->doctor);
            break;
        case PH_CLINIC:
            text_adds(&t, v->clinic);
            break;
        case PH_ADDRESS:
            text_adds(&t, v->address);
            break;
        case PH_LINK:
            text_adds(&t, v->link);
            break;
        case PH_DATE:
            if (!have_time)
                break;
            if (en)
                snprintf(part, sizeof(part), "%s %d", month_abbr[lt.month - 1], lt.day);
            else
                snprintf(part, sizeof(part), "%02d.%02d", lt.day, lt.month);
            text_adds(&t, part);
            break;
        case PH_TIME:
            if (!have_time)
                break;
            snprintf(part, sizeof(part), "%02d:%02d", lt.hour, lt.minute);
            text_adds(&t, part);
            break;
        case PH_NONE:
            text_add(&t, "{", 1);
            break;
        }
    }

    size_t len = t.len;
    if (len > MSG_TEXT_MAX) {
        /* back to the start of the character the limit falls in (a
         * UTF-8 character is at most 4 bytes: at most 3 steps) */
        len = MSG_TEXT_MAX;
        for (int k = 0; k < 3 && ((unsigned char)t.buf[len] & 0xC0) == 0x80; k++)
            len--;
    }
    return cf_xstrndup(t.buf, len);
}

/* The built-in texts, [language][channel]. The call text is read out by
 * the robot and ends with the keys the outcome hook understands; the SMS
 * texts keep to what a patient needs: the ru one has no name, so a usual
 * clinic and address keep it within two UCS-2 segments (134 units, 50 of
 * them left for the two); the en one stays GSM-7. */
enum { LANG_RU, LANG_EN };
enum { CHANNEL_CALL, CHANNEL_SMS, CHANNEL_REINVITE, CHANNEL_NPS, CHANNEL_RECALL };

static const char *const default_templates[2][5] = {
    [LANG_RU] =
        {
            [CHANNEL_CALL] = "Здравствуйте, {first_name}! Это {clinic}. Напоминаем о вашем "
                             "приёме {date} в {time}, врач — {doctor}. Нажмите 1, чтобы "
                             "подтвердить визит, 2 — чтобы отменить, 3 — чтобы перенести, "
                             "9 — чтобы мы больше не звонили.",
            [CHANNEL_SMS] = "Ждём вас {date} в {time}: {clinic}, {address}. "
                            "Ответьте 1 — подтвердить, 2 — отменить. Отписаться: СТОП",
            [CHANNEL_REINVITE] = "{first_name}, мы не увиделись {date}. Ответьте 1 — и мы "
                                 "перезвоним, чтобы выбрать новое время. {clinic}. "
                                 "Отписаться: СТОП",
            [CHANNEL_NPS] = "{first_name}, оцените, пожалуйста, визит в {clinic}: {link}",
            [CHANNEL_RECALL] = "{first_name}, пора на профилактический осмотр в {clinic}. "
                               "Ответьте 1 — и мы перезвоним, чтобы записать вас. "
                               "Отписаться: СТОП",
        },
    [LANG_EN] =
        {
            [CHANNEL_CALL] = "Hello {first_name}, this is {clinic}. This is a reminder of your "
                             "appointment with {doctor} on {date} at {time}. Press 1 to confirm "
                             "your visit, 2 to decline, 3 to reschedule, or 9 if you do not want "
                             "us to call you again.",
            [CHANNEL_SMS] = "{first_name}, a reminder of your visit on {date} at {time}: "
                            "{clinic}, {address}. Reply 1 to confirm, 2 to cancel; STOP to "
                            "unsubscribe",
            [CHANNEL_REINVITE] = "{first_name}, we missed you on {date}. Reply 1 and we will "
                                 "call you to find a new time. {clinic}. STOP to unsubscribe",
            [CHANNEL_NPS] = "{first_name}, how was your visit to {clinic}? {link}",
            [CHANNEL_RECALL] = "{first_name}, it is time for your check-up at {clinic}. Reply 1 "
                               "and we will call you to book. STOP to unsubscribe",
        },
};

/* The built-in SMS texts for a gateway that brings no answer back
 * (SMS.ru): a text that asked for "1", "2" or "СТОП" would be answered
 * into the void, so these ask for a call to the clinic instead. Unset:
 * the one above. */
static const char *const default_no_reply_templates[2][5] = {
    [LANG_RU] =
        {
            [CHANNEL_SMS] = "Ждём вас {date} в {time}: {clinic}, {address}. "
                            "Если планы изменились, позвоните нам.",
            [CHANNEL_REINVITE] = "{first_name}, мы не увиделись {date}. Позвоните нам, чтобы "
                                 "выбрать новое время. {clinic}",
            [CHANNEL_RECALL] = "{first_name}, пора на профилактический осмотр в {clinic}. "
                               "Позвоните нам, чтобы записаться.",
        },
    [LANG_EN] =
        {
            [CHANNEL_SMS] = "{first_name}, a reminder of your visit on {date} at {time}: "
                            "{clinic}, {address}. If your plans change, please call us.",
            [CHANNEL_REINVITE] = "{first_name}, we missed you on {date}. Please call us to find "
                                 "a new time. {clinic}",
            [CHANNEL_RECALL] = "{first_name}, it is time for your check-up at {clinic}. Please "
                               "call us to book.",
        },
};

/* A policy's templates.<lang>.<channel> when it is a non-empty string. */
static const char *policy_template(const json_t *j_policy, const char *lang, const char *channel)
{
    const json_t *j_tmpl =
        json_object_get(json_object_get(json_object_get(j_policy, "templates"), lang), channel);
    return json_is_string(j_tmpl) && json_string_length(j_tmpl) > 0 ? json_string_value(j_tmpl)
                                                                    : NULL;
}

const char *msg_template_pick(const json_t *j_network_policies, const json_t *j_clinic_policy,
                              const char *language, const char *channel, int replies)
{
    int lang = language && strcmp(language, "en") == 0 ? LANG_EN : LANG_RU;
    const char *lang_key = lang == LANG_EN ? "en" : "ru";
    int ch;
    if (channel && strcmp(channel, "call") == 0)
        ch = CHANNEL_CALL;
    else if (channel && strcmp(channel, "sms") == 0)
        ch = CHANNEL_SMS;
    else if (channel && strcmp(channel, "reinvite") == 0)
        ch = CHANNEL_REINVITE;
    else if (channel && strcmp(channel, "nps") == 0)
        ch = CHANNEL_NPS;
    else if (channel && strcmp(channel, "recall") == 0)
        ch = CHANNEL_RECALL;
    else
        return NULL;
    const char *tmpl = policy_template(j_clinic_policy, lang_key, channel);
    if (!tmpl)
        tmpl = policy_template(j_network_policies, lang_key, channel);
    if (tmpl)
        return tmpl;
    if (!replies && default_no_reply_templates[lang][ch])
        return default_no_reply_templates[lang][ch];
    return default_templates[lang][ch];
}
