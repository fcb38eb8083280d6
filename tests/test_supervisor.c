/*
 * The supervisor and the delivery promise: restarts with backoff resume the
 * retained backlog, the intensity limit gives up into the fallback, resume
 * brings a given-up sink back, and under chaos every record arrives in both
 * sinks, in per-thread order, with duplicates only where the failing sink
 * wrote part of a batch without saying so.
 */
#include "helpers.h"

#include <time.h>

TestSuite(supervisor, .init = init_capture, .fini = fini_capture, .timeout = 240);

static sluice_binding_stats stats_of(sluice_logger *lg, size_t i)
{
    sluice_binding_stats st;
    cr_assert_eq(sluice_binding_stats_get(sluice_logger_binding(lg, i), &st), 0);
    return st;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the chaos test ---------------------------------------------------- */

#define CHAOS_THREADS 4
#define CHAOS_PER_THREAD 50000

typedef struct chaos_producer {
    sluice_logger *lg;
    int id;
} chaos_producer;

static void *chaos_produce(void *arg)
{
    chaos_producer *p = arg;
    for (int i = 0; i < CHAOS_PER_THREAD; i++) {
        SLUICE_INFO(p->lg, "t=%d i=%d", p->id, i);
        if (i % 50 == 49)
            usleep(4000); /* spread the stream over the outages */
    }
    return NULL;
}

/* count[t][i] occurrences of "t=%d i=%d" lines in text; checks order of
 * first occurrences per thread. Returns lines seen. */
static size_t tally(const char *text, unsigned char (*count)[CHAOS_PER_THREAD],
                    const char *what, bool strict_order)
{
    int last[CHAOS_THREADS];
    for (int t = 0; t < CHAOS_THREADS; t++)
        last[t] = -1;
    size_t lines = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        int t, i;
        cr_assert(sscanf(p, "t=%d i=%d", &t, &i) == 2, "%s: bad line: %.60s", what, p);
        cr_assert(t >= 0 && t < CHAOS_THREADS && i >= 0 && i < CHAOS_PER_THREAD);
        if (count[t][i] < 255)
            count[t][i]++;
        if (count[t][i] == 1) {
            cr_assert_gt(i, last[t], "%s: thread %d's record %d came after %d", what,
                         t, i, last[t]);
            last[t] = i;
        } else {
            cr_assert_not(strict_order, "%s: duplicate t=%d i=%d", what, t, i);
        }
        lines++;
        p = nl ? nl + 1 : p + strlen(p);
    }
    return lines;
}

Test(supervisor, chaos_every_record_arrives_in_both_sinks)
{
    char *dir = tmpdir_make();
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 2..100\nrestart_intensity = unlimited\n"
             "[sink.healthy]\nplugin = file\npath = %s/healthy.log\npattern = %%m\n"
             "[sink.flaky]\nplugin = fault\npath = %s/flaky.log\nsilent_path = %s/silent.log\n"
             "fail_percent = 5\npartial = silent\nseed = 7\n"
             "down_every_ms = 1700\ndown_for_ms = 1000\npattern = %%m\n"
             "[logger.chaos]\nsinks = healthy, flaky\nqueue_capacity = 65536\n"
             "overflow = block\n",
             dir, dir, dir);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "chaos");
    pthread_t th[CHAOS_THREADS];
    chaos_producer p[CHAOS_THREADS];
    for (int i = 0; i < CHAOS_THREADS; i++) {
        p[i] = (chaos_producer){lg, i};
        pthread_create(&th[i], NULL, chaos_produce, &p[i]);
    }
    for (int i = 0; i < CHAOS_THREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(sluice_logger_flush(lg, 60000), 0, "backlog not written within 60 s");
    sluice_logger_stats ls;
    sluice_logger_stats_get(lg, &ls);
    sluice_binding_stats healthy = stats_of(lg, 0), flaky = stats_of(lg, 1);
    cr_assert_eq(sluice_close(rt, 10000), 0);

    const uint64_t total = (uint64_t)CHAOS_THREADS * CHAOS_PER_THREAD;
    cr_assert_eq(ls.attempted, total);
    cr_assert_eq(ls.accepted, total);
    cr_assert_eq(ls.dropped, 0);
    cr_assert_eq(healthy.written, total);
    cr_assert_eq(healthy.failures, 0);
    cr_assert_eq(flaky.written, total, "the failing sink confirmed %llu of %llu",
                 (unsigned long long)flaky.written, (unsigned long long)total);
    cr_assert_gt(flaky.failures, 10, "the chaos did not happen (%llu failures)",
                 (unsigned long long)flaky.failures);
    cr_assert_geq(flaky.restarts, flaky.failures, "every failure is followed by a restart");
    cr_assert_eq(flaky.pending, 0);

    static unsigned char healthy_count[CHAOS_THREADS][CHAOS_PER_THREAD];
    static unsigned char flaky_count[CHAOS_THREADS][CHAOS_PER_THREAD];
    static unsigned char silent_count[CHAOS_THREADS][CHAOS_PER_THREAD];
    memset(healthy_count, 0, sizeof healthy_count);
    memset(flaky_count, 0, sizeof flaky_count);
    memset(silent_count, 0, sizeof silent_count);
    char path[600];
    snprintf(path, sizeof path, "%s/healthy.log", dir);
    char *text = read_file(path, NULL);
    cr_assert_eq(tally(text, healthy_count, "healthy", true), total);
    free(text);
    snprintf(path, sizeof path, "%s/flaky.log", dir);
    text = read_file(path, NULL);
    size_t flaky_lines = tally(text, flaky_count, "flaky", false);
    free(text);
    snprintf(path, sizeof path, "%s/silent.log", dir);
    text = read_file(path, NULL);
    size_t silent_lines = 0;
    for (const char *q = text; *q;) {
        int t, i;
        cr_assert(sscanf(q, "t=%d i=%d", &t, &i) == 2);
        silent_count[t][i]++;
        silent_lines++;
        const char *nl = strchr(q, '\n');
        q = nl ? nl + 1 : q + strlen(q);
    }
    free(text);
    for (int t = 0; t < CHAOS_THREADS; t++)
        for (int i = 0; i < CHAOS_PER_THREAD; i++) {
            cr_assert_eq(healthy_count[t][i], 1, "healthy: t=%d i=%d seen %d times", t,
                         i, healthy_count[t][i]);
            cr_assert_geq(flaky_count[t][i], 1, "flaky: t=%d i=%d is missing", t, i);
            cr_assert_eq(flaky_count[t][i], 1 + silent_count[t][i],
                         "flaky: t=%d i=%d seen %d times, written silently %d times",
                         t, i, flaky_count[t][i], silent_count[t][i]);
        }
    cr_assert_eq(flaky_lines, total + silent_lines);
    cr_log_info("chaos: %llu records, %llu failures, %zu duplicates from silent partial writes",
                (unsigned long long)total, (unsigned long long)flaky.failures, silent_lines);
    tmpdir_remove(dir);
}

