/*
 * The settings of clinicflow-analytics (CLINICFLOW_ANALYTICS_*): one table,
 * read once by cf_service_init before any thread starts, each with its
 * default, range and check. README.md's settings list documents them.
 */
#include "analytics.h"

#include <string.h>

const struct cf_config_var *analytics_settings_table(struct analytics_settings *cfg, size_t *n)
{
    static struct cf_config_var table[4];
    const struct cf_config_var vars[] = {
        {"CLINICFLOW_ANALYTICS_RUNNERS", CF_CONF_INT, "2", &cfg->runners, 1, 5, 0,
         "consumer runners of the calls group (calls.v1 and tasks.v1) an instance runs, each a "
         "thread with its own PostgreSQL connection: one applies a batch while another reads the "
         "next; the leads and MIS groups run one each",
         NULL},
        {"CLINICFLOW_ANALYTICS_BATCH_MAX", CF_CONF_INT, "1000", &cfg->batch_max, 1, 10000, 0,
         "events applied in one transaction at most: many events of one rollup row become one "
         "upsert",
         NULL},
        {"CLINICFLOW_ANALYTICS_CACHE_TTL_S", CF_CONF_INT, "300", &cfg->cache_ttl_s, 0, 86400, 0,
         "a report's answer is kept in Redis this long at most (a batch that changes the "
         "network's figures makes it stale at once); 0: no cache",
         NULL},
        {"CLINICFLOW_ANALYTICS_REPORT_TIMEOUT_MS", CF_CONF_INT, "10000", &cfg->timeout_ms, 100,
         600000, 0, "a report's statements are cancelled after this long (503)", NULL},
    };
    memcpy(table, vars, sizeof(vars));
    *n = sizeof(vars) / sizeof(vars[0]);
    return table;
}
