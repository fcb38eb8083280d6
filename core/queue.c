/*
 * queue.c -- the bounded queue of one logger lane: R rings of
 * variable-length records in one memory region (queue_internal.h has the
 * layout and the publish rule).
 *
 * Producers claim room in their ring with one compare-and-swap on its
 * head; the room is free when every consumer's cursor has passed what was
 * there (the cached minimum, end, saves reading every cursor on each
 * claim). A record that would not fit before the ring's end is preceded by
 * a padding record that fills it. A producer publishes by storing the
 * record's publish word. Each consumer (sink binding) takes a batch past
 * its own cursors, across the rings in time order, and releases only what
 * its sink wrote, so the rest is offered again: the retained backlog.
 *
 * Overflow: block (wait for room, optionally until a timeout), drop_newest
 * (refuse the new record) or drop_oldest (evict the oldest record: if a
 * consumer's batch holds it, once the batch is rendered its room may be
 * reused, since the consumer then reads only its own copy; the consumer
 * counts it lost if its sink then fails to write it). Every refusal and
 * eviction is counted. The ring's lock is taken by consumers to take,
 * render and release a batch, and by producers only on a full ring (to
 * evict, or to move a cursor past records below its level); the fast
 * path takes none and makes no system call.
 *
 * Two consumer extras, in functions of their own: a lead cursor (one more
 * than the consumers) that, once turned on, no consumer may pass (the
 * post-hook stage runs through it), and a level per consumer: the records
 * below it are marked when taken, counted as filtered, and a cursor with
 * no batch in flight is moved past the ones it sits on when room is needed.
 *
 * Sleeping uses futexes with bounded timeouts: a wake-up the producer's
 * relaxed check misses costs at most one timeout of delay, never a record.
 * A crash handler (crash.c) reads a consumer's backlog with a scan: no
 * lock, no allocation, no cursor moved; a hold keeps drop_oldest from
 * evicting what it reads.
 *
 * A durable queue's rings are in a file (durable.c): queue.c tells it when
 * a cursor is about to move (it persists the cursor before producers may
 * reuse the room) and when a batch leaves for a sink (durable_sync =
 * batch), and hands it the queue to close with.
 * Knows nothing of INI, sinks, formats or threads beyond its own waiting.
 */
#include "queue_internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define SLUICE_HAVE_VALGRIND_H 1
#endif
#endif
#endif
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock_internal.h"
#include "durable_internal.h"

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

/* ---- layout ------------------------------------------------------------ */

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

static size_t round_up(size_t v, size_t to)
{
    return (v + to - 1) / to * to;
}

/* The largest power of two <= v (v >= 1). */
static size_t pow2_floor(size_t v)
{
    size_t p = 1;
    while (p <= v / 2)
        p <<= 1;
    return p;
}

unsigned sluice_queue_default_rings(size_t bytes)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t rings = pow2_floor(cpus > 0 ? (size_t)cpus : 1);
    if (rings > SLUICE_QUEUE_MAX_RINGS)
        rings = SLUICE_QUEUE_MAX_RINGS;
    while (rings > 1 && bytes / rings < (1u << 20))
        rings /= 2;
    return (unsigned)rings;
}

/* Each ring has a cursor per consumer, and one more for the lead stage
 * (sluice_queue_lead). */
size_t sluice_queue_header_size_(unsigned rings, unsigned consumers)
{
    return round_up(sizeof(sluice_queue) +
                        (size_t)rings * (consumers + 1) * sizeof(sluice_cursor),
                    page_size());
}

#define SLACK_BYTES SLUICE_RING_SLACK_BYTES

/* A durable queue's file learns that consumer c's cursor in ring moved to
 * done. The lead stage's cursor (c == consumers) is no sink's and has no
 * place in the file: the sinks' cursors say what was confirmed. */
static void file_cursor_moved(sluice_queue *q, unsigned c, unsigned ring,
                              uint64_t done)
{
    if (q->durable && c < q->consumers)
        sluice_durable_cursor_moved_(q->durable, c, ring, done);
}

/* Records consumer c had pending in ring when a durable file was opened
 * (0 for a queue in memory). */
static uint64_t replayed_at(const sluice_queue *q, unsigned ring, unsigned c)
{
    return q->durable ? sluice_durable_replayed_(q->durable, ring, c) : 0;
}

size_t sluice_queue_ring_bytes_(size_t bytes, unsigned rings)
{
    size_t each = pow2_floor(bytes / rings ? bytes / rings : 1);
    return each < SLUICE_RING_MIN_BYTES ? SLUICE_RING_MIN_BYTES : each;
}

size_t sluice_queue_region_size(size_t bytes, unsigned rings, unsigned consumers)
{
    return sluice_queue_header_size_(rings, consumers) +
           (sluice_queue_ring_bytes_(bytes, rings) + SLACK_BYTES) * rings;
}

uint64_t sluice_queue_random_secret_(void)
{
    static _Atomic uint64_t salt;
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = (uint64_t)sluice_clock_monotonic_ns() ^
            (atomic_fetch_add(&salt, 1) + 1) * 0x9E3779B97F4A7C15ull;
    /* the top bit set: (offset + 1) ^ secret is never 0 for any offset
     * below 2^63, so a zeroed page is no record, and a zero word claims
     * an offset no queue reaches */
    return s | UINT64_C(1) << 63;
}

