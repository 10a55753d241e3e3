/*
 * What the fold adds to a call beyond the provider's facts (proto/README.md):
 *
 *   attribution  the ad source of an inbound call. A static tracking number
 *                (network config: number, source, medium, campaign, valid
 *                from/to as dates) matches by the call's start date in
 *                the network's time zone;
 *                a number of a dynamic pool matches the visitor session that
 *                held it at the call's start (calls.dni_sessions, written by
 *                the tracking route), so a call reported only at its end is
 *                still attributed after the hold expired.
 *   unique       an inbound call is unique when no other inbound call from
 *                the contact started within the look-back before it; the
 *                one exception to "decided once": a call folded after a
 *                later one of its contact takes the flag from it.
 *   patient      new / repeat / lapsed with the patient id, from the phone
 *                -> patient view (calls.patient_contacts, fed by
 *                patients.v1), cached in Redis.
 *   agent group  call_center or reception, of the agent the provider
 *                reported (agent_id): the network's "agents" map (provider
 *                and id) first, then its "staff_numbers" (the agent id as a
 *                phone number: a call forwarded to a staff phone). A group
 *                the provider reported itself (the generic route, Asterisk)
 *                wins.
 *
 * Each is decided once, when the fold first knows what it needs (the start
 * time and the number or contact), and kept: a later fact does not move a
 * call to another source or class. The agent group follows the agent: it
 * is decided again only when a later fact names another agent.
 */
#include "calls.h"
#include "adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/testable.h"
#include "enrich_testable.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/phone.h"
#include "common/redis.h"
#include "common/validate.h"
#include "common/xmalloc.h"

const struct calls_tag calls_tags[] = {
    {"utm_source", "source", 256},     {"utm_medium", "medium", 256},
    {"utm_campaign", "campaign", 256}, {"utm_content", "content", 256},
    {"utm_term", "term", 256},         {"gclid", "gclid", 256},
    {"yclid", "yclid", 256},           {"referrer", "referrer", 2048},
    {"landing", "landing", 2048},
};
const size_t calls_tags_n = sizeof(calls_tags) / sizeof(calls_tags[0]);

void calls_cut_tags(json_t *j_tags)
{
    for (size_t i = 0; i < calls_tags_n; i++)
        cf_validate_cut_string(j_tags, calls_tags[i].member, calls_tags[i].max_chars);
}

/* The tracking number of a call: the provider's, else the called number
 * of an inbound call. */
static const char *tracking_number(const json_t *j_call)
{
    const char *t = json_string_value(json_object_get(j_call, "tracking_number"));
    if (t)
        return t;
    return json_string_value(json_object_get(json_object_get(j_call, "called"), "e164"));
}

static void copy_str(json_t *to, const json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key);
    if (json_is_string(v))
        json_object_set(to, key, v);
}

/* A static tracking number valid on the date of started (an RFC 3339
 * time): the validity dates are the network's calendar days, so the date
 * is taken in the network's zone (UTC if it has none or it is unknown). */
CF_TESTABLE json_t *calls_static_attribution(const struct cf_network *net, const char *number,
                                             const char *started)
{
    size_t i;
    json_t *j_tn;
    char date[11] = ""; /* taken once, when a tracking number of this number has dates */
    int64_t ms;

    json_array_foreach(json_object_get(net->doc, "tracking_numbers"), i, j_tn)
    {
        const char *n = json_string_value(json_object_get(j_tn, "number"));
        const char *from = json_string_value(json_object_get(j_tn, "valid_from"));
        const char *to = json_string_value(json_object_get(j_tn, "valid_to"));
        if (!n || strcmp(n, number) != 0)
            continue;
        if ((from || to) && !date[0] &&
            (cf_time_parse(started, &ms) != 0 || !net->tz ||
             calls_local_date(ms, net->tz, date) != 0))
            snprintf(date, sizeof(date), "%.10s", started);
        if ((from && strncmp(date, from, 10) < 0) || (to && strncmp(date, to, 10) > 0))
            continue;
        json_t *j_att = json_pack("{s:s, s:s}", "kind", "static", "tracking_number", number);
        copy_str(j_att, j_tn, "source");
        copy_str(j_att, j_tn, "medium");
        copy_str(j_att, j_tn, "campaign");
        return j_att;
    }
    return NULL;
}

