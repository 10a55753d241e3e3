/*
 * The growing string (strbuf.h): doubling, so appends cost amortised
 * linear time.
 */
#include "common/strbuf.h"

#include <string.h>

#include "common/xmalloc.h"

char *cf_strbuf_reserve(struct cf_strbuf *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = cf_xrealloc(b->p, cap);
        b->cap = cap;
    }
    return b->p + b->len;
}

void cf_strbuf_add_n(struct cf_strbuf *b, const char *s, size_t n)
{
    cf_strbuf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void cf_strbuf_add(struct cf_strbuf *b, const char *s)
{
    if (s)
        cf_strbuf_add_n(b, s, strlen(s));
}

void cf_strbuf_add_xml(struct cf_strbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        switch (*p) {
        case '&':
            cf_strbuf_add(b, "&amp;");
            break;
        case '<':
            cf_strbuf_add(b, "&lt;");
            break;
        case '>':
            cf_strbuf_add(b, "&gt;");
            break;
        case '"':
            cf_strbuf_add(b, "&quot;");
            break;
        case '\'':
            cf_strbuf_add(b, "&apos;");
            break;
        default:
            if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
                cf_strbuf_add(b, " ");
            else
                cf_strbuf_add_n(b, (const char *)p, 1);
        }
    }
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

void cf_strbuf_add_urlencoded(struct cf_strbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p)) {
            cf_strbuf_add_n(b, (const char *)p, 1);
        } else {
            const char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            cf_strbuf_add_n(b, esc, 3);
        }
    }
}

void cf_strbuf_add_form(struct cf_strbuf *b, const char *name, const char *value)
{
    if (b->len)
        cf_strbuf_add(b, "&");
    cf_strbuf_add_urlencoded(b, name);
    cf_strbuf_add(b, "=");
    cf_strbuf_add_urlencoded(b, value);
}

char *cf_strbuf_take(struct cf_strbuf *b)
{
    if (!b->p)
        return cf_xstrdup("");
    char *s = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return s;
}