sluice_queue *sluice_queue_layout_(void *header, size_t header_size,
                                   unsigned char *rings_base,
                                   size_t ring_bytes, unsigned rings,
                                   unsigned consumers, uint64_t secret)
{
    sluice_queue *q = header;
    atomic_init(&q->data_waiters, 0);
    atomic_init(&q->data_bell, 0);
    atomic_init(&q->closed, 0);
    atomic_init(&q->sealed, 0);
    atomic_init(&q->leading, 0);
    atomic_init(&q->filtering, 0);
    atomic_init(&q->retired, 0);
    q->rings = rings;
    q->ring_mask = rings - 1;
    q->ring_off_mask = (rings - 1) << 8;
    q->consumers = consumers;
    q->header_size = header_size;
    q->region_size = header_size;
    q->secret = secret;
    q->durable = NULL;
    q->settle_ticks = 0;
    q->took[0] = q->took[1] = 0;
    q->max_record = (uint32_t)(ring_bytes / 2 - SLUICE_REC_HEADER);
    sluice_cursor *cursors = (sluice_cursor *)(void *)(q + 1);
    for (unsigned i = 0; i < rings; i++) {
        sluice_ring *r = &q->ring[i];
        atomic_init(&r->head, 0);
        atomic_init(&r->end, ring_bytes / SLUICE_UNIT);
        atomic_init(&r->space_waiters, 0);
        atomic_init(&r->space_bell, 0);
        atomic_init(&r->claimers, 0);
        atomic_init(&r->refused, 0);
        atomic_init(&r->refused_closed, 0);
        atomic_init(&r->evicted, 0);
        r->units = ring_bytes / SLUICE_UNIT;
        r->mask = r->units - 1;
        r->secret = secret;
        r->base = rings_base + (size_t)i * (ring_bytes + SLACK_BYTES);
        r->cursor = cursors + (size_t)i * (consumers + 1);
        r->tick_offset = 0;
        r->durable_epoch = 0;
        for (unsigned c = 0; c <= consumers; c++) {
            sluice_cursor *cur = &r->cursor[c];
            memset(cur, 0, sizeof *cur);
            atomic_init(&cur->done, 0);
            atomic_init(&cur->taken, 0);
            atomic_init(&cur->confirmed, 0);
            atomic_init(&cur->level, 0);
        }
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->rendered, NULL);
    }
    return q;
}

sluice_queue *sluice_queue_create(size_t bytes, unsigned rings, unsigned consumers)
{
    if (rings < 1 || rings > SLUICE_QUEUE_MAX_RINGS || (rings & (rings - 1)) ||
        consumers > SLUICE_QUEUE_MAX_CONSUMERS)
        return NULL;
    size_t ring_bytes = sluice_queue_ring_bytes_(bytes, rings);
    size_t head = sluice_queue_header_size_(rings, consumers);
    size_t size = head + (ring_bytes + SLACK_BYTES) * rings;
    /* every page faulted in now, not by the first pass of the producers */
    void *region = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (region == MAP_FAILED)
        return NULL;
    sluice_queue *q = sluice_queue_layout_(region, head,
                                           (unsigned char *)region + head,
                                           ring_bytes, rings, consumers,
                                           sluice_queue_random_secret_());
    q->region_size = size;
    return q;
}

void sluice_queue_destroy(sluice_queue *q)
{
    if (!q)
        return;
    if (q->durable)
        sluice_durable_close_(q->durable);
    for (unsigned i = 0; i < q->rings; i++) {
        pthread_cond_destroy(&q->ring[i].rendered);
        pthread_mutex_destroy(&q->ring[i].lock);
    }
    munmap(q, q->region_size);
}

void sluice_queue_bury(sluice_queue *q)
{
    if (q->durable)
        sluice_durable_close_(q->durable); /* unmaps the file's rings */
    else if (q->region_size > q->header_size)
        munmap((char *)q + q->header_size, q->region_size - q->header_size);
}

/* ---- reading records --------------------------------------------------- */

static inline sluice_rec *rec_at(const sluice_ring *r, uint64_t off)
{
    return (sluice_rec *)(void *)(r->base + (off & r->mask) * SLUICE_UNIT);
}

/* The published record at off, or NULL. */
static inline const sluice_rec *published(const sluice_ring *r, uint64_t off)
{
    const sluice_rec *rec = rec_at(r, off);
    if (atomic_load_explicit(&rec->publish, memory_order_acquire) != ((off + 1) ^ r->secret))
        return NULL;
    return rec;
}

/* Walk from off over published records up to end; counts the real ones
 * (not padding). Returns where the walk stopped. */
static uint64_t walk(const sluice_ring *r, uint64_t off, uint64_t end,
                     uint64_t *count)
{
    uint64_t n = 0;
    while (off < end) {
        const sluice_rec *rec = published(r, off);
        if (!rec)
            break;
        n += rec->kind != SLUICE_KIND_PAD;
        off += rec->units;
    }
    *count = n;
    return off;
}

static inline uint64_t head_of(const sluice_ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) & ~SLUICE_HEAD_CLOSED;
}

/* walk(), counting apart the real records below level. */
static void walk_levels(const sluice_ring *r, uint64_t off, uint64_t end,
                        unsigned level, uint64_t *kept, uint64_t *below)
{
    uint64_t k = 0, b = 0;
    while (off < end) {
        const sluice_rec *rec = published(r, off);
        if (!rec)
            break;
        if (rec->kind != SLUICE_KIND_PAD) {
            if (rec->level < level)
                b++;
            else
                k++;
        }
        off += rec->units;
    }
    *kept = k;
    *below = b;
}

/* ---- levels: records a consumer does not want hold no room -------------- */

