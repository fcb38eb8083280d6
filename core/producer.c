/*
 * producer.c -- the logging calls: what runs on the caller's thread.
 *
 * A call picks a lane and its thread's ring, claims room, writes the record
 * (and the time) and publishes it: no lock, no system call, no allocation. The straight path (one lane, no hooks, up to three
 * fixed-size arguments) compiles to a straight line that leaves only by
 * tail calls; everything else goes through route() into one encoder,
 * produce(). One writer fills a record's header (write_header). Records
 * live in the queue's rings whatever their size (up to the queue's
 * max_record): nothing is allocated.
 *
 * Close: once close began, a call reads SLUICE_SLOW_CLOSING in the
 * logger's bits and returns at once, counting nothing; the queue's head is
 * closed too (SLUICE_HEAD_CLOSED), so no claim can succeed any more, and a
 * call blocked on a full queue wakes and gives up (counted as closed). A
 * claim made before that is published without waiting for anything, and
 * close waits for it. After close, a call reads only what the logger's
 * husk keeps (its bits, its queues' headers): nothing that is freed.
 * In a fork's child (SLUICE_SLOW_FORKED) every call is dropped and counted.
 *
 * A durable logger (SLUICE_SLOW_DURABLE) takes a twin of the straight
 * path: the call site's id from the thread's cache instead of its pointer
 * (a miss goes the general way, which looks it up or appends it to the
 * file), the ticks with the file's offset, and the record's CRC-32C from
 * the words in registers (SSE4.2), stored before the publish word. The
 * general path does the same through durable.c.
 *
 * Reload: a call reads the logger's generation once (lg->gen, acquire)
 * and takes the lanes, their queues and the overflow policy from it (the
 * straight path reads only its first queue, lg->lane0). A
 * reload that replaces the generation retires its queues (their heads
 * closed, as close does): a claim there fails, counting nothing, and the
 * call places its record in the generation that replaced it.
 * Knows nothing of INI syntax, of sinks or of the run loop.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock_internal.h"
#include "durable_internal.h"
#include "guard_internal.h"
#include "runtime_internal.h"

#define SLUICE_TEXT_MAX (1u << 20) /* longest sluice_log_str message kept */

static inline sluice_queue *pick_lane(sluice_logger *lg, const sluice_logger *gen,
                                      uint32_t tid, sluice_level lvl)
{
    if (__builtin_expect(gen->lanes == 1, 1))
        return gen->queues[0];
    unsigned lane;
    sluice_scheduler_fn fn = atomic_load_explicit(&lg->scheduler_fn,
                                                  memory_order_acquire);
    if (fn)
        lane = fn(atomic_load_explicit(&lg->scheduler_user, memory_order_relaxed),
                  tid, lvl, gen->lanes) % gen->lanes;
    else if (gen->scheduler == SLUICE_SCHEDULER_ROUND_ROBIN)
        lane = (sluice_guard_.thread_index - 1) % gen->lanes;
    else
        lane = (unsigned)(tid * 2654435761u >> 16) % gen->lanes;
    return gen->queues[lane];
}

/* After a publish that found a consumer asleep on the queue: ring it. */
static __attribute__((noinline, cold)) void
finish(sluice_queue *q)
{
    sluice_queue_ring_data_(q);
}

/* Every header field of a record, in one place. The time is taken here,
 * once the record's room is claimed, so that times increase along a ring;
 * on the straight path the TSC is known to be there (slow_path says
 * otherwise). */
static inline __attribute__((always_inline)) void
write_header(sluice_rec *rec, uint32_t units, const sluice_callsite *cs,
             uint32_t tid, sluice_level lvl, unsigned kind, uint32_t length,
             uint32_t args_length, unsigned field_count, bool straight)
{
    rec->units = units;
    rec->length = length;
    rec->callsite = cs;
#if defined(__x86_64__) || defined(__i386__)
    rec->ticks = straight ? __rdtsc() : sluice_clock_ticks();
#else
    (void)straight;
    rec->ticks = sluice_clock_ticks();
#endif
    sluice_rec_set_id(rec, tid, lvl, kind, field_count);
    rec->args_length = args_length;
    rec->check = 0;
}

