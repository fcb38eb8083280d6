/*
 * guard_internal.h -- who is inside an API call on a runtime (guard.c).
 *
 * The calls that read more of a runtime than a closed logger keeps (its
 * husk: see lifecycle.c) -- the stats calls, flush, sluice_binding_run's
 * way in, hooks, levels, lookups -- say first, in a thread-local word,
 * which logger or runtime they are inside, then read its state bits; close
 * sets the bits, then waits until no word names its runtime before it
 * frees anything such a call reads (a Dekker pair with seq_cst on both
 * sides). Logging calls do not use it: the queue itself keeps them out
 * (queue_internal.h, SLUICE_HEAD_CLOSED). Knows nothing of queues, sinks
 * or what the calls do.
 */
#ifndef SLUICE_GUARD_INTERNAL_H
#define SLUICE_GUARD_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sluice_guard_tls {
    /* the object this thread is inside a call on; saved and restored, as a
     * hook run inside a call may call in again */
    const void *_Atomic inside;
    uint32_t thread_id;        /* kernel tid; 0 until registered */
    uint32_t thread_index;     /* 1-based, in registration order: picks the
                                  thread's ring (and round-robin lane) */
} sluice_guard_tls;

extern _Thread_local __attribute__((tls_model("initial-exec")))
sluice_guard_tls sluice_guard_;

/* The first call of a thread: its id, and its word registered for close. */
void sluice_guard_register_(void);

static inline uint32_t sluice_guard_thread_id_(void)
{
    if (__builtin_expect(sluice_guard_.thread_id == 0, 0))
        sluice_guard_register_();
    return sluice_guard_.thread_id;
}

/* Enter a call on obj (a logger or a runtime). Returns the word's previous
 * value, to hand back to sluice_guard_leave_. Read the state that decides
 * whether to go on only after this, with a seq_cst load. */
static inline const void *sluice_guard_enter_(const void *obj)
{
    sluice_guard_thread_id_();
    const void *saved = atomic_load_explicit(&sluice_guard_.inside,
                                             memory_order_relaxed);
    atomic_store_explicit(&sluice_guard_.inside, obj, memory_order_seq_cst);
    return saved;
}

static inline void sluice_guard_leave_(const void *saved)
{
    atomic_store_explicit(&sluice_guard_.inside, saved, memory_order_release);
}

/* Is a thread other than the caller inside a call on one of objs[0..n)?
 * (close: after a seq_cst store of the bits those calls read) */
bool sluice_guard_busy_(const void *const *objs, size_t n);
/* In a fork's child: only the calling thread exists now. */
void sluice_guard_after_fork_child_(void);
/* For pthread_atfork: hold the registry across fork(). */
void sluice_guard_lock_(void);
void sluice_guard_unlock_(void);

#endif
