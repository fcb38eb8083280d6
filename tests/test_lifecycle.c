/*
 * test_lifecycle.c -- the edges of a runtime's life: close while producers
 * are inside a logging call (blocked on a full queue, or just coming in),
 * host-driven run loops that start before, during or after close, calls
 * after close returned, close with a failing sink that has a fallback,
 * and the plugin doorway's guards. Each race runs in a loop with both
 * orders forced; the suite also runs under ASan and TSan, where a thread
 * touching freed memory fails it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/sluice.h>

#include "helpers.h"
#include "runtime_internal.h"

TestSuite(lifecycle, .init = init_capture, .fini = fini_capture, .timeout = 240);

static void nap_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* A host-driven logger (nobody drains it until the test says so) with a
 * queue that blocks when full: one ring of 64 KiB (8192 units of 8 bytes),
 * where a "record %d" record (a 48-byte header, one argument) takes 7
 * units, so HELD of them fit. */
#define HELD 1170

static sluice_runtime *held_runtime(void)
{
    return start_ini("[sink.c]\nplugin = capture\npattern = %m\n"
                     "[logger.app]\nsinks = c\nqueue_size = 64K\n"
                     "producer_rings = 1\noverflow = block\nautostart = false\n");
}

/* A producer blocked in its call: it is waiting for room in the queue. */
static bool blocked_in_call(sluice_logger *lg)
{
    sluice_queue *q = sluice_logger_gen_(lg)->queues[0];
    for (unsigned i = 0; i < q->rings; i++)
        if (atomic_load(&q->ring[i].space_waiters) > 0)
            return true;
    return false;
}

static bool close_began(sluice_logger *lg)
{
    return sluice_get_level(lg) == SLUICE_LEVEL_OFF;
}

typedef struct producer {
    sluice_logger *lg;
    int from, count;
    atomic_int done;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    for (int i = p->from; i < p->from + p->count; i++)
        SLUICE_INFO(p->lg, "record %d", i);
    atomic_store(&p->done, 1);
    return NULL;
}

typedef struct closer {
    sluice_runtime *rt;
    int timeout_ms;
    long undelivered;
} closer;

static void *do_close(void *arg)
{
    closer *c = arg;
    c->undelivered = sluice_close(c->rt, c->timeout_ms);
    return NULL;
}

typedef struct runner {
    sluice_binding *b;
    int rc;
    sluice_error err;
} runner;

static void *do_run(void *arg)
{
    runner *r = arg;
    r->rc = sluice_binding_run(r->b, &r->err);
    return NULL;
}

/* ---- close while a producer is inside a logging call ----------------- */

Test(lifecycle, close_wakes_a_producer_blocked_on_a_full_queue_and_counts_its_record)
{
    sluice_runtime *rt = held_runtime();
    sluice_logger *lg = sluice_logger_get(rt, "app");
    producer p = {lg, 0, HELD + 1, 0};
    pthread_t t;
    pthread_create(&t, NULL, produce, &p);
    while (!blocked_in_call(lg))
        nap_us(100);
    /* nobody runs the loop: the queued records are undelivered */
    cr_assert_eq(sluice_close(rt, 100), HELD);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&p.done), 1);
    sluice_logger_stats st;
    cr_assert_eq(sluice_logger_stats_get(lg, &st), 0, "stats as close left them");
    cr_assert_eq(st.attempted, HELD + 1);
    cr_assert_eq(st.accepted, HELD);
    cr_assert_eq(st.dropped, 1);
    cr_assert_eq(st.closed, 1, "the blocked record is refused as closed");
    cr_assert_eq(capture_count(), 0);
}

/* Both orders at once, in a loop: one producer is blocked inside its call
 * when close begins, another comes in after close began; then the run
 * loop comes and drains. */
