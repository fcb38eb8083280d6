/*
 * logger.c -- what a host does with a logger besides logging: find it,
 * set its level and its bindings' levels, add hooks (the first post-hook
 * starts the lanes' post-hook stages) and a lane scheduler, wait for its
 * records to be written (flush); and reopen the runtime's sinks
 * (logrotate). The logger is the host's face of it (runtime_internal.h):
 * what is written, and by which sinks, is its generations'.
 *
 * Each call runs inside the guard (guard_internal.h) and reads the
 * logger's bits first: once close began (SLUICE_SLOW_CLOSING) calls that
 * change the logger are refused and a flush gives up at once; once close
 * returned (SLUICE_SLOW_CLOSED) the logger is a husk and every call
 * returns at once without reading anything else.
 * Knows nothing of INI syntax, of how records are encoded or of the run
 * loop's insides.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock_internal.h"
#include "guard_internal.h"
#include "runtime_internal.h"
#include "sink_internal.h"

/* Bits under which a call that changes a logger is refused. */
#define LOGGER_GONE (SLUICE_SLOW_CLOSING | SLUICE_SLOW_CLOSED | SLUICE_SLOW_FORKED)

static unsigned bits(sluice_logger *lg)
{
    return atomic_load_explicit(&lg->slow_path, memory_order_seq_cst);
}

sluice_logger *sluice_logger_get(sluice_runtime *rt, const char *name)
{
    if (!rt || !name)
        return NULL;
    sluice_logger *found = NULL;
    const void *saved = sluice_guard_enter_(rt);
    if (sluice_runtime_state_(rt) < SLUICE_RUNTIME_CLOSED) {
        pthread_mutex_lock(&rt->roster_lock); /* a reload may change them */
        for (size_t i = 0; i < rt->logger_count && !found; i++)
            if (strcmp(rt->loggers[i]->name, name) == 0)
                found = rt->loggers[i];
        pthread_mutex_unlock(&rt->roster_lock);
    }
    sluice_guard_leave_(saved);
    return found;
}

/* ---- hooks and schedulers ------------------------------------------------ */

/* Every generation of face gets its post-hook stages (those that have
 * them keep them): the run loops hook with their generation's (a reload
 * gives a new one stages when the face has post-hooks, reload.c). Under
 * the face's hooks_lock. */
static int start_stages(sluice_logger *face)
{
    int rc = 0;
    pthread_mutex_lock(&face->gens_lock);
    SLUICE_FOR_EACH_GEN(face, gen)
        if (sluice_hook_stages_start_(gen) != 0)
            rc = -1;
    pthread_mutex_unlock(&face->gens_lock);
    return rc;
}

static int add_hook(sluice_logger *lg, sluice_hook_slot *slots,
                    _Atomic unsigned *count, void *fn, void *user,
                    sluice_error *err)
{
    if (!lg || !fn)
        return sluice_error_set(err, "hook: no logger or no function");
    const void *saved = sluice_guard_enter_(lg);
    int rc = 0;
    if (bits(lg) & LOGGER_GONE) {
        rc = sluice_error_set(err, "logger '%s': the runtime is closing",
                              lg->name);
        goto out;
    }
    pthread_mutex_lock(&lg->hooks_lock);
    unsigned n = atomic_load(count);
    if (n >= SLUICE_HOOKS_MAX) {
        rc = sluice_error_set(err, "logger '%s': at most %d hooks of a kind",
                              lg->name, SLUICE_HOOKS_MAX);
    } else if (slots == lg->post_hooks && start_stages(lg) != 0) {
        rc = sluice_error_set(err, "logger '%s': out of memory", lg->name);
    } else {
        slots[n].fn = fn;
        slots[n].user = user;
        atomic_store_explicit(count, n + 1, memory_order_release);
        if (slots == lg->pre_hooks) {
            sluice_face_set_slow_(lg, SLUICE_SLOW_PRE_HOOKS);
        } else {
            /* the run loops read their generation's copy (a reload copies
             * the face's into a new one under hooks_lock) */
            pthread_mutex_lock(&lg->gens_lock);
            SLUICE_FOR_EACH_GEN(lg, gen) {
                unsigned at = atomic_load(&gen->post_hook_count);
                if (at < SLUICE_HOOKS_MAX) {
                    gen->post_hooks[at] = slots[n];
                    atomic_store_explicit(&gen->post_hook_count, at + 1,
                                          memory_order_release);
                }
            }
            pthread_mutex_unlock(&lg->gens_lock);
        }
    }
    pthread_mutex_unlock(&lg->hooks_lock);
out:
    sluice_guard_leave_(saved);
    return rc;
}