/* Under r's lock: move every cursor that has no batch in flight past the
 * records below its level (and padding) it sits on, counting them as
 * filtered; never past the lead cursor, which no other may pass. True
 * when one moved. */
static bool skip_filtered(sluice_queue *q, sluice_ring *r)
{
    bool moved = false;
    uint64_t head = head_of(r);
    if (atomic_load_explicit(&q->leading, memory_order_relaxed))
        head = atomic_load_explicit(&r->cursor[q->consumers].done,
                                    memory_order_relaxed);
    for (unsigned i = 0; i < q->consumers; i++) {
        sluice_cursor *c = &r->cursor[i];
        unsigned level = atomic_load_explicit(&c->level, memory_order_relaxed);
        if (!level || atomic_load_explicit(&c->taken, memory_order_relaxed) ||
            c->rendering)
            continue;
        uint64_t at = atomic_load_explicit(&c->done, memory_order_relaxed);
        uint64_t start = at;
        while (at < head) {
            const sluice_rec *rec = published(r, at);
            if (!rec || (rec->kind != SLUICE_KIND_PAD && rec->level >= level))
                break;
            if (rec->kind != SLUICE_KIND_PAD) {
                c->finished++;
                c->filtered++;
            }
            at += rec->units;
        }
        if (at != start) {
            atomic_store_explicit(&c->done, at, memory_order_release);
            c->from = c->claimed = at;
            moved = true;
        }
    }
    return moved;
}

/* The producer found ring r full, or someone asks whether a consumer is
 * drained: a consumer with a level may sit on records it does not want. */
static bool skip_filtered_locking(sluice_queue *q, sluice_ring *r)
{
    if (!atomic_load_explicit(&q->filtering, memory_order_relaxed))
        return false;
    pthread_mutex_lock(&r->lock);
    bool moved = skip_filtered(q, r);
    pthread_mutex_unlock(&r->lock);
    if (moved && atomic_load_explicit(&r->space_waiters, memory_order_relaxed))
        bell_ring(&r->space_bell);
    return moved;
}

void sluice_queue_set_level(sluice_queue *q, unsigned c, sluice_level level)
{
    unsigned value = (unsigned)level > SLUICE_LEVEL_OFF ? SLUICE_LEVEL_OFF : (unsigned)level;
    if (value)
        atomic_store_explicit(&q->filtering, 1, memory_order_relaxed);
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        pthread_mutex_lock(&r->lock);
        atomic_store_explicit(&r->cursor[c].level, (uint8_t)value,
                              memory_order_relaxed);
        bool moved = skip_filtered(q, r);
        pthread_mutex_unlock(&r->lock);
        if (moved && atomic_load_explicit(&r->space_waiters, memory_order_relaxed))
            bell_ring(&r->space_bell);
    }
}

sluice_level sluice_queue_level(sluice_queue *q, unsigned c)
{
    /* no lock: a crash handler asks too */
    return (sluice_level)atomic_load_explicit(&q->ring[0].cursor[c].level,
                                              memory_order_relaxed);
}

/* ---- the producer's side ------------------------------------------------ */

bool sluice_queue_has_prefetchw_(void)
{
#if defined(__x86_64__)
    static int known = -1;
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        unsigned a, b, c = 0, d;
        k = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 8)) ? 1 : 0;
#ifdef SLUICE_HAVE_VALGRIND_H
        /* valgrind runs prefetchw but hides PRFCHW from the program; with
         * the general path instead, callgrind would count a path that the
         * processor under it does not take */
        if (!k && RUNNING_ON_VALGRIND)
            k = 1;
#endif
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k == 1;
#else
    return true; /* the compiler's write prefetch, which any processor runs */
#endif
}

/* The lowest cursor, plus the ring's size: no claim may reach past it
 * (the room before it is free). */
static uint64_t refresh_end(sluice_queue *q, sluice_ring *r)
{
    uint64_t min = head_of(r);
    for (unsigned i = 0; i < q->consumers; i++) {
        uint64_t d = atomic_load_explicit(&r->cursor[i].done, memory_order_acquire);
        if (d < min)
            min = d;
    }
    min += r->units;
    /* acquire, both: an end another producer raised past this one is
     * returned, and the caller writes into the room it opens, so it must
     * see the cursor moves that raised it (relaxed, TSan saw a producer's
     * header write race with drop_oldest's last read of the old record) */
    uint64_t e = atomic_load_explicit(&r->end, memory_order_acquire);
    while (e < min &&
           !atomic_compare_exchange_weak_explicit(&r->end, &e, min,
                                                  memory_order_release,
                                                  memory_order_acquire))
        ;
    return e > min ? e : min;
}

/* drop_oldest, under the ring's lock: take the oldest record from every
 * cursor that sits on it. EVICTED: a record went (or room appeared
 * meanwhile): retry. WAIT: its producer is still filling it, or a
 * consumer is still reading it from the ring (both end soon). */
enum { EVICTED = 1, WAIT = 2 };

