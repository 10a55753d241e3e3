/*
 * The network configuration as services see it: the "config" schema's
 * migrations, a loader that turns the schema into one immutable snapshot,
 * and a reload thread. The main design choice is copy-on-change: nothing in
 * a snapshot is ever modified after it is built, so readers need no lock
 * while they hold a reference. A reference count (atomic builtins) keeps an
 * old snapshot alive until its last reader releases it; the reload thread
 * polls the single-row config.version on a pooled connection and, when the
 * number moved, builds a new snapshot (in one REPEATABLE READ transaction,
 * so it is consistent) and swaps the pointer under a mutex. Arrays are
 * sorted by id in byte order ("C" collation), so lookups are binary
 * searches with strcmp. The thread also records when a poll last
 * succeeded: a snapshot is only as trustworthy as that (a key revoked
 * since is still in it), so callers can refuse to authorize with one
 * that has gone unconfirmed for too long.
 */
#include "common/netconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/testable.h"
#include "netconf_testable.h"
#include "common/json_text.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* One non-revoked API key: only the SHA-256 of the key is ever held. */
struct cf_api_key {
    char *id;
    uint8_t hash[32];
    unsigned scopes;
    const struct cf_network *net;
    char **clinics; /* NULL: every clinic of the network */
    size_t nclinics;
};

struct cf_netconf {
    struct cf_pg_pool *pool;
    long reload_ms;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* signalled by stop so the poller wakes at once */
    int stopping;
    struct cf_netconf_snapshot *current;
    int64_t confirmed_ms; /* monotonic: when a poll last succeeded (or the first load) */
    int poll_failing;     /* the last poll failed */
    pthread_t thread;
};

/* clang-format off */
static const char migration_1[] =
    "CREATE TABLE version (\n"
    "    one boolean PRIMARY KEY DEFAULT true CHECK (one),\n"
    "    v bigint NOT NULL\n"
    ");\n"
    "INSERT INTO version (one, v) VALUES (true, 0);\n"
    "\n"
    "CREATE TABLE networks (\n"
    "    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,64}$'),\n"
    "    name text NOT NULL,\n"
    "    secret text NOT NULL CHECK (length(secret) >= 16),\n"
    "    tz text NOT NULL,\n"
    "    doc jsonb NOT NULL,\n"
    "    updated_at timestamptz NOT NULL DEFAULT now()\n"
    ");\n"
    "\n"
    "-- Clinic ids are unique across the database, not only within a network,\n"
    "-- so events can name a clinic without its network.\n"
    "CREATE TABLE clinics (\n"
    "    id text PRIMARY KEY,\n"
    "    network_id text NOT NULL REFERENCES networks (id) ON DELETE CASCADE,\n"
    "    name text NOT NULL,\n"
    "    tz text NOT NULL,\n"
    "    doc jsonb NOT NULL\n"
    ");\n"
    "CREATE INDEX clinics_network_idx ON clinics (network_id);\n"
    "\n"
    "CREATE TABLE channels (\n"
    "    id text PRIMARY KEY,\n"
    "    network_id text NOT NULL REFERENCES networks (id) ON DELETE CASCADE,\n"
    "    kind text NOT NULL CHECK (kind IN ('telephony', 'messenger', 'form')),\n"
    "    provider text NOT NULL,\n"
    "    doc jsonb NOT NULL\n"
    ");\n"
    "CREATE INDEX channels_network_idx ON channels (network_id);\n"
    "\n"
    "-- valid_from / valid_to are dates in the network's time zone, inclusive.\n"
    "CREATE TABLE tracking_numbers (\n"
    "    network_id text NOT NULL REFERENCES networks (id) ON DELETE CASCADE,\n"
    "    number text NOT NULL CHECK (number ~ '^\\+[1-9][0-9]{6,14}$'),\n"
    "    clinic_id text NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,\n"
    "    source text NOT NULL,\n"
    "    medium text,\n"
    "    campaign text,\n"
    "    valid_from date NOT NULL,\n"
    "    valid_to date,\n"
    "    PRIMARY KEY (network_id, number, valid_from),\n"
    "    CHECK (valid_to IS NULL OR valid_to >= valid_from)\n"
    ");\n"
    "CREATE INDEX tracking_numbers_number_idx ON tracking_numbers (number);\n"
    "\n"
    "CREATE TABLE number_pools (\n"
    "    network_id text NOT NULL REFERENCES networks (id) ON DELETE CASCADE,\n"
    "    id text NOT NULL,\n"
    "    clinic_id text NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,\n"
    "    numbers text[] NOT NULL,\n"
    "    hold_seconds integer NOT NULL CHECK (hold_seconds > 0),\n"
    "    PRIMARY KEY (network_id, id)\n"
    ");\n"
    "\n"
    "CREATE TABLE blocklist (\n"
    "    network_id text NOT NULL REFERENCES networks (id) ON DELETE CASCADE,\n"
    "    number text NOT NULL,\n"
    "    PRIMARY KEY (network_id, number)\n"
    ");\n"
    "\n"
    "-- hash is the SHA-256 of the whole key; the key itself is never stored.\n"
    "CREATE TABLE api_keys (\n"
    "    id uuid PRIMARY KEY,\n"
    "    network_id text NOT NULL REFERENCES networks (id) ON DELETE CASCADE,\n"
    "    hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32),\n"
    "    scopes text[] NOT NULL\n"
    "        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read', 'admin']),\n"
    "    name text,\n"
    "    created_at timestamptz NOT NULL DEFAULT now(),\n"
    "    revoked_at timestamptz\n"
    ");\n"
    "CREATE INDEX api_keys_network_idx ON api_keys (network_id);\n";