/* Room for a record of len payload bytes in the calling thread's ring: the
 * inline claim first, the overflow policy only when the ring is full. NULL:
 * not accepted (already counted). */
static inline __attribute__((always_inline)) sluice_rec *
claim(const sluice_logger *gen, sluice_queue *q, size_t len, sluice_ring *ring,
      uint64_t *off)
{
    uint32_t units = sluice_rec_units(len);
    sluice_rec *rec;
    if (__builtin_expect(!sluice_queue_try_claim(ring, units, &rec, off, false), 0))
        rec = sluice_queue_claim(q, ring, units, gen->overflow,
                                 gen->block_timeout_ms, off);
    return rec;
}

static size_t kv_len(const char *s)
{
    return s ? strnlen(s, SLUICE_STRING_MAX) : 0;
}

/* A NULL key or value is stored as empty. */
static unsigned char *put_kvs(unsigned char *p, const sluice_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)kv_len(kv[i].key), v = (uint32_t)kv_len(kv[i].value);
        memcpy(p, &k, 4);
        if (k)
            memcpy(p + 4, kv[i].key, k);
        p += 4 + k;
        memcpy(p, &v, 4);
        if (v)
            memcpy(p + 4, kv[i].value, v);
        p += 4 + v;
    }
    return p;
}

static size_t kvs_size(const sluice_kv *kv, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += 8 + kv_len(kv[i].key) + kv_len(kv[i].value);
    return len;
}

/* Encode one record and queue it. The body is either the encoded arguments
 * of a deferred call (cs != NULL) or text; then the fields: the pre-hooks',
 * then the call's (the worker puts the base fields first, the post-hooks'
 * last, and a later key wins). Inlined into each caller so that the plain
 * deferred call (no text, no fields) compiles to a straight line. A text
 * too long for the queue's largest record is cut; fields that would not
 * fit are left out. */
static inline __attribute__((always_inline)) void
produce(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
        const uint64_t *args, const char *text, size_t text_len,
        const sluice_kv *kv, size_t nkv, const sluice_kv *extra, size_t nextra)
{
    uint32_t tid = sluice_guard_thread_id_();
    uint32_t slen[24];
    size_t body;
    if (cs) {
        body = cs->fixed_size;
        if (!body) {
            for (unsigned i = 0; i < cs->arg_count; i++) {
                if (cs->arg_types[i] == SLUICE_ARG_STRING) {
                    const char *s = (const char *)(uintptr_t)args[i];
                    slen[i] = s ? (uint32_t)strnlen(s, SLUICE_STRING_MAX) : UINT32_MAX;
                    body += 4 + (s ? slen[i] : 0);
                } else {
                    body += 8;
                }
            }
        }
    } else {
        body = text_len;
    }
    sluice_queue *q;
    sluice_ring *ring;
    uint64_t off;
    sluice_rec *rec;
again:;
    const sluice_logger *gen = sluice_logger_gen_(lg);
    q = pick_lane(lg, gen, tid, lvl);
    ring = sluice_queue_ring(q, sluice_guard_.thread_index);
    if (__builtin_expect(body > q->max_record, 0)) {
        if (cs) { /* arguments too large for one record: refused, counted */
            atomic_fetch_add_explicit(&ring->refused, 1, memory_order_relaxed);
            return;
        }
        body = text_len = q->max_record; /* text: cut */
    }
    size_t len = body;
    if (nkv)
        len += kvs_size(kv, nkv);
    if (nextra)
        len += kvs_size(extra, nextra);
    if (__builtin_expect(len > q->max_record, 0)) {
        len = body; /* the fields do not fit: the record goes without */
        nkv = nextra = 0;
    }
    rec = claim(gen, q, len, ring, &off);
    if (!rec) {
        if (sluice_queue_is_retired(q))
            goto again; /* a reload replaced the queue: into the new one */
        return;
    }
    uint64_t site = 0;
    if (__builtin_expect(ring->durable_epoch != 0, 0) && cs) {
        /* after the claim: close waits for it, so the file is still there */
        site = sluice_durable_site_id_(q, ring, cs);
        if (!site) { /* the file's call-site table is full: refused */
            sluice_queue_write_pad_(ring, off, sluice_rec_units(len));
            atomic_fetch_add_explicit(&ring->refused, 1, memory_order_relaxed);
            return;
        }
    }
    unsigned char *p = rec->payload;
    if (!cs) {
        if (text && text_len)
            memcpy(p, text, text_len);
        p += text_len;
    } else if (cs->fixed_size) {
        memcpy(p, args, cs->fixed_size);
        p += cs->fixed_size;
    } else {
        for (unsigned i = 0; i < cs->arg_count; i++) {
            if (cs->arg_types[i] == SLUICE_ARG_STRING) {
                memcpy(p, &slen[i], 4);
                p += 4;
                if (slen[i] != UINT32_MAX) {
                    memcpy(p, (const char *)(uintptr_t)args[i], slen[i]);
                    p += slen[i];
                }
            } else {
                memcpy(p, &args[i], 8);
                p += 8;
            }
        }
    }
    if (nextra)
        p = put_kvs(p, extra, nextra);
    if (nkv)
        p = put_kvs(p, kv, nkv);
    write_header(rec, sluice_rec_units(len), cs, tid, lvl,
                 cs ? SLUICE_KIND_ARGS : SLUICE_KIND_TEXT, (uint32_t)len,
                 (uint32_t)body, (unsigned)(nkv + nextra), false);
    if (__builtin_expect(ring->durable_epoch != 0, 0)) {
        rec->site = site;
        rec->ticks += ring->tick_offset;
        rec->check = sluice_rec_check_(rec);
    }
    sluice_queue_publish(q, ring, rec, off);
}

