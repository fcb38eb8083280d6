/*
 * logger.c -- what a host does with a logger besides logging: find it,
 * set its level, add hooks and a lane scheduler, wait for its records to
 * be written (flush); and reopen the runtime's sinks (logrotate).
 * Knows nothing of INI syntax, of how records are encoded or of the run
 * loop's insides.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock_internal.h"
#include "runtime_internal.h"
#include "sink_internal.h"

sluice_logger *sluice_logger_get(sluice_runtime *rt, const char *name)
{
    if (!rt || !name)
        return NULL;
    for (size_t i = 0; i < rt->logger_count; i++)
        if (strcmp(rt->loggers[i]->name, name) == 0)
            return rt->loggers[i];
    return NULL;
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
        atomic_fetch_or(&lg->slow_path, SLUICE_SLOW_PRE_HOOKS);
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
    if (sluice_runtime_state_(lg->rt) >= SLUICE_RUNTIME_CLOSING)
        return; /* intake stays stopped */
    lg->level = lvl;
    __atomic_store_n(&lg->head.level, (int)lvl, __ATOMIC_RELAXED);
}

sluice_level sluice_get_level(sluice_logger *lg)
{
    return (sluice_level)__atomic_load_n(&lg->head.level, __ATOMIC_RELAXED);
}

/* ---- flushing and reopening ------------------------------------------------ */

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
        sluice_error e;
        if (sluice_sink_flush_(lg->bindings[i].sink, &e) != 0)
            rc = -1;
    }
    return rc;
}

int sluice_runtime_reopen(sluice_runtime *rt, sluice_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < rt->sink_count; i++) {
        sluice_error e;
        if (sluice_sink_reopen_(rt->sinks[i], &e) != 0 && rc == 0) {
            rc = -1;
            sluice_error_set(err, "%s", e.message);
        }
    }
    return rc;
}