/* The attribution of a call to number from the visitor session that held
 * it (its visitor and tags as stored, JSON text). */
static json_t *session_attribution(const char *number, const char *visitor, const char *utm)
{
    json_error_t jerr;
    json_t *j_utm = cf_json_loads(utm, 0, &jerr);
    json_t *j_att = json_pack("{s:s, s:s, s:s}", "kind", "dynamic", "tracking_number", number,
                              "visitor_id", visitor);

    if (json_is_object(j_utm)) {
        calls_cut_tags(j_utm); /* a session stored before tags were cut */
        json_object_update(j_att, j_utm);
    }
    json_decref(j_utm);
    return j_att;
}

/* The visitor session that held a pool number at the call's start. */
static int dynamic_attribution(PGconn *conn, const char *network_id, const char *number,
                               const char *started, json_t **out, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    const char *params[] = {network_id, number, started};

    *out = NULL;
    int rc = cf_pg_exec(conn,
                        "SELECT visitor_id, utm::text FROM calls.dni_sessions"
                        " WHERE network_id = $1 AND number = $2 AND reserved_at <= $3::timestamptz"
                        " AND held_until >= $3::timestamptz ORDER BY reserved_at DESC LIMIT 1",
                        3, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0)
        *out = session_attribution(number, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    PQclear(res);
    return rc;
}

/* Whether number is in one of the network's dynamic pools. */
static int is_pool_number(const struct cf_network *net, const char *number)
{
    size_t i, k;
    json_t *j_pool, *j_num;

    json_array_foreach(json_object_get(net->doc, "number_pools"), i, j_pool)
    {
        json_array_foreach(json_object_get(j_pool, "numbers"), k, j_num)
        {
            if (json_is_string(j_num) && strcmp(json_string_value(j_num), number) == 0)
                return 1;
        }
    }
    return 0;
}

/* The session attribution of a batch's call: noted (the first pass), or
 * its answer; 1 when there is none, asked directly. */
static int batch_attribution(struct calls_lookups *lk, const char *network_id, const char *number,
                             const char *started, json_t **out)
{
    char *key = calls_lookup_key(network_id, number, started);
    json_t *j_ans = json_object_get(lk->attribution, key);
    int unknown = 0;

    *out = NULL;
    if (lk->recording)
        json_object_set_new(lk->attribution, key, json_null());
    else if (json_is_object(j_ans))
        *out = json_deep_copy(j_ans);
    else if (!j_ans)
        unknown = 1;
    free(key);
    return unknown;
}

static int attribute(struct calls_ctx *ctx, PGconn *conn, struct calls_lookups *lk,
                     const struct cf_network *net, json_t *j_call, char *errbuf, size_t errbuf_size)
{
    const char *number = tracking_number(j_call);
    const char *started = json_string_value(json_object_get(j_call, "started_at"));
    json_t *j_att = NULL;

    if (!number || !started)
        return 0;
    j_att = calls_static_attribution(net, number, started);
    if (!j_att && lk && lk->recording) {
        batch_attribution(lk, net->id, number, started, &j_att);
        return 0;
    }
    if (!j_att) {
        int rc =
            lk && !batch_attribution(lk, net->id, number, started, &j_att)
                ? 0
                : dynamic_attribution(conn, net->id, number, started, &j_att, errbuf, errbuf_size);
        /* A pool number's session may still wait in Redis for the DNI
         * flusher (taken a moment ago, or while PostgreSQL was down): write
         * it in this transaction and look again. */
        if (rc == 0 && !j_att && is_pool_number(net, number)) {
            rc = calls_dni_settle(ctx, conn, net->id, number, errbuf, errbuf_size);
            if (rc == 0)
                rc = dynamic_attribution(conn, net->id, number, started, &j_att, errbuf,
                                         errbuf_size);
        }
        if (rc != 0)
            return rc;
    }
    if (j_att)
        json_object_set_new(j_call, "attribution", j_att);
    return 0;
}

/* Whether the inbound call j_call is unique (contact_locked: the contact
 * whose lock the fold took with the call's load, or NULL): no other inbound call from
 * the contact started within the look-back before it, or at the same time
 * (of two calls started in the same second, the one folded first). Calls
 * of one contact are on different partitions, so an earlier call can be
 * folded after a later one: the later calls it makes not unique are
 * corrected here, and their stored documents appended to corrected for
 * the fold to emit (updated_at, the staff-leg sweeper's clock, is left as
 * it is). Decisions for a contact are serialized by an advisory lock, so
 * two of its calls folded at once see each other. The lock lasts until the
 * batch commits: two instances folding calls of the same contacts in
 * opposite orders can deadlock, and PostgreSQL then fails one batch (after
 * deadlock_timeout), which is retried like any transient error. */
static int decide_unique(PGconn *conn, const char *network_id, json_t *j_call, long lookback_s,
                         const char *contact_locked, json_t *corrected, char *errbuf,
                         size_t errbuf_size)
{
    const char *ckey = json_string_value(json_object_get(j_call, "contact_key"));
    const char *started = json_string_value(json_object_get(j_call, "started_at"));
    char lookback[24];
    PGresult *res = NULL;
    json_error_t jerr;

    if (!ckey || !started)
        return 0;
    int rc = 0;
    if (!contact_locked || strcmp(contact_locked, ckey) != 0) { /* not taken with the load */
        char *lock_key = calls_contact_lock_key(network_id, ckey);
        const char *lock_params[] = {lock_key};
        rc = cf_pg_exec(conn, "SELECT " CALLS_UNIQUE_LOCK_SQL("$1"), 1, lock_params, NULL, errbuf,
                        errbuf_size);
        free(lock_key);
    }
    if (rc != 0)
        return rc;
    snprintf(lookback, sizeof(lookback), "%ld", lookback_s);
    const char *params[] = {network_id, ckey, started, lookback,
                            json_string_value(json_object_get(j_call, "call_id"))};
    /* One round trip: the later calls' correction and the look for an
     * earlier one (they touch disjoint rows, so one snapshot serves both);
     * a row per corrected call, or one with a NULL document. */
    rc = cf_pg_exec(conn,
                    "WITH later AS (UPDATE calls.calls"
                    " SET doc = jsonb_set(doc, '{unique}', 'false')"
                    " WHERE network_id = $1 AND contact_key = $2 AND direction = 'inbound'"
                    " AND started_at > $3::timestamptz"
                    " AND started_at <= $3::timestamptz + make_interval(secs => $4)"
                    " AND doc @> '{\"unique\": true}' RETURNING doc::text AS doc)"
                    " SELECT EXISTS (SELECT 1 FROM calls.calls WHERE network_id = $1"
                    " AND contact_key = $2 AND direction = 'inbound' AND call_id <> $5::uuid"
                    " AND started_at <= $3::timestamptz"
                    " AND started_at >= $3::timestamptz - make_interval(secs => $4)),"
                    " later.doc FROM (SELECT 1) AS one LEFT JOIN later ON true",
                    5, params, &res, errbuf, errbuf_size);
    if (rc == 0 && PQntuples(res) > 0)
        json_object_set_new(j_call, "unique",
                            json_boolean(strcmp(PQgetvalue(res, 0, 0), "t") != 0));
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        json_t *j_later =
            PQgetisnull(res, i, 1) ? NULL : cf_json_loads(PQgetvalue(res, i, 1), 0, &jerr);
        if (j_later)
            json_array_append_new(corrected, j_later);
    }
    PQclear(res);
    return rc;
}

