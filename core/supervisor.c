/*
 * supervisor.c -- keeps every autostarted binding's run loop going.
 *
 * One thread per binding calls run(); when run() fails, the thread waits an
 * exponential, jittered backoff (restart_backoff_ms = MIN..MAX) and calls it
 * again, which resumes the retained backlog. More restarts than
 * restart_intensity = N/PERIOD allows within PERIOD and the binding is given
 * up: with a fallback sink its backlog and later records are diverted there,
 * otherwise they stay queued (producers meet the overflow policy) until
 * sluice_binding_resume(). Close cuts a backoff short once its deadline
 * passes. Knows nothing of formats, plugins' insides or INI.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock_internal.h"
#include "runtime_internal.h"

#define INTENSITY_MAX 1024

typedef struct restart_window {
    int64_t at[INTENSITY_MAX]; /* times of the recent restarts, a ring */
    size_t count, next;
} restart_window;

void sluice_supervisor_wake_(sluice_runtime *rt)
{
    pthread_mutex_lock(&rt->mu);
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}

/* Wait up to ms, or until woken with a reason to stop waiting. */
static void wait_ms(sluice_runtime *rt, sluice_binding *b, int64_t ms,
                    bool until_resume)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&rt->mu);
    while (!atomic_load(&rt->cancelled) && !atomic_load(&b->resume_requested) &&
           !(until_resume && atomic_load(&rt->closing))) {
        if (pthread_cond_timedwait(&rt->cv, &rt->mu, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&rt->mu);
}

/* Count a restart now; true when the intensity limit is exceeded. */
static bool over_intensity(sluice_runtime *rt, restart_window *w, int64_t now)
{
    if (rt->intensity_restarts <= 0)
        return false; /* unlimited */
    size_t cap = (size_t)rt->intensity_restarts + 1;
    if (cap > INTENSITY_MAX)
        cap = INTENSITY_MAX;
    w->at[w->next] = now;
    w->next = (w->next + 1) % cap;
    if (w->count < cap)
        w->count++;
    if (w->count < cap)
        return false;
    /* the oldest of the last N+1 restarts is within the period */
    int64_t oldest = w->at[w->next];
    return now - oldest <= (int64_t)rt->intensity_period_ms * 1000000;
}

static int64_t backoff_ms(sluice_runtime *rt, unsigned attempt, unsigned *seed)
{
    int64_t d = rt->backoff_min_ms;
    for (unsigned i = 0; i < attempt && d < rt->backoff_max_ms; i++)
        d *= 2;
    if (d > rt->backoff_max_ms)
        d = rt->backoff_max_ms;
    /* full jitter in [d/2, d] */
    int64_t half = d / 2;
    return half + (half ? (int64_t)(rand_r(seed) % (unsigned)(half + 1)) : 0);
}

static void *supervise(void *arg)
{
    sluice_binding *b = arg;
    sluice_runtime *rt = b->logger->rt;
    restart_window w;
    memset(&w, 0, sizeof w);
    unsigned attempt = 0;
    unsigned seed = (unsigned)sluice_clock_monotonic_ns() ^ (unsigned)(uintptr_t)b;
    for (;;) {
        sluice_error e;
        if (sluice_worker_run_(b, &e) == 0)
            break; /* closed and drained */
        if (atomic_load(&rt->cancelled))
            break;
        int64_t now = sluice_clock_monotonic_ns();
        if (over_intensity(rt, &w, now)) {
            atomic_fetch_add(&b->given_up, 1);
            sluice_binding_set_state_(b, SLUICE_STATE_GIVEN_UP);
            memset(&w, 0, sizeof w);
            attempt = 0;
            if (b->logger->fallback && !atomic_load(&b->diverting)) {
                atomic_store(&b->diverting, true);
                continue; /* drain into the fallback now */
            }
            /* wait for sluice_binding_resume(), or for close */
            while (!atomic_load(&b->resume_requested) &&
                   !atomic_load(&rt->closing) && !atomic_load(&rt->cancelled))
                wait_ms(rt, b, 1000, true);
            if (!atomic_load(&b->resume_requested))
                break;
            atomic_store(&b->resume_requested, false);
            continue;
        }
        sluice_binding_set_state_(b, SLUICE_STATE_BACKOFF);
        wait_ms(rt, b, backoff_ms(rt, attempt, &seed), false);
        attempt++;
        if (atomic_exchange(&b->resume_requested, false))
            attempt = 0;
    }
    sluice_runtime_unref_(rt);
    return NULL;
}

int sluice_supervisor_start_(sluice_runtime *rt, sluice_error *err)
{
    for (size_t i = 0; i < rt->logger_count; i++) {
        sluice_logger *lg = rt->loggers[i];
        if (!lg->autostart)
            continue;
        for (size_t k = 0; k < lg->lanes * lg->sinks_per_lane; k++) {
            sluice_binding *b = &lg->bindings[k];
            atomic_fetch_add(&rt->refs, 1);
            if (pthread_create(&b->thread, NULL, supervise, b) != 0) {
                atomic_fetch_sub(&rt->refs, 1);
                /* undo: stop and join what started */
                sluice_close(rt, -1);
                return sluice_error_set(err, "cannot start a worker thread");
            }
            b->thread_started = true;
        }
    }
    return 0;
}

int sluice_binding_resume(sluice_binding *b, sluice_error *err)
{
    if (!b)
        return sluice_error_set(err, "resume: no binding");
    pthread_mutex_lock(&b->mu);
    bool given_up = b->state == SLUICE_STATE_GIVEN_UP;
    pthread_mutex_unlock(&b->mu);
    if (!given_up && !atomic_load(&b->diverting))
        return sluice_error_set(err, "resume: logger '%s', sink '%s' was not "
                                     "given up",
                                b->logger->name, b->sink->name);
    atomic_store(&b->diverting, false);
    atomic_store(&b->resume_requested, true);
    sluice_supervisor_wake_(b->logger->rt);
    return 0;
}