/* clang-format on */

const struct cf_migration cf_netconf_migrations[] = {
    {1, "create config", migration_1},
    /* Reminder gateways (robot calls, SMS) are channels of a clinic too. */
    {2, "gateway channels",
     "ALTER TABLE channels DROP CONSTRAINT channels_kind_check;"
     "ALTER TABLE channels ADD CONSTRAINT channels_kind_check"
     " CHECK (kind IN ('telephony', 'messenger', 'form', 'gateway'));"},
    /* A read key may be limited to some clinics (NULL: the whole network). */
    {3, "keys limited to clinics",
     "ALTER TABLE api_keys ADD COLUMN clinics text[]"
     " CHECK (clinics IS NULL OR cardinality(clinics) > 0);"},
};
const size_t cf_netconf_migrations_n =
    sizeof(cf_netconf_migrations) / sizeof(cf_netconf_migrations[0]);

/* ---- snapshot building ---- */

static int parse_hash(const char *hex, uint8_t out[32])
{
    return strlen(hex) == 64 && cf_unhex(hex, 32, out) == 0 ? 0 : CF_EINVAL;
}

/* "ingest,read" -> CF_SCOPE_INGEST | CF_SCOPE_READ; unknown names are
 * ignored (the schema's CHECK admits only the three). */
CF_TESTABLE unsigned cf_netconf_parse_scopes(const char *list)
{
    unsigned scopes = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 6 && strncmp(p, "ingest", n) == 0)
            scopes |= CF_SCOPE_INGEST;
        else if (n == 4 && strncmp(p, "read", n) == 0)
            scopes |= CF_SCOPE_READ;
        else if (n == 5 && strncmp(p, "admin", n) == 0)
            scopes |= CF_SCOPE_ADMIN;
        p += n;
        if (*p == ',')
            p++;
    }
    return scopes;
}

static json_t *parse_doc(const char *text, const char *what, const char *id, char *errbuf,
                         size_t errbuf_size)
{
    json_error_t jerr;
    json_t *j_doc = cf_json_loads(text, 0, &jerr);
    if (!j_doc)
        snprintf(errbuf, errbuf_size, "could not parse the stored document of %s %s: %s", what, id,
                 jerr.text);
    return j_doc;
}