/* The unique decision of a batch's call (decide_unique's rule, over the
 * batch's answers): the contact's calls stored before the batch, fetched
 * once for the start times the first pass noted, and the batch's own
 * calls as they stand at this point of the batch (what PostgreSQL would
 * hold, were each fact saved on its own). A start outside what was
 * fetched is CF_EINVAL: the batch goes the careful way. */
CF_TESTABLE int calls_decide_unique_batch(struct calls_lookups *lk, const char *network_id,
                                          json_t *j_call, long lookback_s, json_t *corrected,
                                          char *errbuf, size_t errbuf_size)
{
    const char *ckey = json_string_value(json_object_get(j_call, "contact_key"));
    const char *call_id = json_string_value(json_object_get(j_call, "call_id"));
    const int64_t started = cf_time_json_get(j_call, "started_at");
    const int64_t span = (int64_t)lookback_s * 1000;
    int earlier = 0, rc = 0;

    if (!ckey || started < 0)
        return 0;
    char *key = calls_lookup_key(network_id, ckey, NULL);
    json_t *j_c = json_object_get(lk->contacts, key);
    if (lk->recording) {
        if (!j_c) {
            j_c = json_pack("{s:s, s:s, s:I, s:I}", "n", network_id, "k", ckey, "lo",
                            (json_int_t)(started - span), "hi", (json_int_t)(started + span));
            json_object_set_new(lk->contacts, key, j_c);
        }
        if (started - span < json_integer_value(json_object_get(j_c, "lo")))
            json_object_set_new(j_c, "lo", json_integer(started - span));
        if (started + span > json_integer_value(json_object_get(j_c, "hi")))
            json_object_set_new(j_c, "hi", json_integer(started + span));
    } else if (!j_c || !json_is_array(json_object_get(j_c, "rows")) ||
               started - span < json_integer_value(json_object_get(j_c, "lo")) ||
               started + span > json_integer_value(json_object_get(j_c, "hi"))) {
        snprintf(errbuf, errbuf_size, "the unique decision of call %s was not fetched", call_id);
        rc = CF_EINVAL;
        goto out;
    }
    /* Stored before the batch: the later ones flagged unique lose it. */
    size_t i;
    json_t *j_row;
    json_array_foreach(json_object_get(j_c, "rows"), i, j_row)
    {
        const int64_t at = json_integer_value(json_object_get(j_row, "at"));
        if (at <= started && at >= started - span)
            earlier = 1;
        if (at > started && at <= started + span &&
            json_is_true(json_object_get(j_row, "unique"))) {
            json_error_t jerr;
            json_t *j_doc =
                cf_json_loads(json_string_value(json_object_get(j_row, "doc")), 0, &jerr);
            json_object_set_new(j_row, "unique", json_false());
            json_array_append(lk->corrected_ids, json_object_get(j_row, "id"));
            if (j_doc) {
                json_object_set_new(j_doc, "unique", json_false());
                json_array_append_new(corrected, j_doc);
            }
        }
    }
    /* The batch's own calls. */
    const char *id;
    json_t *j_true;
    json_object_foreach(json_object_get(lk->by_contact, key), id, j_true)
    {
        json_t *j_e = json_object_get(lk->calls, id);
        json_t *j_other = json_object_get(j_e, "doc");
        const char *dir = json_string_value(json_object_get(j_other, "direction"));
        const char *other_key = json_string_value(json_object_get(j_other, "contact_key"));
        const int64_t at = cf_time_json_get(j_other, "started_at");
        if (!j_e || strcmp(id, call_id) == 0 || !dir || strcmp(dir, "inbound") != 0 || !other_key ||
            strcmp(other_key, ckey) != 0 || at < 0 ||
            strcmp(json_string_value(json_object_get(j_e, "n")), network_id) != 0)
            continue;
        if (at <= started && at >= started - span)
            earlier = 1;
        if (at > started && at <= started + span &&
            json_is_true(json_object_get(j_other, "unique"))) {
            json_object_set_new(j_other, "unique", json_false());
            json_object_set_new(j_e, "corrected", json_true());
            json_array_append(corrected, j_other);
        }
    }
    json_object_set_new(j_call, "unique", json_boolean(!earlier));
out:
    free(key);
    return rc;
}

