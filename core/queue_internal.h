/*
 * queue_internal.h -- the bounded multi-producer queue of one logger lane,
 * drained by several consumers (one per sink binding), each with its own
 * cursor (Disruptor style): a record is written once and freed when the
 * slowest cursor has passed it. Knows nothing of INI, sinks or formatting.
 */
#ifndef SLUICE_QUEUE_INTERNAL_H
#define SLUICE_QUEUE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sluice/sluice.h>

#define SLUICE_SLOT_SIZE 128
#define SLUICE_PREFETCH_AHEAD 8   /* slots the producer warms ahead */
#define SLUICE_QUEUE_MAX_CONSUMERS 64

/* Record kinds held in a slot. */
enum { SLUICE_KIND_ARGS = 1, SLUICE_KIND_TEXT = 2 };

/* One record. Payload lives inline when it fits, else in a heap block the
 * producer allocated (freed when the slot is next reused, or at destroy). */
typedef struct sluice_slot {
    _Atomic uint64_t seq;               /* sequence + 1 once published */
    const sluice_callsite *callsite;    /* KIND_ARGS: the static call site */
    uint64_t ticks;                     /* sluice_clock_ticks() at the call */
    uint32_t thread_id;
    uint8_t level;
    uint8_t kind;
    uint16_t field_count;               /* per-call fields after the body */
    uint32_t length;                    /* payload bytes */
    uint32_t args_length;               /* the body: encoded args or text */
    unsigned char *heap;                /* payload when it does not fit */
    unsigned char inline_data[SLUICE_SLOT_SIZE - 48];
} sluice_slot;

_Static_assert(sizeof(sluice_slot) == SLUICE_SLOT_SIZE, "slot size");
_Static_assert(offsetof(sluice_slot, kind) == offsetof(sluice_slot, level) + 1 &&
                   offsetof(sluice_slot, field_count) == offsetof(sluice_slot, level) + 2,
               "level, kind and field_count are written as one word");

/* level, kind and field_count = 0 in one store. */
static inline void sluice_slot_set_meta(sluice_slot *s, unsigned level,
                                        unsigned kind)
{
    uint32_t meta = (uint32_t)(uint8_t)level | (uint32_t)(uint8_t)kind << 8;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    meta = (uint32_t)(uint8_t)level << 24 | (uint32_t)(uint8_t)kind << 16;
#endif
    memcpy(&s->level, &meta, sizeof meta);
}

#define SLUICE_SLOT_INLINE (SLUICE_SLOT_SIZE - 48)

static inline unsigned char *sluice_slot_payload(sluice_slot *s)
{
    return s->heap ? s->heap : s->inline_data;
}

typedef struct sluice_cursor {
    _Alignas(64) _Atomic uint64_t done; /* every seq below is finished */
    uint64_t claimed;   /* [done, claimed) is being written (under lock) */
    uint64_t evicted;   /* records drop_oldest took from this cursor */
    _Atomic int active;
} sluice_cursor;

typedef struct sluice_queue {
    _Alignas(64) _Atomic uint64_t head;    /* next seq to claim */
    _Alignas(64) _Atomic uint64_t gate;    /* cached min of the cursors */
    _Alignas(64) _Atomic uint32_t data_waiters;  /* consumers asleep */
    _Atomic uint32_t data_bell;                  /* futex word */
    _Alignas(64) _Atomic uint32_t space_waiters; /* producers asleep */
    _Atomic uint32_t space_bell;
    _Atomic int closed;
    _Atomic uint64_t refused;   /* drop_newest or block timeouts */
    _Atomic uint64_t evicted;   /* drop_oldest evictions */
    uint64_t capacity;          /* slots, a power of two */
    uint64_t mask;
    unsigned consumers;
    size_t region_size;
    int owns_region;
    pthread_mutex_t lock;       /* consumer batches and evictions */
    sluice_cursor cursor[SLUICE_QUEUE_MAX_CONSUMERS];
    _Alignas(64) sluice_slot slots[];
} sluice_queue;

typedef enum sluice_overflow {
    SLUICE_OVERFLOW_BLOCK = 0,
    SLUICE_OVERFLOW_DROP_NEWEST,
    SLUICE_OVERFLOW_DROP_OLDEST
} sluice_overflow;

/* Bytes of region a queue of capacity slots needs. */
size_t sluice_queue_region_size(uint64_t capacity);
/* Lay a queue out in region (zeroed, region_size bytes, 64-aligned).
 * capacity must be a power of two >= 2. */
