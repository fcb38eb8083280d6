/*
 * queue_internal.h -- the bounded queue of one logger lane (queue.c).
 *
 * A queue is one memory region holding R rings (R a power of two, at most
 * SLUICE_QUEUE_MAX_RINGS): each producer thread writes into the ring its
 * thread index picks, so threads on different rings never share a cache
 * line. A ring is a run of 8-byte units holding variable-length records
 * back to back, so a record of any size up to max_record bytes lives in
 * the region, and nothing is allocated on the producer's side. A record
 * never wraps: one of up to SLUICE_RING_SLACK_UNITS may run past the
 * ring's end into the slack that follows it (its offsets then count as
 * used at the ring's start, which it does not touch), and a longer one
 * that would cross the end is preceded by a padding record that fills it.
 *
 * Several consumers (one per sink binding) read every ring, each with its
 * own cursor per ring (Disruptor style): a record is written once and its
 * room is reused when the slowest cursor has passed it. A consumer takes
 * records across the rings in time order (ticks), so the output reads in
 * the order the calls claimed their records, and keeps each producer
 * thread's order exactly. A consumer may have a level (records below it
 * are not for it: passed and counted as filtered), and the queue has one
 * more cursor, the lead stage's, that the others may be made to follow.
 *
 * Positions are unit offsets that only grow (64 bits: they never wrap);
 * a record at offset o is published when its first word holds
 * (o + 1) ^ secret (a random 64-bit value per queue), so stale bytes left
 * in the ring by an earlier lap can never pass for a record.
 *
 * A durable queue (durable.c) keeps its rings in a file mapping instead of
 * anonymous memory; its header pages (this struct and the cursors) stay
 * anonymous. The queue tells it through the hooks of durable_internal.h
 * when a cursor moves (before the move is visible to producers) and when a
 * batch is about to leave for a sink; in a durable ring a record's site
 * is a call-site id, its ticks carry the file's offset, and check is its
 * CRC-32C (sluice_rec_check_).
 * Knows nothing of INI, sinks or formatting.
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

#include "clock_internal.h"

#define SLUICE_UNIT 8                  /* bytes in a unit */
#define SLUICE_QUEUE_MAX_CONSUMERS 64
#define SLUICE_QUEUE_MAX_RINGS 8
#define SLUICE_RING_MIN_BYTES (64u * 1024)
#define SLUICE_RING_SLACK_UNITS 512u   /* 4 KiB after each ring's end */
/* Set in a ring's head by sluice_queue_close: no claim succeeds after. */
#define SLUICE_HEAD_CLOSED (UINT64_C(1) << 63)
#define SLUICE_PREFETCH_AHEAD 512      /* bytes the producer warms ahead */

/* Record kinds. */
enum { SLUICE_KIND_ARGS = 1, SLUICE_KIND_TEXT = 2, SLUICE_KIND_PAD = 3 };

/* One record, at a unit boundary, followed by its payload. */
typedef struct sluice_rec {
    _Atomic uint64_t publish;           /* (offset + 1) ^ secret once whole */
    uint32_t units;                     /* header and payload, in units */
    uint32_t length;                    /* payload bytes */
    union {
        const sluice_callsite *callsite; /* KIND_ARGS: the static call site */
        uint64_t site;                  /* durable: its id + 1 in the file */
    };
    uint64_t ticks;                     /* sluice_clock_ticks() at the claim
                                           (+ the ring's tick_offset) */
    uint32_t thread_id;
    uint8_t level;
    uint8_t kind;
    uint16_t field_count;               /* per-call fields after the body */
    uint32_t args_length;               /* the body: encoded args or text */
    uint32_t check;                     /* durable: sluice_rec_check_() */
    unsigned char payload[];
} sluice_rec;

