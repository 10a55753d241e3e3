/*
 * Settings: CLINICFLOW_SIM_* variables (common/config.h: read once, empty
 * means unset), then flags, which win. Every one is listed with its
 * default in README.md.
 */
#include "args.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/xmalloc.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clinicflow-sim [--month | --live | --load RATE --duration S [--kinds LIST]]\n"
            "       [--network FILE] [--seed N] [--days N] [--scale F|small|full]\n"
            "       [--concurrency N] [--json] [--ingest-key KEY] [--admin-key KEY]\n"
            "       [--calls URL] [--leads URL] [--reminders URL] [--analytics URL]\n");
}

/* A number in [lo, hi] from s into *out; -1 when it is not one. */
static int number(const char *s, double lo, double hi, double *out)
{
    char *end;
    const double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* A comma-separated list of "calls", "leads" and "dni" into *out; -1 when
 * it names anything else or nothing. */
static int kinds(const char *s, int *out)
{
    int k = 0;
    while (*s) {
        const size_t len = strcspn(s, ",");
        if (len == 5 && strncmp(s, "calls", 5) == 0)
            k |= SIM_LOAD_CALLS;
        else if (len == 5 && strncmp(s, "leads", 5) == 0)
            k |= SIM_LOAD_LEADS;
        else if (len == 3 && strncmp(s, "dni", 3) == 0)
            k |= SIM_LOAD_DNI;
        else
            return -1;
        s += len;
        if (*s == ',')
            s++;
    }
    if (k == 0)
        return -1;
    *out = k;
    return 0;
}

static void replace(char **dst, const char *v)
{
    free(*dst);
    *dst = cf_xstrdup(v);
}

int sim_args_parse(int argc, char **argv, struct sim_args *out)
{
    long port_seed = 0;
    char *scale = NULL;
    const struct cf_config_var vars[] = {
        {"CLINICFLOW_SIM_NETWORK", CF_CONF_STRING, "deploy/local/demo-network.json", &out->network,
         0, 0, 0, "the network file clinicflowctl applied", NULL},
        {"CLINICFLOW_SIM_CALLS_URL", CF_CONF_STRING, "http://127.0.0.1:8081", &out->calls, 0, 0, 0,
         "clinicflow-calls", NULL},
        {"CLINICFLOW_SIM_LEADS_URL", CF_CONF_STRING, "http://127.0.0.1:8082", &out->leads, 0, 0, 0,
         "clinicflow-leads", NULL},
        {"CLINICFLOW_SIM_REMINDERS_URL", CF_CONF_STRING, "http://127.0.0.1:8083", &out->reminders,
         0, 0, 0, "clinicflow-reminders", NULL},
        {"CLINICFLOW_SIM_ANALYTICS_URL", CF_CONF_STRING, "http://127.0.0.1:8084", &out->analytics,
         0, 0, 0, "clinicflow-analytics", NULL},
        {"CLINICFLOW_SIM_INGEST_KEY", CF_CONF_STRING, NULL, &out->ingest_key, 0, 0, 1,
         "an ingest key of the network", NULL},
        {"CLINICFLOW_SIM_ADMIN_KEY", CF_CONF_STRING, NULL, &out->admin_key, 0, 0, 1,
         "an admin key, used when there is no ingest key", NULL},
        /* below 10^8: the ids' tag is the seed (model.c, tag_of) */
        {"CLINICFLOW_SIM_SEED", CF_CONF_INT, "1", &port_seed, 0, 99999999L, 0, "the seed", NULL},
        {"CLINICFLOW_SIM_SCALE", CF_CONF_STRING, "1", &scale, 0, 0, 0, "the month's size", NULL},
    };
    const size_t nvars = sizeof(vars) / sizeof(vars[0]);
    char errbuf[256];
    double v = 0;
    memset(out, 0, sizeof(*out));
    out->days = 30;
    out->concurrency = 16;
    out->kinds = SIM_LOAD_ALL;
    if (cf_config_load(vars, nvars, errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr, "clinicflow-sim: %s\n", errbuf);
        return 2;
    }
    out->seed = (uint64_t)port_seed;
    const char *scale_arg = scale;

    static const struct option opts[] = {
        {"month", no_argument, NULL, 'm'},
        {"live", no_argument, NULL, 'L'},
        {"load", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'D'},
        {"kinds", required_argument, NULL, 'k'},
        {"network", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"days", required_argument, NULL, 'd'},
        {"scale", required_argument, NULL, 'S'},
        {"concurrency", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"ingest-key", required_argument, NULL, 'i'},
        {"admin-key", required_argument, NULL, 'a'},
        {"calls", required_argument, NULL, 'C'},
        {"leads", required_argument, NULL, 'E'},
        {"reminders", required_argument, NULL, 'R'},
        {"analytics", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            out->mode = SIM_MODE_MONTH;
            break;
        case 'L':
            out->mode = SIM_MODE_LIVE;
            break;
        case 'r':
            out->mode = SIM_MODE_LOAD;
            bad |= number(optarg, 0.01, 100000, &out->rate);
            break;
        case 'D':
            bad |= number(optarg, 1, 86400, &v);
            out->duration = (long)v;
            break;
        case 'k':
            bad |= kinds(optarg, &out->kinds);
            break;
        case 'n':
            replace(&out->network, optarg);
            break;
        case 's':
            bad |= number(optarg, 0, 99999999.0, &v);
            out->seed = (uint64_t)v;
            break;
        case 'd':
            bad |= number(optarg, 1, 366, &v);
            out->days = (long)v;
            break;
        case 'S':
            scale_arg = optarg;
            break;
        case 'c':
            bad |= number(optarg, 1, 1024, &v);
            out->concurrency = (long)v;
            break;
        case 'j':
            out->json = 1;
            break;
        case 'i':
            replace(&out->ingest_key, optarg);
            break;
        case 'a':
            replace(&out->admin_key, optarg);
            break;
        case 'C':
            replace(&out->calls, optarg);
            break;
        case 'E':
            replace(&out->leads, optarg);
            break;
        case 'R':
            replace(&out->reminders, optarg);
            break;
        case 'A':
            replace(&out->analytics, optarg);
            break;
        case 'h':
            usage(stdout);
            free(scale);
            return 1;
        default:
            bad = 1;
        }
    }
    /* named sizes: "small" is what the integration test sends */
    if (scale_arg && strcmp(scale_arg, "small") == 0)
        out->scale = 0.05;
    else if (scale_arg && strcmp(scale_arg, "full") == 0)
        out->scale = 1;
    else if (!scale_arg || number(scale_arg, 0.001, 100, &out->scale) != 0)
        bad = 1;
    free(scale);
    if (out->mode == SIM_MODE_LOAD && out->duration == 0)
        out->duration = 60;
    if (!out->ingest_key && out->admin_key)
        out->ingest_key = cf_xstrdup(out->admin_key);
    if (bad || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!out->ingest_key) {
        fprintf(stderr, "clinicflow-sim: an ingest key is needed (--ingest-key or "
                        "CLINICFLOW_SIM_INGEST_KEY)\n");
        return 2;
    }
    return 0;
}

void sim_args_free(struct sim_args *a)
{
    free(a->network);
    free(a->calls);
    free(a->leads);
    free(a->reminders);
    free(a->analytics);
    free(a->ingest_key);
    free(a->admin_key);
    memset(a, 0, sizeof(*a));
}
