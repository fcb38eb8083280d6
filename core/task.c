/*
 * task.c -- the task layer (include/sluice/task.h): cancellation tokens,
 * cancellable sleeps, the deadline/cancellable mutex, the semaphore
 * scheduler and trackers with their error policies, events and metrics.
 *
 * It owns threads it starts for tasks and nothing else. It must not know
 * about queues, sinks, workers or the runtime: those are built on it.
 *
 * Locks, outermost first: g_trees (tracker parent/child links) -> a
 * tracker's lock; g_tokens (token tree and waker lists) -> a waker's mutex
 * (a sleep's, a sluice_mutex's, a scheduler's). Nothing holding a waker's
 * mutex or a tracker's lock calls into the token tree, so a cancel (which
 * takes g_tokens and then each waker's mutex to wake it) cannot deadlock.
 *
 * No walk of a tree recurses, so a tree as deep as memory allows is walked
 * on any thread's stack. Cancel and close hold their tree's global lock
 * and go down first-child links, along siblings and back up parent links.
 * A join waits between its steps and cannot keep g_trees that long: it
 * holds (pins) the children of each tracker on its path and keeps that
 * path on a stack in the heap (join_until).
 */
#include <sluice/task.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- time -------------------------------------------------------------- */

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)
#define MAX_MS (INT64_MAX / NS_PER_MS - INT64_C(1000))

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t ms_to_ns(int64_t ms)
{
    if (ms > MAX_MS)
        ms = MAX_MS;
    if (ms < -MAX_MS)
        ms = -MAX_MS;
    return ms * NS_PER_MS;
}

/* now + ms, saturating. */
static int64_t deadline_after(int64_t ms)
{
    int64_t now = now_ns();
    int64_t d = ms_to_ns(ms < 0 ? 0 : ms);
    return d > INT64_MAX - now ? INT64_MAX : now + d;
}

static struct timespec ns_to_ts(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / NS_PER_S);
    ts.tv_nsec = (long)(ns % NS_PER_S);
    return ts;
}

int64_t sluice_sleep_now_ms(void)
{
    return now_ns() / NS_PER_MS;
}

static int cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t a;
    int rc = pthread_condattr_init(&a);
    if (rc)
        return rc;
    rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (!rc)
        rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/* Wait on c (m held) until signalled or deadline_ns (negative: none).
 * Spurious wake-ups are the caller's loop's business. */
static void cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m,
                            int64_t deadline_ns)
{
    if (deadline_ns < 0) {
        pthread_cond_wait(c, m);
    } else {
        struct timespec ts = ns_to_ts(deadline_ns);
        pthread_cond_timedwait(c, m, &ts);
    }
}

/* ---- tokens ------------------------------------------------------------ */

/* Someone waiting on a token: cancel locks m and broadcasts c. */
struct waker {
    pthread_mutex_t *m;
    pthread_cond_t *c;
    struct waker *prev, *next;
};

struct sluice_token {
    atomic_int cancelled;
    /* the rest under g_tokens */
    sluice_token *parent, *first_child, *prev, *next;
    struct waker *wakers;
};

static pthread_mutex_t g_tokens = PTHREAD_MUTEX_INITIALIZER;
static void fork_handlers(void); /* below, with g_trees */

static void token_link(sluice_token *t, sluice_token *parent)
{
    t->parent = parent;
    t->prev = NULL;
    t->next = parent ? parent->first_child : NULL;
    if (parent) {
        if (parent->first_child)
            parent->first_child->prev = t;
        parent->first_child = t;
    }
}

static void token_unlink(sluice_token *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else if (t->parent)
        t->parent->first_child = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->parent = t->prev = t->next = NULL;
}

sluice_token *sluice_token_new(sluice_token *parent)
{
    fork_handlers();
    sluice_token *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    atomic_init(&t->cancelled, 0);
    pthread_mutex_lock(&g_tokens);
    token_link(t, parent);
    if (parent && atomic_load(&parent->cancelled))
        atomic_store(&t->cancelled, 1);
    pthread_mutex_unlock(&g_tokens);
    return t;
}

int sluice_token_is_cancelled(const sluice_token *t)
{
    return t ? atomic_load_explicit(&((sluice_token *)t)->cancelled,
                                    memory_order_acquire) != 0
             : 0;
}

void sluice_token_cancel(sluice_token *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&g_tokens);
    /* Pre-order walk of t's subtree. A cancelled token's subtree is all
     * cancelled already (children of a cancelled token start cancelled),
     * so it is skipped. */
    sluice_token *n = t;
    for (;;) {
        bool descend = false;
        if (!atomic_load(&n->cancelled)) {
            atomic_store_explicit(&n->cancelled, 1, memory_order_release);
            for (struct waker *w = n->wakers; w; w = w->next) {
                pthread_mutex_lock(w->m);
                pthread_cond_broadcast(w->c);
                pthread_mutex_unlock(w->m);
            }
            descend = n->first_child != NULL;
        }
        if (descend) {
            n = n->first_child;
            continue;
        }
        while (n != t && !n->next)
            n = n->parent;
        if (n == t)
            break;
        n = n->next;
    }
    pthread_mutex_unlock(&g_tokens);
}

void sluice_token_free(sluice_token *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&g_tokens);
    sluice_token *grand = t->parent;
    while (t->first_child) {
        sluice_token *c = t->first_child;
        token_unlink(c);
        token_link(c, grand);
    }
    token_unlink(t);
    pthread_mutex_unlock(&g_tokens);
    free(t);
}

