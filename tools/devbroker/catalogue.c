/*
 * Reads the topic catalogue (proto/topics.json) for the devbroker. The mock
 * cluster auto-creates any unknown topic with 4 partitions, so the catalogue
 * is checked strictly here: a malformed name or partition count stops
 * start-up instead of silently producing a broker that disagrees with
 * production. Only name and partitions are read; the other fields are for
 * people and for the contract tests.
 */
#include "devbroker.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "common/xmalloc.h"

#define TOPIC_NAME_RE "^clinicflow\\.[a-z0-9]+(\\.[a-z0-9]+)*\\.v[0-9]+$"

int devbroker_topic_name_valid(const char *name)
{
    regex_t re;
    int ok;

    if (regcomp(&re, TOPIC_NAME_RE, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    ok = regexec(&re, name, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* Checks topic i of the array and appends it to out. */
static int load_topic(const char *path, size_t i, json_t *j_topic, struct devbroker_catalogue *out,
                      char *errbuf, size_t errbuf_size)
{
    json_t *j_name, *j_partitions;
    const char *name;
    json_int_t partitions;

    if (!json_is_object(j_topic)) {
        snprintf(errbuf, errbuf_size, "%s: $.topics[%zu]: expected an object", path, i);
        return CF_EINVAL;
    }
    j_name = json_object_get(j_topic, "name");
    if (!json_is_string(j_name)) {
        snprintf(errbuf, errbuf_size, "%s: $.topics[%zu].name: expected a string", path, i);
        return CF_EINVAL;
    }
    name = json_string_value(j_name);
    if (!devbroker_topic_name_valid(name)) {
        snprintf(errbuf, errbuf_size,
                 "%s: $.topics[%zu].name: '%s' does not match clinicflow.<name>.v<major>", path, i,
                 name);
        return CF_EINVAL;
    }
    for (size_t k = 0; k < out->n; k++) {
        if (strcmp(out->topics[k].name, name) == 0) {
            snprintf(errbuf, errbuf_size, "%s: $.topics[%zu].name: '%s' listed twice", path, i,
                     name);
            return CF_EINVAL;
        }
    }
    j_partitions = json_object_get(j_topic, "partitions");
    if (!json_is_integer(j_partitions)) {
        snprintf(errbuf, errbuf_size, "%s: $.topics[%zu].partitions: expected an integer", path, i);
        return CF_EINVAL;
    }
    partitions = json_integer_value(j_partitions);
    if (partitions < 1 || partitions > DEVBROKER_MAX_PARTITIONS) {
        snprintf(errbuf, errbuf_size, "%s: $.topics[%zu].partitions: expected 1..%d, got %lld",
                 path, i, DEVBROKER_MAX_PARTITIONS, (long long)partitions);
        return CF_EINVAL;
    }
    out->topics[out->n].name = cf_xstrdup(name);
    out->topics[out->n].partitions = (int)partitions;
    out->n++;
    return 0;
}

int devbroker_catalogue_load(const char *path, struct devbroker_catalogue *out, char *errbuf,
                             size_t errbuf_size)
{
    json_t *j_cat = NULL, *j_topics, *j_topic;
    json_error_t jerr;
    size_t i;
    int err = CF_EINVAL;

    out->topics = NULL;
    out->n = 0;
    j_cat = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!j_cat) {
        snprintf(errbuf, errbuf_size, "%s:%d: %s", path, jerr.line, jerr.text);
        goto out;
    }
    if (!json_is_object(j_cat) || json_integer_value(json_object_get(j_cat, "version")) != 1) {
        snprintf(errbuf, errbuf_size, "%s: $.version: expected 1", path);
        goto out;
    }
    j_topics = json_object_get(j_cat, "topics");
    if (!json_is_array(j_topics) || json_array_size(j_topics) == 0) {
        snprintf(errbuf, errbuf_size, "%s: $.topics: expected a non-empty array", path);
        goto out;
    }
    out->topics = cf_xcalloc(json_array_size(j_topics), sizeof(*out->topics));
    json_array_foreach(j_topics, i, j_topic)
    {
        err = load_topic(path, i, j_topic, out, errbuf, errbuf_size);
        if (err)
            goto out;
    }
    err = 0;
out:
    if (err)
        devbroker_catalogue_free(out);
    json_decref(j_cat);
    return err;
}

void devbroker_catalogue_free(struct devbroker_catalogue *cat)
{
    for (size_t i = 0; i < cat->n; i++)
        free(cat->topics[i].name);
    free(cat->topics);
    cat->topics = NULL;
    cat->n = 0;
}