static int evict_oldest(sluice_queue *q, sluice_ring *r, uint64_t need)
{
    uint64_t min = UINT64_MAX;
    for (unsigned i = 0; i < q->consumers; i++) {
        uint64_t d = atomic_load_explicit(&r->cursor[i].done, memory_order_relaxed);
        if (d < min)
            min = d;
    }
    uint64_t head = head_of(r);
    if (min == UINT64_MAX || head + need - min <= r->units)
        return EVICTED; /* room appeared meanwhile */
    const sluice_rec *rec = published(r, min);
    if (!rec)
        return WAIT; /* its producer has not published it yet */
    /* the lead stage's cursor too: it is never behind the oldest record,
     * so when it sits on it, it moves with the consumers there */
    unsigned cursors = q->consumers + (unsigned)atomic_load_explicit(
                                          &q->leading, memory_order_relaxed);
    for (unsigned i = 0; i < cursors; i++) {
        sluice_cursor *c = &r->cursor[i];
        if (atomic_load_explicit(&c->done, memory_order_relaxed) == min &&
            (c->held || (c->claimed > min && c->rendering)))
            return WAIT; /* a consumer still reads it */
    }
    /* read before the cursors move: once the last one passed it, a
     * producer may write there */
    bool real = rec->kind != SLUICE_KIND_PAD;
    unsigned level = rec->level;
    uint64_t next = min + rec->units;
    for (unsigned i = 0; i < cursors; i++) {
        sluice_cursor *c = &r->cursor[i];
        if (atomic_load_explicit(&c->done, memory_order_relaxed) != min)
            continue;
        /* the file's cursor first: see release */
        file_cursor_moved(q, i, (unsigned)(r - q->ring), next);
        atomic_store_explicit(&c->done, next, memory_order_release);
        uint32_t taken = atomic_load_explicit(&c->taken, memory_order_relaxed);
        if (taken > 0 && min < c->claimed)
            continue; /* in a rendered batch in flight: release counts it */
        if (taken == 0)
            c->from = c->claimed = next;
        if (real) {
            c->finished++;
            if (level < atomic_load_explicit(&c->level, memory_order_relaxed))
                c->filtered++; /* it never was this consumer's */
            else
                c->evicted++;
        }
    }
    if (real)
        atomic_fetch_add_explicit(&r->evicted, 1, memory_order_relaxed);
    return EVICTED;
}

/* block: wait for room until the deadline. 1 to retry, 0 to give up. */
static int wait_space(sluice_queue *q, sluice_ring *r, uint64_t need,
                      int64_t deadline_ns)
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
    uint32_t seen = atomic_load_explicit(&r->space_bell, memory_order_acquire);
    atomic_fetch_add(&r->space_waiters, 1);
    uint64_t h = atomic_load(&r->head);
    if (!(h & SLUICE_HEAD_CLOSED) && h + need > refresh_end(q, r))
        bell_wait(&r->space_bell, seen, (int)left_ms);
    atomic_fetch_sub(&r->space_waiters, 1);
    return 1;
}

/* A padding record (its header may run into the slack). */
void sluice_queue_write_pad_(sluice_ring *r, uint64_t off, uint64_t units)
{
    sluice_rec *pad = rec_at(r, off);
    pad->units = (uint32_t)units;
    pad->length = 0;
    pad->callsite = NULL;
    pad->ticks = 0;
    pad->thread_id = 0;
    sluice_rec_set_meta(pad, 0, SLUICE_KIND_PAD, 0);
    pad->args_length = 0;
    pad->check = 0;
    if (r->durable_epoch)
        pad->check = sluice_rec_check_(pad);
    atomic_store_explicit(&pad->publish, (off + 1) ^ r->secret, memory_order_release);
}

/* A claim refused: counted, unless a reload retired the queue (the
 * producer then places the record in the queue that replaced it). */
static sluice_rec *refuse(sluice_queue *q, _Atomic uint64_t *counter)
{
    if (!sluice_queue_is_retired(q))
        atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    return NULL;
}

static sluice_rec *claim_slow(sluice_queue *q, sluice_ring *r, uint32_t units,
                              sluice_overflow policy, int block_timeout_ms,
                              uint64_t *off)
{
    if (units * (uint64_t)SLUICE_UNIT > (uint64_t)q->max_record + SLUICE_REC_HEADER)
        return refuse(q, &r->refused); /* larger than any record may be */
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    int64_t deadline = -2; /* not computed yet */
    int spins = 0;
    for (;;) {
        if (__builtin_expect(h & SLUICE_HEAD_CLOSED, 0))
            return refuse(q, &r->refused_closed);
        uint64_t pos = h & r->mask;
        uint64_t pad = units > SLUICE_RING_SLACK_UNITS && pos + units > r->units
                           ? r->units - pos
                           : 0;
        uint64_t need = pad + units;
        uint64_t e = atomic_load_explicit(&r->end, memory_order_acquire);
        if (h + need > e) {
            e = refresh_end(q, r);
            if (h + need > e && skip_filtered_locking(q, r))
                e = refresh_end(q, r);
            if (h + need > e) {
                int retry = 0;
                if (policy == SLUICE_OVERFLOW_DROP_OLDEST) {
                    pthread_mutex_lock(&r->lock);
                    int e = evict_oldest(q, r, need);
                    if (e == WAIT) {
                        /* a batch being rendered ends within a render's
                         * time; a record being filled, sooner */
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += 1000000;
                        if (ts.tv_nsec >= 1000000000L) {
                            ts.tv_sec++;
                            ts.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&r->rendered, &r->lock, &ts);
                    }
                    pthread_mutex_unlock(&r->lock);
                    retry = !sluice_queue_is_closed(q);
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
                        retry = wait_space(q, r, need, deadline);
                    }
                }
                if (!retry)
                    return refuse(q, sluice_queue_is_closed(q) ? &r->refused_closed
                                                               : &r->refused);
                h = atomic_load_explicit(&r->head, memory_order_relaxed);
                continue;
            }
        }
        if (atomic_compare_exchange_weak_explicit(&r->head, &h, h + need,
                                                  memory_order_acquire,
                                                  memory_order_relaxed)) {
            if (pad)
                sluice_queue_write_pad_(r, h, pad);
            *off = h + pad;
            return rec_at(r, h + pad);
        }
    }
}

