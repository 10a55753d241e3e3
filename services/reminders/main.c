/*
 * clinicflow-reminders: appointments, reminders, recalls and NPS surveys. Until its data path lands
 * it runs the shared service life cycle only: its schema migrated, /healthz, /readyz (PostgreSQL
 * and Kafka) and /metrics, and the bounded shutdown.
 */
#include "reminders/schema.h"
#include "common/service.h"

int main(void)
{
    struct cf_service svc;

    if (cf_service_init(&svc, "reminders", 8083, NULL, 0, "reminders", cf_reminders_migrations,
                        cf_reminders_migrations_n) != 0)
        return 1;
    if (cf_service_start(&svc) != 0)
        return 1;
    return cf_service_run(&svc);
}