#define SLUICE_REC_HEADER 48
_Static_assert(sizeof(sluice_rec) == SLUICE_REC_HEADER, "record header size");
_Static_assert(offsetof(sluice_rec, kind) == offsetof(sluice_rec, level) + 1 &&
                   offsetof(sluice_rec, field_count) == offsetof(sluice_rec, level) + 2,
               "level, kind and field_count are written as one word");

/* level, kind and field_count in one store. */
static inline void sluice_rec_set_meta(sluice_rec *r, unsigned level,
                                       unsigned kind, unsigned field_count)
{
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    uint32_t meta = (uint32_t)(uint8_t)level << 24 |
                    (uint32_t)(uint8_t)kind << 16 | (uint16_t)field_count;
#else
    uint32_t meta = (uint32_t)(uint8_t)level | (uint32_t)(uint8_t)kind << 8 |
                    (uint32_t)(uint16_t)field_count << 16;
#endif
    memcpy(&r->level, &meta, sizeof meta);
}

/* thread_id, level, kind and field_count in one 8-byte store. */
static inline void sluice_rec_set_id(sluice_rec *r, uint32_t tid, unsigned level,
                                     unsigned kind, unsigned field_count)
{
    _Static_assert(offsetof(sluice_rec, level) == offsetof(sluice_rec, thread_id) + 4,
                   "thread_id and the meta word are adjacent");
    uint32_t meta;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    meta = (uint32_t)(uint8_t)level << 24 | (uint32_t)(uint8_t)kind << 16 |
           (uint16_t)field_count;
    uint64_t w = (uint64_t)tid << 32 | meta;
#else
    meta = (uint32_t)(uint8_t)level | (uint32_t)(uint8_t)kind << 8 |
           (uint32_t)(uint16_t)field_count << 16;
    uint64_t w = tid | (uint64_t)meta << 32;
#endif
    memcpy(&r->thread_id, &w, sizeof w);
}

/* Units a record of payload bytes takes. */
static inline uint32_t sluice_rec_units(size_t payload)
{
    return (uint32_t)((SLUICE_REC_HEADER + payload + SLUICE_UNIT - 1) / SLUICE_UNIT);
}

/* One consumer's place in one ring. Under the ring's lock but for done,
 * which producers read without it (to see how much room there is), and
 * taken, confirmed and level, which a crash handler reads without it
 * (crash.c: it may not take a lock the crashing thread holds); all are
 * written under the lock. */
typedef struct sluice_cursor {
    _Alignas(64) _Atomic uint64_t done; /* every record before is finished */
    uint64_t from;        /* [from, claimed) is the batch in flight */
    uint64_t claimed;
    _Atomic uint32_t taken; /* records in that batch (0: none in flight) */
    bool rendering;       /* the batch is still read from the ring */
    bool held;            /* a crash handler writes from done: no eviction */
    _Atomic uint8_t level; /* records below it are not for this consumer */
    uint64_t finished;    /* records passed: written, evicted, skipped */
    uint64_t evicted;     /* records drop_oldest took from this consumer */
    uint64_t filtered;    /* records passed below its level */
    /* what its sink confirmed of the batch in flight, before the release
     * (sluice_queue_confirm): a crash scan starts there when past done */
    _Atomic uint64_t confirmed;
} sluice_cursor;

/* One cache line each: a producer reads every consumer's done. */
_Static_assert(sizeof(sluice_cursor) == 64, "a cursor is one cache line");

/* 256 bytes (a power of two: finding a thread's ring is a shift), the
 * line its producers write first, then one read on every claim. */
