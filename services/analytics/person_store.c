/*
 * analytics' statements on people (person_store.h).
 */
#include "person_store.h"

#include <stdlib.h>

#include "common/pg.h"
#include "common/xmalloc.h"

#define PERSON_COLS                                                                                \
    "network_id, contact_key, first_at, first_hour, first_clinic, first_source, first_medium,"     \
    " first_campaign, first_channel, first_class, last_at, last_source, last_medium,"              \
    " last_campaign"

/* A person's row met by another view of them (excluded): the first
 * touch's columns from the earlier first touch (or from the same one seen
 * again: a call's later state, with the ad source or clinic it gained),
 * the last non-direct touch's from the later one. */
#define FIRST(c)                                                                                   \
    " " c " = CASE WHEN excluded.first_at <= p.first_at THEN excluded." c " ELSE p." c " END,"
#define LAST(c)                                                                                    \
    " " c " = CASE WHEN excluded.last_at IS NOT NULL AND (p.last_at IS NULL OR"                    \
    " excluded.last_at >= p.last_at) THEN excluded." c " ELSE p." c " END"
/* clang-format off */
#define PERSON_MET                                                                                 \
    " ON CONFLICT (network_id, contact_key) DO UPDATE SET"                                         \
    FIRST("first_hour") FIRST("first_clinic") FIRST("first_source") FIRST("first_medium")          \
    FIRST("first_campaign") FIRST("first_channel") FIRST("first_class")                            \
    " first_at = LEAST(p.first_at, excluded.first_at),"                                            \
    LAST("last_source") "," LAST("last_medium") "," LAST("last_campaign") "," LAST("last_at")
/* clang-format on */

/* The rows of the people's touches (an_touch_add's object), in
 * persons' columns. */
static json_t *touch_rows(const json_t *touches)
{
    json_t *rows = json_array(), *pair;
    const char *key;
    json_object_foreach((json_t *)touches, key, pair)
    {
        json_t *first = json_object_get(pair, "first"), *last = json_object_get(pair, "last");
        json_t *row = json_pack(
            "{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "network_id",
            json_object_get(first, "network_id"), "contact_key",
            json_object_get(first, "contact_key"), "first_at", json_object_get(first, "at"),
            "first_hour", json_object_get(first, "hour"), "first_clinic",
            json_object_get(first, "clinic_id"), "first_source", json_object_get(first, "source"),
            "first_medium", json_object_get(first, "medium"), "first_campaign",
            json_object_get(first, "campaign"), "first_channel", json_object_get(first, "channel"),
            "first_class", json_object_get(first, "class"));
        if (json_is_object(last)) {
            json_object_set(row, "last_at", json_object_get(last, "at"));
            json_object_set(row, "last_source", json_object_get(last, "source"));
            json_object_set(row, "last_medium", json_object_get(last, "medium"));
            json_object_set(row, "last_campaign", json_object_get(last, "campaign"));
        }
        json_array_append_new(rows, row);
    }
    return rows;
}

#define TOUCHES(param)                                                                             \
    "jsonb_to_recordset(" param ") AS r(network_id text, contact_key text,"                        \
    " first_at timestamptz, first_hour timestamp, first_clinic text, first_source text,"           \
    " first_medium text, first_campaign text, first_channel text, first_class text,"               \
    " last_at timestamptz, last_source text, last_medium text, last_campaign text)"

int an_persons_touch(PGconn *conn, const json_t *touches, char *errbuf, size_t errbuf_size)
{
    json_t *rows = touch_rows(touches);
    int rc = json_array_size(rows) == 0
                 ? 0
                 : cf_pg_exec_json(conn,
                                   "INSERT INTO analytics.persons AS p (" PERSON_COLS ")"
                                   " SELECT * FROM " TOUCHES(
                                       "$1::jsonb") " ORDER BY network_id, contact_key" PERSON_MET,
                                   rows, NULL, errbuf, errbuf_size);
    json_decref(rows);
    return rc;
}

