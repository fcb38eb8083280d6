/*
 * lifecycle.c -- the one owner of a runtime's life: it is made here, started
 * here, closed here and freed here, and nowhere else.
 *
 *   sluice_runtime_new_   STARTING, one reference (the host's)
 *   sluice_runtime_start_ starts the supervisor, then the metrics server
 *                         ([runtime] metrics_listen): RUNNING; on error the
 *                         runtime is stopped and freed before it returns.
 *                         With crash_flush, the crash handler (crash.c)
 *                         knows it from here until close has drained it
 *   sluice_close          CLOSING, then CLOSED, and the host's reference goes:
 *     0. the metrics server stops (metrics_http.c): from here on nothing
 *        reads the runtime on its behalf;
 *     1. intake stops: each logger's level goes OFF and its slow_path gets
 *        SLUICE_SLOW_CLOSING, so a call that starts now returns at once;
 *        each queue's head is closed (SLUICE_HEAD_CLOSED), so no claim
 *        succeeds any more and a call blocked on a full queue gives up
 *        (its record refused, counted as closed);
 *     2. the queues are sealed: a run loop drains what is there (waiting
 *        for a record claimed just before to be published) and ends;
 *     3. a binding with a fallback gets no more restarts: what it cannot
 *        write goes to the fallback (counted as diverted);
 *     4. close waits for the run loops (supervised and host-driven) until
 *        its deadline, then cancels them;
 *     5. what is still queued is counted and returned as undelivered;
 *     6. CLOSED: the counters are frozen, SLUICE_SLOW_CLOSED is set, close
 *        waits until no API call is inside (guard.c; each is short, every
 *        wait inside one watches CLOSING) and every claimed record is
 *        published, and drops its reference.
 *   last unref            destroy: sinks closed (through the doorway),
 *                         slots unmapped, memory freed, except each
 *                         logger's husk: the struct, its bindings and its
 *                         queues' header pages, kept so that a logging
 *                         call, stats call or run loop racing with, or
 *                         coming after, close reads only the husk and
 *                         returns.
 *
 * A logger is a face and its generations (runtime_internal.h): every step
 * above covers each generation of each logger, the retired ones a reload
 * left draining included, and the faces a reload removed that have not
 * been buried yet. A reload (reload.c) and close are one at a time: close
 * first moves to CLOSING, so a reload that starts now is refused and one
 * under way stops waiting for its old sinks, then waits for that reload
 * to return (reload_lock) before it goes on.
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
#include "crash_internal.h"
#include "guard_internal.h"
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
    pthread_mutex_init(&rt->roster_lock, NULL);
    pthread_mutex_init(&rt->reload_lock, NULL);
    return rt;
}

static void free_fields(sluice_logger *lg)
{
    for (size_t i = 0; i < lg->field_count; i++) {
        free((char *)lg->fields[i].key);
        free((char *)lg->fields[i].value);
    }
    free(lg->fields);
    lg->fields = NULL;
    lg->field_count = 0;
}

void sluice_gen_destroy_(sluice_logger *gen)
{
    if (!gen)
        return;
    if (gen->bindings) {
        for (size_t i = 0; i < sluice_gen_binding_count_(gen); i++)
            pthread_mutex_destroy(&gen->bindings[i].mu);
        free(gen->bindings);
    }
    if (gen->queues) {
        for (unsigned i = 0; i < gen->lanes; i++)
            sluice_queue_destroy(gen->queues[i]);
        free(gen->queues);
    }
    free_fields(gen);
    sluice_hook_stages_free_(gen);
    free(gen->name);
    pthread_mutex_destroy(&gen->hooks_lock);
    pthread_mutex_destroy(&gen->gens_lock);
    free(gen);
}

void sluice_logger_destroy_(sluice_logger *face)
{
    if (!face)
        return;
    for (sluice_logger *gen = face->gens, *older; gen; gen = older) {
        older = gen->older;
        sluice_gen_destroy_(gen);
    }
    free(face->name);
    free(face->signature);
    free(face->durable_path);
    pthread_mutex_destroy(&face->hooks_lock);
    pthread_mutex_destroy(&face->gens_lock);
    free(face);
}

/* The husks of closed loggers and of retired generations: never freed,
 * never reused (see the top). */
