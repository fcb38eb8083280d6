/*
 * stats.c -- the counters a host reads: per logger (attempted, accepted,
 * dropped and why, pending) and per binding (state, last error, written,
 * failures, restarts, diverted, evicted, rejected, dead_lettered,
 * filtered), summed over a logger's generations. Reads only: every
 * counter is kept by the part that counts it (and, for the generations a
 * reload freed, carried on the face). Knows nothing of INI syntax or
 * sinks.
 */
#include <stdio.h>
#include <stdlib.h>
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

/* The bindings a host sees are those of the logger's current generation;
 * a generation is never freed (a husk stays), so no lock is needed. */
size_t sluice_logger_binding_count(sluice_logger *lg)
{
    return lg ? sluice_gen_binding_count_(sluice_logger_gen_(lg)) : 0;
}

sluice_binding *sluice_logger_binding(sluice_logger *lg, size_t index)
{
    if (!lg)
        return NULL;
    sluice_logger *gen = sluice_logger_gen_(lg);
    if (index >= sluice_gen_binding_count_(gen))
        return NULL;
    return &gen->bindings[index];
}

/* After close returned (SLUICE_SLOW_CLOSED) the stats calls read the
 * counters as close left them, frozen in the logger's husk; in a fork's
 * child (SLUICE_SLOW_FORKED) they are refused until the child closes its
 * copy, since the locks they take may be held by threads that are gone.
 * Otherwise a logger's counters are summed over its generations (the
 * face's gens_lock held), plus what the generations a reload freed left
 * (carried); a binding whose generation was freed reads its frozen
 * counters. */

static void add_gen_counters(sluice_logger *gen, sluice_logger_stats *out)
{
    for (unsigned i = 0; i < gen->lanes; i++) {
        sluice_queue *q = gen->queues[i];
        out->overflowed += sluice_queue_refused(q);
        out->closed += sluice_queue_refused_closed(q);
        out->evicted += sluice_queue_evicted(q);
        out->accepted += sluice_queue_accepted(q);
        out->replayed += sluice_queue_replayed(q);
        out->corrupt += sluice_queue_corrupt(q);
    }
}

static void logger_stats(sluice_logger *face, sluice_logger_stats *out)
{
    memset(out, 0, sizeof *out);
    out->overflowed = face->carried.overflowed;
    out->closed = face->carried.closed;
    out->evicted = face->carried.evicted;
    out->accepted = face->carried.accepted;
    out->replayed = face->carried.replayed;
    out->corrupt = face->carried.corrupt;
    SLUICE_FOR_EACH_GEN(face, gen) {
        add_gen_counters(gen, out);
        for (size_t i = 0; i < sluice_gen_binding_count_(gen); i++) {
            sluice_binding *b = &gen->bindings[i];
            uint64_t p = sluice_queue_pending(b->queue, b->cursor);
            if (p > out->pending)
                out->pending = p;
        }
    }
    out->rejected = atomic_load(&face->rejected);
    out->forked = atomic_load(&face->forked);
    out->dropped = out->overflowed + out->closed + out->rejected + out->forked;
    out->attempted = out->accepted + out->dropped;
    out->binding_count = face->gens ? sluice_gen_binding_count_(face->gens) : 0;
}

int sluice_logger_stats_get(sluice_logger *lg, sluice_logger_stats *out)
{
    if (!lg || !out)
        return -1;
    memset(out, 0, sizeof *out);
    const void *saved = sluice_guard_enter_(lg);
    unsigned slow = atomic_load_explicit(&lg->slow_path, memory_order_seq_cst);
    int rc = 0;
    if (slow & SLUICE_SLOW_CLOSED) {
        *out = lg->closed_stats;
    } else if (slow & SLUICE_SLOW_FORKED) {
        rc = -1;
    } else {
        pthread_mutex_lock(&lg->gens_lock);
        logger_stats(lg, out);
        pthread_mutex_unlock(&lg->gens_lock);
    }
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
    sluice_queue_backlog(b->queue, b->cursor, &out->pending, &out->filtered);
    out->written = atomic_load(&b->written);
    out->failures = atomic_load(&b->failures);
    uint64_t runs = atomic_load(&b->runs);
    out->restarts = runs > 1 ? runs - 1 : 0;
    out->given_up = atomic_load(&b->given_up);
    out->diverted = atomic_load(&b->diverted);
    out->evicted = sluice_queue_cursor_evicted(b->queue, b->cursor);
    out->rejected = atomic_load(&b->rejected);
    out->dead_lettered = atomic_load(&b->dead_lettered);
    out->replayed = sluice_queue_cursor_replayed(b->queue, b->cursor);
}

