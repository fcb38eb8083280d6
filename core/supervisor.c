/*
 * supervisor.c -- keeps every autostarted binding's run loop going, as a
 * task under the runtime's tracker (include/sluice/task.h) with the restart
 * policy. Each binding has a child tracker of its own, so that close can
 * stop one binding's restarts without stopping the others.
 *
 * When run() fails, the tracker restarts it after an exponential, jittered
 * backoff (restart_backoff_ms = MIN..MAX), and the new run() resumes the
 * retained backlog. More restarts than restart_intensity = N/PERIOD within
 * PERIOD and the tracker gives the task up: with a fallback sink, the
 * binding is then drained into it (counted as diverted) by a new task;
 * without one its records stay queued, and the producers meet the overflow
 * policy, until sluice_binding_resume().
 *
 * Close: a binding with a fallback gets no more restarts (its tracker is
 * cancelled, which also cuts a backoff short); when its task ends with
 * records still queued, the task's thread drains them into the fallback
 * before it says it is done, so close's join waits for that.
 * Each task holds a reference on the runtime until its final event, so a
 * worker stuck in a sink past close's timeout frees the runtime when it
 * comes back.
 * Reload: a new generation's bindings get their trackers and tasks here;
 * a binding whose sink its logger's older generation also writes to (or
 * wrote to, before the sink's settings changed) waits, before its first
 * batch, until the older generation's run loops for that sink have ended,
 * so that the sink gets the old records before the new ones
 * (binding->after).
 * Knows nothing of formats, plugins' insides or INI.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sluice/task.h>

#include "clock_internal.h"
#include "guard_internal.h"
#include "runtime_internal.h"

const char *sluice_event_kind_name(sluice_event_kind kind)
{
    static const char *const names[] = {"", "failed", "backoff", "given_up",
                                        "diverting", "recovered"};
    return kind >= SLUICE_EVENT_FAILED && kind <= SLUICE_EVENT_RECOVERED
               ? names[kind]
               : "unknown";
}

void sluice_event_emit_(sluice_binding *b, sluice_event_kind kind,
                        const char *message, int64_t delay_ms)
{
    sluice_runtime *rt = b->logger->rt;
    if (!rt->event_fn)
        return;
    sluice_event ev;
    ev.kind = kind;
    ev.logger = b->logger->name;
    ev.sink = b->sink->name;
    ev.lane = b->lane;
    ev.message = message ? message : "";
    ev.delay_ms = delay_ms;
    ev.pending = sluice_queue_pending(b->queue, b->cursor);
    rt->event_fn(rt->event_user, &ev);
}

/* Is a run loop of the older generation for b's sink still going? */
static bool older_busy(const sluice_binding *b)
{
    const sluice_logger *older = b->after;
    for (size_t i = 0; i < sluice_gen_binding_count_(older); i++) {
        const sluice_binding *p = &older->bindings[i];
        if (p->sink == b->after_sink &&
            (atomic_load(&p->task_active) || atomic_load(&p->in_run)))
            return true;
    }
    return false;
}

static int binding_task(void *arg, sluice_token *cancel, sluice_error *err)
{
    sluice_binding *b = arg;
    sluice_runtime *rt = b->logger->rt;
    sluice_sink_thread_init_(); /* a runtime thread: SIGPIPE stays blocked */
    /* a reload's new binding: the sink's old records first (the wait ends
     * too when close gives up on them; run() then says cancelled) */
    if (b->after) {
        /* not cut short by the token: close cancels it to stop restarts,
         * while the older run loop still drains into the same sink */
        while (older_busy(b) && !atomic_load(&rt->cancelled) &&
               !atomic_load(&b->cancelled))
            nanosleep(&(struct timespec){0, 2000000}, NULL);
        b->after = NULL; /* only this task reads it */
    }
    (void)cancel; /* run() watches rt->cancelled, set with the cancel */
    return sluice_worker_run_(arg, err);
}

static int spawn(sluice_binding *b, sluice_error *err)
{
    sluice_runtime *rt = b->logger->rt;
    sluice_runtime_ref_(rt); /* released by the task's final event */
    if (sluice_tracker_spawn(b->tracker, binding_task, b, err) != 0) {
        sluice_runtime_unref_(rt); /* never the last: the caller holds one */
        atomic_store(&b->task_active, false);
        return -1;
    }
    return 0;
}

