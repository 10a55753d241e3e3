/*
 * Allocation that never returns NULL: on exhaustion the process logs and
 * aborts (redis zmalloc). Callers therefore never check these results.
 */
#ifndef CF_COMMON_XMALLOC_H
#define CF_COMMON_XMALLOC_H

#include <stddef.h>

void *cf_xmalloc(size_t size);
void *cf_xcalloc(size_t nmemb, size_t size);
void *cf_xrealloc(void *ptr, size_t size);
char *cf_xstrdup(const char *s);
char *cf_xstrndup(const char *s, size_t n);
/* printf into a new string; free() it. */
char *cf_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
