/*
 * The consumer runner's DLQ entries (proto/schemas/dlq.entry.json): a
 * message given up on, with its key and value as they were, its tenant
 * when its envelope parsed, and an id from where it was, so that giving up
 * on it again yields the same entry. consumer.c queues them; a service's
 * own workers build them for messages they held (cf_consumer_dlq_entry).
 */
#include "common/consumer.h"

#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/hash.h"
#include "common/validate.h"
#include "common/xmalloc.h"
#include "consumer_testable.h"

/* cf_consumer_dlq_entry keeping at most value_max bytes of the value. */
static char *dlq_entry(const char *group_id, const char *topic, int32_t partition, int64_t offset,
                       const void *key, size_t keylen, const void *value, size_t valuelen,
                       const char *network_id, const char *clinic_id, const char *reason_code,
                       const char *reason, int64_t now_ms, size_t value_max)
{
    char spartition[16], soffset[32];
    snprintf(spartition, sizeof(spartition), "%" PRId32, partition);
    snprintf(soffset, sizeof(soffset), "%" PRId64, offset);

    struct cf_event ev = {0};
    const char *parts[] = {topic, spartition, soffset, group_id};
    cf_uuid5(parts, 4, ev.id);
    ev.source = cf_xasprintf("/clinicflow/%s/dlq", group_id);
    ev.type = cf_xstrdup("clinicflow.dlq.entry");
    ev.subject = cf_xasprintf("%s/%s/%s", topic, spartition, soffset);
    ev.time_ms = now_ms;
    ev.networkid = cf_xstrdup(network_id ? network_id : "unknown");
    ev.clinicid = clinic_id ? cf_xstrdup(clinic_id) : NULL;

    const size_t vlen = !value ? 0 : valuelen > value_max ? value_max : valuelen;
    char *value_b64 = cf_xmalloc(4 * ((vlen + 2) / 3) + 1);
    cf_base64(value, vlen, value_b64);
    /* A reason cut to its buffer (snprintf) may end inside a character, or
     * quote bytes that are not UTF-8: only its valid prefix is kept, since
     * Jansson takes nothing else and the entry must be built. */
    const char *why = reason && *reason ? reason : reason_code;
    json_t *j_reason = json_stringn(why, cf_validate_utf8_valid_prefix(why, strlen(why)));
    ev.data = json_pack("{s:s, s:s, s:i, s:I, s:s, s:o, s:s}", "group_id", group_id, "topic", topic,
                        "partition", (int)partition, "offset", (json_int_t)offset, "reason_code",
                        reason_code, "reason", j_reason ? j_reason : json_string(reason_code),
                        "value_b64", value_b64);
    free(value_b64);
    if (value && valuelen > vlen) {
        json_object_set_new(ev.data, "value_truncated", json_true());
        json_object_set_new(ev.data, "value_bytes", json_integer((json_int_t)valuelen));
    }
    if (key && keylen) {
        const size_t klen = keylen > CF_DLQ_KEY_MAX ? CF_DLQ_KEY_MAX : keylen;
        char *key_b64 = cf_xmalloc(4 * ((klen + 2) / 3) + 1);
        cf_base64(key, klen, key_b64);
        json_object_set_new(ev.data, "key_b64", json_string(key_b64));
        free(key_b64);
        if (klen < keylen)
            json_object_set_new(ev.data, "key_truncated", json_true());
    }
    assert(ev.data);

    char *entry = cf_event_dumps(&ev);
    assert(entry);
    cf_event_clear(&ev);
    return entry;
}

char *cf_consumer_dlq_entry(const char *group_id, const char *topic, int32_t partition,
                            int64_t offset, const void *key, size_t keylen, const void *value,
                            size_t valuelen, const char *network_id, const char *clinic_id,
                            const char *reason_code, const char *reason, int64_t now_ms)
{
    return dlq_entry(group_id, topic, partition, offset, key, keylen, value, valuelen, network_id,
                     clinic_id, reason_code, reason, now_ms, CF_DLQ_VALUE_MAX);
}

char *cf_consumer_dlq_value_within(const char *group_id, const char *topic,
                                   const rd_kafka_message_t *rkm, const struct cf_event *orig,
                                   const char *reason_code, const char *reason, int64_t now_ms,
                                   size_t max_bytes)
{
    const char *network_id = orig ? orig->networkid : NULL;
    const char *clinic_id = orig ? orig->clinicid : NULL;
    char *entry = dlq_entry(group_id, topic, rkm->partition, rkm->offset, rkm->key, rkm->key_len,
                            rkm->payload, rkm->len, network_id, clinic_id, reason_code, reason,
                            now_ms, CF_DLQ_VALUE_MAX);
    const size_t keylen = rkm->key_len > CF_DLQ_KEY_MAX ? CF_DLQ_KEY_MAX : rkm->key_len;
    const size_t len = strlen(entry);
    if (max_bytes == 0 || keylen + len <= max_bytes)
        return entry;
    /* what the entry holds besides the value's base64, and the members a
     * cut adds (value_truncated, value_bytes) */
    const size_t kept = !rkm->payload                 ? 0
                        : rkm->len > CF_DLQ_VALUE_MAX ? CF_DLQ_VALUE_MAX
                                                      : rkm->len;
    const size_t overhead = len - 4 * ((kept + 2) / 3) + 64;
    const size_t room = max_bytes > keylen + overhead ? max_bytes - keylen - overhead : 0;
    free(entry);
    return dlq_entry(group_id, topic, rkm->partition, rkm->offset, rkm->key, rkm->key_len,
                     rkm->payload, rkm->len, network_id, clinic_id, reason_code, reason, now_ms,
                     room / 4 * 3);
}

char *cf_consumer_dlq_value(const char *group_id, const char *topic, const rd_kafka_message_t *rkm,
                            const struct cf_event *orig, const char *reason_code,
                            const char *reason, int64_t now_ms)
{
    return cf_consumer_dlq_value_within(group_id, topic, rkm, orig, reason_code, reason, now_ms, 0);
}
