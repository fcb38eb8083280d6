/*
 * queue.c -- the bounded queue of one logger lane.
 *
 * Producers claim a slot with one compare-and-swap on head; the slot is free
 * when every consumer cursor has passed its previous occupant (the cached
 * minimum, gate, saves reading every cursor on each claim). A producer
 * publishes by storing seq+1 into the slot. Each consumer (sink binding)
 * takes a batch past its own cursor, and releases only what its sink wrote,
 * so the rest is offered again: the retained backlog.
 *
 * Overflow: block (wait for space, optionally until a timeout), drop_newest
 * (refuse the new record) or drop_oldest (evict the oldest record that no
 * sink is writing at that moment; when every oldest record is being
 * written, the new record is refused instead). Every refusal and eviction is
 * counted. The lock is taken by consumers once per batch and by producers
 * only to evict; the fast path takes none and makes no system call.
 *
 * Sleeping uses futexes with bounded timeouts: a wake-up the producer's
 * relaxed check misses costs at most one timeout of delay, never a record.
 * Knows nothing of INI, sinks, formats or threads beyond its own waiting.
 */
#include "queue_internal.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock_internal.h"

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

static void bell_wait(_Atomic uint32_t *bell, uint32_t seen, int timeout_ms)
{
    if (timeout_ms <= 0)
        return;
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
#ifdef __linux__
    syscall(SYS_futex, (uint32_t *)bell, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
#else
    (void)bell;
    (void)seen;
    if (ts.tv_sec == 0 && ts.tv_nsec > 1000000L)
        ts.tv_nsec = 1000000L;
    nanosleep(&ts, NULL);
#endif
}

static void bell_ring(_Atomic uint32_t *bell)
{
    atomic_fetch_add_explicit(bell, 1, memory_order_release);
#ifdef __linux__
    syscall(SYS_futex, (uint32_t *)bell, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#endif
}

size_t sluice_queue_region_size(uint64_t capacity)
{
    return sizeof(sluice_queue) + (size_t)capacity * sizeof(sluice_slot);
}

sluice_queue *sluice_queue_init(void *region, size_t region_size,
                                uint64_t capacity, unsigned consumers)
{
    if (capacity < 2 || (capacity & (capacity - 1)) != 0 ||
        consumers > SLUICE_QUEUE_MAX_CONSUMERS ||
        region_size < sluice_queue_region_size(capacity))
        return NULL;
    sluice_queue *q = region;
    atomic_init(&q->head, 0);
    atomic_init(&q->gate, 0);
    atomic_init(&q->data_waiters, 0);
    atomic_init(&q->data_bell, 0);
    atomic_init(&q->space_waiters, 0);
    atomic_init(&q->space_bell, 0);
    atomic_init(&q->closed, 0);
    atomic_init(&q->sealed, 0);
    atomic_init(&q->refused, 0);
    atomic_init(&q->refused_closed, 0);
    atomic_init(&q->claimers, 0);
    atomic_init(&q->evicted, 0);
    q->capacity = capacity;
    q->mask = capacity - 1;
    q->consumers = consumers;
    q->region_size = region_size;
    q->owns_region = 0;
    pthread_mutex_init(&q->lock, NULL);
    for (unsigned i = 0; i < SLUICE_QUEUE_MAX_CONSUMERS; i++) {
        atomic_init(&q->cursor[i].done, 0);
        q->cursor[i].claimed = 0;
        q->cursor[i].evicted = 0;
        atomic_init(&q->cursor[i].active, i < consumers);
    }
    return q;
}

sluice_queue *sluice_queue_create(uint64_t capacity, unsigned consumers)
{
    size_t size = sluice_queue_region_size(capacity);
    void *region = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return NULL;
    sluice_queue *q = sluice_queue_init(region, size, capacity, consumers);
    if (!q) {
        munmap(region, size);
        return NULL;
    }
    q->owns_region = 1;
    return q;
}

void sluice_queue_destroy(sluice_queue *q)
{
    if (!q)
        return;
    /* only slots ever claimed can hold a block: touching the others would
     * fault in a large queue's untouched pages */
    uint64_t used = atomic_load(&q->head) & ~SLUICE_HEAD_CLOSED;
    if (used > q->capacity)
        used = q->capacity;
    for (uint64_t i = 0; i < used; i++) {
        free(q->slots[i].heap);
        q->slots[i].heap = NULL;
    }
    pthread_mutex_destroy(&q->lock);
    if (q->owns_region)
        munmap(q, q->region_size);
}

/* The lowest cursor: no slot below it + capacity may be reused. */
static uint64_t refresh_gate(sluice_queue *q)
{
    uint64_t min = atomic_load_explicit(&q->head, memory_order_acquire) &
                   ~SLUICE_HEAD_CLOSED;
    for (unsigned i = 0; i < q->consumers; i++) {
        uint64_t d = atomic_load_explicit(&q->cursor[i].done, memory_order_acquire);
        if (d < min)
            min = d;
    }
    uint64_t g = atomic_load_explicit(&q->gate, memory_order_relaxed);
    while (g < min &&
           !atomic_compare_exchange_weak_explicit(&q->gate, &g, min,
                                                  memory_order_release,
                                                  memory_order_relaxed))
        ;
    return g > min ? g : min;
}

/* drop_oldest: advance the cursors sitting on the oldest record.
 * Returns EVICTED (a slot was freed, or space appeared meanwhile: retry),
 * FILLING when the oldest record's producer has not published it yet (it
 * will, without blocking: retry), or IN_FLIGHT when a sink is writing it
 * (the caller retries a little, then refuses the new record: a hanging sink
 * must not hang producers). */
enum { EVICTED = 1, FILLING = 2, IN_FLIGHT = 0 };

static int evict_oldest(sluice_queue *q)
{
    int rc = IN_FLIGHT;
    pthread_mutex_lock(&q->lock);
    uint64_t min = UINT64_MAX;
    for (unsigned i = 0; i < q->consumers; i++) {
        uint64_t d = atomic_load_explicit(&q->cursor[i].done, memory_order_relaxed);
        if (d < min)
            min = d;
    }
    uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire) &
                    ~SLUICE_HEAD_CLOSED;
    if (min == UINT64_MAX || head - min < q->capacity) {
        rc = EVICTED; /* space appeared meanwhile */
        goto out;
    }
    /* the oldest must be published: its producer may still be filling it */
    if (atomic_load_explicit(&q->slots[min & q->mask].seq,
                             memory_order_acquire) != min + 1) {
        rc = FILLING;
        goto out;
    }
    for (unsigned i = 0; i < q->consumers; i++) {
        sluice_cursor *c = &q->cursor[i];
        if (atomic_load_explicit(&c->done, memory_order_relaxed) == min &&
            c->claimed > min)
            goto out; /* being written by a sink */
    }
    for (unsigned i = 0; i < q->consumers; i++) {
        sluice_cursor *c = &q->cursor[i];
        if (atomic_load_explicit(&c->done, memory_order_relaxed) == min) {
            atomic_store_explicit(&c->done, min + 1, memory_order_release);
            c->claimed = min + 1;
            c->evicted++;
        }
    }
    atomic_fetch_add_explicit(&q->evicted, 1, memory_order_relaxed);
    rc = EVICTED;
out:
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* block: wait for space until the deadline. 1 to retry, 0 to give up. */
static int wait_space(sluice_queue *q, int64_t deadline_ns)
{
    if (sluice_queue_is_closed(q))
        return 0;
    int64_t left_ms = 10;
    if (deadline_ns >= 0) {
        int64_t left = deadline_ns - sluice_clock_monotonic_ns();
        if (left <= 0)
            return 0;
        left_ms = left / 1000000 + 1;
        if (left_ms > 10)
            left_ms = 10;
    }
    uint32_t seen = atomic_load_explicit(&q->space_bell, memory_order_acquire);
    atomic_fetch_add(&q->space_waiters, 1);
    uint64_t h = atomic_load(&q->head);
    if (!(h & SLUICE_HEAD_CLOSED) && h - refresh_gate(q) >= q->capacity)
        bell_wait(&q->space_bell, seen, (int)left_ms);
    atomic_fetch_sub(&q->space_waiters, 1);
    return 1;
}

static sluice_slot *claim_slow(sluice_queue *q, sluice_overflow policy,
                               int block_timeout_ms, uint64_t *seq);

sluice_slot *sluice_queue_claim(sluice_queue *q, sluice_overflow policy,
                                int block_timeout_ms, uint64_t *seq)
{
    sluice_slot *fast = sluice_queue_try_claim(q, seq);
    if (fast)
        return fast;
    /* counted while inside: close waits for it before freeing the slots */
    atomic_fetch_add_explicit(&q->claimers, 1, memory_order_acq_rel);
    sluice_slot *s = claim_slow(q, policy, block_timeout_ms, seq);
    atomic_fetch_sub_explicit(&q->claimers, 1, memory_order_release);
    return s;
}

static sluice_slot *claim_slow(sluice_queue *q, sluice_overflow policy,
                               int block_timeout_ms, uint64_t *seq)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    int64_t deadline = -2; /* not computed yet */
    int spins = 0;
    for (;;) {
        if (__builtin_expect(h & SLUICE_HEAD_CLOSED, 0)) {
            atomic_fetch_add_explicit(&q->refused_closed, 1, memory_order_relaxed);
            return NULL;
        }
        uint64_t g = atomic_load_explicit(&q->gate, memory_order_acquire);
        if (__builtin_expect(h - g >= q->capacity, 0)) {
            g = refresh_gate(q);
            if (h - g >= q->capacity) {
                int retry = 0;
                if (policy == SLUICE_OVERFLOW_DROP_OLDEST) {
                    /* a sink's batch in flight frees its slots soon: wait a
                     * little for it, but never for a hanging sink */
                    int e = evict_oldest(q);
                    retry = e == EVICTED;
                    if (e == FILLING || (e == IN_FLIGHT && spins < 256)) {
                        spins += e == IN_FLIGHT;
                        sched_yield();
                        retry = 1;
                    }
                } else if (policy == SLUICE_OVERFLOW_BLOCK) {
                    if (spins < 64) {
                        spins++;
                        sched_yield();
                        retry = !sluice_queue_is_closed(q);
                    } else {
                        if (deadline == -2)
                            deadline = block_timeout_ms < 0
                                           ? -1
                                           : sluice_clock_monotonic_ns() +
                                                 (int64_t)block_timeout_ms * 1000000;
                        retry = wait_space(q, deadline);
                    }
                }
                if (!retry) {
                    atomic_fetch_add_explicit(sluice_queue_is_closed(q)
                                                  ? &q->refused_closed
                                                  : &q->refused,
                                              1, memory_order_relaxed);
                    return NULL;
                }
                h = atomic_load_explicit(&q->head, memory_order_relaxed);
                continue;
            }
        }
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + 1,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            break;
    }
    *seq = h;
    return &q->slots[h & q->mask];
}

void sluice_queue_ring_data_(sluice_queue *q)
{
    bell_ring(&q->data_bell);
}


size_t sluice_queue_take(sluice_queue *q, unsigned c, size_t max,
                         uint64_t *first)
{
    sluice_cursor *cur = &q->cursor[c];
    pthread_mutex_lock(&q->lock);
    uint64_t d = atomic_load_explicit(&cur->done, memory_order_relaxed);
    size_t n = 0;
    while (n < max &&
           atomic_load_explicit(&q->slots[(d + n) & q->mask].seq,
                                memory_order_acquire) == d + n + 1)
        n++;
    cur->claimed = d + n;
    pthread_mutex_unlock(&q->lock);
    *first = d;
    return n;
}

void sluice_queue_release(sluice_queue *q, unsigned c, size_t n)
{
    sluice_cursor *cur = &q->cursor[c];
    pthread_mutex_lock(&q->lock);
    uint64_t d = atomic_load_explicit(&cur->done, memory_order_relaxed) + n;
    atomic_store_explicit(&cur->done, d, memory_order_release);
    cur->claimed = d;
    pthread_mutex_unlock(&q->lock);
    if (n && atomic_load_explicit(&q->space_waiters, memory_order_relaxed))
        bell_ring(&q->space_bell);
}

uint64_t sluice_queue_pending(sluice_queue *q, unsigned c)
{
    uint64_t d = atomic_load_explicit(&q->cursor[c].done, memory_order_acquire);
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire) &
                 ~SLUICE_HEAD_CLOSED;
    return h > d ? h - d : 0;
}

