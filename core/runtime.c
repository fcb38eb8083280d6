/*
 * runtime.c -- the embedding API: open and close a runtime, the producer's
 * logging calls, levels and counters.
 *
 * The producer path (sluice_log_args_, sluice_log_str) takes the time, picks
 * a lane, claims a slot, copies the arguments and publishes: no lock, no
 * system call, no allocation unless a record does not fit its slot.
 * Closing stops intake, lets the workers drain, and joins them within the
 * timeout; a worker stuck in a sink is left behind holding a reference, and
 * the last one out frees the runtime. Knows nothing of INI syntax or of how
 * a sink writes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock_internal.h"
#include "config_internal.h"
#include "runtime_internal.h"

#define SLUICE_TEXT_MAX (1u << 20) /* longest sluice_log_str message kept */

/* ---- opening ------------------------------------------------------------- */

int sluice_open(const char *ini_path, sluice_runtime **rt, sluice_error *err)
{
    *rt = NULL;
    sluice_builder *b = sluice_config_load_file(ini_path, err);
    if (!b)
        return -1;
    return sluice_builder_start(b, rt, err);
}

int sluice_open_string(const char *ini_text, sluice_runtime **rt,
                       sluice_error *err)
{
    *rt = NULL;
    sluice_builder *b = sluice_config_load_string(ini_text, err);
    if (!b)
        return -1;
    return sluice_builder_start(b, rt, err);
}

sluice_logger *sluice_logger_get(sluice_runtime *rt, const char *name)
{
    if (!rt || !name)
        return NULL;
    for (size_t i = 0; i < rt->logger_count; i++)
        if (strcmp(rt->loggers[i]->name, name) == 0)
            return rt->loggers[i];
    return NULL;
}

/* ---- producer --------------------------------------------------------- */

/* initial-exec: a plain %fs-relative load instead of __tls_get_addr; fine
 * for a library linked at start-up (and for dlopen with static TLS room). */
#define SLUICE_TLS _Thread_local __attribute__((tls_model("initial-exec")))
static SLUICE_TLS uint32_t tls_thread_id;
static SLUICE_TLS uint32_t tls_thread_index; /* 1-based, for round robin */
static _Atomic uint32_t thread_counter;

static inline uint32_t thread_id(void)
{
    if (__builtin_expect(tls_thread_id == 0, 0))
        tls_thread_id = (uint32_t)syscall(SYS_gettid);
    return tls_thread_id;
}

static inline sluice_queue *pick_lane(sluice_logger *lg, uint32_t tid,
                                      sluice_level lvl)
{
    if (__builtin_expect(lg->lanes == 1, 1))
        return lg->queues[0];
    unsigned lane;
    sluice_scheduler_fn fn = atomic_load_explicit(&lg->scheduler_fn,
                                                  memory_order_acquire);
    if (fn) {
        lane = fn(atomic_load_explicit(&lg->scheduler_user, memory_order_relaxed),
                  tid, lvl, lg->lanes) % lg->lanes;
    } else if (lg->scheduler == SLUICE_SCHEDULER_ROUND_ROBIN) {
        if (tls_thread_index == 0)
            tls_thread_index = atomic_fetch_add(&thread_counter, 1) + 1;
        lane = (tls_thread_index - 1) % lg->lanes;
    } else {
        lane = (unsigned)(tid * 2654435761u >> 16) % lg->lanes;
    }
    return lg->queues[lane];
}

/* A slot and room for len payload bytes: the inline claim first, the
 * overflow policy only when the queue is full; a heap block only when the
 * payload does not fit the slot. NULL: not accepted (already counted). */
static inline __attribute__((always_inline)) unsigned char *
claim(sluice_logger *lg, sluice_queue *q, size_t len, sluice_slot **slot,
      uint64_t *seq)
{
    *slot = sluice_queue_try_claim(q, seq);
    if (__builtin_expect(*slot != NULL, 1)) {
        if (__builtin_expect((*slot)->heap != NULL, 0))
            sluice_queue_slot_free_heap(*slot);
    } else {
        *slot = sluice_queue_claim(q, lg->overflow, lg->block_timeout_ms, seq);
        if (!*slot)
            return NULL;
    }
    if (__builtin_expect(len <= SLUICE_SLOT_INLINE, 1))
        return (*slot)->inline_data;
    unsigned char *p = sluice_queue_slot_alloc(*slot, len);
    if (__builtin_expect(!p, 0)) {
        /* out of memory: publish an empty text record, never a hole */
        (*slot)->kind = SLUICE_KIND_TEXT;
        (*slot)->length = 0;
        (*slot)->args_length = 0;
        (*slot)->field_count = 0;
        (*slot)->callsite = NULL;
        sluice_queue_publish(q, *slot, *seq);
    }
    return p;
}

