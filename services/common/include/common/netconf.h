/*
 * The network configuration (networks, clinics, channels, tracking numbers,
 * pools, block list, policies, API keys), written by clinicflowctl into the
 * "config" schema and read by every service as an immutable, refcounted
 * snapshot. A reload thread polls config.version every reload interval;
 * a new version builds a new snapshot and swaps the pointer under a mutex.
 * Readers acquire a snapshot, use it, and release it: it never changes
 * under them.
 */
#ifndef CF_COMMON_NETCONF_H
#define CF_COMMON_NETCONF_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/pg.h"

enum cf_scope { CF_SCOPE_INGEST = 1u << 0, CF_SCOPE_READ = 1u << 1, CF_SCOPE_ADMIN = 1u << 2 };

struct cf_clinic {
    char *id;
    char *name;
    char *tz;    /* IANA zone, "Europe/Moscow" */
    json_t *doc; /* the clinic object as declared (working hours, windows, ...) */
};

struct cf_channel {
    char *id;
    char *network_id;
    char *kind;     /* "telephony", "messenger", "form", "gateway" */
    char *provider; /* "twilio", "mango", "telegram", "tilda", ... */
    json_t *doc;    /* the channel object as declared (credentials, mapping, tz) */
};

struct cf_network {
    char *id;
    char *name;
    char *secret; /* contact_key HMAC key */
    char *tz;
    struct cf_clinic *clinics;
    size_t nclinics;
    json_t *doc; /* the whole network document */
};

struct cf_netconf_snapshot {
    int64_t version;
    struct cf_network *networks;
    size_t nnetworks;
    struct cf_channel *channels;
    size_t nchannels;
    struct cf_api_key *keys; /* opaque to callers: use cf_netconf_grant */
    size_t nkeys;
    int refs; /* atomic; managed by acquire/release */
};

struct cf_netconf;

/* Loads the current snapshot (an empty one if nothing is applied yet) and
 * starts the reload thread. NULL with the reason when PostgreSQL cannot be
 * read. */
struct cf_netconf *cf_netconf_start(struct cf_pg_pool *pool, long reload_ms, char *errbuf,
                                    size_t errbuf_size);
void cf_netconf_stop(struct cf_netconf *nc);

/* A reference to the current snapshot (never NULL); release it when done. */
struct cf_netconf_snapshot *cf_netconf_acquire(struct cf_netconf *nc);
void cf_netconf_release(struct cf_netconf_snapshot *snap);
/* Version of the current snapshot (0: nothing applied). */
int64_t cf_netconf_version(struct cf_netconf *nc);
/* Milliseconds since the current snapshot was last confirmed current: the
 * first load, then every poll of PostgreSQL that succeeded (whether or not
 * the version moved). It grows while PostgreSQL cannot be read. When
 * poll_failing is not NULL it receives 1 if the last poll failed. Any
 * thread; does not block on PostgreSQL. */
int64_t cf_netconf_age_ms(struct cf_netconf *nc, int *poll_failing);

const struct cf_network *cf_netconf_network(const struct cf_netconf_snapshot *snap,
                                            const char *network_id);
const struct cf_clinic *cf_netconf_clinic(const struct cf_network *net, const char *clinic_id);
/* The clinic clinic_id in any network of snap, and its network in
 * *net_out; NULL (and *net_out untouched) when no network has it. */
const struct cf_clinic *cf_netconf_find_clinic(const struct cf_netconf_snapshot *snap,
                                               const char *clinic_id,
                                               const struct cf_network **net_out);
const struct cf_channel *cf_netconf_channel(const struct cf_netconf_snapshot *snap,
                                            const char *channel_id);

/* What a key may do: its network, its scopes and, for a key limited to
 * some clinics (clinicflowctl key create --clinic), those clinics' ids
 * (nclinics 0: every clinic of the network). Points into the snapshot:
 * valid while it is held. */
struct cf_key_grant {
    const struct cf_network *net;
    const char *key_id;
    unsigned scopes;
    char *const *clinics;
    size_t nclinics;
};

/* The SHA-256 of the key in an Authorization header value ("Bearer
 * <key>"); CF_EAUTH when the header is missing or malformed. */
int cf_netconf_bearer_hash(const char *authorization, uint8_t hash[32]);
/* The key whose SHA-256 is hash: CF_EAUTH when unknown or revoked;
 * CF_EFORBIDDEN when it has none of the scopes in the mask scope (any one
 * will do: CF_SCOPE_INGEST | CF_SCOPE_ADMIN); 0 with what it may do in
 * *grant otherwise. A caller serving one clinic's data checks the grant
 * with cf_key_grant_sees: a key may be limited to some clinics. */
int cf_netconf_grant(const struct cf_netconf_snapshot *snap, const uint8_t hash[32], unsigned scope,
                     struct cf_key_grant *grant);
/* Whether the grant covers clinic_id (every clinic when it is not limited). */
int cf_key_grant_sees(const struct cf_key_grant *grant, const char *clinic_id);

/* Builds a snapshot from a PostgreSQL connection (used by the reload thread
 * and by clinicflowctl show). */
int cf_netconf_load(PGconn *conn, struct cf_netconf_snapshot **out, char *errbuf,
                    size_t errbuf_size);
void cf_netconf_snapshot_free(struct cf_netconf_snapshot *snap);

/* The config schema's migrations (applied by clinicflowctl migrate and by
 * every service at start). */
extern const struct cf_migration cf_netconf_migrations[];
extern const size_t cf_netconf_migrations_n;

#endif
