/*
 * Configuration from CLINICFLOW_* environment variables, read once in main
 * before any thread starts. Each program declares a table of variables; the
 * loader parses and range-checks every one, and the first bad value stops
 * start-up with a message naming the variable (exit code 2 by the caller).
 * Empty means unset. librdkafka properties pass through as
 * CLINICFLOW_KAFKA_X_<PROP> (underscores become dots, lower-cased).
 */
#ifndef CF_COMMON_CONFIG_H
#define CF_COMMON_CONFIG_H

#include <stddef.h>

enum cf_config_type {
    CF_CONF_STRING, /* target: char ** (cf_xstrdup'ed; NULL if unset and no default) */
    CF_CONF_INT,    /* target: long *, checked against [min, max] */
    CF_CONF_BOOL    /* target: int *, accepts 1/0/true/false/yes/no/on/off */
};

struct cf_config_var {
    const char *name; /* full name, "CLINICFLOW_HTTP_PORT" */
    enum cf_config_type type;
    const char *def; /* default as text, or NULL */
    void *target;
    long min, max; /* CF_CONF_INT only */
    int secret;    /* masked when logged */
    const char *help;
    /* CF_CONF_STRING only, optional: NULL when a set value is good, else
     * what was expected ("a URL like https://host"). */
    const char *(*check)(const char *value);
};

/* Reads every variable of the table. Returns 0, or CF_EINVAL with
 * "CLINICFLOW_X: expected ..., got '...'" in errbuf. */
int cf_config_load(const struct cf_config_var *vars, size_t n, char *errbuf, size_t errbuf_size);
/* A check (cf_config_var.check) of a service's public base URL:
 * http(s)://host[:port][/prefix], what a URL given to a provider starts
 * with (signed URLs, callbacks, links sent to patients), so the scheme in
 * lower case, no user info, query or fragment. A trailing '/' is taken;
 * its users drop it (cf_config_base_url_len). */
const char *cf_config_check_base_url(const char *value);
/* The length of base (a public base URL) without its trailing '/'s, for
 * "%.*s" and the path after it. */
int cf_config_base_url_len(const char *base);
/* Frees the strings cf_config_load allocated for this table. */
void cf_config_free(const struct cf_config_var *vars, size_t n);
/* Logs the effective values at info level, secrets masked. */
void cf_config_log(const struct cf_config_var *vars, size_t n);

/* A librdkafka property taken from CLINICFLOW_KAFKA_X_<PROP>. */
struct cf_kafka_prop {
    char *name;
    char *value;
};
/* Collects every CLINICFLOW_KAFKA_X_* variable. *out is an array of *n
 * props, freed with cf_config_kafka_props_free. */
void cf_config_kafka_props(struct cf_kafka_prop **out, size_t *n);
void cf_config_kafka_props_free(struct cf_kafka_prop *props, size_t n);
/* 0, or CF_EINVAL with the reason when one of props is a property the
 * suite sets itself (acks, idempotence, timeouts, offsets: config.c says
 * why each), which a CLINICFLOW_KAFKA_X_* setting may not change. */
int cf_config_kafka_props_check(const struct cf_kafka_prop *props, size_t n, char *errbuf,
                                size_t errbuf_size);

/*
 * Settings every service shares. cf_config_load_settings() reads them together with
 * the service's own table (extra may be NULL).
 */
struct cf_settings {
    char *service;                     /* "calls", "leads", ... (not from env) */
    char *http_host;                   /* CLINICFLOW_HTTP_HOST */
    long http_port;                    /* CLINICFLOW_HTTP_PORT (0: ephemeral, see port_file) */
    char *http_port_file;              /* CLINICFLOW_HTTP_PORT_FILE: write the bound port here */
    long http_max_connections;         /* CLINICFLOW_HTTP_MAX_CONNECTIONS */
    long http_timeout_s;               /* CLINICFLOW_HTTP_TIMEOUT_S: idle connection timeout */
    long http_max_body;                /* CLINICFLOW_HTTP_MAX_BODY_BYTES */
    long http_max_form_fields;         /* CLINICFLOW_HTTP_MAX_FORM_FIELDS: urlencoded body fields */
    long http_per_ip_connections;      /* CLINICFLOW_HTTP_PER_IP_CONNECTIONS (0: no limit) */
    char *kafka_brokers;               /* CLINICFLOW_KAFKA_BROKERS */
    long kafka_message_timeout_ms;     /* CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS */
    long kafka_delivery_wait_ms;       /* CLINICFLOW_KAFKA_DELIVERY_WAIT_MS (> message timeout) */
    long kafka_retry_after_s;          /* CLINICFLOW_KAFKA_RETRY_AFTER_S: Retry-After on 503 */
    long kafka_probe_interval_ms;      /* CLINICFLOW_KAFKA_PROBE_INTERVAL_MS: breaker half-open */
    long kafka_session_timeout_ms;     /* CLINICFLOW_KAFKA_SESSION_TIMEOUT_MS (consumers) */
    long kafka_fetch_wait_ms;          /* CLINICFLOW_KAFKA_FETCH_WAIT_MS (consumers) */
    char *pg_dsn;                      /* CLINICFLOW_PG_DSN */
    long pg_pool_size;                 /* CLINICFLOW_PG_POOL_SIZE */
    long pg_acquire_timeout_ms;        /* CLINICFLOW_PG_ACQUIRE_TIMEOUT_MS */
    int pg_prepared_statements;        /* CLINICFLOW_PG_PREPARED_STATEMENTS */
    char *redis_url;                   /* CLINICFLOW_REDIS_URL */
    long redis_timeout_ms;             /* CLINICFLOW_REDIS_TIMEOUT_MS */
    char *log_level;                   /* CLINICFLOW_LOG_LEVEL */
    long config_reload_ms;             /* CLINICFLOW_CONFIG_RELOAD_MS: network config poll */
    long config_max_age_s;             /* CLINICFLOW_CONFIG_MAX_AGE_S: keys refused past it */
    long shutdown_timeout_ms;          /* CLINICFLOW_SHUTDOWN_TIMEOUT_MS */
    struct cf_kafka_prop *kafka_props; /* CLINICFLOW_KAFKA_X_* */
    size_t kafka_props_n;
};

/* Loads the shared settings (default port given by the service) and the
 * service's extra table; logs the effective configuration. On a bad value
 * prints the reason and returns CF_EINVAL (main exits 2). */
int cf_config_load_settings(struct cf_settings *s, const char *service, long default_port,
                            const struct cf_config_var *extra, size_t n_extra, char *errbuf,
                            size_t errbuf_size);
void cf_config_free_settings(struct cf_settings *s, const struct cf_config_var *extra,
                             size_t n_extra);

#endif