typedef struct sluice_ring {
    _Alignas(64) _Atomic uint64_t head;    /* next unit to claim | CLOSED */
    /* read on every claim, written rarely (end) or never */
    _Alignas(64) _Atomic uint64_t end;     /* cached min of the cursors +
                                              units: no claim reaches past */
    uint64_t units;                        /* ring size in units, a power of two */
    uint64_t mask;
    uint64_t secret;                       /* the queue's, for publish words */
    unsigned char *base;                   /* the ring's first unit */
    sluice_cursor *cursor;                 /* [consumers], in the header pages */
    uint64_t tick_offset;                  /* durable: added to every tick */
    uint64_t durable_epoch;                /* durable: its queue's unique
                                              number (0: in memory) */
    /* the slow paths' */
    _Alignas(64) _Atomic uint32_t space_waiters; /* producers asleep */
    _Atomic uint32_t space_bell;
    _Atomic uint32_t claimers;             /* producers inside the slow claim */
    _Atomic uint64_t refused;              /* drop_newest, block timeouts, too large */
    _Atomic uint64_t refused_closed;       /* waited for room, then closed */
    _Atomic uint64_t evicted;              /* records drop_oldest removed */
    pthread_mutex_t lock;                  /* cursors' batches, evictions */
    pthread_cond_t rendered;               /* a batch stopped reading the ring */
} sluice_ring;
_Static_assert(sizeof(sluice_ring) == 256, "a ring's header is 256 bytes");

typedef struct sluice_queue {
    _Alignas(64) _Atomic uint32_t data_waiters;  /* consumers asleep */
    _Atomic uint32_t data_bell;                  /* futex word */
    _Atomic int closed;          /* intake closed */
    _Atomic int sealed;          /* no record will be added: drain and stop */
    _Atomic int leading;         /* the lead stage's cursor is in use (under
                                    every ring's lock; sluice_queue_lead) */
    _Atomic int filtering;       /* some consumer has a level */
    _Atomic int retired;         /* closed by a reload: a claim it refuses is
                                    not counted (the caller tries the queue
                                    that replaced it) */
    unsigned rings;              /* a power of two */
    unsigned ring_mask;
    unsigned consumers;
    uint32_t ring_off_mask;      /* ring_mask << 8: a thread's ring offset
                                    (sluice/fast.h) */
    uint32_t max_record;         /* bytes of payload a record may carry */
    size_t header_size;          /* bytes before the first ring's data */
    size_t region_size;
    uint64_t secret;
    struct sluice_durable *durable; /* its file, or NULL (in memory) */
    uint64_t settle_ticks;       /* a take leaves records younger (0: none) */
    uint64_t took[2];            /* bit c: consumer c has taken before (under
                                    every ring's lock) */
    sluice_ring ring[SLUICE_QUEUE_MAX_RINGS];
} sluice_queue;

typedef enum sluice_overflow {
    SLUICE_OVERFLOW_BLOCK = 0,
    SLUICE_OVERFLOW_DROP_NEWEST,
    SLUICE_OVERFLOW_DROP_OLDEST
} sluice_overflow;

/* The number of rings a queue of bytes gets by default: one per processor
 * (at most SLUICE_QUEUE_MAX_RINGS, a power of two), each at least 1 MiB. */
unsigned sluice_queue_default_rings(size_t bytes);
/* Bytes of region sluice_queue_create(bytes, rings, consumers) maps: each
 * ring a power of two (bytes / rings rounded down, at least
 * SLUICE_RING_MIN_BYTES), plus the header pages. */
size_t sluice_queue_region_size(size_t bytes, unsigned rings, unsigned consumers);
/* Map a region (anonymous, every page faulted in now) and lay a queue out
 * in it: bytes in all (rounded so that each of rings rings is a power of
 * two), for consumers cursors. NULL when the mapping fails. */
sluice_queue *sluice_queue_create(size_t bytes, unsigned rings, unsigned consumers);
void sluice_queue_destroy(sluice_queue *q);
/* The layout's parts, for a durable queue (durable.c): the bytes of each
 * ring for bytes in all, and the header pages' size. */
size_t sluice_queue_ring_bytes_(size_t bytes, unsigned rings);
size_t sluice_queue_header_size_(unsigned rings, unsigned consumers);
#define SLUICE_RING_SLACK_BYTES ((size_t)SLUICE_RING_SLACK_UNITS * SLUICE_UNIT)
/* Lay a queue out in header (header_size bytes, mapped by the caller)
 * with ring i at rings_base + i * (ring_bytes + slack): heads and cursors
 * at 0. A durable queue then sets them from its file. */
