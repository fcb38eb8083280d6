/*
 * sluice/fast.h -- the call site's inline claim (included by sluice.h; not
 * an API: nothing here is for a host to call or read).
 *
 * An enabled deferred call writes its record inline, at the call site,
 * the way the straight path inside the library does (core/producer.c):
 * one compare-and-swap on the thread's ring for room, the arguments, the
 * header, the time, the publish word. Up to three fixed-size arguments
 * come in registers (sluice_fast_log_, and sluice_fast_durable_ for a
 * durable queue, which seals the record with its CRC-32C); more, or
 * strings, in an array (sluice_fast_args_: up to 8, a record of up to
 * 4 KiB, memory queues only).
 * Whatever else (the thread's first call, a full ring, several lanes,
 * hooks, a durable queue, close, a fork's child, no invariant TSC or no
 * prefetchw: any bit of the logger's slow-path word) goes to the
 * library's sluice_log_aN_ or sluice_log_args_, which decides. So does
 * every call on a processor or compiler this file does not know (x86-64
 * with GCC or Clang only), and every call when SLUICE_NO_INLINE_CLAIM is
 * defined. The thread word is initial-exec TLS, as the library's own is.
 *
 * What it reads of the library's objects is their layout, stated here
 * (SLUICE_FAST_*) and checked by the library at its compile time against
 * its own (core/producer.c); a release that changes any of it changes the
 * soname. It writes only the record it claimed.
 */
#ifndef SLUICE_FAST_H
#define SLUICE_FAST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The calling thread: its kernel id (0 until its first call into the
 * library), and its 1-based index shifted to a ring's offset (the queue's
 * ring mask, shifted alike, picks its ring). Written by the library only. */
struct sluice_fast_thread_ {
    uint32_t id;
    uint32_t ring;
};
#if defined(__GNUC__) || defined(__clang__)
extern __thread __attribute__((tls_model("initial-exec")))
struct sluice_fast_thread_ sluice_fast_thread_;
#endif

/* The thread's call-site ids in durable queues (a durable record names
 * its call site by its id in the file), direct-mapped by the call site's
 * address; epoch is the queue's, never reused. Written by the library
 * only (a miss goes to it). */
#define SLUICE_FAST_SITES 16
struct sluice_fast_site_ {
    uint64_t epoch;
    const void *cs;
    uint64_t site;
};
#if defined(__GNUC__) || defined(__clang__)
extern __thread __attribute__((tls_model("initial-exec")))
struct sluice_fast_site_ sluice_fast_sites_[SLUICE_FAST_SITES];
/* The entry of call site cs (the library's lookup and fill use it too). */
#define SLUICE_FAST_SITE_OF_(cs)                                               \
    (&sluice_fast_sites_[((uintptr_t)(cs) >> 4) & (SLUICE_FAST_SITES - 1)])
#endif

/* After a publish that found a consumer asleep on the queue: ring it. */
void sluice_fast_wake_(void *queue);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) &&    \
    !defined(SLUICE_NO_INLINE_CLAIM)
#define SLUICE_FAST_INLINE 1

/* The layout the inline claim reads. */
#define SLUICE_FAST_LOGGER_QUEUE 8   /* struct sluice_logger: its first queue
                                        while no slow-path bit is set, or NULL */
#define SLUICE_FAST_LOGGER_DURABLE 16 /* ... while the bits say durable alone
                                        (with crc32), or NULL */
#define SLUICE_FAST_QUEUE_WAITERS 0  /* sluice_queue: consumers asleep */
#define SLUICE_FAST_QUEUE_RING_MASK 40 /* ring_mask << SLUICE_FAST_RING_SHIFT */
#define SLUICE_FAST_QUEUE_RINGS 128  /* its first ring */
#define SLUICE_FAST_RING_SHIFT 8     /* a ring is 256 bytes */
#define SLUICE_FAST_RING_HEAD 0      /* next unit to claim | closed bit */
#define SLUICE_FAST_RING_END 64      /* no claim may reach past it */
#define SLUICE_FAST_RING_MASK 80
#define SLUICE_FAST_RING_SECRET 88
#define SLUICE_FAST_RING_BASE 96
#define SLUICE_FAST_RING_TICK_OFFSET 112 /* durable: added to every time */
#define SLUICE_FAST_RING_EPOCH 120   /* durable: its queue's number */
#define SLUICE_FAST_REC_HEADER 48    /* sluice_rec, queue_internal.h */
#define SLUICE_FAST_REC_SIZES 8      /* units, payload length (u32 each) */
#define SLUICE_FAST_REC_SITE 16
#define SLUICE_FAST_REC_TICKS 24
#define SLUICE_FAST_REC_ID 32        /* thread id (u32), level, kind, fields */
#define SLUICE_FAST_REC_BODY 40      /* body length (u32), check (u32) */
#define SLUICE_FAST_KIND_ARGS 1
#define SLUICE_FAST_PREFETCH 512     /* the line warmed ahead, for writing */