int an_persons_touch_folding(PGconn *conn, const json_t *touches, const json_t *links, char *errbuf,
                             size_t errbuf_size)
{
    if (json_array_size(links) == 0)
        return an_persons_touch(conn, touches, errbuf, errbuf_size);
    json_t *param = json_pack("{s:o, s:O}", "t", touch_rows(touches), "l", links);
    /* the aliases' rows taken out, and with the touches, one row a person
     * (the earliest first touch, the latest last one) upserted in key
     * order: the people's rows locked in one sorted pass, as the calls'
     * consumer locks them */
    int rc = cf_pg_exec_json(
        conn,
        "WITH gone AS (DELETE FROM analytics.persons p USING jsonb_to_recordset($1::jsonb->'l')"
        " AS l(network_id text, contact_key text, person_key text)"
        " WHERE p.network_id = l.network_id AND p.contact_key = l.contact_key"
        " RETURNING l.person_key, p.*),"
        " u AS (SELECT " PERSON_COLS " FROM " TOUCHES(
            "$1::jsonb->'t'") " UNION ALL SELECT"
                              " network_id, person_key, first_at, first_hour, first_clinic, "
                              "first_source,"
                              " first_medium, first_campaign, first_channel, first_class, last_at, "
                              "last_source,"
                              " last_medium, last_campaign FROM gone),"
                              " f AS (SELECT DISTINCT ON (network_id, contact_key) * FROM u"
                              " ORDER BY network_id, contact_key, first_at),"
                              " la AS (SELECT DISTINCT ON (network_id, contact_key) * FROM u"
                              " WHERE last_at IS NOT NULL ORDER BY network_id, contact_key, "
                              "last_at DESC)"
                              " INSERT INTO analytics.persons AS p (" PERSON_COLS ")"
                              " SELECT f.network_id, f.contact_key, f.first_at, f.first_hour, "
                              "f.first_clinic,"
                              " f.first_source, f.first_medium, f.first_campaign, f.first_channel, "
                              "f.first_class,"
                              " la.last_at, la.last_source, la.last_medium, la.last_campaign"
                              " FROM f LEFT JOIN la USING (network_id, contact_key)"
                              " ORDER BY 1, 2" PERSON_MET,
        param, NULL, errbuf, errbuf_size);
    json_decref(param);
    return rc;
}

#define PEOPLE                                                                                     \
    "(SELECT DISTINCT network_id, contact_key FROM jsonb_to_recordset($1::jsonb)"                  \
    " AS k(network_id text, contact_key text))"

int an_persons_last_again(PGconn *conn, const json_t *keys, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(keys) == 0)
        return 0;
    int rc = cf_pg_exec_json(conn,
                             "SELECT count(*) FROM (SELECT 1 FROM analytics.persons p JOIN " PEOPLE
                             " k USING (network_id, contact_key) ORDER BY p.network_id,"
                             " p.contact_key FOR UPDATE OF p) l",
                             keys, NULL, errbuf, errbuf_size);
    if (rc == 0)
        rc = cf_pg_exec_json(
            conn,
            "UPDATE analytics.persons p SET last_at = x.at, last_source = x.source,"
            " last_medium = x.medium, last_campaign = x.campaign FROM " PEOPLE
            " k LEFT JOIN LATERAL (SELECT * FROM (SELECT c.started_at AS at, c.source,"
            " c.medium, c.campaign FROM analytics.calls c WHERE c.network_id = k.network_id"
            " AND c.contact_key = k.contact_key AND c.inbound = 1 AND c.source <> ''"
            " UNION ALL SELECT l.received_at, l.source, coalesce(l.medium, ''),"
            " coalesce(l.campaign, '') FROM analytics.leads l WHERE l.network_id = k.network_id"
            " AND l.contact_key = k.contact_key AND l.received_at IS NOT NULL"
            " AND coalesce(l.source, '') <> '') t ORDER BY at DESC LIMIT 1) x ON true"
            " WHERE p.network_id = k.network_id AND p.contact_key = k.contact_key",
            keys, NULL, errbuf, errbuf_size);
    return rc;
}

/* Locks keys (an array of {network_id, contact_key}) in one sorted round. */
static int lock_keys(PGconn *conn, const json_t *keys, char *errbuf, size_t errbuf_size)
{
    return cf_pg_exec_json(conn,
                           "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM"
                           " (SELECT DISTINCT 'analytics.person' || chr(31) || network_id ||"
                           " chr(31) || contact_key AS k FROM jsonb_to_recordset($1::jsonb)"
                           " AS r(network_id text, contact_key text) ORDER BY 1) s",
                           keys, NULL, errbuf, errbuf_size);
}

/* The aliases among keys: a new array of {network_id, contact_key,
 * person_key}. */
