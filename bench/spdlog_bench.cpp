/*
 * bench/spdlog_bench.cpp -- the peer: the same workloads through spdlog's
 * asynchronous logger, as a user gets it by default (spdlog::async_factory:
 * one worker thread, a queue of details::default_async_q_size = 8192
 * messages, async_overflow_policy::block), with a basic_file_sink_mt or a
 * null_sink_mt, and the pattern "%v" (the message alone, as sluice's file
 * sink with pattern = %m: both write the same bytes, which bench/report.py
 * checks by the digests of bench/harness.h). Same command line and output
 * as sluice_bench.c (without its KEY=VALUE logger keys); the measuring code
 * is bench/harness.h, shared with it. Knows nothing of sluice.
 */
#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "harness.h"

/* The records of bench/harness.h in fmt's syntax: the same bytes. */
#define SPD_LATENCY_FORMAT "Logging iteration: {}, message: {}, double: {:f}"
#define SPD_THROUGHPUT_FORMAT "Iteration: {} int: {} double: {:f}"
#define SPD_STRINGS_FORMAT "user {} logged in from {}"

enum class bench_record { numbers, strings };

static bool parse_record(const char *name, bench_record *out)
{
    if (strcmp(name, "numbers") == 0)
        *out = bench_record::numbers;
    else if (strcmp(name, "strings") == 0)
        *out = bench_record::strings;
    else
        return false;
    return true;
}

static const char *const bench_user = BENCH_USER;
static const char *const bench_from = BENCH_FROM;

/* The default async logger, writing the message alone (as sluice's
 * pattern = %m does). */
static std::shared_ptr<spdlog::logger> make_logger(const std::string &path)
{
    std::shared_ptr<spdlog::logger> lg;
    if (path.empty())
        lg = spdlog::create_async<spdlog::sinks::null_sink_mt>("bench");
    else
        lg = spdlog::basic_logger_mt<spdlog::async_factory>("bench", path, true);
    lg->set_pattern("%v");
    return lg;
}

/* What the queue holds, preallocated: its slots (one more than the items,
 * spdlog's circular_q), each an async_msg with its inline buffer. */
static void print_queue()
{
    size_t items = spdlog::details::default_async_q_size;
    size_t bytes = (items + 1) * sizeof(spdlog::details::async_msg);
    printf("queue_items %zu\nqueue_bytes %zu\nqueue_mib %.1f\n", items, bytes,
           (double)bytes / 1048576.0);
}

/* spdlog's flush() on an async logger only queues a request; wait until the
 * worker has taken everything, then for the request itself. */
static void drain(const std::shared_ptr<spdlog::logger> &lg)
{
    lg->flush();
    auto tp = spdlog::thread_pool();
    while (tp && tp->queue_size() > 0)
        std::this_thread::yield();
    usleep(50000);
}

static void cleanup_dir(const char *dir)
{
    std::string p = std::string(dir) + "/bench.log";
    unlink(p.c_str());
    rmdir(dir);
}

/* ---- latency ------------------------------------------------------------ */

struct lat_arg {
    spdlog::logger *lg;
    bench_record record;
    int cpu;
    double ns_per_tick;
    uint64_t pause_ticks;
    std::vector<double> samples;
    pthread_barrier_t *ready, *go, *warm;
};

/* 50,000 batches of BENCH_BATCH calls of `call` (which may use i and j). */
template <typename Call> static void lat_batches(lat_arg *a, Call call)
{
    for (uint64_t i = 0; i < BENCH_ITERATIONS; i++) {
        uint64_t t0 = bench_ticks();
        for (uint64_t j = 0; j < BENCH_BATCH; j++)
            call(i, j);
        uint64_t t1 = bench_ticks();
        a->samples[i] = (double)(t1 - t0) * a->ns_per_tick / BENCH_BATCH;
        bench_pause_ticks(a->pause_ticks);
    }
}

