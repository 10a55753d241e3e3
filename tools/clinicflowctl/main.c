/*
 * clinicflowctl: the administration tool for the network configuration. It
 * talks to PostgreSQL directly (no service needs to be running): migrate
 * creates or upgrades the config schema and every service's schema, apply
 * writes a network file, show prints what is stored, key manages API keys.
 * dlq lists and replays the dead letters; it talks to Kafka only (dlq.c).
 * Arguments are parsed completely, and an apply file validated, before any
 * connection is made, so a usage error or an invalid file never touches
 * the database. Exit status: 0 done, 1 failed, 2 usage or settings error.
 */
#include "ctl.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/netconf.h"
#include "common/pg.h"
#include "analytics/schema.h"
#include "calls/schema.h"
#include "leads/schema.h"
#include "reminders/schema.h"

static char *env_pg_dsn;

static const struct cf_config_var settings[] = {
    {"CLINICFLOW_PG_DSN", CF_CONF_STRING, "postgresql://clinicflow@localhost:5432/clinicflow",
     &env_pg_dsn, 0, 0, 1, "PostgreSQL connection string (used when --dsn is not given)", NULL},
};

static const char usage_text[] =
    "usage: clinicflowctl [--dsn DSN] COMMAND\n"
    "\n"
    "commands:\n"
    "  migrate                                  create or upgrade the config schema and\n"
    "                                           every service's schema\n"
    "  apply -f FILE [--dry-run]                validate FILE and make it the whole truth\n"
    "                                           for its network (--dry-run: say what it\n"
    "                                           would change, change nothing)\n"
    "  show [--network N]                       print the stored configuration (secrets\n"
    "                                           masked)\n"
    "  key create --network N --scope S[,S] [--name NAME] [--clinic C]...\n"
    "                                           create an API key (scopes: ingest, read,\n"
    "                                           admin); the key is printed once; with\n"
    "                                           --clinic (repeatable) a read key sees\n"
    "                                           only those clinics\n"
    "  key list [--network N]                   list keys (never the keys themselves)\n"
    "  key revoke ID                            revoke a key\n"
    "  dlq list [--topic T] [--group G] [--since TIME] [--until TIME] [--json]\n"
    "                                           list the dead letters (clinicflow.dlq.v1)\n"
    "                                           up to its current end: time, group,\n"
    "                                           topic/partition/offset, reason\n"
    "  dlq replay --topic T [--group G] [--since TIME] [--until TIME] [--dry-run]\n"
    "                                           produce the selected entries' original\n"
    "                                           keys and values back to T, each message\n"
    "                                           once, and wait for Kafka to take them;\n"
    "                                           safe to repeat: consumers skip event ids\n"
    "                                           they applied before; on a compacted topic\n"
    "                                           not a message whose key was written again\n"
    "                                           after it (--dry-run: list what would be\n"
    "                                           replayed, produce nothing)\n"
    "\n"
    "The DSN comes from --dsn or CLINICFLOW_PG_DSN. dlq needs no database: it\n"
    "reads the brokers from CLINICFLOW_KAFKA_BROKERS (and CLINICFLOW_KAFKA_X_*\n"
    "properties) as the services do, and waits CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS\n"
    "for them. TIME is RFC 3339 (2026-11-22T08:00:00Z, 2026-11-22T11:00:00+03:00)\n"
    "or a date YYYY-MM-DD (its start, UTC); --since includes the entries at that\n"
    "time, --until only those before it.\n";

struct schema_entry {
    const char *schema;
    const struct cf_migration *migrations;
    const size_t *n;
};

static int cmd_migrate(PGconn *conn)
{
    const struct schema_entry schemas[] = {
        {"config", cf_netconf_migrations, &cf_netconf_migrations_n},
        {CF_CALLS_SCHEMA, cf_calls_migrations, &cf_calls_migrations_n},
        {CF_LEADS_SCHEMA, cf_leads_migrations, &cf_leads_migrations_n},
        {CF_REMINDERS_SCHEMA, cf_reminders_migrations, &cf_reminders_migrations_n},
        {CF_ANALYTICS_SCHEMA, cf_analytics_migrations, &cf_analytics_migrations_n},
    };
    for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
        char errbuf[1024] = "";
        size_t n = *schemas[i].n;
        if (cf_pg_migrate(conn, schemas[i].schema, schemas[i].migrations, n, errbuf,
                          sizeof(errbuf)) != 0) {
            ctl_errorf("could not migrate schema %s: %s", schemas[i].schema, errbuf);
            return CTL_EXIT_FAIL;
        }
        printf("schema %s: up to date (%zu migration%s)\n", schemas[i].schema, n,
               n == 1 ? "" : "s");
    }
    return CTL_EXIT_OK;
}

