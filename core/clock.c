/*
 * clock.c -- turns the producer's cheap tick counts into wall-clock time.
 *
 * On x86 with an invariant TSC (constant_tsc and nonstop_tsc in
 * /proc/cpuinfo) the producer reads the cycle counter (a few ns); otherwise
 * it calls clock_gettime(CLOCK_REALTIME). The conversion anchors a
 * (tsc, realtime) pair and a rate measured over a growing baseline; it is
 * re-anchored at most once a second so that wall-clock steps (NTP) show up
 * within a second. Knows nothing of records or queues.
 */
#include "clock_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

int sluice_clock_uses_tsc_ = 0;

typedef struct anchor {
    uint64_t tsc;
    int64_t ns;
} anchor;

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;

/* fork(): a worker of the parent may hold clock_lock at the fork; the
 * child's own runtimes must find it free. The forking thread holds it
 * across the fork (prepare), so the child, that thread alone, unlocks
 * it (initialising a locked mutex is undefined, and ThreadSanitizer
 * calls the next lock a double lock). */
static void fork_prepare(void) { pthread_mutex_lock(&clock_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&clock_lock); }
static void fork_child(void) { pthread_mutex_unlock(&clock_lock); }
static anchor first;      /* the very first anchor: the rate's baseline */
static anchor current;    /* re-anchored once a second */
static double ns_per_tick = 1.0;

int64_t sluice_clock_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sluice_clock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#if defined(__x86_64__) || defined(__i386__)
static int tsc_is_invariant(void)
{
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return 0;
    char line[4096];
    int constant = 0, nonstop = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        constant = strstr(line, " constant_tsc") != NULL;
        nonstop = strstr(line, " nonstop_tsc") != NULL;
        break;
    }
    fclose(f);
    return constant && nonstop;
}

/* A (tsc, realtime) pair read as close together as we can. */
static anchor read_anchor(void)
{
    anchor best = {0, 0};
    uint64_t best_gap = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t a = __rdtsc();
        int64_t ns = sluice_clock_realtime_ns();
        uint64_t b = __rdtsc();
        if (b - a < best_gap) {
            best_gap = b - a;
            best.tsc = a + (b - a) / 2;
            best.ns = ns;
        }
    }
    return best;
}
#endif

static void clock_calibrate(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
#if defined(__x86_64__) || defined(__i386__)
    if (!tsc_is_invariant())
        return;
    first = read_anchor();
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    anchor second = read_anchor();
    if (second.tsc <= first.tsc || second.ns <= first.ns)
        return;
    ns_per_tick = (double)(second.ns - first.ns) / (double)(second.tsc - first.tsc);
    current = second;
    __atomic_store_n(&sluice_clock_uses_tsc_, 1, __ATOMIC_RELEASE);
#endif
}

void sluice_clock_init(void)
{
    pthread_once(&clock_once, clock_calibrate);
}

uint64_t sluice_clock_tsc_ticks_for_ns(int64_t ns)
{
    if (!__atomic_load_n(&sluice_clock_uses_tsc_, __ATOMIC_ACQUIRE) || ns <= 0)
        return 0;
    pthread_mutex_lock(&clock_lock);
    double rate = ns_per_tick;
    pthread_mutex_unlock(&clock_lock);
    return (uint64_t)((double)ns / rate);
}

void sluice_clock_snapshot_take(sluice_clock_snapshot *s)
{
    s->tsc = __atomic_load_n(&sluice_clock_uses_tsc_, __ATOMIC_ACQUIRE);
    s->tick0 = 0;
    s->ns0 = 0;
    s->ns_per_tick = 1.0;
    if (!s->tsc)
        return;
#if defined(__x86_64__) || defined(__i386__)
    pthread_mutex_lock(&clock_lock);
    uint64_t now = __rdtsc();
    if ((double)(now - current.tsc) * ns_per_tick > 1e9) {
        anchor a = read_anchor();
        if (a.tsc > first.tsc && a.ns > first.ns)
            ns_per_tick = (double)(a.ns - first.ns) / (double)(a.tsc - first.tsc);
        current = a;
    }
    s->tick0 = current.tsc;
    s->ns0 = current.ns;
    s->ns_per_tick = ns_per_tick;
    pthread_mutex_unlock(&clock_lock);
#endif
}