Test(lifecycle, producers_inside_and_coming_in_during_close_in_a_loop)
{
    int rounds = 0;
    time_t stop = time(NULL) + 8;
    for (; rounds < 1000 && (rounds < 50 || time(NULL) < stop); rounds++) {
        capture_reset();
        sluice_runtime *rt = held_runtime();
        sluice_logger *lg = sluice_logger_get(rt, "app");
        producer a = {lg, 0, HELD + 1, 0};
        pthread_t ta, tc, tb, tr;
        pthread_create(&ta, NULL, produce, &a);
        while (!blocked_in_call(lg))
            sched_yield();
        closer c = {rt, -1, -1};
        pthread_create(&tc, NULL, do_close, &c);
        while (!close_began(lg))
            sched_yield();
        producer b = {lg, 100, 3, 0};
        pthread_create(&tb, NULL, produce, &b);
        pthread_join(tb, NULL);
        runner r = {sluice_logger_binding(lg, 0), -1, {{0}}};
        pthread_create(&tr, NULL, do_run, &r);
        pthread_join(ta, NULL);
        pthread_join(tc, NULL);
        pthread_join(tr, NULL);
        cr_assert_eq(c.undelivered, 0, "round %d", rounds);
        cr_assert_eq(r.rc, 0, "round %d: %s", rounds, r.err.message);
        cr_assert_eq(capture_count(), HELD, "round %d", rounds);
        sluice_logger_stats st;
        cr_assert_eq(sluice_logger_stats_get(lg, &st), 0);
        cr_assert_eq(st.attempted, HELD + 1,
                     "round %d: calls after close began count nothing", rounds);
        cr_assert_eq(st.accepted, HELD);
        cr_assert_eq(st.closed, 1);
        /* after close returned, the logger is a husk: calls return at once */
        SLUICE_INFO(lg, "after %d", 1);
        cr_assert_eq(sluice_binding_run(r.b, &r.err), 0);
        cr_assert_eq(capture_count(), HELD);
    }
    cr_log_info("%d rounds", rounds);
}

/* Many producers hammering a supervised logger while it closes at a
 * random moment; then they go on calling into the closed logger. Every
 * call is accounted for; nothing is touched after it is freed. */
typedef struct hammer {
    sluice_logger *lg;
    atomic_int *stop;
    unsigned long calls;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    while (!atomic_load(h->stop)) {
        SLUICE_INFO(h->lg, "n %lu", h->calls);
        SLUICE_WARN(h->lg, "s %s %lu", "str", h->calls);
        h->calls += 2;
    }
    return NULL;
}

Test(lifecycle, close_at_random_moments_under_many_producers)
{
    unsigned seed = (unsigned)time(NULL);
    cr_log_info("seed %u", seed);
    time_t stop_at = time(NULL) + 8;
    for (int round = 0; round < 300 && (round < 20 || time(NULL) < stop_at); round++) {
        capture_reset();
        const char *policy = (round % 3 == 0)   ? "block"
                             : (round % 3 == 1) ? "drop_newest"
                                                : "drop_oldest";
        char ini[512];
        snprintf(ini, sizeof ini,
                 "[sink.c]\nplugin = capture\npattern = %%m\n"
                 "[logger.app]\nsinks = c\nqueue_capacity = 64\noverflow = %s\n",
                 policy);
        sluice_runtime *rt = start_ini(ini);
        sluice_logger *lg = sluice_logger_get(rt, "app");
        atomic_int stop = 0;
        hammer h[3];
        pthread_t t[3];
        for (int i = 0; i < 3; i++) {
            h[i] = (hammer){lg, &stop, 0};
            pthread_create(&t[i], NULL, hammer_run, &h[i]);
        }
        nap_us((long)(rand_r(&seed) % 3000));
        long left = sluice_close(rt, 2000);
        nap_us(500); /* they go on calling into the closed logger */
        atomic_store(&stop, 1);
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
        cr_assert_eq(left, 0, "round %d (%s): nothing left undelivered", round, policy);
        sluice_logger_stats st;
        cr_assert_eq(sluice_logger_stats_get(lg, &st), 0);
        cr_assert_eq(st.attempted, st.accepted + st.dropped);
        /* each record accepted was written, or lost to drop_oldest: as the
         * binding counts it (a record evicted while its sink was writing it
         * counts once, as written, if the write went through) */
        sluice_binding_stats bs;
        cr_assert_eq(sluice_binding_stats_get(sluice_logger_binding(lg, 0), &bs), 0);
        cr_assert_eq(bs.written + bs.evicted, st.accepted,
                     "round %d (%s): written %llu + evicted %llu != accepted %llu",
                     round, policy, (unsigned long long)bs.written,
                     (unsigned long long)bs.evicted, (unsigned long long)st.accepted);
        cr_assert_eq(bs.written, (uint64_t)capture_count(), "round %d (%s)", round,
                     policy);
        cr_assert_leq(bs.evicted, st.evicted, "round %d", round);
    }
}

