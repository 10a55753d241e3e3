/*
 * CF_TESTABLE marks a file-local function that unit tests call: static in
 * normal builds, external in the cf_common_testable build (CF_UNIT_TEST).
 * Its declaration lives in a private header beside the source
 * (kafka_testable.h for kafka.c), which the unit test includes too.
 */
#ifndef CF_COMMON_TESTABLE_H
#define CF_COMMON_TESTABLE_H

#ifdef CF_UNIT_TEST
#define CF_TESTABLE
#else
#define CF_TESTABLE static
#endif

#endif
