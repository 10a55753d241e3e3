/*
 * clinicflowctl apply: the file is the whole truth for one network. The
 * document is validated before any connection is made; then, in one
 * transaction serialized by an advisory lock, the network row is upserted,
 * clinics and channels are upserted and those the file no longer declares
 * are deleted, tracking numbers, pools and the block list are replaced, and
 * config.version is bumped so every service reloads. The stored network
 * document is compared with the file first (jsonb equality, so member order
 * and whitespace do not count): an unchanged file writes nothing and leaves
 * the version alone, which makes apply idempotent. With --dry-run the
 * same transaction runs, says what it removes, and is rolled back.
 */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/pg.h"
#include "validate.h"

#define ERRBUF_SIZE 1024

int ctl_load_network_file(const char *file, json_t **out)
{
    json_error_t jerr;
    char errbuf[ERRBUF_SIZE];
    *out = NULL;
    json_t *j_net = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    if (!j_net) {
        if (jerr.line > 0)
            fprintf(stderr, "%s:%d:%d: invalid JSON: %s\n", file, jerr.line, jerr.column,
                    jerr.text);
        else
            fprintf(stderr, "%s: %s\n", file, jerr.text);
        return CTL_EXIT_FAIL;
    }
    if (ctl_validate_network(j_net, errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr, "%s: %s\n", file, errbuf);
        json_decref(j_net);
        return CTL_EXIT_FAIL;
    }
    *out = j_net;
    return CTL_EXIT_OK;
}

/* The transaction's state while applying one document. */
struct apply {
    PGconn *conn;
    const char *file;
    const char *net_id;
    int dry_run; /* say, then roll back */
    char errbuf[ERRBUF_SIZE];
};

static const char *member_str(const json_t *j_obj, const char *key)
{
    return json_string_value(json_object_get(j_obj, key));
}

static int exec(struct apply *ap, const char *sql, int nparams, const char *const *params,
                PGresult **out)
{
    return cf_pg_exec(ap->conn, sql, nparams, params, out, ap->errbuf, sizeof(ap->errbuf));
}

/* Deletes the rows of table (clinics or channels) that ids no longer
 * lists and prints each one removed. */
static int delete_missing(struct apply *ap, const char *table, const char *what,
                          const char *ids_json)
{
    char sql[256];
    PGresult *res = NULL;
    const char *params[] = {ap->net_id, ids_json};
    snprintf(sql, sizeof(sql),
             "DELETE FROM config.%s WHERE network_id = $1"
             " AND id <> ALL (ARRAY(SELECT jsonb_array_elements_text($2::jsonb))) RETURNING id",
             table);
    int rc = exec(ap, sql, 2, params, &res);
    if (rc != 0)
        return rc;
    for (int i = 0; i < PQntuples(res); i++)
        printf("network %s: %s %s %s\n", ap->net_id, ap->dry_run ? "would remove" : "removed", what,
               PQgetvalue(res, i, 0));
    PQclear(res);
    return 0;
}

/* The rows of one table of entities a network owns (clinics, channels):
 * the file's order of columns is id, network, two members of the entry,
 * then the entry itself as doc. */
struct owned_table {
    const char *table;  /* config.<table> */
    const char *what;   /* singular, for messages */
    const char *fields; /* JSON path of the list, for messages */
    const char *member[2];
    const char *upsert_sql;
};

static const struct owned_table clinics_table = {
    "clinics",
    "clinic",
    "clinics",
    {"name", "timezone"},
    "INSERT INTO config.clinics (id, network_id, name, tz, doc)"
    " VALUES ($1, $2, $3, $4, $5::jsonb)"
    " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, tz = EXCLUDED.tz,"
    " doc = EXCLUDED.doc WHERE config.clinics.network_id = EXCLUDED.network_id"
    " RETURNING id, xmax = 0"};

static const struct owned_table channels_table = {
    "channels",
    "channel",
    "channels",
    {"kind", "provider"},
    "INSERT INTO config.channels (id, network_id, kind, provider, doc)"
    " VALUES ($1, $2, $3, $4, $5::jsonb)"
    " ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind,"
    " provider = EXCLUDED.provider, doc = EXCLUDED.doc"
    " WHERE config.channels.network_id = EXCLUDED.network_id RETURNING id, xmax = 0"};

/* Upserts every entry of list into t, says each one new (a row just
 * inserted has no xmax), and deletes the network's rows the list no
 * longer declares. An id owned by another network is a conflict: ids are
 * unique across networks. */
