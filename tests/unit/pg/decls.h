/*
 * Functions of services/common/src/pg.c that are static in normal builds
 * and visible to unit tests (CF_TESTABLE).
 */
#ifndef CF_TESTS_UNIT_PG_DECLS_H
#define CF_TESTS_UNIT_PG_DECLS_H

#include "common/pg.h"

/* The cf_err for a SQLSTATE (NULL or malformed: CF_EUNAVAIL). */
int cf_pg_sqlstate_err(const char *sqlstate);

#endif
