/*
 * JSON text through common/json_text.h beside jansson, the baseline, in
 * the same run: each example envelope of proto/examples parsed and
 * written many times over each way, and a fold's batch parameter (the
 * examples' data, 750 to an array) written. Prints the time of each and
 * the ratio (jansson's time over ours: above 1 is faster).
 *
 *   clinicflow-bench-json-text <proto/examples dir> [rounds]
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json_text.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct doc {
    char *text;
    size_t len;
};

static size_t load(const char *dir, struct doc *docs, size_t max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;
    while (d && (de = readdir(d)) && n < max) {
        if (!strstr(de->d_name, ".json"))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        json_error_t e;
        json_t *j = json_load_file(path, 0, &e);
        if (!j)
            continue;
        /* as on a topic: compact */
        docs[n].text = json_dumps(j, JSON_COMPACT);
        docs[n].len = strlen(docs[n].text);
        n++;
        json_decref(j);
    }
    if (d)
        closedir(d);
    return n;
}

static void row(const char *what, double base, double ours, size_t count)
{
    printf("  %-44s jansson %8.0f ns  ours %8.0f ns  = %.2fx\n", what, base / (double)count * 1e9,
           ours / (double)count * 1e9, base / ours);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <proto/examples dir> [rounds]\n", argv[0]);
        return 2;
    }
    const int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2000;
    struct doc docs[64];
    const size_t n = load(argv[1], docs, 64);
    if (n == 0) {
        fprintf(stderr, "no examples in %s\n", argv[1]);
        return 1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += docs[i].len;
    printf("== JSON text: %zu example envelopes (%zu bytes on average), %d rounds\n", n, bytes / n,
           rounds);

    /* parsing, as the consumers parse each envelope */
    double t0 = now_s();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++) {
            json_error_t e;
            json_decref(json_loadb(docs[i].text, docs[i].len, JSON_REJECT_DUPLICATES, &e));
        }
    double base = now_s() - t0;
    t0 = now_s();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++) {
            json_error_t e;
            json_decref(cf_json_loadb(docs[i].text, docs[i].len, JSON_REJECT_DUPLICATES, &e));
        }
    double ours = now_s() - t0;
    row("parse an envelope (and free it)", base, ours, (size_t)rounds * n);

    /* writing, as every produced envelope is written */
    json_t *trees[64];
    for (size_t i = 0; i < n; i++) {
        json_error_t e;
        trees[i] = json_loadb(docs[i].text, docs[i].len, 0, &e);
    }
    size_t check = 0;
    t0 = now_s();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++) {
            char *t = json_dumps(trees[i], JSON_COMPACT);
            check += strlen(t);
            free(t);
        }
    base = now_s() - t0;
    t0 = now_s();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++) {
            char *t = cf_json_dumps(trees[i]);
            check -= strlen(t);
            free(t);
        }
    ours = now_s() - t0;
    row("write an envelope", base, ours, (size_t)rounds * n);

    /* a batch statement's parameter: 750 documents in one array */
    json_t *batch = json_array();
    for (size_t k = 0; k < 750; k++)
        json_array_append(batch, json_object_get(trees[k % n], "data"));
    const int brounds = rounds / 50 > 0 ? rounds / 50 : 1;
    t0 = now_s();
    for (int r = 0; r < brounds; r++) {
        char *t = json_dumps(batch, JSON_COMPACT);
        check += strlen(t);
        free(t);
    }
    base = now_s() - t0;
    t0 = now_s();
    for (int r = 0; r < brounds; r++) {
        char *t = cf_json_dumps(batch);
        check -= strlen(t);
        free(t);
    }
    ours = now_s() - t0;
    row("write a batch parameter of 750 documents", base, ours, (size_t)brounds);
    json_decref(batch);
    for (size_t i = 0; i < n; i++) {
        json_decref(trees[i]);
        free(docs[i].text);
    }
    if (check != 0) {
        fprintf(stderr, "the two wrote texts of different lengths\n");
        return 1;
    }
    return 0;
}