/* Register w so that a cancel of t (or an ancestor) wakes c. Call without
 * holding m. */
static void waker_add(sluice_token *t, struct waker *w, pthread_mutex_t *m,
                      pthread_cond_t *c)
{
    w->m = m;
    w->c = c;
    w->prev = NULL;
    pthread_mutex_lock(&g_tokens);
    w->next = t->wakers;
    if (t->wakers)
        t->wakers->prev = w;
    t->wakers = w;
    pthread_mutex_unlock(&g_tokens);
}

static void waker_remove(sluice_token *t, struct waker *w)
{
    pthread_mutex_lock(&g_tokens);
    if (w->prev)
        w->prev->next = w->next;
    else
        t->wakers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&g_tokens);
}

/* ---- sleeping ------------------------------------------------------------ */

static int sleep_until_ns(int64_t deadline_ns, sluice_token *tok)
{
    if (!tok) {
        struct timespec ts = ns_to_ts(deadline_ns);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
               EINTR)
            ;
        return 0;
    }
    if (sluice_token_is_cancelled(tok))
        return SLUICE_TASK_CANCELLED;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    if (cond_init_monotonic(&c) != 0) {
        /* No condition variable: poll the token every 10 ms. */
        while (!sluice_token_is_cancelled(tok) && now_ns() < deadline_ns) {
            int64_t step = now_ns() + 10 * NS_PER_MS;
            struct timespec ts =
                ns_to_ts(step < deadline_ns ? step : deadline_ns);
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        return sluice_token_is_cancelled(tok) ? SLUICE_TASK_CANCELLED : 0;
    }
    struct waker w;
    waker_add(tok, &w, &m, &c);
    pthread_mutex_lock(&m);
    while (!sluice_token_is_cancelled(tok) && now_ns() < deadline_ns)
        cond_wait_until(&c, &m, deadline_ns);
    int rc = sluice_token_is_cancelled(tok) ? SLUICE_TASK_CANCELLED : 0;
    pthread_mutex_unlock(&m);
    waker_remove(tok, &w);
    pthread_cond_destroy(&c);
    pthread_mutex_destroy(&m);
    return rc;
}

int sluice_sleep(int64_t ms, sluice_token *token)
{
    return sleep_until_ns(deadline_after(ms), token);
}

int sluice_sleep_until(int64_t deadline_ms, sluice_token *token)
{
    return sleep_until_ns(ms_to_ns(deadline_ms < 0 ? 0 : deadline_ms), token);
}

/* ---- mutex --------------------------------------------------------------- */

struct sluice_mutex {
    pthread_mutex_t m;
    pthread_cond_t c;
    int locked;      /* under m */
    pthread_t owner; /* under m, meaningful when locked */
};

sluice_mutex *sluice_mutex_new(sluice_error *err)
{
    sluice_mutex *mx = calloc(1, sizeof *mx);
    if (!mx) {
        sluice_error_set(err, "sluice_mutex_new: out of memory");
        return NULL;
    }
    int rc = pthread_mutex_init(&mx->m, NULL);
    if (rc == 0 && (rc = cond_init_monotonic(&mx->c)) != 0)
        pthread_mutex_destroy(&mx->m);
    if (rc) {
        free(mx);
        sluice_error_set(err, "sluice_mutex_new: %s", strerror(rc));
        return NULL;
    }
    return mx;
}

void sluice_mutex_free(sluice_mutex *mx)
{
    if (!mx)
        return;
    pthread_cond_destroy(&mx->c);
    pthread_mutex_destroy(&mx->m);
    free(mx);
}

static int mutex_lock_ns(sluice_mutex *mx, int64_t deadline_ns,
                         sluice_token *tok, sluice_error *err)
{
    if (!mx)
        return sluice_error_set(err, "sluice_mutex_lock: NULL mutex");
    struct waker w;
    if (tok)
        waker_add(tok, &w, &mx->m, &mx->c);
    pthread_mutex_lock(&mx->m);
    int rc;
    if (mx->locked && pthread_equal(mx->owner, pthread_self())) {
        rc = sluice_error_set(err, "sluice_mutex_lock: the calling thread "
                                   "already holds this mutex");
    } else {
        for (;;) {
            if (sluice_token_is_cancelled(tok)) {
                rc = SLUICE_TASK_CANCELLED;
                break;
            }
            if (!mx->locked) {
                mx->locked = 1;
                mx->owner = pthread_self();
                rc = 0;
                break;
            }
            if (deadline_ns >= 0 && now_ns() >= deadline_ns) {
                rc = SLUICE_TASK_TIMEDOUT;
                break;
            }
            cond_wait_until(&mx->c, &mx->m, deadline_ns);
        }
    }
    pthread_mutex_unlock(&mx->m);
    if (tok)
        waker_remove(tok, &w);
    return rc;
}

int sluice_mutex_lock(sluice_mutex *m, sluice_token *token, sluice_error *err)
{
    return mutex_lock_ns(m, -1, token, err);
}

int sluice_mutex_lock_for(sluice_mutex *m, int64_t timeout_ms,
                          sluice_token *token, sluice_error *err)
{
    if (timeout_ms < 0)
        return sluice_error_set(err, "sluice_mutex_lock_for: negative "
                                     "timeout %lld ms",
                                (long long)timeout_ms);
    return mutex_lock_ns(m, deadline_after(timeout_ms), token, err);
}

