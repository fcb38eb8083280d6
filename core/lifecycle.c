/*
 * lifecycle.c -- the one owner of a runtime's life: it is made here, started
 * here, closed here and freed here, and nowhere else.
 *
 *   sluice_runtime_new_   STARTING, one reference (the host's)
 *   sluice_runtime_start_ starts the supervisor: RUNNING; on error the
 *                         runtime is stopped and freed before it returns
 *   sluice_close          CLOSING: intake stops, the queues drain within the
 *                         timeout, then CLOSED and the host's reference goes
 *   last unref            destroy: sinks closed (through the doorway),
 *                         queues unmapped, memory freed
 *
 * References: the host holds one from open until close returns; each
 * supervised task holds one until its final event; each host-driven run
 * loop holds one while it runs. A run loop stuck in a sink past close's
 * timeout keeps the runtime alive, and the last one out frees it.
 * Knows nothing of INI syntax, of how records are encoded or written, or of
 * how the supervisor restarts.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder_internal.h"
#include "clock_internal.h"
#include "config_internal.h"
#include "runtime_internal.h"
#include "sink_internal.h"

/* ---- making and freeing ------------------------------------------------ */

sluice_runtime *sluice_runtime_new_(void)
{
    sluice_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    atomic_init(&rt->refs, 1);
    atomic_init(&rt->state, SLUICE_RUNTIME_STARTING);
    return rt;
}

void sluice_logger_destroy_(sluice_logger *lg)
{
    if (!lg)
        return;
    if (lg->bindings) {
        for (size_t i = 0; i < lg->lanes * lg->sinks_per_lane; i++)
            pthread_mutex_destroy(&lg->bindings[i].mu);
        free(lg->bindings);
    }
    if (lg->queues) {
        for (unsigned i = 0; i < lg->lanes; i++)
            sluice_queue_destroy(lg->queues[i]);
        free(lg->queues);
    }
    for (size_t i = 0; i < lg->field_count; i++) {
        free((char *)lg->fields[i].key);
        free((char *)lg->fields[i].value);
    }
    free(lg->fields);
    free(lg->name);
    pthread_mutex_destroy(&lg->hooks_lock);
    free(lg);
}

static void destroy(sluice_runtime *rt)
{
    for (size_t i = 0; i < rt->logger_count; i++)
        sluice_logger_destroy_(rt->loggers[i]);
    free(rt->loggers);
    for (size_t i = 0; i < rt->sink_count; i++)
        sluice_sink_free_(rt->sinks[i]);
    free(rt->sinks);
    free(rt);
}

void sluice_runtime_discard_(sluice_runtime *rt)
{
    if (rt)
        destroy(rt);
}

void sluice_runtime_ref_(sluice_runtime *rt)
{
    atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
}

void sluice_runtime_unref_(sluice_runtime *rt)
{
    if (atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) == 1)
        destroy(rt);
}

/* ---- opening --------------------------------------------------------------- */

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

/* ---- stopping ---------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void sluice_runtime_wake_all_(sluice_runtime *rt)
{
    for (size_t i = 0; i < rt->logger_count; i++) {
        sluice_logger *lg = rt->loggers[i];
        for (unsigned l = 0; l < lg->lanes; l++)
            sluice_queue_wake(lg->queues[l]);
    }
}

/* Stop intake: calls from now on return at once; blocked ones give up. */
static void stop_intake(sluice_runtime *rt)
{
    for (size_t i = 0; i < rt->logger_count; i++) {
        sluice_logger *lg = rt->loggers[i];
        __atomic_store_n(&lg->head.level, (int)SLUICE_LEVEL_OFF, __ATOMIC_RELAXED);
        for (unsigned l = 0; l < lg->lanes; l++)
            sluice_queue_close(lg->queues[l]);
    }
}

/* Wait for the run loops until deadline (INT64_MAX: no limit), then cancel
 * the ones still going. */
static void stop_run_loops(sluice_runtime *rt, int64_t deadline)
{
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
            sluice_runtime_wake_all_(rt);
            break;
        }
        sleep_ms(1);
    }
}

int sluice_runtime_start_(sluice_runtime *rt, sluice_error *err)
{
    if (sluice_supervisor_start_(rt, err) != 0) {
        /* undo: nothing was accepted yet; stop what started, then free */
        atomic_store(&rt->state, SLUICE_RUNTIME_CLOSING);
        stop_intake(rt);
        stop_run_loops(rt, INT64_MAX);
        atomic_store(&rt->state, SLUICE_RUNTIME_CLOSED);
        sluice_runtime_unref_(rt);
        return -1;
    }
    atomic_store(&rt->state, SLUICE_RUNTIME_RUNNING);
    return 0;
}

long sluice_close(sluice_runtime *rt, int timeout_ms)
{
    if (!rt)
        return 0;
    int64_t deadline = timeout_ms < 0
                           ? INT64_MAX
                           : sluice_clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    atomic_store(&rt->state, SLUICE_RUNTIME_CLOSING);
    stop_intake(rt);
    stop_run_loops(rt, deadline);
    long undelivered = 0;
    for (size_t i = 0; i < rt->logger_count; i++) {
        sluice_logger *lg = rt->loggers[i];
        for (size_t k = 0; k < lg->lanes * lg->sinks_per_lane; k++) {
            sluice_binding *b = &lg->bindings[k];
            undelivered += (long)sluice_queue_pending(b->queue, b->cursor);
        }
    }
    atomic_store(&rt->state, SLUICE_RUNTIME_CLOSED);
    /* frees now, or when the last run loop stuck in a sink comes back */
    sluice_runtime_unref_(rt);
    return undelivered;
}
