/*
 * clinicflow-leads: web-form and messenger lead intake. Until its data path lands it runs the
 * shared service life cycle only: its schema migrated, /healthz, /readyz (PostgreSQL and Kafka) and
 * /metrics, and the bounded shutdown.
 */
#include "leads/schema.h"
#include "common/service.h"

int main(void)
{
    struct cf_service svc;

    if (cf_service_init(&svc, "leads", 8082, NULL, 0, "leads", cf_leads_migrations,
                        cf_leads_migrations_n) != 0)
        return 1;
    if (cf_service_start(&svc) != 0)
        return 1;
    return cf_service_run(&svc);
}
