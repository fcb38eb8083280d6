/*
 * bench/sluice_bench.c -- the sluice side of the "Hot path" benchmark. One
 * workload per process (so each peak RSS is its own), chosen by argv:
 *
 *   sluice_bench latency THREADS CAPACITY [durable]   20-record batches,
 *                                                 20 us pauses
 *   sluice_bench throughput file|null CAPACITY [durable]   4,000,000
 *                                  records, timed until flushed and closed
 *   (durable: the logger's queue in a file beside the log, durable_sync =
 *   none: what the durable mode costs the same workload)
 *   sluice_bench cg-enabled|cg-disabled|cg-baseline N   loops callgrind counts
 *
 * Prints "key value" lines for bench/run. Plugins are found through
 * SLUICE_PLUGIN_PATH. Built a second time with -DBENCH_COUNT_WAKES as
 * sluice_bench_wakes, which interposes syscall(2) to count the futex wakes
 * a producer pays (diagnostic only; the figures come from the plain build).
 * Valid C11 and C++17: bench/sluice_bench_cxx.cpp compiles this very file
 * as C++, so the same workloads measure the macros from a C++ host.
 * Knows nothing of spdlog.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/sluice.h>

#include "harness.h"

#ifdef BENCH_COUNT_WAKES
#include <dlfcn.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <sys/syscall.h>

/* libsluice calls syscall() through its PLT; this definition wins. */
static _Thread_local uint64_t futex_wakes;
static long (*real_syscall)(long, ...);

long syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (nr == SYS_futex && (a[1] & FUTEX_CMD_MASK) == FUTEX_WAKE)
        futex_wakes++;
    return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static void wakes_init(void)
{
    real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    if (!real_syscall) {
        fprintf(stderr, "bench: dlsym(syscall) failed\n");
        exit(2);
    }
}
#endif

/* The durable mode (the workload's last argument is "durable"): the
 * queue's file, in the bench's folder. */
static char durable_file[600];
static int durable;

static sluice_runtime *open_runtime(const char *sink_ini, long capacity,
                                    const char *overflow, const char *level)
{
    char ini[2048], extra[700] = "";
    if (durable)
        snprintf(extra, sizeof extra, "durable = %s\ndurable_sync = none\n",
                 durable_file);
    snprintf(ini, sizeof ini,
             "%s\n"
             "[logger.bench]\n"
             "sinks = out\n"
             "level = %s\n"
             "queue_capacity = %ld\n"
             "overflow = %s\n%s",
             sink_ini, level, capacity, overflow, extra);
    sluice_runtime *rt;
    sluice_error err;
    if (sluice_open_string(ini, &rt, &err) != 0) {
        fprintf(stderr, "bench: sluice_open_string: %s\n", err.message);
        exit(2);
    }
    return rt;
}

static void file_sink_ini(char *out, size_t size, const char *dir)
{
    snprintf(out, size,
             "[sink.out]\n"
             "plugin = file\n"
             "path = %s/bench.log\n",
             dir);
}

/* The durable mode's file goes in the bench's folder too. */
static void durable_in(const char *dir)
{
    snprintf(durable_file, sizeof durable_file, "%s/bench.queue", dir);
}

static void cleanup_dir(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/bench.log", dir);
    unlink(path);
    if (durable)
        unlink(durable_file);
    rmdir(dir);
}

static void print_stats(sluice_logger *lg, const char *prefix)
{
    sluice_logger_stats st;
    if (sluice_logger_stats_get(lg, &st) == 0)
        printf("%sattempted %" PRIu64 "\n%sdropped %" PRIu64 "\n", prefix,
               st.attempted, prefix, st.dropped);
}

/* ---- latency ------------------------------------------------------------ */

typedef struct {
    sluice_logger *lg;
    int cpu;                 /* -1: not pinned */
    long warmup;             /* records logged before measuring */
    double ns_per_tick;
    uint64_t pause_ticks;
    double *samples;         /* BENCH_ITERATIONS, ns per record */
    unsigned char *woke;     /* 1 when the batch paid a futex wake */
    pthread_barrier_t *ready, *go, *warm;
} lat_arg;

static void *lat_thread(void *p)
{
    lat_arg *a = (lat_arg *)p;
    if (a->cpu >= 0)
        bench_pin(a->cpu);
    sluice_logger *lg = a->lg;
    for (long k = 0; k < a->warmup; k++)
        SLUICE_INFO(lg, BENCH_LATENCY_FORMAT, (uint64_t)k, (uint64_t)0, 0.5);
    pthread_barrier_wait(a->warm); /* main flushes the warm-up */
    pthread_barrier_wait(a->ready);
    pthread_barrier_wait(a->go);
    for (uint64_t i = 0; i < BENCH_ITERATIONS; i++) {
#ifdef BENCH_COUNT_WAKES
        uint64_t w0 = futex_wakes;
#endif
        uint64_t t0 = bench_ticks();
        for (uint64_t j = 0; j < BENCH_BATCH; j++)
            SLUICE_INFO(lg, BENCH_LATENCY_FORMAT, i, j, (double)i);
        uint64_t t1 = bench_ticks();
        a->samples[i] = (double)(t1 - t0) * a->ns_per_tick / BENCH_BATCH;
#ifdef BENCH_COUNT_WAKES
        a->woke[i] = futex_wakes != w0;
#endif
        bench_pause_ticks(a->pause_ticks);
    }
    return NULL;
}

