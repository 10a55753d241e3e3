/*
 * Scope parsing and key registration of netconf.c.
 * Included by the defining file and by its unit test, so both see one
 * declaration: static in normal builds, external in unit tests
 * (common/testable.h).
 */
#ifndef CF_COMMON_NETCONF_TESTABLE_H
#define CF_COMMON_NETCONF_TESTABLE_H

#include <stdint.h>

#include "common/netconf.h"
#include "common/testable.h"

CF_TESTABLE unsigned cf_netconf_parse_scopes(const char *list);
CF_TESTABLE void cf_netconf_add_key(struct cf_netconf_snapshot *snap, const char *id,
                                    const uint8_t hash[32], unsigned scopes,
                                    const struct cf_network *net);

#endif