#define SLUICE_FAST_AT_(p, off, T) ((T *)(void *)((unsigned char *)(p) + (off)))

/* The pieces every form of call shares. Macros, not functions: as inline
 * functions the forms came out 4 or 5 instructions longer (registers).
 * Those that can fail return 0 from the function they are in: the
 * library's turn. */

/* q: the logger's queue at off (SLUICE_FAST_LOGGER_*), id: the thread's;
 * neither yet known (NULL, 0): the library's turn. */
#define SLUICE_FAST_QUEUE_(lg, off, q, id)                                     \
    unsigned char *q = __atomic_load_n(SLUICE_FAST_AT_(lg, off, unsigned char *), \
                                       __ATOMIC_ACQUIRE);                      \
    uint32_t id = sluice_fast_thread_.id;                                      \
    if (__builtin_expect(q == 0 || id == 0, 0))                                \
        return 0

/* The thread's ring of q. */
#define SLUICE_FAST_RING_(q)                                                   \
    ((q) + SLUICE_FAST_QUEUE_RINGS +                                           \
     (sluice_fast_thread_.ring &                                               \
      *SLUICE_FAST_AT_(q, SLUICE_FAST_QUEUE_RING_MASK, uint32_t)))

/* Claim units in ring r: sets h (the offset) and rec, warms the line ahead
 * for writing, or returns 0 (the ring full or closed, another thread's
 * claim first). */
#define SLUICE_FAST_CLAIM_(r, units, h, rec)                                   \
    do {                                                                       \
        uint64_t *headp_ = SLUICE_FAST_AT_(r, SLUICE_FAST_RING_HEAD, uint64_t); \
        h = __atomic_load_n(headp_, __ATOMIC_RELAXED);                         \
        /* the closed bit makes h + units huge: no claim once closed */        \
        if (__builtin_expect(                                                  \
                h + (units) > __atomic_load_n(SLUICE_FAST_AT_(r, SLUICE_FAST_RING_END, \
                                                              uint64_t),       \
                                              __ATOMIC_ACQUIRE),               \
                0))                                                            \
            return 0;                                                          \
        if (__builtin_expect(!__atomic_compare_exchange_n(headp_, &h, h + (units), 0, \
                                                          __ATOMIC_ACQUIRE,    \
                                                          __ATOMIC_RELAXED),   \
                             0))                                               \
            return 0;                                                          \
        rec = *SLUICE_FAST_AT_(r, SLUICE_FAST_RING_BASE, unsigned char *) +    \
              (h & *SLUICE_FAST_AT_(r, SLUICE_FAST_RING_MASK, uint64_t)) * 8;  \
        __asm__ volatile("prefetchw %0" : : "m"(*(rec + SLUICE_FAST_PREFETCH))); \
    } while (0)

/* The thread id, level and kind word of a record's header. */
#define SLUICE_FAST_ID_WORD_(id, lvl)                                          \
    ((id) | (uint64_t)((uint32_t)(uint8_t)(lvl) | (uint32_t)SLUICE_FAST_KIND_ARGS << 8) \
                << 32)

/* The publish word of the record at h in ring r, then the queue rung if a
 * consumer sleeps on it. */