sluice_rec *sluice_queue_claim(sluice_queue *q, sluice_ring *r, uint32_t units,
                               sluice_overflow policy, int block_timeout_ms,
                               uint64_t *off)
{
    sluice_rec *fast;
    if (sluice_queue_try_claim(r, units, &fast, off, false))
        return fast;
    /* counted while inside: close waits for it before freeing the rings */
    atomic_fetch_add_explicit(&r->claimers, 1, memory_order_acq_rel);
    sluice_rec *rec = claim_slow(q, r, units, policy, block_timeout_ms, off);
    atomic_fetch_sub_explicit(&r->claimers, 1, memory_order_release);
    return rec;
}

void sluice_queue_ring_data_(sluice_queue *q)
{
    bell_ring(&q->data_bell);
}

/* ---- the consumers' side ------------------------------------------------ */

static void lock_all(sluice_queue *q)
{
    for (unsigned i = 0; i < q->rings; i++)
        pthread_mutex_lock(&q->ring[i].lock);
}

static void unlock_all(sluice_queue *q)
{
    for (unsigned i = q->rings; i-- > 0;)
        pthread_mutex_unlock(&q->ring[i].lock);
}

/* The next real published record from *off on and before limit, past
 * padding (then *off is where it starts), or NULL (*off unchanged: a
 * cursor never moves past padding into room nobody has claimed yet). */
static const sluice_rec *next_real(const sluice_ring *r, uint64_t *off,
                                   uint64_t limit)
{
    uint64_t at = *off;
    for (;;) {
        if (at >= limit)
            return NULL;
        const sluice_rec *rec = published(r, at);
        if (!rec)
            return NULL;
        if (rec->kind != SLUICE_KIND_PAD) {
            *off = at;
            return rec;
        }
        at += rec->units;
    }
}

/* Of the rings' next records, the one whose ticks are lowest (the lowest
 * ring on a tie), or -1 when there is none: the order of a take, and of a
 * scan. */
static int oldest(const sluice_queue *q, const sluice_rec *const *next)
{
    int best = -1;
    for (unsigned i = 0; i < q->rings; i++)
        if (next[i] && (best < 0 || next[i]->ticks < next[best]->ticks))
            best = (int)i;
    return best;
}

size_t sluice_queue_take(sluice_queue *q, unsigned c, sluice_taken *out,
                         size_t max)
{
    uint64_t at[SLUICE_QUEUE_MAX_RINGS];
    const sluice_rec *next[SLUICE_QUEUE_MAX_RINGS];
    uint32_t taken[SLUICE_QUEUE_MAX_RINGS];
    uint64_t limit[SLUICE_QUEUE_MAX_RINGS];
    lock_all(q);
    /* behind the lead stage's cursor, when there is one */
    bool led = c != q->consumers &&
               atomic_load_explicit(&q->leading, memory_order_relaxed);
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_cursor *cur = &q->ring[i].cursor[c];
        limit[i] = led ? atomic_load_explicit(&q->ring[i].cursor[q->consumers].done,
                                              memory_order_relaxed)
                       : UINT64_MAX;
        at[i] = atomic_load_explicit(&cur->done, memory_order_relaxed);
        cur->from = at[i];
        next[i] = next_real(&q->ring[i], &at[i], limit[i]);
        taken[i] = 0;
    }
    /* records of ticks in (settled, now] are too young; a sealed queue
     * drains whole, and a record "from the future" (another core's TSC a
     * little ahead, a durable file's older era) is not held */
    uint64_t now = 0, settled = UINT64_MAX;
    uint64_t bit = UINT64_C(1) << (c % 64);
    bool first = !(q->took[c / 64] & bit); /* takes what is there */
    q->took[c / 64] |= bit;
    if (q->settle_ticks && !first &&
        !atomic_load_explicit(&q->sealed, memory_order_acquire)) {
        now = sluice_clock_ticks() + q->ring[0].tick_offset;
        settled = now > q->settle_ticks ? now - q->settle_ticks : 0;
    }
    size_t n = 0;
    while (n < max) {
        int best = oldest(q, next);
        if (best < 0)
            break;
        if (next[best]->ticks > settled && next[best]->ticks <= now)
            break; /* the oldest is young: so are the rest */
        const sluice_ring *r = &q->ring[best];
        out[n].rec = next[best];
        out[n].off = at[best];
        out[n].ring = (uint8_t)best;
        out[n].filtered = next[best]->level <
                          atomic_load_explicit(&r->cursor[c].level,
                                               memory_order_relaxed);
        out[n].sequence = at[best] * q->rings + (unsigned)best;
        n++;
        taken[best]++;
        at[best] += next[best]->units;
        next[best] = next_real(r, &at[best], limit[best]);
    }
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_cursor *cur = &q->ring[i].cursor[c];
        /* padding after the last record taken is passed too */
        cur->claimed = at[i];
        /* seq_cst: see sluice_queue_in_flight */
        atomic_store_explicit(&cur->taken, taken[i], memory_order_seq_cst);
        cur->rendering = cur->claimed > cur->from;
    }
    unlock_all(q);
    return n;
}

void sluice_queue_set_settle(sluice_queue *q, uint64_t ticks)
{
    q->settle_ticks = ticks;
}

