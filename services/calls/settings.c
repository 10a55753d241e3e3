/*
 * The settings of clinicflow-calls (CLINICFLOW_CALLS_*): one table, read
 * once in main by cf_service_init before any thread starts, with each
 * value's default, range and check, and the checks between settings that
 * a table cannot say. README.md's settings list documents them.
 */
#include "calls.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/xmalloc.h"

/* Checks of the service's own settings (cf_config_var.check). */
static const char *check_country(const char *value)
{
    return strcmp(value, "7") == 0 ? NULL : "7 (the one national numbering read so far)";
}

const struct cf_config_var *calls_settings_table(struct calls_settings *cfg, size_t *n)
{
    static struct cf_config_var *table; /* the process's: cf_service_run frees its strings */
    const struct cf_config_var vars[] = {
        {"CLINICFLOW_CALLS_CONSUMERS", CF_CONF_BOOL, "1", &cfg->consumers, 0, 0, 0,
         "also run the fold, patients and callbacks consumers and the task sweeper; 0 makes an "
         "intake-only instance (webhooks, results, tracking numbers), scaled apart from the fold",
         NULL},
        {"CLINICFLOW_CALLS_FOLD_RUNNERS", CF_CONF_INT, "2", &cfg->fold_runners, 1, 6, 0,
         "fold runners of an instance with consumers: each a thread with its own Kafka consumer "
         "in the fold group and its own PostgreSQL connection, sharing calls.raw's partitions, so "
         "one runner's JSON work overlaps another's statements",
         NULL},
        {"CLINICFLOW_CALLS_ABANDONED_RING_S", CF_CONF_INT, "10", &cfg->abandoned_ring_s, 0, 3600, 0,
         "a missed inbound call that rang less than this many seconds is abandoned", NULL},
        {"CLINICFLOW_CALLS_TARGETED_TALK_S", CF_CONF_INT, "20", &cfg->targeted_talk_s, 0, 86400, 0,
         "an answered inbound call with at least this much talk time is targeted", NULL},
        {"CLINICFLOW_CALLS_DEFAULT_COUNTRY", CF_CONF_STRING, "7", &cfg->default_cc, 0, 0, 0,
         "country calling code of national number forms: 7 reads 8 916 ... and 916 ... as +7 (the "
         "one numbering read so far; other numbers must come in international form)",
         check_country},
        {"CLINICFLOW_CALLS_CALLBACK_SLA_S", CF_CONF_INT, "900", &cfg->callback_sla_s, 1, 604800, 0,
         "a callback task is due this many seconds after the missed call", NULL},
        {"CLINICFLOW_CALLS_TASK_LOST_AFTER_S", CF_CONF_INT, "86400", &cfg->task_lost_after_s, 1,
         31536000, 0, "an open callback task expires as lost after this many seconds", NULL},
        {"CLINICFLOW_CALLS_SWEEP_INTERVAL_MS", CF_CONF_INT, "5000", &cfg->sweep_interval_ms, 10,
         3600000, 0,
         "how often the sweeper looks for lost callback tasks and unreported staff legs", NULL},
        {"CLINICFLOW_CALLS_STAFF_LEG_WAIT_S", CF_CONF_INT, "300", &cfg->staff_leg_wait_s, 1, 86400,
         0,
         "a call that ended waiting for its staff leg (Twilio staff_leg) is taken as missed when "
         "the leg has not reported this many seconds later",
         NULL},
        {"CLINICFLOW_CALLS_UNIQUE_LOOKBACK_S", CF_CONF_INT, "2592000", &cfg->unique_lookback_s, 0,
         315360000, 0, "an inbound call is unique when the contact made none this long before",
         NULL},
        {"CLINICFLOW_CALLS_DNI_HOLD_S", CF_CONF_INT, "1800", &cfg->dni_hold_s, 1, 86400, 0,
         "how long a visitor holds a pool number after the last request (a pool's hold_seconds "
         "wins)",
         NULL},
        {"CLINICFLOW_CALLS_DNI_FLUSH_MS", CF_CONF_INT, "5000", &cfg->dni_flush_ms, 10, 3600000, 0,
         "how often extended holds are written to PostgreSQL", NULL},
        {"CLINICFLOW_CALLS_DNI_LOCAL_S", CF_CONF_INT, "60", &cfg->dni_local_s, 0, 3600, 0,
         "a visitor whose hold this instance took or extended less than this many seconds ago (at "
         "most a tenth of the hold) is answered from memory (Redis holds last that much longer "
         "than "
         "the hold); 0: every request goes to Redis",
         NULL},
        {"CLINICFLOW_CALLS_DNI_IP_PER_MINUTE", CF_CONF_INT, "120", &cfg->dni_ip_per_minute, 1,
         1000000, 0, "tracking-number requests per client address per minute (429 past it)", NULL},
        {"CLINICFLOW_CALLS_DNI_CLINIC_PER_SECOND", CF_CONF_INT, "500", &cfg->dni_clinic_per_second,
         1, 1000000, 0, "tracking-number requests per clinic per second (429 past it)", NULL},
        {"CLINICFLOW_CALLS_DNI_NEW_HOLDS_PER_ADDRESS", CF_CONF_INT, "10",
         &cfg->dni_new_holds_per_address, 0, 1000000, 0,
         "new visitors one client address may bring to a clinic within a hold period, and numbers "
         "its visitors may hold at once; past either, new visitors from there get the default "
         "number (0: no cap)",
         NULL},
        {"CLINICFLOW_CALLS_DNI_PEAK_HALF_LIFE_S", CF_CONF_INT, "604800", &cfg->dni_peak_half_life_s,
         60, 31536000, 0,
         "the peak of concurrent visitors behind the suggested pool size halves every this many "
         "seconds, so the advice follows demand down as well as up",
         NULL},
        {"CLINICFLOW_CALLS_DNI_UNWRITTEN_MAX", CF_CONF_INT, "100000", &cfg->dni_unwritten_max, 0,
         100000000, 0,
         "sessions of new holds Redis may keep while PostgreSQL cannot take them; at this many, "
         "new "
         "visitors get the default number until they are written (0: no cap)",
         NULL},
        {"CLINICFLOW_CALLS_RETENTION_APPLIED_EVENTS_DAYS", CF_CONF_INT, "100",
         &cfg->retention_applied_events_days, 0, 36500, 0,
         "days the consumers remember an applied event id (longer than any topic they read keeps "
         "events, 90 days for calls.v1, so a redelivery is still dropped); 0: for ever",
         NULL},
        {"CLINICFLOW_CALLS_RETENTION_DNI_SESSIONS_DAYS", CF_CONF_INT, "30",
         &cfg->retention_dni_sessions_days, 0, 36500, 0,
         "days a visitor session is kept after its hold ended (longer than calls.raw keeps facts, "
         "so "
         "a late call is still attributed); 0: for ever",
         NULL},
        {"CLINICFLOW_CALLS_RETENTION_CALLS_DAYS", CF_CONF_INT, "1095", &cfg->retention_calls_days,
         0, 36500, 0,
         "days a call is kept after its start (more than the unique-call look-back); 0: for ever",
         NULL},
        {"CLINICFLOW_CALLS_RETENTION_TASKS_DAYS", CF_CONF_INT, "1095", &cfg->retention_tasks_days,
         0, 36500, 0,
         "days a callback task is kept after it closed or expired, with its call links (0, or at "
         "least the calls' retention); an open task is never deleted; 0: for ever",
         NULL},
        {"CLINICFLOW_CALLS_RETENTION_INTERVAL_S", CF_CONF_INT, "3600", &cfg->retention_interval_s,
         1, 86400, 0, "how often one instance deletes the rows past their retention", NULL},
        {"CLINICFLOW_CALLS_RETENTION_CHUNK", CF_CONF_INT, "1000", &cfg->retention_chunk, 1, 100000,
         0, "rows deleted per statement by the retention sweeper", NULL},
        {"CLINICFLOW_CALLS_TRUSTED_PROXIES", CF_CONF_STRING, "", &cfg->trusted_proxies, 0, 0, 0,
         "addresses or CIDR networks of the proxies in front of the service, comma-separated: a "
         "request from one is counted under the X-Forwarded-For client it names; empty: the peer",
         cf_proxies_check},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", CF_CONF_STRING, "", &cfg->public_base_url, 0, 0, 0,
         "scheme://host[:port] providers use to reach this service (signed URLs), with the path "
         "prefix a proxy adds, if any; empty: the Host header over http",
         cf_config_check_base_url},
        {"CLINICFLOW_CALLS_RESULT_WAIT_S", CF_CONF_INT, "86400", &cfg->result_wait_s, 1, 604800, 0,
         "a call result whose call is not stored this many seconds after the fold took it goes to "
         "the DLQ",
         NULL},
        {"CLINICFLOW_CALLS_HOOK_MAX_AGE_S", CF_CONF_INT, "604800", &cfg->hook_max_age_s, 60,
         315360000, 0,
         "a provider webhook's time (start, answer, end) more than this many seconds before the "
         "request arrived is refused (400), or left out where the provider does not retry a 4xx "
         "(Twilio, Sipuni); so is a duration over a day",
         NULL},
        {"CLINICFLOW_CALLS_HOOK_MAX_AHEAD_S", CF_CONF_INT, "900", &cfg->hook_max_ahead_s, 0, 86400,
         0,
         "the same for a time more than this many seconds after the request arrived (clock skew)",
         NULL},
        {"CLINICFLOW_CALLS_REPLAY_WINDOW_S", CF_CONF_INT, "14400", &cfg->replay_window_s, 60,
         604800, 0,
         "a Zadarma notification whose signed call_start is more than this many seconds before it "
         "arrived is refused as a replay (401): its signature does not cover the call id or "
         "outcome",
         NULL},
        {"CLINICFLOW_CALLS_FOLD_BATCH_MAX", CF_CONF_INT, "2000", &cfg->fold_batch_max, 1, 10000, 0,
         "facts the fold applies in one transaction at most: it takes what is waiting, up to "
         "this, so a backlog is worked off in large batches and a quiet topic in small ones",
         NULL},
    };
    *n = sizeof(vars) / sizeof(vars[0]);
    if (!table)
        table = cf_xmalloc(sizeof(vars));
    memcpy(table, vars, sizeof(vars));
    return table;
}

