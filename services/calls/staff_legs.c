/*
 * Staff legs that never reported: a call a provider answered itself
 * (agent_pending) waits for its staff leg, and when the leg stays silent
 * the sweeper (sweeper.c) reports it as missed through calls.raw, like
 * any fact, so the fold and the callbacks go on as for any miss.
 */
#include "tasks.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/json_text.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/xmalloc.h"

/* Calls that ended waiting for a staff leg that never reported (the caller
 * hung up during the greeting, the TwiML had no <Dial>, the action request
 * was lost): after CLINICFLOW_CALLS_STAFF_LEG_WAIT_S the sweeper reports
 * the leg as missed, through calls.raw like any fact, so the fold ends the
 * wait and the callbacks open a task. Claiming a call moves its updated_at:
 * concurrent sweepers take disjoint calls, and a call whose fact could not
 * be produced is tried again after another wait. The fact's id is fixed per
 * call, so a repeat is dropped by the fold. A claimed call that cannot be
 * reported (its network gone, its document without the provider's call id)
 * is not counted, and comes last the next time (claimed again after a wait,
 * oldest first: it never holds others up). Returns how many were
 * reported, or a negative error. */
int calls_staff_legs_report(struct calls_ctx *ctx, PGconn *conn, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    char wait[24];
    snprintf(wait, sizeof(wait), "%ld", ctx->cfg.staff_leg_wait_s);
    const char *params[] = {wait};
    int rc = cf_pg_exec(conn,
                        "UPDATE calls.calls SET updated_at = now() WHERE call_id IN"
                        " (SELECT call_id FROM calls.calls WHERE status = 'ended'"
                        " AND doc ? 'agent_pending'"
                        " AND updated_at < now() - make_interval(secs => $1)"
                        " ORDER BY updated_at LIMIT 100 FOR UPDATE SKIP LOCKED)"
                        " RETURNING network_id, doc::text",
                        1, params, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    const int n = PQntuples(res);
    int reported = 0;
    const int64_t now_ms = cf_time_now_ms();
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    for (int i = 0; i < n && rc == 0; i++) {
        json_error_t jerr;
        json_t *j_call = cf_json_loads(PQgetvalue(res, i, 1), 0, &jerr);
        const struct cf_network *net = cf_netconf_network(snap, PQgetvalue(res, i, 0));
        const char *provider = json_string_value(json_object_get(j_call, "provider"));
        const char *pcid = json_string_value(json_object_get(j_call, "provider_call_id"));
        if (!net || !provider || !pcid) { /* the network is gone, or not our document */
            json_decref(j_call);
            continue;
        }
        json_t *j_fact = json_pack(
            "{s:s, s:O, s:O, s:O, s:s, s:i}", "event", "updated", "direction",
            json_object_get(j_call, "direction"), "from", json_object_get(j_call, "caller"), "to",
            json_object_get(j_call, "called"), "agent_outcome", "missed", "agent_talk_seconds", 0);
        if (!j_fact) { /* a stored call without its direction or parties */
            json_decref(j_call);
            continue;
        }
        json_t *j_ckey = json_object_get(j_call, "contact_key");
        if (j_ckey)
            json_object_set(j_fact, "contact_key", j_ckey);
        char *key = cf_xasprintf("%s:staff-leg-unreported", pcid);
        char event_id[CF_UUID_STR_LEN + 1], call_id[CF_UUID_STR_LEN + 1];
        rc = calls_ingest_fact(ctx, net, json_string_value(json_object_get(j_call, "clinic_id")),
                               provider, "-", key, pcid, now_ms, j_fact, event_id, call_id, errbuf,
                               errbuf_size); /* j_fact stolen */
        reported += rc == 0;
        free(key);
        json_decref(j_call);
    }
    cf_netconf_release(snap);
    PQclear(res);
    if (reported > 0)
        cf_metrics_add("clinicflow_calls_staff_legs_unreported_total", "", reported);
    return rc == 0 ? reported : rc;
}