static int network_index(const struct cf_netconf_snapshot *snap, const char *id)
{
    size_t lo = 0, hi = snap->nnetworks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(id, snap->networks[mid].id);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

static int load_networks(PGconn *conn, struct cf_netconf_snapshot *snap, char *errbuf,
                         size_t errbuf_size)
{
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn,
                        "SELECT id, name, secret, tz, doc::text FROM config.networks"
                        " ORDER BY id COLLATE \"C\"",
                        0, NULL, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    int n = PQntuples(res);
    snap->networks = cf_xcalloc((size_t)n + 1, sizeof(*snap->networks));
    for (int i = 0; i < n; i++) {
        struct cf_network *net = &snap->networks[i];
        net->id = cf_xstrdup(PQgetvalue(res, i, 0));
        net->name = cf_xstrdup(PQgetvalue(res, i, 1));
        net->secret = cf_xstrdup(PQgetvalue(res, i, 2));
        net->tz = cf_xstrdup(PQgetvalue(res, i, 3));
        snap->nnetworks = (size_t)i + 1;
        net->doc = parse_doc(PQgetvalue(res, i, 4), "network", net->id, errbuf, errbuf_size);
        if (!net->doc) {
            rc = CF_EINTERNAL;
            break;
        }
    }
    PQclear(res);
    return rc;
}

static int load_clinics(PGconn *conn, struct cf_netconf_snapshot *snap, char *errbuf,
                        size_t errbuf_size)
{
    PGresult *res = NULL;
    /* Sorted by network, then id: each network's clinics come out contiguous
     * and in order. */
    int rc = cf_pg_exec(conn,
                        "SELECT network_id, id, name, tz, doc::text FROM config.clinics"
                        " ORDER BY network_id COLLATE \"C\", id COLLATE \"C\"",
                        0, NULL, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        int ni = network_index(snap, PQgetvalue(res, i, 0));
        if (ni >= 0)
            snap->networks[ni].nclinics++;
    }
    for (size_t k = 0; k < snap->nnetworks; k++) {
        struct cf_network *net = &snap->networks[k];
        net->clinics = cf_xcalloc(net->nclinics + 1, sizeof(*net->clinics));
        net->nclinics = 0;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        int ni = network_index(snap, PQgetvalue(res, i, 0));
        if (ni < 0)
            continue;
        struct cf_network *net = &snap->networks[ni];
        struct cf_clinic *clinic = &net->clinics[net->nclinics++];
        clinic->id = cf_xstrdup(PQgetvalue(res, i, 1));
        clinic->name = cf_xstrdup(PQgetvalue(res, i, 2));
        clinic->tz = cf_xstrdup(PQgetvalue(res, i, 3));
        clinic->doc = parse_doc(PQgetvalue(res, i, 4), "clinic", clinic->id, errbuf, errbuf_size);
        if (!clinic->doc)
            rc = CF_EINTERNAL;
    }
    PQclear(res);
    return rc;
}

static int load_channels(PGconn *conn, struct cf_netconf_snapshot *snap, char *errbuf,
                         size_t errbuf_size)
{
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn,
                        "SELECT id, network_id, kind, provider, doc::text FROM config.channels"
                        " ORDER BY id COLLATE \"C\"",
                        0, NULL, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    int n = PQntuples(res);
    snap->channels = cf_xcalloc((size_t)n + 1, sizeof(*snap->channels));
    for (int i = 0; i < n && rc == 0; i++) {
        struct cf_channel *ch = &snap->channels[i];
        ch->id = cf_xstrdup(PQgetvalue(res, i, 0));
        ch->network_id = cf_xstrdup(PQgetvalue(res, i, 1));
        ch->kind = cf_xstrdup(PQgetvalue(res, i, 2));
        ch->provider = cf_xstrdup(PQgetvalue(res, i, 3));
        snap->nchannels = (size_t)i + 1;
        ch->doc = parse_doc(PQgetvalue(res, i, 4), "channel", ch->id, errbuf, errbuf_size);
        if (!ch->doc)
            rc = CF_EINTERNAL;
    }
    PQclear(res);
    return rc;
}

/* Limits a key to the clinics of a JSON array of ids that its network
 * has: a clinic removed from the network file since the key was made
 * (config.api_keys keeps its id) is not seen any more. */
static void key_limit(struct cf_api_key *key, const char *json_ids)
{
    json_t *j_ids = cf_json_loads(json_ids, 0, NULL), *j_id;
    size_t i;
    key->clinics = cf_xcalloc(json_array_size(j_ids) + 1, sizeof(*key->clinics));
    json_array_foreach(j_ids, i, j_id)
    {
        if (json_is_string(j_id) && cf_netconf_clinic(key->net, json_string_value(j_id)))
            key->clinics[key->nclinics++] = cf_xstrdup(json_string_value(j_id));
    }
    json_decref(j_ids);
}

static int load_keys(PGconn *conn, struct cf_netconf_snapshot *snap, char *errbuf,
                     size_t errbuf_size)
{
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn,
                        "SELECT id::text, network_id, encode(hash, 'hex'),"
                        " array_to_string(scopes, ','), array_to_json(clinics)::text"
                        " FROM config.api_keys"
                        " WHERE revoked_at IS NULL ORDER BY id",
                        0, NULL, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    snap->keys = cf_xcalloc(1, sizeof(*snap->keys));
    for (int i = 0; i < PQntuples(res); i++) {
        uint8_t hash[32];
        int ni = network_index(snap, PQgetvalue(res, i, 1));
        if (ni < 0 || parse_hash(PQgetvalue(res, i, 2), hash) != 0)
            continue; /* cannot authorize anything: leave it out */
        cf_netconf_add_key(snap, PQgetvalue(res, i, 0), hash,
                           cf_netconf_parse_scopes(PQgetvalue(res, i, 3)), &snap->networks[ni]);
        struct cf_api_key *key = &snap->keys[snap->nkeys - 1];
        if (PQgetisnull(res, i, 4))
            continue;
        key_limit(key, PQgetvalue(res, i, 4));
        if (key->nclinics == 0) {
            /* limited to clinics, none of them named (nulls, no strings)
             * or left in its network: not a key of the whole network, so
             * no key at all */
            cf_warn("config: API key %s is limited to clinics and names none of its network's: "
                    "it authorizes nothing",
                    key->id);
            free(key->id);
            free(key->clinics);
            snap->nkeys--;
        }
    }
    PQclear(res);
    return 0;
}

/* Appends a key to the snapshot being built (copies id; net must point into
 * the same snapshot). */
CF_TESTABLE void cf_netconf_add_key(struct cf_netconf_snapshot *snap, const char *id,
                                    const uint8_t hash[32], unsigned scopes,
                                    const struct cf_network *net)
{
    snap->keys = cf_xrealloc(snap->keys, (snap->nkeys + 1) * sizeof(*snap->keys));
    struct cf_api_key *key = &snap->keys[snap->nkeys++];
    key->id = cf_xstrdup(id);
    memcpy(key->hash, hash, sizeof(key->hash));
    key->scopes = scopes;
    key->net = net;
    key->clinics = NULL;
    key->nclinics = 0;
}

/* Reads the whole schema inside one read-only REPEATABLE READ transaction.
 * A database where the config schema was never migrated gives an empty
 * snapshot of version 0. Blocks on PostgreSQL; any thread owning conn. */
int cf_netconf_load(PGconn *conn, struct cf_netconf_snapshot **out, char *errbuf,
                    size_t errbuf_size)
{
    struct cf_netconf_snapshot *snap = cf_xcalloc(1, sizeof(*snap));
    PGresult *res = NULL;
    int in_tx = 0, migrated;
    int rc;

    snap->refs = 1;
    *out = NULL;
    rc = cf_pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, NULL, errbuf,
                    errbuf_size);
    if (rc != 0)
        goto out;
    in_tx = 1;
    rc = cf_pg_exec(conn, "SELECT to_regclass('config.version') IS NOT NULL", 0, NULL, &res, errbuf,
                    errbuf_size);
    if (rc != 0)
        goto out;
    migrated = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    res = NULL;
    if (!migrated) {
        snap->networks = cf_xcalloc(1, sizeof(*snap->networks));
        snap->channels = cf_xcalloc(1, sizeof(*snap->channels));
        snap->keys = cf_xcalloc(1, sizeof(*snap->keys));
        goto out;
    }
    rc = cf_pg_exec(conn, "SELECT v FROM config.version", 0, NULL, &res, errbuf, errbuf_size);
    if (rc != 0)
        goto out;
    if (PQntuples(res) == 1)
        snap->version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    res = NULL;
    if ((rc = load_networks(conn, snap, errbuf, errbuf_size)) != 0 ||
        (rc = load_clinics(conn, snap, errbuf, errbuf_size)) != 0 ||
        (rc = load_channels(conn, snap, errbuf, errbuf_size)) != 0 ||
        (rc = load_keys(conn, snap, errbuf, errbuf_size)) != 0)
        goto out;

out:
    PQclear(res);
    if (in_tx) {
        if (rc == 0)
            rc = cf_pg_commit(conn, errbuf, errbuf_size);
        else
            cf_pg_rollback(conn);
    }
    if (rc != 0) {
        cf_netconf_snapshot_free(snap);
        return rc;
    }
    *out = snap;
    return 0;
}

