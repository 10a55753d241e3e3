/*
 * The MIS records' events (mis.h): one envelope per stored version, its id
 * from the record and the version, so the relay sending it again (or the
 * MIS repeating itself) is the same event. time is when the MIS told us:
 * an MIS's own clock is not one we can order by.
 */
#include "mis.h"

#include "common/time.h"
#include "common/topics.h"
#include "common/xmalloc.h"

const char *mis_topic(enum mis_kind kind)
{
    return kind == MIS_PATIENT ? CF_TOPIC_PATIENTS : CF_TOPIC_APPOINTMENTS;
}

void mis_event(struct cf_event *ev, enum mis_kind kind, const char *network_id, const char *id,
               const char *mis_id, int64_t version, const char *clinic_id, json_t *data)
{
    const char *name = kind == MIS_PATIENT ? "patient" : "appointment";
    mis_event_id(network_id, name, mis_id, version, ev->id);
    ev->source = cf_xstrdup("/clinicflow/reminders/mis/api");
    ev->type = cf_xasprintf("clinicflow.%s.upserted", name);
    ev->subject = cf_xstrdup(id);
    ev->time_ms = cf_time_now_ms();
    ev->networkid = cf_xstrdup(network_id);
    ev->clinicid = clinic_id ? cf_xstrdup(clinic_id) : NULL;
    ev->data = data;
}
