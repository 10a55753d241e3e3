/*
 * How far a fold has come, for a sweeper that must not decide on a fact
 * the fold has not stored yet (calls: a task is lost only if no callback
 * came in time; leads: a lead breaches only if no response came by its
 * due time). Each sweep samples the high watermarks of the fold's input
 * topic (every fact acknowledged before the sample is below them); the
 * horizon is the time of the newest sample that the fold's stored offsets
 * have reached in every partition. What is due before the horizon can be
 * decided; what is due after it waits for a later sweep. The samples live
 * on the sweeper's thread only, or behind the lock of consumers asking
 * (cf_fold_progress_ask). The watermarks come from Kafka and the
 * stored offsets from the fold's consumer runner
 * (cf_consumer_stored_offsets): nothing here reads another module's
 * tables.
 */
#include "common/fold_progress.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/consumer.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/time.h"
#include "common/xmalloc.h"

#define FOLD_SAMPLES 256
#define FOLD_PARTITIONS_FIRST 64 /* a first guess; the topic's own count wins */

struct fold_sample {
    int64_t at_ms;
    int n;       /* partitions */
    int64_t *hi; /* n high watermarks */
};

/* The samples the fold has not reached yet, oldest first, and the horizon
 * reached so far. When the fold is so far behind that the samples fill
 * up, every other one is dropped: the span they cover doubles, so a fold
 * that catches up after hours still finds the samples it passes. The
 * arrays are sized from the topic's partition count, which may grow. */
struct cf_fold_progress {
    char *schema, *group, *topic, *who;
    struct fold_sample samples[FOLD_SAMPLES];
    size_t count;
    int64_t horizon_ms; /* -1: none yet */
    int cap;            /* partitions lo and stored hold, at least any sample's n */
    int64_t *lo;
    int64_t *stored;
    pthread_mutex_t lock; /* held by cf_fold_progress_ask only */
};

static void fold_progress_grow(struct cf_fold_progress *fp, int cap)
{
    fp->cap = cap;
    fp->lo = cf_xrealloc(fp->lo, (size_t)cap * sizeof(*fp->lo));
    fp->stored = cf_xrealloc(fp->stored, (size_t)cap * sizeof(*fp->stored));
}

struct cf_fold_progress *cf_fold_progress_new(const char *schema, const char *group,
                                              const char *topic, const char *who)
{
    struct cf_fold_progress *fp = cf_xcalloc(1, sizeof(*fp));
    fp->schema = cf_xstrdup(schema);
    fp->group = cf_xstrdup(group);
    fp->topic = cf_xstrdup(topic);
    fp->who = cf_xstrdup(who);
    fp->horizon_ms = -1;
    pthread_mutex_init(&fp->lock, NULL);
    fold_progress_grow(fp, FOLD_PARTITIONS_FIRST);
    return fp;
}

void cf_fold_progress_free(struct cf_fold_progress *fp)
{
    for (size_t i = 0; i < fp->count; i++)
        free(fp->samples[i].hi);
    free(fp->lo);
    free(fp->stored);
    free(fp->schema);
    free(fp->group);
    free(fp->topic);
    free(fp->who);
    pthread_mutex_destroy(&fp->lock);
    free(fp);
}

void cf_fold_progress_sample(struct cf_fold_progress *fp, struct cf_producer *producer)
{
    char errbuf[256];
    struct fold_sample s = {.at_ms = cf_time_now_ms()};
    int64_t *hi = cf_xcalloc((size_t)fp->cap, sizeof(*hi));
    s.n =
        cf_kafka_watermarks(producer, fp->topic, fp->lo, hi, fp->cap, 1000, errbuf, sizeof(errbuf));
    if (s.n > fp->cap) { /* more partitions than so far: asked again with room for them */
        fold_progress_grow(fp, s.n);
        hi = cf_xrealloc(hi, (size_t)fp->cap * sizeof(*hi));
        s.n = cf_kafka_watermarks(producer, fp->topic, fp->lo, hi, fp->cap, 1000, errbuf,
                                  sizeof(errbuf));
        if (s.n > fp->cap)
            snprintf(errbuf, sizeof(errbuf), "the partitions of %s grew again while sampled",
                     fp->topic);
    }
    if (s.n < 0 || s.n > fp->cap) {
        cf_warn("%s: %s (what is due waits for the next sample)", fp->who, errbuf);
        free(hi);
        return;
    }
    s.hi = hi;
    /* A partition with nothing kept (empty, or all of it past retention)
     * asks nothing of the fold, which may never have stored an offset for
     * it. */
    for (int p = 0; p < s.n; p++)
        if (fp->lo[p] >= s.hi[p])
            s.hi[p] = 0;
    if (fp->count == FOLD_SAMPLES) {
        for (size_t i = 0; i < FOLD_SAMPLES / 2; i++) {
            free(fp->samples[2 * i].hi);
            fp->samples[i] = fp->samples[2 * i + 1];
        }
        fp->count = FOLD_SAMPLES / 2;
    }
    fp->samples[fp->count++] = s;
}

int64_t cf_fold_progress_horizon(struct cf_fold_progress *fp, PGconn *conn)
{
    char errbuf[256];
    if (cf_consumer_stored_offsets(conn, fp->schema, fp->group, fp->topic, fp->stored, fp->cap,
                                   errbuf, sizeof(errbuf)) != 0) {
        cf_warn("%s: the fold's offsets: %s", fp->who, errbuf);
        return fp->horizon_ms;
    }
    size_t reached = 0;                                  /* how many of the oldest samples */
    for (size_t k = fp->count; k > 0 && !reached; k--) { /* newest first */
        const struct fold_sample *s = &fp->samples[k - 1];
        int all = 1;
        for (int p = 0; p < s->n && all; p++)
            all = fp->stored[p] >= s->hi[p];
        if (all)
            reached = k;
    }
    if (reached > 0) {
        fp->horizon_ms = fp->samples[reached - 1].at_ms;
        for (size_t i = 0; i < reached; i++)
            free(fp->samples[i].hi);
        memmove(fp->samples, fp->samples + reached, (fp->count - reached) * sizeof(fp->samples[0]));
        fp->count -= reached;
    }
    return fp->horizon_ms;
}

int64_t cf_fold_progress_ask(struct cf_fold_progress *fp, struct cf_producer *producer,
                             PGconn *conn, int64_t *behind_ms)
{
    pthread_mutex_lock(&fp->lock);
    cf_fold_progress_sample(fp, producer);
    const int64_t horizon_ms = cf_fold_progress_horizon(fp, conn);
    /* the samples left are those not reached, oldest first */
    *behind_ms = fp->count > 0 ? cf_time_now_ms() - fp->samples[0].at_ms : 0;
    pthread_mutex_unlock(&fp->lock);
    return horizon_ms;
}
