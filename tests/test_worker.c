/*
 * The worker run loop, rule by rule, on loggers with autostart = false so
 * the test drives run() itself.
 */
#include "helpers.h"
#include "clock_internal.h"
#include "queue_internal.h"

TestSuite(worker, .init = init_capture, .fini = fini_capture, .timeout = 60);

static const char *manual_ini =
    "[sink.c]\nplugin = capture\n"
    "[logger.a]\nsinks = c\nautostart = false\nflush_interval_ms = 3600000\n";

typedef struct runner {
    sluice_binding *b;
    int rc;
    sluice_error err;
} runner;

static void *run_thread(void *arg)
{
    runner *r = arg;
    r->rc = sluice_binding_run(r->b, &r->err);
    return NULL;
}

static sluice_binding_stats stats_of(sluice_binding *b)
{
    sluice_binding_stats st;
    cr_assert_eq(sluice_binding_stats_get(b, &st), 0);
    return st;
}

static void wait_for(int (*cond)(void *), void *arg)
{
    for (int i = 0; i < 10000 && !cond(arg); i++)
        usleep(1000);
    cr_assert(cond(arg), "condition not reached within 10 s");
}

static int captured_at_least(void *arg)
{
    return capture_count() >= (size_t)(uintptr_t)arg;
}

Test(worker, run_sets_is_running_before_draining_and_returns_0_on_close)
{
    sluice_runtime *rt = start_ini(manual_ini);
    sluice_logger *lg = sluice_logger_get(rt, "a");
    sluice_binding *b = sluice_logger_binding(lg, 0);
    capture_sink.watch = b;
    cr_assert_eq(stats_of(b).state, SLUICE_STATE_IDLE);
    cr_assert_not(stats_of(b).is_running);
    for (int i = 0; i < 10; i++)
        SLUICE_INFO(lg, "record %d", i);
    runner r = {b, -1, {{0}}};
    pthread_t t;
    pthread_create(&t, NULL, run_thread, &r);
    wait_for(captured_at_least, (void *)(uintptr_t)10);
    cr_assert(atomic_load(&capture_sink.saw_running), "is_running was not set while writing");
    cr_assert(stats_of(b).is_running);
    cr_assert_eq(stats_of(b).state, SLUICE_STATE_RUNNING);
    long left = sluice_close(rt, 5000); /* closes the queue: run() returns 0 */
    pthread_join(t, NULL);
    cr_assert_eq(r.rc, 0, "run() returned %d: %s", r.rc, r.err.message);
    cr_assert_eq(left, 0);
    cr_assert_eq(capture_count(), 10);
}

Test(worker, failure_keeps_backlog_and_a_later_run_resumes_it)
{
    sluice_runtime *rt = start_ini(manual_ini);
    sluice_logger *lg = sluice_logger_get(rt, "a");
    sluice_binding *b = sluice_logger_binding(lg, 0);
    for (int i = 0; i < 100; i++)
        SLUICE_INFO(lg, "n=%d", i);
    atomic_store(&capture_sink.fail, 1);
    atomic_store(&capture_sink.partial, 40); /* confirms 40, then fails */
    sluice_error err;
    int rc = sluice_binding_run(b, &err);
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err.message, "capture: scripted failure"), "%s", err.message);
    sluice_binding_stats st = stats_of(b);
    cr_assert(st.has_failed);
    cr_assert_not(st.is_running);
    cr_assert_eq(st.state, SLUICE_STATE_FAILED);
    cr_assert(strstr(st.last_error, "scripted failure"), "last_error: %s", st.last_error);
    cr_assert_eq(st.written, 40);
    cr_assert_eq(st.pending, 60, "the 60 unconfirmed records stay queued");
    cr_assert_eq(st.failures, 1);

    /* the sink recovers: the next run() starts with record 40 */
    atomic_store(&capture_sink.fail, 0);
    capture_sink.watch = b;
    runner r = {b, -1, {{0}}};
    pthread_t t;
    pthread_create(&t, NULL, run_thread, &r);
    wait_for(captured_at_least, (void *)(uintptr_t)100);
    cr_assert(atomic_load(&capture_sink.saw_failed_cleared),
              "has_failed/last_error not cleared once the new run started");
    cr_assert_eq(sluice_close(rt, 5000), 0);
    pthread_join(t, NULL);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(capture_count(), 100);
    for (int i = 0; i < 100; i++) {
        char want[32];
        snprintf(want, sizeof want, "n=%d\n", i);
        cr_assert(strstr(capture_sink.lines[i], want), "line %d is %s", i,
                  capture_sink.lines[i]);
    }
}

