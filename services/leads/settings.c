/*
 * The settings of clinicflow-leads (CLINICFLOW_LEADS_*): one table, read
 * once in main by cf_service_init before any thread starts, with each
 * value's default, range and check, and the checks between settings that a
 * table cannot say. README.md's settings list documents them; per-clinic
 * and per-channel values in the network configuration win over these
 * defaults where both exist.
 */
#include "leads.h"

#include <string.h>

#include "common/client_addr.h"
#include "common/err.h"
#include "common/xmalloc.h"

/* The shortest retention of tasks and leads but 0: leads.v1 keeps its
 * events 90 days (proto/topics.json), and a late response or outcome may
 * name a lead that long. */
#define LEADS_RETENTION_MIN_DAYS 90

static const char *check_country(const char *value)
{
    return strcmp(value, "7") == 0 ? NULL : "7 (the one national numbering read so far)";
}

const struct cf_config_var *leads_settings_table(struct leads_settings *cfg, size_t *n)
{
    static struct cf_config_var *table; /* the process's: cf_service_run frees its strings */
    const struct cf_config_var vars[] = {
        {"CLINICFLOW_LEADS_CONSUMERS", CF_CONF_BOOL, "1", &cfg->consumers, 0, 0, 0,
         "also run the fold, the tasks, call-response, patients and notify consumers and the "
         "workers; 0 makes an intake-only instance (webhooks, forms, codes), scaled apart",
         NULL},
        {"CLINICFLOW_LEADS_DEFAULT_COUNTRY", CF_CONF_STRING, "7", &cfg->default_cc, 0, 0, 0,
         "country calling code of national number forms: 7 reads 8 916 ... and 916 ... as +7",
         check_country},
        {"CLINICFLOW_LEADS_TRUSTED_PROXIES", CF_CONF_STRING, "", &cfg->trusted_proxies, 0, 0, 0,
         "addresses or CIDR networks of reverse proxies whose X-Forwarded-For is believed for "
         "the rate limits' client address; empty: the peer",
         cf_proxies_check},
        {"CLINICFLOW_LEADS_TEXT_MAX", CF_CONF_INT, "4000", &cfg->text_max, 100, 100000, 0,
         "a lead's text is cut to this many characters and marked text_truncated", NULL},
        {"CLINICFLOW_LEADS_REPLAY_WINDOW_S", CF_CONF_INT, "86400", &cfg->replay_window_s, 0, 604800,
         0,
         "a provider's signed time (Mailgun's timestamp) further than this many seconds from "
         "the arrival is refused as a replay; 0: no bound",
         NULL},
        {"CLINICFLOW_LEADS_HOOK_MAX_AGE_S", CF_CONF_INT, "604800", &cfg->hook_max_age_s, 60,
         315360000, 0,
         "a provider's own time of a message (Telegram's date, Meta's and Viber's timestamp) "
         "is its lead's or response's time when it is at most this many seconds before the "
         "arrival; an older one is not believed and the arrival is the time (counted as "
         "amended, time_out_of_bounds)",
         NULL},
        {"CLINICFLOW_LEADS_HOOK_MAX_AHEAD_S", CF_CONF_INT, "900", &cfg->hook_max_ahead_s, 0, 86400,
         0, "the same for a provider's time more than this many seconds after the arrival", NULL},
        {"CLINICFLOW_LEADS_FORM_TIME_MAX_AGE_S", CF_CONF_INT, "3600", &cfg->form_time_max_age_s, 0,
         31536000, 0,
         "a form's own submitted_at is its lead's time when it is at most this many seconds "
         "before the arrival (a site's backend forwarding late); an older one, or one ahead of "
         "the arrival, is not believed and the arrival is the time; 0: never",
         NULL},
        {"CLINICFLOW_LEADS_FORM_PER_IP_PER_MINUTE", CF_CONF_INT, "30", &cfg->form_per_ip_per_minute,
         0, 1000000, 0,
         "form posts (generic channels) per client address per minute, then 429; 0: no limit",
         NULL},
        {"CLINICFLOW_LEADS_FORM_PER_CONTACT_PER_HOUR", CF_CONF_INT, "10",
         &cfg->form_per_contact_per_hour, 0, 1000000, 0,
         "form posts per phone or e-mail per hour, then 429; 0: no limit", NULL},
        {"CLINICFLOW_LEADS_CODES_PER_IP_PER_MINUTE", CF_CONF_INT, "30",
         &cfg->codes_per_ip_per_minute, 0, 1000000, 0,
         "attribution codes issued per client address per minute, then 429; 0: no limit", NULL},
        {"CLINICFLOW_LEADS_CODE_TTL_S", CF_CONF_INT, "604800", &cfg->code_ttl_s, 60, 31536000, 0,
         "an attribution code (POST /v1/leads/codes) is good this many seconds", NULL},
        {"CLINICFLOW_LEADS_MERGE_WINDOW_S", CF_CONF_INT, "86400", &cfg->merge_window_s, 0, 31536000,
         0,
         "a request from the contact of an open lead within this many seconds of its last "
         "message merges into it (a clinic's lead_merge_window_s wins); 0: never merge",
         NULL},
        {"CLINICFLOW_LEADS_FOLD_BATCH_MAX", CF_CONF_INT, "1000", &cfg->fold_batch_max, 1, 10000, 0,
         "facts the fold applies in one transaction at most", NULL},
        {"CLINICFLOW_LEADS_FOLD_RUNNERS", CF_CONF_INT, "2", &cfg->fold_runners, 1, 6, 0,
         "fold runners of an instance with consumers: each a thread with its own Kafka consumer "
         "in the fold group and its own PostgreSQL connection, sharing leads.raw's partitions, so "
         "one runner's JSON work overlaps another's statements",
         NULL},
        {"CLINICFLOW_LEADS_PENDING_EXPIRE_S", CF_CONF_INT, "86400", &cfg->pending_expire_s, 1,
         604800, 0,
         "a response or status naming a lead not stored yet waits this many seconds for the "
         "request that opens it (the fold goes on meanwhile), then goes to the DLQ (unknown_lead)",
         NULL},
        {"CLINICFLOW_LEADS_RESPONSE_DUE_S", CF_CONF_INT, "600", &cfg->response_due_s, 1, 604800, 0,
         "a lead's respond task is due this many seconds of the clinic's working hours after "
         "the lead (a clinic's lead_response_due_s wins)",
         NULL},
        {"CLINICFLOW_LEADS_CALLBACK_DUE_S", CF_CONF_INT, "900", &cfg->callback_due_s, 1, 604800, 0,
         "a form lead with a phone opens a callback task due this many seconds of the clinic's "
         "working hours after it",
         NULL},
        {"CLINICFLOW_LEADS_SWEEP_INTERVAL_MS", CF_CONF_INT, "1000", &cfg->sweep_interval_ms, 10,
         3600000, 0, "how often the sweeper looks for leads past their response due time", NULL},
        {"CLINICFLOW_LEADS_TASK_EXPIRE_S", CF_CONF_INT, "604800", &cfg->task_expire_s, 3600,
         31536000, 0,
         "a lead's task still open this many seconds after it opened expires (task.expired), "
         "a respond task once its breach is told",
         NULL},
        {"CLINICFLOW_LEADS_NOTIFY_TIMEOUT_MS", CF_CONF_INT, "5000", &cfg->notify_timeout_ms, 100,
         60000, 0, "one outgoing webhook delivery attempt's deadline", NULL},
        {"CLINICFLOW_LEADS_NOTIFY_MAX_ATTEMPTS", CF_CONF_INT, "12", &cfg->notify_max_attempts, 1,
         100, 0, "outgoing webhook attempts before a delivery is given up (counted)", NULL},
        {"CLINICFLOW_LEADS_NOTIFY_BACKOFF_MS", CF_CONF_INT, "1000", &cfg->notify_backoff_ms, 10,
         3600000, 0,
         "delay before an outgoing webhook's first retry; each next one doubles, up to an hour",
         NULL},
        {"CLINICFLOW_LEADS_NOTIFY_INTERVAL_MS", CF_CONF_INT, "500", &cfg->notify_interval_ms, 10,
         60000, 0, "how often the deliverer looks for due outgoing webhook deliveries", NULL},
        {"CLINICFLOW_LEADS_NOTIFY_MAX_AGE_S", CF_CONF_INT, "86400", &cfg->notify_max_age_s, 60,
         7776000, 0,
         "a lead event older than this on leads.v1 when the notifier reads it is not sent "
         "(counted): a first read of the topic's 90 days, or an outage longer than this",
         NULL},
        {"CLINICFLOW_LEADS_RETENTION_APPLIED_EVENTS_DAYS", CF_CONF_INT, "100",
         &cfg->retention_applied_events_days, 0, 36500, 0,
         "days the consumers remember an applied event id (longer than any topic they read keeps "
         "events, 90 days for leads.v1 and calls.v1, so a redelivery is still dropped); 0: for "
         "ever",
         NULL},
        {"CLINICFLOW_LEADS_RETENTION_DELIVERIES_DAYS", CF_CONF_INT, "30",
         &cfg->retention_deliveries_days, 0, 36500, 0,
         "days an outgoing webhook delivery is kept after it was delivered or given up (its "
         "attempts and last error, for a receiver's failures); a pending one is never deleted; "
         "0: for ever",
         NULL},
        {"CLINICFLOW_LEADS_RETENTION_TASKS_DAYS", CF_CONF_INT, "1095", &cfg->retention_tasks_days,
         0, 36500, 0,
         "days a task is kept after it closed or expired (0, or at least 90, as a closed lead: "
         "its finished task is what keeps a request read again from opening the task anew); an "
         "open task is never deleted; 0: for ever",
         NULL},
        {"CLINICFLOW_LEADS_RETENTION_LEADS_DAYS", CF_CONF_INT, "1095", &cfg->retention_leads_days,
         0, 36500, 0,
         "days a closed lead is kept after its last message, with its contact keys (0, or at "
         "least 90: a late response or outcome naming it is applied while leads.v1 keeps its "
         "events, 90 days, not sent to the DLQ); an open lead is never deleted; 0: for ever",
         NULL},
        {"CLINICFLOW_LEADS_RETENTION_INTERVAL_S", CF_CONF_INT, "3600", &cfg->retention_interval_s,
         1, 86400, 0, "how often one instance deletes the rows past their retention", NULL},
        {"CLINICFLOW_LEADS_RETENTION_CHUNK", CF_CONF_INT, "1000", &cfg->retention_chunk, 1, 100000,
         0, "rows deleted per statement by the retention sweeper", NULL},
    };
    *n = sizeof(vars) / sizeof(vars[0]);
    if (!table)
        table = cf_xmalloc(sizeof(vars));
    memcpy(table, vars, sizeof(vars));
    return table;
}

