/*
 * The tail every telephony route shares: a fact that was verified and
 * normalized by a route is wrapped in the envelope, keyed by its call id and
 * produced to calls.raw; the route answers only after Kafka acknowledged it.
 * Ids are deterministic (UUIDv5 over the provider's own keys), so a retried
 * webhook yields the same event id and the fold drops the duplicate.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/phone.h"
#include "common/topics.h"
#include "common/validate.h"
#include "common/xmalloc.h"

json_t *calls_party_new(const char *raw, const char *default_cc)
{
    char e164[CF_PHONE_MAX];
    const char *kind;
    /* what the schema keeps of it (common.json: 256 characters) */
    const size_t raw_len = cf_validate_utf8_prefix(raw, strlen(raw), 256);

    switch (cf_phone_normalize(raw, default_cc, e164, sizeof(e164))) {
    case CF_PHONE_E164:
        return json_pack("{s:s%, s:s, s:s}", "raw", raw, raw_len, "kind", "e164", "e164", e164);
    case CF_PHONE_EXTENSION:
        kind = "extension";
        break;
    case CF_PHONE_ANONYMOUS:
        kind = "anonymous";
        break;
    default:
        kind = "invalid";
        break;
    }
    return json_pack("{s:s%, s:s}", "raw", raw, raw_len, "kind", kind);
}

int calls_ingest_fact(struct calls_ctx *ctx, const struct cf_network *net, const char *clinic_id,
                      const char *provider, const char *channel, const char *event_key,
                      const char *provider_call_id, int64_t time_ms, json_t *j_data,
                      char *event_id_out, char *call_id_out, char *errbuf, size_t errbuf_size)
{
    const char *event_parts[] = {net->id, provider, channel, event_key};
    const char *call_parts[] = {net->id, provider, "call", provider_call_id};
    struct cf_event ev = {0};
    int rc;

    cf_uuid5(event_parts, 4, event_id_out);
    cf_uuid5(call_parts, 4, call_id_out);

    json_object_set_new(j_data, "provider", json_string(provider));
    json_object_set_new(j_data, "channel", json_string(channel));
    json_object_set_new(j_data, "provider_call_id", json_string(provider_call_id));
    json_object_set_new(j_data, "provider_event_id", json_string(event_key));
    /* What the schema keeps (short_text); the event id above keeps all of
     * it. A call key is never cut: hooks.c refuses a longer one, and the
     * generic body's is shorter. */
    cf_validate_cut_string(j_data, "provider_event_id", 256);

    memcpy(ev.id, event_id_out, sizeof(ev.id));
    ev.source = cf_xasprintf("/clinicflow/calls/%s/%s", provider, channel);
    ev.type = cf_xstrdup("clinicflow.call.reported");
    ev.subject = cf_xstrdup(call_id_out);
    ev.time_ms = time_ms;
    ev.networkid = cf_xstrdup(net->id);
    ev.clinicid = clinic_id ? cf_xstrdup(clinic_id) : NULL;
    ev.data = j_data;

    rc = calls_produce_raw(ctx, &ev, errbuf, errbuf_size);
    cf_event_clear(&ev);
    return rc;
}

int calls_produce_raw(struct calls_ctx *ctx, const struct cf_event *ev, char *errbuf,
                      size_t errbuf_size)
{
    return cf_kafka_produce_event(ctx->svc->producer, CF_TOPIC_CALLS_RAW, ev, errbuf, errbuf_size);
}

void calls_answer_unstored(struct calls_ctx *ctx, struct _u_response *resp, int rc,
                           const char *what, const char *errbuf)
{
    cf_http_answer_unstored(resp, rc, what, errbuf, ctx->svc->settings.kafka_retry_after_s);
}