static void on_event(const sluice_tracker_event *ev, void *user)
{
    sluice_binding *b = ev->arg;
    sluice_runtime *rt = user;
    bool divert = false;
    switch (ev->kind) {
    case SLUICE_TRACKER_EV_RESTARTING:
        sluice_binding_set_state_(b, SLUICE_STATE_BACKOFF);
        sluice_event_emit_(b, SLUICE_EVENT_BACKOFF, NULL, ev->delay_ms);
        break;
    case SLUICE_TRACKER_EV_GAVE_UP:
        atomic_fetch_add(&b->given_up, 1);
        /* diverting before the state says given up: a flush that sees the
         * state must also see that the backlog is still on its way */
        if (b->logger->fallback && !atomic_load(&rt->cancelled))
            divert = !atomic_exchange(&b->diverting, true);
        sluice_binding_set_state_(b, SLUICE_STATE_GIVEN_UP);
        sluice_event_emit_(b, SLUICE_EVENT_GIVEN_UP, ev->error, 0);
        if (divert)
            sluice_event_emit_(b, SLUICE_EVENT_DIVERTING, NULL, 0);
        break;
    default:
        break;
    }
    if (!ev->final)
        return;
    if (sluice_runtime_state_(rt) >= SLUICE_RUNTIME_CLOSING &&
        b->logger->fallback && !atomic_load(&rt->cancelled) &&
        !sluice_queue_drained(b->queue, b->cursor)) {
        /* closing: the backlog goes to the fallback now, on this thread,
         * before the tracker counts the task as done (the run loop diverts
         * a binding that failed once close began) */
        sluice_error e;
        sluice_worker_run_(b, &e);
        divert = false;
    }
    /* under b->mu: a reload that finds the task over (sluice_supervisor_
     * gen_done_) does not see it between over and spawned again, and one
     * that gave up on the binding (cancelled) gets no new task */
    pthread_mutex_lock(&b->mu);
    atomic_store(&b->task_active, false);
    bool respawn = divert && !atomic_load(&b->cancelled) &&
                   !atomic_exchange(&b->task_active, true);
    pthread_mutex_unlock(&b->mu);
    if (respawn) {
        /* drain the backlog, and what comes later, into the fallback */
        sluice_error e;
        spawn(b, &e); /* refused only when closing: records stay counted */
    }
    sluice_runtime_unref_(rt); /* the spawn's reference; may free rt */
}

/* The trackers of a generation's bindings (children of the root). */
static int make_trackers(sluice_runtime *rt, sluice_logger *gen, sluice_error *err)
{
    if (!gen->autostart)
        return 0;
    sluice_tracker_options child;
    memset(&child, 0, sizeof child); /* all inherited */
    child.name = "sluice-binding";
    for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++) {
        sluice_binding *b = &gen->bindings[k];
        b->tracker = sluice_tracker_new(rt->tracker, &child, err);
        if (!b->tracker)
            return -1;
    }
    return 0;
}

void sluice_supervisor_forget_(sluice_logger *gen)
{
    for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++) {
        sluice_tracker_free(gen->bindings[k].tracker);
        gen->bindings[k].tracker = NULL;
    }
}

int sluice_supervisor_prepare_(sluice_runtime *rt, sluice_logger *gen,
                               sluice_error *err)
{
    if (make_trackers(rt, gen, err) == 0)
        return 0;
    sluice_supervisor_forget_(gen);
    return -1;
}

void sluice_supervisor_spawn_(sluice_logger *gen)
{
    if (!gen->autostart)
        return;
    for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++) {
        sluice_binding *b = &gen->bindings[k];
        sluice_error e;
        atomic_store(&b->task_active, true);
        if (spawn(b, &e) != 0) {
            /* no thread for it: say so where its state is read */
            pthread_mutex_lock(&b->mu);
            b->state = SLUICE_STATE_FAILED;
            b->has_failed = true;
            snprintf(b->last_error, sizeof b->last_error,
                     "its run loop could not start: %.400s", e.message);
            pthread_mutex_unlock(&b->mu);
            sluice_event_emit_(b, SLUICE_EVENT_FAILED, b->last_error, 0);
        }
    }
}

bool sluice_supervisor_binding_done_(sluice_binding *b)
{
    pthread_mutex_lock(&b->mu);
    bool done = !atomic_load(&b->task_active) && !atomic_load(&b->in_run);
    pthread_mutex_unlock(&b->mu);
    return done;
}

bool sluice_supervisor_gen_done_(sluice_logger *gen)
{
    for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++)
        if (!sluice_supervisor_binding_done_(&gen->bindings[k]))
            return false;
    return true;
}