void sluice_queue_lead(sluice_queue *q)
{
    lock_all(q);
    if (!atomic_load_explicit(&q->leading, memory_order_relaxed)) {
        for (unsigned i = 0; i < q->rings; i++) {
            sluice_ring *r = &q->ring[i];
            /* past everything a consumer has taken: those records were
             * read without the stage, so every consumer reads them so.
             * A durable queue's consumers start where its file said: one
             * that has not moved from there has read nothing yet, and
             * what it replays gets the hooks (the lead begins at the
             * oldest such record; one ahead of the lead waits for it) */
            uint64_t start = 0;
            for (unsigned c = 0; c < q->consumers; c++) {
                sluice_cursor *cur = &r->cursor[c];
                uint64_t d = atomic_load_explicit(&cur->done, memory_order_relaxed);
                uint64_t opened = q->durable ? sluice_durable_opened_at_(q->durable, i, c)
                                             : 0;
                if (q->durable && d == opened && cur->claimed == opened)
                    continue;
                if (d > start)
                    start = d;
                if (cur->claimed > start)
                    start = cur->claimed;
            }
            uint64_t oldest = sluice_queue_passed(q, i);
            if (oldest != UINT64_MAX && start < oldest)
                start = oldest;
            sluice_cursor *lead = &r->cursor[q->consumers];
            memset(lead, 0, sizeof *lead);
            atomic_store_explicit(&lead->done, start, memory_order_relaxed);
            lead->from = lead->claimed = start;
        }
        atomic_store_explicit(&q->leading, 1, memory_order_relaxed);
    }
    unlock_all(q);
}

uint64_t sluice_queue_passed(sluice_queue *q, unsigned ring)
{
    const sluice_ring *r = &q->ring[ring];
    uint64_t min = UINT64_MAX;
    for (unsigned c = 0; c < q->consumers; c++) {
        uint64_t d = atomic_load_explicit(&r->cursor[c].done, memory_order_acquire);
        if (d < min)
            min = d;
    }
    return min;
}

void sluice_queue_rendered(sluice_queue *q, unsigned c)
{
    /* durable_sync = batch: on disk before the sink has it (the batch's
     * room stays ours while it is rendering) */
    if (q->durable && c < q->consumers)
        sluice_durable_batch_(q->durable, q, c);
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        pthread_mutex_lock(&r->lock);
        if (r->cursor[c].rendering) {
            r->cursor[c].rendering = false;
            pthread_cond_broadcast(&r->rendered);
        }
        pthread_mutex_unlock(&r->lock);
    }
}

size_t sluice_queue_release(sluice_queue *q, unsigned c,
                            const sluice_taken *batch, size_t n, size_t written)
{
    /* written: the done prefix (handed over or filtered) */
    size_t lost = 0;
    bool moved = false;
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        pthread_mutex_lock(&r->lock);
        sluice_cursor *cur = &r->cursor[c];
        uint64_t evicted_to = atomic_load_explicit(&cur->done, memory_order_relaxed);
        /* where this ring's unwritten records start, and how many of the
         * batch's records drop_oldest took meanwhile but were not written */
        uint64_t unwritten = cur->claimed;
        bool found = false;
        size_t ring_lost = 0, filtered = 0;
        for (size_t j = written; j < n; j++) {
            if (batch[j].ring != i)
                continue;
            if (!found) {
                unwritten = batch[j].off;
                found = true;
            }
            if (batch[j].off < evicted_to) {
                if (batch[j].filtered)
                    filtered++; /* it never was this consumer's */
                else
                    ring_lost++;
            }
        }
        uint64_t done = unwritten > evicted_to ? unwritten : evicted_to;
        uint64_t finished = 0;
        for (size_t j = 0; j < n; j++) {
            if (batch[j].ring != i || batch[j].off >= done)
                continue;
            finished++;
            filtered += j < written && batch[j].filtered;
        }
        cur->finished += finished;
        cur->evicted += ring_lost;
        cur->filtered += filtered;
        lost += ring_lost;
        if (done != cur->from)
            moved = true;
        /* a durable queue's file learns of the move before producers may
         * reuse the room: the file's cursor is never behind this one */
        if (done != atomic_load_explicit(&cur->done, memory_order_relaxed))
            file_cursor_moved(q, c, i, done);
        atomic_store_explicit(&cur->done, done, memory_order_release);
        cur->from = cur->claimed = done;
        /* after done: who reads 0 here (without the lock) sees done */
        atomic_store_explicit(&cur->taken, 0, memory_order_seq_cst);
        if (cur->rendering) {
            cur->rendering = false;
            pthread_cond_broadcast(&r->rendered);
        }
        pthread_mutex_unlock(&r->lock);
        if (moved && atomic_load_explicit(&r->space_waiters, memory_order_relaxed))
            bell_ring(&r->space_bell);
    }
    return lost;
}

void sluice_queue_confirm(sluice_queue *q, unsigned c, const sluice_taken *batch,
                          size_t n, size_t done)
{
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        pthread_mutex_lock(&r->lock);
        sluice_cursor *cur = &r->cursor[c];
        /* as release finds it: this ring's first record not done */
        uint64_t to = cur->claimed;
        for (size_t j = done; j < n; j++) {
            if (batch[j].ring == i) {
                to = batch[j].off;
                break;
            }
        }
        atomic_store_explicit(&cur->confirmed, to, memory_order_release);
        pthread_mutex_unlock(&r->lock);
    }
}

/* ---- the crash handler's reading ------------------------------------------ */

