/*
 * Configuration from CLINICFLOW_* environment variables. Every program
 * describes its settings as a table (name, type, default, target, range), so
 * parsing, range checks, error messages and the masked start-up log are
 * written once here. This is the only file that reads the environment; it
 * runs once in main before any thread starts, which is what makes getenv
 * and environ safe to use. The first bad value stops loading with a message
 * that names the variable and says what was expected.
 */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/strbuf.h"
#include "common/xmalloc.h"

extern char **environ;

#define KAFKA_X_PREFIX "CLINICFLOW_KAFKA_X_"
#define MASK "********"

/* The environment value of name, or NULL when unset or empty. */
static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

static int parse_long(const char *s, long *out)
{
    char *end = NULL;
    /* strtol skips leading blanks; a value with them is still a typo. */
    if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+'))
        return CF_EINVAL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return CF_EINVAL;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return CF_EINVAL;
}

/* The value as it may appear in an error message or log line. */
static const char *shown(const struct cf_config_var *var, const char *value)
{
    return var->secret ? MASK : value;
}

static int load_one(const struct cf_config_var *var, char *errbuf, size_t errbuf_size)
{
    const char *value = env_value(var->name);
    if (!value)
        value = var->def;

    switch (var->type) {
    case CF_CONF_STRING: {
        const char *want = value && *value && var->check ? var->check(value) : NULL;
        if (want) {
            snprintf(errbuf, errbuf_size, "%s: expected %s, got '%s'", var->name, want,
                     shown(var, value));
            return CF_EINVAL;
        }
        char **target = var->target;
        *target = value ? cf_xstrdup(value) : NULL;
        return 0;
    }
    case CF_CONF_INT: {
        long v;
        if (!value)
            return 0;
        if (parse_long(value, &v) != 0 || v < var->min || v > var->max) {
            snprintf(errbuf, errbuf_size, "%s: expected an integer in [%ld, %ld], got '%s'",
                     var->name, var->min, var->max, shown(var, value));
            return CF_EINVAL;
        }
        *(long *)var->target = v;
        return 0;
    }
    case CF_CONF_BOOL: {
        int v;
        if (!value)
            return 0;
        if (parse_bool(value, &v) != 0) {
            snprintf(errbuf, errbuf_size,
                     "%s: expected one of 1/0/true/false/yes/no/on/off, got '%s'", var->name,
                     shown(var, value));
            return CF_EINVAL;
        }
        *(int *)var->target = v;
        return 0;
    }
    }
    snprintf(errbuf, errbuf_size, "%s: unknown variable type", var->name);
    return CF_EINVAL;
}

const char *cf_config_check_base_url(const char *value)
{
    const char *want = "http:// or https:// (lower case) with a host, a port from 1 to 65535 "
                       "if any, no user info, query or fragment";
    const char *host = strncmp(value, "https://", 8) == 0  ? value + 8
                       : strncmp(value, "http://", 7) == 0 ? value + 7
                                                           : NULL;
    if (!host || value[strcspn(value, "?#@ \t\r\n")] != '\0')
        return want;
    const size_t auth_len = strcspn(host, "/");
    const char *auth_end = host + auth_len;
    const char *port = NULL;
    if (*host == '[') { /* an IPv6 literal, then nothing or ":port" */
        const char *bracket = memchr(host, ']', auth_len);
        if (!bracket || bracket == host + 1)
            return want;
        if (bracket + 1 < auth_end) {
            if (bracket[1] != ':')
                return want;
            port = bracket + 2;
        }
    } else {
        const char *colon = memchr(host, ':', auth_len);
        if (colon == host || auth_len == 0)
            return want;
        if (colon) {
            if (memchr(colon + 1, ':', (size_t)(auth_end - colon - 1)))
                return want;
            port = colon + 1;
        }
    }
    if (port) {
        long n = 0;
        const char *p = port;
        for (; p < auth_end && *p >= '0' && *p <= '9' && n <= 65535; p++)
            n = n * 10 + (*p - '0');
        if (p == port || p != auth_end || n < 1 || n > 65535)
            return want;
    }
    return NULL;
}

int cf_config_base_url_len(const char *base)
{
    size_t n = base ? strlen(base) : 0;
    while (n > 0 && base[n - 1] == '/')
        n--;
    return (int)n;
}

