/*
 * bench/sluice_bench.c -- the sluice side of the benchmark. One workload per
 * process (so each peak RSS is its own), chosen by argv:
 *
 *   sluice_bench latency THREADS numbers|strings [KEY=VALUE...]
 *       20-record batches, 20 us pauses, into the file sink
 *   sluice_bench throughput file|null [post-hook] [KEY=VALUE...]
 *       4,000,000 records, timed until flushed and closed; post-hook: with
 *       a post-hook that adds a field (what the post-hook stage costs)
 *   sluice_bench cg-enabled|cg-disabled|cg-baseline N [numbers|strings]
 *                [KEY=VALUE...]
 *       the loops callgrind counts
 *
 * The logger is what a user gets by default: no queue_size, so 16 MiB per
 * lane split into `producer_rings = auto` rings (faulted in at open), one
 * worker; latency with overflow = drop_newest (a producer the worker cannot
 * keep up with shows as measured_dropped), throughput with block. KEY=VALUE
 * arguments are more keys for its [logger.bench] section (a workload that
 * needs another queue says so in bench/run's table); "@DIR@" in a value is
 * the run's scratch directory. The file sink writes the message alone
 * (pattern = %m), the very bytes the spdlog peer writes, and each run
 * prints the digest of its file (bench/harness.h) for report.py to compare.
 *
 * Prints "key value" lines for bench/run. Plugins are found through
 * SLUICE_PLUGIN_PATH. Built a second time with -DBENCH_COUNT_WAKES as
 * sluice_bench_wakes, which interposes syscall(2) to count the futex wakes
 * a producer pays (diagnostic only; the figures come from the plain build).
 * Valid C11 and C++17: bench/sluice_bench_cxx.cpp compiles this very file
 * as C++, so the same workloads measure the macros from a C++ host.
 * Knows nothing of spdlog.
 */
#include <dirent.h>
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

typedef enum bench_record {
    RECORD_NUMBERS,          /* BENCH_LATENCY_FORMAT: two integers, a double */
    RECORD_STRINGS           /* BENCH_STRINGS_FORMAT: 60 and 15 bytes */
} bench_record;

static int parse_record(const char *name, bench_record *out)
{
    if (strcmp(name, "numbers") == 0)
        *out = RECORD_NUMBERS;
    else if (strcmp(name, "strings") == 0)
        *out = RECORD_STRINGS;
    else
        return -1;
    return 0;
}

static const char *const bench_user = BENCH_USER;
static const char *const bench_from = BENCH_FROM;

/* The extra [logger.bench] keys of argv, one per line, "@DIR@" replaced. */
static void logger_keys(char *out, size_t size, char **argv, int argc,
                        const char *dir)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "bench: '%s' is not KEY=VALUE\n", argv[i]);
            exit(2);
        }
        char line[1024];
        size_t n = 0;
        for (const char *c = argv[i]; *c && n + 1 < sizeof line; c++) {
            if (strncmp(c, "@DIR@", 5) == 0) {
                n += (size_t)snprintf(line + n, sizeof line - n, "%s", dir);
                if (n >= sizeof line)
                    n = sizeof line - 1;
                c += 4;
            } else {
                line[n++] = *c;
            }
        }
        line[n] = '\0';
        int w = snprintf(out + used, size - used, "%.*s = %s\n",
                         (int)(strchr(line, '=') - line), line,
                         strchr(line, '=') + 1);
        if (w < 0 || (size_t)w >= size - used) {
            fprintf(stderr, "bench: logger keys too long\n");
            exit(2);
        }
        used += (size_t)w;
    }
}

static sluice_runtime *open_runtime(const char *sink_ini, const char *overflow,
                                    const char *keys)
{
    char ini[8192];
    snprintf(ini, sizeof ini,
             "%s\n"
             "[logger.bench]\n"
             "sinks = out\n"
             "level = info\n"
             "overflow = %s\n"
             "%s",
             sink_ini, overflow, keys);
    sluice_runtime *rt;
    sluice_error err;
    if (sluice_open_string(ini, &rt, &err) != 0) {
        fprintf(stderr, "bench: sluice_open_string: %s\n", err.message);
        exit(2);
    }
    return rt;
}

/* The queue the logger has mapped, in bytes, all lanes and rings: the
 * sluice_queue_size_bytes gauges of the metrics text. */