/* ---- host-driven run loops and close --------------------------------- */

static sluice_runtime *host_runtime(void)
{
    return start_ini("[sink.c]\nplugin = capture\npattern = %m\n"
                     "[logger.app]\nsinks = c\nautostart = false\n");
}

static void log_n(sluice_logger *lg, int n)
{
    for (int i = 0; i < n; i++)
        SLUICE_INFO(lg, "record %d", i);
}

Test(lifecycle, run_loop_started_before_close_delivers_everything)
{
    sluice_runtime *rt = host_runtime();
    sluice_logger *lg = sluice_logger_get(rt, "app");
    runner r = {sluice_logger_binding(lg, 0), -1, {{0}}};
    pthread_t tr;
    pthread_create(&tr, NULL, do_run, &r);
    log_n(lg, 100);
    cr_assert_eq(sluice_close(rt, -1), 0);
    pthread_join(tr, NULL);
    cr_assert_eq(r.rc, 0, "%s", r.err.message);
    cr_assert_eq(capture_count(), 100);
}

Test(lifecycle, run_loop_started_during_close_delivers_everything)
{
    sluice_runtime *rt = host_runtime();
    sluice_logger *lg = sluice_logger_get(rt, "app");
    log_n(lg, 100);
    closer c = {rt, -1, -1};
    pthread_t tc, tr;
    pthread_create(&tc, NULL, do_close, &c);
    while (!close_began(lg))
        sched_yield();
    runner r = {sluice_logger_binding(lg, 0), -1, {{0}}};
    pthread_create(&tr, NULL, do_run, &r);
    pthread_join(tc, NULL);
    pthread_join(tr, NULL);
    cr_assert_eq(c.undelivered, 0);
    cr_assert_eq(r.rc, 0, "%s", r.err.message);
    cr_assert_eq(capture_count(), 100);
}

Test(lifecycle, run_loop_started_after_close_returns_at_once)
{
    sluice_runtime *rt = host_runtime();
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_binding *b = sluice_logger_binding(lg, 0);
    log_n(lg, 100);
    cr_assert_eq(sluice_close(rt, 20), 100, "close counts what no run loop took");
    runner r = {b, -1, {{0}}};
    pthread_t tr;
    pthread_create(&tr, NULL, do_run, &r);
    pthread_join(tr, NULL);
    cr_assert_eq(r.rc, 0, "a run loop on a closed runtime is over at once");
    cr_assert_eq(capture_count(), 0);
    sluice_binding_stats st;
    cr_assert_eq(sluice_binding_stats_get(b, &st), 0);
    cr_assert_eq(st.pending, 100);
}

/* The documented pattern (spawn the run loop, log, close) with the run
 * loop's thread arriving before, during or after close, in a loop. */
