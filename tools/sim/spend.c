/*
 * A day's ad spend of one source, through analytics' PUT /v1/spend (an
 * ingest key). The day is the network's local date (Moscow: UTC+3 all
 * year), the amount in roubles; a second PUT of the same key replaces the
 * first, so a month sent twice is stored once.
 */
#include "sim.h"

#include <stdio.h>
#include <string.h>

#include "common/time.h"
#include "common/xmalloc.h"

#define LOCAL_OFFSET_MS (3 * 3600000LL)

void sim_spend_request(const struct sim_network *net, const struct sim_targets *t,
                       const struct sim_ev *ev, int64_t offset_ms, struct sim_req *out)
{
    int y, mo, d;
    char day[16];
    cf_time_civil_from_days((ev->at_ms + offset_ms + LOCAL_OFFSET_MS) / 86400000LL, &y, &mo, &d);
    snprintf(day, sizeof(day), "%04d-%02d-%02d", y, mo, d);
    const enum sim_source s = ev->u.spend.source;
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:f, s:s}", "day", day, "source", sim_source_name(s),
                  "medium", sim_source_medium(s), "clinic", net->clinic_ids[ev->clinic], "amount",
                  ev->u.spend.amount, "currency", "RUB");
    const char *campaign = sim_source_campaign_at(net, s, (ev->at_ms + offset_ms) / 1000);
    if (campaign)
        json_object_set_new(j, "campaign", json_string(campaign));
    out->kind = "spend";
    out->method_put = 1;
    out->url = cf_xasprintf("%s/v1/spend", t->analytics);
    out->body = json_dumps(j, JSON_COMPACT);
    out->body_len = strlen(out->body);
    json_decref(j);
    sim_req_header(out, "Content-Type: application/json");
    sim_req_header(out, "Authorization: Bearer %s", t->ingest_key);
}
