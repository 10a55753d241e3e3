/*
 * The consumer of leads.v1 (group clinicflow-analytics-leads). A lead's
 * events are in order on one partition (keyed by lead id) and each tells
 * part of it (lead_facts.c): a batch merges each lead's patches in order
 * and saves them in one statement, touches the people who wrote (their
 * first and last non-direct contact; mis_facts.c), with the offsets in
 * the same transaction.
 *
 * A person is counted under one key (lead_facts_testable.h, "One person,
 * several keys"): the batch's keys are locked and their aliases read
 * first, the keys its events add to a person become aliases, and every
 * lead and touch is saved under its person's key. What was stored under
 * a key before it became an alias (the person's row, earlier leads) moves
 * to the person in the same transaction, so the order in which two
 * partitions' batches commit does not matter.
 */
#include "analytics.h"
#include "lead_facts_testable.h"
#include "lead_store.h"
#include "mis_facts_testable.h"
#include "person_store.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/metrics.h"
#include "common/netconf.h"
#include "common/xmalloc.h"

static void add_key(json_t *keys, const char *network_id, const char *key)
{
    if (key && *key)
        json_array_append_new(
            keys, json_pack("{s:s, s:s}", "network_id", network_id, "contact_key", key));
}

/* The batch's people: the aliases stored for its keys (each key locked),
 * then the aliases its events make (*links: each with its person as the
 * whole batch leaves it). */
static int link_people(PGconn *conn, const struct cf_event *const *evs, size_t n,
                       json_t *const *patches, json_t *const *aliases, json_t *map, json_t **links,
                       char *errbuf, size_t errbuf_size)
{
    json_t *keys = json_array(), *known = NULL, *made = json_array(), *v;
    size_t i, j;

    for (i = 0; i < n; i++) {
        if (!patches[i])
            continue;
        add_key(keys, evs[i]->networkid,
                json_string_value(json_object_get(patches[i], "contact_key")));
        json_array_foreach(aliases[i], j, v) add_key(keys, evs[i]->networkid, json_string_value(v));
    }
    int rc = an_person_keys_load(conn, keys, &known, errbuf, errbuf_size);
    json_array_foreach(known, j, v)
    {
        an_person_link(map, json_string_value(json_object_get(v, "network_id")),
                       json_string_value(json_object_get(v, "contact_key")),
                       json_string_value(json_object_get(v, "person_key")));
    }
    for (i = 0; rc == 0 && i < n; i++) {
        const char *person =
            patches[i] ? json_string_value(json_object_get(patches[i], "contact_key")) : NULL;
        if (!person)
            continue;
        json_array_foreach(aliases[i], j, v)
        {
            if (an_person_link(map, evs[i]->networkid, json_string_value(v), person))
                add_key(made, evs[i]->networkid, json_string_value(v));
        }
    }
    *links = json_array();
    json_array_foreach(made, j, v)
    {
        const char *net = json_string_value(json_object_get(v, "network_id"));
        const char *alias = json_string_value(json_object_get(v, "contact_key"));
        json_array_append_new(*links,
                              json_pack("{s:s, s:s, s:s}", "network_id", net, "contact_key", alias,
                                        "person_key", an_person_of(map, net, alias)));
    }
    json_decref(keys);
    json_decref(known);
    json_decref(made);
    return rc;
}

int analytics_leads_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                                const rd_kafka_message_t *const *rkms, size_t n,
                                struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    struct analytics_ctx *actx = ctx;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(actx->svc->netconf);
    json_t **patches = cf_xcalloc(n ? n : 1, sizeof(*patches));
    json_t **aliases = cf_xcalloc(n ? n : 1, sizeof(*aliases));
    json_t *by_lead = json_object(), *touches = json_object(), *map = json_object();
    json_t *merged = NULL, *links = NULL;
    int rc = 0;

    (void)rkms;
    (void)out;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!evs[i])
            continue;
        const struct cf_network *net = cf_netconf_network(snap, evs[i]->networkid);
        patches[i] = an_lead_patch(evs[i]->type, evs[i]->data, evs[i]->time_ms, evs[i]->networkid,
                                   net && net->tz ? net->tz : "UTC", errbuf, errbuf_size);
        if (!patches[i])
            rc = CF_EINVAL;
        else
            aliases[i] = an_lead_aliases(evs[i]->data);
    }
    cf_netconf_release(snap);
    if (rc == 0)
        rc = link_people(conn, evs, n, patches, aliases, map, &links, errbuf, errbuf_size);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *patch = patches[i];
        const char *key = patch ? json_string_value(json_object_get(patch, "contact_key")) : NULL;
        if (key)
            json_object_set_new(patch, "contact_key",
                                json_string(an_person_of(map, evs[i]->networkid, key)));
        json_t *touch = patch ? an_touch_of_lead(patch) : NULL;
        if (touch)
            an_touch_add(touches, touch);
        json_decref(touch);
        if (patch && json_object_size(patch)) {
            an_lead_patch_split_initial(patch);
            const char *id = json_string_value(json_object_get(patch, "lead_id"));
            json_t *have = json_object_get(by_lead, id);
            if (have)
                an_lead_patch_merge(have, patch);
            else
                json_object_set(by_lead, id, patch);
        }
    }
    merged = analytics_values(by_lead);
    if (rc == 0 && json_array_size(merged))
        rc = an_leads_save(conn, merged, errbuf, errbuf_size);
    if (rc == 0)
        rc = an_person_keys_link(conn, links, errbuf, errbuf_size);
    if (rc == 0)
        rc = an_persons_touch_folding(conn, touches, links, errbuf, errbuf_size);
    if (rc == 0)
        rc = an_leads_rekey(conn, links, errbuf, errbuf_size);
    if (rc == 0)
        cf_metrics_add("clinicflow_analytics_events_applied_total", "group=\"leads\"", (double)n);
    for (size_t i = 0; i < n; i++) {
        json_decref(patches[i]);
        json_decref(aliases[i]);
    }
    free(patches);
    free(aliases);
    json_decref(by_lead);
    json_decref(merged);
    json_decref(touches);
    json_decref(map);
    json_decref(links);
    return rc;
}