static pthread_mutex_t husks_lock = PTHREAD_MUTEX_INITIALIZER;
static sluice_logger *husks;

static void keep_husk(sluice_logger *lg)
{
    pthread_mutex_lock(&husks_lock);
    lg->next_husk = husks;
    husks = lg;
    pthread_mutex_unlock(&husks_lock);
}

/* Free what a generation no run loop uses any more owns, keep its husk:
 * the struct, its bindings (their sink pointers stay, compared but never
 * followed) and its queues' headers (what a logging call that read the
 * face's gen just before it changed may still read). */
void sluice_gen_bury_(sluice_logger *gen)
{
    for (unsigned i = 0; gen->queues && i < gen->lanes; i++)
        sluice_queue_bury(gen->queues[i]);
    free_fields(gen);
    sluice_hook_stages_free_(gen); /* its run loops, which used them, ended */
    keep_husk(gen);
}

/* Free what a closed logger owns, keep its husk: the face (bits, level
 * OFF, frozen counters) and its generations' husks. */
void sluice_face_bury_(sluice_logger *face)
{
    for (sluice_logger *gen = face->gens, *older; gen; gen = older) {
        older = gen->older;
        for (size_t i = 0; i < sluice_gen_binding_count_(gen); i++)
            gen->bindings[i].sink = NULL;
        gen->fallback = NULL;
        gen->dead_letter = NULL;
        gen->rt = NULL;
        sluice_gen_bury_(gen);
    }
    face->rt = NULL;
    keep_husk(face);
}

