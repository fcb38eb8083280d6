/*
 * test_fast.c -- the call site's inline claim (sluice/fast.h): what it
 * writes is what the library's own path writes, and every reason the
 * library has to take a call its own way (a hook, several lanes, close)
 * reaches the calls compiled inline too.
 */
#include "helpers.h"

#include <sys/syscall.h>
#include <unistd.h>

TestSuite(fast, .init = init_capture, .fini = fini_capture, .timeout = 60);

#ifndef SLUICE_FAST_INLINE
Test(fast, the_inline_claim_is_compiled_here)
{
    cr_skip_test("no inline claim on this processor or compiler");
}
#else

static const unsigned char three_types[] = {SLUICE_ARG_INT, SLUICE_ARG_UINT,
                                            SLUICE_ARG_DOUBLE};
static const sluice_callsite three = {"i=%d u=%u d=%.2f", __FILE__, "three", 42,
                                      3, three_types, 24};

static uint64_t dbl(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static sluice_runtime *start_app(const char *extra)
{
    char ini[512];
    snprintf(ini, sizeof ini,
             "[sink.c]\nplugin = capture\npattern = %%l %%T %%s %%F %%m\n"
             "[logger.app]\nsinks = c\n%s",
             extra);
    capture_reset();
    return start_ini(ini);
}

static void wait_lines(size_t n)
{
    for (int waited = 0; capture_count() < n && waited < 5000; waited++)
        usleep(1000);
    cr_assert_eq(capture_count(), n);
}

Test(fast, an_inline_record_is_the_one_the_library_writes)
{
    sluice_runtime *rt = start_app("");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO(lg, "warm %d", 0); /* the thread's first call registers it */
    int inline_ok = sluice_fast_log_(lg, SLUICE_LEVEL_WARN, &three, (uint64_t)-7, 8,
                                     dbl(0.25), 3);
    cr_assert(inline_ok, "the inline claim took the call");
    sluice_log_a3_(lg, SLUICE_LEVEL_WARN, &three, (uint64_t)-7, 8, dbl(0.25));
    cr_assert_eq(sluice_logger_flush(lg, 5000), 0);
    wait_lines(3);
    cr_assert_str_eq(capture_sink.lines[1], capture_sink.lines[2]);
    char want[128];
    snprintf(want, sizeof want, "warn %ld %s:42 three i=-7 u=8 d=0.25\n",
             (long)syscall(SYS_gettid), __FILE__);
    cr_assert_str_eq(capture_sink.lines[1], want);
    cr_assert_eq(capture_sink.records[1].time_ns <= capture_sink.records[2].time_ns,
                 1, "times increase along the ring");
    sluice_logger_stats st;
    cr_assert_eq(sluice_logger_stats_get(lg, &st), 0);
    cr_assert_eq(st.accepted, 3);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

static const unsigned char mixed_types[] = {SLUICE_ARG_STRING, SLUICE_ARG_INT,
                                            SLUICE_ARG_STRING, SLUICE_ARG_DOUBLE};
static const sluice_callsite mixed = {"s=%s i=%d t=%s d=%.1f", __FILE__, "mixed", 7,
                                      4, mixed_types, 0};

/* Strings (one NULL, one longer than a record the inline claim takes)
 * mixed with numbers: the same bytes either way. */
Test(fast, an_inline_record_with_strings_is_the_one_the_library_writes)
{
    sluice_runtime *rt = start_app("");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO(lg, "warm %d", 0);
    static char big[6000];
    memset(big, 'x', sizeof big - 1);
    const char *firsts[] = {"user alice", NULL, "", big};
    size_t lines = 1;
    for (size_t k = 0; k < sizeof firsts / sizeof *firsts; k++) {
        uint64_t args[4] = {(uint64_t)(uintptr_t)firsts[k], (uint64_t)-3,
                            (uint64_t)(uintptr_t) "from 10.0.0.1", dbl(1.5)};
        int took = sluice_fast_args_(lg, SLUICE_LEVEL_ERROR, &mixed, args,
                                     SLUICE_STRING_MAX);
        cr_assert_eq(took, firsts[k] != big, "case %zu: inline unless too long", k);
        if (!took)
            sluice_log_args_(lg, SLUICE_LEVEL_ERROR, &mixed, args);
        sluice_log_args_(lg, SLUICE_LEVEL_ERROR, &mixed, args);
        lines += 2;
    }
    cr_assert_eq(sluice_logger_flush(lg, 5000), 0);
    wait_lines(lines);
    for (size_t i = 1; i < lines; i += 2)
        cr_assert_str_eq(capture_sink.lines[i], capture_sink.lines[i + 1], "line %zu", i);
    char want[160];
    snprintf(want, sizeof want, "error %ld %s:7 mixed s=user alice i=-3 t=from 10.0.0.1 d=1.5\n",
             (long)syscall(SYS_gettid), __FILE__);
    cr_assert_str_eq(capture_sink.lines[1], want);
    cr_assert(strstr(capture_sink.lines[3], "s=(null) i=-3"), "%s", capture_sink.lines[3]);
    cr_assert_eq(strlen(capture_sink.lines[7]),
                 strlen(capture_sink.lines[1]) - strlen("user alice") + SLUICE_STRING_MAX,
                 "a string is cut at SLUICE_STRING_MAX either way");
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

static bool reject_all(void *user, sluice_hook_record *r)
{
    (void)user;
    (void)r;
    return false;
}

Test(fast, a_pre_hook_added_later_reaches_inline_calls)
{
    sluice_runtime *rt = start_app("");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO(lg, "before %d", 1);
    sluice_error err;
    cr_assert_eq(sluice_logger_add_pre_hook(lg, reject_all, NULL, &err), 0, "%s", err.message);
    cr_assert(!sluice_fast_log_(lg, SLUICE_LEVEL_INFO, &three, 1, 2, dbl(3), 3),
              "with a hook, the inline claim says no");
    SLUICE_INFO(lg, "after %d", 2);
    cr_assert_eq(sluice_logger_flush(lg, 5000), 0);
    wait_lines(1);
    sluice_logger_stats st;
    cr_assert_eq(sluice_logger_stats_get(lg, &st), 0);
    cr_assert_eq(st.rejected, 1, "the hook saw the call after it");
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

Test(fast, several_lanes_or_a_durable_queue_take_the_librarys_way)
{
    sluice_runtime *rt = start_app("workers = 2\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO(lg, "warm %d", 0);
    cr_assert(!sluice_fast_log_(lg, SLUICE_LEVEL_INFO, &three, 1, 2, dbl(3), 3));
    for (int i = 0; i < 10; i++)
        SLUICE_INFO(lg, "lane %d", i);
    cr_assert_eq(sluice_logger_flush(lg, 5000), 0);
    wait_lines(11);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

Test(fast, after_close_an_inline_call_counts_nothing)
{
    sluice_runtime *rt = start_app("");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO(lg, "one %d", 1);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert(!sluice_fast_log_(lg, SLUICE_LEVEL_INFO, &three, 1, 2, dbl(3), 3));
    SLUICE_INFO(lg, "two %d", 2);
    sluice_logger_stats st;
    cr_assert_eq(sluice_logger_stats_get(lg, &st), 0);
    cr_assert_eq(st.accepted, 1);
    cr_assert_eq(capture_count(), 1);
}

/* A reload that keeps one lane moves the inline claim to the new queue;
 * one that makes two takes it away for good. */
static void reload_to(sluice_runtime *rt, const char *ini)
{
    sluice_error err;
    sluice_builder *b = sluice_config_load_string(ini, &err);
    cr_assert_not_null(b, "%s", err.message);
    cr_assert_eq(sluice_builder_add_sink_api(b, &capture_api, &err), 0, "%s", err.message);
    cr_assert_geq(sluice_runtime_reload_builder(rt, b, &err), 0, "%s", err.message);
}

Test(fast, a_reload_moves_the_inline_claim_or_takes_it_away)
{
    if (getenv("SLUICE_TEST_DURABLE"))
        cr_skip_test("a durable logger has no inline claim");
    capture_reset();
    sluice_runtime *rt = start_ini("[sink.c]\nplugin = capture\npattern = %m\n"
                                   "[logger.app]\nsinks = c\nqueue_size = 1MiB\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO(lg, "a %d", 1);
    cr_assert(sluice_fast_log_(lg, SLUICE_LEVEL_INFO, &three, 1, 2, dbl(3), 3));
    reload_to(rt, "[sink.c]\nplugin = capture\npattern = %m\n"
                  "[logger.app]\nsinks = c\nqueue_size = 2MiB\n");
    cr_assert(sluice_fast_log_(lg, SLUICE_LEVEL_INFO, &three, 4, 5, dbl(6), 3),
              "one lane still: the inline claim goes on, into the new queue");
    reload_to(rt, "[sink.c]\nplugin = capture\npattern = %m\n"
                  "[logger.app]\nsinks = c\nqueue_size = 2MiB\nworkers = 2\n");
    cr_assert(!sluice_fast_log_(lg, SLUICE_LEVEL_INFO, &three, 7, 8, dbl(9), 3));
    SLUICE_INFO(lg, "b %d", 2);
    cr_assert_eq(sluice_logger_flush(lg, 5000), 0);
    wait_lines(4);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}
#endif