void sluice_queue_scan_start(sluice_queue_scan *scan, sluice_queue *q, unsigned c)
{
    scan->q = q;
    scan->consumer = c;
    for (unsigned i = 0; i < q->rings; i++) {
        const sluice_ring *r = &q->ring[i];
        /* the head first: every record before it is at or after done */
        scan->end[i] = head_of(r);
        scan->at[i] = atomic_load_explicit(&r->cursor[c].done, memory_order_acquire);
        /* past what its sink confirmed of a batch not yet released */
        uint64_t confirmed = atomic_load_explicit(&r->cursor[c].confirmed,
                                                  memory_order_acquire);
        if (confirmed > scan->at[i] && confirmed <= scan->end[i])
            scan->at[i] = confirmed;
        scan->next[i] = NULL;
    }
}

/* The first unit at or after off that does not start a published
 * padding record. */
static uint64_t past_pads(const sluice_ring *r, uint64_t off)
{
    const sluice_rec *rec;
    while ((rec = published(r, off)) && rec->kind == SLUICE_KIND_PAD)
        off += rec->units;
    return off;
}

/* Find ring i's next record for the scan (next[i]), or its end. false
 * when the record there is claimed and not yet published. */
static bool scan_ring(sluice_queue_scan *scan, unsigned i)
{
    const sluice_ring *r = &scan->q->ring[i];
    while (!scan->next[i] && scan->at[i] < scan->end[i]) {
        /* a scan moves no cursor: it may pass padding freely */
        scan->at[i] = past_pads(r, scan->at[i]);
        if (scan->at[i] >= scan->end[i])
            break;
        scan->next[i] = published(r, scan->at[i]);
        if (scan->next[i])
            break;
        uint64_t done = atomic_load_explicit(&r->cursor[scan->consumer].done,
                                             memory_order_acquire);
        if (done <= scan->at[i])
            return false; /* its producer is still filling it */
        /* the consumer passed it meanwhile (its worker wrote it, or
         * drop_oldest took it), and its room may be reused: go on from
         * there */
        scan->at[i] = done;
    }
    return true;
}

int sluice_queue_scan_next(sluice_queue_scan *scan, sluice_taken *out)
{
    sluice_queue *q = scan->q;
    for (unsigned i = 0; i < q->rings; i++)
        if (!scan_ring(scan, i))
            return SLUICE_SCAN_FILLING; /* its place in the order is unknown */
    int best = oldest(q, scan->next);
    if (best < 0)
        return SLUICE_SCAN_END;
    out->rec = scan->next[best];
    out->off = scan->at[best];
    out->ring = (uint8_t)best;
    out->sequence = scan->at[best] * q->rings + (unsigned)best;
    scan->at[best] += scan->next[best]->units;
    scan->next[best] = NULL;
    return SLUICE_SCAN_RECORD;
}

void sluice_queue_scan_pass_filling(sluice_queue_scan *scan)
{
    sluice_queue *q = scan->q;
    for (unsigned i = 0; i < q->rings; i++) {
        const sluice_ring *r = &q->ring[i];
        if (scan->next[i] || scan->at[i] >= scan->end[i])
            continue;
        uint64_t off = past_pads(r, scan->at[i]);
        if (off >= scan->end[i] || published(r, off))
            continue;
        /* the record at off is not published: the next unit that holds
         * its own offset's publish word starts the next one (a word left
         * by an earlier lap holds an older offset's) */
        uint64_t at = off + SLUICE_REC_HEADER / SLUICE_UNIT;
        while (at < scan->end[i] && !published(r, at))
            at++;
        scan->at[i] = at < scan->end[i] ? at : scan->end[i];
    }
}

bool sluice_queue_scan_intact(sluice_queue_scan *scan, const sluice_taken *t)
{
    const sluice_ring *r = &scan->q->ring[t->ring];
    /* the record's reads before the head's: a producer writes a unit only
     * after claiming it, and it claims over the record only once the head
     * passes the record's offset plus the ring's size */
    atomic_thread_fence(memory_order_acquire);
    if (head_of(r) <= t->off + r->units)
        return true;
    /* claimed over only once every consumer's done passed it: go on from
     * there, a record's start (what was read of t, its units too, may be
     * torn), or, should it not have, give the ring up */
    uint64_t done = atomic_load_explicit(&r->cursor[scan->consumer].done,
                                         memory_order_acquire);
    scan->at[t->ring] = done > t->off ? done : scan->end[t->ring];
    scan->next[t->ring] = NULL;
    return false;
}

bool sluice_queue_in_flight(sluice_queue *q, unsigned c)
{
    for (unsigned i = 0; i < q->rings; i++)
        if (atomic_load_explicit(&q->ring[i].cursor[c].taken, memory_order_seq_cst))
            return true;
    return false;
}

bool sluice_queue_try_hold(sluice_queue *q, unsigned c, unsigned ring)
{
    sluice_ring *r = &q->ring[ring];
    if (pthread_mutex_trylock(&r->lock) != 0)
        return false;
    r->cursor[c].held = true;
    pthread_mutex_unlock(&r->lock);
    return true;
}

void sluice_queue_unhold(sluice_queue *q, unsigned c)
{
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        pthread_mutex_lock(&r->lock);
        if (r->cursor[c].held) {
            r->cursor[c].held = false;
            pthread_cond_broadcast(&r->rendered); /* evictions may go on */
        }
        pthread_mutex_unlock(&r->lock);
    }
}

