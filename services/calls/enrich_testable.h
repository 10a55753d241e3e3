/*
 * Static attribution by validity dates and the agent group map (enrich.c).
 * Included by the defining file and by its unit test, so both see one
 * declaration: static in normal builds, external in unit tests
 * (common/testable.h).
 */
#ifndef CF_CALLS_ENRICH_TESTABLE_H
#define CF_CALLS_ENRICH_TESTABLE_H

#include <jansson.h>

#include "common/netconf.h"
#include "common/testable.h"

CF_TESTABLE json_t *calls_static_attribution(const struct cf_network *net, const char *number,
                                             const char *date);
CF_TESTABLE const char *calls_agent_group(const struct cf_network *net, const char *provider,
                                          const char *agent_id, const char *clinic_id,
                                          const char *default_cc);
CF_TESTABLE void calls_decide_agent_group(const struct cf_network *net, json_t *j_call,
                                          const char *default_cc);

#endif