void cf_netconf_snapshot_free(struct cf_netconf_snapshot *snap)
{
    if (!snap)
        return;
    for (size_t i = 0; i < snap->nnetworks; i++) {
        struct cf_network *net = &snap->networks[i];
        for (size_t k = 0; k < net->nclinics; k++) {
            free(net->clinics[k].id);
            free(net->clinics[k].name);
            free(net->clinics[k].tz);
            json_decref(net->clinics[k].doc);
        }
        free(net->clinics);
        free(net->id);
        free(net->name);
        free(net->secret);
        free(net->tz);
        json_decref(net->doc);
    }
    free(snap->networks);
    for (size_t i = 0; i < snap->nchannels; i++) {
        free(snap->channels[i].id);
        free(snap->channels[i].network_id);
        free(snap->channels[i].kind);
        free(snap->channels[i].provider);
        json_decref(snap->channels[i].doc);
    }
    free(snap->channels);
    for (size_t i = 0; i < snap->nkeys; i++) {
        free(snap->keys[i].id);
        for (size_t k = 0; k < snap->keys[i].nclinics; k++)
            free(snap->keys[i].clinics[k]);
        free(snap->keys[i].clinics);
    }
    free(snap->keys);
    free(snap);
}

/* ---- lookups ---- */

const struct cf_network *cf_netconf_network(const struct cf_netconf_snapshot *snap,
                                            const char *network_id)
{
    if (!snap || !network_id)
        return NULL;
    int i = network_index(snap, network_id);
    return i < 0 ? NULL : &snap->networks[i];
}

