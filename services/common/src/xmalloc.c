/*
 * Allocation wrappers that never return NULL. Running out of memory in a
 * service is not something a request handler can recover from sensibly, so,
 * like redis's zmalloc, every wrapper logs one line and aborts; callers are
 * spared a NULL check at every allocation site. The out-of-memory line is
 * written with a fixed buffer and write(2) because the logger itself may
 * need memory.
 */
#include "common/xmalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Noreturn void oom(size_t size)
{
    char line[160];
    int n =
        snprintf(line, sizeof(line),
                 "{\"level\":\"error\",\"msg\":\"out of memory allocating %zu bytes\"}\n", size);
    if (n > 0) {
        size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w;
    }
    abort();
}

void *cf_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

void *cf_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *cf_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

char *cf_xstrdup(const char *s)
{
    size_t len = strlen(s);
    char *p = cf_xmalloc(len + 1);
    memcpy(p, s, len + 1);
    return p;
}

char *cf_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = cf_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *cf_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    char *p = cf_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
