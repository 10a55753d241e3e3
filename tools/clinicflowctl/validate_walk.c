/*
 * The network validator's walk: the first error as "<path>: <reason>", the
 * JSON paths of members and array items (only for messages, so a path too
 * long is cut), the "seen" lists cross references are checked against, and
 * the helpers every section reads an object's members with.
 */
#include "validate_walk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xmalloc.h"

int ctl_fail(struct vctx *v, const char *path, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(v->errbuf, v->errbuf_size, "%s: %s", path, reason);
    return CF_EINVAL;
}

void ctl_seen_add(struct seen *s, const char *key, const char *path, int from, int to)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = cf_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    struct seen_entry *e = &s->v[s->n++];
    e->key = cf_xstrdup(key);
    snprintf(e->path, sizeof(e->path), "%s", path);
    e->from = from;
    e->to = to;
}

const struct seen_entry *ctl_seen_find(const struct seen *s, const char *key)
{
    if (!key)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].key, key) == 0)
            return &s->v[i];
    }
    return NULL;
}

void ctl_seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].key);
    free(s->v);
}

static int is_identifier(const char *key)
{
    if (!((*key >= 'a' && *key <= 'z') || (*key >= 'A' && *key <= 'Z') || *key == '_'))
        return 0;
    for (const char *p = key; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    }
    return 1;
}

void ctl_path_key(char out[PATH_MAX_LEN], const char *path, const char *key)
{
    if (is_identifier(key))
        snprintf(out, PATH_MAX_LEN, "%s.%s", path, key);
    else
        snprintf(out, PATH_MAX_LEN, "%s[\"%s\"]", path, key);
}

void ctl_path_index(char out[PATH_MAX_LEN], const char *path, size_t i)
{
    /* A path too long for the buffer is cut; it is only for messages. */
    if (snprintf(out, PATH_MAX_LEN, "%s[%zu]", path, i) >= PATH_MAX_LEN)
        out[PATH_MAX_LEN - 1] = '\0';
}

int ctl_in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++) {
        if (strcmp(s, list[i]) == 0)
            return 1;
    }
    return 0;
}

void ctl_join_list(char *out, size_t out_size, const char *const *list)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; list && list[i] && used < out_size; i++) {
        int w = snprintf(out + used, out_size - used, "%s%s", i ? ", " : "", list[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

int ctl_check_members(struct vctx *v, const char *path, const json_t *j_obj,
                      const char *const *allowed)
{
    const char *key;
    json_t *j_val;
    json_object_foreach((json_t *)j_obj, key, j_val)
    {
        if (!ctl_in_list(key, allowed)) {
            char child[PATH_MAX_LEN];
            ctl_path_key(child, path, key);
            return ctl_fail(v, child, "unknown member");
        }
    }
    return 0;
}

/* Fetches member key of j_obj; a missing required member is an error, a
 * missing optional one leaves *out NULL. */
int ctl_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key, int required,
               json_t **out)
{
    *out = json_object_get(j_obj, key);
    if (!*out && required)
        return ctl_fail(v, path, "missing member \"%s\"", key);
    return 0;
}

/* A string member: non-empty, at most maxlen bytes. */
int ctl_string_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                      int required, size_t maxlen, const char **out)
{
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc = ctl_member(v, path, j_obj, key, required, &j_val);
    *out = NULL;
    if (rc != 0 || !j_val)
        return rc;
    ctl_path_key(child, path, key);
    if (!json_is_string(j_val))
        return ctl_fail(v, child, "expected a string");
    if (json_string_length(j_val) == 0)
        return ctl_fail(v, child, "must not be empty");
    if (json_string_length(j_val) > maxlen)
        return ctl_fail(v, child, "longer than %zu bytes (UTF-8)", maxlen);
    if (strlen(json_string_value(j_val)) != json_string_length(j_val))
        return ctl_fail(v, child, "must not contain NUL characters");
    *out = json_string_value(j_val);
    return 0;
}

int ctl_int_array_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                         long min, long max, const char *unit)
{
    json_t *j_val, *j_item;
    char child[PATH_MAX_LEN];
    size_t i;
    int rc = ctl_member(v, path, j_obj, key, 0, &j_val);
    if (rc != 0 || !j_val)
        return rc;
    ctl_path_key(child, path, key);
    if (!json_is_array(j_val) || json_array_size(j_val) == 0)
        return ctl_fail(v, child, "expected a non-empty array of %s from %ld to %ld", unit, min,
                        max);
    json_array_foreach(j_val, i, j_item)
    {
        char item_path[PATH_MAX_LEN];
        ctl_path_index(item_path, child, i);
        if (!json_is_integer(j_item) || json_integer_value(j_item) < min ||
            json_integer_value(j_item) > max)
            return ctl_fail(v, item_path, "expected %s from %ld to %ld", unit, min, max);
    }
    return 0;
}

int ctl_int_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key, long min,
                   long max)
{
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc = ctl_member(v, path, j_obj, key, 0, &j_val);
    if (rc != 0 || !j_val)
        return rc;
    ctl_path_key(child, path, key);
    if (!json_is_integer(j_val) || json_integer_value(j_val) < min ||
        json_integer_value(j_val) > max)
        return ctl_fail(v, child, "expected an integer from %ld to %ld", min, max);
    return 0;
}

int ctl_check_string_array(struct vctx *v, const char *path, const json_t *j_arr,
                           int (*valid)(const char *), const char *expected, int nonempty)
{
    char child[PATH_MAX_LEN];
    size_t i;
    json_t *j_item;
    if (!json_is_array(j_arr) || (nonempty && json_array_size(j_arr) == 0))
        return ctl_fail(v, path, "expected %s array of strings", nonempty ? "a non-empty" : "an");
    json_array_foreach(j_arr, i, j_item)
    {
        ctl_path_index(child, path, i);
        if (!json_is_string(j_item) || !valid(json_string_value(j_item)))
            return ctl_fail(v, child, "expected %s", expected);
        for (size_t k = 0; k < i; k++) {
            if (json_equal(json_array_get(j_arr, k), j_item))
                return ctl_fail(v, child, "duplicate value");
        }
    }
    return 0;
}