int leads_settings_check(const struct leads_settings *cfg, char *errbuf, size_t errbuf_size)
{
    /* 0, or long enough for a provider's retries of one signed request */
    if (cfg->replay_window_s != 0 && cfg->replay_window_s < 600) {
        cf_seterr(errbuf, errbuf_size,
                  "CLINICFLOW_LEADS_REPLAY_WINDOW_S: expected 0 (no bound) or 600 to 604800, "
                  "got %ld",
                  cfg->replay_window_s);
        return CF_EINVAL;
    }
    /* A finished task keeps a request read again (leads.raw, were the
     * fold's applied event ids gone) from opening it anew, and goes no
     * sooner than its lead; a closed lead takes a late response or outcome
     * naming it (leads.v1 keeps 90 days) instead of the DLQ. */
    const struct {
        const char *name;
        long days;
    } floors[] = {
        {"CLINICFLOW_LEADS_RETENTION_TASKS_DAYS", cfg->retention_tasks_days},
        {"CLINICFLOW_LEADS_RETENTION_LEADS_DAYS", cfg->retention_leads_days},
    };
    for (size_t i = 0; i < sizeof(floors) / sizeof(floors[0]); i++) {
        if (floors[i].days != 0 && floors[i].days < LEADS_RETENTION_MIN_DAYS) {
            cf_seterr(errbuf, errbuf_size, "%s: expected 0 (for ever) or %d to 36500, got %ld",
                      floors[i].name, LEADS_RETENTION_MIN_DAYS, floors[i].days);
            return CF_EINVAL;
        }
    }
    return 0;
}