/*
 * Reads every variable of the table in order. String targets always end up
 * owned by the table (NULL or a copy), including after a failure, so
 * cf_config_free is safe to call either way. An INT or BOOL variable that is
 * unset and has no default keeps the target's prior value.
 */
int cf_config_load(const struct cf_config_var *vars, size_t n, char *errbuf, size_t errbuf_size)
{
    for (size_t i = 0; i < n; i++) {
        if (vars[i].type == CF_CONF_STRING)
            *(char **)vars[i].target = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = load_one(&vars[i], errbuf, errbuf_size);
        if (rc != 0) {
            cf_config_free(vars, n);
            return rc;
        }
    }
    return 0;
}

void cf_config_free(const struct cf_config_var *vars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (vars[i].type == CF_CONF_STRING) {
            char **target = vars[i].target;
            free(*target);
            *target = NULL;
        }
    }
}

/* 1 when the n bytes at key name a password (libpq's password and
 * sslpassword, a URL query's too). */
static int password_key(const char *key, size_t n)
{
    return (n == 8 && strncmp(key, "password", 8) == 0) ||
           (n == 11 && strncmp(key, "sslpassword", 11) == 0);
}

/* A URL's query ("a=1&password=x"), its passwords masked, onto b. */
static void mask_query(struct cf_strbuf *b, const char *q)
{
    while (*q) {
        const size_t len = strcspn(q, "&#");
        const char *eq = memchr(q, '=', len);
        if (eq && password_key(q, (size_t)(eq - q))) {
            cf_strbuf_add_n(b, q, (size_t)(eq - q) + 1);
            cf_strbuf_add(b, MASK);
        } else {
            cf_strbuf_add_n(b, q, len);
        }
        q += len;
        if (*q == '#') {
            cf_strbuf_add(b, q);
            return;
        }
        if (*q)
            cf_strbuf_add_n(b, q++, 1);
    }
}

/* libpq's key=value form ("host=h password = 'a b'"), its passwords'
 * values masked, onto b: spaces around '=', quoted values with their
 * escapes, as libpq reads them. */
static void mask_conninfo(struct cf_strbuf *b, const char *v)
{
    while (*v) {
        const size_t blank = strspn(v, " \t\n\r\f\v");
        cf_strbuf_add_n(b, v, blank);
        v += blank;
        const char *key = v;
        while (*v && *v != '=' && !isspace((unsigned char)*v))
            v++;
        const size_t key_len = (size_t)(v - key);
        v += strspn(v, " \t\n\r\f\v");
        if (*v != '=') { /* not a key=value: kept as it is */
            cf_strbuf_add_n(b, key, (size_t)(v - key));
            continue;
        }
        v++;
        v += strspn(v, " \t\n\r\f\v");
        const char *value = v;
        if (*v == '\'') {
            v++;
            while (*v && *v != '\'')
                v += (v[0] == '\\' && v[1]) ? 2 : 1;
            if (*v == '\'')
                v++;
        } else {
            while (*v && !isspace((unsigned char)*v))
                v += (v[0] == '\\' && v[1]) ? 2 : 1;
        }
        cf_strbuf_add_n(b, key, (size_t)(value - key));
        if (password_key(key, key_len))
            cf_strbuf_add(b, MASK);
        else
            cf_strbuf_add_n(b, value, (size_t)(v - value));
    }
}

/*
 * A copy of value with any password removed: the password of URL userinfo
 * ("scheme://user:pass@host" -> "scheme://user:********@host") and of its
 * query ("?password=..."), and the value of libpq's key=value password and
 * sslpassword. Other text is kept as is.
 */
static char *mask_password(const char *value)
{
    struct cf_strbuf b = {0};
    /* a URL starts with its scheme; "://" later is a key=value's value */
    const size_t scheme_len = strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789+.-");
    const char *scheme =
        scheme_len > 0 && strncmp(value + scheme_len, "://", 3) == 0 ? value + scheme_len : NULL;
    if (!scheme) {
        mask_conninfo(&b, value);
        return cf_strbuf_take(&b);
    }
    const char *user = scheme + 3;
    const size_t auth_len = strcspn(user, "@/?#");
    const char *colon = user[auth_len] == '@' ? memchr(user, ':', auth_len) : NULL;
    const char *rest = colon ? user + auth_len : user;
    cf_strbuf_add_n(&b, value, (size_t)((colon ? colon : user) - value));
    if (colon)
        cf_strbuf_add(&b, ":" MASK);
    const size_t before_query = strcspn(rest, "?#");
    cf_strbuf_add_n(&b, rest, before_query);
    rest += before_query;
    if (*rest == '?') {
        cf_strbuf_add(&b, "?");
        mask_query(&b, rest + 1);
    } else {
        cf_strbuf_add(&b, rest);
    }
    return cf_strbuf_take(&b);
}