void sluice_queue_backlog(sluice_queue *q, unsigned c, uint64_t *pending,
                          uint64_t *filtered)
{
    uint64_t kept_total = 0, filtered_total = 0;
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        pthread_mutex_lock(&r->lock);
        const sluice_cursor *cur = &r->cursor[c];
        uint64_t kept, below;
        walk_levels(r, atomic_load_explicit(&cur->done, memory_order_relaxed),
                    head_of(r),
                    atomic_load_explicit(&cur->level, memory_order_relaxed),
                    &kept, &below);
        kept_total += kept;
        filtered_total += cur->filtered + below;
        pthread_mutex_unlock(&r->lock);
    }
    *pending = kept_total;
    if (filtered)
        *filtered = filtered_total;
}

uint64_t sluice_queue_pending(sluice_queue *q, unsigned c)
{
    uint64_t pending;
    sluice_queue_backlog(q, c, &pending, NULL);
    return pending;
}

bool sluice_queue_drained(sluice_queue *q, unsigned c)
{
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        if (atomic_load_explicit(&r->cursor[c].done, memory_order_acquire) ==
            head_of(r))
            continue;
        /* what is left may all be below its level */
        if (!skip_filtered_locking(q, r) ||
            atomic_load_explicit(&r->cursor[c].done, memory_order_acquire) !=
                head_of(r))
            return false;
    }
    return true;
}

uint64_t sluice_queue_accepted(sluice_queue *q)
{
    if (q->consumers == 0)
        return 0;
    uint64_t total = 0;
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        pthread_mutex_lock(&r->lock);
        uint64_t n;
        walk(r, atomic_load_explicit(&r->cursor[0].done, memory_order_relaxed),
             head_of(r), &n);
        total += r->cursor[0].finished + n - replayed_at(q, i, 0);
        pthread_mutex_unlock(&r->lock);
    }
    return total;
}

#define SUM_RINGS(q, field)                                                   \
    do {                                                                      \
        uint64_t sum = 0;                                                     \
        for (unsigned i = 0; i < (q)->rings; i++)                             \
            sum += atomic_load_explicit(&(q)->ring[i].field, memory_order_relaxed); \
        return sum;                                                           \
    } while (0)

uint64_t sluice_queue_refused(sluice_queue *q) { SUM_RINGS(q, refused); }
uint64_t sluice_queue_refused_closed(sluice_queue *q) { SUM_RINGS(q, refused_closed); }
uint64_t sluice_queue_evicted(sluice_queue *q) { SUM_RINGS(q, evicted); }

uint64_t sluice_queue_cursor_evicted(sluice_queue *q, unsigned c)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < q->rings; i++) {
        pthread_mutex_lock(&q->ring[i].lock);
        sum += q->ring[i].cursor[c].evicted;
        pthread_mutex_unlock(&q->ring[i].lock);
    }
    return sum;
}

uint64_t sluice_queue_cursor_replayed(sluice_queue *q, unsigned c)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < q->rings; i++)
        sum += replayed_at(q, i, c);
    return sum;
}

void sluice_queue_fill(sluice_queue *q, uint64_t *used_bytes, uint64_t *size_bytes)
{
    uint64_t used = 0, size = 0;
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        uint64_t h = head_of(r), min = h;
        for (unsigned c = 0; c < q->consumers; c++) {
            uint64_t d = atomic_load_explicit(&r->cursor[c].done, memory_order_acquire);
            if (d < min)
                min = d;
        }
        used += (h - min) * SLUICE_UNIT;
        size += r->units * SLUICE_UNIT;
    }
    *used_bytes = used;
    *size_bytes = size;
}

void sluice_queue_wait_data(sluice_queue *q, unsigned c, int timeout_ms)
{
    uint32_t seen = atomic_load_explicit(&q->data_bell, memory_order_acquire);
    atomic_fetch_add(&q->data_waiters, 1);
    bool any = sluice_queue_is_sealed(q);
    for (unsigned i = 0; i < q->rings && !any; i++) {
        sluice_ring *r = &q->ring[i];
        uint64_t off = atomic_load_explicit(&r->cursor[c].done, memory_order_relaxed);
        any = published(r, off) != NULL;
    }
    if (!any)
        bell_wait(&q->data_bell, seen, timeout_ms);
    atomic_fetch_sub(&q->data_waiters, 1);
}

void sluice_queue_close(sluice_queue *q)
{
    atomic_store_explicit(&q->closed, 1, memory_order_release);
    for (unsigned i = 0; i < q->rings; i++)
        atomic_fetch_or_explicit(&q->ring[i].head, SLUICE_HEAD_CLOSED,
                                 memory_order_acq_rel);
    sluice_queue_wake(q);
}

void sluice_queue_retire(sluice_queue *q)
{
    atomic_store_explicit(&q->retired, 1, memory_order_seq_cst);
    sluice_queue_close(q);
}

void sluice_queue_seal(sluice_queue *q)
{
    atomic_store_explicit(&q->sealed, 1, memory_order_release);
    sluice_queue_wake(q);
}

bool sluice_queue_quiet(sluice_queue *q)
{
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        if (atomic_load_explicit(&r->claimers, memory_order_acquire))
            return false;
        uint64_t head = head_of(r), from = head;
        for (unsigned c = 0; c < q->consumers; c++) {
            uint64_t d = atomic_load_explicit(&r->cursor[c].done, memory_order_acquire);
            if (d < from)
                from = d;
        }
        uint64_t n;
        if (walk(r, from, head, &n) < head)
            return false; /* a claimed record is still being filled */
    }
    return true;
}

void sluice_queue_wake(sluice_queue *q)
{
    bell_ring(&q->data_bell);
    for (unsigned i = 0; i < q->rings; i++)
        bell_ring(&q->ring[i].space_bell);
}
