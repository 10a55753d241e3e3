/*
 * clinicflowctl show: prints the stored network documents as one JSON
 * object {"version": N, "networks": [...]}, so the output can be diffed
 * with the applied files. Secrets never leave the database through this
 * command: the network secret, every channel credential value and each
 * clinic's lead_webhook secret are replaced by "***" (the credential names
 * stay, to show what is set), and the webhook's URL keeps its scheme and
 * host only (a CRM's inbound URL often holds its token in the path).
 */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "common/xmalloc.h"

#define MASK "***"

static void mask_secrets(json_t *j_net)
{
    json_t *j_ch;
    size_t i;
    if (json_object_get(j_net, "secret"))
        json_object_set_new(j_net, "secret", json_string(MASK));
    json_array_foreach(json_object_get(j_net, "channels"), i, j_ch)
    {
        json_t *j_cred = json_object_get(j_ch, "credentials");
        const char *key;
        json_t *j_val;
        json_object_foreach(j_cred, key, j_val)
        {
            json_object_set_new(j_cred, key, json_string(MASK));
        }
    }
    json_array_foreach(json_object_get(j_net, "clinics"), i, j_ch)
    {
        json_t *j_hook = json_object_get(j_ch, "lead_webhook");
        if (json_object_get(j_hook, "secret"))
            json_object_set_new(j_hook, "secret", json_string(MASK));
        const char *url = json_string_value(json_object_get(j_hook, "url"));
        const char *host = url ? strstr(url, "://") : NULL;
        if (host) {
            const size_t keep = (size_t)(host + 3 - url) + strcspn(host + 3, "/?#");
            char *masked = NULL;
            if (url[keep])
                masked = cf_xasprintf("%.*s/" MASK, (int)keep, url);
            if (masked)
                json_object_set_new(j_hook, "url", json_string(masked));
            free(masked);
        }
    }
}

int ctl_cmd_show(PGconn *conn, const char *network)
{
    char errbuf[1024] = "";
    PGresult *res = NULL;
    json_t *j_out = NULL;
    int status = CTL_EXIT_FAIL;
    const char *params[] = {network};

    /* One snapshot for the version and the documents. */
    if (cf_pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, NULL, errbuf,
                   sizeof(errbuf)) != 0 ||
        cf_pg_exec(conn, "SELECT v FROM config.version", 0, NULL, &res, errbuf, sizeof(errbuf)) !=
            0)
        goto out;
    j_out = json_object();
    json_object_set_new(j_out, "version",
                        json_integer(PQntuples(res) == 1
                                         ? (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                                         : 0));
    PQclear(res);
    res = NULL;
    if (cf_pg_exec(conn,
                   network ? "SELECT id, doc::text FROM config.networks WHERE id = $1"
                           : "SELECT id, doc::text FROM config.networks ORDER BY id COLLATE \"C\"",
                   network ? 1 : 0, network ? params : NULL, &res, errbuf, sizeof(errbuf)) != 0)
        goto out;
    if (network && PQntuples(res) == 0) {
        snprintf(errbuf, sizeof(errbuf), "network \"%s\" not found", network);
        goto out;
    }
    json_t *j_networks = json_array();
    json_object_set_new(j_out, "networks", j_networks);
    for (int i = 0; i < PQntuples(res); i++) {
        json_error_t jerr;
        json_t *j_net = json_loads(PQgetvalue(res, i, 1), 0, &jerr);
        if (!j_net) {
            snprintf(errbuf, sizeof(errbuf), "stored document of network %s is not JSON: %s",
                     PQgetvalue(res, i, 0), jerr.text);
            goto out;
        }
        mask_secrets(j_net);
        json_array_append_new(j_networks, j_net);
    }
    if (json_dumpf(j_out, stdout, JSON_INDENT(2)) != 0 || fputc('\n', stdout) == EOF) {
        snprintf(errbuf, sizeof(errbuf), "could not write the output");
        goto out;
    }
    status = CTL_EXIT_OK;

out:
    if (status != CTL_EXIT_OK)
        ctl_errorf("show failed: %s", errbuf);
    PQclear(res);
    cf_pg_rollback(conn);
    json_decref(j_out);
    return status;
}