Test(worker, failed_state_stays_until_the_new_run_has_started)
{
    sluice_runtime *rt = start_ini(manual_ini);
    sluice_logger *lg = sluice_logger_get(rt, "a");
    sluice_binding *b = sluice_logger_binding(lg, 0);
    SLUICE_INFO(lg, "one");
    atomic_store(&capture_sink.fail, 1);
    sluice_error err;
    cr_assert_eq(sluice_binding_run(b, &err), -1);
    /* a refused concurrent run must not clear the failure either: run a
     * hanging run and try a second one */
    atomic_store(&capture_sink.fail, 0);
    atomic_store(&capture_sink.hang_ms, 300);
    runner r = {b, -1, {{0}}};
    pthread_t t;
    pthread_create(&t, NULL, run_thread, &r);
    wait_for(captured_at_least, (void *)(uintptr_t)1);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    pthread_join(t, NULL);
    cr_assert_eq(r.rc, 0);
}

Test(worker, second_concurrent_run_is_refused)
{
    sluice_runtime *rt = start_ini(manual_ini);
    sluice_logger *lg = sluice_logger_get(rt, "a");
    sluice_binding *b = sluice_logger_binding(lg, 0);
    SLUICE_INFO(lg, "x");
    atomic_store(&capture_sink.hang_ms, 200);
    runner r = {b, -1, {{0}}};
    pthread_t t;
    pthread_create(&t, NULL, run_thread, &r);
    for (int i = 0; i < 5000 && !stats_of(b).is_running; i++)
        usleep(1000);
    sluice_error err;
    cr_assert_eq(sluice_binding_run(b, &err), -1);
    cr_assert(strstr(err.message, "already running"), "%s", err.message);
    cr_assert(stats_of(b).is_running, "the refused run must not disturb the running one");
    cr_assert_not(stats_of(b).has_failed);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    pthread_join(t, NULL);
    cr_assert_eq(r.rc, 0);
}