int sluice_supervisor_start_(sluice_runtime *rt, sluice_error *err)
{
    sluice_tracker_options o;
    memset(&o, 0, sizeof o);
    o.name = "sluice-supervisor";
    o.max_running = -1; /* every binding runs at once */
    o.policy = SLUICE_TRACKER_RESTART;
    o.backoff_min_ms = rt->backoff_min_ms;
    o.backoff_max_ms = rt->backoff_max_ms;
    if (rt->intensity_restarts > 0) {
        o.max_restarts = rt->intensity_restarts;
        o.period_ms = rt->intensity_period_ms;
    } else { /* unlimited: more than this many within 1 ms cannot happen */
        o.max_restarts = 100000;
        o.period_ms = 1;
    }
    o.on_event = on_event;
    o.event_user = rt;
    rt->tracker = sluice_tracker_new(NULL, &o, err);
    if (!rt->tracker)
        return -1;
    for (size_t i = 0; i < rt->logger_count; i++) {
        sluice_logger *gen = rt->loggers[i]->gens;
        if (!gen->autostart)
            continue;
        if (make_trackers(rt, gen, err) != 0)
            return -1; /* the caller stops what started */
        for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++) {
            sluice_binding *b = &gen->bindings[k];
            atomic_store(&b->task_active, true);
            if (spawn(b, err) != 0)
                return -1;
        }
    }
    return 0;
}

/* Call fn on each generation of every logger of rt, the ones a reload
 * removed and has not buried yet too (close: no reload runs). */
static void each_gen(sluice_runtime *rt, void (*fn)(sluice_logger *gen))
{
    for (size_t i = 0; i < rt->logger_count; i++)
        SLUICE_FOR_EACH_GEN(rt->loggers[i], gen)
            fn(gen);
    for (sluice_logger *face = rt->removed; face; face = face->next_removed)
        SLUICE_FOR_EACH_GEN(face, gen)
            fn(gen);
}

static void cancel_fallback_restarts(sluice_logger *gen)
{
    if (!gen->fallback)
        return;
    for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++)
        sluice_tracker_cancel(gen->bindings[k].tracker); /* NULL: ignored */
}

void sluice_supervisor_close_(sluice_runtime *rt)
{
    each_gen(rt, cancel_fallback_restarts);
}

/* Free the trackers (each binding's, then the root), now or, for tasks
 * stuck in a sink, when the last of them ends. */
static void free_trackers(sluice_runtime *rt)
{
    each_gen(rt, sluice_supervisor_forget_);
    sluice_tracker_free(rt->tracker);
    rt->tracker = NULL;
}

int sluice_supervisor_stop_(sluice_runtime *rt, int64_t deadline_ns)
{
    if (!rt->tracker)
        return 0;
    int64_t left = deadline_ns == INT64_MAX
                       ? -1
                       : (deadline_ns - sluice_clock_monotonic_ns()) / 1000000;
    sluice_error e;
    int rc;
    if (left < 0 && deadline_ns == INT64_MAX)
        rc = sluice_tracker_join(rt->tracker, &e);
    else
        rc = sluice_tracker_join_timeout(rt->tracker, left > 0 ? left : 0, &e);
    if (rc != 0) {
        atomic_store(&rt->cancelled, true);
        sluice_tracker_cancel(rt->tracker);
        sluice_runtime_wake_all_(rt);
        /* tasks in a backoff end at once; give them a moment to say so */
        rc = sluice_tracker_join_timeout(rt->tracker, 20, &e);
    }
    free_trackers(rt);
    return rc == 0 ? 0 : -1;
}

int sluice_binding_resume(sluice_binding *b, sluice_error *err)
{
    if (!b)
        return sluice_error_set(err, "resume: no binding");
    sluice_logger *lg = b->logger->face;
    const void *saved = sluice_guard_enter_(lg);
    int rc = 0;
    if (atomic_load_explicit(&lg->slow_path, memory_order_seq_cst) &
        (SLUICE_SLOW_CLOSING | SLUICE_SLOW_CLOSED | SLUICE_SLOW_FORKED)) {
        rc = sluice_error_set(err, "resume: the runtime is closing");
        goto out;
    }
    if (b->logger != sluice_logger_gen_(lg)) {
        /* resumed now, it would write its old records after the new ones */
        rc = sluice_error_set(err, "resume: logger '%s': a reload replaced "
                                   "this binding",
                              lg->name);
        goto out;
    }
    pthread_mutex_lock(&b->mu);
    bool given_up = b->state == SLUICE_STATE_GIVEN_UP;
    pthread_mutex_unlock(&b->mu);
    if (!given_up) {
        rc = sluice_error_set(err,
                              "resume: logger '%s', sink '%s', lane %u was "
                              "not given up",
                              lg->name, b->sink->name, b->lane);
        goto out;
    }
    /* a diverting task switches back to the sink at its next batch */
    atomic_store(&b->diverting, false);
    sluice_binding_set_state_(b, SLUICE_STATE_IDLE); /* until a run starts */
    if (b->logger->autostart && b->tracker && !atomic_exchange(&b->task_active, true))
        rc = spawn(b, err);
out:
    sluice_guard_leave_(saved);
    return rc;
}
