/*
 * crash_internal.h -- [runtime] crash_flush (crash.c): what lifecycle.c
 * calls when such a runtime starts and closes, and the worker's side of
 * the handshake with the crash handler (it stops taking batches once a
 * crash began). Knows nothing of plugins' tables or of INI.
 */
#ifndef SLUICE_CRASH_INTERNAL_H
#define SLUICE_CRASH_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock_internal.h"
#include "runtime_internal.h"

/* lifecycle.c, as a runtime with crash_flush starts (before its
 * supervisor): set aside what the handler needs to write rt's backlog
 * without allocating, install the handlers (once per process) and put rt
 * where the handler finds it. -1 with err when out of memory or when too
 * many such runtimes are open. */
int sluice_crash_register_(sluice_runtime *rt, sluice_error *err);
/* lifecycle.c, once close has drained what it could (or a start is
 * undone), before anything of rt is freed: the handler no longer touches
 * rt. Returns once no handler is writing it. Harmless for a runtime that
 * was not registered. */
void sluice_crash_unregister_(sluice_runtime *rt);
/* reload.c, before it commits a file with crash_flush = true, whose new
 * generations have at most base_fields base fields: rt is registered (if
 * it was not: *added) with room for them (a bigger state swapped in when
 * the old has too little, once no flush reads it). -1 with err when out of
 * memory or too many runtimes have crash_flush: rt stays as it was. A
 * file with crash_flush = false: the reload unregisters rt after its
 * commit. */
int sluice_crash_prepare_(sluice_runtime *rt, size_t base_fields, bool *added,
                          sluice_error *err);
/* reload.c, after it marked bindings retired and before it frees what they
 * use (their sink instance, their generation's rings and fields): returns
 * once no flush is reading them (one that starts later sees the marks).
 * Never returns while a real crash's flush runs (the process is ending). */
void sluice_crash_quiesce_(void);

/* ---- the workers' side ----------------------------------------------------
 * A crash began: the handler sets sluice_crash_pending_ and waits a little
 * for the batches in flight to end. A worker of a registered runtime then
 * takes no more batches: it lets the one it just took go untouched and
 * waits (sluice_crash_stop_) until the signal ends the process. The
 * handshake is the store-buffering pattern, every access seq_cst: the
 * worker's take stores its cursors' taken, then it reads the flag; the
 * handler stores the flag, then reads taken (sluice_queue_in_flight). So
 * either the worker sees the flag and lets its batch go, or the handler
 * sees the batch and waits for it. sluice_crash_batch_ says which
 * binding's batch the calling thread holds, so a handler running on that
 * very thread does not wait for it (set before the take's stores, cleared
 * after the release). */
extern _Atomic bool sluice_crash_pending_;
extern SLUICE_TLS sluice_binding *_Atomic sluice_crash_batch_;

/* Out of line: the crash began; stop b's worker if its runtime is
 * registered (returns 0 once the workers may go on again: tests only),
 * else return n. The batch out[0..n), taken with consumer's cursor, is
 * released untouched. */
size_t sluice_crash_stop_(sluice_binding *b, unsigned consumer,
                          const sluice_taken *out, size_t n);

/* sluice_queue_take of b's queue with consumer's cursor, for b's run
 * loop, with the handshake above: its sink's cursor, or the lead cursor
 * of the post-hook stage it runs (worker.c), so that hooking stops too. */
static inline size_t sluice_crash_take_at_(sluice_binding *b, unsigned consumer,
                                           sluice_taken *out, size_t max)
{
    atomic_store_explicit(&sluice_crash_batch_, b, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst); /* before the take, for a
                                                  handler on this thread */
    size_t n = sluice_queue_take(b->queue, consumer, out, max);
    if (__builtin_expect(atomic_load_explicit(&sluice_crash_pending_,
                                              memory_order_seq_cst), 0))
        n = sluice_crash_stop_(b, consumer, out, n);
    if (n == 0)
        atomic_store_explicit(&sluice_crash_batch_, NULL, memory_order_relaxed);
    return n;
}

/* The same with b's own cursor: the batch for its sink. */
static inline size_t sluice_crash_take_(sluice_binding *b, sluice_taken *out,
                                        size_t max)
{
    return sluice_crash_take_at_(b, b->cursor, out, max);
}

/* The batch taken by sluice_crash_take_ or _take_at_ is released. */
static inline void sluice_crash_batch_end_(void)
{
    atomic_signal_fence(memory_order_seq_cst); /* after the release */
    atomic_store_explicit(&sluice_crash_batch_, NULL, memory_order_relaxed);
}

/* worker.c, shared with the crash path so that it renders each record as
 * the worker does (but for the post-hooks, and the message, which it
 * renders with the printf interpreter in its signal-safe mode): */
/* r cleared, then what t's header says: time (by clock), level, logger,
 * thread, sequence, and the call site's file, function and line (a
 * durable queue q's records name theirs by id, with ticks of its file). */
void sluice_worker_record_init_(sluice_record *r, const sluice_logger *lg,
                                const sluice_queue *q, const sluice_taken *t,
                                const sluice_clock_snapshot *clock);
/* Decode the fields after a record's body into out; returns how many were
 * well formed, at most count. */
size_t sluice_worker_decode_fields_(const unsigned char *p, size_t len,
                                    size_t count, sluice_field *out);

/* ---- for tests ------------------------------------------------------------ */

/* Do what the handler does, without a signal and without ending the
 * process: stop the workers, wait up to wait_ns (INT64_MAX: as long as it
 * takes) for their batches, write every registered runtime's backlog to
 * its crash-safe sinks. Returns how many records were handed to
 * crash_write. The workers stay stopped until sluice_crash_resume_(). */
size_t sluice_crash_flush_now_(int64_t wait_ns);
void sluice_crash_resume_(void);

#endif