Test(worker, flushes_on_the_interval_not_per_record)
{
    sluice_runtime *rt = start_ini("[sink.c]\nplugin = capture\n"
                                   "[logger.a]\nsinks = c\nflush_interval_ms = 100000\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    for (int i = 0; i < 5000; i++)
        SLUICE_INFO(lg, "r%d", i);
    wait_for(captured_at_least, (void *)(uintptr_t)5000);
    cr_assert_eq(atomic_load(&capture_sink.flushes), 0,
                 "flushed %d times before the interval", atomic_load(&capture_sink.flushes));
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(atomic_load(&capture_sink.flushes), 1, "close flushes once");
}

Test(worker, flush_interval_elapses)
{
    sluice_runtime *rt = start_ini("[sink.c]\nplugin = capture\n"
                                   "[logger.a]\nsinks = c\nflush_interval_ms = 20\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    SLUICE_INFO(lg, "r");
    for (int i = 0; i < 5000 && atomic_load(&capture_sink.flushes) == 0; i++)
        usleep(1000);
    cr_assert_geq(atomic_load(&capture_sink.flushes), 1, "no flush within 5 s");
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

Test(worker, close_returns_within_timeout_when_a_sink_hangs)
{
    sluice_runtime *rt = start_ini("[sink.c]\nplugin = capture\n[logger.a]\nsinks = c\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    atomic_store(&capture_sink.hang_ms, 1500);
    for (int i = 0; i < 10; i++)
        SLUICE_INFO(lg, "r%d", i);
    usleep(50000); /* let the worker enter write() */
    long left = sluice_close(rt, 200);
    cr_assert_gt(left, 0, "records stuck in a hanging sink are counted as undelivered");
    usleep(1600000); /* let the stuck worker come back and free */
}

Test(worker, counters_add_up_with_two_sinks)
{
    sluice_runtime *rt = start_ini("[sink.c]\nplugin = capture\n[sink.n]\nplugin = null\n"
                                   "[logger.a]\nsinks = c, n\n");
    sluice_logger *lg = sluice_logger_get(rt, "a");
    for (int i = 0; i < 1000; i++)
        SLUICE_INFO(lg, "r%d", i);
    cr_assert_eq(sluice_logger_flush(lg, 10000), 0);
    sluice_logger_stats ls;
    sluice_logger_stats_get(lg, &ls);
    cr_assert_eq(ls.attempted, 1000);
    cr_assert_eq(ls.accepted, 1000);
    cr_assert_eq(ls.dropped, 0);
    cr_assert_eq(ls.pending, 0);
    cr_assert_eq(ls.binding_count, 2);
    for (size_t i = 0; i < 2; i++) {
        sluice_binding_stats st = stats_of(sluice_logger_binding(lg, i));
        cr_assert_eq(st.written, 1000, "binding %zu (%s) wrote %llu", i, st.sink,
                     (unsigned long long)st.written);
    }
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

/* ---- settling: a take leaves the youngest records (queue_internal.h) ---- */

static void put_text(sluice_queue *q, uint64_t ticks)
{
    sluice_ring *ring = &q->ring[0];
    uint32_t units = sluice_rec_units(8);
    uint64_t off;
    sluice_rec *rec = sluice_queue_claim(q, ring, units, SLUICE_OVERFLOW_BLOCK, 0, &off);
    cr_assert_not_null(rec);
    rec->units = units;
    rec->length = 8;
    rec->callsite = NULL;
    rec->ticks = ticks;
    sluice_rec_set_id(rec, 1, SLUICE_LEVEL_INFO, SLUICE_KIND_TEXT, 0);
    rec->args_length = 8;
    rec->check = 0;
    memcpy(rec->payload, "12345678", 8);
    sluice_queue_publish(q, ring, rec, off);
}

static size_t take_release(sluice_queue *q, sluice_taken *batch, uint64_t *ticks)
{
    size_t n = sluice_queue_take(q, 0, batch, 8);
    for (size_t i = 0; i < n; i++)
        ticks[i] = batch[i].rec->ticks;
    sluice_queue_release(q, 0, batch, n, n);
    return n;
}

Test(worker, a_take_leaves_records_younger_than_the_settle_time_until_sealed)
{
    sluice_clock_init();
    if (!sluice_clock_uses_tsc_)
        cr_skip_test("settling needs TSC ticks");
    sluice_queue *q = sluice_queue_create(64 * 1024, 1, 1);
    cr_assert_not_null(q);
    uint64_t hour = sluice_clock_tsc_ticks_for_ns(3600LL * 1000000000LL);
    cr_assert_gt(hour, 0);
    sluice_queue_set_settle(q, hour);
    sluice_taken batch[8];
    uint64_t ticks[8];
    cr_assert_eq(take_release(q, batch, ticks), 0, "the consumer's first take");
    uint64_t now = sluice_clock_ticks();
    put_text(q, now - 2 * hour); /* old: taken */
    put_text(q, now + 2 * hour); /* "from the future": not held either */
    put_text(q, now);            /* young: left */
    cr_assert_eq(take_release(q, batch, ticks), 2);
    cr_assert_eq(ticks[0], now - 2 * hour);
    cr_assert_eq(ticks[1], now + 2 * hour);
    cr_assert_eq(take_release(q, batch, ticks), 0, "the young record waits");
    cr_assert(!sluice_queue_drained(q, 0));
    sluice_queue_seal(q);
    cr_assert_eq(take_release(q, batch, ticks), 1, "sealed: the queue drains whole");
    cr_assert_eq(ticks[0], now);
    cr_assert(sluice_queue_drained(q, 0));
    sluice_queue_destroy(q);
}

/* A run loop started by the host gets at once what was logged before it
 * started, however young. */
Test(worker, a_consumers_first_take_gives_every_record_however_young)
{
    sluice_clock_init();
    if (!sluice_clock_uses_tsc_)
        cr_skip_test("settling needs TSC ticks");
    sluice_queue *q = sluice_queue_create(64 * 1024, 1, 2);
    cr_assert_not_null(q);
    sluice_queue_set_settle(q, sluice_clock_tsc_ticks_for_ns(3600LL * 1000000000LL));
    uint64_t now = sluice_clock_ticks();
    for (int i = 0; i < 3; i++)
        put_text(q, now);
    sluice_taken batch[8];
    uint64_t ticks[8];
    cr_assert_eq(take_release(q, batch, ticks), 3, "consumer 0's first take");
    put_text(q, now);
    cr_assert_eq(take_release(q, batch, ticks), 0, "its second leaves the young one");
    size_t n = sluice_queue_take(q, 1, batch, 8);
    cr_assert_eq(n, 4, "consumer 1's first take gets all four");
    sluice_queue_release(q, 1, batch, n, n);
    sluice_queue_destroy(q);
}

Test(worker, a_queue_without_a_settle_time_gives_every_record_at_once)
{
    sluice_clock_init();
    sluice_queue *q = sluice_queue_create(64 * 1024, 1, 1);
    cr_assert_not_null(q);
    put_text(q, sluice_clock_ticks());
    sluice_taken batch[8];
    uint64_t ticks[8];
    cr_assert_eq(take_release(q, batch, ticks), 1);
    sluice_queue_destroy(q);
}