static int run_latency(int threads, long capacity)
{
    int pin = threads == 1 && !getenv("BENCH_NO_PIN");
    if (pin)
        bench_pin(0); /* the worker thread inherits cpu 0 */
    double nspt = bench_calibrate();
    char dir[512], sink[700];
    bench_tmpdir(dir, sizeof dir);
    durable_in(dir);
    file_sink_ini(sink, sizeof sink, dir);
    /* drop_newest, not block: "dropped 0" then proves that no producer ever
     * found the queue full, i.e. nothing was measured while blocking. */
    sluice_runtime *rt = open_runtime(sink, capacity, "drop_newest", "info");
    sluice_logger *lg = sluice_logger_get(rt, "bench");

    pthread_barrier_t ready, go, warm;
    pthread_barrier_init(&ready, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&warm, NULL, (unsigned)threads + 1);
    pthread_t th[8];
    lat_arg args[8];
    for (int t = 0; t < threads; t++) {
        lat_arg *a = &args[t];
        a->lg = lg;
        a->cpu = pin ? 1 : -1;
        a->warmup = capacity / threads;
        a->ns_per_tick = nspt;
        a->pause_ticks = (uint64_t)(BENCH_PAUSE_NS / nspt);
        a->samples = (double *)calloc(BENCH_ITERATIONS, sizeof(double));
        a->woke = (unsigned char *)calloc(BENCH_ITERATIONS, 1);
        a->ready = &ready;
        a->go = &go;
        a->warm = &warm;
        pthread_create(&th[t], NULL, lat_thread, &args[t]);
    }
    /* Warm-up: every slot of the ring touched once (page faults, first-call
     * costs) and everything written, as spdlog's preallocated queue is. */
    pthread_barrier_wait(&warm);
    sluice_logger_flush(lg, -1);
    sluice_logger_stats before;
    sluice_logger_stats_get(lg, &before);
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&go);
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    sluice_logger_flush(lg, -1);
    sluice_logger_stats after;
    sluice_logger_stats_get(lg, &after);
    long left = sluice_close(rt, -1);

    size_t n = (size_t)threads * BENCH_ITERATIONS;
    double *all = (double *)malloc(n * sizeof *all);
    double *with = (double *)malloc(n * sizeof *with);
    double *without = (double *)malloc(n * sizeof *without);
    size_t nw = 0, nwo = 0;
    for (int t = 0; t < threads; t++)
        for (size_t i = 0; i < BENCH_ITERATIONS; i++) {
            double v = args[t].samples[i];
            all[(size_t)t * BENCH_ITERATIONS + i] = v;
            if (args[t].woke[i])
                with[nw++] = v;
            else
                without[nwo++] = v;
        }
    printf("threads %d\ncapacity %ld\nqueue_mib %.1f\ndurable %d\n", threads,
           capacity, (double)capacity * 128 / 1048576.0, durable);
    printf("pinned %d\nns_per_tick %.5f\n", pin, nspt);
    printf("measured_dropped %" PRIu64 "\n", after.dropped - before.dropped);
    printf("undelivered %ld\n", left);
    char path[600];
    snprintf(path, sizeof path, "%s/bench.log", dir);
    printf("lines %lld\n", bench_count_lines(path));
    bench_report_latency(all, n);
#ifdef BENCH_COUNT_WAKES
    printf("batches_with_wake %zu\n", nw);
    if (nw) {
        qsort(with, nw, sizeof *with, bench_cmp_double);
        printf("wake_p50_ns %.2f\nwake_p99_ns %.2f\n", bench_pct(with, nw, 50),
               bench_pct(with, nw, 99));
    }
    if (nwo) {
        qsort(without, nwo, sizeof *without, bench_cmp_double);
        printf("nowake_p50_ns %.2f\nnowake_p99_ns %.2f\nnowake_p99.9_ns %.2f\n",
               bench_pct(without, nwo, 50), bench_pct(without, nwo, 99),
               bench_pct(without, nwo, 99.9));
    }
#endif
    printf("peak_rss_kib %ld\n", bench_peak_rss_kib());
    cleanup_dir(dir);
    for (int t = 0; t < threads; t++) {
        free(args[t].samples);
        free(args[t].woke);
    }
    free(all);
    free(with);
    free(without);
    return 0;
}

/* ---- throughput --------------------------------------------------------- */

