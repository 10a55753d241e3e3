/*
 * The settings table of clinicflow-calls (services/calls/settings.c): every
 * variable is the service's own and lands in its struct, every default
 * passes its own range and check; the checks of single values (country,
 * proxies, the public base URL) on tables of values; and the checks
 * between settings, after loading.
 */
#include <stdint.h>
#include <string.h>

#include "calls.h"
#include "cftest.h"
#include "common/config.h"

static struct calls_settings cfg;

static const struct cf_config_var *var(const struct cf_config_var *vars, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(vars[i].name, name) == 0)
            return &vars[i];
    return NULL;
}

static void test_the_table(void)
{
    size_t n = 0;
    const struct cf_config_var *vars = calls_settings_table(&cfg, &n);
    CHECK(n > 20);
    for (size_t i = 0; i < n; i++) {
        const char *target = vars[i].target;
        CHECK(strncmp(vars[i].name, "CLINICFLOW_CALLS_", 17) == 0);
        CHECK(target >= (const char *)&cfg && target < (const char *)(&cfg + 1));
        CHECK(vars[i].def != NULL);
        CHECK(vars[i].help != NULL && vars[i].help[0] != '\0');
        for (size_t k = 0; k < i; k++)
            CHECK(strcmp(vars[k].name, vars[i].name) != 0);
        if (vars[i].type == CF_CONF_INT) {
            char *end;
            const long def = strtol(vars[i].def, &end, 10);
            CHECK(*end == '\0' && def >= vars[i].min && def <= vars[i].max);
        }
        if (vars[i].check && vars[i].def[0] != '\0')
            CHECK(vars[i].check(vars[i].def) == NULL);
    }
    CHECK(var(vars, n, "CLINICFLOW_CALLS_CONSUMERS")->target == &cfg.consumers);
    CHECK(var(vars, n, "CLINICFLOW_CALLS_TASK_LOST_AFTER_S")->target == &cfg.task_lost_after_s);
    CHECK(var(vars, n, "CLINICFLOW_CALLS_RETENTION_TASKS_DAYS")->target ==
          &cfg.retention_tasks_days);
}

static void test_value_checks(void)
{
    static const struct {
        const char *name, *value;
        int ok;
    } cases[] = {
        {"CLINICFLOW_CALLS_DEFAULT_COUNTRY", "7", 1},
        {"CLINICFLOW_CALLS_DEFAULT_COUNTRY", "44", 0},
        {"CLINICFLOW_CALLS_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.5, fd00::/8", 1},
        {"CLINICFLOW_CALLS_TRUSTED_PROXIES", "10.0.0.0/33", 0},
        {"CLINICFLOW_CALLS_TRUSTED_PROXIES", "proxy.local", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://hooks.clinic.test", 1},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "http://hooks.clinic.test:8080/calls", 1},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://[2001:db8::1]:443/in", 1},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "hooks.clinic.test", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "HTTPS://hooks.clinic.test", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://hooks.clinic.test/?a=1", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://user@hooks.clinic.test", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://hooks.clinic.test:web/in", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://hooks.clinic.test:70000", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://hooks.clinic.test:0", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://:443", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://[]", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://[::1]x", 0},
        {"CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://a:1:2", 0},
    };
    size_t n = 0;
    const struct cf_config_var *vars = calls_settings_table(&cfg, &n);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct cf_config_var *v = var(vars, n, cases[i].name);
        CHECK(v != NULL && v->check != NULL);
        if (!v || !v->check)
            continue;
        const int ok = v->check(cases[i].value) == NULL;
        if (ok != cases[i].ok)
            fprintf(stderr, "case %zu: %s=%s\n", i, cases[i].name, cases[i].value);
        CHECK_INT(ok, cases[i].ok);
    }
}

static void test_checks_between_settings(void)
{
    static const struct {
        long calls_days, lookback_s, tasks_days;
        int ok;
        const char *refused; /* the variable a refusal names */
    } cases[] = {
        {1095, 2592000, 1095, 1, NULL}, /* the defaults */
        {0, 315360000, 0, 1, NULL},     /* calls and tasks kept for ever */
        {30, 2592000, 0, 0, "CLINICFLOW_CALLS_RETENTION_CALLS_DAYS"}, /* the look-back needs them */
        {31, 2592000, 0, 1, NULL},
        {1, 0, 0, 1, NULL},
        /* a finished task outlives its calls */
        {1095, 2592000, 1094, 0, "CLINICFLOW_CALLS_RETENTION_TASKS_DAYS"},
        {1095, 2592000, 3650, 1, NULL},
        {0, 2592000, 1095, 0, "CLINICFLOW_CALLS_RETENTION_TASKS_DAYS"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct calls_settings s = {.retention_calls_days = cases[i].calls_days,
                                   .unique_lookback_s = cases[i].lookback_s,
                                   .retention_tasks_days = cases[i].tasks_days};
        char errbuf[256] = "";
        const int rc = calls_settings_check(&s, errbuf, sizeof(errbuf));
        CHECK_INT(rc == 0, cases[i].ok);
        if (!cases[i].ok)
            CHECK(strstr(errbuf, cases[i].refused) != NULL);
    }
}

int main(void)
{
    test_the_table();
    test_value_checks();
    test_checks_between_settings();
    return cf_test_done();
}