int sluice_mutex_lock_until(sluice_mutex *m, int64_t deadline_ms,
                            sluice_token *token, sluice_error *err)
{
    return mutex_lock_ns(m, ms_to_ns(deadline_ms < 0 ? 0 : deadline_ms),
                         token, err);
}

int sluice_mutex_unlock(sluice_mutex *mx, sluice_error *err)
{
    if (!mx)
        return sluice_error_set(err, "sluice_mutex_unlock: NULL mutex");
    int rc = 0;
    pthread_mutex_lock(&mx->m);
    if (!mx->locked || !pthread_equal(mx->owner, pthread_self())) {
        rc = sluice_error_set(err, "sluice_mutex_unlock: the calling thread "
                                   "does not hold this mutex");
    } else {
        mx->locked = 0;
        /* Broadcast: a waiter woken alone might leave cancelled and let
         * the wake-up go to waste. */
        pthread_cond_broadcast(&mx->c);
    }
    pthread_mutex_unlock(&mx->m);
    return rc;
}

/* ---- semaphore scheduler ------------------------------------------------- */

struct sched {
    pthread_mutex_t m;
    pthread_cond_t c;
    int avail; /* under m */
    atomic_int refs;
};

static struct sched *sched_new(int permits)
{
    struct sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (pthread_mutex_init(&s->m, NULL) != 0) {
        free(s);
        return NULL;
    }
    if (pthread_cond_init(&s->c, NULL) != 0) {
        pthread_mutex_destroy(&s->m);
        free(s);
        return NULL;
    }
    s->avail = permits;
    atomic_init(&s->refs, 1);
    return s;
}

static struct sched *sched_ref(struct sched *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

static void sched_unref(struct sched *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        pthread_cond_destroy(&s->c);
        pthread_mutex_destroy(&s->m);
        free(s);
    }
}

/* 0 with a permit, or SLUICE_TASK_CANCELLED without. */
static int sched_acquire(struct sched *s, sluice_token *tok)
{
    if (!s)
        return sluice_token_is_cancelled(tok) ? SLUICE_TASK_CANCELLED : 0;
    struct waker w;
    waker_add(tok, &w, &s->m, &s->c);
    pthread_mutex_lock(&s->m);
    while (!sluice_token_is_cancelled(tok) && s->avail == 0)
        pthread_cond_wait(&s->c, &s->m);
    int rc = SLUICE_TASK_CANCELLED;
    if (!sluice_token_is_cancelled(tok)) {
        s->avail--;
        rc = 0;
    }
    pthread_mutex_unlock(&s->m);
    waker_remove(tok, &w);
    return rc;
}

static void sched_release(struct sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->m);
    s->avail++;
    pthread_cond_broadcast(&s->c);
    pthread_mutex_unlock(&s->m);
}

/* ---- trackers ------------------------------------------------------------ */

struct task {
    struct task *prev, *next; /* in the tracker's live or done list */
    sluice_tracker *t;
    sluice_task_fn fn;
    void *arg;
    int loop;
    int64_t interval_ms;
    uint64_t id;
    pthread_t thread;
    int detached;        /* under t->lock: nobody will join the thread */
    unsigned restarts;   /* this task's restarts so far */
    unsigned attempt;    /* consecutive failures, for the backoff */
    int64_t *restart_ms; /* ring of the last max_restarts restart times */
    int ring_next;
    uint64_t rng;
};

struct sluice_tracker {
    /* set at creation, read-only afterwards */
    char name[64];
    sluice_token *token;
    struct sched *sched; /* NULL: unlimited */
    sluice_tracker_policy policy;
    int max_failures;
    int64_t backoff_min_ms, backoff_max_ms;
    int max_restarts;
    int64_t period_ms;
    sluice_tracker_event_fn on_event;
    void *event_user;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* pending went down */
    /* under lock */
    int closed, owner_freed, destroying;
    unsigned holds;     /* joins of a parent currently using this child */
    uint64_t pending;   /* tasks whose final bookkeeping is not done */
    uint64_t failures;  /* failed runs, for CANCEL_AFTER */
    uint64_t next_id;
    sluice_tracker_metrics m;
    sluice_error last_error;
    int has_error;
    struct task *live, *done;

    /* under g_trees */
    sluice_tracker *parent, *first_child, *prev, *next;
};

static pthread_mutex_t g_trees = PTHREAD_MUTEX_INITIALIZER;

/* fork(): the child must find the two global locks free (a thread of the
 * parent may hold one at the fork), in the documented order. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&g_trees);
    pthread_mutex_lock(&g_tokens);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&g_tokens);
    pthread_mutex_unlock(&g_trees);
}

/* The forking thread holds both across the fork: the child unlocks them
 * (as clock.c does: initialising a locked mutex is undefined). */
static void fork_child(void)
{
    pthread_mutex_unlock(&g_tokens);
    pthread_mutex_unlock(&g_trees);
}

static void fork_register(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void fork_handlers(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fork_register);
}

static void list_push(struct task **head, struct task *k)
{
    k->prev = NULL;
    k->next = *head;
    if (*head)
        (*head)->prev = k;
    *head = k;
}

static void list_remove(struct task **head, struct task *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        *head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
}