sluice_queue *sluice_queue_layout_(void *header, size_t header_size,
                                   unsigned char *rings_base,
                                   size_t ring_bytes, unsigned rings,
                                   unsigned consumers, uint64_t secret);
/* A random secret for publish words (never 0). */
uint64_t sluice_queue_random_secret_(void);
/* Write a padding record of units at off (published; checked in a
 * durable ring). */
void sluice_queue_write_pad_(sluice_ring *r, uint64_t off, uint64_t units);

/* The ring a producer thread (its 1-based index) writes into. */
static inline sluice_ring *sluice_queue_ring(sluice_queue *q, uint32_t thread_index)
{
    return &q->ring[thread_index & q->ring_mask];
}

/* May the straight path's prefetch run here? On x86 it is prefetchw,
 * which needs PRFCHW (an older processor faults on it); elsewhere the
 * compiler's write prefetch, which always may. Cached. */
bool sluice_queue_has_prefetchw_(void);

/* The claim's fast path, inlined into the producer: one compare-and-swap
 * when there is room (a record of up to SLUICE_RING_SLACK_UNITS units
 * needs no padding). false means "take the slow path" (sluice_queue_claim),
 * which pads for a longer record, handles a full ring and the overflow
 * policy. */
static inline bool sluice_queue_try_claim(sluice_ring *r, uint32_t units,
                                          sluice_rec **rec, uint64_t *off,
                                          bool prefetchw)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t e = atomic_load_explicit(&r->end, memory_order_acquire);
    /* the closed bit makes h + units huge: no claim once closed */
    if (__builtin_expect(units > SLUICE_RING_SLACK_UNITS || h + units > e, 0))
        return false;
    if (__builtin_expect(!atomic_compare_exchange_strong_explicit(
                             &r->head, &h, h + units, memory_order_acquire,
                             memory_order_relaxed),
                         0))
        return false;
    *off = h;
    unsigned char *at = r->base + (h & r->mask) * SLUICE_UNIT;
    /* warm what the next records will write: a large ring's memory is
     * otherwise cold (last touched a lap ago). With prefetchw (the
     * straight path, on a processor known to have it: SLUICE_SLOW_NO_PRFCHW
     * otherwise), the line comes for writing, taken from a worker that
     * streamed it in (docs/design.md); a read prefetch would leave it
     * shared, and the store would wait for it anyway. */
#if defined(__x86_64__)
    if (prefetchw)
        __asm__ volatile("prefetchw %0" : : "m"(*(at + SLUICE_PREFETCH_AHEAD)));
    else
#endif
        __builtin_prefetch(at + SLUICE_PREFETCH_AHEAD, 1, 3);
    (void)prefetchw;
    *rec = (sluice_rec *)(void *)at;
    return true;
}

/* Producer: claim units for a record. NULL when it was not accepted
 * (counted in refused, or refused_closed). block_timeout_ms < 0 waits
 * without limit. The caller fills the record and calls publish. */
sluice_rec *sluice_queue_claim(sluice_queue *q, sluice_ring *r, uint32_t units,
                               sluice_overflow policy, int block_timeout_ms,
                               uint64_t *off);

/* Publish a filled record: consumers may take it from now on. */
void sluice_queue_ring_data_(sluice_queue *q);
static inline void sluice_queue_publish(sluice_queue *q, sluice_ring *r,
                                        sluice_rec *rec, uint64_t off)
{
    atomic_store_explicit(&rec->publish, (off + 1) ^ r->secret,
                          memory_order_release);
    if (__builtin_expect(atomic_load_explicit(&q->data_waiters,
                                              memory_order_relaxed) != 0, 0))
        sluice_queue_ring_data_(q);
}

