/*
 * CF_TESTABLE marks a file-local function that unit tests call: static in
 * normal builds, external in the cf_common_testable build (CF_UNIT_TEST),
 * where tests/unit/testable_decls.h declares it.
 */
#ifndef CF_COMMON_TESTABLE_H
#define CF_COMMON_TESTABLE_H

#ifdef CF_UNIT_TEST
#define CF_TESTABLE
#else
#define CF_TESTABLE static
#endif

#endif