static void task_free(struct task *k)
{
    free(k->restart_ms);
    free(k);
}

/* Join the threads of a detached-from-the-tracker done list, free them. */
static void reap(struct task *done)
{
    while (done) {
        struct task *next = done->next;
        if (!done->detached)
            pthread_join(done->thread, NULL);
        task_free(done);
        done = next;
    }
}

static const char *policy_name(sluice_tracker_policy p)
{
    switch (p) {
    case SLUICE_TRACKER_INHERIT: return "inherit";
    case SLUICE_TRACKER_LOG_ONLY: return "log-only";
    case SLUICE_TRACKER_CANCEL_ON_ERROR: return "cancel-on-error";
    case SLUICE_TRACKER_CANCEL_AFTER: return "cancel-after";
    case SLUICE_TRACKER_RESTART: return "restart";
    }
    return "?";
}

#define MAX_RESTARTS_LIMIT 100000

sluice_tracker *sluice_tracker_new(sluice_tracker *parent,
                                   const sluice_tracker_options *opts,
                                   sluice_error *err)
{
    sluice_tracker_options zero;
    if (!opts) {
        memset(&zero, 0, sizeof zero);
        opts = &zero;
    }
    const char *name = opts->name ? opts->name : "tracker";
    sluice_tracker *t = calloc(1, sizeof *t);
    if (!t) {
        sluice_error_set(err, "tracker '%s': out of memory", name);
        return NULL;
    }
    snprintf(t->name, sizeof t->name, "%s", name);

    /* policy */
    if ((int)opts->policy < (int)SLUICE_TRACKER_INHERIT ||
        (int)opts->policy > (int)SLUICE_TRACKER_RESTART) {
        sluice_error_set(err, "tracker '%s': unknown policy %d", t->name,
                         (int)opts->policy);
        goto fail;
    }
    if (opts->policy == SLUICE_TRACKER_INHERIT) {
        if (parent) {
            t->policy = parent->policy;
            t->max_failures = parent->max_failures;
            t->backoff_min_ms = parent->backoff_min_ms;
            t->backoff_max_ms = parent->backoff_max_ms;
            t->max_restarts = parent->max_restarts;
            t->period_ms = parent->period_ms;
        } else {
            t->policy = SLUICE_TRACKER_LOG_ONLY;
        }
    } else {
        t->policy = opts->policy;
        t->max_failures = opts->max_failures;
        t->backoff_min_ms = opts->backoff_min_ms;
        t->backoff_max_ms = opts->backoff_max_ms;
        t->max_restarts = opts->max_restarts;
        t->period_ms = opts->period_ms;
        if (t->policy == SLUICE_TRACKER_CANCEL_AFTER && t->max_failures < 1) {
            sluice_error_set(err, "tracker '%s': policy %s needs "
                                  "max_failures >= 1 (got %d)",
                             t->name, policy_name(t->policy),
                             t->max_failures);
            goto fail;
        }
        if (t->policy == SLUICE_TRACKER_RESTART) {
            if (t->backoff_min_ms < 0 ||
                t->backoff_max_ms < t->backoff_min_ms ||
                t->backoff_max_ms > MAX_MS) {
                sluice_error_set(err, "tracker '%s': policy restart needs "
                                      "0 <= backoff_min_ms <= backoff_max_ms "
                                      "(got %lld and %lld)",
                                 t->name, (long long)t->backoff_min_ms,
                                 (long long)t->backoff_max_ms);
                goto fail;
            }
            if (t->max_restarts < 0 || t->max_restarts > MAX_RESTARTS_LIMIT ||
                t->period_ms <= 0) {
                sluice_error_set(err, "tracker '%s': policy restart needs "
                                      "0 <= max_restarts <= %d and "
                                      "period_ms > 0 (got %d and %lld)",
                                 t->name, MAX_RESTARTS_LIMIT, t->max_restarts,
                                 (long long)t->period_ms);
                goto fail;
            }
        }
    }

    /* scheduler */
    if (opts->max_running == 0)
        t->sched = parent ? sched_ref(parent->sched) : NULL;
    else if (opts->max_running > 0 &&
             !(t->sched = sched_new(opts->max_running))) {
        sluice_error_set(err, "tracker '%s': out of memory", t->name);
        goto fail;
    }

    if (opts->on_event) {
        t->on_event = opts->on_event;
        t->event_user = opts->event_user;
    } else if (parent) {
        t->on_event = parent->on_event;
        t->event_user = parent->event_user;
    }

    int rc = pthread_mutex_init(&t->lock, NULL);
    if (rc) {
        sluice_error_set(err, "tracker '%s': %s", t->name, strerror(rc));
        goto fail;
    }
    if ((rc = cond_init_monotonic(&t->cond)) != 0) {
        pthread_mutex_destroy(&t->lock);
        sluice_error_set(err, "tracker '%s': %s", t->name, strerror(rc));
        goto fail;
    }

    pthread_mutex_lock(&g_trees);
    t->token = sluice_token_new(parent ? parent->token : NULL);
    if (!t->token) {
        pthread_mutex_unlock(&g_trees);
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        sluice_error_set(err, "tracker '%s': out of memory", t->name);
        goto fail;
    }
    if (parent) {
        pthread_mutex_lock(&parent->lock);
        t->closed = parent->closed;
        pthread_mutex_unlock(&parent->lock);
        t->parent = parent;
        t->next = parent->first_child;
        if (parent->first_child)
            parent->first_child->prev = t;
        parent->first_child = t;
    }
    pthread_mutex_unlock(&g_trees);
    return t;

fail:
    sched_unref(t->sched);
    free(t);
    return NULL;
}

