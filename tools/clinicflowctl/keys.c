/*
 * clinicflowctl key create|list|revoke. A key is "cfk_" followed by 40
 * characters drawn uniformly from [0-9A-Za-z] (about 238 bits from the
 * kernel's getrandom); the prefix makes a leaked key easy to recognise in
 * logs and by secret scanners. Only the SHA-256 of the whole key string is
 * stored; the key is printed once on stdout and cannot be shown again.
 * Creating or revoking a key bumps config.version so services pick the
 * change up at their next reload.
 */
#include "ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/pg.h"

#define KEY_PREFIX "cfk_"
#define KEY_RANDOM_CHARS 40
#define KEY_LEN (sizeof(KEY_PREFIX) - 1 + KEY_RANDOM_CHARS)

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Fills out (KEY_LEN + 1 bytes) with a new key. Bytes >= 248 are rejected
 * so that every character is equally likely (248 = 4 * 62). */
static int generate_key(char out[KEY_LEN + 1])
{
    size_t n = sizeof(KEY_PREFIX) - 1;
    memcpy(out, KEY_PREFIX, n);
    while (n < KEY_LEN) {
        unsigned char buf[64];
        ssize_t got = getrandom(buf, sizeof(buf), 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            ctl_errorf("could not read random bytes: %s", cf_strerror(errno));
            return -1;
        }
        for (ssize_t i = 0; i < got && n < KEY_LEN; i++) {
            if (buf[i] < 248)
                out[n++] = base62[buf[i] % 62];
        }
    }
    out[KEY_LEN] = '\0';
    return 0;
}

/* "ingest,read" -> a JSON array of distinct known scopes; NULL (reported)
 * on an unknown or empty scope. */
/* 1 when the scopes array has scope. */
static int scope_listed(const json_t *j_scopes, const char *scope)
{
    size_t i;
    const json_t *j_s;
    json_array_foreach(j_scopes, i, j_s)
    {
        if (strcmp(json_string_value(j_s), scope) == 0)
            return 1;
    }
    return 0;
}

static json_t *parse_scopes(const char *list)
{
    static const char *const known[] = {"ingest", "read", "admin"};
    json_t *j_scopes = json_array();
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
            if (strlen(known[k]) == len && strncmp(p, known[k], len) == 0) {
                json_t *j_s = json_string(known[k]);
                size_t i;
                json_t *j_have;
                int dup = 0;
                json_array_foreach(j_scopes, i, j_have) dup |= json_equal(j_have, j_s);
                if (!dup)
                    json_array_append(j_scopes, j_s);
                json_decref(j_s);
                found = 1;
            }
        }
        if (!found) {
            ctl_errorf("unknown scope \"%.*s\"; expected ingest, read or admin", (int)len, p);
            json_decref(j_scopes);
            return NULL;
        }
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return j_scopes;
}

int ctl_cmd_key_create(PGconn *conn, const char *network, const char *scopes, const char *name,
                       const char *const *clinics, size_t nclinics)
{
    char errbuf[1024] = "";
    char key[KEY_LEN + 1], id[CF_UUID_STR_LEN + 1], hex[CF_SHA256_HEX_LEN + 1];
    uint8_t hash[32];
    PGresult *res = NULL;
    char *scopes_json = NULL, *clinics_json = NULL;
    int64_t version = 0;
    int status = CTL_EXIT_FAIL;

    json_t *j_scopes = parse_scopes(scopes);
    if (!j_scopes)
        return CTL_EXIT_USAGE;
    if (nclinics > 0 && !scope_listed(j_scopes, "read") && !scope_listed(j_scopes, "admin")) {
        /* every ingest route refuses a key limited to clinics (403) */
        ctl_errorf("--clinic limits what a read (or admin) key sees; an ingest key limited to "
                   "clinics would be refused by every route it is for");
        json_decref(j_scopes);
        return CTL_EXIT_USAGE;
    }
    scopes_json = json_dumps(j_scopes, JSON_COMPACT);
    json_decref(j_scopes);
    if (nclinics > 0) {
        json_t *j_clinics = json_array();
        for (size_t i = 0; i < nclinics; i++)
            json_array_append_new(j_clinics, json_string(clinics[i]));
        clinics_json = json_dumps(j_clinics, JSON_COMPACT);
        json_decref(j_clinics);
    }
    if (generate_key(key) != 0)
        goto out;
    cf_sha256(key, strlen(key), hash);
    cf_hex(hash, sizeof(hash), hex);
    cf_uuid4(id);

    const char *net_params[] = {network};
    const char *params[] = {id, network, hex, scopes_json, name, clinics_json};
    if (cf_pg_begin(conn, errbuf, sizeof(errbuf)) != 0 ||
        cf_pg_exec(conn, "SELECT 1 FROM config.networks WHERE id = $1", 1, net_params, &res, errbuf,
                   sizeof(errbuf)) != 0)
        goto out;
    if (PQntuples(res) == 0) {
        snprintf(errbuf, sizeof(errbuf), "network \"%s\" not found (apply its file first)",
                 network);
        goto out;
    }
    for (size_t i = 0; i < nclinics; i++) {
        const char *clinic_params[] = {network, clinics[i]};
        PQclear(res);
        res = NULL;
        if (cf_pg_exec(conn, "SELECT 1 FROM config.clinics WHERE network_id = $1 AND id = $2", 2,
                       clinic_params, &res, errbuf, sizeof(errbuf)) != 0)
            goto out;
        if (PQntuples(res) == 0) {
            snprintf(errbuf, sizeof(errbuf), "network \"%s\" has no clinic \"%s\"", network,
                     clinics[i]);
            goto out;
        }
    }
    if (cf_pg_exec(conn,
                   "INSERT INTO config.api_keys (id, network_id, hash, scopes, name, clinics)"
                   " VALUES ($1::uuid, $2, decode($3, 'hex'),"
                   " ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5,"
                   " CASE WHEN $6::jsonb IS NOT NULL"
                   " THEN ARRAY(SELECT DISTINCT jsonb_array_elements_text($6::jsonb)) END)",
                   6, params, NULL, errbuf, sizeof(errbuf)) != 0 ||
        ctl_bump_version(conn, &version, errbuf, sizeof(errbuf)) != 0 ||
        cf_pg_commit(conn, errbuf, sizeof(errbuf)) != 0)
        goto out;
    status = CTL_EXIT_OK;
    /* Only the key goes to stdout, so scripts can capture it. */
    printf("%s\n", key);
    fflush(stdout);
    fprintf(stderr,
            "created key %s for network %s with scopes %s%s%s (config version %" PRId64 ")\n", id,
            network, scopes, clinics_json ? ", limited to clinics " : "",
            clinics_json ? clinics_json : "", version);

out:
    if (status != CTL_EXIT_OK) {
        cf_pg_rollback(conn);
        ctl_errorf("key create failed: %s", errbuf);
    }
    explicit_bzero(key, sizeof(key));
    PQclear(res);
    free(scopes_json);
    free(clinics_json);
    return status;
}