/* The path with pre-hooks: they may reject the record or add fields. */
static void produce_hooked(sluice_logger *lg, sluice_level lvl,
                           const sluice_callsite *cs, const uint64_t *args,
                           const char *text, size_t text_len,
                           const sluice_kv *kv, size_t nkv)
{
    sluice_hook_record r;
    r.level = lvl;
    r.callsite = cs;
    r.text = text;
    r.text_len = text_len;
    r.fields = kv;
    r.field_count = nkv;
    r.extra_count = 0;
    unsigned n = atomic_load_explicit(&lg->pre_hook_count, memory_order_acquire);
    for (unsigned i = 0; i < n; i++) {
        sluice_pre_hook_fn fn = (sluice_pre_hook_fn)lg->pre_hooks[i].fn;
        if (!fn(lg->pre_hooks[i].user, &r)) {
            atomic_fetch_add_explicit(&lg->rejected, 1, memory_order_relaxed);
            return;
        }
        if (r.extra_count > SLUICE_HOOK_EXTRA_MAX)
            r.extra_count = SLUICE_HOOK_EXTRA_MAX;
    }
    produce(lg, lvl, cs, args, text, text_len, kv, nkv, r.extra, r.extra_count);
}

/* Every record but the straight path's: through the pre-hooks when the
 * logger has any, then encoded and queued by produce(). */
static inline __attribute__((always_inline)) void
route(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
      const uint64_t *args, const char *text, size_t text_len,
      const sluice_kv *kv, size_t nkv)
{
    unsigned slow = atomic_load_explicit(&lg->slow_path, memory_order_relaxed);
    if (__builtin_expect(slow & (SLUICE_SLOW_CLOSING | SLUICE_SLOW_FORKED), 0)) {
        if (slow & SLUICE_SLOW_FORKED)
            atomic_fetch_add_explicit(&lg->forked, 1, memory_order_relaxed);
    } else if (atomic_load_explicit(&lg->pre_hook_count, memory_order_relaxed)) {
        produce_hooked(lg, lvl, cs, args, text, text_len, kv, nkv);
    } else {
        produce(lg, lvl, cs, args, text, text_len, kv, nkv, NULL, 0);
    }
}

/* The straight path's way out: the first call on a thread, no invariant
 * TSC, hooks, lanes, or a full queue (the overflow policy decides). Taking
 * the arguments in registers makes every way out a tail call, so the
 * straight path needs no stack frame. */