void sluice_queue_wait_data(sluice_queue *q, unsigned c, int timeout_ms)
{
    uint32_t seen = atomic_load_explicit(&q->data_bell, memory_order_acquire);
    atomic_fetch_add(&q->data_waiters, 1);
    uint64_t d = atomic_load_explicit(&q->cursor[c].done, memory_order_relaxed);
    if (atomic_load_explicit(&q->slots[d & q->mask].seq, memory_order_acquire) != d + 1 &&
        !sluice_queue_is_sealed(q))
        bell_wait(&q->data_bell, seen, timeout_ms);
    atomic_fetch_sub(&q->data_waiters, 1);
}

void sluice_queue_close(sluice_queue *q)
{
    atomic_store_explicit(&q->closed, 1, memory_order_release);
    atomic_fetch_or_explicit(&q->head, SLUICE_HEAD_CLOSED, memory_order_acq_rel);
    sluice_queue_wake(q);
}

bool sluice_queue_quiet(sluice_queue *q)
{
    if (atomic_load_explicit(&q->claimers, memory_order_acquire))
        return false;
    uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire) &
                    ~SLUICE_HEAD_CLOSED;
    uint64_t from = head;
    for (unsigned i = 0; i < q->consumers; i++) {
        uint64_t d = atomic_load_explicit(&q->cursor[i].done, memory_order_acquire);
        if (d < from)
            from = d;
    }
    for (uint64_t s = from; s < head; s++)
        if (atomic_load_explicit(&q->slots[s & q->mask].seq,
                                 memory_order_acquire) != s + 1)
            return false;
    return true;
}

size_t sluice_queue_header_size(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (offsetof(sluice_queue, slots) + page - 1) / page * page;
}

void sluice_queue_bury(sluice_queue *q)
{
    uint64_t used = atomic_load(&q->head) & ~SLUICE_HEAD_CLOSED;
    if (used > q->capacity)
        used = q->capacity;
    for (uint64_t i = 0; i < used; i++) {
        free(q->slots[i].heap);
        q->slots[i].heap = NULL;
    }
    size_t keep = sluice_queue_header_size();
    if (q->owns_region && q->region_size > keep)
        munmap((char *)q + keep, q->region_size - keep);
}

void sluice_queue_seal(sluice_queue *q)
{
    atomic_store_explicit(&q->sealed, 1, memory_order_release);
    sluice_queue_wake(q);
}

void sluice_queue_wake(sluice_queue *q)
{
    bell_ring(&q->data_bell);
    bell_ring(&q->space_bell);
}
