/*
 * bench/harness.h -- what the sluice and spdlog benchmark programs share:
 * the TSC clock and its calibration, the busy-wait pause, percentiles, CPU
 * pinning, peak RSS, the records both log, the digest of the file each
 * wrote (so bench/report.py can check they are the same bytes), and the
 * "key value" result lines bench/run parses.
 *
 * Header-only and valid C11 and C++ so both peers measure with the very same
 * code. Knows nothing of either logging library.
 */
#ifndef SLUICE_BENCH_HARNESS_H
#define SLUICE_BENCH_HARNESS_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

/* The published method (quill's tables): 20 records back to back, the mean
 * cost of the batch, a ~20 us busy pause, 50,000 times per thread. */
#define BENCH_BATCH 20
#define BENCH_ITERATIONS 50000
#define BENCH_PAUSE_NS 20000
#define BENCH_THROUGHPUT_RECORDS 4000000
/* Records logged (and written) before measuring, per producer thread: the
 * first-call costs (thread registration, lazy set-up), nothing more. */
#define BENCH_WARMUP 1000

/* The records. The spdlog peer writes the same bytes with fmt's syntax
 * ("{}" for %lu, "{:f}" for %f: six decimals, as printf). */
#define BENCH_LATENCY_FORMAT "Logging iteration: %lu, message: %lu, double: %f"
#define BENCH_THROUGHPUT_FORMAT "Iteration: %lu int: %lu double: %f"
/* The record with two strings of issue 9: 60 bytes and 15 bytes. */
#define BENCH_STRINGS_FORMAT "user %s logged in from %s"
#define BENCH_USER "margaret.hamilton-00042@accounts.apollo-guidance.example.org"
#define BENCH_FROM "203.113.254.199"

#define BENCH_NOINLINE __attribute__((noinline))

static inline uint64_t bench_ticks(void) { return __rdtsc(); }

static inline int64_t bench_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Nanoseconds per TSC tick, measured against CLOCK_MONOTONIC_RAW over
 * 200 ms (the TSC is constant and invariant on the machines we bench). */
static inline double bench_calibrate(void)
{
    int64_t n0 = bench_mono_ns();
    uint64_t t0 = bench_ticks();
    while (bench_mono_ns() - n0 < 200000000) {
    }
    int64_t n1 = bench_mono_ns();
    uint64_t t1 = bench_ticks();
    return (double)(n1 - n0) / (double)(t1 - t0);
}

/* Busy-wait (never sleep: sleeping would let the core idle down). */
static inline void bench_pause_ticks(uint64_t ticks)
{
    uint64_t end = bench_ticks() + ticks;
    while (bench_ticks() < end)
        _mm_pause();
}

/* Pin the calling thread to one CPU (threads it creates inherit it). */
static inline void bench_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
        fprintf(stderr, "bench: cannot pin to cpu %d (ignored)\n", cpu);
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static inline double bench_pct(const double *sorted, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* Sort ns-per-record samples and print the percentile lines. */
static inline void bench_report_latency(double *ns, size_t n)
{
    qsort(ns, n, sizeof *ns, bench_cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += ns[i];
    printf("samples %zu\n", n);
    printf("mean_ns %.2f\n", sum / (double)n);
    printf("p50_ns %.2f\n", bench_pct(ns, n, 50));
    printf("p75_ns %.2f\n", bench_pct(ns, n, 75));
    printf("p90_ns %.2f\n", bench_pct(ns, n, 90));
    printf("p95_ns %.2f\n", bench_pct(ns, n, 95));
    printf("p99_ns %.2f\n", bench_pct(ns, n, 99));
    printf("p99.9_ns %.2f\n", bench_pct(ns, n, 99.9));
    printf("p99.99_ns %.2f\n", bench_pct(ns, n, 99.99));
    printf("max_ns %.2f\n", ns[n - 1]);
}

/* Peak resident set of this process (VmHWM), in KiB. */
static inline long bench_peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* A private scratch directory for the file sink, under $BENCH_TMPDIR or /tmp. */
static inline void bench_tmpdir(char *out, size_t size)
{
    const char *base = getenv("BENCH_TMPDIR");
    snprintf(out, size, "%s/sluice-bench-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(out)) {
        fprintf(stderr, "bench: mkdtemp %s: %s\n", out, strerror(errno));
        exit(2);
    }
}

/* FNV-1a, 64 bits. */
#define BENCH_FNV_OFFSET 14695981039346656037ull
#define BENCH_FNV_PRIME 1099511628211ull

/* What a log file holds, in two digests: `ordered`, FNV-1a of the whole
 * file (the same bytes in the same order), and `unordered`, the sum of the
 * FNV-1a of each line with its newline (the same lines in any order: what
 * two producer threads can be compared by). */
typedef struct bench_digest {
    uint64_t ordered;
    uint64_t unordered;
    long long lines;
    long long bytes;
} bench_digest;

/* 0, or -1 if the file cannot be read. */
static inline int bench_file_digest(const char *path, bench_digest *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char buffer[1 << 16];
    uint64_t whole = BENCH_FNV_OFFSET, line = BENCH_FNV_OFFSET, sum = 0;
    long long lines = 0, bytes = 0, in_line = 0;
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, f)) > 0) {
        bytes += (long long)got;
        for (size_t i = 0; i < got; i++) {
            whole = (whole ^ buffer[i]) * BENCH_FNV_PRIME;
            line = (line ^ buffer[i]) * BENCH_FNV_PRIME;
            in_line++;
            if (buffer[i] == '\n') {
                sum += line;
                line = BENCH_FNV_OFFSET;
                in_line = 0;
                lines++;
            }
        }
    }
    if (in_line) /* a last line without its newline still counts */
        sum += line;
    int failed = ferror(f);
    fclose(f);
    if (failed)
        return -1;
    out->ordered = whole;
    out->unordered = sum;
    out->lines = lines;
    out->bytes = bytes;
    return 0;
}

/* The "key value" lines of a log file's digest (lines -1 if unreadable). */
static inline void bench_report_file(const char *path)
{
    bench_digest d;
    if (bench_file_digest(path, &d) != 0) {
        printf("lines -1\n");
        return;
    }
    printf("lines %lld\nbytes %lld\n", d.lines, d.bytes);
    printf("digest_ordered %016llx\ndigest_unordered %016llx\n",
           (unsigned long long)d.ordered, (unsigned long long)d.unordered);
}

#endif