int calls_settings_check(const struct calls_settings *cfg, char *errbuf, size_t errbuf_size)
{
    /* A call deleted before the look-back ends would make the next call
     * from its contact unique again. */
    if (cfg->retention_calls_days > 0 &&
        cfg->retention_calls_days * 86400 <= cfg->unique_lookback_s) {
        snprintf(errbuf, errbuf_size,
                 "CLINICFLOW_CALLS_RETENTION_CALLS_DAYS: must be 0 or longer than "
                 "CLINICFLOW_CALLS_UNIQUE_LOOKBACK_S (%ld s)",
                 cfg->unique_lookback_s);
        return CF_EINVAL;
    }
    /* A finished task's links say which calls already had their task: a
     * later event about one of them (a result tagged late) that found them
     * gone would open a new task for an old call. */
    if (cfg->retention_tasks_days > 0 &&
        (cfg->retention_calls_days == 0 || cfg->retention_tasks_days < cfg->retention_calls_days)) {
        snprintf(errbuf, errbuf_size,
                 "CLINICFLOW_CALLS_RETENTION_TASKS_DAYS: must be 0 or at least "
                 "CLINICFLOW_CALLS_RETENTION_CALLS_DAYS (%ld, 0: for ever)",
                 cfg->retention_calls_days);
        return CF_EINVAL;
    }
    return 0;
}