int ctl_cmd_key_list(PGconn *conn, const char *network)
{
    char errbuf[1024] = "";
    PGresult *res = NULL;
    const char *params[] = {network};
    const char *sql =
        "SELECT id::text, network_id, array_to_string(scopes, ','), coalesce(name, ''),"
        " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
        " coalesce(array_to_string(clinics, ','), '')"
        " FROM config.api_keys WHERE $1::text IS NULL OR network_id = $1"
        " ORDER BY created_at, id";
    if (cf_pg_exec(conn, sql, 1, params, &res, errbuf, sizeof(errbuf)) != 0) {
        ctl_errorf("key list failed: %s", errbuf);
        return CTL_EXIT_FAIL;
    }
    printf("ID\tNETWORK\tSCOPES\tNAME\tCREATED\tREVOKED\tCLINICS\n");
    for (int i = 0; i < PQntuples(res); i++) {
        for (int c = 0; c < 7; c++)
            ctl_print_cell(PQgetvalue(res, i, c), c == 6 ? "\n" : "\t");
    }
    PQclear(res);
    return CTL_EXIT_OK;
}

int ctl_cmd_key_revoke(PGconn *conn, const char *key_id)
{
    char errbuf[1024] = "";
    PGresult *res = NULL;
    int64_t version = 0;
    int status = CTL_EXIT_FAIL;
    const char *params[] = {key_id};

    if (!cf_uuid_valid(key_id)) {
        ctl_errorf("\"%s\" is not a key id (a UUID, as key list shows)", key_id);
        return CTL_EXIT_USAGE;
    }
    if (cf_pg_begin(conn, errbuf, sizeof(errbuf)) != 0 ||
        cf_pg_exec(conn,
                   "UPDATE config.api_keys SET revoked_at = now()"
                   " WHERE id = $1::uuid AND revoked_at IS NULL RETURNING network_id",
                   1, params, &res, errbuf, sizeof(errbuf)) != 0)
        goto out;
    if (PQntuples(res) == 0) {
        PQclear(res);
        res = NULL;
        if (cf_pg_exec(conn, "SELECT 1 FROM config.api_keys WHERE id = $1::uuid", 1, params, &res,
                       errbuf, sizeof(errbuf)) != 0)
            goto out;
        if (PQntuples(res) == 0) {
            snprintf(errbuf, sizeof(errbuf), "key %s not found", key_id);
            goto out;
        }
        cf_pg_rollback(conn);
        fprintf(stderr, "key %s was already revoked\n", key_id);
        status = CTL_EXIT_OK;
        goto out;
    }
    if (ctl_bump_version(conn, &version, errbuf, sizeof(errbuf)) != 0 ||
        cf_pg_commit(conn, errbuf, sizeof(errbuf)) != 0)
        goto out;
    printf("revoked key %s (config version %" PRId64 ")\n", key_id, version);
    status = CTL_EXIT_OK;

out:
    if (status != CTL_EXIT_OK) {
        cf_pg_rollback(conn);
        ctl_errorf("key revoke failed: %s", errbuf);
    }
    PQclear(res);
    return status;
}