static unsigned long long queue_bytes(sluice_runtime *rt)
{
    char *text = NULL;
    sluice_error err;
    if (sluice_runtime_metrics_write(rt, &text, NULL, &err) != 0) {
        fprintf(stderr, "bench: metrics: %s\n", err.message);
        return 0;
    }
    unsigned long long sum = 0;
    const char *name = "sluice_queue_size_bytes{";
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, name, strlen(name)) == 0) {
            const char *value = strchr(line, '}');
            if (value)
                sum += strtoull(value + 1, NULL, 10);
        }
        line = end ? end + 1 : NULL;
    }
    free(text);
    return sum;
}

static void print_queue(sluice_runtime *rt)
{
    unsigned long long bytes = queue_bytes(rt);
    printf("queue_bytes %llu\nqueue_mib %.1f\n", bytes, (double)bytes / 1048576.0);
}

static void file_sink_ini(char *out, size_t size, const char *dir)
{
    snprintf(out, size,
             "[sink.out]\n"
             "plugin = file\n"
             "pattern = %%m\n"
             "path = %s/bench.log\n",
             dir);
}

/* The scratch directory and the files a workload left in it. */
static void cleanup_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[800];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
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
    bench_record record;
    int cpu;                 /* -1: not pinned */
    double ns_per_tick;
    uint64_t pause_ticks;
    double *samples;         /* BENCH_ITERATIONS, ns per record */
    unsigned char *woke;     /* 1 when the batch paid a futex wake */
    pthread_barrier_t *ready, *go, *warm;
} lat_arg;

#ifdef BENCH_COUNT_WAKES
#define WAKES_BEFORE() uint64_t wakes_before = futex_wakes
#define WAKES_AFTER(a, i) ((a)->woke[i] = futex_wakes != wakes_before)
#else
#define WAKES_BEFORE() (void)0
#define WAKES_AFTER(a, i) (void)0
#endif

/* 50,000 batches of BENCH_BATCH calls of `call` (which may use i and j). */
#define LAT_BATCHES(a, call)                                                   \
    for (uint64_t i = 0; i < BENCH_ITERATIONS; i++) {                          \
        WAKES_BEFORE();                                                        \
        uint64_t t0 = bench_ticks();                                           \
        for (uint64_t j = 0; j < BENCH_BATCH; j++)                             \
            call;                                                              \
        uint64_t t1 = bench_ticks();                                           \
        (a)->samples[i] = (double)(t1 - t0) * (a)->ns_per_tick / BENCH_BATCH;  \
        WAKES_AFTER(a, i);                                                     \
        bench_pause_ticks((a)->pause_ticks);                                   \
    }

static void *lat_thread(void *p)
{
    lat_arg *a = (lat_arg *)p;
    if (a->cpu >= 0)
        bench_pin(a->cpu);
    sluice_logger *lg = a->lg;
    for (uint64_t k = 0; k < BENCH_WARMUP; k++) {
        if (a->record == RECORD_STRINGS)
            SLUICE_INFO(lg, BENCH_STRINGS_FORMAT, bench_user, bench_from);
        else
            SLUICE_INFO(lg, BENCH_LATENCY_FORMAT, k, (uint64_t)0, 0.5);
    }
    pthread_barrier_wait(a->warm); /* main waits until the warm-up is written */
    pthread_barrier_wait(a->ready);
    pthread_barrier_wait(a->go);
    if (a->record == RECORD_STRINGS)
        LAT_BATCHES(a, SLUICE_INFO(lg, BENCH_STRINGS_FORMAT, bench_user, bench_from))
    else
        LAT_BATCHES(a, SLUICE_INFO(lg, BENCH_LATENCY_FORMAT, i, j, (double)i))
    return NULL;
}

