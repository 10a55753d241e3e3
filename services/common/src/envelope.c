/*
 * The CloudEvents 1.0 structured envelope (proto/README.md, The envelope). Building
 * emits the members in one fixed order; parsing is strict, because every
 * envelope on our topics is written by our own code: unknown top-level
 * members, a missing required member or a wrongly typed one reject the
 * message with a reason naming the member, and the consumer sends it to the
 * DLQ. Times are kept as unix milliseconds and converted with timegm and
 * gmtime_r, never through the process time zone.
 */
#include "common/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/xmalloc.h"

#define SPECVERSION "1.0"
#define CONTENT_TYPE "application/json"
#define SOURCE_PREFIX "/clinicflow/"
#define TYPE_PREFIX "clinicflow."

void cf_event_clear(struct cf_event *ev)
{
    free(ev->source);
    free(ev->type);
    free(ev->subject);
    free(ev->networkid);
    free(ev->clinicid);
    json_decref(ev->data);
    memset(ev, 0, sizeof(*ev));
}

void cf_event_derive(struct cf_event *ev, const char *in_id, const char *kind, const char *id_extra,
                     const char *stage, const char *subject, int64_t time_ms,
                     const char *network_id, const char *clinic_id, json_t *data)
{
    const char *parts[] = {in_id, kind, id_extra};

    cf_event_clear(ev);
    cf_uuid5(parts, id_extra ? 3 : 2, ev->id);
    ev->source = cf_xasprintf(SOURCE_PREFIX "%s", stage);
    ev->type = cf_xasprintf(TYPE_PREFIX "%s", kind);
    ev->subject = cf_xstrdup(subject);
    ev->time_ms = time_ms;
    ev->networkid = cf_xstrdup(network_id);
    ev->clinicid = clinic_id ? cf_xstrdup(clinic_id) : NULL;
    ev->data = data;
}

/* Sets key to a new string; 0, or -1 if value is NULL or not UTF-8. */
static int set_string(json_t *obj, const char *key, const char *value)
{
    if (!value)
        return -1;
    return json_object_set_new(obj, key, json_string(value));
}

/*
 * New reference to the envelope object, or NULL if a required member is
 * missing or a string is not valid UTF-8. clinicid is omitted when NULL;
 * data is shared (its reference count is raised), not copied.
 */
json_t *cf_event_to_json(const struct cf_event *ev)
{
    char time_buf[32];
    json_t *j_ev = json_object();
    if (!j_ev || !ev->data)
        goto fail;
    cf_time_format(ev->time_ms, time_buf);
    if (set_string(j_ev, "specversion", SPECVERSION) || set_string(j_ev, "id", ev->id) ||
        set_string(j_ev, "source", ev->source) || set_string(j_ev, "type", ev->type) ||
        set_string(j_ev, "subject", ev->subject) || set_string(j_ev, "time", time_buf) ||
        set_string(j_ev, "datacontenttype", CONTENT_TYPE) ||
        set_string(j_ev, "networkid", ev->networkid))
        goto fail;
    if (ev->clinicid && set_string(j_ev, "clinicid", ev->clinicid))
        goto fail;
    if (json_object_set(j_ev, "data", ev->data))
        goto fail;
    return j_ev;
fail:
    json_decref(j_ev);
    return NULL;
}

/* Compact JSON text of the envelope (free() it), or NULL as cf_event_to_json. */
char *cf_event_dumps(const struct cf_event *ev)
{
    json_t *j_ev = cf_event_to_json(ev);
    if (!j_ev)
        return NULL;
    char *text = cf_json_dumps(j_ev);
    json_decref(j_ev);
    return text;
}

static const char *const known_members[] = {"specversion", "id",   "source",          "type",
                                            "subject",     "time", "datacontenttype", "networkid",
                                            "clinicid",    "data"};

/*
 * The string member key of j_ev: NULL with a reason in errbuf when it is
 * absent (and required), not a string, or empty. *present tells an absent
 * optional member from an error.
 */
static const char *get_string(json_t *j_ev, const char *key, int required, int *present,
                              char *errbuf, size_t errbuf_size)
{
    json_t *j_v = json_object_get(j_ev, key);
    *present = j_v != NULL;
    if (!j_v) {
        if (required)
            snprintf(errbuf, errbuf_size, "envelope: missing member '%s'", key);
        return NULL;
    }
    if (!json_is_string(j_v)) {
        snprintf(errbuf, errbuf_size, "envelope: member '%s' is not a string", key);
        return NULL;
    }
    const char *v = json_string_value(j_v);
    if (v[0] == '\0' || strlen(v) != json_string_length(j_v)) {
        snprintf(errbuf, errbuf_size, "envelope: member '%s' is empty or has a NUL byte", key);
        return NULL;
    }
    return v;
}

