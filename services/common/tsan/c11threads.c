/*
 * ThreadSanitizer builds only. librdkafka starts its threads with C11
 * thrd_create, which glibc 2.34+ implements without going through the
 * pthread_create symbol that TSan intercepts, and clang 14's TSan has no
 * interceptor of its own for it: such a thread runs without TSan state and
 * crashes at its first instrumented access. Defining the C11 thread calls
 * in the executable, on top of pthreads, makes the dynamic linker bind
 * librdkafka's references here, so TSan sees every thread start and join.
 * glibc defines thrd_t as pthread_t, so the handles are the same.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

struct c11_start {
    thrd_start_t func;
    void *arg;
};

static void *c11_trampoline(void *p)
{
    struct c11_start s = *(struct c11_start *)p;
    free(p);
    return (void *)(intptr_t)s.func(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    struct c11_start *s = malloc(sizeof(*s));
    if (!s)
        return thrd_nomem;
    s->func = func;
    s->arg = arg;
    int rc = pthread_create(thr, NULL, c11_trampoline, s);
    if (rc != 0) {
        free(s);
        return thrd_error;
    }
    return thrd_success;
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret = NULL;
    if (pthread_join(thr, &ret) != 0)
        return thrd_error;
    if (res)
        *res = (int)(intptr_t)ret;
    return thrd_success;
}

int thrd_detach(thrd_t thr)
{
    return pthread_detach(thr) == 0 ? thrd_success : thrd_error;
}