static int run_latency(int threads, bench_record record, const char *record_name,
                       char **keys_argv, int keys_argc)
{
    if (threads < 1 || threads > 8) {
        fprintf(stderr, "bench: THREADS is 1..8\n");
        return 2;
    }
    int pin = threads == 1 && !getenv("BENCH_NO_PIN");
    if (pin)
        bench_pin(0); /* the worker thread inherits cpu 0 */
    double nspt = bench_calibrate();
    char dir[512], sink[700], keys[4096];
    bench_tmpdir(dir, sizeof dir);
    file_sink_ini(sink, sizeof sink, dir);
    logger_keys(keys, sizeof keys, keys_argv, keys_argc, dir);
    sluice_runtime *rt = open_runtime(sink, "drop_newest", keys);
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
        a->record = record;
        a->cpu = pin ? 1 : -1;
        a->ns_per_tick = nspt;
        a->pause_ticks = (uint64_t)(BENCH_PAUSE_NS / nspt);
        a->samples = (double *)calloc(BENCH_ITERATIONS, sizeof(double));
        a->woke = (unsigned char *)calloc(BENCH_ITERATIONS, 1);
        a->ready = &ready;
        a->go = &go;
        a->warm = &warm;
        pthread_create(&th[t], NULL, lat_thread, &args[t]);
    }
    /* A short warm-up (first-call costs), written before measuring. */
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
    printf("producers %d\nrecord %s\nwarmup %d\n", threads, record_name,
           BENCH_WARMUP);
    print_queue(rt);
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
    printf("pinned %d\nns_per_tick %.5f\n", pin, nspt);
    printf("measured_dropped %" PRIu64 "\n", after.dropped - before.dropped);
    printf("warmup_dropped %" PRIu64 "\n", before.dropped);
    printf("undelivered %ld\n", left);
    char path[600];
    snprintf(path, sizeof path, "%s/bench.log", dir);
    bench_report_file(path);
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

#ifdef __cplusplus
#define BENCH_THREAD_LOCAL thread_local
#else
#define BENCH_THREAD_LOCAL _Thread_local
#endif

/* A post-hook of the usual kind: one more field. */
static void bench_add_field(void *user, sluice_record *r)
{
    (void)user;
    static BENCH_THREAD_LOCAL sluice_field fields[16];
    size_t n = r->field_count < 15 ? r->field_count : 15;
    if (n)
        memcpy(fields, r->fields, n * sizeof *fields);
    fields[n].key = "hooked";
    fields[n].key_len = 6;
    fields[n].value = "yes";
    fields[n].value_len = 3;
    r->fields = fields;
    r->field_count = n + 1;
}

/* Is the next argument the workload keyword word? Then it is taken off
 * argv (the KEY=VALUE arguments follow the keywords). */
static int take_keyword(char ***argv, int *argc, const char *word)
{
    if (*argc > 0 && strcmp((*argv)[0], word) == 0) {
        (*argv)++;
        (*argc)--;
        return 1;
    }
    return 0;
}

static int run_throughput(const char *kind, char **keys_argv, int keys_argc)
{
    int file = strcmp(kind, "file") == 0;
    if (!file && strcmp(kind, "null") != 0) {
        fprintf(stderr, "bench: the sink is file or null\n");
        return 2;
    }
    int hooked = take_keyword(&keys_argv, &keys_argc, "post-hook");
    int pin = !getenv("BENCH_NO_PIN");
    if (pin)
        bench_pin(0);
    char dir[512], sink[700], keys[4096];
    bench_tmpdir(dir, sizeof dir);
    if (file)
        file_sink_ini(sink, sizeof sink, dir);
    else
        snprintf(sink, sizeof sink, "[sink.out]\nplugin = null\n");
    logger_keys(keys, sizeof keys, keys_argv, keys_argc, dir);
    sluice_runtime *rt = open_runtime(sink, "block", keys);
    sluice_logger *lg = sluice_logger_get(rt, "bench");
    if (hooked) {
        sluice_error err;
        if (sluice_logger_add_post_hook(lg, bench_add_field, NULL, &err) != 0) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
    }
    if (pin)
        bench_pin(1); /* the producer: this thread, on the other cpu */

    const uint64_t n = BENCH_THROUGHPUT_RECORDS;
    int64_t t0 = bench_mono_ns();
    for (uint64_t i = 0; i < n; i++)
        SLUICE_INFO(lg, BENCH_THROUGHPUT_FORMAT, i, i * 2, (double)i / 2);
    int64_t t1 = bench_mono_ns();
    sluice_logger_flush(lg, -1);
    print_stats(lg, "");
    printf("producers 1\nrecord throughput\n");
    print_queue(rt);
    long left = sluice_close(rt, -1);
    int64_t t2 = bench_mono_ns();

    printf("sink %s\n", kind);
    if (hooked)
        printf("post_hook 1\n");
    printf("records %" PRIu64 "\n", n);
    printf("undelivered %ld\n", left);
    printf("producer_s %.4f\ntotal_s %.4f\n", (t1 - t0) / 1e9, (t2 - t0) / 1e9);
    printf("records_per_s %.0f\n", (double)n / ((t2 - t0) / 1e9));
    if (file) {
        char path[600];
        snprintf(path, sizeof path, "%s/bench.log", dir);
        bench_report_file(path);
    }
    printf("peak_rss_kib %ld\n", bench_peak_rss_kib());
    cleanup_dir(dir);
    return 0;
}