/* One record of a batch taken by a consumer. */
typedef struct sluice_taken {
    const sluice_rec *rec;
    uint64_t off;                /* its unit offset in its ring */
    uint64_t sequence;           /* unique in the lane: offset * rings + ring */
    uint8_t ring;
    bool filtered;               /* below the consumer's level: pass it
                                    without handing it over (the consumer
                                    may mark more before release) */
} sluice_taken;

/* Consumer c: take up to max published records across the rings, oldest
 * first (by ticks), into out. They stay owned by the caller until
 * sluice_queue_release; their memory may be read until
 * sluice_queue_rendered. Records younger than the queue's settle time are
 * left for a later take, unless the queue is sealed or this is c's first
 * take (see below). */
size_t sluice_queue_take(sluice_queue *q, unsigned c, sluice_taken *out,
                         size_t max);

/* Settling: a consumer that reads a record soon after its producer wrote
 * it takes the cache lines the producer is still writing (records are
 * 8-byte units, so a record shares its last line with the next one, and
 * the reader's hardware prefetcher streams on ahead), and that producer
 * pays a transfer for each record it writes meanwhile: one producer,
 * 20-record bursts 20 us apart, p99 140 ns while the worker read close
 * behind it, 31-38 ns with no worker reading at all, 37-50 ns when it left
 * records younger than 50-200 us. The runtime gives every logger's queue
 * SLUICE_QUEUE_SETTLE_NS; a record waits that much longer at most before
 * its sinks get it (the worker naps 200-500 us when idle anyway). A
 * consumer's first take is not held, so that a run loop gets at once what
 * was logged before it started. Only with TSC ticks (the wall clock may
 * step); 0 turns it off. */
#define SLUICE_QUEUE_SETTLE_NS 100000
void sluice_queue_set_settle(sluice_queue *q, uint64_t ticks);
/* The lead stage: from now on consumer q->consumers (one more cursor than
 * the consumers the queue was made for) goes first, and no other consumer
 * takes a record it has not passed (released). It starts past every record
 * a consumer has taken so far, so each record is either passed by the
 * stage before any consumer takes it, or taken by consumers without it.
 * The post-hook stage (worker.c) runs through it. Idempotent. */
void sluice_queue_lead(sluice_queue *q);
/* The stage's consumer index (take, rendered, release with it). */
static inline unsigned sluice_queue_leader(const sluice_queue *q)
{
    return q->consumers;
}
/* Where every consumer (not the stage) has passed in ring: no record
 * before it will be taken again. */
uint64_t sluice_queue_passed(sluice_queue *q, unsigned ring);
/* The batch's records are no longer read from the ring (they were copied
 * out): drop_oldest may take their room from now on. */
void sluice_queue_rendered(sluice_queue *q, unsigned c);
/* The first done records of the last take are done (handed over, or
 * passed as filtered: those marked so count in the cursor's filtered); the
 * rest are offered again by the next take (but those drop_oldest took
 * meanwhile, counted in the cursor's evicted, or filtered when marked).
 * Returns how many of the batch were lost so. */
size_t sluice_queue_release(sluice_queue *q, unsigned c,
                            const sluice_taken *batch, size_t n, size_t done);
/* Before the release, when the consumer has more to do with the batch
 * (the dead letter, which may take long): its first done records are done
 * with, as release will count them. Nothing changes but where a crash scan
 * of c starts (past them: its sink took or rejected them); release still
 * does the work. */
void sluice_queue_confirm(sluice_queue *q, unsigned c, const sluice_taken *batch,
                          size_t n, size_t done);
/* ---- reading a consumer's backlog from a signal handler (crash.c) ----
 * A scan reads consumer c's records from its cursors' done (or what its
 * sink confirmed of a batch not yet released, when past it) to the heads
 * as they were when it started, in the order sluice_queue_take gives them
 * (oldest ticks first across the rings), without a lock, an allocation or
 * a wait, and moves no cursor: the records stay queued. It gives records
 * below c's level too: the reader skips them (sluice_queue_level), once
 * it has checked the header it copied (sluice_queue_scan_intact). */
