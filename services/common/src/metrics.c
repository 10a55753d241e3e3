/*
 * The process-wide metrics registry behind one mutex. A series is a metric
 * name plus its label text, found through a small chained hash table;
 * families (HELP and TYPE) are kept apart from the series so a family can
 * be described before, after or without any sample. Rendering copies
 * nothing: it sorts pointers to the series by name and labels under the
 * lock and writes the Prometheus text exposition format (0.0.4), one
 * HELP/TYPE header per family, histograms as cumulative _bucket{le=...}
 * lines plus _sum and _count. Updates are a hash lookup and a few stores,
 * cheap enough for every HTTP request.
 */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

#define METRICS_HASH_SIZE 512u

/* Default latency buckets in seconds (upper bounds, "le"); +Inf is implicit. */
static const double hist_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1,     2.5,  5,     10};
#define HIST_NBOUNDS (sizeof hist_bounds / sizeof hist_bounds[0])

enum series_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

struct family {
    char *name;
    char *type;
    char *help;
    struct family *next;
};

struct series {
    char *name;
    char *labels;
    enum series_kind kind;
    double value;                       /* counter and gauge */
    uint64_t buckets[HIST_NBOUNDS + 1]; /* histogram, per bucket; last is +Inf */
    double sum;
    uint64_t count;
    struct series *next; /* hash chain */
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *series_table[METRICS_HASH_SIZE];
static size_t series_count;
static struct family *families;

static unsigned series_hash(const char *name, const char *labels)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const unsigned char *p = (const unsigned char *)labels; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % METRICS_HASH_SIZE;
}

