/*
 * tests/tsan/criterion/logging.h -- cr_log, cr_log_info/warn/error for the
 * ThreadSanitizer build; they live in criterion.h (as with Criterion, a
 * test that includes only criterion.h may use them). See ../README.md.
 */
#ifndef SLUICE_TSAN_CRITERION_LOGGING_H
#define SLUICE_TSAN_CRITERION_LOGGING_H
#include "criterion.h"
#endif