typedef struct sluice_queue_scan {
    sluice_queue *q;
    unsigned consumer;
    uint64_t at[SLUICE_QUEUE_MAX_RINGS];   /* where each ring's next record is */
    uint64_t end[SLUICE_QUEUE_MAX_RINGS];  /* its head when the scan began */
    const sluice_rec *next[SLUICE_QUEUE_MAX_RINGS]; /* published at at[], or NULL */
} sluice_queue_scan;

enum {
    SLUICE_SCAN_END = 0,      /* every ring is read up to its end */
    SLUICE_SCAN_RECORD = 1,   /* *out is the next record */
    SLUICE_SCAN_FILLING = 2   /* a ring's next record is claimed, not yet
                                 published: its producer is filling it */
};

void sluice_queue_scan_start(sluice_queue_scan *scan, sluice_queue *q, unsigned c);
/* The next record, or why none: on SLUICE_SCAN_FILLING, call again (the
 * producer may end soon), or give up on those records with
 * sluice_queue_scan_pass_filling. */
int sluice_queue_scan_next(sluice_queue_scan *scan, sluice_taken *out);
/* Go past the records still being filled: to the next record published
 * in each such ring (found by its publish word, which no stale byte can
 * match), or to the ring's end. They are not read. */
void sluice_queue_scan_pass_filling(sluice_queue_scan *scan);
/* Is t (a record the scan gave) still there? false once a producer has
 * claimed its room again (the consumer's done moved past it meanwhile:
 * its worker wrote it after all, drop_oldest took it, or it was below the
 * consumer's level and passed so); the scan then
 * goes on from that ring's done, and nothing read of t may be used. A
 * seqlock's check: copy what is needed (the header, whose call site is a
 * pointer), then check, then use the copy; check again after reading the
 * payload. */
bool sluice_queue_scan_intact(sluice_queue_scan *scan, const sluice_taken *t);
/* Does consumer c have a batch in flight (taken, not released)? No lock;
 * seq_cst, paired with the store of taken in sluice_queue_take: a thread
 * that stores a flag (seq_cst) and then finds no batch here knows that a
 * take made before the flag was visible is seen, and that a consumer
 * reading the flag (seq_cst) after its take sees it. */
bool sluice_queue_in_flight(sluice_queue *q, unsigned c);
/* Hold ring's records of consumer c from its done on: drop_oldest evicts
 * none of them (a producer needing room waits). Takes the ring's lock
 * with a trylock: false when it is busy. */
bool sluice_queue_try_hold(sluice_queue *q, unsigned c, unsigned ring);
/* Undo the holds of consumer c (tests: the process did not end). */
void sluice_queue_unhold(sluice_queue *q, unsigned c);

/* Records accepted and not yet finished at cursor c that are not below its
 * level (exact: counted); with a durable queue, those replayed from its
 * file too. */
uint64_t sluice_queue_pending(sluice_queue *q, unsigned c);
/* Both in one walk of c's backlog: pending as above, and filtered (may be
 * NULL), the records below c's level, passed so or queued past its
 * cursor. */
void sluice_queue_backlog(sluice_queue *q, unsigned c, uint64_t *pending,
                          uint64_t *filtered);
/* Consumer c's level: records below it are marked filtered when taken,
 * counted in filtered, and hold no room for it: while c has no batch in
 * flight (its sink failing, given up), a producer that finds the ring full
 * first moves c's cursor past the ones it sits on, and so does this call.
 * SLUICE_LEVEL_TRACE: every record is c's. */
void sluice_queue_set_level(sluice_queue *q, unsigned c, sluice_level level);
/* No lock: a crash handler may ask. */
sluice_level sluice_queue_level(sluice_queue *q, unsigned c);
/* Nothing is pending at cursor c (cheap). */
bool sluice_queue_drained(sluice_queue *q, unsigned c);
/* Records ever accepted into the queue (not those replayed from a
 * durable queue's file). */
