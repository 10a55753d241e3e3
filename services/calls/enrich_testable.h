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
/* The unique decision of a call of a batch, from lk (calls.h): noted when
 * it records, else answered from the rows fetched for the contact and the
 * batch's own calls; CF_EINVAL when its start was not fetched. */
struct calls_lookups;
CF_TESTABLE int calls_decide_unique_batch(struct calls_lookups *lk, const char *network_id,
                                          json_t *j_call, long lookback_s, json_t *corrected,
                                          char *errbuf, size_t errbuf_size);
CF_TESTABLE void calls_decide_agent_group(const struct cf_network *net, json_t *j_call,
                                          const char *default_cc);

#endif