static int has_prefix(const char *s, const char *prefix)
{
    size_t plen = strlen(prefix);
    return strncmp(s, prefix, plen) == 0 && s[plen] != '\0';
}

/*
 * Parses and validates one envelope. ev need not be initialized; on success
 * it owns copies of the strings and a reference to data, on failure it is
 * zeroed. Never blocks; any thread.
 */
int cf_event_parse(const void *buf, size_t len, struct cf_event *ev, char *errbuf,
                   size_t errbuf_size)
{
    json_error_t jerr;
    json_t *j_ev = NULL;
    const char *v;
    int present;
    int rc = CF_EINVAL;

    memset(ev, 0, sizeof(*ev));
    if (!buf || len == 0) {
        snprintf(errbuf, errbuf_size, "envelope: empty value");
        return CF_EINVAL;
    }
    j_ev = cf_json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j_ev) {
        snprintf(errbuf, errbuf_size, "envelope: not JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        return CF_EINVAL;
    }
    if (!json_is_object(j_ev)) {
        snprintf(errbuf, errbuf_size, "envelope: not a JSON object");
        goto out;
    }

    const char *key;
    json_t *j_member;
    json_object_foreach(j_ev, key, j_member)
    {
        size_t k = 0;
        size_t n_known = sizeof(known_members) / sizeof(known_members[0]);
        while (k < n_known && strcmp(key, known_members[k]) != 0)
            k++;
        if (k == n_known) {
            snprintf(errbuf, errbuf_size, "envelope: unknown member '%s'", key);
            goto out;
        }
    }

    if (!(v = get_string(j_ev, "specversion", 1, &present, errbuf, errbuf_size)))
        goto out;
    if (strcmp(v, SPECVERSION) != 0) {
        snprintf(errbuf, errbuf_size, "envelope: specversion must be \"" SPECVERSION "\"");
        goto out;
    }

    if (!(v = get_string(j_ev, "id", 1, &present, errbuf, errbuf_size)))
        goto out;
    if (!cf_uuid_valid(v)) {
        snprintf(errbuf, errbuf_size, "envelope: id is not a UUID");
        goto out;
    }
    memcpy(ev->id, v, CF_UUID_STR_LEN + 1);
    /* An uppercase id is the same event: compared as the database returns it. */
    cf_uuid_lower(ev->id);

    if (!(v = get_string(j_ev, "source", 1, &present, errbuf, errbuf_size)))
        goto out;
    if (!has_prefix(v, SOURCE_PREFIX)) {
        snprintf(errbuf, errbuf_size, "envelope: source must start with \"" SOURCE_PREFIX "\"");
        goto out;
    }
    ev->source = cf_xstrdup(v);

    if (!(v = get_string(j_ev, "type", 1, &present, errbuf, errbuf_size)))
        goto out;
    if (!has_prefix(v, TYPE_PREFIX)) {
        snprintf(errbuf, errbuf_size, "envelope: type must start with \"" TYPE_PREFIX "\"");
        goto out;
    }
    ev->type = cf_xstrdup(v);

    if (!(v = get_string(j_ev, "subject", 1, &present, errbuf, errbuf_size)))
        goto out;
    ev->subject = cf_xstrdup(v);

    if (!(v = get_string(j_ev, "time", 1, &present, errbuf, errbuf_size)))
        goto out;
    if (cf_time_parse(v, &ev->time_ms) != 0) {
        snprintf(errbuf, errbuf_size, "envelope: time is not an RFC 3339 timestamp");
        goto out;
    }

    if (!(v = get_string(j_ev, "networkid", 1, &present, errbuf, errbuf_size)))
        goto out;
    ev->networkid = cf_xstrdup(v);

    v = get_string(j_ev, "clinicid", 0, &present, errbuf, errbuf_size);
    if (present && !v)
        goto out;
    if (v)
        ev->clinicid = cf_xstrdup(v);

    v = get_string(j_ev, "datacontenttype", 0, &present, errbuf, errbuf_size);
    if (present && !v)
        goto out;
    if (v && strcmp(v, CONTENT_TYPE) != 0) {
        snprintf(errbuf, errbuf_size, "envelope: datacontenttype must be \"" CONTENT_TYPE "\"");
        goto out;
    }

    json_t *j_data = json_object_get(j_ev, "data");
    if (!j_data) {
        snprintf(errbuf, errbuf_size, "envelope: missing member 'data'");
        goto out;
    }
    if (!json_is_object(j_data)) {
        snprintf(errbuf, errbuf_size, "envelope: data is not an object");
        goto out;
    }
    ev->data = json_incref(j_data);
    rc = 0;

out:
    json_decref(j_ev);
    if (rc != 0)
        cf_event_clear(ev);
    return rc;
}