static void lat_thread(lat_arg *a)
{
    if (a->cpu >= 0)
        bench_pin(a->cpu);
    spdlog::logger *lg = a->lg;
    for (uint64_t k = 0; k < BENCH_WARMUP; k++) {
        if (a->record == bench_record::strings)
            lg->info(SPD_STRINGS_FORMAT, bench_user, bench_from);
        else
            lg->info(SPD_LATENCY_FORMAT, k, (uint64_t)0, 0.5);
    }
    pthread_barrier_wait(a->warm);
    pthread_barrier_wait(a->ready);
    pthread_barrier_wait(a->go);
    if (a->record == bench_record::strings)
        lat_batches(a, [lg](uint64_t, uint64_t) {
            lg->info(SPD_STRINGS_FORMAT, bench_user, bench_from);
        });
    else
        lat_batches(a, [lg](uint64_t i, uint64_t j) {
            lg->info(SPD_LATENCY_FORMAT, i, j, (double)i);
        });
}

static int run_latency(int threads, bench_record record, const char *record_name)
{
    if (threads < 1 || threads > 8) {
        fprintf(stderr, "bench: THREADS is 1..8\n");
        return 2;
    }
    bool pin = threads == 1 && !getenv("BENCH_NO_PIN");
    if (pin)
        bench_pin(0); /* spdlog's worker thread inherits cpu 0 */
    double nspt = bench_calibrate();
    char dir[512];
    bench_tmpdir(dir, sizeof dir);
    std::string path = std::string(dir) + "/bench.log";
    auto lg = make_logger(path);

    pthread_barrier_t ready, go, warm;
    pthread_barrier_init(&ready, nullptr, (unsigned)threads + 1);
    pthread_barrier_init(&go, nullptr, (unsigned)threads + 1);
    pthread_barrier_init(&warm, nullptr, (unsigned)threads + 1);
    std::vector<lat_arg> args((size_t)threads);
    std::vector<std::thread> th;
    for (int t = 0; t < threads; t++) {
        lat_arg &a = args[(size_t)t];
        a.lg = lg.get();
        a.record = record;
        a.cpu = pin ? 1 : -1;
        a.ns_per_tick = nspt;
        a.pause_ticks = (uint64_t)(BENCH_PAUSE_NS / nspt);
        a.samples.assign(BENCH_ITERATIONS, 0.0);
        a.ready = &ready;
        a.go = &go;
        a.warm = &warm;
        th.emplace_back(lat_thread, &a);
    }
    /* A short warm-up (first-call costs), written before measuring. */
    pthread_barrier_wait(&warm);
    drain(lg);
    size_t overrun0 = spdlog::thread_pool()->overrun_counter();
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&go);
    for (auto &t : th)
        t.join();
    drain(lg);
    size_t overruns = spdlog::thread_pool()->overrun_counter() - overrun0;
    lg.reset();
    spdlog::shutdown();

    std::vector<double> all;
    for (auto &a : args)
        all.insert(all.end(), a.samples.begin(), a.samples.end());
    printf("producers %d\nrecord %s\nwarmup %d\n", threads, record_name,
           BENCH_WARMUP);
    print_queue();
    printf("pinned %d\nns_per_tick %.5f\n", pin ? 1 : 0, nspt);
    printf("measured_dropped %zu\n", overruns);
    bench_report_file(path.c_str());
    bench_report_latency(all.data(), all.size());
    printf("peak_rss_kib %ld\n", bench_peak_rss_kib());
    cleanup_dir(dir);
    return 0;
}

/* ---- throughput --------------------------------------------------------- */