const struct cf_clinic *cf_netconf_clinic(const struct cf_network *net, const char *clinic_id)
{
    if (!net || !clinic_id)
        return NULL;
    size_t lo = 0, hi = net->nclinics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(clinic_id, net->clinics[mid].id);
        if (c == 0)
            return &net->clinics[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct cf_clinic *cf_netconf_find_clinic(const struct cf_netconf_snapshot *snap,
                                               const char *clinic_id,
                                               const struct cf_network **net_out)
{
    for (size_t i = 0; clinic_id && i < snap->nnetworks; i++) {
        const struct cf_clinic *c = cf_netconf_clinic(&snap->networks[i], clinic_id);
        if (c) {
            *net_out = &snap->networks[i];
            return c;
        }
    }
    return NULL;
}

const struct cf_channel *cf_netconf_channel(const struct cf_netconf_snapshot *snap,
                                            const char *channel_id)
{
    if (!snap || !channel_id)
        return NULL;
    size_t lo = 0, hi = snap->nchannels;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(channel_id, snap->channels[mid].id);
        if (c == 0)
            return &snap->channels[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int cf_netconf_bearer_hash(const char *authorization, uint8_t hash[32])
{
    static const char scheme[] = "bearer";
    const size_t scheme_len = sizeof(scheme) - 1;

    if (!authorization)
        return CF_EAUTH;
    const char *p = authorization;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, scheme, scheme_len) != 0)
        return CF_EAUTH;
    p += scheme_len;
    if (*p != ' ' && *p != '\t')
        return CF_EAUTH;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len == 0 || len > 512)
        return CF_EAUTH;
    cf_sha256(p, len, hash);
    return 0;
}

/* The hash is compared against every stored hash with a constant-time
 * comparison, without stopping at the first match, so the time taken says
 * nothing about which key (if any) matched. */
int cf_netconf_grant(const struct cf_netconf_snapshot *snap, const uint8_t hash[32], unsigned scope,
                     struct cf_key_grant *grant)
{
    memset(grant, 0, sizeof(*grant));
    if (!snap)
        return CF_EAUTH;
    const struct cf_api_key *found = NULL;
    for (size_t i = 0; i < snap->nkeys; i++) {
        if (cf_ct_equal(hash, 32, snap->keys[i].hash, sizeof(snap->keys[i].hash)) && !found)
            found = &snap->keys[i];
    }
    if (!found || !found->net)
        return CF_EAUTH;
    if ((found->scopes & scope) == 0) /* scope: the scopes any one of which will do */
        return CF_EFORBIDDEN;
    grant->net = found->net;
    grant->key_id = found->id;
    grant->scopes = found->scopes;
    grant->clinics = found->clinics;
    grant->nclinics = found->nclinics;
    return 0;
}

int cf_key_grant_sees(const struct cf_key_grant *grant, const char *clinic_id)
{
    if (grant->nclinics == 0)
        return 1;
    for (size_t i = 0; i < grant->nclinics; i++)
        if (strcmp(grant->clinics[i], clinic_id) == 0)
            return 1;
    return 0;
}

/* ---- the live configuration ---- */

struct cf_netconf_snapshot *cf_netconf_acquire(struct cf_netconf *nc)
{
    pthread_mutex_lock(&nc->mu);
    struct cf_netconf_snapshot *snap = nc->current;
    __atomic_add_fetch(&snap->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&nc->mu);
    return snap;
}

void cf_netconf_release(struct cf_netconf_snapshot *snap)
{
    if (!snap)
        return;
    if (__atomic_sub_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL) == 0)
        cf_netconf_snapshot_free(snap);
}

