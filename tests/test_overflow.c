/*
 * Overflow policies under many producer threads, with exact counts:
 * attempted == accepted + dropped always, and what was accepted is exactly
 * what the sink receives.
 */
#include "helpers.h"

TestSuite(overflow, .init = init_capture, .fini = fini_capture, .timeout = 120);

#define THREADS 8
#define PER_THREAD 2000

typedef struct producer {
    sluice_logger *lg;
    int id;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    for (int i = 0; i < PER_THREAD; i++)
        SLUICE_INFO(p->lg, "t=%d i=%d", p->id, i);
    return NULL;
}

static void run_producers(sluice_logger *lg)
{
    pthread_t t[THREADS];
    producer p[THREADS];
    for (int i = 0; i < THREADS; i++) {
        p[i] = (producer){lg, i};
        pthread_create(&t[i], NULL, produce, &p[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

/* Parse "t=%d i=%d" out of every captured line; check per-thread order. */
static void check_order(int *last_seen, size_t *per_thread)
{
    for (int t = 0; t < THREADS; t++) {
        last_seen[t] = -1;
        per_thread[t] = 0;
    }
    for (size_t k = 0; k < capture_count(); k++) {
        const char *m = strstr(capture_sink.lines[k], "t=");
        cr_assert_not_null(m, "line without t=: %s", capture_sink.lines[k]);
        int t, i;
        cr_assert_eq(sscanf(m, "t=%d i=%d", &t, &i), 2);
        cr_assert(t >= 0 && t < THREADS);
        cr_assert_gt(i, last_seen[t], "thread %d: %d after %d (line %zu: %s; previous: %s)", t, i, last_seen[t], k, capture_sink.lines[k], k ? capture_sink.lines[k-1] : "");
        last_seen[t] = i;
        per_thread[t]++;
    }
}

typedef struct drainer {
    sluice_binding *b;
    int rc;
} drainer;

static void *drain_thread(void *arg)
{
    drainer *d = arg;
    sluice_error err;
    d->rc = sluice_binding_run(d->b, &err);
    return NULL;
}

/* One ring of 128 KiB; every record here ("t=%d i=%d": a 48-byte header
 * and two 8-byte arguments) takes 64 bytes, so exactly FIT fit. */
#define FIT (128 * 1024 / 64)

static const char *ini_for(const char *overflow, const char *extra)
{
    static char ini[512];
    snprintf(ini, sizeof ini,
             "[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\n"
             "queue_size = 128K\nproducer_rings = 1\nautostart = false\n"
             "overflow = %s\n%s",
             overflow, extra);
    return ini;
}

Test(overflow, drop_newest_counts_exactly)
{
    sluice_runtime *rt = start_ini(ini_for("drop_newest", ""));
    sluice_logger *lg = sluice_logger_get(rt, "a");
    run_producers(lg); /* nobody drains: exactly FIT fit */
    sluice_logger_stats st;
    sluice_logger_stats_get(lg, &st);
    cr_assert_eq(st.attempted, THREADS * PER_THREAD);
    cr_assert_eq(st.accepted, FIT);
    cr_assert_eq(st.dropped, THREADS * PER_THREAD - FIT);
    cr_assert_eq(st.overflowed, st.dropped);
    cr_assert_eq(st.attempted, st.accepted + st.dropped);
    drainer d = {sluice_logger_binding(lg, 0), -1};
    pthread_t t;
    pthread_create(&t, NULL, drain_thread, &d);
    cr_assert_eq(sluice_logger_flush(lg, 10000), 0);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    pthread_join(t, NULL);
    cr_assert_eq(d.rc, 0);
    cr_assert_eq(capture_count(), FIT, "the sink gets exactly what was accepted");
    int last[THREADS];
    size_t per[THREADS];
    check_order(last, per);
}

Test(overflow, drop_oldest_keeps_the_newest)
{
    sluice_runtime *rt = start_ini(ini_for("drop_oldest", ""));
    sluice_logger *lg = sluice_logger_get(rt, "a");
    run_producers(lg);
    sluice_logger_stats st;
    sluice_logger_stats_get(lg, &st);
    /* every call was accepted; the oldest were taken out again */
    cr_assert_eq(st.attempted, THREADS * PER_THREAD);
    cr_assert_eq(st.accepted, THREADS * PER_THREAD);
    cr_assert_eq(st.dropped, 0);
    cr_assert_eq(st.evicted, THREADS * PER_THREAD - FIT);
    sluice_binding_stats bs;
    sluice_binding_stats_get(sluice_logger_binding(lg, 0), &bs);
    cr_assert_eq(bs.evicted, THREADS * PER_THREAD - FIT);
    cr_assert_eq(bs.pending, FIT);
    drainer d = {sluice_logger_binding(lg, 0), -1};
    pthread_t t;
    pthread_create(&t, NULL, drain_thread, &d);
    cr_assert_eq(sluice_logger_flush(lg, 10000), 0);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    pthread_join(t, NULL);
    cr_assert_eq(capture_count(), FIT);
    int last[THREADS];
    size_t per[THREADS];
    check_order(last, per);
    /* the survivors are exactly the FIT newest, in order: queue positions
     * (in 8-unit records) 16000-FIT .. 15999 */
    for (size_t k = 0; k < capture_count(); k++)
        cr_assert_eq(capture_sink.records[k].sequence / 8,
                     THREADS * PER_THREAD - FIT + k,
                     "record %zu has queue position %llu", k,
                     (unsigned long long)capture_sink.records[k].sequence);
    /* and each thread kept its newest, up to its last */
    for (int i = 0; i < THREADS; i++)
        if (per[i])
            cr_assert_eq(last[i], PER_THREAD - 1, "thread %d lost its newest", i);
}

Test(overflow, block_with_timeout_drops_after_waiting)
{
    sluice_runtime *rt = start_ini(ini_for("block", "block_timeout_ms = 5\n"));
    sluice_logger *lg = sluice_logger_get(rt, "a");
    run_producers(lg); /* nobody drains: each record past FIT waits 5 ms */
    sluice_logger_stats st;
    sluice_logger_stats_get(lg, &st);
    cr_assert_eq(st.accepted, FIT);
    cr_assert_eq(st.dropped, THREADS * PER_THREAD - FIT);
    sluice_close(rt, 0);
}

Test(overflow, block_loses_nothing_with_a_slow_sink)
{
    sluice_runtime *rt = start_ini(
        "[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\nqueue_capacity = 64\n"
        "overflow = block\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    run_producers(lg);
    cr_assert_eq(sluice_close(rt, 30000), 0);
    cr_assert_eq(capture_count(), THREADS * PER_THREAD);
    int last[THREADS];
    size_t per[THREADS];
    check_order(last, per);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(per[i], PER_THREAD);
}

Test(overflow, one_copy_many_sinks_failing_sink_never_duplicates_healthy_one)
{
    sluice_runtime *rt = start_ini(
        "[runtime]\nrestart_backoff_ms = 1..5\nrestart_intensity = unlimited\n"
        "[sink.c]\nplugin = capture\n[sink.f]\nplugin = fault\nfail_every = 3\n"
        "[logger.a]\nsinks = c, f\nqueue_capacity = 256\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    run_producers(lg);
    cr_assert_eq(sluice_logger_flush(lg, 30000), 0);
    sluice_binding_stats healthy, failing;
    sluice_binding_stats_get(sluice_logger_binding(lg, 0), &healthy);
    sluice_binding_stats_get(sluice_logger_binding(lg, 1), &failing);
    cr_assert_eq(healthy.written, THREADS * PER_THREAD);
    cr_assert_eq(failing.written, THREADS * PER_THREAD);
    cr_assert_gt(failing.failures, 0);
    cr_assert_eq(healthy.failures, 0);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), THREADS * PER_THREAD, "a failing sink made the healthy one write twice");
    int last[THREADS];
    size_t per[THREADS];
    check_order(last, per);
}

Test(overflow, lanes_keep_per_thread_order)
{
    sluice_runtime *rt = start_ini(
        "[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\nworkers = 4\n"
        "scheduler = round_robin\nqueue_capacity = 512\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    cr_assert_eq(sluice_logger_binding_count(lg), 4);
    run_producers(lg);
    cr_assert_eq(sluice_close(rt, 30000), 0);
    cr_assert_eq(capture_count(), THREADS * PER_THREAD);
    int last[THREADS];
    size_t per[THREADS];
    check_order(last, per);
}
