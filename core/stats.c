/*
 * stats.c -- the counters a host reads: per logger (attempted, accepted,
 * dropped and why, pending) and per binding (state, last error, written,
 * failures, restarts, diverted, evicted). Reads only: every counter is
 * kept by the part that counts it. Knows nothing of INI syntax or sinks.
 */
#include <stdio.h>
#include <string.h>

#include "durable_internal.h"
#include "guard_internal.h"
#include "runtime_internal.h"

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

/* After close returned (SLUICE_SLOW_CLOSED) the stats calls read the
 * counters as close left them, frozen in the logger's husk; in a fork's
 * child (SLUICE_SLOW_FORKED) they are refused until the child closes its
 * copy, since the locks they take may be held by threads that are gone. */

static void logger_stats(sluice_logger *lg, sluice_logger_stats *out)
{
    uint64_t claimed = 0, refused = 0, closed = 0, evicted = 0;
    for (unsigned i = 0; i < lg->lanes; i++) {
        sluice_queue *q = lg->queues[i];
        refused += sluice_queue_refused(q);
        closed += sluice_queue_refused_closed(q);
        evicted += sluice_queue_evicted(q);
        claimed += sluice_queue_accepted(q);
        out->replayed += sluice_queue_replayed(q);
        out->corrupt += sluice_queue_corrupt(q);
    }
    out->rejected = atomic_load(&lg->rejected);
    out->closed = closed;
    out->forked = atomic_load(&lg->forked);
    out->overflowed = refused;
    out->evicted = evicted;
    out->accepted = claimed;
    out->dropped = refused + closed + out->rejected + out->forked;
    out->attempted = out->accepted + out->dropped;
    out->binding_count = lg->lanes * lg->sinks_per_lane;
    for (size_t i = 0; i < out->binding_count; i++) {
        sluice_binding *b = &lg->bindings[i];
        uint64_t p = sluice_queue_pending(b->queue, b->cursor);
        if (p > out->pending)
            out->pending = p;
    }
}

int sluice_logger_stats_get(sluice_logger *lg, sluice_logger_stats *out)
{
    if (!lg || !out)
        return -1;
    memset(out, 0, sizeof *out);
    const void *saved = sluice_guard_enter_(lg);
    unsigned slow = atomic_load_explicit(&lg->slow_path, memory_order_seq_cst);
    int rc = 0;
    if (slow & SLUICE_SLOW_CLOSED)
        *out = lg->closed_stats;
    else if (slow & SLUICE_SLOW_FORKED)
        rc = -1;
    else
        logger_stats(lg, out);
    sluice_guard_leave_(saved);
    return rc;
}

static void binding_stats(sluice_binding *b, sluice_binding_stats *out)
{
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
    out->evicted = sluice_queue_cursor_evicted(b->queue, b->cursor);
    out->replayed = sluice_queue_cursor_replayed(b->queue, b->cursor);
}

int sluice_binding_stats_get(sluice_binding *b, sluice_binding_stats *out)
{
    if (!b || !out)
        return -1;
    memset(out, 0, sizeof *out);
    sluice_logger *lg = b->logger;
    const void *saved = sluice_guard_enter_(lg);
    unsigned slow = atomic_load_explicit(&lg->slow_path, memory_order_seq_cst);
    int rc = 0;
    if (slow & SLUICE_SLOW_CLOSED)
        *out = b->closed_stats;
    else if (slow & SLUICE_SLOW_FORKED)
        rc = -1;
    else
        binding_stats(b, out);
    sluice_guard_leave_(saved);
    return rc;
}

void sluice_stats_freeze_(sluice_logger *lg)
{
    logger_stats(lg, &lg->closed_stats);
    for (size_t i = 0; i < lg->lanes * lg->sinks_per_lane; i++) {
        memset(&lg->bindings[i].closed_stats, 0, sizeof lg->bindings[i].closed_stats);
        binding_stats(&lg->bindings[i], &lg->bindings[i].closed_stats);
    }
}