/* Parsed command line. */
struct args {
    const char *dsn;
    const char *cmd;    /* migrate, apply, show, key, dlq */
    const char *subcmd; /* key: create, list, revoke; dlq: list, replay */
    const char *file;
    const char *network;
    const char *scope;
    const char *name;
    const char *key_id;
    const char *clinics[CTL_KEY_MAX_CLINICS];
    size_t nclinics;
    struct ctl_dlq_args dlq;
    int dry_run; /* --dry-run: apply, dlq replay */
    int help;    /* -h/--help: print the usage and exit 0 */
};

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "clinicflowctl: %s\n\n%s", msg, usage_text);
    return CTL_EXIT_USAGE;
}

/* Takes the value of option argv[*i] (either "--opt VALUE" or "--opt=VALUE"). */
static int option_value(int argc, char **argv, int *i, const char *opt, const char **out)
{
    size_t len = strlen(opt);
    if (strcmp(argv[*i], opt) == 0) {
        if (*i + 1 >= argc)
            return usage_error("option %s needs a value", opt);
        *out = argv[++*i];
        return 1;
    }
    if (strncmp(argv[*i], opt, len) == 0 && argv[*i][len] == '=') {
        *out = argv[*i] + len + 1;
        return 1;
    }
    return 0;
}

/* A value option of dlq (--topic, --group, --since, --until) into *out:
 * 0 when argv[*i] is not opt, 1 taken, or CTL_EXIT_USAGE. */
static int dlq_option(int argc, char **argv, int *i, const char *opt, const char *allowed,
                      const char **out)
{
    const char *value = NULL;
    char name[32];
    int rc = option_value(argc, argv, i, opt, &value);
    if (rc != 1)
        return rc;
    snprintf(name, sizeof(name), "%s,", opt + 2);
    if (!strstr(allowed, name))
        return usage_error("option %s is not valid here", opt);
    if (!value || !*value)
        return usage_error("option %s needs a value", opt);
    *out = value;
    return 1;
}

/* Parses the options that follow a command; every command accepts only the
 * options named in allowed ("f", "network", "scope", "name", and dlq's
 * "topic", "group", "since", "until", "json", "dry-run"). Positional
 * arguments go to positional[0..1]. Returns 0 or CTL_EXIT_USAGE. */