static __attribute__((noinline, cold)) void
log_general3(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
             uint64_t a1, uint64_t a2, uint64_t a3)
{
    const uint64_t v[3] = {a1, a2, a3};
    route(lg, lvl, cs, v, NULL, 0, NULL, 0);
}

#if defined(__x86_64__)
/* SSE4.2's crc32, as an instruction rather than an intrinsic: the
 * straight path's functions are not compiled for SSE4.2 as a whole, and
 * reach this only when the processor has it (SLUICE_SLOW_SOFT_CRC). */
static inline __attribute__((always_inline)) uint64_t crc_step64(uint64_t crc,
                                                                 uint64_t word)
{
    __asm__("crc32q %1, %0" : "+r"(crc) : "rm"(word));
    return crc;
}

static inline __attribute__((always_inline)) uint64_t crc_step32(uint64_t crc,
                                                                 uint32_t word)
{
    uint32_t c = (uint32_t)crc;
    __asm__("crc32l %1, %0" : "+r"(c) : "rm"(word));
    return c;
}

/* The durable twin of the straight path (slow_path is exactly
 * SLUICE_SLOW_DURABLE), inlined into it: the call site's id from the
 * thread's cache, the record sealed with its CRC-32C (sluice_rec_check_'s
 * order, from the words in registers) before the publish word. A cache
 * miss, the thread's first call or a full ring go the general way. */
static inline __attribute__((always_inline)) void
log_durable(sluice_logger *lg, sluice_queue *q, sluice_level lvl,
            const sluice_callsite *cs, uint64_t a1, uint64_t a2, uint64_t a3,
            unsigned n)
{
    uint32_t tid = sluice_guard_.thread_id;
    if (__builtin_expect(tid == 0, 0))
        return log_general3(lg, lvl, cs, a1, a2, a3);
    sluice_ring *ring = sluice_queue_ring(q, sluice_guard_.thread_index);
    const sluice_site_cache_entry *known = sluice_site_cache_of_(cs);
    if (__builtin_expect(known->cs != cs || known->epoch != ring->durable_epoch, 0))
        return log_general3(lg, lvl, cs, a1, a2, a3);
    uint64_t site = known->site;
    uint32_t units = sluice_rec_units(8 * n);
    uint64_t sizes = units | (uint64_t)(8 * n) << 32;
    uint32_t meta = (uint32_t)(uint8_t)lvl | (uint32_t)SLUICE_KIND_ARGS << 8;
    uint64_t id_meta = tid | (uint64_t)meta << 32;
    /* the CRC of all but the time, before the claim: it runs while the
     * compare-and-swap does, and only the time's step is left after */
    uint64_t crc = 0xFFFFFFFFu;
    crc = crc_step64(crc, sizes);
    crc = crc_step64(crc, site);
    crc = crc_step64(crc, id_meta);
    crc = crc_step32(crc, 8 * n);
    if (n > 0)
        crc = crc_step64(crc, a1);
    if (n > 1)
        crc = crc_step64(crc, a2);
    if (n > 2)
        crc = crc_step64(crc, a3);
    uint64_t off;
    sluice_rec *rec;
    if (__builtin_expect(!sluice_queue_try_claim(ring, units, &rec, &off, true), 0))
        return log_general3(lg, lvl, cs, a1, a2, a3);
    uint64_t *dst = (uint64_t *)(void *)rec->payload;
    if (n > 0)
        dst[0] = a1;
    if (n > 1)
        dst[1] = a2;
    if (n > 2)
        dst[2] = a3;
    memcpy(&rec->units, &sizes, 8);
    rec->site = site;
    memcpy(&rec->thread_id, &id_meta, 8);
    rec->args_length = 8 * n;
    uint64_t ticks = __rdtsc() + ring->tick_offset;
    rec->ticks = ticks;
    crc = crc_step64(crc, ticks);
    rec->check = ~(uint32_t)crc;
    atomic_store_explicit(&rec->publish, (off + 1) ^ ring->secret,
                          memory_order_release);
    if (__builtin_expect(atomic_load_explicit(&q->data_waiters,
                                              memory_order_relaxed) != 0, 0))
        return finish(q);
}
#define DURABLE_STRAIGHT(n, lg, q, lvl, cs, a1, a2, a3)                        \
    log_durable(lg, q, lvl, cs, a1, a2, a3, n)