static int read_aliases(PGconn *conn, const json_t *keys, json_t **out, char *errbuf,
                        size_t errbuf_size)
{
    PGresult *res = NULL;
    int rc = cf_pg_exec_json(conn,
                             "SELECT k.network_id, k.contact_key, k.person_key"
                             " FROM analytics.person_keys k JOIN (SELECT DISTINCT * FROM"
                             " jsonb_to_recordset($1::jsonb) AS r(network_id text,"
                             " contact_key text)) r USING (network_id, contact_key)",
                             keys, &res, errbuf, errbuf_size);
    *out = json_array();
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        json_array_append_new(
            *out, json_pack("{s:s, s:s, s:s}", "network_id", PQgetvalue(res, i, 0), "contact_key",
                            PQgetvalue(res, i, 1), "person_key", PQgetvalue(res, i, 2)));
    PQclear(res);
    return rc;
}

/* How many rounds the persons of aliases are locked and read again: a
 * chain is at most a messenger's key, an e-mail's and a phone's. */
#define PERSON_ROUNDS 4

/* Adds {network_id, key} to keys unless seen holds it already (an object
 * keyed "<network_id>\x1f<key>"): 1 when added. */
static int add_unseen(json_t *keys, json_t *seen, json_t *network_id, json_t *key)
{
    char *id = cf_xasprintf("%s\x1f%s", json_string_value(network_id), json_string_value(key));
    const int added = !json_object_get(seen, id);
    if (added) {
        json_object_set_new(seen, id, json_true());
        json_array_append_new(
            keys, json_pack("{s:O, s:O}", "network_id", network_id, "contact_key", key));
    }
    free(id);
    return added;
}

int an_person_keys_load(PGconn *conn, const json_t *keys, json_t **out, char *errbuf,
                        size_t errbuf_size)
{
    json_t *locked = json_array(), *seen = json_object(), *fresh = NULL, *k;
    size_t i;
    json_array_foreach(keys, i, k)
    {
        add_unseen(locked, seen, json_object_get(k, "network_id"),
                   json_object_get(k, "contact_key"));
    }
    int rc = json_array_size(locked) ? lock_keys(conn, locked, errbuf, errbuf_size) : 0;

    *out = NULL;
    /* The persons the aliases name are locked too, and the aliases read
     * again: another batch may be making one of them an alias of a
     * stronger key right now (it holds that key's lock); once it
     * commits, the alias is read through to the new person, and no lead
     * or touch lands under a key that just stopped being a person. */
    for (int round = 0; rc == 0 && round < PERSON_ROUNDS; round++) {
        json_decref(*out);
        *out = NULL;
        rc = json_array_size(locked) ? read_aliases(conn, locked, out, errbuf, errbuf_size) : 0;
        if (rc != 0)
            break;
        json_decref(fresh);
        fresh = json_array();
        json_array_foreach(*out, i, k)
        {
            add_unseen(fresh, seen, json_object_get(k, "network_id"),
                       json_object_get(k, "person_key"));
        }
        if (json_array_size(fresh) == 0)
            break;
        rc = lock_keys(conn, fresh, errbuf, errbuf_size);
        json_array_extend(locked, fresh);
    }
    if (!*out)
        *out = json_array();
    json_decref(fresh);
    json_decref(seen);
    json_decref(locked);
    return rc;
}

#define LINKS                                                                                      \
    "jsonb_to_recordset($1::jsonb) AS l(network_id text, contact_key text, person_key text)"

int an_person_keys_link(PGconn *conn, const json_t *links, char *errbuf, size_t errbuf_size)
{
    if (json_array_size(links) == 0)
        return 0;
    int rc =
        cf_pg_exec_json(conn,
                        "INSERT INTO analytics.person_keys (network_id, contact_key,"
                        " person_key) SELECT * FROM " LINKS " ORDER BY 1, 2 ON CONFLICT DO NOTHING",
                        links, NULL, errbuf, errbuf_size);
    /* the aliases of a key that is an alias now: its person's */
    if (rc == 0)
        rc = cf_pg_exec_json(conn,
                             "UPDATE analytics.person_keys k SET person_key = l.person_key"
                             " FROM " LINKS " WHERE k.network_id = l.network_id"
                             " AND k.person_key = l.contact_key",
                             links, NULL, errbuf, errbuf_size);
    return rc;
}
