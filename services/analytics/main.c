/*
 * clinicflow-analytics: rollups, cohorts, the worklist and dashboards. Until its data path lands it
 * runs the shared service life cycle only: its schema migrated, /healthz, /readyz (PostgreSQL and
 * Kafka) and /metrics, and the bounded shutdown.
 */
#include "analytics/schema.h"
#include "common/service.h"

int main(void)
{
    struct cf_service svc;

    if (cf_service_init(&svc, "analytics", 8084, NULL, 0, "analytics", cf_analytics_migrations,
                        cf_analytics_migrations_n) != 0)
        return 1;
    if (cf_service_start(&svc) != 0)
        return 1;
    return cf_service_run(&svc);
}