sluice_token *sluice_tracker_token(sluice_tracker *t)
{
    return t ? t->token : NULL;
}

const char *sluice_tracker_name(const sluice_tracker *t)
{
    return t ? t->name : "";
}

void sluice_tracker_cancel(sluice_tracker *t)
{
    if (t)
        sluice_token_cancel(t->token);
}

void sluice_tracker_get_metrics(sluice_tracker *t, sluice_tracker_metrics *out)
{
    if (!out)
        return;
    if (!t) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&t->lock);
    *out = t->m;
    pthread_mutex_unlock(&t->lock);
}

int sluice_tracker_last_error(sluice_tracker *t, sluice_error *out)
{
    if (!t)
        return 0;
    pthread_mutex_lock(&t->lock);
    int has = t->has_error;
    if (has && out)
        *out = t->last_error;
    pthread_mutex_unlock(&t->lock);
    return has;
}

/* Free t for good: nobody uses it any more (decided under its lock). */
static void tracker_destroy(sluice_tracker *t)
{
    pthread_mutex_lock(&g_trees);
    if (t->parent) {
        if (t->prev)
            t->prev->next = t->next;
        else
            t->parent->first_child = t->next;
        if (t->next)
            t->next->prev = t->prev;
    }
    while (t->first_child) {
        sluice_tracker *c = t->first_child;
        t->first_child = c->next;
        c->parent = c->prev = c->next = NULL;
    }
    pthread_mutex_unlock(&g_trees);
    reap(t->done);
    sluice_token_free(t->token);
    sched_unref(t->sched);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Under t->lock: may t be destroyed now? Then it is marked destroying. */
static bool destroy_due_locked(sluice_tracker *t)
{
    if (t->owner_freed && t->pending == 0 && t->holds == 0 &&
        !t->destroying) {
        t->destroying = 1;
        return true;
    }
    return false;
}

static void emit(struct task *k, sluice_tracker_event_kind kind,
                 const char *error, int64_t delay_ms, int final)
{
    sluice_tracker *t = k->t;
    if (!t->on_event)
        return;
    sluice_tracker_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.tracker = t;
    ev.tracker_name = t->name;
    ev.arg = k->arg;
    ev.task_id = k->id;
    ev.error = error;
    ev.delay_ms = delay_ms;
    ev.restarts = k->restarts;
    ev.final = final;
    t->on_event(&ev, t->event_user);
}

/* The task's last bookkeeping, after its final event. k may be gone after. */
static void task_done(struct task *k)
{
    sluice_tracker *t = k->t;
    pthread_mutex_lock(&t->lock);
    list_remove(&t->live, k);
    bool self_free = k->detached;
    if (!self_free)
        list_push(&t->done, k);
    t->pending--;
    pthread_cond_broadcast(&t->cond);
    bool dead = destroy_due_locked(t);
    pthread_mutex_unlock(&t->lock);
    if (dead)
        tracker_destroy(t);
    if (self_free)
        task_free(k);
}

/* A task cancelled while queued or in a backoff: move it from *state
 * (queued or active) to cancelled, send its final event, and finish. */
static void task_cancelled(struct task *k, uint64_t *state)
{
    sluice_tracker *t = k->t;
    pthread_mutex_lock(&t->lock);
    (*state)--;
    t->m.cancelled++;
    pthread_mutex_unlock(&t->lock);
    emit(k, SLUICE_TRACKER_EV_CANCELLED, NULL, 0, 1);
    task_done(k);
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(2685821657736338717);
}

/* Exponential backoff with jitter: base = min * 2^attempt capped at max,
 * the delay is drawn from [base/2, base] and never below min. */
static int64_t backoff_delay(struct task *k)
{
    sluice_tracker *t = k->t;
    int64_t base = t->backoff_min_ms;
    for (unsigned i = 0; i < k->attempt && base < t->backoff_max_ms; i++)
        base = base > t->backoff_max_ms / 2 ? t->backoff_max_ms : base * 2;
    if (base > t->backoff_max_ms)
        base = t->backoff_max_ms;
    if (base <= 0)
        return 0;
    int64_t half = base / 2;
    int64_t d = half + (int64_t)(rng_next(&k->rng) % (uint64_t)(base - half + 1));
    return d < t->backoff_min_ms ? t->backoff_min_ms : d;
}

/* Under t->lock: may k restart now (intensity)? Records the restart. */
static bool restart_allowed_locked(struct task *k, int64_t now_ms)
{
    sluice_tracker *t = k->t;
    int n = t->max_restarts;
    if (n <= 0)
        return false;
    int recent = 0;
    for (int i = 0; i < n; i++)
        if (k->restart_ms[i] != INT64_MIN && k->restart_ms[i] > now_ms - t->period_ms)
            recent++;
    if (recent >= n)
        return false;
    k->restart_ms[k->ring_next] = now_ms;
    k->ring_next = (k->ring_next + 1) % n;
    return true;
}

static int run_once(struct task *k, sluice_error *err)
{
    sluice_token *tok = k->t->token;
    if (!k->loop)
        return k->fn(k->arg, tok, err);
    for (;;) {
        if (sluice_token_is_cancelled(tok))
            return SLUICE_TASK_CANCELLED;
        int rc = k->fn(k->arg, tok, err);
        if (rc)
            return rc;
        if (k->interval_ms > 0 &&
            sluice_sleep(k->interval_ms, tok) == SLUICE_TASK_CANCELLED)
            return SLUICE_TASK_CANCELLED;
    }
}

enum outcome { OUT_SUCCEEDED, OUT_CANCELLED, OUT_FAILED, OUT_GAVE_UP,
               OUT_RESTART };

static void *task_main(void *p)
{
    struct task *k = p;
    sluice_tracker *t = k->t;
    for (;;) {
        /* queued */
        if (sched_acquire(t->sched, t->token) != 0) {
            task_cancelled(k, &t->m.queued);
            return NULL;
        }
        pthread_mutex_lock(&t->lock);
        t->m.queued--;
        t->m.active++;
        pthread_mutex_unlock(&t->lock);

        emit(k, SLUICE_TRACKER_EV_STARTED, NULL, 0, 0);
        sluice_error err;
        err.message[0] = '\0';
        int64_t started = sluice_sleep_now_ms();
        int rc = run_once(k, &err);
        int64_t ended = sluice_sleep_now_ms();
        sched_release(t->sched);

        enum outcome out;
        bool cancel = false;
        if (rc == 0 && !k->loop) {
            out = OUT_SUCCEEDED;
        } else if (rc == SLUICE_TASK_CANCELLED) {
            out = OUT_CANCELLED;
        } else {
            if (!err.message[0])
                sluice_error_set(&err, "task failed (returned %d)", rc);
            if (t->backoff_max_ms > 0 && ended - started >= t->backoff_max_ms)
                k->attempt = 0; /* it ran well for a while: start over */
            out = OUT_FAILED;
        }

        pthread_mutex_lock(&t->lock);
        switch (out) {
        case OUT_SUCCEEDED:
            t->m.active--;
            t->m.succeeded++;
            break;
        case OUT_CANCELLED:
            t->m.active--;
            t->m.cancelled++;
            break;
        default:
            t->failures++;
            t->last_error = err;
            t->has_error = 1;
            if (t->policy == SLUICE_TRACKER_CANCEL_ON_ERROR)
                cancel = true;
            else if (t->policy == SLUICE_TRACKER_CANCEL_AFTER &&
                     t->failures >= (uint64_t)t->max_failures)
                cancel = true;
            else if (t->policy == SLUICE_TRACKER_RESTART &&
                     !sluice_token_is_cancelled(t->token))
                out = restart_allowed_locked(k, ended) ? OUT_RESTART
                                                       : OUT_GAVE_UP;
            if (out == OUT_RESTART) {
                t->m.restarts++;
                k->restarts++;
            } else {
                t->m.active--;
                t->m.failed++;
                if (out == OUT_GAVE_UP)
                    t->m.given_up++;
            }
            break;
        }
        pthread_mutex_unlock(&t->lock);
        if (cancel)
            sluice_token_cancel(t->token);

        switch (out) {
        case OUT_SUCCEEDED:
            emit(k, SLUICE_TRACKER_EV_FINISHED, NULL, 0, 1);
            task_done(k);
            return NULL;
        case OUT_CANCELLED:
            emit(k, SLUICE_TRACKER_EV_CANCELLED, NULL, 0, 1);
            task_done(k);
            return NULL;
        case OUT_FAILED:
            emit(k, SLUICE_TRACKER_EV_FAILED, err.message, 0, 1);
            task_done(k);
            return NULL;
        case OUT_GAVE_UP:
            emit(k, SLUICE_TRACKER_EV_FAILED, err.message, 0, 0);
            emit(k, SLUICE_TRACKER_EV_GAVE_UP, err.message, 0, 1);
            task_done(k);
            return NULL;
        case OUT_RESTART:
            break;
        }

        /* restart after a cancellable backoff, without holding a permit */
        emit(k, SLUICE_TRACKER_EV_FAILED, err.message, 0, 0);
        int64_t delay = backoff_delay(k);
        if (k->attempt < 64)
            k->attempt++;
        emit(k, SLUICE_TRACKER_EV_RESTARTING, NULL, delay, 0);
        if (sluice_sleep(delay, t->token) == SLUICE_TASK_CANCELLED) {
            task_cancelled(k, &t->m.active);
            return NULL;
        }
        pthread_mutex_lock(&t->lock);
        t->m.active--;
        t->m.queued++;
        pthread_mutex_unlock(&t->lock);
    }
}

static int spawn(sluice_tracker *t, sluice_task_fn fn, void *arg, int loop,
                 int64_t interval_ms, sluice_error *err)
{
    const char *what = loop ? "sluice_tracker_loop" : "sluice_tracker_spawn";
    if (!t)
        return sluice_error_set(err, "%s: NULL tracker", what);
    const char *bad = NULL;
    if (!fn)
        bad = "NULL task function";
    else if (interval_ms < 0)
        bad = "negative interval";
    struct task *k = NULL;
    if (!bad) {
        k = calloc(1, sizeof *k);
        if (k && t->policy == SLUICE_TRACKER_RESTART && t->max_restarts > 0) {
            k->restart_ms = malloc(sizeof *k->restart_ms *
                                   (size_t)t->max_restarts);
            if (!k->restart_ms) {
                free(k);
                k = NULL;
            } else {
                for (int i = 0; i < t->max_restarts; i++)
                    k->restart_ms[i] = INT64_MIN;
            }
        }
        if (!k)
            bad = "out of memory";
    }
    pthread_mutex_lock(&t->lock);
    if (!bad && t->closed)
        bad = "the tracker is closed";
    if (bad) {
        t->m.rejected++;
        pthread_mutex_unlock(&t->lock);
        if (k)
            task_free(k);
        return sluice_error_set(err, "%s: tracker '%s': %s: task refused",
                                what, t->name, bad);
    }
    /* take the finished tasks to join them below */
    struct task *done = t->done;
    t->done = NULL;
    k->t = t;
    k->fn = fn;
    k->arg = arg;
    k->loop = loop;
    k->interval_ms = interval_ms;
    k->id = ++t->next_id;
    k->rng = (uint64_t)now_ns() ^ (k->id * UINT64_C(0x9E3779B97F4A7C15)) ^
             (uint64_t)(uintptr_t)k;
    if (!k->rng)
        k->rng = 1;
    list_push(&t->live, k);
    t->m.issued++;
    t->m.queued++;
    t->pending++;
    int rc = pthread_create(&k->thread, NULL, task_main, k);
    if (rc) {
        list_remove(&t->live, k);
        t->m.issued--;
        t->m.queued--;
        t->pending--;
        t->m.rejected++;
    }
    pthread_mutex_unlock(&t->lock);
    reap(done);
    if (rc) {
        task_free(k);
        return sluice_error_set(err, "%s: tracker '%s': cannot start a "
                                     "thread: %s: task refused",
                                what, t->name, strerror(rc));
    }
    return 0;
}

int sluice_tracker_spawn(sluice_tracker *t, sluice_task_fn fn, void *arg,
                         sluice_error *err)
{
    return spawn(t, fn, arg, 0, 0, err);
}

int sluice_tracker_loop(sluice_tracker *t, sluice_task_fn fn, void *arg,
                        int64_t interval_ms, sluice_error *err)
{
    return spawn(t, fn, arg, 1, interval_ms, err);
}

void sluice_tracker_close(sluice_tracker *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&g_trees);
    sluice_tracker *n = t;
    for (;;) {
        pthread_mutex_lock(&n->lock);
        n->closed = 1;
        pthread_mutex_unlock(&n->lock);
        if (n->first_child) {
            n = n->first_child;
            continue;
        }
        while (n != t && !n->next)
            n = n->parent;
        if (n == t)
            break;
        n = n->next;
    }
    pthread_mutex_unlock(&g_trees);
}

