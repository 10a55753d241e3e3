/*
 * The settings of clinicflow-analytics (CLINICFLOW_ANALYTICS_*): one table,
 * read once by cf_service_init before any thread starts, each with its
 * default, range and check. README.md's settings list documents them.
 */
#include "analytics.h"

#include <string.h>

const struct cf_config_var *analytics_settings_table(struct analytics_settings *cfg, size_t *n)
{
    static struct cf_config_var table[9];
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
        {"CLINICFLOW_ANALYTICS_REPORT_WORK_MEM_MB", CF_CONF_INT, "32", &cfg->work_mem_mb, 1, 1024,
         0,
         "the memory a report's statement may take for each sort or hash before it spills to "
         "disk (PostgreSQL's work_mem, for the report's transaction only): a month's calls by "
         "clinic and day sort in memory at 32",
         NULL},
        {"CLINICFLOW_ANALYTICS_SESSION_TTL_S", CF_CONF_INT, "28800", &cfg->session_ttl_s, 300,
         2592000, 0, "a dashboard session (signed in with a read key) ends this long after sign-in",
         NULL},
        {"CLINICFLOW_ANALYTICS_COOKIE_SECURE", CF_CONF_BOOL, "0", &cfg->cookie_secure, 0, 0, 0,
         "mark the session cookie Secure (HTTPS only); it is marked so anyway when a proxy says "
         "X-Forwarded-Proto: https",
         NULL},
        {"CLINICFLOW_ANALYTICS_WEB_DIR", CF_CONF_STRING, "", &cfg->web_dir, 0, 0, 0,
         "the dashboard's files (index.html and its assets); empty: share/clinicflow/dashboard "
         "beside the binary's bin folder",
         NULL},
    };
    memcpy(table, vars, sizeof(vars));
    *n = sizeof(vars) / sizeof(vars[0]);
    return table;
}