/* ---- callgrind: only these functions are counted ------------------------ */

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

BENCH_COUNTED void bench_sluice_strings(sluice_logger *lg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        SLUICE_INFO(lg, BENCH_STRINGS_FORMAT, bench_user, bench_from);
}

BENCH_COUNTED void bench_sluice_disabled(sluice_logger *lg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        SLUICE_DEBUG(lg, BENCH_LATENCY_FORMAT, i, i * 2, (double)i);
}

/* The bare loop, to subtract its own instructions from the ones above. */
BENCH_COUNTED void bench_loop_baseline(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        __asm__ volatile("" : : "r"(i) : "memory");
}

static int run_callgrind(int enabled, long n, bench_record record,
                         char **keys_argv, int keys_argc)
{
    if (enabled < 0) {
        bench_loop_baseline((uint64_t)n);
        printf("calls %ld\n", n);
        return 0;
    }
    /* Not the default queue: one ring that holds every call (a record of
     * either kind takes at most 256 bytes), so no call ever waits for the
     * worker, which valgrind runs only when the producer yields. The calls
     * take the same path whatever the ring's size. */
    unsigned long long bytes = 1u << 16;
    while (bytes < (unsigned long long)(n + 1024) * 256)
        bytes *= 2;
    /* more keys (a durable queue, say) may need the scratch directory */
    char dir[512] = "", more[4096] = "", keys[4400];
    if (keys_argc > 0) {
        bench_tmpdir(dir, sizeof dir);
        logger_keys(more, sizeof more, keys_argv, keys_argc, dir);
    }
    snprintf(keys, sizeof keys, "queue_size = %lluK\nproducer_rings = 1\n%s",
             bytes / 1024, more);
    sluice_runtime *rt = open_runtime("[sink.out]\nplugin = null\n", "block", keys);
    sluice_logger *lg = sluice_logger_get(rt, "bench");
    SLUICE_INFO(lg, "first call %d", 1); /* thread id, lazy first-call work */
    if (!enabled)
        bench_sluice_disabled(lg, (uint64_t)n);
    else if (record == RECORD_STRINGS)
        bench_sluice_strings(lg, (uint64_t)n);
    else
        bench_sluice_enabled(lg, (uint64_t)n);
    sluice_logger_flush(lg, -1);
    print_stats(lg, "");
    print_queue(rt);
    sluice_close(rt, -1);
    printf("calls %ld\n", n);
    if (dir[0])
        cleanup_dir(dir);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
#ifdef BENCH_COUNT_WAKES
    wakes_init();
#endif
    bench_record record = RECORD_NUMBERS;
    if (argc >= 4 && strcmp(argv[1], "latency") == 0 &&
        parse_record(argv[3], &record) == 0)
        return run_latency(atoi(argv[2]), record, argv[3], argv + 4, argc - 4);
    if (argc >= 3 && strcmp(argv[1], "throughput") == 0)
        return run_throughput(argv[2], argv + 3, argc - 3);
    if (argc >= 3 && strncmp(argv[1], "cg-", 3) == 0 &&
        (argc < 4 || parse_record(argv[3], &record) == 0)) {
        char **keys_argv = argv + (argc >= 4 ? 4 : 3);
        int keys_argc = argc >= 4 ? argc - 4 : 0;
        if (strcmp(argv[1], "cg-enabled") == 0)
            return run_callgrind(1, atol(argv[2]), record, keys_argv, keys_argc);
        if (strcmp(argv[1], "cg-disabled") == 0)
            return run_callgrind(0, atol(argv[2]), record, keys_argv, keys_argc);
        if (strcmp(argv[1], "cg-baseline") == 0)
            return run_callgrind(-1, atol(argv[2]), record, keys_argv, keys_argc);
    }
    fprintf(stderr,
            "usage: %s latency THREADS numbers|strings [KEY=VALUE...]\n"
            "       %s throughput file|null [post-hook] [KEY=VALUE...]\n"
            "       %s cg-enabled|cg-disabled|cg-baseline N [numbers|strings]"
            " [KEY=VALUE...]\n",
            argv[0], argv[0], argv[0]);
    return 2;
}