void cf_config_log(const struct cf_config_var *vars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct cf_config_var *var = &vars[i];
        switch (var->type) {
        case CF_CONF_STRING: {
            const char *v = *(char *const *)var->target;
            if (!v) {
                cf_info("config %s unset", var->name);
            } else if (var->secret) {
                cf_info("config %s=" MASK, var->name);
            } else {
                char *masked = mask_password(v);
                cf_info("config %s=%s", var->name, masked);
                free(masked);
            }
            break;
        }
        case CF_CONF_INT:
            cf_info("config %s=%ld", var->name, *(const long *)var->target);
            break;
        case CF_CONF_BOOL:
            cf_info("config %s=%s", var->name, *(const int *)var->target ? "true" : "false");
            break;
        }
    }
}

static int prop_cmp(const void *a, const void *b)
{
    const struct cf_kafka_prop *pa = a, *pb = b;
    return strcmp(pa->name, pb->name);
}

/*
 * Scans the environment for CLINICFLOW_KAFKA_X_<PROP>=value (empty values
 * count as unset) and returns the properties sorted by name, so the order
 * does not depend on the environment's.
 */
void cf_config_kafka_props(struct cf_kafka_prop **out, size_t *n)
{
    size_t count = 0, cap = 0;
    struct cf_kafka_prop *props = NULL;
    const size_t prefix_len = strlen(KAFKA_X_PREFIX);

    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, KAFKA_X_PREFIX, prefix_len) != 0)
            continue;
        const char *prop = *e + prefix_len;
        const char *eq = strchr(prop, '=');
        if (!eq || eq == prop || eq[1] == '\0')
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            props = cf_xrealloc(props, cap * sizeof(*props));
        }
        char *name = cf_xstrndup(prop, (size_t)(eq - prop));
        for (char *c = name; *c; c++) {
            if (*c == '_')
                *c = '.';
            else if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        }
        props[count].name = name;
        props[count].value = cf_xstrdup(eq + 1);
        count++;
    }
    if (count > 1)
        qsort(props, count, sizeof(*props), prop_cmp);
    *out = props;
    *n = count;
}

void cf_config_kafka_props_free(struct cf_kafka_prop *props, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(props[i].name);
        free(props[i].value);
    }
    free(props);
}

/* librdkafka properties the services set themselves, which a
 * CLINICFLOW_KAFKA_X_* setting would change unseen (the service's own
 * value wins) or break with (no report for a success: every intake
 * request would wait out the delivery wait and answer 503). */
static const struct {
    const char *name, *why;
} kafka_owned[] = {
    {"message.timeout.ms", "set CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS"},
    {"delivery.timeout.ms", "set CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS"},
    {"statistics.interval.ms", "the producer's breaker reads the statistics every second"},
    {"acks", "every event is written to all in-sync replicas"},
    {"request.required.acks", "every event is written to all in-sync replicas"},
    {"enable.idempotence", "a retried event must not be written twice"},
    {"delivery.report.only.error", "the services wait for every event's delivery report"},
    {"transactional.id", "the services do not produce in transactions"},
    {"group.id", "each consumer names its own group"},
    {"enable.auto.commit", "offsets are committed with the effects, in PostgreSQL"},
    {"enable.auto.offset.store", "offsets are committed with the effects, in PostgreSQL"},
    {"bootstrap.servers", "set CLINICFLOW_KAFKA_BROKERS"},
    {"metadata.broker.list", "set CLINICFLOW_KAFKA_BROKERS"},
    {"auto.offset.reset", "a new consumer group reads its topics from the beginning"},
    {"heartbeat.interval.ms", "set CLINICFLOW_KAFKA_SESSION_TIMEOUT_MS (a third of it)"},
    {"partition.assignment.strategy", "the consumers rely on range assignment"},
    {"fetch.wait.max.ms", "set CLINICFLOW_KAFKA_FETCH_WAIT_MS"},
    {"session.timeout.ms", "set CLINICFLOW_KAFKA_SESSION_TIMEOUT_MS"},
};