int64_t cf_netconf_version(struct cf_netconf *nc)
{
    pthread_mutex_lock(&nc->mu);
    int64_t version = nc->current->version;
    pthread_mutex_unlock(&nc->mu);
    return version;
}

int64_t cf_netconf_age_ms(struct cf_netconf *nc, int *poll_failing)
{
    pthread_mutex_lock(&nc->mu);
    int64_t age = cf_time_mono_ms() - nc->confirmed_ms;
    if (poll_failing)
        *poll_failing = nc->poll_failing;
    pthread_mutex_unlock(&nc->mu);
    return age > 0 ? age : 0;
}

static int poll_version(PGconn *conn, int64_t *out, char *errbuf, size_t errbuf_size)
{
    PGresult *res = NULL;
    int rc = cf_pg_exec(conn, "SELECT v FROM config.version", 0, NULL, &res, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    *out = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return 0;
}

/* One poll: returns 0 when the snapshot is current (reloaded or not). */
static int reload_once(struct cf_netconf *nc, int64_t have, char *errbuf, size_t errbuf_size)
{
    PGconn *conn = cf_pg_pool_acquire(nc->pool, errbuf, errbuf_size);
    if (!conn)
        return CF_EUNAVAIL;
    int64_t version = 0;
    struct cf_netconf_snapshot *snap = NULL;
    int rc = poll_version(conn, &version, errbuf, errbuf_size);
    if (rc == 0 && version != have)
        rc = cf_netconf_load(conn, &snap, errbuf, errbuf_size);
    cf_pg_pool_release(nc->pool, conn);
    if (rc != 0 || !snap)
        return rc;

    pthread_mutex_lock(&nc->mu);
    struct cf_netconf_snapshot *old = nc->current;
    nc->current = snap;
    pthread_mutex_unlock(&nc->mu);
    cf_info("network config reloaded: version %lld (was %lld), %zu networks, %zu channels",
            (long long)snap->version, (long long)old->version, snap->nnetworks, snap->nchannels);
    cf_netconf_release(old);
    return 0;
}

static void *reload_main(void *arg)
{
    struct cf_netconf *nc = arg;
    int failing = 0;

    pthread_mutex_lock(&nc->mu);
    while (!nc->stopping) {
        struct timespec deadline;
        cf_time_deadline(CLOCK_MONOTONIC, nc->reload_ms, &deadline);
        int wait = 0;
        while (!nc->stopping && wait != ETIMEDOUT)
            wait = pthread_cond_timedwait(&nc->cond, &nc->mu, &deadline);
        if (nc->stopping)
            break;
        int64_t have = nc->current->version;
        pthread_mutex_unlock(&nc->mu);

        char errbuf[512] = "";
        int64_t polled_ms = cf_time_mono_ms(); /* what a success confirms: the data as of now */
        int rc = reload_once(nc, have, errbuf, sizeof(errbuf));
        if (rc != 0 && !failing)
            cf_warn("could not reload the network config (keeping version %lld): %s",
                    (long long)have, errbuf);
        else if (rc == 0 && failing)
            cf_info("network config reload works again");
        failing = rc != 0;

        pthread_mutex_lock(&nc->mu);
        nc->poll_failing = failing;
        if (!failing)
            nc->confirmed_ms = polled_ms;
    }
    pthread_mutex_unlock(&nc->mu);
    return NULL;
}

struct cf_netconf *cf_netconf_start(struct cf_pg_pool *pool, long reload_ms, char *errbuf,
                                    size_t errbuf_size)
{
    struct cf_netconf_snapshot *snap = NULL;
    PGconn *conn = cf_pg_pool_acquire(pool, errbuf, errbuf_size);
    if (!conn)
        return NULL;
    int rc = cf_netconf_load(conn, &snap, errbuf, errbuf_size);
    cf_pg_pool_release(pool, conn);
    if (rc != 0)
        return NULL;

    struct cf_netconf *nc = cf_xcalloc(1, sizeof(*nc));
    nc->pool = pool;
    nc->reload_ms = reload_ms > 0 ? reload_ms : 1000;
    nc->current = snap;
    nc->confirmed_ms = cf_time_mono_ms();
    pthread_mutex_init(&nc->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&nc->cond, &attr);
    pthread_condattr_destroy(&attr);
    rc = pthread_create(&nc->thread, NULL, reload_main, nc);
    if (rc != 0) {
        snprintf(errbuf, errbuf_size, "could not start the config reload thread: %s",
                 cf_strerror(rc));
        pthread_cond_destroy(&nc->cond);
        pthread_mutex_destroy(&nc->mu);
        cf_netconf_snapshot_free(snap);
        free(nc);
        return NULL;
    }
    cf_info("network config loaded: version %lld, %zu networks, %zu channels",
            (long long)snap->version, snap->nnetworks, snap->nchannels);
    return nc;
}

/* Stops the reload thread (waits for a poll in progress, bounded by the
 * pool's acquire timeout and the query) and drops the current snapshot;
 * snapshots still held by readers stay valid until released. */
void cf_netconf_stop(struct cf_netconf *nc)
{
    if (!nc)
        return;
    pthread_mutex_lock(&nc->mu);
    nc->stopping = 1;
    pthread_cond_signal(&nc->cond);
    pthread_mutex_unlock(&nc->mu);
    pthread_join(nc->thread, NULL);
    cf_netconf_release(nc->current);
    pthread_cond_destroy(&nc->cond);
    pthread_mutex_destroy(&nc->mu);
    free(nc);
}