static int classify(struct calls_ctx *ctx, PGconn *conn, struct calls_lookups *lk,
                    const char *network_id, json_t *j_call, char *errbuf, size_t errbuf_size)
{
    const char *ckey = json_string_value(json_object_get(j_call, "contact_key"));
    int64_t started = cf_time_json_get(j_call, "started_at");
    json_t *j_pat = NULL, *j_ans = NULL;
    int rc = 0;

    if (!ckey || started < 0)
        return 0;
    if (lk) { /* a batch: the view, read once for the batch's contacts */
        char *key = calls_lookup_key(network_id, ckey, NULL);
        j_ans = json_object_get(lk->patients, key);
        if (lk->recording && !j_ans)
            json_object_set_new(lk->patients, key, json_null());
        free(key);
    }
    if (j_ans || (lk && lk->recording))
        j_pat = json_is_object(j_ans) ? json_incref(j_ans) : NULL;
    else
        rc =
            cf_patients_lookup(&ctx->patients, conn, network_id, ckey, &j_pat, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    json_t *j_out = json_pack("{s:s}", "class", cf_patients_class(j_pat, started));
    if (j_pat)
        json_object_set(j_out, "patient_id", json_object_get(j_pat, "patient_id"));
    json_object_set_new(j_call, "patient", j_out);
    json_decref(j_pat);
    return 0;
}

/* The entry of an agents or staff_numbers array whose member key equals
 * value and that applies to the clinic: one of that clinic wins over a
 * network-wide one (no clinic_id); one of another clinic never applies.
 * provider, when not NULL, must match too. Borrowed, or NULL. */
static const json_t *map_entry(const json_t *j_arr, const char *key, const char *value,
                               const char *provider, const char *clinic_id)
{
    const json_t *j_any = NULL;
    size_t i;
    json_t *j_e;

    json_array_foreach(j_arr, i, j_e)
    {
        const char *v = json_string_value(json_object_get(j_e, key));
        const char *p = json_string_value(json_object_get(j_e, "provider"));
        const char *c = json_string_value(json_object_get(j_e, "clinic_id"));
        if (!v || strcmp(v, value) != 0 || (provider && (!p || strcmp(p, provider) != 0)))
            continue;
        if (!c && !j_any)
            j_any = j_e;
        else if (c && clinic_id && strcmp(c, clinic_id) == 0)
            return j_e;
    }
    return j_any;
}

/* The group ("call_center" or "reception", borrowed from net's document)
 * of the agent agent_id that provider reported on a call of clinic_id (may
 * be NULL): the agents map by provider and id first; then, when agent_id is
 * a phone number (national forms read with default_cc), the staff numbers
 * map by its E.164 form. NULL when neither knows it. */
CF_TESTABLE const char *calls_agent_group(const struct cf_network *net, const char *provider,
                                          const char *agent_id, const char *clinic_id,
                                          const char *default_cc)
{
    char e164[CF_PHONE_MAX];
    const json_t *j_e;

    if (!net || !provider || !agent_id || !*agent_id)
        return NULL;
    j_e = map_entry(json_object_get(net->doc, "agents"), "id", agent_id, provider, clinic_id);
    if (!j_e && cf_phone_normalize(agent_id, default_cc, e164, sizeof(e164)) == CF_PHONE_E164)
        j_e =
            map_entry(json_object_get(net->doc, "staff_numbers"), "number", e164, NULL, clinic_id);
    return json_string_value(json_object_get(j_e, "group"));
}

/* Sets j_call's agent_group from the map for its agent_id, unless a fact
 * reported a group itself. What the map decided is remembered in the
 * private part (reported.agent_group_by_map: the agent and the group), so
 * a later fact with a group of its own (it differs from the map's) is
 * told from the map's, and the map is asked again only when the agent
 * changes (a transfer): a network change does not move a decided call. */
CF_TESTABLE void calls_decide_agent_group(const struct cf_network *net, json_t *j_call,
                                          const char *default_cc)
{
    json_t *j_rep = json_object_get(j_call, "reported");
    const json_t *j_by_map = json_object_get(j_rep, "agent_group_by_map");
    const char *agent = json_string_value(json_object_get(j_call, "agent_id"));
    const char *group = json_string_value(json_object_get(j_call, "agent_group"));
    const char *mapped_agent = json_string_value(json_object_get(j_by_map, "agent_id"));
    const char *mapped_group = json_string_value(json_object_get(j_by_map, "group"));
    const int by_map = group && mapped_group && strcmp(group, mapped_group) == 0;

    if (group && !by_map) { /* the provider's own: it wins */
        json_object_del(j_rep, "agent_group_by_map");
        return;
    }
    if (!agent || (by_map && mapped_agent && strcmp(agent, mapped_agent) == 0))
        return;
    const char *found =
        calls_agent_group(net, json_string_value(json_object_get(j_call, "provider")), agent,
                          json_string_value(json_object_get(j_call, "clinic_id")), default_cc);
    if (!json_is_object(j_rep)) {
        j_rep = json_object();
        json_object_set_new(j_call, "reported", j_rep);
    }
    if (found) {
        json_object_set_new(j_call, "agent_group", json_string(found));
        json_object_set_new(j_rep, "agent_group_by_map",
                            json_pack("{s:s, s:s}", "agent_id", agent, "group", found));
    } else {
        if (by_map) /* the map's group of the previous agent */
            json_object_del(j_call, "agent_group");
        json_object_del(j_rep, "agent_group_by_map");
    }
}

int calls_enrich(struct calls_ctx *ctx, PGconn *conn, struct calls_lookups *lk, json_t *j_call,
                 const char *network_id, const char *contact_locked, json_t *corrected,
                 char *errbuf, size_t errbuf_size)
{
    const int inbound =
        strcmp(json_string_value(json_object_get(j_call, "direction")), "inbound") == 0;
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    const struct cf_network *net = cf_netconf_network(snap, network_id);
    int rc = 0;

    if (inbound && net && !json_object_get(j_call, "attribution"))
        rc = attribute(ctx, conn, lk, net, j_call, errbuf, errbuf_size);
    if (net)
        calls_decide_agent_group(net, j_call, ctx->cfg.default_cc);
    cf_netconf_release(snap);
    if (rc == 0 && inbound && !json_object_get(j_call, "unique"))
        rc = lk ? calls_decide_unique_batch(lk, network_id, j_call, ctx->cfg.unique_lookback_s,
                                            corrected, errbuf, errbuf_size)
                : decide_unique(conn, network_id, j_call, ctx->cfg.unique_lookback_s,
                                contact_locked, corrected, errbuf, errbuf_size);
    if (rc == 0 && !json_object_get(j_call, "patient"))
        rc = classify(ctx, conn, lk, network_id, j_call, errbuf, errbuf_size);
    return rc;
}

void calls_lookups_index(struct calls_lookups *lk, const char *call_id, const char *network_id,
                         const json_t *j_call)
{
    const char *ckey = json_string_value(json_object_get(j_call, "contact_key"));

    if (!ckey)
        return;
    char *key = calls_lookup_key(network_id, ckey, NULL);
    json_t *j_set = json_object_get(lk->by_contact, key);
    if (!j_set) {
        j_set = json_object();
        json_object_set_new(lk->by_contact, key, j_set);
    }
    json_object_set_new(j_set, call_id, json_true());
    free(key);
}

char *calls_lookup_key(const char *a, const char *b, const char *c)
{
    return c ? cf_xasprintf("%s\037%s\037%s", a, b, c) : cf_xasprintf("%s\037%s", a, b);
}

/* The rows of a lookup map ({"i": its place, members of fields}) as the
 * one JSON parameter of its statement; keys (new array) says which key
 * each place answers. */
static json_t *lookup_rows(const json_t *map, const char *const *fields, json_t *keys)
{
    json_t *j_rows = json_array();
    const char *key;
    json_t *j_v;

    json_object_foreach((json_t *)map, key, j_v)
    {
        json_t *j_row = json_pack("{s:I}", "i", (json_int_t)json_array_size(keys));
        char *copy = cf_xstrdup(key), *save = NULL;
        char *part = strtok_r(copy, "\037", &save);
        for (const char *const *f = fields; *f && part; f++) {
            json_object_set_new(j_row, *f, json_string(part));
            part = strtok_r(NULL, "\037", &save);
        }
        free(copy);
        json_array_append_new(keys, json_string(key));
        json_array_append_new(j_rows, j_row);
    }
    return j_rows;
}

static int lookup_exec(PGconn *conn, const char *sql, const json_t *j_rows, const char *exclude,
                       PGresult **res, char *errbuf, size_t errbuf_size)
{
    char *rows = cf_json_dumps(j_rows);
    const char *params[] = {rows, exclude};
    int rc = cf_pg_exec(conn, sql, exclude ? 2 : 1, params, res, errbuf, errbuf_size);
    free(rows);
    return rc;
}

int calls_lookups_fetch(struct calls_ctx *ctx, PGconn *conn, struct calls_lookups *lk,
                        const char *exclude, char *errbuf, size_t errbuf_size)
{
    static const char *const att_fields[] = {"n", "num", "st", NULL};
    static const char *const pat_fields[] = {"n", "k", NULL};
    json_t *keys = json_array(), *j_rows = NULL;
    PGresult *res = NULL;
    int rc = 0;

    if (json_object_size(lk->attribution) > 0) {
        j_rows = lookup_rows(lk->attribution, att_fields, keys);
        rc =
            lookup_exec(conn,
                        "SELECT q.i, s.visitor_id, s.utm::text, q.num"
                        " FROM jsonb_to_recordset($1::jsonb) AS q(i int, n text, num text, st text)"
                        " CROSS JOIN LATERAL (SELECT visitor_id, utm FROM calls.dni_sessions"
                        " WHERE network_id = q.n AND number = q.num"
                        " AND reserved_at <= q.st::timestamptz AND held_until >= q.st::timestamptz"
                        " ORDER BY reserved_at DESC LIMIT 1) AS s",
                        j_rows, NULL, &res, errbuf, errbuf_size);
        for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
            const char *key = json_string_value(
                json_array_get(keys, (size_t)strtol(PQgetvalue(res, r, 0), NULL, 10)));
            if (key)
                json_object_set_new(lk->attribution, key,
                                    session_attribution(PQgetvalue(res, r, 3),
                                                        PQgetvalue(res, r, 1),
                                                        PQgetvalue(res, r, 2)));
        }
        PQclear(res);
        res = NULL;
        json_decref(j_rows);
        json_array_clear(keys);
    }
    if (rc == 0 && json_object_size(lk->patients) > 0) {
        j_rows = lookup_rows(lk->patients, pat_fields, keys);
        rc = cf_patients_lookup_many(&ctx->patients, conn, j_rows, &res, errbuf, errbuf_size);
        for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
            const char *key = json_string_value(
                json_array_get(keys, (size_t)strtol(PQgetvalue(res, r, 0), NULL, 10)));
            json_t *j_pat = cf_patients_row(res, r, 1);
            if (key)
                json_object_set_new(lk->patients, key, j_pat);
            else
                json_decref(j_pat);
        }
        PQclear(res);
        res = NULL;
        json_decref(j_rows);
        json_array_clear(keys);
    }
    if (rc == 0 && json_object_size(lk->contacts) > 0) {
        const char *key;
        json_t *j_c;
        j_rows = json_array();
        json_object_foreach(lk->contacts, key, j_c)
        {
            json_t *j_row = json_deep_copy(j_c);
            json_object_set_new(j_row, "i", json_integer((json_int_t)json_array_size(keys)));
            json_array_append_new(keys, json_string(key));
            json_array_append_new(j_rows, j_row);
            json_object_set_new(j_c, "rows", json_array());
        }
        /* The other inbound calls of each contact stored before the batch
         * (the batch's own it holds itself) within the start times noted. */
        rc =
            lookup_exec(conn,
                        "SELECT q.i, c.call_id::text,"
                        " (extract(epoch FROM c.started_at) * 1000)::bigint,"
                        " c.doc @> '{\"unique\": true}',"
                        " CASE WHEN c.doc @> '{\"unique\": true}' THEN c.doc::text END"
                        " FROM jsonb_to_recordset($1::jsonb) AS q(i int, n text, k text,"
                        " lo bigint, hi bigint)"
                        " JOIN calls.calls c ON c.network_id = q.n AND c.contact_key = q.k"
                        " AND c.direction = 'inbound'"
                        " AND c.started_at >= 'epoch'::timestamptz + q.lo * interval '1 ms'"
                        " AND c.started_at <= 'epoch'::timestamptz + q.hi * interval '1 ms'"
                        " WHERE c.call_id <> ALL (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)"
                        "::uuid))",
                        j_rows, exclude, &res, errbuf, errbuf_size);
        for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
            const char *ck = json_string_value(
                json_array_get(keys, (size_t)strtol(PQgetvalue(res, r, 0), NULL, 10)));
            json_t *j_list = json_object_get(json_object_get(lk->contacts, ck), "rows");
            json_t *j_row = json_pack("{s:s, s:I, s:b}", "id", PQgetvalue(res, r, 1), "at",
                                      (json_int_t)strtoll(PQgetvalue(res, r, 2), NULL, 10),
                                      "unique", strcmp(PQgetvalue(res, r, 3), "t") == 0);
            if (!PQgetisnull(res, r, 4))
                json_object_set_new(j_row, "doc", json_string(PQgetvalue(res, r, 4)));
            json_array_append_new(j_list, j_row);
        }
        PQclear(res);
        json_decref(j_rows);
    }
    json_decref(keys);
    return rc;
}