/* ---- the rules --------------------------------------------------------- */

Test(supervisor, failure_is_visible_until_the_restart_drains_the_backlog)
{
    sluice_runtime *rt = start_ini(
        "[runtime]\nrestart_backoff_ms = 300..300\nrestart_intensity = unlimited\n"
        "[sink.f]\nplugin = fault\nfail_first_ms = 400\n"
        "[logger.a]\nsinks = f\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    for (int i = 0; i < 100; i++)
        SLUICE_INFO(lg, "r%d", i);
    /* within the first failure's backoff: failed, error kept, backlog kept */
    sluice_binding_stats st;
    int seen_failed = 0;
    for (int t = 0; t < 2000 && !seen_failed; t++) {
        st = stats_of(lg, 0);
        if (st.has_failed && st.state == SLUICE_STATE_BACKOFF)
            seen_failed = 1;
        else
            usleep(1000);
    }
    cr_assert(seen_failed, "never saw the failed binding in backoff");
    cr_assert_not(st.is_running);
    cr_assert(strstr(st.last_error, "fault: scripted failure"), "%s", st.last_error);
    cr_assert_eq(st.pending, 100, "the backlog is retained");
    cr_assert_gt(st.last_failure_ns, 0);
    cr_assert_eq(sluice_logger_flush(lg, 20000), 0);
    st = stats_of(lg, 0);
    cr_assert_not(st.has_failed, "cleared once a new run started");
    cr_assert_eq(st.last_error[0], '\0');
    cr_assert_eq(st.pending, 0);
    cr_assert_eq(st.written, 100);
    cr_assert_geq(st.restarts, 1);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

Test(supervisor, intensity_limit_gives_up_into_the_fallback)
{
    sluice_runtime *rt = start_ini(
        "[runtime]\nrestart_backoff_ms = 1..2\nrestart_intensity = 3/10s\n"
        "[sink.f]\nplugin = fault\nfail_every = 1\n"
        "[sink.c]\nplugin = capture\n"
        "[logger.a]\nsinks = f\nfallback = c\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    for (int i = 0; i < 50; i++)
        SLUICE_INFO(lg, "early %d", i);
    cr_assert_eq(sluice_logger_flush(lg, 20000), 0, "the backlog was not diverted");
    sluice_binding_stats st = stats_of(lg, 0);
    cr_assert_eq(st.state, SLUICE_STATE_GIVEN_UP, "state is %s",
                 sluice_binding_state_name(st.state));
    cr_assert_eq(st.given_up, 1);
    cr_assert_eq(st.failures, 4, "3 restarts allowed, the 4th failure gives up");
    cr_assert_eq(st.written, 0);
    cr_assert_eq(st.diverted, 50);
    /* what arrives later goes to the fallback too */
    for (int i = 0; i < 25; i++)
        SLUICE_INFO(lg, "late %d", i);
    cr_assert_eq(sluice_logger_flush(lg, 20000), 0);
    cr_assert_eq(stats_of(lg, 0).diverted, 75);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), 75);
    cr_assert(strstr(capture_sink.lines[0], "early 0"), "%s", capture_sink.lines[0]);
    cr_assert(strstr(capture_sink.lines[74], "late 24"), "%s", capture_sink.lines[74]);
}

Test(supervisor, given_up_without_fallback_keeps_records_until_resume)
{
    sluice_runtime *rt = start_ini(
        "[runtime]\nrestart_backoff_ms = 1..2\nrestart_intensity = 2/10s\n"
        "[sink.f]\nplugin = fault\nfail_first_ms = 300\n"
        "[logger.a]\nsinks = f\nqueue_size = 64K\nproducer_rings = 1\n"
        "overflow = drop_newest\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    for (int i = 0; i < 40; i++)
        SLUICE_INFO(lg, "r%d", i);
    sluice_binding_stats st;
    for (int t = 0; t < 5000; t++) {
        st = stats_of(lg, 0);
        if (st.state == SLUICE_STATE_GIVEN_UP)
            break;
        usleep(1000);
    }
    cr_assert_eq(st.state, SLUICE_STATE_GIVEN_UP);
    cr_assert_eq(st.pending, 40, "given up, the records stay queued");
    /* producers now meet the overflow policy: a "r%d" record takes 7 units
     * of 8 bytes, the ring 8192 units, so 1170 fit in all; the rest drop */
    for (int i = 40; i < 2000; i++)
        SLUICE_INFO(lg, "r%d", i);
    sluice_logger_stats ls;
    sluice_logger_stats_get(lg, &ls);
    cr_assert_eq(ls.accepted, 1170);
    cr_assert_eq(ls.dropped, 2000 - 1170);
    usleep(350000); /* the sink is healthy again */
    sluice_error err;
    cr_assert_eq(sluice_binding_resume(sluice_logger_binding(lg, 0), &err), 0, "%s",
                 err.message);
    cr_assert_eq(sluice_logger_flush(lg, 20000), 0);
    st = stats_of(lg, 0);
    cr_assert_eq(st.written, 1170);
    cr_assert_eq(st.pending, 0);
    cr_assert_neq(st.state, SLUICE_STATE_GIVEN_UP);
    /* resume on a binding that was not given up is refused */
    cr_assert_neq(sluice_binding_resume(sluice_logger_binding(lg, 0), &err), 0);
    cr_assert(strstr(err.message, "not given up"), "%s", err.message);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

Test(supervisor, close_during_backoff_returns_within_its_timeout)
{
    sluice_runtime *rt = start_ini(
        "[runtime]\nrestart_backoff_ms = 5000..5000\n"
        "[sink.f]\nplugin = fault\nfail_every = 1\n"
        "[logger.a]\nsinks = f\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    for (int i = 0; i < 10; i++)
        SLUICE_INFO(lg, "r%d", i);
    for (int t = 0; t < 5000 && stats_of(lg, 0).state != SLUICE_STATE_BACKOFF; t++)
        usleep(1000);
    double start = now_s();
    long left = sluice_close(rt, 300);
    double took = now_s() - start;
    cr_assert_eq(left, 10, "the 10 records are reported undelivered");
    cr_assert_lt(took, 3.0, "close took %.2f s with a 0.3 s timeout", took);
}

Test(supervisor, healthy_sink_carries_on_while_another_is_down)
{
    sluice_runtime *rt = start_ini(
        "[runtime]\nrestart_backoff_ms = 50..50\n"
        "[sink.c]\nplugin = capture\n[sink.f]\nplugin = fault\nfail_first_ms = 60000\n"
        "[logger.a]\nsinks = c, f\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    for (int i = 0; i < 500; i++)
        SLUICE_INFO(lg, "r%d", i);
    for (int t = 0; t < 5000 && capture_count() < 500; t++)
        usleep(1000);
    cr_assert_eq(capture_count(), 500, "the healthy sink waited for the failing one");
    /* the failing sink's worker may not have tried its first write yet */
    sluice_binding_stats down = stats_of(lg, 1);
    for (int t = 0; t < 5000 && down.failures == 0; t++) {
        usleep(1000);
        down = stats_of(lg, 1);
    }
    cr_assert_gt(down.failures, 0, "the failing sink never tried to write");
    cr_assert_eq(down.pending, 500);
    cr_assert_eq(sluice_close(rt, 200), 500);
}