static struct family *family_find(const char *name)
{
    for (struct family *f = families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* Finds or creates a series; the caller holds the lock. A new series takes
 * its kind from the described family, else from the first operation. */
static struct series *series_get(const char *name, const char *labels, enum series_kind kind)
{
    if (labels == NULL)
        labels = "";
    unsigned slot = series_hash(name, labels);
    for (struct series *s = series_table[slot]; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;

    struct series *s = cf_xcalloc(1, sizeof *s);
    s->name = cf_xstrdup(name);
    s->labels = cf_xstrdup(labels);
    s->kind = kind;
    const struct family *f = family_find(name);
    if (f && strcmp(f->type, "histogram") == 0)
        s->kind = KIND_HISTOGRAM;
    else if (f && strcmp(f->type, "counter") == 0)
        s->kind = KIND_COUNTER;
    else if (f && strcmp(f->type, "gauge") == 0)
        s->kind = KIND_GAUGE;
    s->next = series_table[slot];
    series_table[slot] = s;
    series_count++;
    return s;
}

void cf_metrics_describe(const char *name, const char *type, const char *help)
{
    pthread_mutex_lock(&metrics_lock);
    struct family *f = family_find(name);
    if (f == NULL) {
        f = cf_xcalloc(1, sizeof *f);
        f->name = cf_xstrdup(name);
        f->next = families;
        families = f;
    } else {
        free(f->type);
        free(f->help);
    }
    f->type = cf_xstrdup(type ? type : "untyped");
    f->help = cf_xstrdup(help ? help : "");
    pthread_mutex_unlock(&metrics_lock);
}

void cf_metrics_add(const char *name, const char *labels, double delta)
{
    pthread_mutex_lock(&metrics_lock);
    struct series *s = series_get(name, labels, KIND_COUNTER);
    if (s->kind != KIND_HISTOGRAM)
        s->value += delta;
    pthread_mutex_unlock(&metrics_lock);
}

void cf_metrics_set(const char *name, const char *labels, double value)
{
    pthread_mutex_lock(&metrics_lock);
    struct series *s = series_get(name, labels, KIND_GAUGE);
    if (s->kind != KIND_HISTOGRAM)
        s->value = value;
    pthread_mutex_unlock(&metrics_lock);
}

void cf_metrics_observe(const char *name, const char *labels, double value)
{
    if (isnan(value))
        return;
    size_t i = 0;
    while (i < HIST_NBOUNDS && value > hist_bounds[i])
        i++;
    pthread_mutex_lock(&metrics_lock);
    struct series *s = series_get(name, labels, KIND_HISTOGRAM);
    if (s->kind == KIND_HISTOGRAM) {
        s->buckets[i]++;
        s->sum += value;
        s->count++;
    }
    pthread_mutex_unlock(&metrics_lock);
}

/* A growing output buffer. */
struct strbuf {
    char *data;
    size_t len;
    size_t cap;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < sb->cap - sb->len) {
            sb->len += (size_t)n;
            return;
        }
        sb->cap = sb->cap * 2 + (size_t)n + 1;
        sb->data = cf_xrealloc(sb->data, sb->cap);
    }
}

/* Sample values: integers without a fraction, everything else with the
 * fewest digits (15 to 17) that read back as the same double. */
static void sb_value(struct strbuf *sb, double v)
{
    if (isnan(v)) {
        sb_printf(sb, "NaN");
    } else if (isinf(v)) {
        sb_printf(sb, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        sb_printf(sb, "%.0f", v);
    } else {
        char buf[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
        sb_printf(sb, "%s", buf);
    }
}

static int series_cmp(const void *a, const void *b)
{
    const struct series *sa = *(const struct series *const *)a;
    const struct series *sb = *(const struct series *const *)b;
    int c = strcmp(sa->name, sb->name);
    return c ? c : strcmp(sa->labels, sb->labels);
}

static const char *kind_type(enum series_kind kind)
{
    switch (kind) {
    case KIND_COUNTER:
        return "counter";
    case KIND_GAUGE:
        return "gauge";
    case KIND_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

/* HELP text escapes backslash and newline. */
static void sb_help(struct strbuf *sb, const char *name, const char *help)
{
    sb_printf(sb, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            sb_printf(sb, "\\\\");
        else if (*p == '\n')
            sb_printf(sb, "\\n");
        else
            sb_printf(sb, "%c", *p);
    }
    sb_printf(sb, "\n");
}

static void render_header(struct strbuf *sb, const char *name, const struct family *f,
                          enum series_kind kind)
{
    if (f && f->help[0])
        sb_help(sb, name, f->help);
    sb_printf(sb, "# TYPE %s %s\n", name, f ? f->type : kind_type(kind));
}

static void render_series(struct strbuf *sb, const struct series *s)
{
    const char *sep = s->labels[0] ? "," : "";
    if (s->kind != KIND_HISTOGRAM) {
        if (s->labels[0])
            sb_printf(sb, "%s{%s} ", s->name, s->labels);
        else
            sb_printf(sb, "%s ", s->name);
        sb_value(sb, s->value);
        sb_printf(sb, "\n");
        return;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= HIST_NBOUNDS; i++) {
        cumulative += s->buckets[i];
        if (i < HIST_NBOUNDS)
            sb_printf(sb, "%s_bucket{%s%sle=\"%g\"} %llu\n", s->name, s->labels, sep,
                      hist_bounds[i], (unsigned long long)cumulative);
        else
            sb_printf(sb, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", s->name, s->labels, sep,
                      (unsigned long long)cumulative);
    }
    if (s->labels[0])
        sb_printf(sb, "%s_sum{%s} ", s->name, s->labels);
    else
        sb_printf(sb, "%s_sum ", s->name);
    sb_value(sb, s->sum);
    if (s->labels[0])
        sb_printf(sb, "\n%s_count{%s} %llu\n", s->name, s->labels, (unsigned long long)s->count);
    else
        sb_printf(sb, "\n%s_count %llu\n", s->name, (unsigned long long)s->count);
}

static int family_cmp(const void *a, const void *b)
{
    const struct family *fa = *(const struct family *const *)a;
    const struct family *fb = *(const struct family *const *)b;
    return strcmp(fa->name, fb->name);
}

/*
 * Returns the registry in text exposition format, families sorted by name
 * and series by labels (a stable output that diffs well). Described
 * families without any series are listed with their HELP and TYPE only.
 * The caller frees the string. Thread-safe; holds the lock while writing.
 */
char *cf_metrics_render(void)
{
    struct strbuf sb = {.data = cf_xmalloc(4096), .len = 0, .cap = 4096};
    sb.data[0] = '\0';

    pthread_mutex_lock(&metrics_lock);
    struct series **all = cf_xcalloc(series_count + 1, sizeof(struct series *));
    size_t n = 0;
    for (size_t slot = 0; slot < METRICS_HASH_SIZE; slot++)
        for (struct series *s = series_table[slot]; s; s = s->next)
            all[n++] = s;
    qsort(all, n, sizeof(struct series *), series_cmp);

    size_t nfam = 0;
    for (struct family *f = families; f; f = f->next)
        nfam++;
    struct family **fams = cf_xcalloc(nfam + 1, sizeof(struct family *));
    nfam = 0;
    for (struct family *f = families; f; f = f->next)
        fams[nfam++] = f;
    qsort(fams, nfam, sizeof(struct family *), family_cmp);

    /* Merge the sorted series with the sorted families that have none. */
    size_t i = 0, k = 0;
    while (i < n || k < nfam) {
        if (k < nfam && (i == n || strcmp(fams[k]->name, all[i]->name) < 0)) {
            render_header(&sb, fams[k]->name, fams[k], KIND_GAUGE);
            k++;
            continue;
        }
        const char *name = all[i]->name;
        const struct family *f = family_find(name);
        if (k < nfam && strcmp(fams[k]->name, name) == 0)
            k++;
        render_header(&sb, name, f, all[i]->kind);
        for (; i < n && strcmp(all[i]->name, name) == 0; i++)
            render_series(&sb, all[i]);
    }
    pthread_mutex_unlock(&metrics_lock);

    free(all);
    free(fams);
    return sb.data;
}

void cf_metrics_reset(void)
{
    pthread_mutex_lock(&metrics_lock);
    for (size_t slot = 0; slot < METRICS_HASH_SIZE; slot++) {
        struct series *s = series_table[slot];
        while (s) {
            struct series *next = s->next;
            free(s->name);
            free(s->labels);
            free(s);
            s = next;
        }
        series_table[slot] = NULL;
    }
    series_count = 0;
    while (families) {
        struct family *next = families->next;
        free(families->name);
        free(families->type);
        free(families->help);
        free(families);
        families = next;
    }
    pthread_mutex_unlock(&metrics_lock);
}
