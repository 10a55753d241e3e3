/*
 * JSON-lines logging on stderr. Each call renders the whole line (time,
 * level, service, msg, request_id) into one buffer and hands it to a single
 * write(2), so concurrent threads never interleave partial lines and no lock
 * is needed. The message is JSON-escaped, and bytes that are not valid UTF-8
 * become U+FFFD so every line stays parseable. The service name and level
 * are process-wide and set once before threads start; the request id is
 * thread-local.
 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/xmalloc.h"

#define SERVICE_MAX 64
#define REQUEST_ID_MAX 128

static char g_service[SERVICE_MAX] = "clinicflow";
static enum cf_log_level g_level = CF_LOG_INFO;

static _Thread_local char tl_request_id[REQUEST_ID_MAX];
static _Thread_local char tl_strerror[256];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cf_log_init(const char *service, enum cf_log_level level)
{
    snprintf(g_service, sizeof(g_service), "%s", service ? service : "clinicflow");
    g_level = level;
}

int cf_log_level_parse(const char *s, enum cf_log_level *out)
{
    if (!s)
        return CF_EINVAL;
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum cf_log_level)i;
            return 0;
        }
    }
    return CF_EINVAL;
}

void cf_log_set_request_id(const char *id)
{
    snprintf(tl_request_id, sizeof(tl_request_id), "%s", id ? id : "");
}

/* A growable byte buffer for one line. */
struct line {
    char *buf;
    size_t len, cap;
};

static void line_reserve(struct line *l, size_t more)
{
    if (l->len + more <= l->cap)
        return;
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->len + more)
        cap *= 2;
    l->buf = cf_xrealloc(l->buf, cap);
    l->cap = cap;
}

static void line_append(struct line *l, const char *s, size_t n)
{
    line_reserve(l, n);
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_puts(struct line *l, const char *s)
{
    line_append(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0
 * if the bytes there are not one (overlong forms and surrogates included). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned int cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Appends s as the body of a JSON string (without the quotes). */
static void line_append_escaped(struct line *l, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        char esc[8];
        switch (c) {
        case '"':
            line_append(l, "\\\"", 2);
            i++;
            continue;
        case '\\':
            line_append(l, "\\\\", 2);
            i++;
            continue;
        case '\n':
            line_append(l, "\\n", 2);
            i++;
            continue;
        case '\r':
            line_append(l, "\\r", 2);
            i++;
            continue;
        case '\t':
            line_append(l, "\\t", 2);
            i++;
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned int)c);
            line_append(l, esc, 6);
            i++;
            continue;
        }
        size_t seq = utf8_seq_len(p + i, n - i);
        if (seq == 0) {
            line_append(l, "\\ufffd", 6);
            i++;
        } else {
            line_append(l, s + i, seq);
            i += seq;
        }
    }
}

/* Now as RFC 3339 UTC with milliseconds, the envelope's time format. */
static void format_now(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cf_time_format((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000L, out);
}

/* Writes the whole line; a short write is continued so the line is never
 * cut, though in practice stderr takes it in one call. errno is preserved so
 * callers can log and then inspect it. */
static void write_line(const char *buf, size_t len)
{
    int saved = errno;
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        buf += w;
        len -= (size_t)w;
    }
    errno = saved;
}

void cf_log(enum cf_log_level level, const char *fmt, ...)
{
    if (level < g_level)
        return;
    if ((unsigned int)level > CF_LOG_ERROR)
        level = CF_LOG_ERROR;

    char small[512];
    char *msg = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        msg = small;
        snprintf(small, sizeof(small), "(unformattable log message)");
    } else if ((size_t)n >= sizeof(small)) {
        msg = cf_xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }

    char now[32];
    format_now(now);

    struct line l = {0};
    line_reserve(&l, 128 + strlen(msg) + sizeof(tl_request_id));
    line_puts(&l, "{\"time\":\"");
    line_puts(&l, now);
    line_puts(&l, "\",\"level\":\"");
    line_puts(&l, level_names[level]);
    line_puts(&l, "\",\"service\":\"");
    line_append_escaped(&l, g_service);
    line_puts(&l, "\",\"msg\":\"");
    line_append_escaped(&l, msg);
    line_puts(&l, "\"");
    if (tl_request_id[0]) {
        line_puts(&l, ",\"request_id\":\"");
        line_append_escaped(&l, tl_request_id);
        line_puts(&l, "\"");
    }
    line_puts(&l, "}\n");
    write_line(l.buf, l.len);

    free(l.buf);
    if (msg != small)
        free(msg);
}

const char *cf_strerror(int errnum)
{
    if (strerror_r(errnum, tl_strerror, sizeof(tl_strerror)) != 0)
        snprintf(tl_strerror, sizeof(tl_strerror), "unknown error %d", errnum);
    return tl_strerror;
}
