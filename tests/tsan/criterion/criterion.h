/*
 * tests/tsan/criterion/criterion.h -- the part of Criterion's C API that
 * our tests use, for the ThreadSanitizer build only.
 *
 * Criterion 2.4's sandbox cannot start under TSan (its inheritable arena
 * does not fit TSan's address-space layout), so tests/meson.build puts this
 * directory first on the include path when b_sanitize is thread and links
 * tests/tsan/runner.c, which owns main(), forks one child per test and
 * prints Criterion's report lines. See tests/tsan/README.md.
 *
 * This header owns the macros (Test, TestSuite, cr_assert*, cr_expect*,
 * cr_log*, cr_skip_test) and the declarations they expand to; it must not
 * know how tests are run: that is runner.c's job. Messages are evaluated
 * only when a check fails, and conditions are compared as written, as
 * Criterion does. Formats must be string literals (they are pasted after a
 * " " that the runner drops, so that zero extra arguments work and printf
 * format checking still applies).
 */
#ifndef SLUICE_TSAN_CRITERION_H
#define SLUICE_TSAN_CRITERION_H

/* what Criterion's own criterion.h brings in, which tests may rely on */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* ---- test and suite options ------------------------------------------ */

/* Same member names as Criterion's, so designated options compile
 * unchanged; crs_line_ is ours and only keeps the initializer non-empty. */
struct criterion_test_extra_data {
    int crs_line_;
    void (*init)(void);
    void (*fini)(void);
    int signal;
    int exit_code;
    bool disabled;
    const char *description;
    double timeout;
    void *data;
};

struct crs_test_ {
    const char *suite;
    const char *name;
    const char *file;
    int line;
    void (*fn)(void);
    const struct criterion_test_extra_data *opts;
    struct crs_test_ *next;
};

struct crs_suite_ {
    const char *name;
    const struct criterion_test_extra_data *opts;
    struct crs_suite_ *next;
};

void crs_register_test_(struct crs_test_ *t);
void crs_register_suite_(struct crs_suite_ *s);