#else
#define DURABLE_STRAIGHT(n, lg, q, lvl, cs, a1, a2, a3)                        \
    log_general3(lg, lvl, cs, a1, a2, a3)
#endif

/* The hot path: one lane, no hooks, n (0..3) fixed-size arguments, room
 * in the thread's ring before its end. No lock, no system call, no
 * allocation. */
static inline __attribute__((always_inline)) void
log_straight(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
             uint64_t a1, uint64_t a2, uint64_t a3, unsigned n)
{
    /* the generation's first queue first: a reload to several lanes sets
     * SLUICE_SLOW_LANES before it publishes a generation that has them, so
     * a call that sees its queue sees the bit too */
    sluice_queue *q = atomic_load_explicit(&lg->lane0, memory_order_acquire);
    /* slow_path also says "no invariant TSC" and "closing": both go the
     * general way; "durable" alone, its twin */
    unsigned slow = atomic_load_explicit(&lg->slow_path, memory_order_relaxed);
    if (__builtin_expect(slow != 0, 0)) {
        if (slow == SLUICE_SLOW_DURABLE)
            return DURABLE_STRAIGHT(n, lg, q, lvl, cs, a1, a2, a3);
        return log_general3(lg, lvl, cs, a1, a2, a3);
    }
    uint32_t tid = sluice_guard_.thread_id;
    if (__builtin_expect(tid == 0, 0)) /* the thread's first call */
        return log_general3(lg, lvl, cs, a1, a2, a3);
    sluice_ring *ring = sluice_queue_ring(q, sluice_guard_.thread_index);
    uint32_t units = sluice_rec_units(8 * n);
    uint64_t off;
    sluice_rec *rec;
    if (__builtin_expect(!sluice_queue_try_claim(ring, units, &rec, &off, true), 0))
        return log_general3(lg, lvl, cs, a1, a2, a3);
    uint64_t *dst = (uint64_t *)(void *)rec->payload;
    if (n > 0)
        dst[0] = a1;
    if (n > 1)
        dst[1] = a2;
    if (n > 2)
        dst[2] = a3;
    write_header(rec, units, cs, tid, lvl, SLUICE_KIND_ARGS, 8 * n, 8 * n, 0, true);
    atomic_store_explicit(&rec->publish, (off + 1) ^ ring->secret,
                          memory_order_release);
    if (__builtin_expect(atomic_load_explicit(&q->data_waiters,
                                              memory_order_relaxed) != 0, 0))
        return finish(q);
}

/* ---- the call site's inline claim (sluice/fast.h) ----------------------
 * It is the straight path above, compiled into the host: the layout it
 * reads is checked here. */
#ifdef SLUICE_FAST_INLINE
_Static_assert(offsetof(struct sluice_logger, fast) == SLUICE_FAST_LOGGER_QUEUE &&
                   offsetof(struct sluice_logger, fast_durable) ==
                       SLUICE_FAST_LOGGER_DURABLE,
               "fast.h: the logger's layout");
_Static_assert(offsetof(sluice_queue, data_waiters) == SLUICE_FAST_QUEUE_WAITERS &&
                   offsetof(sluice_queue, ring_off_mask) == SLUICE_FAST_QUEUE_RING_MASK &&
                   offsetof(sluice_queue, ring) == SLUICE_FAST_QUEUE_RINGS &&
                   sizeof(sluice_ring) == 1u << SLUICE_FAST_RING_SHIFT,
               "fast.h: the queue's layout");
_Static_assert(offsetof(sluice_ring, head) == SLUICE_FAST_RING_HEAD &&
                   offsetof(sluice_ring, end) == SLUICE_FAST_RING_END &&
                   offsetof(sluice_ring, mask) == SLUICE_FAST_RING_MASK &&
                   offsetof(sluice_ring, secret) == SLUICE_FAST_RING_SECRET &&
                   offsetof(sluice_ring, base) == SLUICE_FAST_RING_BASE &&
                   offsetof(sluice_ring, tick_offset) == SLUICE_FAST_RING_TICK_OFFSET &&
                   offsetof(sluice_ring, durable_epoch) == SLUICE_FAST_RING_EPOCH &&
                   offsetof(sluice_rec, site) == SLUICE_FAST_REC_SITE,
               "fast.h: the ring's layout");