#define SLUICE_FAST_PUBLISH_(q, r, h, rec)                                     \
    do {                                                                       \
        __atomic_store_n(SLUICE_FAST_AT_(rec, 0, uint64_t),                    \
                         (h + 1) ^ *SLUICE_FAST_AT_(r, SLUICE_FAST_RING_SECRET, uint64_t), \
                         __ATOMIC_RELEASE);                                    \
        if (__builtin_expect(__atomic_load_n(SLUICE_FAST_AT_(q, SLUICE_FAST_QUEUE_WAITERS, \
                                                             uint32_t),        \
                                             __ATOMIC_RELAXED) != 0,           \
                             0))                                               \
            sluice_fast_wake_(q);                                              \
    } while (0)

/* The header of a memory queue's record whose body (body bytes) is
 * written, then its publish word. */
#define SLUICE_FAST_SEAL_(q, r, h, rec, units, body, cs, id, lvl)              \
    do {                                                                       \
        *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_SIZES, uint64_t) =               \
            (units) | (uint64_t)(body) << 32;                                  \
        *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_SITE, const void *) = (cs);      \
        /* the time in its two halves, as rdtsc gives them (little endian) */ \
        uint32_t lo_, hi_;                                                     \
        __asm__ volatile("rdtsc" : "=a"(lo_), "=d"(hi_));                      \
        *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_TICKS, uint32_t) = lo_;          \
        *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_TICKS + 4, uint32_t) = hi_;      \
        *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_ID, uint64_t) = SLUICE_FAST_ID_WORD_(id, lvl); \
        /* the body's length, and check: 0 */                                  \
        *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_BODY, uint64_t) = (body);         \
        SLUICE_FAST_PUBLISH_(q, r, h, rec);                                    \
    } while (0)

/* Up to three fixed-size arguments into the body. */
#define SLUICE_FAST_BODY3_(rec, n, a1, a2, a3)                                 \
    do {                                                                       \
        uint64_t *body_ = SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_HEADER, uint64_t); \
        if ((n) > 0)                                                           \
            body_[0] = (a1);                                                   \
        if ((n) > 1)                                                           \
            body_[1] = (a2);                                                   \
        if ((n) > 2)                                                           \
            body_[2] = (a3);                                                   \
    } while (0)

/* n (0..3) fixed-size arguments. 1: written; 0: the library's turn. */
static inline __attribute__((always_inline)) int
sluice_fast_log_(void *lg, int lvl, const void *cs, uint64_t a1, uint64_t a2,
                 uint64_t a3, unsigned n)
{
    SLUICE_FAST_QUEUE_(lg, SLUICE_FAST_LOGGER_QUEUE, q, id);
    const uint64_t units = (SLUICE_FAST_REC_HEADER + 8 * n) / 8;
    unsigned char *r = SLUICE_FAST_RING_(q), *rec;
    uint64_t h;
    SLUICE_FAST_CLAIM_(r, units, h, rec);
    SLUICE_FAST_BODY3_(rec, n, a1, a2, a3);
    SLUICE_FAST_SEAL_(q, r, h, rec, units, 8 * n, cs, id, lvl);
    return 1;
}

/* crc32c steps (SSE4.2's crc32, as instructions: the host need not be
 * compiled for SSE4.2; the bits say the processor has it). */
#define SLUICE_FAST_CRC64_(crc, w) __asm__("crc32q %1, %0" : "+r"(crc) : "rm"((uint64_t)(w)))

/* n (0..3) fixed-size arguments into a durable queue: the call site's id
 * from the thread's cache, the record sealed with its CRC-32C (the
 * library's order, sluice_rec_check_) before the publish word. */