static int parse_options(int argc, char **argv, int start, struct args *a, const char *allowed,
                         const char **positional, int max_positional)
{
    int npos = 0;
    for (int i = start; i < argc; i++) {
        const char *value = NULL;
        int rc;
        if ((rc = dlq_option(argc, argv, &i, "--topic", allowed, &a->dlq.topic)) != 0 ||
            (rc = dlq_option(argc, argv, &i, "--group", allowed, &a->dlq.group)) != 0 ||
            (rc = dlq_option(argc, argv, &i, "--since", allowed, &a->dlq.since)) != 0 ||
            (rc = dlq_option(argc, argv, &i, "--until", allowed, &a->dlq.until)) != 0) {
            if (rc == CTL_EXIT_USAGE)
                return rc;
        } else if (strcmp(argv[i], "--json") == 0) {
            if (!strstr(allowed, "json,"))
                return usage_error("option %s is not valid here", argv[i]);
            a->dlq.json = 1;
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            if (!strstr(allowed, "dry-run,"))
                return usage_error("option %s is not valid here", argv[i]);
            a->dry_run = 1;
        } else if ((rc = option_value(argc, argv, &i, "--file", &value)) != 0 ||
                   (rc = option_value(argc, argv, &i, "-f", &value)) != 0) {
            if (rc == CTL_EXIT_USAGE)
                return rc;
            if (!strstr(allowed, "f,"))
                return usage_error("option %s is not valid here", "-f");
            a->file = value;
        } else if ((rc = option_value(argc, argv, &i, "--network", &value)) != 0) {
            if (rc == CTL_EXIT_USAGE)
                return rc;
            if (!strstr(allowed, "network,"))
                return usage_error("option %s is not valid here", "--network");
            a->network = value;
        } else if ((rc = option_value(argc, argv, &i, "--scope", &value)) != 0) {
            if (rc == CTL_EXIT_USAGE)
                return rc;
            if (!strstr(allowed, "scope,"))
                return usage_error("option %s is not valid here", "--scope");
            a->scope = value;
        } else if ((rc = option_value(argc, argv, &i, "--name", &value)) != 0) {
            if (rc == CTL_EXIT_USAGE)
                return rc;
            if (!strstr(allowed, "name,"))
                return usage_error("option %s is not valid here", "--name");
            a->name = value;
        } else if ((rc = option_value(argc, argv, &i, "--clinic", &value)) != 0) {
            if (rc == CTL_EXIT_USAGE)
                return rc;
            if (!strstr(allowed, "clinic,"))
                return usage_error("option %s is not valid here", "--clinic");
            if (a->nclinics == CTL_KEY_MAX_CLINICS)
                return usage_error("at most %d --clinic options", CTL_KEY_MAX_CLINICS);
            a->clinics[a->nclinics++] = value;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage_error("unknown option %s", argv[i]);
        } else {
            if (npos >= max_positional)
                return usage_error("unexpected argument %s", argv[i]);
            positional[npos++] = argv[i];
        }
    }
    return 0;
}

/* One --since/--until value into *ms (left alone when s is NULL). */
static int parse_dlq_time(const char *opt, const char *s, int64_t *ms)
{
    if (s && ctl_dlq_time_parse(s, ms) != 0)
        return usage_error("%s: expected an RFC 3339 time (2026-11-22T08:00:00Z) or a date "
                           "(2026-11-22), got \"%s\"",
                           opt, s);
    return 0;
}

/* dlq list|replay and their options (argv[i] is the word after dlq). */
static int parse_dlq(int argc, char **argv, int i, struct args *a)
{
    const char *pos[1] = {NULL};
    int rc;
    if (i >= argc)
        return usage_error("%s", "dlq needs list or replay");
    a->subcmd = argv[i++];
    a->dlq.since_ms = INT64_MIN;
    a->dlq.until_ms = INT64_MAX;
    if (strcmp(a->subcmd, "list") == 0) {
        rc = parse_options(argc, argv, i, a, "topic,group,since,until,json,", pos, 0);
    } else if (strcmp(a->subcmd, "replay") == 0) {
        a->dlq.replay = 1;
        rc = parse_options(argc, argv, i, a, "topic,group,since,until,dry-run,", pos, 0);
        a->dlq.dry_run = a->dry_run;
        if (rc == 0 && !a->dlq.topic)
            rc = usage_error("%s", "dlq replay needs --topic T (the original topic)");
    } else {
        return usage_error("unknown dlq command %s", a->subcmd);
    }
    if (rc != 0 || (rc = parse_dlq_time("--since", a->dlq.since, &a->dlq.since_ms)) != 0 ||
        (rc = parse_dlq_time("--until", a->dlq.until, &a->dlq.until_ms)) != 0)
        return rc;
    if (a->dlq.since && a->dlq.until && a->dlq.since_ms >= a->dlq.until_ms)
        return usage_error("--since %s is not before --until %s: nothing can be selected",
                           a->dlq.since, a->dlq.until);
    return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *value = NULL;
        int rc = option_value(argc, argv, &i, "--dsn", &value);
        if (rc == CTL_EXIT_USAGE)
            return rc;
        if (rc) {
            a->dsn = value;
            continue;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            a->help = 1;
            return 0;
        }
        if (argv[i][0] == '-')
            return usage_error("unknown option %s", argv[i]);
        break;
    }
    if (i >= argc)
        return usage_error("%s", "no command given");
    a->cmd = argv[i++];

    const char *pos[1] = {NULL};
    int rc;
    if (strcmp(a->cmd, "migrate") == 0)
        return parse_options(argc, argv, i, a, "", pos, 0);
    if (strcmp(a->cmd, "apply") == 0) {
        if ((rc = parse_options(argc, argv, i, a, "f,dry-run,", pos, 0)) != 0)
            return rc;
        if (!a->file)
            return usage_error("%s", "apply needs -f FILE");
        return 0;
    }
    if (strcmp(a->cmd, "show") == 0)
        return parse_options(argc, argv, i, a, "network,", pos, 0);
    if (strcmp(a->cmd, "dlq") == 0)
        return parse_dlq(argc, argv, i, a);
    if (strcmp(a->cmd, "key") != 0)
        return usage_error("unknown command %s", a->cmd);

    if (i >= argc)
        return usage_error("%s", "key needs create, list or revoke");
    a->subcmd = argv[i++];
    if (strcmp(a->subcmd, "create") == 0) {
        if ((rc = parse_options(argc, argv, i, a, "network,scope,name,clinic,", pos, 0)) != 0)
            return rc;
        if (!a->network || !a->scope)
            return usage_error("%s", "key create needs --network N and --scope S[,S]");
        return 0;
    }
    if (strcmp(a->subcmd, "list") == 0)
        return parse_options(argc, argv, i, a, "network,", pos, 0);
    if (strcmp(a->subcmd, "revoke") == 0) {
        if ((rc = parse_options(argc, argv, i, a, "", pos, 1)) != 0)
            return rc;
        if (!pos[0])
            return usage_error("%s", "key revoke needs the key id");
        a->key_id = pos[0];
        return 0;
    }
    return usage_error("unknown key command %s", a->subcmd);
}