static int run_throughput(const char *kind, long capacity)
{
    int pin = !getenv("BENCH_NO_PIN");
    if (pin)
        bench_pin(0);
    char dir[512], sink[700];
    bench_tmpdir(dir, sizeof dir);
    durable_in(dir);
    if (strcmp(kind, "file") == 0)
        file_sink_ini(sink, sizeof sink, dir);
    else
        snprintf(sink, sizeof sink, "[sink.out]\nplugin = null\n");
    sluice_runtime *rt = open_runtime(sink, capacity, "block", "info");
    sluice_logger *lg = sluice_logger_get(rt, "bench");
    if (pin)
        bench_pin(1); /* the producer: this thread, on the other cpu */

    const uint64_t n = BENCH_THROUGHPUT_RECORDS;
    int64_t t0 = bench_mono_ns();
    for (uint64_t i = 0; i < n; i++)
        SLUICE_INFO(lg, BENCH_THROUGHPUT_FORMAT, i, i * 2, (double)i / 2);
    int64_t t1 = bench_mono_ns();
    sluice_logger_flush(lg, -1);
    print_stats(lg, "");
    long left = sluice_close(rt, -1);
    int64_t t2 = bench_mono_ns();

    printf("sink %s\ncapacity %ld\nqueue_mib %.1f\ndurable %d\n", kind, capacity,
           (double)capacity * 128 / 1048576.0, durable);
    printf("records %" PRIu64 "\n", n);
    printf("undelivered %ld\n", left);
    printf("producer_s %.4f\ntotal_s %.4f\n", (t1 - t0) / 1e9, (t2 - t0) / 1e9);
    printf("records_per_s %.0f\n", (double)n / ((t2 - t0) / 1e9));
    if (strcmp(kind, "file") == 0) {
        char path[600];
        snprintf(path, sizeof path, "%s/bench.log", dir);
        printf("lines %lld\nbytes %lld\n", bench_count_lines(path),
               bench_file_size(path));
    }
    printf("peak_rss_kib %ld\n", bench_peak_rss_kib());
    cleanup_dir(dir);
    return 0;
}

/* ---- callgrind: only these two functions are counted -------------------- */

/* The names callgrind toggles on, unmangled in the C++ build too. */
#ifdef __cplusplus
#define BENCH_COUNTED extern "C" BENCH_NOINLINE
#else
#define BENCH_COUNTED BENCH_NOINLINE
#endif

BENCH_COUNTED void bench_sluice_enabled(sluice_logger *lg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        SLUICE_INFO(lg, BENCH_LATENCY_FORMAT, i, i * 2, (double)i);
}

BENCH_COUNTED void bench_sluice_disabled(sluice_logger *lg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        SLUICE_DEBUG(lg, BENCH_LATENCY_FORMAT, i, i * 2, (double)i);
}

/* The bare loop, to subtract its own instructions from the two above. */
BENCH_COUNTED void bench_loop_baseline(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        __asm__ volatile("" : : "r"(i) : "memory");
}

static int run_callgrind(int enabled, long n)
{
    if (enabled < 0) {
        bench_loop_baseline((uint64_t)n);
        printf("calls %ld\n", n);
        return 0;
    }
    /* The queue holds every call, so no call ever waits for the worker
     * (valgrind runs one thread at a time). */
    long capacity = 2;
    while (capacity < n + 1024)
        capacity *= 2;
    char dir[512] = "";
    if (durable) {
        bench_tmpdir(dir, sizeof dir);
        durable_in(dir);
    }
    sluice_runtime *rt = open_runtime("[sink.out]\nplugin = null\n", capacity,
                                      "block", "info");
    sluice_logger *lg = sluice_logger_get(rt, "bench");
    SLUICE_INFO(lg, "first call %d", 1); /* thread id, lazy first-call work */
    if (enabled)
        bench_sluice_enabled(lg, (uint64_t)n);
    else
        bench_sluice_disabled(lg, (uint64_t)n);
    sluice_logger_flush(lg, -1);
    print_stats(lg, "");
    sluice_close(rt, -1);
    printf("calls %ld\n", n);
    if (durable)
        cleanup_dir(dir);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
#ifdef BENCH_COUNT_WAKES
    wakes_init();
#endif
    durable = argc >= 5 && strcmp(argv[argc - 1], "durable") == 0;
    if (argc >= 4 && strcmp(argv[1], "latency") == 0)
        return run_latency(atoi(argv[2]), atol(argv[3]));
    if (argc >= 4 && strcmp(argv[1], "throughput") == 0)
        return run_throughput(argv[2], atol(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "cg-enabled") == 0) {
        durable = argc >= 4 && strcmp(argv[3], "durable") == 0;
        return run_callgrind(1, atol(argv[2]));
    }
    if (argc >= 3 && strcmp(argv[1], "cg-disabled") == 0)
        return run_callgrind(0, atol(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "cg-baseline") == 0)
        return run_callgrind(-1, atol(argv[2]));
    fprintf(stderr,
            "usage: %s latency THREADS CAPACITY [durable] | throughput "
            "file|null CAPACITY [durable] | cg-enabled N [durable] | "
            "cg-disabled|cg-baseline N\n",
            argv[0]);
    return 2;
}