static void release_hold(sluice_tracker *c)
{
    pthread_mutex_lock(&c->lock);
    c->holds--;
    bool dead = destroy_due_locked(c);
    pthread_mutex_unlock(&c->lock);
    if (dead)
        tracker_destroy(c);
}

/* Wait for t's own tasks until deadline_ns (negative: none), then join
 * their threads. */
static int join_own_tasks(sluice_tracker *t, int64_t deadline_ns,
                          sluice_error *err)
{
    pthread_mutex_lock(&t->lock);
    while (t->pending > 0) {
        if (deadline_ns >= 0 && now_ns() >= deadline_ns)
            break;
        cond_wait_until(&t->cond, &t->lock, deadline_ns);
    }
    uint64_t left = t->pending;
    struct task *done = t->done;
    t->done = NULL;
    pthread_mutex_unlock(&t->lock);
    reap(done);
    if (left) {
        sluice_error_set(err, "tracker '%s': %llu task(s) still running at "
                              "the join deadline",
                         t->name, (unsigned long long)left);
        return SLUICE_TASK_TIMEDOUT;
    }
    return 0;
}

/* A join walks the tree depth first with its path on a stack in the heap,
 * not on the C stack, so a tree of any depth joins on a small thread
 * stack. Each frame is one tracker being joined: the children it held when
 * it was entered are kids[first, end), and kids[next] is the one being
 * joined now (its frame is the next one up). The regions nest like the
 * frames: the top frame's is the top of kids, and popping a frame drops
 * its region. Small trees fit in the inline arrays, and joining a tracker
 * without children allocates nothing. */
