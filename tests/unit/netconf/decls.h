/*
 * Functions of services/common/src/netconf.c that are static in normal
 * builds and visible to unit tests (CF_TESTABLE).
 */
#ifndef CF_TESTS_UNIT_NETCONF_DECLS_H
#define CF_TESTS_UNIT_NETCONF_DECLS_H

#include <stdint.h>

#include "common/netconf.h"

/* "ingest,read" -> scope bits; unknown names ignored. */
unsigned cf_netconf_parse_scopes(const char *list);
/* Appends a key (SHA-256 hash) to a snapshot being built. */
void cf_netconf_add_key(struct cf_netconf_snapshot *snap, const char *id, const uint8_t hash[32],
                        unsigned scopes, const struct cf_network *net);

#endif