static const char *kafka_prop_refused(const char *name)
{
    for (size_t i = 0; i < sizeof(kafka_owned) / sizeof(kafka_owned[0]); i++)
        if (strcmp(name, kafka_owned[i].name) == 0)
            return kafka_owned[i].why;
    return NULL;
}

int cf_config_kafka_props_check(const struct cf_kafka_prop *props, size_t n, char *errbuf,
                                size_t errbuf_size)
{
    for (size_t i = 0; i < n; i++) {
        const char *why = kafka_prop_refused(props[i].name);
        if (why) {
            snprintf(errbuf, errbuf_size, "CLINICFLOW_KAFKA_X_* may not set %s: %s", props[i].name,
                     why);
            return CF_EINVAL;
        }
    }
    return 0;
}

/* librdkafka properties whose values must not reach the log. */
static int kafka_prop_is_secret(const char *name)
{
    return strstr(name, "password") || strstr(name, "secret") || strstr(name, "oauthbearer") ||
           strstr(name, "sasl.jaas") || strstr(name, "ssl.key") || strstr(name, "ssl_key");
}

/* CLINICFLOW_HTTP_HOST's check: NULL for an IPv4 address or a host name
 * (bound as IPv4, http.c). IPv6 is refused: ulfius 2.7 keeps only 16 bytes
 * of a peer's address (sizeof(struct sockaddr)), less than a sockaddr_in6
 * holds, so every IPv6 client would count as one unknown address. */
static const char *http_host_check(const char *value)
{
    return strchr(value, ':') ? "an IPv4 address or host name (the HTTP listener is IPv4 only: "
                                "the HTTP library keeps too little of an IPv6 client's address)"
                              : NULL;
}

/*
 * The shared settings as a table whose targets point into s. The default
 * port is rendered into port_def (16 bytes), which must outlive the table's
 * use. Returns the number of entries written to vars (at most 32).
 */
