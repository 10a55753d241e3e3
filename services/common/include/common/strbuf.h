/*
 * A growing string: appended to, then handed over. For the texts a
 * service builds piece by piece (a form body, a TwiML document, a page).
 */
#ifndef CF_COMMON_STRBUF_H
#define CF_COMMON_STRBUF_H

#include <stddef.h>

/* A zeroed struct is an empty string. */
struct cf_strbuf {
    char *p; /* NUL-terminated once anything was added */
    size_t len, cap;
};

/* Room for n more bytes and the NUL after what b holds: where they go.
 * A writer fills them and adds what it wrote to b->len, then sets the
 * NUL (aborts when memory runs out, as cf_xmalloc). */
char *cf_strbuf_reserve(struct cf_strbuf *b, size_t n);
/* Appends n bytes of s (aborts when memory runs out, as cf_xmalloc). */
void cf_strbuf_add_n(struct cf_strbuf *b, const char *s, size_t n);
/* Appends s; NULL adds nothing. */
void cf_strbuf_add(struct cf_strbuf *b, const char *s);
/* Appends s escaped for XML and HTML text and attribute values (& < > "
 * '); a control byte neither can carry becomes a space. NULL adds
 * nothing. */
void cf_strbuf_add_xml(struct cf_strbuf *b, const char *s);
/* Appends s percent-encoded: every byte but the unreserved A-Z a-z 0-9
 * - . _ ~ as %XX (RFC 3986), for a URL's query or a form body. */
void cf_strbuf_add_urlencoded(struct cf_strbuf *b, const char *s);
/* Appends name=value of an application/x-www-form-urlencoded body, both
 * encoded, after an "&" when b holds something already. */
void cf_strbuf_add_form(struct cf_strbuf *b, const char *name, const char *value);
/* The string built ("" when nothing was added), the caller's to free; b is
 * empty again. */
char *cf_strbuf_take(struct cf_strbuf *b);

#endif
