/*
 * Unit tests for common/config.h. The environment is set with setenv and
 * unsetenv before each load; stderr is captured (dup2 into a temporary
 * file) where the test checks the start-up error line or the masked
 * effective-config log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "cftest.h"

static const char *const all_vars[] = {
    "CLINICFLOW_HTTP_HOST",
    "CLINICFLOW_HTTP_PORT",
    "CLINICFLOW_HTTP_PORT_FILE",
    "CLINICFLOW_HTTP_MAX_CONNECTIONS",
    "CLINICFLOW_HTTP_TIMEOUT_S",
    "CLINICFLOW_HTTP_MAX_BODY_BYTES",
    "CLINICFLOW_HTTP_MAX_FORM_FIELDS",
    "CLINICFLOW_HTTP_PER_IP_CONNECTIONS",
    "CLINICFLOW_KAFKA_BROKERS",
    "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS",
    "CLINICFLOW_KAFKA_DELIVERY_WAIT_MS",
    "CLINICFLOW_KAFKA_RETRY_AFTER_S",
    "CLINICFLOW_KAFKA_PROBE_INTERVAL_MS",
    "CLINICFLOW_KAFKA_SESSION_TIMEOUT_MS",
    "CLINICFLOW_PG_DSN",
    "CLINICFLOW_PG_POOL_SIZE",
    "CLINICFLOW_PG_ACQUIRE_TIMEOUT_MS",
    "CLINICFLOW_PG_PREPARED_STATEMENTS",
    "CLINICFLOW_REDIS_URL",
    "CLINICFLOW_REDIS_TIMEOUT_MS",
    "CLINICFLOW_LOG_LEVEL",
    "CLINICFLOW_CONFIG_RELOAD_MS",
    "CLINICFLOW_CONFIG_MAX_AGE_S",
    "CLINICFLOW_SHUTDOWN_TIMEOUT_MS",
    "CLINICFLOW_KAFKA_X_SOCKET_KEEPALIVE_ENABLE",
    "CLINICFLOW_KAFKA_X_LINGER_MS",
    "CLINICFLOW_KAFKA_X_STATISTICS_INTERVAL_MS",
    "CLINICFLOW_KAFKA_X_DELIVERY_REPORT_ONLY_ERROR",
    "CLINICFLOW_KAFKA_X_SASL_PASSWORD",
    "CLINICFLOW_KAFKA_X_EMPTY",
    "CLINICFLOW_KAFKA_X_SSL_KEY_PEM",
    "CLINICFLOW_TEST_FLAG",
    "CLINICFLOW_TEST_COUNT",
    "CLINICFLOW_TEST_NAME",
    "CLINICFLOW_TEST_TOKEN",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(all_vars) / sizeof(all_vars[0]); i++)
        unsetenv(all_vars[i]);
}

static void test_defaults(void)
{
    struct cf_settings s;
    char errbuf[256] = "";
    clear_env();
    capture_begin();
    int rc = cf_config_load_settings(&s, "calls", 8081, NULL, 0, errbuf, sizeof(errbuf));
    char *log = capture_end();
    CHECK_INT(rc, 0);
    CHECK_STR(s.service, "calls");
    CHECK_STR(s.http_host, "127.0.0.1");
    CHECK_INT(s.http_port, 8081);
    CHECK(s.http_port_file == NULL);
    CHECK_INT(s.http_max_connections, 512);
    CHECK_INT(s.http_timeout_s, 30);
    CHECK_INT(s.http_max_body, 65536);
    CHECK_INT(s.http_max_form_fields, 1000);
    CHECK_INT(s.http_per_ip_connections, 0);
    CHECK_STR(s.kafka_brokers, "localhost:9092");
    CHECK_INT(s.kafka_message_timeout_ms, 5000);
    CHECK_INT(s.kafka_delivery_wait_ms, 7000);
    CHECK_INT(s.kafka_retry_after_s, 5);
    CHECK_INT(s.kafka_probe_interval_ms, 2000);
    CHECK_INT(s.kafka_session_timeout_ms, 10000);
    CHECK_STR(s.pg_dsn, "postgresql://clinicflow@localhost:5432/clinicflow");
    CHECK_INT(s.pg_pool_size, 8);
    CHECK_INT(s.pg_acquire_timeout_ms, 2000);
    CHECK_INT(s.pg_prepared_statements, 1);
    CHECK_STR(s.redis_url, "redis://127.0.0.1:6379/0");
    CHECK_INT(s.redis_timeout_ms, 200);
    CHECK_STR(s.log_level, "info");
    CHECK_INT(s.config_reload_ms, 1000);
    CHECK_INT(s.config_max_age_s, 300);
    CHECK_INT(s.shutdown_timeout_ms, 10000);
    CHECK_INT(s.kafka_props_n, 0);
    /* The effective configuration is logged, one line per variable. */
    CHECK(strstr(log, "config CLINICFLOW_HTTP_PORT=8081") != NULL);
    CHECK(strstr(log, "config CLINICFLOW_HTTP_PORT_FILE unset") != NULL);
    CHECK(strstr(log, "\"service\":\"calls\"") != NULL);
    free(log);
    cf_config_free_settings(&s, NULL, 0);
    CHECK(s.http_host == NULL);

    /* Another service's default port; empty means unset. */
    setenv("CLINICFLOW_HTTP_PORT", "", 1);
    setenv("CLINICFLOW_HTTP_HOST", "", 1);
    capture_begin();
    rc = cf_config_load_settings(&s, "leads", 8082, NULL, 0, errbuf, sizeof(errbuf));
    free(capture_end());
    CHECK_INT(rc, 0);
    CHECK_INT(s.http_port, 8082);
    CHECK_STR(s.http_host, "127.0.0.1");
    cf_config_free_settings(&s, NULL, 0);
}