static size_t shared_table(struct cf_settings *s, long default_port, char port_def[16],
                           struct cf_config_var vars[32])
{
    snprintf(port_def, 16, "%ld", default_port);
    const struct cf_config_var table[] = {
        {"CLINICFLOW_HTTP_HOST", CF_CONF_STRING, "127.0.0.1", &s->http_host, 0, 0, 0,
         "IPv4 address (or host name) the HTTP server binds", http_host_check},
        {"CLINICFLOW_HTTP_PORT", CF_CONF_INT, port_def, &s->http_port, 0, 65535, 0,
         "HTTP port (0: ephemeral)", NULL},
        {"CLINICFLOW_HTTP_PORT_FILE", CF_CONF_STRING, NULL, &s->http_port_file, 0, 0, 0,
         "file to write the bound port to", NULL},
        {"CLINICFLOW_HTTP_MAX_CONNECTIONS", CF_CONF_INT, "512", &s->http_max_connections, 1, 100000,
         0, "concurrent HTTP connections", NULL},
        {"CLINICFLOW_HTTP_TIMEOUT_S", CF_CONF_INT, "30", &s->http_timeout_s, 1, 3600, 0,
         "idle HTTP connection timeout", NULL},
        {"CLINICFLOW_HTTP_MAX_BODY_BYTES", CF_CONF_INT, "65536", &s->http_max_body, 1,
         64L * 1024 * 1024, 0, "largest accepted request body", NULL},
        {"CLINICFLOW_HTTP_MAX_FORM_FIELDS", CF_CONF_INT, "1000", &s->http_max_form_fields, 1,
         1000000, 0, "fields in an application/x-www-form-urlencoded body (413 past it)", NULL},
        {"CLINICFLOW_HTTP_PER_IP_CONNECTIONS", CF_CONF_INT, "0", &s->http_per_ip_connections, 0,
         100000, 0,
         "connections one client address may hold open (0: no limit, the setting behind a load "
         "balancer or proxy, whose one address every client shares)",
         NULL},
        {"CLINICFLOW_KAFKA_BROKERS", CF_CONF_STRING, "localhost:9092", &s->kafka_brokers, 0, 0, 0,
         "bootstrap brokers", NULL},
        {"CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS", CF_CONF_INT, "5000", &s->kafka_message_timeout_ms,
         1, 3600000, 0, "librdkafka message.timeout.ms", NULL},
        {"CLINICFLOW_KAFKA_DELIVERY_WAIT_MS", CF_CONF_INT, "7000", &s->kafka_delivery_wait_ms, 1,
         3600000, 0, "how long a handler waits for a delivery report", NULL},
        {"CLINICFLOW_KAFKA_RETRY_AFTER_S", CF_CONF_INT, "5", &s->kafka_retry_after_s, 1, 3600, 0,
         "Retry-After on 503", NULL},
        {"CLINICFLOW_KAFKA_PROBE_INTERVAL_MS", CF_CONF_INT, "2000", &s->kafka_probe_interval_ms, 10,
         3600000, 0, "breaker half-open probe interval", NULL},
        {"CLINICFLOW_KAFKA_SESSION_TIMEOUT_MS", CF_CONF_INT, "10000", &s->kafka_session_timeout_ms,
         100, 3600000, 0, "consumer group session timeout", NULL},
        {"CLINICFLOW_KAFKA_FETCH_WAIT_MS", CF_CONF_INT, "100", &s->kafka_fetch_wait_ms, 1, 10000, 0,
         "librdkafka fetch.wait.max.ms of the consumers: how long a fetch with nothing to read "
         "waits (a broker answers at once when messages come; a broker that cannot, waits this "
         "long, which the latency from a topic to its consumer then includes)",
         NULL},
        {"CLINICFLOW_PG_DSN", CF_CONF_STRING, "postgresql://clinicflow@localhost:5432/clinicflow",
         &s->pg_dsn, 0, 0, 0, "PostgreSQL connection string", NULL},
        {"CLINICFLOW_PG_POOL_SIZE", CF_CONF_INT, "8", &s->pg_pool_size, 1, 1000, 0,
         "PostgreSQL connections", NULL},
        {"CLINICFLOW_PG_ACQUIRE_TIMEOUT_MS", CF_CONF_INT, "2000", &s->pg_acquire_timeout_ms, 1,
         3600000, 0, "wait for a pooled connection", NULL},
        {"CLINICFLOW_PG_PREPARED_STATEMENTS", CF_CONF_BOOL, "1", &s->pg_prepared_statements, 0, 0,
         0, "prepare parameterized statements once per connection", NULL},
        {"CLINICFLOW_REDIS_URL", CF_CONF_STRING, "redis://127.0.0.1:6379/0", &s->redis_url, 0, 0, 0,
         "redis://host:port[/db]", NULL},
        {"CLINICFLOW_REDIS_TIMEOUT_MS", CF_CONF_INT, "200", &s->redis_timeout_ms, 1, 60000, 0,
         "Redis connect and command timeout", NULL},
        {"CLINICFLOW_LOG_LEVEL", CF_CONF_STRING, "info", &s->log_level, 0, 0, 0,
         "debug|info|warn|error", NULL},
        {"CLINICFLOW_CONFIG_RELOAD_MS", CF_CONF_INT, "1000", &s->config_reload_ms, 10, 3600000, 0,
         "network configuration poll interval", NULL},
        {"CLINICFLOW_CONFIG_MAX_AGE_S", CF_CONF_INT, "300", &s->config_max_age_s, 1, 604800, 0,
         "API-key routes answer 503 once the network configuration could not be reloaded for "
         "this long (a revoked key must stop working)",
         NULL},
        {"CLINICFLOW_SHUTDOWN_TIMEOUT_MS", CF_CONF_INT, "10000", &s->shutdown_timeout_ms, 100,
         3600000, 0, "bound on a graceful shutdown", NULL},
    };
    size_t n = sizeof(table) / sizeof(table[0]);
    _Static_assert(sizeof(table) / sizeof(table[0]) <= 32, "shared table too large");
    memcpy(vars, table, sizeof(table));
    return n;
}

/* 1 if url has the form redis://host:port[/db] (port 1-65535, db a number)
 * and the client reads it (common/redis.h): a URL only this check took (a
 * database over 65535, a second ':' in the host) would start a service
 * whose Redis is off for good, its rate limits with it. */
static int redis_url_valid(const char *url)
{
    char parsed_host[256];
    if (cf_redis_parse_url(url, parsed_host, sizeof(parsed_host), NULL, NULL) != 0)
        return 0;
    static const char prefix[] = "redis://";
    if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    const char *host = url + sizeof(prefix) - 1;
    const char *colon = strrchr(host, ':');
    if (!colon || colon == host)
        return 0;
    for (const char *c = host; c < colon; c++) {
        if (*c == '/' || *c == '@' || *c == '?' || *c == '#' || *c == ' ')
            return 0;
    }
    const char *p = colon + 1;
    long port = 0;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
        port = port * 10 + (*p - '0');
    if (digits == 0 || port < 1 || port > 65535)
        return 0;
    if (*p == '\0')
        return 1;
    if (*p != '/')
        return 0;
    p++;
    digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
        ;
    return digits > 0 && *p == '\0';
}