sluice_queue *sluice_queue_init(void *region, size_t region_size,
                                uint64_t capacity, unsigned consumers);
/* Allocate a region (anonymous mapping) and lay a queue out in it. */
sluice_queue *sluice_queue_create(uint64_t capacity, unsigned consumers);
void sluice_queue_destroy(sluice_queue *q);

/* Free the heap block a slot's previous occupant left (on reuse). */
void sluice_queue_slot_free_heap(sluice_slot *s);

/* Producer: claim a slot. Returns NULL when the record was not accepted
 * (counted in refused). block_timeout_ms < 0 waits without limit. The
 * caller fills the slot and calls sluice_queue_publish. */
sluice_slot *sluice_queue_claim(sluice_queue *q, sluice_overflow policy,
                                int block_timeout_ms, uint64_t *seq);
/* The claim's fast path, inlined into the producer: one compare-and-swap
 * when there is room. NULL means "take the slow path" (sluice_queue_claim),
 * which handles a full queue and the overflow policy. */
static inline sluice_slot *sluice_queue_try_claim(sluice_queue *q, uint64_t *seq)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t g = atomic_load_explicit(&q->gate, memory_order_acquire);
    if (__builtin_expect(h - g >= q->capacity, 0))
        return NULL;
    if (__builtin_expect(!atomic_compare_exchange_strong_explicit(
                             &q->head, &h, h + 1, memory_order_acquire,
                             memory_order_relaxed),
                         0))
        return NULL;
    *seq = h;
    /* Warm the slots a few records ahead for writing: with a large queue
     * each slot is otherwise a cold line (last touched a lap ago), and the
     * next burst of records would wait for memory on every one. */
    const char *ahead = (const char *)&q->slots[(h + SLUICE_PREFETCH_AHEAD) & q->mask];
    __builtin_prefetch(ahead, 1, 3);
    __builtin_prefetch(ahead + 64, 1, 3);
    return &q->slots[h & q->mask];
}

/* The slot's previous occupant may have left a heap block: detach it (to
 * free once the record is published, off the straight path). */
static inline unsigned char *sluice_queue_slot_detach_heap(sluice_slot *s)
{
    unsigned char *old = s->heap;
    s->heap = NULL;
    return old;
}

/* After a publish: ring a sleeping consumer and free a detached block. */
void sluice_queue_finish_(sluice_queue *q, unsigned char *old_heap);

/* Reserve a heap payload block for a claimed slot (when len does not fit). */
unsigned char *sluice_queue_slot_alloc(sluice_slot *s, size_t len);
/* Publish a filled slot: consumers may take it from now on. */
void sluice_queue_ring_data_(sluice_queue *q);
static inline void sluice_queue_publish(sluice_queue *q, sluice_slot *s,
                                        uint64_t seq)
{
    atomic_store_explicit(&s->seq, seq + 1, memory_order_release);
    if (__builtin_expect(atomic_load_explicit(&q->data_waiters,
                                              memory_order_relaxed) != 0, 0))
        sluice_queue_ring_data_(q);
}

/* Consumer: take up to max published records at cursor c. Returns how many;
 * *first is the seq of the first. They stay owned by the caller until
 * sluice_queue_release. */
size_t sluice_queue_take(sluice_queue *q, unsigned c, size_t max,
                         uint64_t *first);
/* Mark n records of the last take as finished; the rest are offered again
 * by the next take. */
void sluice_queue_release(sluice_queue *q, unsigned c, size_t n);
static inline sluice_slot *sluice_queue_slot(sluice_queue *q, uint64_t seq)
{
    return &q->slots[seq & q->mask];
}
/* Records accepted and not yet finished at cursor c. */
uint64_t sluice_queue_pending(sluice_queue *q, unsigned c);
/* Sleep until records may be available or timeout_ms passes. */
void sluice_queue_wait_data(sluice_queue *q, unsigned c, int timeout_ms);
/* Stop intake: later claims fail; consumers see closed and drain. */
void sluice_queue_close(sluice_queue *q);
static inline int sluice_queue_is_closed(sluice_queue *q)
{
    return atomic_load_explicit(&q->closed, memory_order_acquire);
}
/* Wake every sleeper (close, resume). */
void sluice_queue_wake(sluice_queue *q);
/* Total records ever accepted (claimed) in this queue. */
static inline uint64_t sluice_queue_accepted(sluice_queue *q)
{
    return atomic_load_explicit(&q->head, memory_order_acquire);
}

#endif
