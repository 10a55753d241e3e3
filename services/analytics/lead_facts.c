/*
 * A lead's analytics columns, event by event (lead_facts_testable.h).
 */
#include "lead_facts_testable.h"
#include "call_facts_testable.h" /* an_local_hour */

#include <stdio.h>
#include <string.h>

#include "common/time.h"

#define LEAD_TYPE "clinicflow.lead."

static void copy_str(json_t *patch, const char *col, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        json_object_set_new(patch, col, json_string(json_string_value(v)));
}

static void copy_int(json_t *patch, const char *col, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        json_object_set_new(patch, col, json_integer(json_integer_value(v)));
}

static void copy_time(json_t *patch, const char *col, const json_t *obj, const char *key)
{
    const int64_t ms = cf_time_json_get(obj, key);
    if (ms >= 0)
        cf_time_json_set(patch, col, ms);
}

/* lead.received: the lead as it opened, one request so far. */
static int received(json_t *patch, const json_t *data, const char *tz, char *errbuf,
                    size_t errbuf_size)
{
    const int64_t at = cf_time_json_get(data, "received_at");
    const json_t *tags = json_object_get(data, "tags");
    char hour[20];

    if (at < 0 || an_local_hour(tz, at, hour) != 0) {
        snprintf(errbuf, errbuf_size, "lead.received needs a valid received_at (zone '%s')", tz);
        return -1;
    }
    json_object_set_new(patch, "hour", json_string(hour));
    cf_time_json_set(patch, "received_at", at);
    json_object_set_new(patch, "clinic_id",
                        json_string(json_is_string(json_object_get(data, "clinic_id"))
                                        ? json_string_value(json_object_get(data, "clinic_id"))
                                        : ""));
    copy_str(patch, "provider", data, "provider");
    copy_str(patch, "channel_id", data, "channel");
    json_object_set_new(patch, "source", json_string(""));
    json_object_set_new(patch, "medium", json_string(""));
    json_object_set_new(patch, "campaign", json_string(""));
    copy_str(patch, "source", tags, "utm_source");
    copy_str(patch, "medium", tags, "utm_medium");
    copy_str(patch, "campaign", tags, "utm_campaign");
    /* an ad inside a messenger brings no UTM tags, only its referral: a
     * paid source all the same (proto/README.md) */
    const char *ad_source =
        an_lead_referral_source(json_string_value(json_object_get(data, "provider")));
    if (ad_source && !json_is_string(json_object_get(tags, "utm_source")) &&
        json_is_object(json_object_get(data, "referral"))) {
        json_object_set_new(patch, "source", json_string(ad_source));
        copy_str(patch, "medium", data, "provider");
    }
    copy_str(patch, "patient_class", data, "patient_class");
    copy_str(patch, "contact_key", data, "contact_key");
    json_object_set_new(patch, "messages", json_integer(1));
    json_object_set_new(patch, "status", json_string("open"));
    json_object_set_new(patch, "sla_breached", json_false());
    /* the lead as it opened: what later events set stays (lead_store.c) */
    json_object_set_new(patch, "initial", json_true());
    return 0;
}

/* the columns later events set, which a lead.received only starts */
static const char *const later[] = {"messages", "status", "sla_breached", "contact_key"};

void an_lead_patch_split_initial(json_t *patch)
{
    if (!json_is_true(json_object_get(patch, "initial")))
        return;
    for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
        json_t *v = json_object_get(patch, later[i]);
        if (!v)
            continue;
        char init[32];
        snprintf(init, sizeof(init), "init_%s", later[i]);
        json_object_set(patch, init, v);
        json_object_del(patch, later[i]);
    }
    json_object_del(patch, "initial");
}

void an_lead_patch_merge(json_t *have, const json_t *patch)
{
    json_object_update(have, (json_t *)patch);
}

