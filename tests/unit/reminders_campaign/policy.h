/*
 * The campaign tests' policy: plan_policy_build over a network's and a
 * clinic's policy as JSON text (NULL: none), in Moscow or in the zone
 * named, checked to build.
 */
#ifndef CF_TEST_REMINDERS_CAMPAIGN_POLICY_H
#define CF_TEST_REMINDERS_CAMPAIGN_POLICY_H

#include <jansson.h>

#include "cftest.h"
#include "plan_testable.h"

static inline struct plan_policy policy_in(const char *tz, const char *net_json,
                                           const char *clinic_json)
{
    struct plan_policy p;
    char errbuf[256];
    json_t *j_net = net_json ? json_loads(net_json, 0, NULL) : NULL;
    json_t *j_clinic = clinic_json ? json_loads(clinic_json, 0, NULL) : json_object();
    CHECK_INT(plan_policy_build(j_net, tz, j_clinic, &p, errbuf, sizeof(errbuf)), 0);
    json_decref(j_net);
    json_decref(j_clinic);
    return p;
}

static inline struct plan_policy policy(const char *net_json, const char *clinic_json)
{
    return policy_in("Europe/Moscow", net_json, clinic_json);
}

#endif
