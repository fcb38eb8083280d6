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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sluice/sluice.h>

#define SLUICE_SLOT_SIZE 128
/* Set in a queue's head by sluice_queue_close: no claim succeeds after. */
#define SLUICE_HEAD_CLOSED (UINT64_C(1) << 63)
#define SLUICE_PREFETCH_AHEAD 8   /* slots the producer warms ahead */
#define SLUICE_QUEUE_MAX_CONSUMERS 64

/* Record kinds held in a slot. */
enum { SLUICE_KIND_ARGS = 1, SLUICE_KIND_TEXT = 2 };

/* One record. Payload lives inline when it fits, else in a heap block the
 * producer allocated (the producer that next claims the slot frees it;
 * destroy frees what is left). */
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

/* level, kind and field_count in one store. */
static inline void sluice_slot_set_meta(sluice_slot *s, unsigned level,
                                        unsigned kind, unsigned field_count)
{
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    uint32_t meta = (uint32_t)(uint8_t)level << 24 |
                    (uint32_t)(uint8_t)kind << 16 | (uint16_t)field_count;
#else
    uint32_t meta = (uint32_t)(uint8_t)level | (uint32_t)(uint8_t)kind << 8 |
                    (uint32_t)(uint16_t)field_count << 16;
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
    _Atomic int closed;         /* intake closed: a claim that must wait fails */
    _Atomic int sealed;         /* no record will be added: drain and stop */
    _Atomic uint64_t refused;   /* drop_newest or block timeouts */
    _Atomic uint64_t refused_closed; /* waited for room, then the queue closed */
    _Atomic uint32_t claimers;  /* producers inside the slow claim */
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

/* Producer: claim a slot. Returns NULL when the record was not accepted
 * (counted in refused, or refused_closed). block_timeout_ms < 0 waits
 * without limit. The caller fills the slot (and frees the heap block its
 * previous record left) and calls sluice_queue_publish. */
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
/* Stop intake: the head gets SLUICE_HEAD_CLOSED, so no claim succeeds from
 * now on (the inline claim fails, the slow one refuses, counted in
 * refused_closed), and a claim waiting for room wakes and gives up. A
 * claim made before is published as usual. */
void sluice_queue_close(sluice_queue *q);
static inline int sluice_queue_is_closed(sluice_queue *q)
{
    return atomic_load_explicit(&q->closed, memory_order_acquire);
}
/* No record will be added any more: consumers drain what is there and stop
 * (close seals once no producer is inside a call). */
void sluice_queue_seal(sluice_queue *q);
static inline int sluice_queue_is_sealed(sluice_queue *q)
{
    return atomic_load_explicit(&q->sealed, memory_order_acquire);
}
/* No producer is inside the slow claim, and every record claimed so far
 * has been published: close waits for this before it freezes the counters
 * and frees the slots (a claim made just before the head closed may still
 * be being filled; one waiting for room is still on its way out). */
bool sluice_queue_quiet(sluice_queue *q);
/* Free the slots and what they hold, keep the header (its first pages):
 * what a producer racing with close may still read (head, gate, capacity,
 * waiters, bells) stays valid. The queue is unusable after. */
void sluice_queue_bury(sluice_queue *q);
size_t sluice_queue_header_size(void);
/* Wake every sleeper (close, resume). */
void sluice_queue_wake(sluice_queue *q);
/* Total records ever accepted (claimed) in this queue. */
static inline uint64_t sluice_queue_accepted(sluice_queue *q)
{
    return atomic_load_explicit(&q->head, memory_order_acquire) &
           ~SLUICE_HEAD_CLOSED;
}

#endif