#define JOIN_INLINE_FRAMES 8
#define JOIN_INLINE_KIDS 16

struct join_frame {
    sluice_tracker *tracker;
    size_t first, next, end;
};

struct join_walk {
    struct join_frame *frames;
    size_t depth, frames_cap;
    sluice_tracker **kids;
    size_t kids_len, kids_cap;
    struct join_frame inline_frames[JOIN_INLINE_FRAMES];
    sluice_tracker *inline_kids[JOIN_INLINE_KIDS];
};

static void join_walk_init(struct join_walk *w)
{
    w->frames = w->inline_frames;
    w->depth = 0;
    w->frames_cap = JOIN_INLINE_FRAMES;
    w->kids = w->inline_kids;
    w->kids_len = 0;
    w->kids_cap = JOIN_INLINE_KIDS;
}

static void join_walk_fini(struct join_walk *w)
{
    if (w->frames != w->inline_frames)
        free(w->frames);
    if (w->kids != w->inline_kids)
        free(w->kids);
}

/* Make room for need elements of size each in *array (capacity *cap,
 * initially the inline buffer inline_buf): doubles it, moving off the
 * inline buffer on the first growth. false when out of memory (the array
 * is unchanged). */
static bool grow_array(void **array, size_t *cap, size_t need, size_t size,
                       void *inline_buf)
{
    if (need <= *cap)
        return true;
    size_t cap_new = *cap;
    while (cap_new < need) {
        if (cap_new > SIZE_MAX / 2 / size)
            return false;
        cap_new *= 2;
    }
    void *grown;
    if (*array == inline_buf) {
        grown = malloc(cap_new * size);
        if (grown)
            memcpy(grown, *array, *cap * size);
    } else {
        grown = realloc(*array, cap_new * size);
    }
    if (!grown)
        return false;
    *array = grown;
    *cap = cap_new;
    return true;
}