int sluice_logger_add_pre_hook(sluice_logger *lg, sluice_pre_hook_fn fn,
                               void *user, sluice_error *err)
{
    void *f;
    memcpy(&f, &fn, sizeof f);
    return add_hook(lg, lg ? lg->pre_hooks : NULL,
                    lg ? &lg->pre_hook_count : NULL, f, user, err);
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
    const void *saved = sluice_guard_enter_(lg);
    if (!(bits(lg) & LOGGER_GONE)) { /* after close began, intake stays off */
        lg->level = lvl;
        __atomic_store_n(&lg->head.level, (int)lvl, __ATOMIC_RELAXED);
    }
    sluice_guard_leave_(saved);
}

sluice_level sluice_get_level(sluice_logger *lg)
{
    return (sluice_level)__atomic_load_n(&lg->head.level, __ATOMIC_RELAXED);
}

int sluice_binding_set_level(sluice_binding *b, sluice_level lvl)
{
    if (!b || (unsigned)lvl > SLUICE_LEVEL_OFF)
        return -1;
    sluice_logger *lg = b->logger->face; /* its bits, its guard */
    const void *saved = sluice_guard_enter_(lg);
    int rc = -1;
    if (!(bits(lg) & LOGGER_GONE)) {
        sluice_queue_set_level(b->queue, b->cursor, lvl);
        rc = 0;
    }
    sluice_guard_leave_(saved);
    return rc;
}

sluice_level sluice_binding_get_level(sluice_binding *b)
{
    if (!b)
        return SLUICE_LEVEL_OFF;
    sluice_logger *lg = b->logger->face;
    const void *saved = sluice_guard_enter_(lg);
    /* the husk's queue header (its cursors) outlives close */
    sluice_level lvl = bits(lg) & SLUICE_SLOW_FORKED
                           ? SLUICE_LEVEL_OFF
                           : sluice_queue_level(b->queue, b->cursor);
    sluice_guard_leave_(saved);
    return lvl;
}

/* ---- flushing and reopening ------------------------------------------------ */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Is every record accepted so far written (or its binding given up), in
 * every generation? */
static bool drained(sluice_logger *lg)
{
    bool done = true;
    pthread_mutex_lock(&lg->gens_lock);
    SLUICE_FOR_EACH_GEN(lg, gen)
        for (size_t i = 0; i < sluice_gen_binding_count_(gen) && done; i++) {
            sluice_binding *b = &gen->bindings[i];
            pthread_mutex_lock(&b->mu);
            bool gave_up = (b->state == SLUICE_STATE_GIVEN_UP &&
                            !atomic_load(&b->diverting)) ||
                           atomic_load(&b->cancelled); /* by a reload */
            pthread_mutex_unlock(&b->mu);
            if (!gave_up && !sluice_queue_drained(b->queue, b->cursor))
                done = false;
        }
    pthread_mutex_unlock(&lg->gens_lock);
    return done;
}

int sluice_logger_flush(sluice_logger *lg, int timeout_ms)
{
    if (!lg)
        return -1;
    const void *saved = sluice_guard_enter_(lg);
    int rc = 0;
    int64_t deadline = sluice_clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        /* close drains on its own; a flush must not hold it up */
        if (bits(lg) & LOGGER_GONE) {
            rc = -1;
            goto out;
        }
        if (drained(lg))
            break;
        if (timeout_ms >= 0 && sluice_clock_monotonic_ns() >= deadline) {
            rc = -1;
            goto out;
        }
        sleep_ms(1);
    }
    /* under gens_lock: the current generation's sinks stay open (a reload
     * closes a sink only once no listed generation uses it) */
    pthread_mutex_lock(&lg->gens_lock);
    sluice_logger *gen = lg->gens;
    for (size_t i = 0; i < gen->sinks_per_lane; i++) {
        sluice_error e;
        if (sluice_sink_flush_(gen->bindings[i].sink, &e) != 0)
            rc = -1;
    }
    pthread_mutex_unlock(&lg->gens_lock);
out:
    sluice_guard_leave_(saved);
    return rc;
}

int sluice_runtime_reopen(sluice_runtime *rt, sluice_error *err)
{
    if (!rt)
        return sluice_error_set(err, "reopen: no runtime");
    const void *saved = sluice_guard_enter_(rt);
    int rc = 0;
    if (sluice_runtime_state_(rt) >= SLUICE_RUNTIME_CLOSED) {
        rc = sluice_error_set(err, "reopen: the runtime is closed");
        goto out;
    }
    pthread_mutex_lock(&rt->roster_lock); /* a reload may change them */
    for (size_t i = 0; i < rt->sink_count; i++) {
        sluice_error e;
        if (sluice_sink_reopen_(rt->sinks[i], &e) != 0 && rc == 0)
            rc = sluice_error_set(err, "%s", e.message);
    }
    pthread_mutex_unlock(&rt->roster_lock);
out:
    sluice_guard_leave_(saved);
    return rc;
}