int sluice_binding_stats_get(sluice_binding *b, sluice_binding_stats *out)
{
    if (!b || !out)
        return -1;
    memset(out, 0, sizeof *out);
    sluice_logger *face = b->logger->face;
    const void *saved = sluice_guard_enter_(face);
    unsigned slow = atomic_load_explicit(&face->slow_path, memory_order_seq_cst);
    int rc = 0;
    if (slow & SLUICE_SLOW_CLOSED) {
        *out = b->closed_stats;
    } else if (slow & SLUICE_SLOW_FORKED) {
        rc = -1;
    } else {
        pthread_mutex_lock(&face->gens_lock);
        if (atomic_load(&b->retired))
            *out = b->closed_stats;
        else
            binding_stats(b, out);
        pthread_mutex_unlock(&face->gens_lock);
    }
    sluice_guard_leave_(saved);
    return rc;
}

static void freeze_binding(sluice_binding *b)
{
    memset(&b->closed_stats, 0, sizeof b->closed_stats);
    binding_stats(b, &b->closed_stats);
}

void sluice_stats_freeze_(sluice_logger *face)
{
    pthread_mutex_lock(&face->gens_lock);
    logger_stats(face, &face->closed_stats);
    SLUICE_FOR_EACH_GEN(face, gen)
        for (size_t i = 0; i < sluice_gen_binding_count_(gen); i++)
            if (!atomic_load(&gen->bindings[i].retired))
                freeze_binding(&gen->bindings[i]);
    pthread_mutex_unlock(&face->gens_lock);
}

void sluice_stats_retire_binding_(sluice_binding *b)
{
    if (atomic_load(&b->retired))
        return;
    freeze_binding(b);
    atomic_store(&b->retired, true);
}

void sluice_stats_retire_gen_(sluice_logger *gen)
{
    add_gen_counters(gen, &gen->face->carried);
    for (size_t i = 0; i < sluice_gen_binding_count_(gen); i++)
        sluice_stats_retire_binding_(&gen->bindings[i]);
}

/* metrics.c: one logger's counters, its current generation's bindings'
 * (malloc'd, *count of them) and its lanes' fill, read at once. */
int sluice_logger_snapshot_(sluice_logger *lg, sluice_logger_stats *st,
                            sluice_binding_stats **bindings, size_t *count,
                            uint64_t *lane_used, unsigned *lanes,
                            uint64_t *lane_size)
{
    *bindings = NULL;
    *count = 0;
    *lanes = 0;
    *lane_size = 0;
    memset(st, 0, sizeof *st);
    const void *saved = sluice_guard_enter_(lg);
    unsigned slow = atomic_load_explicit(&lg->slow_path, memory_order_seq_cst);
    int rc = 0;
    if (slow & SLUICE_SLOW_FORKED) {
        rc = -1;
    } else if (slow & SLUICE_SLOW_CLOSED) {
        /* a logger a reload removed meanwhile: its counters as they ended */
        *st = lg->closed_stats;
        st->binding_count = 0;
    } else {
        pthread_mutex_lock(&lg->gens_lock);
        logger_stats(lg, st);
        sluice_logger *gen = lg->gens;
        size_t n = sluice_gen_binding_count_(gen);
        *bindings = calloc(n ? n : 1, sizeof **bindings);
        if (!*bindings) {
            rc = -1;
        } else {
            for (size_t i = 0; i < n; i++)
                binding_stats(&gen->bindings[i], &(*bindings)[i]);
            *count = n;
            *lanes = gen->lanes;
            for (unsigned l = 0; l < gen->lanes; l++)
                sluice_queue_fill(gen->queues[l], &lane_used[l], lane_size);
        }
        pthread_mutex_unlock(&lg->gens_lock);
    }
    sluice_guard_leave_(saved);
    return rc;
}