_Static_assert(SLUICE_REC_HEADER == SLUICE_FAST_REC_HEADER &&
                   offsetof(sluice_rec, units) == SLUICE_FAST_REC_SIZES &&
                   offsetof(sluice_rec, length) == SLUICE_FAST_REC_SIZES + 4 &&
                   offsetof(sluice_rec, callsite) == SLUICE_FAST_REC_SITE &&
                   offsetof(sluice_rec, ticks) == SLUICE_FAST_REC_TICKS &&
                   offsetof(sluice_rec, thread_id) == SLUICE_FAST_REC_ID &&
                   offsetof(sluice_rec, level) == SLUICE_FAST_REC_ID + 4 &&
                   offsetof(sluice_rec, args_length) == SLUICE_FAST_REC_BODY &&
                   offsetof(sluice_rec, check) == SLUICE_FAST_REC_BODY + 4 &&
                   SLUICE_KIND_ARGS == SLUICE_FAST_KIND_ARGS &&
                   SLUICE_PREFETCH_AHEAD == SLUICE_FAST_PREFETCH,
               "fast.h: the record's layout");
#endif

void sluice_fast_wake_(void *queue)
{
    sluice_queue_ring_data_(queue);
}

void sluice_log_a0_(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs)
{
    log_straight(lg, lvl, cs, 0, 0, 0, 0);
}

void sluice_log_a1_(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
                    uint64_t a1)
{
    log_straight(lg, lvl, cs, a1, 0, 0, 1);
}

void sluice_log_a2_(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
                    uint64_t a1, uint64_t a2)
{
    log_straight(lg, lvl, cs, a1, a2, 0, 2);
}

void sluice_log_a3_(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
                    uint64_t a1, uint64_t a2, uint64_t a3)
{
    log_straight(lg, lvl, cs, a1, a2, a3, 3);
}

/* More arguments, or strings: the array form. */
void sluice_log_args_(sluice_logger *lg, sluice_level lvl,
                      const sluice_callsite *cs, const uint64_t *args)
{
    route(lg, lvl, cs, args, NULL, 0, NULL, 0);
}

void sluice_log_args_kv_(sluice_logger *lg, sluice_level lvl,
                         const sluice_callsite *cs, const uint64_t *args,
                         const sluice_kv *kv, size_t n)
{
    if (n > UINT16_MAX - SLUICE_HOOK_EXTRA_MAX)
        n = UINT16_MAX - SLUICE_HOOK_EXTRA_MAX;
    route(lg, lvl, cs, args, NULL, 0, kv, n);
}

void sluice_log_str_kv(sluice_logger *lg, sluice_level lvl, const char *msg,
                       size_t len, const sluice_kv *kv, size_t n)
{
    if (!lg || !sluice_logger_enabled_(lg, (int)lvl))
        return;
    if (!msg)
        len = 0;
    if (len > SLUICE_TEXT_MAX)
        len = SLUICE_TEXT_MAX;
    if (n > UINT16_MAX - SLUICE_HOOK_EXTRA_MAX)
        n = UINT16_MAX - SLUICE_HOOK_EXTRA_MAX;
    route(lg, lvl, NULL, NULL, msg, len, kv, n);
}

void sluice_log_str(sluice_logger *lg, sluice_level lvl, const char *msg,
                    size_t len)
{
    sluice_log_str_kv(lg, lvl, msg, len, NULL, 0);
}

void sluice_logf(sluice_logger *lg, sluice_level lvl, const char *fmt, ...)
{
    if (!lg || !fmt || !sluice_logger_enabled_(lg, (int)lvl))
        return;
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        sluice_log_str(lg, lvl, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        sluice_log_str(lg, lvl, small, sizeof small - 1);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sluice_log_str(lg, lvl, big, (size_t)n);
    free(big);
}
