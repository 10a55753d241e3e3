/* notify_send.c: the outgoing webhook's deliveries: not written yet. */
#include "leads.h"

void leads_notifier(void *ctx)
{
    (void)ctx;
}
