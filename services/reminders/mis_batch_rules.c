/*
 * The batch import's pure parts (mis_batch_testable.h). The splitter keeps
 * only the unfinished line between chunks, so a body of any size costs at
 * most one line's buffer; a line past the limit is refused as soon as it
 * gets there, not when it ends.
 */
#include "mis_batch_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/xmalloc.h"
#include "mis_testable.h"

void mis_lines_init(struct mis_lines *lines, size_t max)
{
    memset(lines, 0, sizeof(*lines));
    lines->max = max;
}

void mis_lines_free(struct mis_lines *lines)
{
    free(lines->buf);
    lines->buf = NULL;
    lines->len = lines->cap = 0;
}

static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* One finished line (s, len without the "\n"). */
static int emit(struct mis_lines *lines, const char *s, size_t len, mis_lines_fn fn, void *user)
{
    lines->lineno++;
    if (len > 0 && s[len - 1] == '\r')
        len--;
    if (blank(s, len))
        return 0;
    return fn(s, len, lines->lineno, user);
}

static void keep(struct mis_lines *lines, const char *data, size_t len)
{
    if (lines->len + len > lines->cap) {
        size_t cap = lines->cap ? lines->cap : 4096;
        while (cap < lines->len + len)
            cap *= 2;
        lines->buf = cf_xrealloc(lines->buf, cap);
        lines->cap = cap;
    }
    memcpy(lines->buf + lines->len, data, len);
    lines->len += len;
}

int mis_lines_feed(struct mis_lines *lines, const char *data, size_t len, mis_lines_fn fn,
                   void *user)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t part = nl ? (size_t)(nl - data) : len;
        if (lines->len + part > lines->max)
            return CF_ETOOBIG;
        if (!nl) {
            keep(lines, data, part);
            return 0;
        }
        int rc;
        if (lines->len == 0) { /* the whole line is in this chunk: no copy */
            rc = emit(lines, data, part, fn, user);
        } else {
            keep(lines, data, part);
            rc = emit(lines, lines->buf, lines->len, fn, user);
            lines->len = 0;
        }
        if (rc != 0)
            return rc;
        data += part + 1;
        len -= part + 1;
    }
    return 0;
}

int mis_lines_finish(struct mis_lines *lines, mis_lines_fn fn, void *user)
{
    if (lines->len == 0)
        return 0;
    int rc = emit(lines, lines->buf, lines->len, fn, user);
    lines->len = 0;
    return rc;
}

static int bad(char *field, size_t field_size, const char *name, char *errbuf, size_t errbuf_size,
               const char *msg)
{
    snprintf(field, field_size, "%s", name);
    snprintf(errbuf, errbuf_size, "%s", msg);
    return CF_EINVAL;
}

int mis_batch_line(const char *line, size_t len, enum mis_batch_kind *kind, char *mis_id,
                   size_t mis_id_size, json_t **body, char *field, size_t field_size, char *errbuf,
                   size_t errbuf_size)
{
    json_error_t jerr;
    *body = NULL;
    json_t *j = cf_json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return bad(field, field_size, "", errbuf, errbuf_size, jerr.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return bad(field, field_size, "", errbuf, errbuf_size, "a line must be a JSON object");
    }
    const char *k = json_string_value(json_object_get(j, "kind"));
    const char *id = json_string_value(json_object_get(j, "id"));
    int rc = 0;
    if (!k || (strcmp(k, "patient") != 0 && strcmp(k, "appointment") != 0))
        rc = bad(field, field_size, "kind", errbuf, errbuf_size,
                 "kind: \"patient\" or \"appointment\"");
    else if (!mis_id_ok(id) || strlen(id) >= mis_id_size)
        rc = bad(field, field_size, "id", errbuf, errbuf_size,
                 "id: 1-128 letters, digits, '.', '_', ':' or '-'");
    if (rc != 0) {
        json_decref(j);
        return rc;
    }
    *kind = strcmp(k, "patient") == 0 ? MIS_BATCH_PATIENT : MIS_BATCH_APPOINTMENT;
    snprintf(mis_id, mis_id_size, "%s", id);
    json_object_del(j, "kind"); /* k and id are not used past here */
    json_object_del(j, "id");
    *body = j;
    return 0;
}
