/*
 * How pg.c maps a SQLSTATE to our error codes.
 * Included by the defining file and by its unit test, so both see one
 * declaration: static in normal builds, external in unit tests
 * (common/testable.h).
 */
#ifndef CF_COMMON_PG_TESTABLE_H
#define CF_COMMON_PG_TESTABLE_H

#include "common/testable.h"

/* CF_ECONFLICT, CF_EINVAL, CF_EUNAVAIL or CF_EINTERNAL for a SQLSTATE. */
CF_TESTABLE int cf_pg_sqlstate_err(const char *sqlstate);

#endif