uint64_t sluice_queue_accepted(sluice_queue *q);
/* Counters summed over the rings. */
uint64_t sluice_queue_refused(sluice_queue *q);
uint64_t sluice_queue_refused_closed(sluice_queue *q);
uint64_t sluice_queue_evicted(sluice_queue *q);
uint64_t sluice_queue_cursor_evicted(sluice_queue *q, unsigned c);
/* Records cursor c had pending in a durable queue's file at open. */
uint64_t sluice_queue_cursor_replayed(sluice_queue *q, unsigned c);
/* Units in use and in all, for the fill gauge. */
void sluice_queue_fill(sluice_queue *q, uint64_t *used_bytes, uint64_t *size_bytes);

/* What a consumer needs of a durable record (durable.c): its call site
 * from its id, its time from its ticks (the file's eras). */
struct sluice_durable;
const sluice_callsite *sluice_durable_site_(struct sluice_durable *d,
                                            uint64_t site);
int64_t sluice_durable_time_ns_(struct sluice_durable *d,
                                const sluice_clock_snapshot *clk,
                                uint64_t ticks);
/* Records consumer c had pending in ring when the file was opened, and
 * where its cursor was then. */
uint64_t sluice_durable_replayed_(const struct sluice_durable *d,
                                  unsigned ring, unsigned c);
uint64_t sluice_durable_opened_at_(const struct sluice_durable *d,
                                   unsigned ring, unsigned c);

/* The call site of a KIND_ARGS record (NULL: none). */
static inline const sluice_callsite *sluice_queue_site(const sluice_queue *q,
                                                       const sluice_rec *rec)
{
    if (__builtin_expect(q->durable != NULL, 0))
        return sluice_durable_site_(q->durable, rec->site);
    return rec->callsite;
}

/* A record's wall-clock time, in ns since the epoch. */
static inline int64_t sluice_queue_time_ns(const sluice_queue *q,
                                           const sluice_clock_snapshot *clk,
                                           const sluice_rec *rec)
{
    if (__builtin_expect(q->durable != NULL, 0))
        return sluice_durable_time_ns_(q->durable, clk, rec->ticks);
    return sluice_clock_snapshot_ns(clk, rec->ticks);
}

/* Sleep until records may be available or timeout_ms passes. */
void sluice_queue_wait_data(sluice_queue *q, unsigned c, int timeout_ms);
/* Stop intake: each head gets SLUICE_HEAD_CLOSED, so no claim succeeds
 * from now on (the inline claim fails, the slow one refuses, counted in
 * refused_closed), and a claim waiting for room wakes and gives up. A
 * claim made before is published as usual. */
void sluice_queue_close(sluice_queue *q);
static inline int sluice_queue_is_closed(sluice_queue *q)
{
    return atomic_load_explicit(&q->closed, memory_order_acquire);
}
/* Close intake because a reload replaced the queue: as sluice_queue_close,
 * but a claim refused from now on is not counted anywhere (NULL from
 * sluice_queue_claim, and sluice_queue_is_retired says to go elsewhere). */
void sluice_queue_retire(sluice_queue *q);
static inline int sluice_queue_is_retired(sluice_queue *q)
{
    return atomic_load_explicit(&q->retired, memory_order_acquire);
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
 * and frees the rings (a claim made just before the head closed may still
 * be being filled; one waiting for room is still on its way out). */
bool sluice_queue_quiet(sluice_queue *q);
/* Free the rings' memory, keep the header pages: what a producer racing
 * with close may still read (heads, ends, waiters, bells) stays valid.
 * The queue is unusable after. */
void sluice_queue_bury(sluice_queue *q);
/* Wake every sleeper (close, resume). */
void sluice_queue_wake(sluice_queue *q);

#endif