static int run_throughput(const char *kind)
{
    bool file = strcmp(kind, "file") == 0;
    if (!file && strcmp(kind, "null") != 0) {
        fprintf(stderr, "bench: the sink is file or null\n");
        return 2;
    }
    bool pin = !getenv("BENCH_NO_PIN");
    if (pin)
        bench_pin(0);
    char dir[512];
    bench_tmpdir(dir, sizeof dir);
    std::string path = std::string(dir) + "/bench.log";
    auto lg = make_logger(file ? path : std::string());
    if (pin)
        bench_pin(1);

    const uint64_t n = BENCH_THROUGHPUT_RECORDS;
    int64_t t0 = bench_mono_ns();
    for (uint64_t i = 0; i < n; i++)
        lg->info(SPD_THROUGHPUT_FORMAT, i, i * 2, (double)i / 2);
    int64_t t1 = bench_mono_ns();
    /* everything written and the file closed: flush request, then shutdown
     * joins the worker after it has processed the whole queue */
    lg->flush();
    lg.reset();
    spdlog::shutdown();
    int64_t t2 = bench_mono_ns();

    printf("producers 1\nrecord throughput\nsink %s\n", kind);
    print_queue();
    printf("records %" PRIu64 "\n", n);
    printf("producer_s %.4f\ntotal_s %.4f\n", (t1 - t0) / 1e9, (t2 - t0) / 1e9);
    printf("records_per_s %.0f\n", (double)n / ((t2 - t0) / 1e9));
    if (file)
        bench_report_file(path.c_str());
    printf("peak_rss_kib %ld\n", bench_peak_rss_kib());
    cleanup_dir(dir);
    return 0;
}

/* ---- callgrind: only these functions are counted ------------------------ */

extern "C" BENCH_NOINLINE void bench_spdlog_enabled(spdlog::logger *lg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        lg->info(SPD_LATENCY_FORMAT, i, i * 2, (double)i);
}

extern "C" BENCH_NOINLINE void bench_spdlog_strings(spdlog::logger *lg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        lg->info(SPD_STRINGS_FORMAT, bench_user, bench_from);
}

extern "C" BENCH_NOINLINE void bench_spdlog_disabled(spdlog::logger *lg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        lg->debug(SPD_LATENCY_FORMAT, i, i * 2, (double)i);
}

extern "C" BENCH_NOINLINE void bench_loop_baseline(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        __asm__ volatile("" : : "r"(i) : "memory");
}

static int run_callgrind(int enabled, long n, bench_record record)
{
    if (enabled < 0) {
        bench_loop_baseline((uint64_t)n);
        printf("calls %ld\n", n);
        return 0;
    }
    /* not the default queue: one that holds every call, so no call waits
     * for the worker (valgrind runs one thread at a time) */
    spdlog::init_thread_pool((size_t)n + 1024, 1);
    auto lg = spdlog::create_async<spdlog::sinks::null_sink_mt>("bench");
    lg->set_pattern("%v");
    lg->set_level(spdlog::level::info);
    lg->info("first call {}", 1);
    if (!enabled)
        bench_spdlog_disabled(lg.get(), (uint64_t)n);
    else if (record == bench_record::strings)
        bench_spdlog_strings(lg.get(), (uint64_t)n);
    else
        bench_spdlog_enabled(lg.get(), (uint64_t)n);
    lg.reset();
    spdlog::shutdown();
    printf("calls %ld\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, nullptr, _IOLBF, 0);
    bench_record record = bench_record::numbers;
    if (argc >= 4 && strcmp(argv[1], "latency") == 0 && parse_record(argv[3], &record))
        return run_latency(atoi(argv[2]), record, argv[3]);
    if (argc == 3 && strcmp(argv[1], "throughput") == 0)
        return run_throughput(argv[2]);
    if (argc >= 3 && strncmp(argv[1], "cg-", 3) == 0 &&
        (argc < 4 || parse_record(argv[3], &record))) {
        if (strcmp(argv[1], "cg-enabled") == 0)
            return run_callgrind(1, atol(argv[2]), record);
        if (strcmp(argv[1], "cg-disabled") == 0)
            return run_callgrind(0, atol(argv[2]), record);
        if (strcmp(argv[1], "cg-baseline") == 0)
            return run_callgrind(-1, atol(argv[2]), record);
    }
    fprintf(stderr,
            "usage: %s latency THREADS numbers|strings | throughput file|null"
            " | cg-enabled|cg-disabled|cg-baseline N [numbers|strings]\n",
            argv[0]);
    return 2;
}
