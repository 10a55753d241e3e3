/*
 * One of the month's events into the requests that carry it (modes.h),
 * for every mode: the provider's, the MIS's or the front desk's request it
 * is (dni.c, providers_calls.c, providers_leads.c, mis.c, spend.c), queued
 * on the sender.
 */
#include "http.h"
#include "modes.h"
#include "sim.h"

#include <stdlib.h>

#include "common/xmalloc.h"

void sim_queue_event(struct sim_http *h, const struct sim_network *net, const struct sim_targets *t,
                     const struct sim_month *m, const struct sim_ev *ev, int64_t offset_ms,
                     struct sim_deps *deps, int dni)
{
    long *appt_v1 = deps ? deps->appt_v1 : NULL;
    struct sim_req r = {.dep = -1};
    if (dni && net->chan_uis && sim_dni_call(ev)) {
        sim_dni_number_request(net, t, m, ev, &r);
        sim_http_add(h, &r);
        return;
    }
    switch (ev->kind) {
    case SIM_PATIENT:
        sim_mis_patient_request(net, t, m, &m->persons[ev->person], offset_ms, &r);
        /* after its recall history: the service's recall would ask a
         * lapsed patient it does not know was asked */
        if (deps && m->persons[ev->person].recall != SIM_RECALL_NONE)
            r.dep = deps->recall[ev->person];
        break;
    case SIM_RECALL:
        sim_mis_recall_request(net, t, m, ev, &r);
        break;
    case SIM_CALL:
        sim_calls_requests(net, t, m, ev, offset_ms, &r);
        break;
    case SIM_LEAD:
        sim_leads_request(net, t, m, ev, offset_ms, &r);
        break;
    case SIM_APPT:
        sim_mis_appt_request(net, t, m, ev, offset_ms, &r);
        /* the outcome must not overtake the booking: its version would
         * then be the stored one, and the booking a stale 409 */
        if (appt_v1 && ev->u.appt.version == 2)
            r.dep = appt_v1[ev->u.appt.appt];
        break;
    case SIM_REMINDERS:
        sim_mis_reminders_request(t, m, ev, offset_ms, &r);
        /* a history is of a visit the service knows */
        if (appt_v1)
            r.dep = appt_v1[ev->u.appt.appt];
        break;
    case SIM_SPEND:
        sim_spend_request(net, t, ev, offset_ms, &r);
        break;
    case SIM_LEAD_OUTCOME:
        sim_lead_outcome_request(net, t, m, ev, offset_ms, &r);
        break;
    }
    const long idx = sim_http_add(h, &r);
    if (appt_v1 && ev->kind == SIM_APPT && ev->u.appt.version == 1)
        appt_v1[ev->u.appt.appt] = idx;
    if (deps && ev->kind == SIM_RECALL)
        deps->recall[ev->person] = idx;
}

struct sim_deps *sim_deps_new(const struct sim_month *m)
{
    struct sim_deps *d = cf_xcalloc(1, sizeof(*d));
    d->appt_v1 = cf_xcalloc(m->nappts ? m->nappts : 1, sizeof(long));
    d->recall = cf_xcalloc(m->npersons ? m->npersons : 1, sizeof(long));
    for (size_t i = 0; i < m->npersons; i++)
        d->recall[i] = -1;
    return d;
}

void sim_deps_free(struct sim_deps *d)
{
    if (!d)
        return;
    free(d->appt_v1);
    free(d->recall);
    free(d);
}