static size_t kv_len(const char *s)
{
    return s ? strnlen(s, SLUICE_STRING_MAX) : 0;
}

static unsigned char *put_kvs(unsigned char *p, const sluice_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)kv_len(kv[i].key), v = (uint32_t)kv_len(kv[i].value);
        memcpy(p, &k, 4);
        memcpy(p + 4, kv[i].key, k);
        p += 4 + k;
        memcpy(p, &v, 4);
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
 * of a deferred call (cs != NULL) or text; then the fields, the call's and
 * the pre-hooks'. Inlined into each caller so that the plain deferred call
 * (no text, no fields) compiles to a straight line. */
static inline __attribute__((always_inline)) void
produce(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
        const uint64_t *args, const char *text, size_t text_len,
        const sluice_kv *kv, size_t nkv, const sluice_kv *extra, size_t nextra)
{
    uint64_t ticks = sluice_clock_ticks();
    uint32_t tid = thread_id();
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
    size_t len = body;
    if (nkv)
        len += kvs_size(kv, nkv);
    if (nextra)
        len += kvs_size(extra, nextra);
    sluice_queue *q = pick_lane(lg, tid, lvl);
    sluice_slot *slot;
    uint64_t seq;
    unsigned char *p = claim(lg, q, len, &slot, &seq);
    if (!p)
        return;
    if (!cs) {
        if (text_len)
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
    if (nkv)
        p = put_kvs(p, kv, nkv);
    if (nextra)
        p = put_kvs(p, extra, nextra);
    slot->callsite = cs;
    slot->ticks = ticks;
    slot->thread_id = tid;
    slot->length = (uint32_t)len;
    slot->args_length = (uint32_t)body;
    slot->level = (uint8_t)lvl;
    slot->kind = cs ? SLUICE_KIND_ARGS : SLUICE_KIND_TEXT;
    slot->field_count = (uint16_t)(nkv + nextra);
    sluice_queue_publish(q, slot, seq);
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
    if (atomic_load_explicit(&lg->pre_hook_count, memory_order_relaxed))
        produce_hooked(lg, lvl, cs, args, text, text_len, kv, nkv);
    else
        produce(lg, lvl, cs, args, text, text_len, kv, nkv, NULL, 0);
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

/* The hot path: one lane, no hooks, n (0..3) fixed-size arguments that fit
 * the slot, a free slot. No lock, no system call, no allocation. */
static inline __attribute__((always_inline)) void
log_straight(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
             uint64_t a1, uint64_t a2, uint64_t a3, unsigned n)
{
    /* slow_path also says "no invariant TSC" (set when the logger was made) */
    if (__builtin_expect(atomic_load_explicit(&lg->slow_path, memory_order_relaxed) != 0, 0))
        return log_general3(lg, lvl, cs, a1, a2, a3);
    uint32_t tid = tls_thread_id;
    if (__builtin_expect(tid == 0, 0)) /* the thread's first call */
        return log_general3(lg, lvl, cs, a1, a2, a3);
    sluice_queue *q = lg->queues[0];
    uint64_t seq;
    sluice_slot *slot = sluice_queue_try_claim(q, &seq);
    if (__builtin_expect(!slot, 0))
        return log_general3(lg, lvl, cs, a1, a2, a3);
    unsigned char *old_heap = sluice_queue_slot_detach_heap(slot);
    uint64_t *dst = (uint64_t *)(void *)slot->inline_data;
    if (n > 0)
        dst[0] = a1;
    if (n > 1)
        dst[1] = a2;
    if (n > 2)
        dst[2] = a3;
    slot->callsite = cs;
#if defined(__x86_64__) || defined(__i386__)
    slot->ticks = __rdtsc(); /* slow_path is set without an invariant TSC */
#endif
    slot->thread_id = tid;
    sluice_slot_set_meta(slot, lvl, SLUICE_KIND_ARGS);
    slot->length = 8 * n;
    slot->args_length = 8 * n;
    atomic_store_explicit(&slot->seq, seq + 1, memory_order_release);
    if (__builtin_expect(((uintptr_t)old_heap |
                          atomic_load_explicit(&q->data_waiters,
                                               memory_order_relaxed)) != 0,
                         0))
        return sluice_queue_finish_(q, old_heap);
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
    if (!lg || !sluice_logger_enabled_(lg, (int)lvl))
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

/* ---- hooks and schedulers ------------------------------------------------ */

static int add_hook(sluice_logger *lg, sluice_hook_slot *slots,
                    _Atomic unsigned *count, void *fn, void *user,
                    sluice_error *err)
{
    if (!lg || !fn)
        return sluice_error_set(err, "hook: no logger or no function");
    pthread_mutex_lock(&lg->hooks_lock);
    unsigned n = atomic_load(count);
    if (n >= SLUICE_HOOKS_MAX) {
        pthread_mutex_unlock(&lg->hooks_lock);
        return sluice_error_set(err, "logger '%s': at most %d hooks of a kind",
                                lg->name, SLUICE_HOOKS_MAX);
    }
    slots[n].fn = fn;
    slots[n].user = user;
    atomic_store_explicit(count, n + 1, memory_order_release);
    pthread_mutex_unlock(&lg->hooks_lock);
    return 0;
}

int sluice_logger_add_pre_hook(sluice_logger *lg, sluice_pre_hook_fn fn,
                               void *user, sluice_error *err)
{
    void *f;
    memcpy(&f, &fn, sizeof f);
    int rc = add_hook(lg, lg ? lg->pre_hooks : NULL,
                      lg ? &lg->pre_hook_count : NULL, f, user, err);
    if (rc == 0)
        atomic_fetch_or(&lg->slow_path, 2);
    return rc;
}

int sluice_logger_add_post_hook(sluice_logger *lg, sluice_post_hook_fn fn,
                                void *user, sluice_error *err)
{
    void *f;
    memcpy(&f, &fn, sizeof f);
    return add_hook(lg, lg ? lg->post_hooks : NULL, lg ? &lg->post_hook_count : NULL,
                    f, user, err);
}

int sluice_logger_set_scheduler(sluice_logger *lg, sluice_scheduler_fn fn,
                                void *user, sluice_error *err)
{
    if (!lg)
        return sluice_error_set(err, "scheduler: no logger");
    atomic_store_explicit(&lg->scheduler_user, user, memory_order_relaxed);
    atomic_store_explicit(&lg->scheduler_fn, fn, memory_order_release);
    return 0;
}

void sluice_set_level(sluice_logger *lg, sluice_level lvl)
{
    if (!lg || (unsigned)lvl > SLUICE_LEVEL_OFF)
        return;
    if (atomic_load(&lg->rt->closing))
        return; /* intake stays stopped */
    lg->level = lvl;
    __atomic_store_n(&lg->head.level, (int)lvl, __ATOMIC_RELAXED);
}

sluice_level sluice_get_level(sluice_logger *lg)
{
    return (sluice_level)__atomic_load_n(&lg->head.level, __ATOMIC_RELAXED);
}

/* ---- counters ------------------------------------------------------------ */

const char *sluice_binding_state_name(sluice_binding_state s)
{
    static const char *const names[] = {"idle",   "running", "stopped",
                                        "failed", "backoff", "given_up"};
    return (unsigned)s <= SLUICE_STATE_GIVEN_UP ? names[s] : "unknown";
}

size_t sluice_logger_binding_count(sluice_logger *lg)
{
    return lg ? lg->lanes * lg->sinks_per_lane : 0;
}

sluice_binding *sluice_logger_binding(sluice_logger *lg, size_t index)
{
    if (!lg || index >= lg->lanes * lg->sinks_per_lane)
        return NULL;
    return &lg->bindings[index];
}

int sluice_logger_stats_get(sluice_logger *lg, sluice_logger_stats *out)
{
    if (!lg || !out)
        return -1;
    memset(out, 0, sizeof *out);
    uint64_t claimed = 0, refused = 0, evicted = 0;
    for (unsigned i = 0; i < lg->lanes; i++) {
        sluice_queue *q = lg->queues[i];
        refused += atomic_load(&q->refused);
        evicted += atomic_load(&q->evicted);
        claimed += sluice_queue_accepted(q);
    }
    out->rejected = atomic_load(&lg->rejected);
    out->attempted = claimed + refused + out->rejected;
    out->dropped = refused + evicted + out->rejected;
    out->accepted = out->attempted - out->dropped;
    out->binding_count = lg->lanes * lg->sinks_per_lane;
    for (size_t i = 0; i < out->binding_count; i++) {
        sluice_binding *b = &lg->bindings[i];
        uint64_t p = sluice_queue_pending(b->queue, b->cursor);
        if (p > out->pending)
            out->pending = p;
    }
    return 0;
}

int sluice_binding_stats_get(sluice_binding *b, sluice_binding_stats *out)
{
    if (!b || !out)
        return -1;
    memset(out, 0, sizeof *out);
    snprintf(out->sink, sizeof out->sink, "%s", b->sink->name);
    out->lane = b->lane;
    pthread_mutex_lock(&b->mu);
    out->state = b->state;
    out->is_running = b->is_running;
    out->has_failed = b->has_failed;
    memcpy(out->last_error, b->last_error, sizeof out->last_error);
    out->last_failure_ns = b->last_failure_ns;
    pthread_mutex_unlock(&b->mu);
    out->pending = sluice_queue_pending(b->queue, b->cursor);
    out->written = atomic_load(&b->written);
    out->failures = atomic_load(&b->failures);
    uint64_t runs = atomic_load(&b->runs);
    out->restarts = runs > 1 ? runs - 1 : 0;
    out->given_up = atomic_load(&b->given_up);
    out->diverted = atomic_load(&b->diverted);
    pthread_mutex_lock(&b->queue->lock);
    out->evicted = b->queue->cursor[b->cursor].evicted;
    pthread_mutex_unlock(&b->queue->lock);
    return 0;
}

/* ---- flushing, reopening, closing ---------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int sluice_logger_flush(sluice_logger *lg, int timeout_ms)
{
    if (!lg)
        return -1;
    int64_t deadline = sluice_clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    size_t n = lg->lanes * lg->sinks_per_lane;
    for (;;) {
        int busy = 0;
        for (size_t i = 0; i < n; i++) {
            sluice_binding *b = &lg->bindings[i];
            pthread_mutex_lock(&b->mu);
            int gave_up = b->state == SLUICE_STATE_GIVEN_UP &&
                          !atomic_load(&b->diverting);
            pthread_mutex_unlock(&b->mu);
            if (!gave_up && sluice_queue_pending(b->queue, b->cursor) > 0)
                busy = 1;
        }
        if (!busy)
            break;
        if (timeout_ms >= 0 && sluice_clock_monotonic_ns() >= deadline)
            return -1;
        sleep_ms(1);
    }
    int rc = 0;
    for (size_t i = 0; i < lg->sinks_per_lane; i++) {
        sluice_sink_instance *s = lg->bindings[i].sink;
        if (!s->api->flush)
            continue;
        sluice_error e;
        pthread_mutex_lock(&s->lock);
        if (s->api->flush(s->state, &e) != 0)
            rc = -1;
        pthread_mutex_unlock(&s->lock);
    }
    return rc;
}

int sluice_runtime_reopen(sluice_runtime *rt, sluice_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < rt->sink_count; i++) {
        sluice_sink_instance *s = rt->sinks[i];
        if (!s->api->reopen)
            continue;
        sluice_error e;
        e.message[0] = '\0';
        pthread_mutex_lock(&s->lock);
        int r = s->api->reopen(s->state, &e);
        pthread_mutex_unlock(&s->lock);
        if (r != 0 && rc == 0) {
            rc = -1;
            sluice_error_set(err, "sink '%s': reopen: %s", s->name, e.message);
        }
    }
    return rc;
}

void sluice_queue_wake_all_(sluice_runtime *rt)
{
    for (size_t i = 0; i < rt->logger_count; i++) {
        sluice_logger *lg = rt->loggers[i];
        for (unsigned l = 0; l < lg->lanes; l++)
            sluice_queue_wake(lg->queues[l]);
    }
}

long sluice_close(sluice_runtime *rt, int timeout_ms)
{
    if (!rt)
        return 0;
    int64_t deadline = timeout_ms < 0
                           ? INT64_MAX
                           : sluice_clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    atomic_store(&rt->closing, true);
    for (size_t i = 0; i < rt->logger_count; i++) {
        sluice_logger *lg = rt->loggers[i];
        __atomic_store_n(&lg->head.level, (int)SLUICE_LEVEL_OFF, __ATOMIC_RELAXED);
        for (unsigned l = 0; l < lg->lanes; l++)
            sluice_queue_close(lg->queues[l]);
    }
    /* the supervised run loops drain and end, or are cancelled */
    sluice_supervisor_stop_(rt, deadline);
    /* run loops the host drives (autostart = false) */
    for (;;) {
        int running = 0;
        for (size_t i = 0; i < rt->logger_count; i++) {
            sluice_logger *lg = rt->loggers[i];
            for (size_t k = 0; k < lg->lanes * lg->sinks_per_lane; k++)
                if (atomic_load(&lg->bindings[k].in_run))
                    running = 1;
        }
        if (!running)
            break;
        if (sluice_clock_monotonic_ns() >= deadline) {
            atomic_store(&rt->cancelled, true);
            sluice_queue_wake_all_(rt);
            break;
        }
        sleep_ms(1);
    }
    long undelivered = 0;
    for (size_t i = 0; i < rt->logger_count; i++) {
        sluice_logger *lg = rt->loggers[i];
        for (size_t k = 0; k < lg->lanes * lg->sinks_per_lane; k++) {
            sluice_binding *b = &lg->bindings[k];
            undelivered += (long)sluice_queue_pending(b->queue, b->cursor);
        }
    }
    /* frees now, or when the last run loop stuck in a sink comes back */
    sluice_runtime_unref_(rt);
    return undelivered;
}
