/* sweeper.c: breached leads: not written yet. */
#include "leads.h"

void leads_sweeper(void *ctx)
{
    (void)ctx;
}