/* One variable set to a value; the load must fail naming the variable. */
struct bad_case {
    const char *name;
    const char *value;
    const char *reason; /* expected errbuf contents, or NULL if the load succeeds */
};

static const struct bad_case settings_cases[] = {
    {"CLINICFLOW_HTTP_PORT", "0", NULL},
    {"CLINICFLOW_HTTP_PORT", "65535", NULL},
    {"CLINICFLOW_HTTP_PORT", "65536",
     "CLINICFLOW_HTTP_PORT: expected an integer in [0, 65535], got '65536'"},
    {"CLINICFLOW_HTTP_PORT", "-1",
     "CLINICFLOW_HTTP_PORT: expected an integer in [0, 65535], "
     "got '-1'"},
    {"CLINICFLOW_HTTP_PORT", "80x",
     "CLINICFLOW_HTTP_PORT: expected an integer in [0, 65535], "
     "got '80x'"},
    {"CLINICFLOW_HTTP_PORT", " 80",
     "CLINICFLOW_HTTP_PORT: expected an integer in [0, 65535], "
     "got ' 80'"},
    {"CLINICFLOW_HTTP_MAX_CONNECTIONS", "0",
     "CLINICFLOW_HTTP_MAX_CONNECTIONS: expected an integer in [1, 100000], got '0'"},
    {"CLINICFLOW_PG_POOL_SIZE", "99999999999999999999999",
     "CLINICFLOW_PG_POOL_SIZE: expected an integer in [1, 1000], got '99999999999999999999999'"},
    {"CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS", "7000",
     "CLINICFLOW_KAFKA_DELIVERY_WAIT_MS: expected a value greater than "
     "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS (7000), got '7000'"},
    {"CLINICFLOW_KAFKA_DELIVERY_WAIT_MS", "4000",
     "CLINICFLOW_KAFKA_DELIVERY_WAIT_MS: expected a value greater than "
     "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS (5000), got '4000'"},
    {"CLINICFLOW_KAFKA_DELIVERY_WAIT_MS", "5001", NULL},
    {"CLINICFLOW_REDIS_URL", "redis://localhost:6380", NULL},
    {"CLINICFLOW_REDIS_URL", "redis://10.0.0.5:6379/15", NULL},
    {"CLINICFLOW_REDIS_URL", "redis://localhost",
     "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got 'redis://localhost'"},
    {"CLINICFLOW_REDIS_URL", "http://localhost:6379",
     "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got 'http://localhost:6379'"},
    {"CLINICFLOW_REDIS_URL", "redis://:6379",
     "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got 'redis://:6379'"},
    {"CLINICFLOW_REDIS_URL", "redis://localhost:0",
     "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got 'redis://localhost:0'"},
    {"CLINICFLOW_REDIS_URL", "redis://localhost:6379/x",
     "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got 'redis://localhost:6379/x'"},
    {"CLINICFLOW_REDIS_URL", "redis://localhost:6379/",
     "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got 'redis://localhost:6379/'"},
    /* what the client (common/redis.c) would not read either */
    {"CLINICFLOW_REDIS_URL", "redis://localhost:6379/70000",
     "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got 'redis://localhost:6379/70000'"},
    {"CLINICFLOW_REDIS_URL", "redis://a:b:6379",
     "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got 'redis://a:b:6379'"},
    {"CLINICFLOW_REDIS_URL", "redis://::1:6379",
     "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got 'redis://::1:6379'"},
    {"CLINICFLOW_REDIS_URL", "redis://u:pw@localhost:6379",
     "CLINICFLOW_REDIS_URL: expected redis://host:port[/db], got 'redis://u:********@localhost:"
     "6379'"},
    {"CLINICFLOW_HTTP_PER_IP_CONNECTIONS", "16", NULL},
    {"CLINICFLOW_HTTP_PER_IP_CONNECTIONS", "-1",
     "CLINICFLOW_HTTP_PER_IP_CONNECTIONS: expected an integer in [0, 100000], got '-1'"},
    {"CLINICFLOW_HTTP_MAX_FORM_FIELDS", "0",
     "CLINICFLOW_HTTP_MAX_FORM_FIELDS: expected an integer in [1, 1000000], got '0'"},
    {"CLINICFLOW_CONFIG_MAX_AGE_S", "2", NULL},
    /* The snapshot would go stale between two polls that both succeed. */
    {"CLINICFLOW_CONFIG_MAX_AGE_S", "1",
     "CLINICFLOW_CONFIG_MAX_AGE_S: expected more seconds than CLINICFLOW_CONFIG_RELOAD_MS "
     "(1000 ms), got '1'"},
    /* The listener is IPv4 only: an IPv6 client's address would be cut
     * short by the HTTP library. */
    {"CLINICFLOW_HTTP_HOST", "0.0.0.0", NULL},
    {"CLINICFLOW_HTTP_HOST", "localhost", NULL},
    {"CLINICFLOW_HTTP_HOST", "::",
     "CLINICFLOW_HTTP_HOST: expected an IPv4 address or host name (the HTTP listener is IPv4 "
     "only: the HTTP library keeps too little of an IPv6 client's address), got '::'"},
    {"CLINICFLOW_HTTP_HOST", "::1",
     "CLINICFLOW_HTTP_HOST: expected an IPv4 address or host name (the HTTP listener is IPv4 "
     "only: the HTTP library keeps too little of an IPv6 client's address), got '::1'"},
    {"CLINICFLOW_HTTP_HOST", "[fd00::1]",
     "CLINICFLOW_HTTP_HOST: expected an IPv4 address or host name (the HTTP listener is IPv4 "
     "only: the HTTP library keeps too little of an IPv6 client's address), got '[fd00::1]'"},
    {"CLINICFLOW_LOG_LEVEL", "debug", NULL},
    {"CLINICFLOW_LOG_LEVEL", "verbose",
     "CLINICFLOW_LOG_LEVEL: expected one of debug/info/warn/error, got 'verbose'"},
};