#define Test(Suite, Name, ...)                                               \
    static void crs_fn_##Suite##_##Name(void);                               \
    static const struct criterion_test_extra_data crs_opt_##Suite##_##Name = \
        {.crs_line_ = __LINE__, __VA_ARGS__};                                \
    static struct crs_test_ crs_t_##Suite##_##Name = {                       \
        .suite = #Suite,                                                     \
        .name = #Name,                                                       \
        .file = __FILE__,                                                    \
        .line = __LINE__,                                                    \
        .fn = crs_fn_##Suite##_##Name,                                       \
        .opts = &crs_opt_##Suite##_##Name,                                   \
        .next = NULL,                                                        \
    };                                                                       \
    __attribute__((constructor)) static void crs_reg_##Suite##_##Name(void)  \
    {                                                                        \
        crs_register_test_(&crs_t_##Suite##_##Name);                         \
    }                                                                        \
    static void crs_fn_##Suite##_##Name(void)

#define TestSuite(Name, ...)                                                 \
    static const struct criterion_test_extra_data crs_sopt_##Name =          \
        {.crs_line_ = __LINE__, __VA_ARGS__};                                \
    static struct crs_suite_ crs_s_##Name = {                                \
        .name = #Name,                                                       \
        .opts = &crs_sopt_##Name,                                            \
        .next = NULL,                                                        \
    };                                                                       \
    __attribute__((constructor)) static void crs_sreg_##Name(void)           \
    {                                                                        \
        crs_register_suite_(&crs_s_##Name);                                  \
    }                                                                        \
    extern struct crs_suite_ crs_s_semicolon_##Name##_ /* takes the `;` */

/* ---- reporting (runner.c) ---------------------------------------------- */

/* Records the location of the check about to be evaluated (the runner
 * names it when the test then crashes). */
void crs_at_(const char *file, int line);

/* A failed check: prints "file:line: Assertion Failed" and the message
 * (fmt without its leading space, or dflt when that is empty); then ends
 * the test if abort_test, else marks it failed and returns. */
__attribute__((format(printf, 5, 6))) void
crs_fail_(int abort_test, const char *file, int line, const char *dflt,
          const char *fmt, ...);

/* Default messages that show values (a per-thread buffer). */
const char *crs_str_msg_(const char *expr, const char *a, const char *b);
const char *crs_empty_msg_(const char *expr, const char *s, int want_empty);
int crs_str_cmp_(const char *a, const char *b);

__attribute__((format(printf, 1, 2), noreturn)) void
crs_skip_(const char *fmt, ...);

enum criterion_logging_level {
    CR_LOG_INFO = 1,
    CR_LOG_WARNING,
    CR_LOG_ERROR,
};

__attribute__((format(printf, 2, 3))) void
cr_log(enum criterion_logging_level level, const char *fmt, ...);

#define cr_log_info(...) cr_log(CR_LOG_INFO, __VA_ARGS__)
#define cr_log_warn(...) cr_log(CR_LOG_WARNING, __VA_ARGS__)
#define cr_log_error(...) cr_log(CR_LOG_ERROR, __VA_ARGS__)

#define cr_skip_test(...) crs_skip_(" " __VA_ARGS__)

/* ---- checks -------------------------------------------------------------- */

#define CRS_CHECK_(abort_test, cond, dflt, ...)                              \
    do {                                                                     \
        crs_at_(__FILE__, __LINE__);                                         \
        if (!(cond))                                                         \
            crs_fail_((abort_test), __FILE__, __LINE__, (dflt),              \
                      " " __VA_ARGS__);                                      \
    } while (0)

#define CRS_FALSE_(expr) "The expression " expr " is false."

#define CRS_UNARY_(ab, c, ...)                                               \
    CRS_CHECK_(ab, c, CRS_FALSE_(#c), __VA_ARGS__)
#define CRS_NOT_(ab, c, ...)                                                 \
    CRS_CHECK_(ab, !(c), CRS_FALSE_("!(" #c ")"), __VA_ARGS__)
#define CRS_OP_(ab, op, a, b, ...)                                           \
    CRS_CHECK_(ab, (a) op (b), CRS_FALSE_("(" #a ") " #op " (" #b ")"),      \
               __VA_ARGS__)
#define CRS_NULL_(ab, v, ...)                                                \
    CRS_CHECK_(ab, (v) == NULL, #v " is not null.", __VA_ARGS__)
#define CRS_NOT_NULL_(ab, v, ...)                                            \
    CRS_CHECK_(ab, (v) != NULL, #v " is null.", __VA_ARGS__)
#define CRS_ZERO_(ab, v, ...)                                                \
    CRS_CHECK_(ab, (v) == 0, #v " is not zero.", __VA_ARGS__)
#define CRS_NOT_ZERO_(ab, v, ...)                                            \
    CRS_CHECK_(ab, (v) != 0, #v " is zero.", __VA_ARGS__)
#define CRS_FAIL_(ab, ...)                                                   \
    CRS_CHECK_(ab, 0, "The conditions for this assertion were not met.",     \
               __VA_ARGS__)

/* Strings: each operand is evaluated once; NULL fails instead of crashing. */
#define CRS_STR_OP_(ab, op, a, b, ...)                                       \
    do {                                                                     \
        crs_at_(__FILE__, __LINE__);                                         \
        const char *crs_sa_ = (a), *crs_sb_ = (b);                           \
        if (!(crs_sa_ && crs_sb_ && crs_str_cmp_(crs_sa_, crs_sb_) op 0))    \
            crs_fail_((ab), __FILE__, __LINE__,                              \
                      crs_str_msg_("(" #a ") " #op " (" #b ")", crs_sa_,     \
                                   crs_sb_),                                 \
                      " " __VA_ARGS__);                                      \
    } while (0)
#define CRS_STR_EMPTY_(ab, want, s, ...)                                     \
    do {                                                                     \
        crs_at_(__FILE__, __LINE__);                                         \
        const char *crs_se_ = (s);                                           \
        if (!(crs_se_ && (crs_se_[0] == '\0') == (want)))                    \
            crs_fail_((ab), __FILE__, __LINE__,                              \
                      crs_empty_msg_(#s, crs_se_, (want)), " " __VA_ARGS__); \
    } while (0)

#define CRS_ARR_(ab, op, a, b, size, ...)                                    \
    CRS_CHECK_(ab, memcmp((a), (b), (size)) op 0,                            \
               CRS_FALSE_("(" #a ")[0.." #size "] " #op " (" #b ")[0.."      \
                          #size "]"),                                        \
               __VA_ARGS__)

/* |a - b| <= eps, written without fabs so any arithmetic type works */
#define CRS_FEQ_(ab, a, b, eps, ...)                                         \
    CRS_CHECK_(ab, (b) - (a) <= (eps) && (a) - (b) <= (eps),                 \
               CRS_FALSE_("(" #b ") - (" #a ") <= (" #eps ") && (" #a        \
                          ") - (" #b ") <= (" #eps ")"),                     \
               __VA_ARGS__)
#define CRS_FNEQ_(ab, a, b, eps, ...)                                        \
    CRS_CHECK_(ab, (b) - (a) > (eps) || (a) - (b) > (eps),                   \
               CRS_FALSE_("(" #b ") - (" #a ") > (" #eps ") || (" #a         \
                          ") - (" #b ") > (" #eps ")"),                      \
               __VA_ARGS__)

/* cr_assert_*: a failure ends the test; cr_expect_*: it is recorded and the
 * test goes on. */
#define cr_assert(c, ...) CRS_UNARY_(1, c, __VA_ARGS__)
#define cr_expect(c, ...) CRS_UNARY_(0, c, __VA_ARGS__)
#define cr_assert_not(c, ...) CRS_NOT_(1, c, __VA_ARGS__)
#define cr_expect_not(c, ...) CRS_NOT_(0, c, __VA_ARGS__)
#define cr_assert_fail(...) CRS_FAIL_(1, __VA_ARGS__)
#define cr_expect_fail(...) CRS_FAIL_(0, __VA_ARGS__)

#define cr_assert_eq(a, b, ...) CRS_OP_(1, ==, a, b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) CRS_OP_(0, ==, a, b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) CRS_OP_(1, !=, a, b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) CRS_OP_(0, !=, a, b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) CRS_OP_(1, <, a, b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) CRS_OP_(0, <, a, b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) CRS_OP_(1, <=, a, b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) CRS_OP_(0, <=, a, b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) CRS_OP_(1, >, a, b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) CRS_OP_(0, >, a, b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) CRS_OP_(1, >=, a, b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) CRS_OP_(0, >=, a, b, __VA_ARGS__)

#define cr_assert_null(v, ...) CRS_NULL_(1, v, __VA_ARGS__)
#define cr_expect_null(v, ...) CRS_NULL_(0, v, __VA_ARGS__)
#define cr_assert_not_null(v, ...) CRS_NOT_NULL_(1, v, __VA_ARGS__)
#define cr_expect_not_null(v, ...) CRS_NOT_NULL_(0, v, __VA_ARGS__)
#define cr_assert_zero(v, ...) CRS_ZERO_(1, v, __VA_ARGS__)
#define cr_expect_zero(v, ...) CRS_ZERO_(0, v, __VA_ARGS__)
#define cr_assert_not_zero(v, ...) CRS_NOT_ZERO_(1, v, __VA_ARGS__)
#define cr_expect_not_zero(v, ...) CRS_NOT_ZERO_(0, v, __VA_ARGS__)

#define cr_assert_str_eq(a, b, ...) CRS_STR_OP_(1, ==, a, b, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) CRS_STR_OP_(0, ==, a, b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) CRS_STR_OP_(1, !=, a, b, __VA_ARGS__)
#define cr_expect_str_neq(a, b, ...) CRS_STR_OP_(0, !=, a, b, __VA_ARGS__)
#define cr_assert_str_lt(a, b, ...) CRS_STR_OP_(1, <, a, b, __VA_ARGS__)
#define cr_expect_str_lt(a, b, ...) CRS_STR_OP_(0, <, a, b, __VA_ARGS__)
#define cr_assert_str_leq(a, b, ...) CRS_STR_OP_(1, <=, a, b, __VA_ARGS__)
#define cr_expect_str_leq(a, b, ...) CRS_STR_OP_(0, <=, a, b, __VA_ARGS__)
#define cr_assert_str_gt(a, b, ...) CRS_STR_OP_(1, >, a, b, __VA_ARGS__)
#define cr_expect_str_gt(a, b, ...) CRS_STR_OP_(0, >, a, b, __VA_ARGS__)
#define cr_assert_str_geq(a, b, ...) CRS_STR_OP_(1, >=, a, b, __VA_ARGS__)
#define cr_expect_str_geq(a, b, ...) CRS_STR_OP_(0, >=, a, b, __VA_ARGS__)
#define cr_assert_str_empty(s, ...) CRS_STR_EMPTY_(1, 1, s, __VA_ARGS__)
#define cr_expect_str_empty(s, ...) CRS_STR_EMPTY_(0, 1, s, __VA_ARGS__)
#define cr_assert_str_not_empty(s, ...) CRS_STR_EMPTY_(1, 0, s, __VA_ARGS__)
#define cr_expect_str_not_empty(s, ...) CRS_STR_EMPTY_(0, 0, s, __VA_ARGS__)

#define cr_assert_arr_eq(a, b, size, ...)                                    \
    CRS_ARR_(1, ==, a, b, size, __VA_ARGS__)
#define cr_expect_arr_eq(a, b, size, ...)                                    \
    CRS_ARR_(0, ==, a, b, size, __VA_ARGS__)
#define cr_assert_arr_neq(a, b, size, ...)                                   \
    CRS_ARR_(1, !=, a, b, size, __VA_ARGS__)
#define cr_expect_arr_neq(a, b, size, ...)                                   \
    CRS_ARR_(0, !=, a, b, size, __VA_ARGS__)

#define cr_assert_float_eq(a, b, eps, ...)                                   \
    CRS_FEQ_(1, a, b, eps, __VA_ARGS__)
#define cr_expect_float_eq(a, b, eps, ...)                                   \
    CRS_FEQ_(0, a, b, eps, __VA_ARGS__)
#define cr_assert_float_neq(a, b, eps, ...)                                  \
    CRS_FNEQ_(1, a, b, eps, __VA_ARGS__)
#define cr_expect_float_neq(a, b, eps, ...)                                  \
    CRS_FNEQ_(0, a, b, eps, __VA_ARGS__)

#endif /* SLUICE_TSAN_CRITERION_H */