/* Schema creation reports "already exists, skipping" notices: not news to
 * the operator. Errors are reported through results, not notices. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int run(PGconn *conn, const struct args *a, const json_t *j_net)
{
    if (!a->cmd)
        return CTL_EXIT_USAGE;
    if (strcmp(a->cmd, "migrate") == 0)
        return cmd_migrate(conn);
    if (strcmp(a->cmd, "apply") == 0)
        return ctl_cmd_apply(conn, a->file, j_net, a->dry_run);
    if (strcmp(a->cmd, "show") == 0)
        return ctl_cmd_show(conn, a->network);
    if (!a->subcmd)
        return CTL_EXIT_USAGE; /* parse_args accepts no other command */
    if (strcmp(a->subcmd, "create") == 0)
        return ctl_cmd_key_create(conn, a->network, a->scope, a->name, a->clinics, a->nclinics);
    if (strcmp(a->subcmd, "list") == 0)
        return ctl_cmd_key_list(conn, a->network);
    return ctl_cmd_key_revoke(conn, a->key_id);
}

int main(int argc, char **argv)
{
    struct args a = {0};
    json_t *j_net = NULL;
    PGconn *conn = NULL;
    char errbuf[1024] = "";
    int status;

    cf_log_init("clinicflowctl", CF_LOG_WARN);
    if ((status = parse_args(argc, argv, &a)) != 0)
        return status;
    if (a.help) {
        fputs(usage_text, stdout);
        return CTL_EXIT_OK;
    }
    /* Kafka only: no database, no CLINICFLOW_PG_DSN. */
    if (a.cmd && strcmp(a.cmd, "dlq") == 0)
        return ctl_cmd_dlq(&a.dlq);
    if (cf_config_load(settings, sizeof(settings) / sizeof(settings[0]), errbuf, sizeof(errbuf)) !=
        0) {
        ctl_errorf("%s", errbuf);
        return CTL_EXIT_USAGE;
    }
    if (!a.dsn)
        a.dsn = env_pg_dsn;

    if (a.file && (status = ctl_load_network_file(a.file, &j_net)) != 0)
        goto out;

    conn = cf_pg_connect(a.dsn, errbuf, sizeof(errbuf));
    if (!conn) {
        ctl_errorf("%s", errbuf);
        status = CTL_EXIT_FAIL;
        goto out;
    }
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    status = run(conn, &a, j_net);

out:
    if (conn)
        PQfinish(conn);
    json_decref(j_net);
    cf_config_free(settings, sizeof(settings) / sizeof(settings[0]));
    return status;
}