static void test_settings_errors(void)
{
    for (size_t i = 0; i < sizeof(settings_cases) / sizeof(settings_cases[0]); i++) {
        const struct bad_case *c = &settings_cases[i];
        struct cf_settings s;
        char errbuf[256] = "";
        clear_env();
        setenv(c->name, c->value, 1);
        capture_begin();
        int rc = cf_config_load_settings(&s, "calls", 8081, NULL, 0, errbuf, sizeof(errbuf));
        char *out = capture_end();
        if (!c->reason) {
            CHECK_INT(rc, 0);
            if (rc != 0)
                fprintf(stderr, "case %zu: %s\n", i, errbuf);
            cf_config_free_settings(&s, NULL, 0);
        } else {
            char line[400];
            snprintf(line, sizeof(line), "clinicflow-calls: %s\n", c->reason);
            CHECK_INT(rc, CF_EINVAL);
            CHECK_STR(errbuf, c->reason);
            CHECK_STR(out, line);
            CHECK(s.service == NULL && s.http_host == NULL && s.redis_url == NULL);
        }
        free(out);
    }
}

static void test_bool_and_extra(void)
{
    static const struct {
        const char *value;
        int rc;
        int expected;
    } cases[] = {
        {"1", 0, 1},  {"0", 0, 0},  {"true", 0, 1},   {"false", 0, 0}, {"yes", 0, 1},
        {"no", 0, 0}, {"on", 0, 1}, {"off", 0, 0},    {"TRUE", 0, 1},  {"Off", 0, 0},
        {"", 0, 1},   {"2", -1, 1}, {"maybe", -1, 1}, {"y", -1, 1},    {"true ", -1, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int flag = 7;
        struct cf_config_var vars[] = {
            {"CLINICFLOW_TEST_FLAG", CF_CONF_BOOL, "yes", &flag, 0, 0, 0, "a flag", NULL},
        };
        char errbuf[256] = "";
        clear_env();
        setenv("CLINICFLOW_TEST_FLAG", cases[i].value, 1);
        int rc = cf_config_load(vars, 1, errbuf, sizeof(errbuf));
        CHECK_INT(rc, cases[i].rc);
        if (rc == 0) {
            CHECK_INT(flag, cases[i].expected);
        } else {
            char reason[200];
            snprintf(reason, sizeof(reason),
                     "CLINICFLOW_TEST_FLAG: expected one of 1/0/true/false/yes/no/on/off, got "
                     "'%s'",
                     cases[i].value);
            CHECK_STR(errbuf, reason);
        }
        cf_config_free(vars, 1);
    }

    /* A service table loaded with the shared settings; unset INT without a
     * default keeps its value; a secret is masked in the log. */
    long count = 42;
    char *name = NULL, *token = NULL;
    int flag = 0;
    struct cf_config_var extra[] = {
        {"CLINICFLOW_TEST_FLAG", CF_CONF_BOOL, "false", &flag, 0, 0, 0, "a flag", NULL},
        {"CLINICFLOW_TEST_COUNT", CF_CONF_INT, NULL, &count, 1, 10, 0, "a count", NULL},
        {"CLINICFLOW_TEST_NAME", CF_CONF_STRING, "dflt", &name, 0, 0, 0, "a name", NULL},
        {"CLINICFLOW_TEST_TOKEN", CF_CONF_STRING, NULL, &token, 0, 0, 1, "a secret", NULL},
    };
    struct cf_settings s;
    char errbuf[256] = "";
    clear_env();
    setenv("CLINICFLOW_TEST_FLAG", "on", 1);
    setenv("CLINICFLOW_TEST_TOKEN", "tok-very-secret", 1);
    setenv("CLINICFLOW_PG_DSN", "postgresql://app:hunter2@db:5432/clinicflow", 1);
    capture_begin();
    int rc = cf_config_load_settings(&s, "leads", 8082, extra, 4, errbuf, sizeof(errbuf));
    char *log = capture_end();
    CHECK_INT(rc, 0);
    CHECK_INT(flag, 1);
    CHECK_INT(count, 42);
    CHECK_STR(name, "dflt");
    CHECK_STR(token, "tok-very-secret");
    CHECK_STR(s.pg_dsn, "postgresql://app:hunter2@db:5432/clinicflow");
    CHECK(strstr(log, "tok-very-secret") == NULL);
    CHECK(strstr(log, "hunter2") == NULL);
    CHECK(strstr(log, "config CLINICFLOW_TEST_TOKEN=********") != NULL);
    CHECK(strstr(log, "config CLINICFLOW_PG_DSN=postgresql://app:********@db:5432/clinicflow") !=
          NULL);
    CHECK(strstr(log, "config CLINICFLOW_TEST_NAME=dflt") != NULL);
    CHECK(strstr(log, "config CLINICFLOW_TEST_FLAG=true") != NULL);
    free(log);
    cf_config_free_settings(&s, extra, 4);
    CHECK(name == NULL && token == NULL);

    /* A bad value in the service's table fails the whole load and frees
     * what was loaded. */
    clear_env();
    setenv("CLINICFLOW_TEST_COUNT", "11", 1);
    capture_begin();
    rc = cf_config_load_settings(&s, "leads", 8082, extra, 4, errbuf, sizeof(errbuf));
    free(capture_end());
    CHECK_INT(rc, CF_EINVAL);
    CHECK_STR(errbuf, "CLINICFLOW_TEST_COUNT: expected an integer in [1, 10], got '11'");
    CHECK(name == NULL && token == NULL && s.http_host == NULL);
}

static void test_dsn_masking(void)
{
    static const struct {
        const char *dsn;
        const char *logged;
    } cases[] = {
        {"postgresql://clinicflow@localhost:5432/clinicflow",
         "postgresql://clinicflow@localhost:5432/clinicflow"},
        {"postgresql://u:p@h/db", "postgresql://u:********@h/db"},
        {"postgres://u:p%40ss@h:5432/db?sslmode=require",
         "postgres://u:********@h:5432/db?sslmode=require"},
        {"host=h port=5432 password=s3cret user=u", "host=h port=5432 password=******** user=u"},
        {"password='a b\\' c' host=h", "password=******** host=h"},
        {"host=/tmp dbname=x", "host=/tmp dbname=x"},
        /* libpq's spaces around '=', a password key inside another's name,
         * a URL's query, a client key's passphrase */
        {"host=h password = s3cret user=u", "host=h password = ******** user=u"},
        {"sslpassword=a password=b", "sslpassword=******** password=********"},
        {"postgresql://u@h/db?sslmode=require&password=s3cret",
         "postgresql://u@h/db?sslmode=require&password=********"},
        {"postgresql://u:p@h/db?password=q#x", "postgresql://u:********@h/db?password=********#x"},
        /* "://" in a key=value's value does not make it a URL */
        {"application_name=http://x password=s3cret",
         "application_name=http://x password=********"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dsn = NULL;
        struct cf_config_var vars[] = {
            {"CLINICFLOW_PG_DSN", CF_CONF_STRING, NULL, &dsn, 0, 0, 0, "dsn", NULL},
        };
        char errbuf[128];
        char expected[200];
        clear_env();
        setenv("CLINICFLOW_PG_DSN", cases[i].dsn, 1);
        CHECK_INT(cf_config_load(vars, 1, errbuf, sizeof(errbuf)), 0);
        cf_log_init("calls", CF_LOG_INFO);
        capture_begin();
        cf_config_log(vars, 1);
        char *log = capture_end();
        snprintf(expected, sizeof(expected), "\"msg\":\"config CLINICFLOW_PG_DSN=%s\"",
                 cases[i].logged);
        CHECK(strstr(log, expected) != NULL);
        if (!strstr(log, expected))
            fprintf(stderr, "case %zu: %s", i, log);
        free(log);
        cf_config_free(vars, 1);
    }
}

static void test_kafka_props(void)
{
    struct cf_settings s;
    char errbuf[256];
    clear_env();
    setenv("CLINICFLOW_KAFKA_X_LINGER_MS", "10", 1);
    setenv("CLINICFLOW_KAFKA_X_SOCKET_KEEPALIVE_ENABLE", "true", 1);
    setenv("CLINICFLOW_KAFKA_X_SASL_PASSWORD", "kafka-pw", 1);
    setenv("CLINICFLOW_KAFKA_X_EMPTY", "", 1);
    setenv("CLINICFLOW_KAFKA_X_SSL_KEY_PEM", "-----BEGIN PRIVATE KEY-----MIIEv", 1);
    capture_begin();
    int rc = cf_config_load_settings(&s, "calls", 8081, NULL, 0, errbuf, sizeof(errbuf));
    char *log = capture_end();
    CHECK_INT(rc, 0);
    CHECK_INT(s.kafka_props_n, 4);
    if (s.kafka_props_n == 4) {
        /* sorted by name */
        CHECK_STR(s.kafka_props[0].name, "linger.ms");
        CHECK_STR(s.kafka_props[0].value, "10");
        CHECK_STR(s.kafka_props[1].name, "sasl.password");
        CHECK_STR(s.kafka_props[1].value, "kafka-pw");
        CHECK_STR(s.kafka_props[2].name, "socket.keepalive.enable");
        CHECK_STR(s.kafka_props[2].value, "true");
        CHECK_STR(s.kafka_props[3].name, "ssl.key.pem");
    }
    CHECK(strstr(log, "kafka-pw") == NULL);
    CHECK(strstr(log, "MIIEv") == NULL); /* a client's private key */
    CHECK(strstr(log, "config kafka property socket.keepalive.enable=true") != NULL);
    free(log);
    cf_config_free_settings(&s, NULL, 0);

    /* a property the services set themselves: refused, not overridden
     * unseen; one that would break every delivery too */
    static const char *const owned[] = {"CLINICFLOW_KAFKA_X_STATISTICS_INTERVAL_MS",
                                        "CLINICFLOW_KAFKA_X_DELIVERY_REPORT_ONLY_ERROR"};
    for (size_t i = 0; i < 2; i++) {
        clear_env();
        setenv(owned[i], "true", 1);
        capture_begin();
        CHECK_INT(cf_config_load_settings(&s, "calls", 8081, NULL, 0, errbuf, sizeof(errbuf)),
                  CF_EINVAL);
        free(capture_end());
        CHECK(strstr(errbuf, i == 0 ? "statistics.interval.ms" : "delivery.report.only.error") !=
              NULL);
    }

    struct cf_kafka_prop *props = NULL;
    size_t n = 99;
    clear_env();
    cf_config_kafka_props(&props, &n);
    CHECK_INT(n, 0);
    cf_config_kafka_props_free(props, n);
}

int main(void)
{
    test_defaults();
    test_settings_errors();
    test_bool_and_extra();
    test_dsn_masking();
    test_kafka_props();
    return cf_test_done();
}