static inline __attribute__((always_inline)) int
sluice_fast_durable_(void *lg, int lvl, const void *cs, uint64_t a1, uint64_t a2,
                     uint64_t a3, unsigned n)
{
    SLUICE_FAST_QUEUE_(lg, SLUICE_FAST_LOGGER_DURABLE, q, id);
    unsigned char *r = SLUICE_FAST_RING_(q), *rec;
    const struct sluice_fast_site_ *known = SLUICE_FAST_SITE_OF_(cs);
    if (__builtin_expect(known->cs != cs ||
                             known->epoch != *SLUICE_FAST_AT_(r, SLUICE_FAST_RING_EPOCH,
                                                              uint64_t),
                         0))
        return 0;
    uint64_t site = known->site;
    const uint64_t units = (SLUICE_FAST_REC_HEADER + 8 * n) / 8;
    uint64_t sizes = units | (uint64_t)(8 * n) << 32;
    uint64_t idw = SLUICE_FAST_ID_WORD_(id, lvl);
    /* all but the time before the claim: only the time's step after */
    uint64_t crc = 0xFFFFFFFFu;
    SLUICE_FAST_CRC64_(crc, sizes);
    SLUICE_FAST_CRC64_(crc, site);
    SLUICE_FAST_CRC64_(crc, idw);
    {
        uint32_t c32 = (uint32_t)crc;
        __asm__("crc32l %1, %0" : "+r"(c32) : "rm"((uint32_t)(8 * n)));
        crc = c32;
    }
    if (n > 0)
        SLUICE_FAST_CRC64_(crc, a1);
    if (n > 1)
        SLUICE_FAST_CRC64_(crc, a2);
    if (n > 2)
        SLUICE_FAST_CRC64_(crc, a3);
    uint64_t h;
    SLUICE_FAST_CLAIM_(r, units, h, rec);
    SLUICE_FAST_BODY3_(rec, n, a1, a2, a3);
    *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_SIZES, uint64_t) = sizes;
    *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_SITE, uint64_t) = site;
    *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_ID, uint64_t) = idw;
    uint64_t ticks = __builtin_ia32_rdtsc() +
                     *SLUICE_FAST_AT_(r, SLUICE_FAST_RING_TICK_OFFSET, uint64_t);
    *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_TICKS, uint64_t) = ticks;
    SLUICE_FAST_CRC64_(crc, ticks);
    *SLUICE_FAST_AT_(rec, SLUICE_FAST_REC_BODY, uint64_t) =
        8 * n | (uint64_t)(uint32_t)~(uint32_t)crc << 32;
    SLUICE_FAST_PUBLISH_(q, r, h, rec);
    return 1;
}

/* The same for a call whose arguments are in an array, strings among them
 * (encoded as the library does: a string is its length, a u32, UINT32_MAX
 * for NULL, then at most string_max of its bytes; any other argument 8
 * bytes). The call site's descriptor is a static constant, so the loops
 * unroll to its types. A record longer than SLUICE_FAST_SLACK_UNITS (a
 * string of 4 KiB) goes to the library, which pads for it. */
#define SLUICE_FAST_SLACK_UNITS 512
#define SLUICE_FAST_ARG_STRING 4
#define SLUICE_FAST_ARGS_MAX 8

static inline __attribute__((always_inline)) int
sluice_fast_args_(void *lg, int lvl, const struct sluice_callsite *cs,
                  const uint64_t *args, size_t string_max)
{
    unsigned n = cs->arg_count;
    if (n > SLUICE_FAST_ARGS_MAX)
        return 0;
    SLUICE_FAST_QUEUE_(lg, SLUICE_FAST_LOGGER_QUEUE, q, id);
    uint32_t len[SLUICE_FAST_ARGS_MAX];
    uint64_t body = 0;
    for (unsigned i = 0; i < n; i++) {
        if (cs->arg_types[i] == SLUICE_FAST_ARG_STRING) {
            const char *str = (const char *)(uintptr_t)args[i];
            len[i] = str ? (uint32_t)strnlen(str, string_max) : UINT32_MAX;
            body += 4 + (str ? len[i] : 0);
        } else {
            body += 8;
        }
    }
    uint64_t units = (SLUICE_FAST_REC_HEADER + body + 7) / 8;
    if (__builtin_expect(units > SLUICE_FAST_SLACK_UNITS, 0))
        return 0;
    unsigned char *r = SLUICE_FAST_RING_(q), *rec;
    uint64_t h;
    SLUICE_FAST_CLAIM_(r, units, h, rec);
    unsigned char *p = rec + SLUICE_FAST_REC_HEADER;
    for (unsigned i = 0; i < n; i++) {
        if (cs->arg_types[i] == SLUICE_FAST_ARG_STRING) {
            memcpy(p, &len[i], 4);
            p += 4;
            if (len[i] != UINT32_MAX) {
                memcpy(p, (const char *)(uintptr_t)args[i], len[i]);
                p += len[i];
            }
        } else {
            memcpy(p, &args[i], 8);
            p += 8;
        }
    }
    SLUICE_FAST_SEAL_(q, r, h, rec, units, body, cs, id, lvl);
    return 1;
}
#endif

#endif