static int upsert_owned(struct apply *ap, const struct owned_table *t, const json_t *list)
{
    json_t *j_entry, *j_ids = json_array();
    size_t i;
    int rc = 0;
    json_array_foreach(list, i, j_entry)
    {
        PGresult *res = NULL;
        char *doc = json_dumps(j_entry, JSON_COMPACT | JSON_SORT_KEYS);
        const char *params[] = {member_str(j_entry, "id"), ap->net_id,
                                member_str(j_entry, t->member[0]),
                                member_str(j_entry, t->member[1]), doc};
        rc = exec(ap, t->upsert_sql, 5, params, &res);
        free(doc);
        if (rc == 0 && PQntuples(res) == 0) {
            snprintf(ap->errbuf, sizeof(ap->errbuf),
                     "$.%s[%zu].id: %s \"%s\" belongs to another network (%s ids are unique "
                     "across networks)",
                     t->fields, i, t->what, params[0], t->what);
            rc = CF_ECONFLICT;
        } else if (rc == 0 && strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
            printf("network %s: %s %s %s\n", ap->net_id, ap->dry_run ? "would add" : "added",
                   t->what, params[0]);
        }
        PQclear(res);
        if (rc != 0)
            break;
        json_array_append_new(j_ids, json_string(params[0]));
    }
    if (rc == 0) {
        char *ids = json_dumps(j_ids, JSON_COMPACT);
        rc = delete_missing(ap, t->table, t->what, ids);
        free(ids);
    }
    json_decref(j_ids);
    return rc;
}