json_t *an_lead_patch(const char *type, const json_t *data, int64_t time_ms, const char *network_id,
                      const char *tz, char *errbuf, size_t errbuf_size)
{
    const char *lead_id = json_string_value(json_object_get(data, "lead_id"));
    if (!lead_id || !*lead_id) {
        snprintf(errbuf, errbuf_size, "a lead event needs lead_id");
        return NULL;
    }
    json_t *patch = json_pack("{s:s, s:s}", "lead_id", lead_id, "network_id", network_id);
    const char *verb =
        strncmp(type, LEAD_TYPE, strlen(LEAD_TYPE)) == 0 ? type + strlen(LEAD_TYPE) : "";

    if (strcmp(verb, "received") == 0) {
        if (received(patch, data, tz, errbuf, errbuf_size) != 0) {
            json_decref(patch);
            return NULL;
        }
    } else if (strcmp(verb, "merged") == 0) {
        /* the person's next request: the lead's requests so far, and its
         * strongest key now (a phone the merge brought) */
        copy_int(patch, "messages", data, "messages");
        copy_str(patch, "contact_key", data, "contact_key");
    } else if (strcmp(verb, "responded") == 0) {
        copy_time(patch, "responded_at", data, "responded_at");
        copy_int(patch, "response_seconds", data, "response_seconds");
        copy_int(patch, "working_seconds", data, "working_seconds");
        copy_str(patch, "responder", data, "staff_id");
    } else if (strcmp(verb, "status_changed") == 0) {
        copy_str(patch, "status", data, "status");
        copy_str(patch, "lost_reason", data, "reason");
        copy_str(patch, "appointment_id", data, "appointment_id");
        cf_time_json_set(patch, "closed_at", time_ms);
    } else if (strcmp(verb, "sla_breached") == 0) {
        json_object_set_new(patch, "sla_breached", json_true());
        copy_time(patch, "sla_due_at", data, "due_at");
    } else {
        json_object_clear(patch); /* a type this version does not read */
    }
    return patch;
}

const char *an_lead_referral_source(const char *provider)
{
    static const char *const sources[][2] = {
        {"whatsapp", "meta_ads"}, {"instagram", "meta_ads"}, {"vk", "vk_ads"}};
    for (size_t i = 0; provider && i < sizeof(sources) / sizeof(sources[0]); i++)
        if (strcmp(provider, sources[i][0]) == 0)
            return sources[i][1];
    return NULL;
}

json_t *an_lead_aliases(const json_t *data)
{
    static const char *const kinds[] = {"email", "messenger"}; /* never the phone */
    const char *key = json_string_value(json_object_get(data, "contact_key"));
    const json_t *keys = json_object_get(data, "contact_keys");
    json_t *out = json_array();

    for (size_t i = 0; key && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const char *k = json_string_value(json_object_get(keys, kinds[i]));
        if (k && *k && strcmp(k, key) != 0)
            json_array_append_new(out, json_string(k));
    }
    return out;
}

/* "<network_id>\x1f<key>" in buf; 0 when it does not fit */
static int map_key(char *buf, size_t size, const char *network_id, const char *key)
{
    const int n = snprintf(buf, size, "%s\x1f%s", network_id, key);
    return n > 0 && (size_t)n < size;
}

/* A chain of aliases is at most this long (a messenger's key, its
 * e-mail's, the phone's), however the links came. */
#define PERSON_HOPS 8

const char *an_person_of(const json_t *aliases, const char *network_id, const char *key)
{
    char buf[512];

    for (int hop = 0; hop < PERSON_HOPS && map_key(buf, sizeof(buf), network_id, key); hop++) {
        const char *next = json_string_value(json_object_get(aliases, buf));
        if (!next)
            break;
        key = next;
    }
    return key;
}

int an_person_link(json_t *aliases, const char *network_id, const char *alias, const char *person)
{
    char buf[512];
    const char *to = an_person_of(aliases, network_id, person);

    if (!map_key(buf, sizeof(buf), network_id, alias) || json_object_get(aliases, buf) ||
        strcmp(to, alias) == 0)
        return 0;
    json_object_set_new(aliases, buf, json_string(to));
    return 1;
}