/* The one start-up error line, "clinicflow-<service>: <reason>". */
static void print_failure(const char *service, const char *reason)
{
    fprintf(stderr, "clinicflow-%s: %s\n", service, reason);
    fflush(stderr);
}

/*
 * Loads the shared table, then the service's own, then the checks that
 * span variables; initializes logging with the service name and level; logs
 * the effective configuration (secrets masked). On failure everything
 * allocated is released (s is left zeroed, the extra table's strings NULL)
 * and the reason is both printed and returned in errbuf.
 */
int cf_config_load_settings(struct cf_settings *s, const char *service, long default_port,
                            const struct cf_config_var *extra, size_t n_extra, char *errbuf,
                            size_t errbuf_size)
{
    struct cf_config_var vars[32];
    char port_def[16];
    char reason[512];
    enum cf_log_level level;

    memset(s, 0, sizeof(*s));
    s->service = cf_xstrdup(service);
    size_t n = shared_table(s, default_port, port_def, vars);
    if (extra) {
        for (size_t i = 0; i < n_extra; i++) {
            if (extra[i].type == CF_CONF_STRING)
                *(char **)extra[i].target = NULL;
        }
    }

    if (cf_config_load(vars, n, reason, sizeof(reason)) != 0)
        goto bad;
    if (extra && cf_config_load(extra, n_extra, reason, sizeof(reason)) != 0)
        goto bad;
    if (s->kafka_delivery_wait_ms <= s->kafka_message_timeout_ms) {
        snprintf(reason, sizeof(reason),
                 "CLINICFLOW_KAFKA_DELIVERY_WAIT_MS: expected a value greater than "
                 "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS (%ld), got '%ld'",
                 s->kafka_message_timeout_ms, s->kafka_delivery_wait_ms);
        goto bad;
    }
    if (s->config_max_age_s * 1000 <= s->config_reload_ms) {
        snprintf(reason, sizeof(reason),
                 "CLINICFLOW_CONFIG_MAX_AGE_S: expected more seconds than "
                 "CLINICFLOW_CONFIG_RELOAD_MS (%ld ms), got '%ld'",
                 s->config_reload_ms, s->config_max_age_s);
        goto bad;
    }
    if (!redis_url_valid(s->redis_url)) {
        char *masked = mask_password(s->redis_url);
        snprintf(reason, sizeof(reason),
                 "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got '%s'", masked);
        free(masked);
        goto bad;
    }
    if (cf_log_level_parse(s->log_level, &level) != 0) {
        snprintf(reason, sizeof(reason),
                 "CLINICFLOW_LOG_LEVEL: expected one of debug/info/warn/error, got '%s'",
                 s->log_level);
        goto bad;
    }
    cf_config_kafka_props(&s->kafka_props, &s->kafka_props_n);
    if (cf_config_kafka_props_check(s->kafka_props, s->kafka_props_n, reason, sizeof(reason)) != 0)
        goto bad;

    cf_log_init(service, level);
    cf_config_log(vars, n);
    if (extra)
        cf_config_log(extra, n_extra);
    for (size_t i = 0; i < s->kafka_props_n; i++) {
        const struct cf_kafka_prop *p = &s->kafka_props[i];
        cf_info("config kafka property %s=%s", p->name,
                kafka_prop_is_secret(p->name) ? MASK : p->value);
    }
    return 0;

bad:
    if (errbuf && errbuf_size > 0)
        snprintf(errbuf, errbuf_size, "%s", reason);
    print_failure(service, reason);
    cf_config_free_settings(s, extra, n_extra);
    return CF_EINVAL;
}

void cf_config_free_settings(struct cf_settings *s, const struct cf_config_var *extra,
                             size_t n_extra)
{
    struct cf_config_var vars[32];
    char port_def[16];
    size_t n = shared_table(s, 0, port_def, vars);
    cf_config_free(vars, n);
    if (extra)
        cf_config_free(extra, n_extra);
    cf_config_kafka_props_free(s->kafka_props, s->kafka_props_n);
    free(s->service);
    memset(s, 0, sizeof(*s));
}
