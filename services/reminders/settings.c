/*
 * The settings of clinicflow-reminders (CLINICFLOW_REMINDERS_*): one table,
 * read once by cf_service_init before any thread starts, each with its
 * default, range and check. README.md's settings list documents them.
 */
#include "reminders.h"
#include "mis_batch_write.h"

#include <string.h>

#include "common/err.h"

static const char *check_country(const char *value)
{
    return strcmp(value, "7") == 0 ? NULL : "7 (the one national numbering read so far)";
}

const struct cf_config_var *reminders_settings_table(struct reminders_settings *cfg, size_t *n)
{
    static struct cf_config_var table[20];
    const struct cf_config_var vars[] = {
        {"CLINICFLOW_REMINDERS_DEFAULT_COUNTRY", CF_CONF_STRING, "7", &cfg->default_cc, 0, 0, 0,
         "country calling code of national number forms in the MIS's phones: 7 reads "
         "8 916 ... and 916 ... as +7",
         check_country},
        {"CLINICFLOW_REMINDERS_RELAY_EVERY_MS", CF_CONF_INT, "1000", &cfg->relay_every_ms, 50,
         60000, 0,
         "how often the outbox relay looks for events an earlier relay could not send (Kafka "
         "was down); a commit that stages events wakes it at once",
         NULL},
        {"CLINICFLOW_REMINDERS_SCHEDULER_EVERY_MS", CF_CONF_INT, "200", &cfg->scheduler_every_ms,
         50, 60000, 0, "how often the scheduler looks for due reminder jobs", NULL},
        {"CLINICFLOW_REMINDERS_DISPATCH_RUNNERS", CF_CONF_INT, "2", &cfg->dispatch_runners, 1, 8, 0,
         "consumers of the commands topic an instance runs: each sends one command at a time, "
         "so a send waiting on its gateway holds back only its own partitions",
         NULL},
        {"CLINICFLOW_REMINDERS_LATE_GRACE_S", CF_CONF_INT, "900", &cfg->late_grace_s, 0, 86400, 0,
         "a due job the scheduler takes more than this many seconds after its due time (the "
         "service was down) is skipped as late, never sent late",
         NULL},
        {"CLINICFLOW_REMINDERS_GATEWAY_TIMEOUT_MS", CF_CONF_INT, "10000", &cfg->gateway_timeout_ms,
         100, 120000, 0,
         "a gateway's whole exchange (connect included); a send with no answer by then is "
         "unknown, never made again blindly",
         NULL},
        {"CLINICFLOW_REMINDERS_RECALL_EVERY_MS", CF_CONF_INT, "3600000", &cfg->recall_every_ms, 100,
         86400000, 0,
         "how often the recall looks for patients due to be asked back (clinics whose policy "
         "has recall on)",
         NULL},
        {"CLINICFLOW_REMINDERS_PUBLIC_BASE_URL", CF_CONF_STRING, "", &cfg->public_base_url, 0, 0, 0,
         "http(s)://host[:port] at which gateways and patients reach the service, with the "
         "path prefix a proxy adds: Twilio's callback URLs are built on it and its signatures "
         "cover them, and a survey SMS links to <it>/nps/<token>. Empty: http:// + the "
         "request's Host, no Twilio sends and no surveys",
         cf_config_check_base_url},
        {"CLINICFLOW_REMINDERS_BATCH_PORT", CF_CONF_INT, "8093", &cfg->batch_port, 0, 65535, 0,
         "port of POST /v1/mis/batch's streaming listener (on CLINICFLOW_HTTP_HOST); 0: a free "
         "port, written to CLINICFLOW_REMINDERS_BATCH_PORT_FILE",
         NULL},
        {"CLINICFLOW_REMINDERS_BATCH_PORT_FILE", CF_CONF_STRING, NULL, &cfg->batch_port_file, 0, 0,
         0, "where the batch listener writes its bound port (tests with port 0)", NULL},
        {"CLINICFLOW_REMINDERS_BATCH_WRITERS", CF_CONF_INT, "2", &cfg->batch_writers, 1,
         BATCH_WRITERS_MAX, 0,
         "writer threads an import, each on a PostgreSQL connection of its own: the second "
         "only while the pool keeps two free beside it",
         NULL},
        {"CLINICFLOW_REMINDERS_CALL_REPORT_WAIT_S", CF_CONF_INT, "1800", &cfg->call_report_wait_s,
         4, 86400, 0,
         "a robot call a gateway took and has not reported on this many seconds later (a "
         "dialer down, a status callback lost) gets the outcome unknown: the reminder is "
         "not_confirmed and the front desk asked to call; a later report still counts",
         NULL},
        {"CLINICFLOW_REMINDERS_RETENTION_APPLIED_EVENTS_DAYS", CF_CONF_INT, "100",
         &cfg->retention_applied_events_days, 0, 36500, 0,
         "days the dispatchers remember an applied command's id (longer than the commands topic "
         "keeps it, 7 days, so a redelivery is still dropped; 100 as calls and leads); 0: for "
         "ever",
         NULL},
        {"CLINICFLOW_REMINDERS_RETENTION_SMS_REPLIES_DAYS", CF_CONF_INT, "30",
         &cfg->retention_sms_replies_days, 0, 36500, 0,
         "days a patient's SMS reply taken is remembered by the provider's message id (a "
         "gateway posts a copy within minutes or hours; a reply matches an SMS of the last 7 "
         "days); 0: for ever",
         NULL},
        {"CLINICFLOW_REMINDERS_RETENTION_NPS_SURVEYS_DAYS", CF_CONF_INT, "100",
         &cfg->retention_nps_surveys_days, 0, 36500, 0,
         "days a survey nobody answered is kept after its link expired; an answered survey (its "
         "score and comment) is never deleted by age; 0: for ever",
         NULL},
        {"CLINICFLOW_REMINDERS_RETENTION_CAMPAIGN_PACE_DAYS", CF_CONF_INT, "90",
         &cfg->retention_campaign_pace_days, 0, 36500, 0,
         "days a clinic's hourly count of campaign contacts released is kept after its hour "
         "(only the current hour's is counted against); 0: for ever",
         NULL},
        {"CLINICFLOW_REMINDERS_RETENTION_INTERVAL_S", CF_CONF_INT, "3600",
         &cfg->retention_interval_s, 1, 86400, 0,
         "how often one instance deletes the rows past their retention", NULL},
        {"CLINICFLOW_REMINDERS_RETENTION_CHUNK", CF_CONF_INT, "1000", &cfg->retention_chunk, 1,
         100000, 0, "rows deleted per statement by the retention sweeper", NULL},
    };
    _Static_assert(sizeof(vars) <= sizeof(table), "the settings table is too small");
    memcpy(table, vars, sizeof(vars));
    *n = sizeof(vars) / sizeof(vars[0]);
    return table;
}

/* The shortest memory of applied command ids but 0 (for ever): the
 * commands topic keeps its events 7 days (proto/topics.json), and a
 * command read again within them must still be dropped. */
#define REMINDERS_APPLIED_MIN_DAYS 7

int reminders_settings_check(const struct reminders_settings *cfg, char *errbuf, size_t errbuf_size)
{
    const long days = cfg->retention_applied_events_days;
    if (days != 0 && days < REMINDERS_APPLIED_MIN_DAYS) {
        cf_seterr(errbuf, errbuf_size,
                  "CLINICFLOW_REMINDERS_RETENTION_APPLIED_EVENTS_DAYS: expected 0 (for ever) or "
                  "%d to 36500, got %ld",
                  REMINDERS_APPLIED_MIN_DAYS, days);
        return CF_EINVAL;
    }
    return 0;
}