Test(lifecycle, spawn_log_close_with_the_run_loop_arriving_at_any_time)
{
    time_t stop_at = time(NULL) + 8;
    for (int round = 0; round < 900 && (round < 30 || time(NULL) < stop_at); round++) {
        capture_reset();
        int order = round % 3; /* 0 before, 1 during, 2 after close */
        sluice_runtime *rt = host_runtime();
        sluice_logger *lg = sluice_logger_get(rt, "app");
        runner r = {sluice_logger_binding(lg, 0), -1, {{0}}};
        pthread_t tr, tc;
        if (order == 0)
            pthread_create(&tr, NULL, do_run, &r);
        log_n(lg, 10);
        closer c = {rt, order == 2 ? 0 : -1, -1};
        pthread_create(&tc, NULL, do_close, &c);
        if (order == 1) {
            while (!close_began(lg))
                sched_yield();
            pthread_create(&tr, NULL, do_run, &r);
        }
        pthread_join(tc, NULL);
        if (order == 2)
            pthread_create(&tr, NULL, do_run, &r);
        pthread_join(tr, NULL);
        cr_assert_eq(r.rc, 0, "round %d: %s", round, r.err.message);
        cr_assert_eq((long)capture_count() + c.undelivered, 10,
                     "round %d (order %d): each record delivered or counted",
                     round, order);
        if (order != 2)
            cr_assert_eq(c.undelivered, 0, "round %d", round);
    }
}

/* ---- after close ------------------------------------------------------- */