static int insert_tracking_numbers(struct apply *ap, const json_t *j_list)
{
    json_t *j_tn;
    size_t i;
    json_array_foreach(j_list, i, j_tn)
    {
        const char *params[] = {ap->net_id,
                                member_str(j_tn, "number"),
                                member_str(j_tn, "clinic_id"),
                                member_str(j_tn, "source"),
                                member_str(j_tn, "medium"),
                                member_str(j_tn, "campaign"),
                                member_str(j_tn, "valid_from"),
                                member_str(j_tn, "valid_to")};
        int rc = exec(ap,
                      "INSERT INTO config.tracking_numbers (network_id, number, clinic_id,"
                      " source, medium, campaign, valid_from, valid_to)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7::date, $8::date)",
                      8, params, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int insert_pools(struct apply *ap, const json_t *j_list)
{
    json_t *j_pool;
    size_t i;
    json_array_foreach(j_list, i, j_pool)
    {
        char hold[24];
        json_t *j_hold = json_object_get(j_pool, "hold_seconds");
        snprintf(hold, sizeof(hold), "%" JSON_INTEGER_FORMAT,
                 j_hold ? json_integer_value(j_hold) : (json_int_t)CTL_DEFAULT_HOLD_SECONDS);
        char *numbers = json_dumps(json_object_get(j_pool, "numbers"), JSON_COMPACT);
        const char *params[] = {ap->net_id, member_str(j_pool, "id"),
                                member_str(j_pool, "clinic_id"), numbers, hold};
        int rc = exec(ap,
                      "INSERT INTO config.number_pools (network_id, id, clinic_id, numbers,"
                      " hold_seconds) VALUES ($1, $2, $3,"
                      " ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::int)",
                      5, params, NULL);
        free(numbers);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int insert_blocklist(struct apply *ap, const json_t *j_list)
{
    json_t *j_num;
    size_t i;
    json_array_foreach(j_list, i, j_num)
    {
        const char *params[] = {ap->net_id, json_string_value(j_num)};
        int rc = exec(ap, "INSERT INTO config.blocklist (network_id, number) VALUES ($1, $2)", 2,
                      params, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int64_t current_version(struct apply *ap)
{
    PGresult *res = NULL;
    int64_t v = -1;
    if (exec(ap, "SELECT v FROM config.version", 0, NULL, &res) == 0 && PQntuples(res) == 1)
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* Runs the whole apply inside the caller's transaction. *changed is 0 when
 * the stored document already equals the file. */
static int apply_network(struct apply *ap, const json_t *j_net, const char *doc, int *changed,
                         int64_t *version)
{
    PGresult *res = NULL;
    int rc;
    const char *cmp_params[] = {ap->net_id, doc};

    *changed = 0;
    /* One apply at a time: two applies of one network must not interleave
     * their deletes and inserts. */
    if ((rc = exec(ap, "SELECT pg_advisory_xact_lock(hashtext('clinicflow.config.apply'))", 0, NULL,
                   NULL)) != 0)
        return rc;
    if ((rc = exec(ap, "SELECT doc = $2::jsonb FROM config.networks WHERE id = $1", 2, cmp_params,
                   &res)) != 0)
        return rc;
    int same = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (same) {
        *version = current_version(ap);
        return 0;
    }

    const char *net_params[] = {ap->net_id, member_str(j_net, "name"), member_str(j_net, "secret"),
                                member_str(j_net, "timezone"), doc};
    if ((rc = exec(ap,
                   "INSERT INTO config.networks (id, name, secret, tz, doc, updated_at)"
                   " VALUES ($1, $2, $3, $4, $5::jsonb, now())"
                   " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,"
                   " secret = EXCLUDED.secret, tz = EXCLUDED.tz, doc = EXCLUDED.doc,"
                   " updated_at = now()",
                   5, net_params, NULL)) != 0)
        return rc;

    const char *id_params[] = {ap->net_id};
    if ((rc = exec(ap, "DELETE FROM config.tracking_numbers WHERE network_id = $1", 1, id_params,
                   NULL)) != 0 ||
        (rc = exec(ap, "DELETE FROM config.number_pools WHERE network_id = $1", 1, id_params,
                   NULL)) != 0 ||
        (rc = exec(ap, "DELETE FROM config.blocklist WHERE network_id = $1", 1, id_params, NULL)) !=
            0)
        return rc;

    json_t *j_empty = json_array();
    const json_t *j_channels = json_object_get(j_net, "channels");
    const json_t *j_tracking = json_object_get(j_net, "tracking_numbers");
    const json_t *j_pools = json_object_get(j_net, "number_pools");
    const json_t *j_blocked = json_object_get(j_net, "blocklist");
    if ((rc = upsert_owned(ap, &clinics_table, json_object_get(j_net, "clinics"))) == 0 &&
        (rc = upsert_owned(ap, &channels_table, j_channels ? j_channels : j_empty)) == 0 &&
        (rc = insert_tracking_numbers(ap, j_tracking ? j_tracking : j_empty)) == 0 &&
        (rc = insert_pools(ap, j_pools ? j_pools : j_empty)) == 0 &&
        (rc = insert_blocklist(ap, j_blocked ? j_blocked : j_empty)) == 0)
        rc = ctl_bump_version(ap->conn, version, ap->errbuf, sizeof(ap->errbuf));
    json_decref(j_empty);
    if (rc == 0)
        *changed = 1;
    return rc;
}

static size_t section_size(const json_t *j_net, const char *key)
{
    return json_array_size(json_object_get(j_net, key));
}

int ctl_cmd_apply(PGconn *conn, const char *file, const json_t *j_net, int dry_run)
{
    struct apply ap = {
        .conn = conn, .file = file, .net_id = member_str(j_net, "id"), .dry_run = dry_run};
    char *doc = json_dumps(j_net, JSON_COMPACT | JSON_SORT_KEYS);
    int changed = 0, rc;
    int64_t version = 0;

    rc = cf_pg_begin(conn, ap.errbuf, sizeof(ap.errbuf));
    if (rc == 0)
        rc = apply_network(&ap, j_net, doc, &changed, &version);
    if (rc == 0 && changed && !dry_run)
        rc = cf_pg_commit(conn, ap.errbuf, sizeof(ap.errbuf));
    else
        cf_pg_rollback(conn); /* failed, nothing to write, or only said */
    free(doc);

    if (rc != 0) {
        fprintf(stderr, "%s: %s (nothing was changed)\n", file, ap.errbuf);
        return CTL_EXIT_FAIL;
    }
    if (!changed) {
        printf("network %s: unchanged (config version %" PRId64 ")\n", ap.net_id, version);
        return CTL_EXIT_OK;
    }
    if (dry_run) {
        printf("network %s: would apply (%zu clinics, %zu channels, %zu tracking numbers, %zu "
               "number pools, %zu blocked numbers); nothing was changed (--dry-run)\n",
               ap.net_id, section_size(j_net, "clinics"), section_size(j_net, "channels"),
               section_size(j_net, "tracking_numbers"), section_size(j_net, "number_pools"),
               section_size(j_net, "blocklist"));
        return CTL_EXIT_OK;
    }
    printf("network %s: applied (%zu clinics, %zu channels, %zu tracking numbers, %zu number "
           "pools, %zu blocked numbers), config version %" PRId64 "\n",
           ap.net_id, section_size(j_net, "clinics"), section_size(j_net, "channels"),
           section_size(j_net, "tracking_numbers"), section_size(j_net, "number_pools"),
           section_size(j_net, "blocklist"), version);
    return CTL_EXIT_OK;
}
