/*
 * clock_internal.h -- cheap timestamps for the producer, converted to wall
 * clock nanoseconds on the worker side. Knows nothing of records or queues.
 */
#ifndef SLUICE_CLOCK_INTERNAL_H
#define SLUICE_CLOCK_INTERNAL_H

#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

/* Set once by sluice_clock_init(): 1 when ticks are TSC cycles. */
extern int sluice_clock_uses_tsc_;

/* Calibrate (idempotent, thread-safe). Called when a runtime opens. */
void sluice_clock_init(void);

/* Producer side: a tick count, as cheap as the machine allows. */
static inline uint64_t sluice_clock_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_expect(sluice_clock_uses_tsc_, 1))
        return __rdtsc();
#endif
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Worker side: ticks to wall-clock nanoseconds since the epoch, for a whole
 * batch: take a snapshot once, convert many. */
typedef struct sluice_clock_snapshot {
    int tsc;
    uint64_t tick0;
    int64_t ns0;
    double ns_per_tick;
} sluice_clock_snapshot;

void sluice_clock_snapshot_take(sluice_clock_snapshot *s);
static inline int64_t sluice_clock_snapshot_ns(const sluice_clock_snapshot *s,
                                               uint64_t ticks)
{
    if (!s->tsc)
        return (int64_t)ticks;
    return s->ns0 + (int64_t)((double)(int64_t)(ticks - s->tick0) * s->ns_per_tick);
}

/* How many ticks a span of ns is (after sluice_clock_init); 0 when ticks
 * are not TSC cycles, which the wall clock may step back or forth. */
uint64_t sluice_clock_tsc_ticks_for_ns(int64_t ns);

/* Wall clock and monotonic clock in ns, for everything else. */
int64_t sluice_clock_realtime_ns(void);
int64_t sluice_clock_monotonic_ns(void);

#endif