/* Push a frame for t: hold the children that exist now (later ones start
 * closed, empty) at the top of kids. On error nothing is held or pushed. */
static int join_enter(struct join_walk *walk, sluice_tracker *t,
                      sluice_error *err)
{
    void *frames = walk->frames;
    if (!grow_array(&frames, &walk->frames_cap, walk->depth + 1,
                    sizeof *walk->frames, walk->inline_frames))
        return sluice_error_set(err, "sluice_tracker_join: tracker '%s': "
                                     "out of memory", t->name);
    walk->frames = frames;

    pthread_mutex_lock(&g_trees);
    size_t count = 0;
    for (sluice_tracker *c = t->first_child; c; c = c->next)
        count++;
    void *kids = walk->kids;
    if (!grow_array(&kids, &walk->kids_cap, walk->kids_len + count,
                    sizeof *walk->kids, walk->inline_kids)) {
        pthread_mutex_unlock(&g_trees);
        return sluice_error_set(err, "sluice_tracker_join: tracker '%s': "
                                     "out of memory", t->name);
    }
    walk->kids = kids;
    struct join_frame *frame = &walk->frames[walk->depth++];
    frame->tracker = t;
    frame->first = frame->next = walk->kids_len;
    for (sluice_tracker *c = t->first_child; c; c = c->next) {
        pthread_mutex_lock(&c->lock);
        if (!c->destroying) {
            c->holds++;
            walk->kids[walk->kids_len++] = c;
        }
        pthread_mutex_unlock(&c->lock);
    }
    frame->end = walk->kids_len;
    pthread_mutex_unlock(&g_trees);
    return 0;
}

/* Wait for t's children (each the same way), then t's own tasks, until
 * deadline_ns (negative: none). t is closed already. The first error or
 * timeout ends the walk: the children not joined yet are released
 * unjoined, and no tracker above waits for its own tasks. */
static int join_until(sluice_tracker *t, int64_t deadline_ns,
                      sluice_error *err)
{
    struct join_walk walk;
    join_walk_init(&walk);
    int rc = join_enter(&walk, t, err);
    while (walk.depth > 0) {
        struct join_frame *frame = &walk.frames[walk.depth - 1];
        if (rc == 0 && frame->next < frame->end) {
            /* descend; if that fails, this frame ends next time round */
            rc = join_enter(&walk, walk.kids[frame->next], err);
            continue;
        }
        /* after an error or a timeout: the children left, unjoined */
        for (size_t i = frame->next; i < frame->end; i++)
            release_hold(walk.kids[i]);
        if (rc == 0)
            rc = join_own_tasks(frame->tracker, deadline_ns, err);
        walk.kids_len = frame->first;
        walk.depth--;
        if (walk.depth > 0) {
            /* frame->tracker was the parent's kids[next]: joined, let it go */
            struct join_frame *parent = &walk.frames[walk.depth - 1];
            release_hold(walk.kids[parent->next]);
            parent->next++;
        }
    }
    join_walk_fini(&walk);
    return rc;
}

int sluice_tracker_join(sluice_tracker *t, sluice_error *err)
{
    if (!t)
        return sluice_error_set(err, "sluice_tracker_join: NULL tracker");
    sluice_tracker_close(t);
    return join_until(t, -1, err);
}

int sluice_tracker_join_timeout(sluice_tracker *t, int64_t timeout_ms,
                                sluice_error *err)
{
    if (!t)
        return sluice_error_set(err, "sluice_tracker_join_timeout: NULL "
                                     "tracker");
    if (timeout_ms < 0)
        return sluice_error_set(err, "sluice_tracker_join_timeout: tracker "
                                     "'%s': negative timeout %lld ms",
                                t->name, (long long)timeout_ms);
    int64_t deadline = deadline_after(timeout_ms);
    sluice_tracker_close(t);
    return join_until(t, deadline, err);
}

void sluice_tracker_free(sluice_tracker *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->closed = 1;
    bool running = t->pending > 0;
    pthread_mutex_unlock(&t->lock);
    if (running)
        sluice_token_cancel(t->token); /* t cannot go away: not freed yet */
    pthread_mutex_lock(&t->lock);
    /* Abandon the tasks still running: nobody will join their threads;
     * the last one to finish destroys t. */
    for (struct task *k = t->live; k; k = k->next) {
        pthread_detach(k->thread);
        k->detached = 1;
    }
    t->owner_freed = 1;
    bool dead = destroy_due_locked(t);
    pthread_mutex_unlock(&t->lock);
    if (dead)
        tracker_destroy(t);
}
