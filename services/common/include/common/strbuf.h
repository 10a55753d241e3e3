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

/* Appends n bytes of s (aborts when memory runs out, as cf_xmalloc). */
void cf_strbuf_add_n(struct cf_strbuf *b, const char *s, size_t n);
/* Appends s; NULL adds nothing. */
void cf_strbuf_add(struct cf_strbuf *b, const char *s);
/* Appends s escaped for XML and HTML text and attribute values (& < > "
 * '); a control byte neither can carry becomes a space. NULL adds
 * nothing. */
void cf_strbuf_add_xml(struct cf_strbuf *b, const char *s);
/* The string built ("" when nothing was added), the caller's to free; b is
 * empty again. */
char *cf_strbuf_take(struct cf_strbuf *b);

#endif