static void destroy(sluice_runtime *rt)
{
    bool published = rt->published;
    for (size_t i = 0; i < rt->logger_count; i++) {
        if (published)
            sluice_face_bury_(rt->loggers[i]);
        else
            sluice_logger_destroy_(rt->loggers[i]);
    }
    for (sluice_logger *face = rt->removed, *next; face; face = next) {
        next = face->next_removed;
        sluice_face_bury_(face);
    }
    free(rt->loggers);
    for (size_t i = 0; i < rt->sink_count; i++)
        sluice_sink_free_(rt->sinks[i]);
    for (size_t i = 0; i < rt->old_sink_count; i++)
        sluice_sink_free_(rt->old_sinks[i]);
    free(rt->sinks);
    free(rt->old_sinks);
    free(rt->host_apis);
    free(rt->guarded);
    pthread_mutex_destroy(&rt->roster_lock);
    pthread_mutex_destroy(&rt->reload_lock);
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

/* ---- stopping ---------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool past(int64_t deadline)
{
    return deadline != INT64_MAX && sluice_clock_monotonic_ns() >= deadline;
}

/* The faces of rt, with the ones a reload removed that are not buried
 * yet: index 0..logger_count-1 the loggers, then the removed list. */
static sluice_logger *next_face(sluice_runtime *rt, size_t *at,
                                sluice_logger *face)
{
    if (*at < rt->logger_count)
        return rt->loggers[(*at)++];
    if (*at == rt->logger_count) {
        (*at)++;
        return rt->removed;
    }
    return face ? face->next_removed : NULL;
}

#define FOR_EACH_FACE(rt, face)                                                \
    for (size_t face##_at = 0, face##_once = 1; face##_once; face##_once = 0)  \
        for (sluice_logger *face = next_face(rt, &face##_at, NULL); face;      \
             face = next_face(rt, &face##_at, face))

void sluice_runtime_wake_all_(sluice_runtime *rt)
{
    FOR_EACH_FACE(rt, face)
        SLUICE_FOR_EACH_GEN(face, gen)
            for (unsigned l = 0; l < gen->lanes; l++)
                sluice_queue_wake(gen->queues[l]);
}

/* Set bits on every logger (seq_cst: the guard's other half). */
static void set_bits(sluice_runtime *rt, unsigned bits)
{
    FOR_EACH_FACE(rt, face)
        sluice_face_set_slow_(face, bits);
}

/* Wait until no producer is inside a claim and every claimed record is
 * published (producers == true), or until no other thread is inside an
 * API call on rt or its loggers (false). */
static bool wait_quiet(sluice_runtime *rt, bool producers, int64_t deadline)
{
    for (;;) {
        bool busy = false;
        if (!producers)
            busy = sluice_guard_busy_(rt->guarded, rt->guarded_count);
        if (producers)
            FOR_EACH_FACE(rt, face)
                SLUICE_FOR_EACH_GEN(face, gen)
                    for (unsigned l = 0; l < gen->lanes && !busy; l++)
                        busy = !sluice_queue_quiet(gen->queues[l]);
        if (!busy)
            return true;
        if (past(deadline))
            return false;
        sluice_runtime_wake_all_(rt);
        sleep_ms(1);
    }
}

/* Step 1 for one logger: calls from now on return at once; blocked ones
 * give up (the queues of its current generation close; older ones a
 * reload retired are closed already). */
void sluice_face_stop_intake_(sluice_logger *face)
{
    __atomic_store_n(&face->head.level, (int)SLUICE_LEVEL_OFF, __ATOMIC_RELAXED);
    sluice_face_set_slow_(face, SLUICE_SLOW_CLOSING);
    sluice_logger *gen = face->gens;
    for (unsigned l = 0; l < gen->lanes; l++)
        sluice_queue_close(gen->queues[l]);
}

/* Step 1. */
static void stop_intake(sluice_runtime *rt)
{
    pthread_mutex_lock(&rt->roster_lock);
    for (size_t i = 0; i < rt->logger_count; i++)
        sluice_face_stop_intake_(rt->loggers[i]);
    pthread_mutex_unlock(&rt->roster_lock);
}

void sluice_runtime_stop_intake(sluice_runtime *rt)
{
    if (!rt)
        return;
    const void *saved = sluice_guard_enter_(rt);
    if (sluice_runtime_state_(rt) < SLUICE_RUNTIME_CLOSED) {
        /* a reload that has not committed yet sees it and gives up */
        atomic_store(&rt->intake_stopped, true);
        stop_intake(rt);
    }
    sluice_guard_leave_(saved);
}

/* Step 3: nothing more will be added; the run loops drain and end. */
static void seal(sluice_runtime *rt)
{
    FOR_EACH_FACE(rt, face)
        SLUICE_FOR_EACH_GEN(face, gen)
            for (unsigned l = 0; l < gen->lanes; l++)
                sluice_queue_seal(gen->queues[l]);
}

/* Is a host-driven binding done: drained, and its run loop out? When its
 * sink failed and it has a fallback, drain it into the fallback here. */
static bool host_binding_done(sluice_binding *b)
{
    if (atomic_load(&b->in_run))
        return false;
    if (sluice_queue_drained(b->queue, b->cursor))
        return true;
    pthread_mutex_lock(&b->mu);
    bool failed = b->has_failed;
    pthread_mutex_unlock(&b->mu);
    if (failed && b->logger->fallback) {
        sluice_error e;
        sluice_worker_run_(b, &e); /* diverts: it failed once close began */
        return sluice_queue_drained(b->queue, b->cursor);
    }
    return false; /* its run loop has yet to come (or come back) */
}

/* Step 5: wait for the run loops until deadline (INT64_MAX: no limit), then
 * cancel the ones still going. */
static void stop_run_loops(sluice_runtime *rt, int64_t deadline)
{
    /* the supervised run loops drain and end, or are cancelled */
    sluice_supervisor_stop_(rt, deadline);
    /* run loops the host drives (autostart = false) */
    for (;;) {
        bool busy = false;
        for (size_t i = 0; i < rt->logger_count; i++) {
            sluice_logger *gen = rt->loggers[i]->gens; /* reloads never
                                                         replace these */
            if (gen->autostart)
                continue;
            for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++)
                if (!host_binding_done(&gen->bindings[k]))
                    busy = true;
        }
        if (!busy)
            break;
        if (past(deadline)) {
            atomic_store(&rt->cancelled, true);
            sluice_runtime_wake_all_(rt);
            break;
        }
        sleep_ms(1);
    }
}

static long count_undelivered(sluice_runtime *rt)
{
    long undelivered = 0;
    FOR_EACH_FACE(rt, face)
        SLUICE_FOR_EACH_GEN(face, gen)
            for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++) {
                sluice_binding *b = &gen->bindings[k];
                if (atomic_load(&b->cancelled))
                    continue; /* a reload gave it up, and counted it */
                undelivered += (long)sluice_queue_pending(b->queue, b->cursor);
            }
    return undelivered;
}

/* Steps 1 to 6; returns the count of undelivered records. */
static long shut_down(sluice_runtime *rt, int64_t deadline)
{
    stop_intake(rt);
    seal(rt);
    sluice_supervisor_close_(rt);
    stop_run_loops(rt, deadline);
    return count_undelivered(rt);
}

/* Step 7: no call reaches this runtime any more; drop close's reference.
 * A call still inside a second past the deadline (a host's callback that
 * never returns) keeps the memory: it is not freed under it. */
static void finish_close(sluice_runtime *rt, int64_t deadline)
{
    sluice_crash_unregister_(rt); /* a crash from now on leaves it alone */
    int64_t grace = deadline == INT64_MAX ? INT64_MAX : deadline + 1000000000;
    bool quiet = wait_quiet(rt, true, grace);
    FOR_EACH_FACE(rt, face)
        sluice_stats_freeze_(face);
    atomic_store(&rt->state, SLUICE_RUNTIME_CLOSED);
    set_bits(rt, SLUICE_SLOW_CLOSED);
    if (wait_quiet(rt, false, grace) && quiet)
        sluice_runtime_unref_(rt);
}

/* The objects a call can be inside of: the runtime and its loggers (the
 * faces a reload removed and has not buried yet too). */
size_t sluice_runtime_guard_size_(sluice_runtime *rt)
{
    size_t n = 1;
    FOR_EACH_FACE(rt, face)
        n++;
    return n;
}

void sluice_runtime_guard_set_(sluice_runtime *rt, const void **list)
{
    size_t n = 0;
    list[n++] = rt;
    FOR_EACH_FACE(rt, face)
        list[n++] = face;
    free(rt->guarded);
    rt->guarded = list;
    rt->guarded_count = n;
}

int sluice_runtime_guard_list_(sluice_runtime *rt, sluice_error *err)
{
    const void **list = calloc(sluice_runtime_guard_size_(rt), sizeof *list);
    if (!list)
        return sluice_error_set(err, "out of memory");
    sluice_runtime_guard_set_(rt, list);
    return 0;
}

/* ---- the runtimes alive in this process: fork and exit ------------------ */

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static sluice_runtime *live;           /* started, not yet closed */
static sluice_runtime *forsaken;       /* closed in a fork's child: the
                                          parent's, kept as they are */
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void live_add(sluice_runtime *rt)
{
    pthread_mutex_lock(&live_lock);
    rt->live_next = live;
    live = rt;
    pthread_mutex_unlock(&live_lock);
}

static void live_remove(sluice_runtime *rt)
{
    pthread_mutex_lock(&live_lock);
    for (sluice_runtime **p = &live; *p; p = &(*p)->live_next) {
        if (*p == rt) {
            *p = rt->live_next;
            break;
        }
    }
    pthread_mutex_unlock(&live_lock);
}

/* fork(): hold every lock the child needs to find consistent. */
static void before_fork(void)
{
    pthread_mutex_lock(&live_lock);
    pthread_mutex_lock(&husks_lock);
    sluice_guard_lock_();
    /* no reload is swapping a runtime's loggers (brief: never held for
     * long, nor while waiting for anything) */
    for (sluice_runtime *rt = live; rt; rt = rt->live_next)
        pthread_mutex_lock(&rt->roster_lock);
}

static void after_fork_parent(void)
{
    for (sluice_runtime *rt = live; rt; rt = rt->live_next)
        pthread_mutex_unlock(&rt->roster_lock);
    sluice_guard_unlock_();
    pthread_mutex_unlock(&husks_lock);
    pthread_mutex_unlock(&live_lock);
}

/* The child has one thread and a copy of the parent's runtimes, whose run
 * loops, locks and sinks are the parent's: each is marked forked, so a
 * logging call on it is dropped and counted (stats.forked, read once the
 * child closes it) and nothing waits for a run loop that is not there.
 * The child may open runtimes of its own. */
static void after_fork_child(void)
{
    sluice_guard_after_fork_child_();
    pthread_mutex_init(&husks_lock, NULL);
    pthread_mutex_init(&live_lock, NULL);
    for (sluice_runtime *rt = live; rt; rt = rt->live_next) {
        pthread_mutex_init(&rt->roster_lock, NULL);
        rt->forked = true;
        sluice_metrics_http_forked_(rt);
        FOR_EACH_FACE(rt, face)
            sluice_face_set_slow_(face, SLUICE_SLOW_FORKED);
    }
}

/* Wait until every binding of rt has written what it had (or gave up), for
 * at most until deadline, then flush the sinks. */
static void drain_for_exit(sluice_runtime *rt, int64_t deadline)
{
    for (;;) {
        bool busy = false;
        pthread_mutex_lock(&rt->roster_lock);
        FOR_EACH_FACE(rt, face)
            SLUICE_FOR_EACH_GEN(face, gen)
                for (size_t k = 0; k < sluice_gen_binding_count_(gen) && !busy; k++) {
                    sluice_binding *b = &gen->bindings[k];
                    pthread_mutex_lock(&b->mu);
                    bool gave_up = (b->state == SLUICE_STATE_GIVEN_UP &&
                                    !atomic_load(&b->diverting)) ||
                                   atomic_load(&b->cancelled);
                    pthread_mutex_unlock(&b->mu);
                    busy = !gave_up && !sluice_queue_drained(b->queue, b->cursor);
                }
        pthread_mutex_unlock(&rt->roster_lock);
        if (!busy || past(deadline))
            break;
        sleep_ms(1);
    }
    pthread_mutex_lock(&rt->roster_lock);
    for (size_t i = 0; i < rt->sink_count; i++) {
        sluice_error e;
        sluice_sink_flush_(rt->sinks[i], &e);
    }
    pthread_mutex_unlock(&rt->roster_lock);
}

/* exit() or a return from main without close: drain each runtime for at
 * most its flush_on_exit_ms. Nothing is closed or freed: other threads may
 * still be logging. */
static void at_exit(void)
{
    pthread_mutex_lock(&live_lock);
    for (sluice_runtime *rt = live; rt; rt = rt->live_next) {
        int flush_ms = atomic_load(&rt->flush_on_exit_ms); /* a reload sets it */
        if (rt->forked || flush_ms <= 0 ||
            sluice_runtime_state_(rt) != SLUICE_RUNTIME_RUNNING)
            continue;
        drain_for_exit(rt, sluice_clock_monotonic_ns() + (int64_t)flush_ms * 1000000);
    }
    pthread_mutex_unlock(&live_lock);
}

static void process_init(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    atexit(at_exit);
}

/* close() in a fork's child: the runtime is the parent's; release nothing
 * of it (its sinks, threads and locks are the parent's), keep it reachable,
 * and count what the child logged into it. */
static long close_forked(sluice_runtime *rt)
{
    live_remove(rt);
    sluice_crash_unregister_(rt);
    FOR_EACH_FACE(rt, face) {
        memset(&face->closed_stats, 0, sizeof face->closed_stats);
        face->closed_stats.attempted = atomic_load(&face->forked);
        face->closed_stats.dropped = face->closed_stats.forked =
            face->closed_stats.attempted;
        face->closed_stats.binding_count =
            sluice_gen_binding_count_(sluice_logger_gen_(face));
        __atomic_store_n(&face->head.level, (int)SLUICE_LEVEL_OFF, __ATOMIC_RELAXED);
        sluice_face_set_slow_(face, SLUICE_SLOW_CLOSING | SLUICE_SLOW_CLOSED);
    }
    pthread_mutex_lock(&live_lock);
    rt->live_next = forsaken;
    forsaken = rt;
    pthread_mutex_unlock(&live_lock);
    return 0;
}

int sluice_runtime_start_(sluice_runtime *rt, sluice_error *err)
{
    FOR_EACH_FACE(rt, face) /* one generation each, as assembled */
        SLUICE_FOR_EACH_GEN(face, gen)
            sluice_runtime_add_gen_(rt, gen);
    if (sluice_runtime_guard_list_(rt, err) != 0 ||
        (rt->crash_flush && sluice_crash_register_(rt, err) != 0)) {
        sluice_runtime_discard_(rt);
        return -1;
    }
    if (sluice_supervisor_start_(rt, err) != 0 ||
        sluice_metrics_http_start_(rt, err) != 0) {
        /* undo: nothing was accepted yet; stop what started, then free */
        atomic_store(&rt->state, SLUICE_RUNTIME_CLOSING);
        shut_down(rt, INT64_MAX);
        sluice_crash_unregister_(rt);
        atomic_store(&rt->state, SLUICE_RUNTIME_CLOSED);
        sluice_runtime_unref_(rt);
        return -1;
    }
    rt->published = true;
    pthread_once(&process_once, process_init);
    live_add(rt);
    atomic_store(&rt->state, SLUICE_RUNTIME_RUNNING);
    return 0;
}

long sluice_close(sluice_runtime *rt, int timeout_ms)
{
    if (!rt)
        return 0;
    int expected = SLUICE_RUNTIME_RUNNING;
    if (!atomic_compare_exchange_strong(&rt->state, &expected,
                                        SLUICE_RUNTIME_CLOSING))
        return 0; /* another thread is closing it */
    if (rt->forked)
        return close_forked(rt);
    /* a reload under way sees CLOSING and returns soon; one that starts
     * from now on is refused */
    pthread_mutex_lock(&rt->reload_lock);
    pthread_mutex_unlock(&rt->reload_lock);
    sluice_metrics_http_stop_(rt); /* before anything it reads can go */
    live_remove(rt);
    int64_t deadline = timeout_ms < 0
                           ? INT64_MAX
                           : sluice_clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    long undelivered = shut_down(rt, deadline);
    /* frees now, or when the last run loop stuck in a sink comes back */
    finish_close(rt, deadline);
    return undelivered;
}

/* ---- a run loop the host drives ------------------------------------------ */

/* The host's way into a binding's run loop: it holds a reference while it
 * runs, taken inside the guard, so close cannot free the runtime under a
 * run loop that is just coming in; once close returned it is over at
 * once (0). */
int sluice_binding_run(sluice_binding *b, sluice_error *err)
{
    if (!b)
        return sluice_error_set(err, "run(): no binding");
    sluice_logger *lg = b->logger->face;
    /* inside the guard until the reference is taken: close cannot free
     * the runtime under a run loop that is just coming in */
    const void *saved = sluice_guard_enter_(lg);
    unsigned slow = atomic_load_explicit(&lg->slow_path, memory_order_seq_cst);
    if (slow & (SLUICE_SLOW_CLOSED | SLUICE_SLOW_FORKED)) {
        sluice_guard_leave_(saved);
        if (slow & SLUICE_SLOW_FORKED)
            return sluice_error_set(err, "run(): the runtime belongs to the "
                                         "parent of this forked process");
        return 0; /* closed: what was left is counted by close */
    }
    if (b->logger != sluice_logger_gen_(lg)) {
        /* a reload never replaces a host-driven logger: a binding of an
         * older generation is a supervised one, not the host's to run */
        sluice_guard_leave_(saved);
        return sluice_error_set(err, "run(): logger '%s': a reload replaced "
                                     "this binding",
                                lg->name);
    }
    sluice_runtime *rt = lg->rt;
    sluice_runtime_ref_(rt);
    sluice_guard_leave_(saved);
    int rc = sluice_worker_run_(b, err);
    if (rc != 0 && atomic_load(&rt->cancelled))
        rc = 0; /* over for good: close counts what was left undelivered */
    sluice_runtime_unref_(rt);
    return rc;
}
