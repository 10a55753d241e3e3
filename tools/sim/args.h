/*
 * The command line and the CLINICFLOW_SIM_* environment (args.c), read
 * once in main before anything starts.
 */
#ifndef CF_SIM_ARGS_H
#define CF_SIM_ARGS_H

#include <stdint.h>

enum sim_mode { SIM_MODE_MONTH, SIM_MODE_LIVE, SIM_MODE_LOAD };

/* --kinds: what --load sends (a bit each; the default calls and leads) */
enum sim_load_kind { SIM_LOAD_CALLS = 1, SIM_LOAD_LEADS = 2, SIM_LOAD_DNI = 4, SIM_LOAD_ALL = 3 };

struct sim_args {
    enum sim_mode mode;
    uint64_t seed;
    long days;
    double scale;
    long concurrency;
    int json;
    double rate;   /* --load: requests a second */
    long duration; /* --load: seconds */
    int kinds;     /* --load: enum sim_load_kind bits */
    char *network, *calls, *leads, *reminders, *analytics;
    char *ingest_key, *admin_key;
};

/* Fills out from the environment, then argv. Returns 0, 1 after --help,
 * or 2 with the reason on stderr. out is freed with sim_args_free. */
int sim_args_parse(int argc, char **argv, struct sim_args *out);
void sim_args_free(struct sim_args *a);

#endif