Test(lifecycle, calls_after_close_returned_are_harmless)
{
    sluice_runtime *rt = start_ini("[sink.c]\nplugin = capture\npattern = %m\n"
                                   "[logger.app]\nsinks = c\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_binding *b = sluice_logger_binding(lg, 0);
    log_n(lg, 3);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    SLUICE_INFO(lg, "late %d", 1);
    SLUICE_INFO(lg, "late %s", "string");
    sluice_log_str(lg, SLUICE_LEVEL_ERROR, "late", 4);
    sluice_logf(lg, SLUICE_LEVEL_ERROR, "late %d", 2);
    sluice_set_level(lg, SLUICE_LEVEL_TRACE);
    cr_assert_eq(sluice_get_level(lg), SLUICE_LEVEL_OFF);
    sluice_error err;
    cr_assert_neq(sluice_logger_add_pre_hook(lg, NULL, NULL, &err), 0);
    cr_assert_eq(sluice_logger_flush(lg, 10), -1);
    cr_assert_neq(sluice_binding_resume(b, &err), 0);
    sluice_logger_stats st;
    cr_assert_eq(sluice_logger_stats_get(lg, &st), 0);
    cr_assert_eq(st.attempted, 3);
    cr_assert_eq(st.accepted, 3);
    sluice_binding_stats bs;
    cr_assert_eq(sluice_binding_stats_get(b, &bs), 0);
    cr_assert_eq(bs.written, 3);
    cr_assert_str_eq(bs.sink, "c");
    cr_assert_eq(capture_count(), 3);
}

static bool close_from_hook(void *user, sluice_hook_record *r)
{
    (void)r;
    long *out = user;
    sluice_runtime **rt = (sluice_runtime **)(out + 1);
    if (out[0] == 1)
        out[0] = sluice_close(*rt, 5000);
    else
        out[0]++;
    return true;
}

Test(lifecycle, a_pre_hook_may_close_its_own_runtime)
{
    sluice_runtime *rt = start_ini("[sink.c]\nplugin = capture\npattern = %m\n"
                                   "[logger.app]\nsinks = c\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    long box[2] = {0, 0};
    memcpy(&box[1], &rt, sizeof rt);
    sluice_error err;
    cr_assert_eq(sluice_logger_add_pre_hook(lg, close_from_hook, box, &err), 0);
    SLUICE_INFO(lg, "first %d", 1);  /* written */
    SLUICE_INFO(lg, "second %d", 2); /* its hook closes: the record is refused */
    cr_assert_eq(box[0], 0, "close returned: nothing left undelivered");
    SLUICE_INFO(lg, "third %d", 3);  /* the logger is a husk now */
    cr_assert_eq(capture_count(), 1);
    cr_assert(strstr(capture_sink.lines[0], "first 1"), "%s", capture_sink.lines[0]);
}

/* ---- close and the fallback ---------------------------------------------- */

Test(lifecycle, close_hands_a_failing_sinks_backlog_to_the_fallback)
{
    char *dir = tmpdir_make();
    char ini[1024];
    /* the capture sink always fails; restarts wait a whole second */
    snprintf(ini, sizeof ini,
             "[runtime]\nrestart_backoff_ms = 1000..1000\n"
             "[sink.c]\nplugin = capture\npattern = %%m\n"
             "[sink.f]\nplugin = file\npath = %s/fallback.log\npattern = %%m\n"
             "[logger.app]\nsinks = c\nfallback = f\n",
             dir);
    atomic_store(&capture_sink.fail, 1);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_binding *b = sluice_logger_binding(lg, 0);
    log_n(lg, 100);
    /* wait until the sink has failed and the binding is in its backoff */
    for (;;) {
        sluice_binding_stats st;
        sluice_binding_stats_get(b, &st);
        if (st.state == SLUICE_STATE_BACKOFF)
            break;
        nap_us(1000);
    }
    cr_assert_eq(sluice_close(rt, 5000), 0, "the backlog went to the fallback");
    sluice_binding_stats st;
    cr_assert_eq(sluice_binding_stats_get(b, &st), 0);
    cr_assert_eq(st.diverted, 100);
    cr_assert_eq(st.written, 0);
    char path[600];
    snprintf(path, sizeof path, "%s/fallback.log", dir);
    char *text = read_file(path, NULL);
    cr_assert_eq(count_lines(text), 100);
    free(text);
    tmpdir_remove(dir);
}

Test(lifecycle, close_diverts_a_host_driven_binding_whose_sink_failed)
{
    char *dir = tmpdir_make();
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[sink.c]\nplugin = capture\npattern = %%m\n"
             "[sink.f]\nplugin = file\npath = %s/fallback.log\npattern = %%m\n"
             "[logger.app]\nsinks = c\nfallback = f\nautostart = false\n",
             dir);
    atomic_store(&capture_sink.fail, 1);
    sluice_runtime *rt = start_ini(ini);
    sluice_logger *lg = sluice_logger_get(rt, "app");
    sluice_binding *b = sluice_logger_binding(lg, 0);
    log_n(lg, 50);
    sluice_error err;
    cr_assert_eq(sluice_binding_run(b, &err), -1, "the sink fails");
    /* the host does not run it again; close drains it into the fallback */
    cr_assert_eq(sluice_close(rt, 5000), 0);
    sluice_binding_stats st;
    cr_assert_eq(sluice_binding_stats_get(b, &st), 0);
    cr_assert_eq(st.diverted, 50);
    char path[600];
    snprintf(path, sizeof path, "%s/fallback.log", dir);
    char *text = read_file(path, NULL);
    cr_assert_eq(count_lines(text), 50);
    free(text);
    tmpdir_remove(dir);
}

/* ---- small ones ------------------------------------------------------------ */

Test(lifecycle, null_field_keys_and_values_are_stored_empty)
{
    sluice_runtime *rt = start_ini("[sink.c]\nplugin = capture\nformat = logfmt\n"
                                   "[logger.app]\nsinks = c\n");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO_KV(lg, SLUICE_KV({NULL, "v"}, {"k", NULL}), "m %d", 1);
    const sluice_kv kv[] = {{NULL, NULL}, {"a", "b"}};
    sluice_log_str_kv(lg, SLUICE_LEVEL_INFO, "t", 1, kv, 2);
    cr_assert_eq(sluice_close(rt, 5000), 0);
    cr_assert_eq(capture_count(), 2);
    cr_assert(strstr(capture_sink.lines[0], " k=\"\""), "%s", capture_sink.lines[0]);
    cr_assert(strstr(capture_sink.lines[1], " a=b"), "%s", capture_sink.lines[1]);
}

/* A minimal v1 table: it ends after close, and what lies beyond is not
 * the plugin's (here: garbage where reopen and check would be). */
typedef struct short_table {
    sluice_sink_api api;
} short_table;

static int short_open(const sluice_options *o, void **state, sluice_error *e)
{
    (void)o;
    (void)e;
    *state = NULL;
    return 0;
}

static int short_write(void *state, const sluice_record *const *batch, size_t n,
                       size_t *written, sluice_error *e)
{
    (void)state;
    (void)batch;
    (void)e;
    *written = n;
    return 0;
}

static void short_close(void *state) { (void)state; }

Test(lifecycle, optional_members_beyond_struct_size_are_never_called)
{
    static short_table t;
    memset(&t, 0xA5, sizeof t); /* what lies beyond struct_size: garbage */
    t.api.abi_version = 1;
    t.api.struct_size = offsetof(sluice_sink_api, close) + sizeof t.api.close;
    t.api.name = "short";
    t.api.description = "minimal";
    t.api.option_names = NULL;
    t.api.open = short_open;
    t.api.write = short_write;
    t.api.flush = NULL;
    t.api.close = short_close;
    sluice_error err;
    sluice_builder *b = sluice_builder_new("<test>");
    cr_assert_eq(sluice_builder_add_sink_api(b, &t.api, &err), 0, "%s", err.message);
    sluice_builder_set(b, "sink.s", "plugin", "short", 1, &err);
    sluice_builder_set(b, "logger.app", "sinks", "s", 2, &err);
    sluice_runtime *rt;
    cr_assert_eq(sluice_builder_start(b, &rt, &err), 0, "%s", err.message);
    cr_assert_eq(sluice_runtime_reopen(rt, &err), 0, "no reopen: nothing to do");
    SLUICE_INFO(sluice_logger_get(rt, "app"), "x %d", 1);
    cr_assert_eq(sluice_close(rt, 5000), 0);
}

/* ---- exit without close ---------------------------------------------------- */

/* Run tests/hosts/exit_host on a file sink; the lines the file got. */
static size_t lines_after_host(const char *mode, const char *runtime_keys,
                               int count)
{
    const char *host = getenv("SLUICE_EXIT_HOST");
    cr_assert_not_null(host, "SLUICE_EXIT_HOST is not set");
    char *dir = tmpdir_make();
    char ini[1024], path[600];
    snprintf(ini, sizeof ini,
             "[runtime]\n%s\n"
             "[sink.f]\nplugin = file\npath = %s/out.log\npattern = %%m\n"
             "[logger.app]\nsinks = f\nqueue_capacity = 4096\n",
             runtime_keys, dir);
    snprintf(path, sizeof path, "%s/app.ini", dir);
    write_text(path, ini);
    /* the host leaves without close on purpose: no leak report */
    int rc = sh(NULL, "ASAN_OPTIONS=detect_leaks=0 %s %s %d %s", host, path,
                count, mode);
    cr_assert_eq(rc, 0, "exit_host %s exited %d", mode, rc);
    snprintf(path, sizeof path, "%s/out.log", dir);
    char *text = read_file(path, NULL);
    size_t n = count_lines(text);
    free(text);
    tmpdir_remove(dir);
    return n;
}

Test(lifecycle, returning_from_main_without_close_drains_the_queues)
{
    cr_assert_eq(lines_after_host("return", "", 1001), 1001);
}

Test(lifecycle, exit_from_a_thread_without_close_drains_the_queues)
{
    cr_assert_eq(lines_after_host("exit", "flush_on_exit_ms = 5000", 1001), 1001);
}

Test(lifecycle, close_then_exit_is_the_control)
{
    cr_assert_eq(lines_after_host("close", "flush_on_exit_ms = 0", 1001), 1001);
}

/* ---- the queue memory limit ----------------------------------------------- */

Test(lifecycle, a_queue_larger_than_max_queue_memory_is_refused_with_its_line)
{
    char *msg = start_ini_fails(
        "[runtime]\nmax_queue_memory = 64M\n"
        "[sink.c]\nplugin = capture\n"
        "[logger.app]\nsinks = c\nqueue_capacity = 1048576\nworkers = 2\n");
    cr_assert(strstr(msg, "<string>:7: [logger.app]: its queues take 256.0 MiB"),
              "%s", msg);
    cr_assert(strstr(msg, "max_queue_memory = 64.0 MiB"), "%s", msg);
    free(msg);
    /* the default is 1 GiB */
    msg = start_ini_fails("[sink.c]\nplugin = capture\n"
                          "[logger.app]\nsinks = c\nqueue_capacity = 16777216\n");
    cr_assert(strstr(msg, "<string>:5: [logger.app]: its queues take 2.0 GiB"), "%s", msg);
    cr_assert(strstr(msg, "1.0 GiB (the default)"), "%s", msg);
    free(msg);
    msg = start_ini_fails("[runtime]\nmax_queue_memory = 010M\n"
                          "[sink.c]\nplugin = capture\n[logger.app]\nsinks = c\n");
    cr_assert(strstr(msg, "<string>:2: [runtime] max_queue_memory: '010M' is not a size"),
              "%s", msg);
    free(msg);
}

/* ---- the doorway keeps a careless plugin's SIGPIPE from the host -------- */

/* A third-party sink that writes with plain write(2), no guard of its own. */
static int careless_fd = -1;

static int careless_write(void *state, const sluice_record *const *batch,
                          size_t n, size_t *written, sluice_error *e)
{
    (void)state;
    *written = 0;
    for (size_t i = 0; i < n; i++) {
        if (write(careless_fd, batch[i]->line, batch[i]->line_len) < 0)
            return sluice_error_set(e, "careless: write: %s", strerror(errno));
        (*written)++;
    }
    return 0;
}

static int careless_flush(void *state, sluice_error *e)
{
    (void)state;
    if (write(careless_fd, "\n", 1) < 0)
        return sluice_error_set(e, "careless: flush: %s", strerror(errno));
    return 0;
}

static const sluice_sink_api careless_api = {
    .abi_version = SLUICE_SINK_ABI_VERSION,
    .struct_size = sizeof(sluice_sink_api),
    .name = "careless",
    .description = "writes to a pipe without guarding SIGPIPE",
    .option_names = capture_options,
    .open = short_open,
    .write = careless_write,
    .flush = careless_flush,
    .close = short_close,
};

static sluice_runtime *careless_runtime(const char *autostart)
{
    char ini[256];
    snprintf(ini, sizeof ini,
             "[sink.s]\nplugin = careless\n"
             "[logger.app]\nsinks = s\nautostart = %s\n",
             autostart);
    sluice_error err;
    sluice_builder *b = sluice_builder_from_string(ini, &err);
    cr_assert_not_null(b, "%s", err.message);
    cr_assert_eq(sluice_builder_add_sink_api(b, &careless_api, &err), 0);
    sluice_runtime *rt;
    cr_assert_eq(sluice_builder_start(b, &rt, &err), 0, "%s", err.message);
    return rt;
}

Test(lifecycle, a_plugin_writing_to_a_closed_pipe_cannot_kill_the_host)
{
    signal(SIGPIPE, SIG_DFL);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    close(p[0]); /* the reader has gone */
    careless_fd = p[1];
    /* on the host's own thread: a run loop the host drives, and a flush */
    sluice_runtime *rt = careless_runtime("false");
    sluice_logger *lg = sluice_logger_get(rt, "app");
    SLUICE_INFO(lg, "into a broken pipe %d", 1);
    sluice_error err;
    cr_assert_eq(sluice_binding_run(sluice_logger_binding(lg, 0), &err), -1);
    cr_assert(strstr(err.message, "Broken pipe"), "%s", err.message);
    cr_assert_eq(sluice_logger_flush(lg, 0), -1, "the flush fails, the host lives");
    cr_assert_eq(sluice_close(rt, 100), 1);
    /* on the runtime's worker thread */
    rt = careless_runtime("true");
    lg = sluice_logger_get(rt, "app");
    SLUICE_INFO(lg, "into a broken pipe %d", 2);
    sluice_binding *b = sluice_logger_binding(lg, 0);
    for (;;) {
        sluice_binding_stats st;
        sluice_binding_stats_get(b, &st);
        if (st.failures > 0) {
            cr_assert(strstr(st.last_error, "Broken pipe"), "%s", st.last_error);
            break;
        }
        nap_us(1000);
    }
    cr_assert_eq(sluice_close(rt, 100), 1);
    close(p[1]);
    sigset_t pending;
    sigpending(&pending);
    cr_assert_not(sigismember(&pending, SIGPIPE), "no SIGPIPE left pending");
}
