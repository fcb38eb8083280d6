/*
 * test_task.c -- the task layer (include/sluice/task.h): tokens, sleeps,
 * the mutex, trackers (scheduler, policies, restart/intensity, children,
 * metrics, join, rejection) and their events, and walks of deep and wide
 * trees on a small stack.
 *
 * Waits are bounded by generous limits (seconds) only to fail instead of
 * hanging; nothing asserts how fast anything is.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/task.h>

#define LONG_MS 10000  /* a wait that a cancel must cut short */
#define LIMIT_MS 5000  /* ... and the generous bound it must return within */

/* ---- helpers ------------------------------------------------------------ */

/* Poll pred(arg) every ms until true or LIMIT_MS passed. */
static int wait_for(int (*pred)(void *), void *arg)
{
    int64_t end = sluice_sleep_now_ms() + LIMIT_MS;
    while (!pred(arg)) {
        if (sluice_sleep_now_ms() > end)
            return 0;
        sluice_sleep(1, NULL);
    }
    return 1;
}

#define MAX_EVENTS 256
typedef struct {
    sluice_tracker_event_kind kind;
    sluice_tracker *tracker;
    void *arg;
    uint64_t task_id;
    char error[128];
    int64_t delay_ms;
    unsigned restarts;
    int final;
} rec_event;

typedef struct {
    pthread_mutex_t m;
    rec_event ev[MAX_EVENTS];
    int n;
} event_log;

static void log_init(event_log *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->m, NULL);
}

static void on_event(const sluice_tracker_event *ev, void *user)
{
    event_log *l = user;
    pthread_mutex_lock(&l->m);
    if (l->n < MAX_EVENTS) {
        rec_event *r = &l->ev[l->n++];
        r->kind = ev->kind;
        r->tracker = ev->tracker;
        r->arg = ev->arg;
        r->task_id = ev->task_id;
        snprintf(r->error, sizeof r->error, "%s", ev->error ? ev->error : "");
        r->delay_ms = ev->delay_ms;
        r->restarts = ev->restarts;
        r->final = ev->final;
    }
    pthread_mutex_unlock(&l->m);
}

static int count_kind(event_log *l, sluice_tracker_event_kind kind)
{
    int c = 0;
    pthread_mutex_lock(&l->m);
    for (int i = 0; i < l->n; i++)
        c += l->ev[i].kind == kind;
    pthread_mutex_unlock(&l->m);
    return c;
}

static void check_sum(const sluice_tracker_metrics *m)
{
    cr_assert_eq(m->issued, m->active + m->queued + m->succeeded + m->failed +
                                m->cancelled,
                 "issued %llu != active %llu + queued %llu + succeeded %llu "
                 "+ failed %llu + cancelled %llu",
                 (unsigned long long)m->issued, (unsigned long long)m->active,
                 (unsigned long long)m->queued,
                 (unsigned long long)m->succeeded,
                 (unsigned long long)m->failed,
                 (unsigned long long)m->cancelled);
}

static sluice_tracker *new_tracker(sluice_tracker *parent,
                                   const sluice_tracker_options *o)
{
    sluice_error err = {{0}};
    sluice_tracker *t = sluice_tracker_new(parent, o, &err);
    cr_assert_not_null(t, "sluice_tracker_new: %s", err.message);
    return t;
}

static void join_free(sluice_tracker *t)
{
    sluice_error err = {{0}};
    cr_assert_eq(sluice_tracker_join(t, &err), 0, "join: %s", err.message);
    sluice_tracker_free(t);
}

/* Task bodies. */
static int task_ok(void *arg, sluice_token *c, sluice_error *err)
{
    (void)c;
    (void)err;
    if (arg)
        atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

static int task_fail(void *arg, sluice_token *c, sluice_error *err)
{
    (void)c;
    if (arg)
        atomic_fetch_add((atomic_int *)arg, 1);
    return sluice_error_set(err, "boom");
}

/* Sleeps LONG_MS unless cancelled; counts the calls in arg. */
static int task_block(void *arg, sluice_token *c, sluice_error *err)
{
    (void)err;
    if (arg)
        atomic_fetch_add((atomic_int *)arg, 1);
    return sluice_sleep(LONG_MS, c) == SLUICE_TASK_CANCELLED
               ? SLUICE_TASK_CANCELLED
               : 0;
}

typedef struct {
    sluice_tracker *t;
    uint64_t issued, active, queued, succeeded, failed, cancelled, restarts;
} metric_goal; /* UINT64_MAX: don't care */

#define ANY UINT64_MAX
static int metrics_reached(void *p)
{
    metric_goal *g = p;
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(g->t, &m);
    return (g->issued == ANY || m.issued == g->issued) &&
           (g->active == ANY || m.active == g->active) &&
           (g->queued == ANY || m.queued == g->queued) &&
           (g->succeeded == ANY || m.succeeded == g->succeeded) &&
           (g->failed == ANY || m.failed == g->failed) &&
           (g->cancelled == ANY || m.cancelled == g->cancelled) &&
           (g->restarts == ANY || m.restarts == g->restarts);
}

/* ---- tokens ------------------------------------------------------------- */

Test(token, parent_cancel_reaches_children_not_reverse)
{
    sluice_token *root = sluice_token_new(NULL);
    sluice_token *a = sluice_token_new(root);
    sluice_token *b = sluice_token_new(root);
    sluice_token *a1 = sluice_token_new(a);
    sluice_token *a2 = sluice_token_new(a);
    cr_assert(root && a && b && a1 && a2);

    sluice_token_cancel(a1); /* a leaf: nobody else */
    cr_assert(sluice_token_is_cancelled(a1));
    cr_assert_not(sluice_token_is_cancelled(a));
    cr_assert_not(sluice_token_is_cancelled(a2));
    cr_assert_not(sluice_token_is_cancelled(root));

    sluice_token_cancel(a); /* a's subtree only */
    cr_assert(sluice_token_is_cancelled(a));
    cr_assert(sluice_token_is_cancelled(a2));
    cr_assert_not(sluice_token_is_cancelled(b));
    cr_assert_not(sluice_token_is_cancelled(root));

    sluice_token *late = sluice_token_new(a);
    cr_assert(sluice_token_is_cancelled(late), "child of a cancelled token "
                                               "starts cancelled");
    sluice_token *b1 = sluice_token_new(b);
    cr_assert_not(sluice_token_is_cancelled(b1));
    sluice_token_cancel(root);
    cr_assert(sluice_token_is_cancelled(b) && sluice_token_is_cancelled(b1));
    sluice_token_cancel(root); /* idempotent */

    cr_assert_not(sluice_token_is_cancelled(NULL));
    sluice_token_cancel(NULL);
    sluice_token_free(NULL);
    sluice_token_free(late);
    sluice_token_free(a1);
    sluice_token_free(a2);
    sluice_token_free(a);
    sluice_token_free(b1);
    sluice_token_free(b);
    sluice_token_free(root);
}

Test(token, freeing_a_middle_token_keeps_grandchildren_reachable)
{
    sluice_token *root = sluice_token_new(NULL);
    sluice_token *mid = sluice_token_new(root);
    sluice_token *leaf = sluice_token_new(mid);
    sluice_token_free(mid);
    cr_assert_not(sluice_token_is_cancelled(leaf));
    sluice_token_cancel(root);
    cr_assert(sluice_token_is_cancelled(leaf));
    sluice_token_free(root); /* leaf becomes a root */
    sluice_token_free(leaf);
}

typedef struct {
    sluice_token *root;
    atomic_int go;
} churn_arg;

static void *token_churn(void *p)
{
    churn_arg *a = p;
    while (!atomic_load(&a->go))
        ;
    for (int i = 0; i < 200; i++) {
        sluice_token *c = sluice_token_new(a->root);
        sluice_token *g = sluice_token_new(c);
        if (i % 7 == 0)
            sluice_token_cancel(c);
        (void)sluice_token_is_cancelled(g);
        sluice_token_free(c);
        sluice_token_free(g);
    }
    return NULL;
}

Test(token, concurrent_create_cancel_free)
{
    churn_arg a = {sluice_token_new(NULL), 0};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, token_churn, &a);
    atomic_store(&a.go, 1);
    sluice_token *late = NULL;
    for (int i = 0; i < 50; i++) {
        if (i == 25) {
            sluice_token_cancel(a.root);
            late = sluice_token_new(a.root);
        }
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_assert(sluice_token_is_cancelled(late));
    sluice_token_free(late);
    sluice_token_free(a.root);
}

/* ---- sleep -------------------------------------------------------------- */

typedef struct {
    sluice_token *tok;
    int64_t delay_ms;
} canceller_arg;

static void *canceller(void *p)
{
    canceller_arg *c = p;
    sluice_sleep(c->delay_ms, NULL);
    sluice_token_cancel(c->tok);
    return NULL;
}

Test(sleep, full_sleep_returns_zero)
{
    sluice_token *t = sluice_token_new(NULL);
    int64_t t0 = sluice_sleep_now_ms();
    cr_assert_eq(sluice_sleep(20, t), 0);
    cr_assert_geq(sluice_sleep_now_ms() - t0, 19, "slept the whole time");
    cr_assert_eq(sluice_sleep(20, NULL), 0);
    cr_assert_eq(sluice_sleep(-5, t), 0, "negative is zero");
    cr_assert_eq(sluice_sleep_until(sluice_sleep_now_ms() - 1000, t), 0,
                 "past deadline returns at once");
    cr_assert_eq(sluice_sleep_until(sluice_sleep_now_ms() + 10, t), 0);
    sluice_token_free(t);
}

Test(sleep, cancelled_token_returns_cancelled_at_once)
{
    sluice_token *t = sluice_token_new(NULL);
    sluice_token_cancel(t);
    int64_t t0 = sluice_sleep_now_ms();
    cr_assert_eq(sluice_sleep(LONG_MS, t), SLUICE_TASK_CANCELLED);
    cr_assert_eq(sluice_sleep_until(sluice_sleep_now_ms() + LONG_MS, t),
                 SLUICE_TASK_CANCELLED);
    cr_assert_lt(sluice_sleep_now_ms() - t0, LIMIT_MS);
    sluice_token_free(t);
}

Test(sleep, cancel_from_another_thread_wakes_sleeper)
{
    sluice_token *t = sluice_token_new(NULL);
    canceller_arg c = {t, 50};
    pthread_t th;
    pthread_create(&th, NULL, canceller, &c);
    int64_t t0 = sluice_sleep_now_ms();
    cr_assert_eq(sluice_sleep(LONG_MS, t), SLUICE_TASK_CANCELLED);
    cr_assert_lt(sluice_sleep_now_ms() - t0, LIMIT_MS);
    pthread_join(th, NULL);
    sluice_token_free(t);
}

Test(sleep, parent_cancel_wakes_sleep_until_on_child)
{
    sluice_token *p = sluice_token_new(NULL);
    sluice_token *child = sluice_token_new(p);
    sluice_token *grand = sluice_token_new(child);
    canceller_arg c = {p, 50};
    pthread_t th;
    pthread_create(&th, NULL, canceller, &c);
    int64_t t0 = sluice_sleep_now_ms();
    cr_assert_eq(sluice_sleep_until(t0 + LONG_MS, grand),
                 SLUICE_TASK_CANCELLED);
    cr_assert_lt(sluice_sleep_now_ms() - t0, LIMIT_MS);
    pthread_join(th, NULL);
    sluice_token_free(grand);
    sluice_token_free(child);
    sluice_token_free(p);
}

/* ---- mutex -------------------------------------------------------------- */

typedef struct {
    sluice_mutex *m;
    atomic_int locked;
    atomic_int release;
} holder_arg;

static void *holder(void *p)
{
    holder_arg *h = p;
    sluice_error err;
    int rc = sluice_mutex_lock(h->m, NULL, &err);
    cr_assert_eq(rc, 0);
    atomic_store(&h->locked, 1);
    while (!atomic_load(&h->release))
        sluice_sleep(1, NULL);
    cr_assert_eq(sluice_mutex_unlock(h->m, &err), 0);
    return NULL;
}

static int is_set(void *p) { return atomic_load((atomic_int *)p) != 0; }

Test(mutex, lock_times_out_while_held_then_succeeds)
{
    sluice_error err = {{0}};
    sluice_mutex *m = sluice_mutex_new(&err);
    cr_assert_not_null(m);
    holder_arg h = {m, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, holder, &h);
    cr_assert(wait_for(is_set, &h.locked));

    cr_assert_eq(sluice_mutex_lock_for(m, 30, NULL, &err),
                 SLUICE_TASK_TIMEDOUT);
    cr_assert_eq(sluice_mutex_lock_for(m, 0, NULL, &err),
                 SLUICE_TASK_TIMEDOUT, "0 is a try-lock");
    cr_assert_eq(sluice_mutex_lock_until(m, sluice_sleep_now_ms() + 30, NULL,
                                         &err),
                 SLUICE_TASK_TIMEDOUT);
    cr_assert_eq(sluice_mutex_unlock(m, &err), SLUICE_TASK_ERROR,
                 "unlock by a non-owner is refused");
    cr_assert(strstr(err.message, "does not hold"), "%s", err.message);

    atomic_store(&h.release, 1);
    cr_assert_eq(sluice_mutex_lock_for(m, LIMIT_MS, NULL, &err), 0,
                 "%s", err.message);
    pthread_join(th, NULL);
    cr_assert_eq(sluice_mutex_lock_for(m, 0, NULL, &err), SLUICE_TASK_ERROR,
                 "relock by the owner is refused");
    cr_assert(strstr(err.message, "already holds"), "%s", err.message);
    cr_assert_eq(sluice_mutex_unlock(m, &err), 0);
    cr_assert_eq(sluice_mutex_unlock(m, &err), SLUICE_TASK_ERROR);
    sluice_mutex_free(m);
}

Test(mutex, lock_is_cancelled_by_token)
{
    sluice_error err = {{0}};
    sluice_mutex *m = sluice_mutex_new(&err);
    holder_arg h = {m, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, holder, &h);
    cr_assert(wait_for(is_set, &h.locked));

    sluice_token *parent = sluice_token_new(NULL);
    sluice_token *tok = sluice_token_new(parent);
    canceller_arg c = {parent, 50};
    pthread_t ct;
    pthread_create(&ct, NULL, canceller, &c);
    int64_t t0 = sluice_sleep_now_ms();
    cr_assert_eq(sluice_mutex_lock(m, tok, &err), SLUICE_TASK_CANCELLED);
    cr_assert_lt(sluice_sleep_now_ms() - t0, LIMIT_MS);
    cr_assert_eq(sluice_mutex_lock_for(m, LONG_MS, tok, &err),
                 SLUICE_TASK_CANCELLED, "already cancelled: at once");
    pthread_join(ct, NULL);

    atomic_store(&h.release, 1);
    pthread_join(th, NULL);
    cr_assert_eq(sluice_mutex_lock(m, tok, &err), SLUICE_TASK_CANCELLED,
                 "a cancelled token wins even over a free mutex");
    cr_assert_eq(sluice_mutex_lock(m, NULL, &err), 0);
    cr_assert_eq(sluice_mutex_unlock(m, &err), 0);
    sluice_token_free(tok);
    sluice_token_free(parent);
    sluice_mutex_free(m);
}

typedef struct {
    sluice_mutex *m;
    long counter; /* plain: only touched under m */
} excl_arg;

static void *incrementer(void *p)
{
    excl_arg *a = p;
    for (int i = 0; i < 2000; i++) {
        sluice_error err;
        int rc = sluice_mutex_lock_for(a->m, LONG_MS, NULL, &err);
        if (rc != 0)
            return (void *)1;
        a->counter++;
        if (sluice_mutex_unlock(a->m, &err) != 0)
            return (void *)1;
    }
    return NULL;
}

Test(mutex, excludes)
{
    sluice_error err;
    excl_arg a = {sluice_mutex_new(&err), 0};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, incrementer, &a);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        cr_assert_null(r);
    }
    cr_assert_eq(a.counter, 8000);
    sluice_mutex_free(a.m);
}

Test(mutex, misuse_is_an_error)
{
    sluice_error err = {{0}};
    cr_assert_eq(sluice_mutex_lock(NULL, NULL, &err), SLUICE_TASK_ERROR);
    cr_assert(strstr(err.message, "NULL"));
    sluice_mutex *m = sluice_mutex_new(&err);
    cr_assert_eq(sluice_mutex_lock_for(m, -1, NULL, &err), SLUICE_TASK_ERROR);
    cr_assert(strstr(err.message, "negative"), "%s", err.message);
    cr_assert_eq(sluice_mutex_unlock(NULL, &err), SLUICE_TASK_ERROR);
    sluice_mutex_free(m);
    sluice_mutex_free(NULL);
}

/* ---- scheduler ---------------------------------------------------------- */

typedef struct {
    atomic_int running, max_seen, done;
} conc_arg;

static int task_measure(void *arg, sluice_token *c, sluice_error *err)
{
    (void)err;
    conc_arg *a = arg;
    int now = atomic_fetch_add(&a->running, 1) + 1;
    int seen = atomic_load(&a->max_seen);
    while (now > seen && !atomic_compare_exchange_weak(&a->max_seen, &seen, now))
        ;
    sluice_sleep(15, c);
    atomic_fetch_sub(&a->running, 1);
    atomic_fetch_add(&a->done, 1);
    return 0;
}

Test(scheduler, never_more_than_n_at_once)
{
    sluice_tracker_options o = {0};
    o.max_running = 3;
    sluice_tracker *t = new_tracker(NULL, &o);
    conc_arg a = {0, 0, 0};
    sluice_error err;
    for (int i = 0; i < 12; i++)
        cr_assert_eq(sluice_tracker_spawn(t, task_measure, &a, &err), 0);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    cr_assert_eq(atomic_load(&a.done), 12);
    cr_assert_leq(atomic_load(&a.max_seen), 3);
    cr_assert_geq(atomic_load(&a.max_seen), 1);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.succeeded, 12);
    cr_assert_eq(m.active + m.queued, 0);
    check_sum(&m);
    sluice_tracker_free(t);
}

Test(scheduler, queued_wait_is_cancellable)
{
    event_log log;
    log_init(&log);
    sluice_tracker_options o = {0};
    o.max_running = 1;
    o.on_event = on_event;
    o.event_user = &log;
    sluice_tracker *t = new_tracker(NULL, &o);
    atomic_int ran_a = 0, ran_b = 0;
    sluice_error err;
    cr_assert_eq(sluice_tracker_spawn(t, task_block, &ran_a, &err), 0);
    metric_goal g = {t, 1, 1, 0, 0, 0, 0, ANY};
    cr_assert(wait_for(metrics_reached, &g), "first task running");
    cr_assert_eq(sluice_tracker_spawn(t, task_block, &ran_b, &err), 0);
    metric_goal q = {t, 2, 1, 1, 0, 0, 0, ANY};
    cr_assert(wait_for(metrics_reached, &q), "second task queued");

    int64_t t0 = sluice_sleep_now_ms();
    sluice_tracker_cancel(t);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    cr_assert_lt(sluice_sleep_now_ms() - t0, LIMIT_MS);
    cr_assert_eq(atomic_load(&ran_a), 1);
    cr_assert_eq(atomic_load(&ran_b), 0, "the queued task never ran");
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.cancelled, 2);
    cr_assert_eq(m.succeeded + m.failed, 0);
    check_sum(&m);
    cr_assert_eq(count_kind(&log, SLUICE_TRACKER_EV_STARTED), 1);
    cr_assert_eq(count_kind(&log, SLUICE_TRACKER_EV_CANCELLED), 2);
    for (int i = 0; i < log.n; i++)
        if (log.ev[i].arg == &ran_b) {
            cr_assert_eq(log.ev[i].kind, SLUICE_TRACKER_EV_CANCELLED);
            cr_assert(log.ev[i].final);
        }
    sluice_tracker_free(t);
}

/* ---- policies ----------------------------------------------------------- */

Test(policy, log_only_records_and_reports)
{
    event_log log;
    log_init(&log);
    sluice_tracker_options o = {0};
    o.name = "logger";
    o.on_event = on_event;
    o.event_user = &log;
    sluice_tracker *t = new_tracker(NULL, &o);
    sluice_error err;
    cr_assert_not(sluice_tracker_last_error(t, &err), "no error yet");
    atomic_int ok = 0, bad = 0;
    cr_assert_eq(sluice_tracker_spawn(t, task_ok, &ok, &err), 0);
    cr_assert_eq(sluice_tracker_spawn(t, task_fail, &bad, &err), 0);
    cr_assert_eq(sluice_tracker_spawn(t, task_ok, &ok, &err), 0);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.issued, 3);
    cr_assert_eq(m.succeeded, 2);
    cr_assert_eq(m.failed, 1);
    cr_assert_eq(m.cancelled, 0);
    check_sum(&m);
    cr_assert_not(sluice_token_is_cancelled(sluice_tracker_token(t)));
    cr_assert(sluice_tracker_last_error(t, &err));
    cr_assert_str_eq(err.message, "boom");
    int seen = 0;
    for (int i = 0; i < log.n; i++)
        if (log.ev[i].kind == SLUICE_TRACKER_EV_FAILED) {
            seen++;
            cr_assert_eq(log.ev[i].arg, &bad, "the callback gets the arg");
            cr_assert_str_eq(log.ev[i].error, "boom");
            cr_assert(log.ev[i].final);
            cr_assert_eq(log.ev[i].tracker, t);
        }
    cr_assert_eq(seen, 1);
    cr_assert_eq(count_kind(&log, SLUICE_TRACKER_EV_FINISHED), 2);
    cr_assert_eq(count_kind(&log, SLUICE_TRACKER_EV_STARTED), 3);
    cr_assert_str_eq(sluice_tracker_name(t), "logger");
    sluice_tracker_free(t);
}

Test(policy, cancel_on_error_cancels_the_tracker)
{
    sluice_tracker_options o = {0};
    o.policy = SLUICE_TRACKER_CANCEL_ON_ERROR;
    sluice_tracker *t = new_tracker(NULL, &o);
    sluice_error err;
    atomic_int blocked = 0;
    cr_assert_eq(sluice_tracker_spawn(t, task_block, &blocked, &err), 0);
    metric_goal g = {t, 1, 1, 0, 0, 0, 0, ANY};
    cr_assert(wait_for(metrics_reached, &g));
    int64_t t0 = sluice_sleep_now_ms();
    cr_assert_eq(sluice_tracker_spawn(t, task_fail, NULL, &err), 0);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    cr_assert_lt(sluice_sleep_now_ms() - t0, LIMIT_MS);
    cr_assert(sluice_token_is_cancelled(sluice_tracker_token(t)));
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.failed, 1);
    cr_assert_eq(m.cancelled, 1);
    check_sum(&m);
    sluice_tracker_free(t);
}

Test(policy, cancel_after_n_failures)
{
    sluice_tracker_options o = {0};
    o.policy = SLUICE_TRACKER_CANCEL_AFTER;
    o.max_failures = 3;
    sluice_tracker *t = new_tracker(NULL, &o);
    sluice_error err;
    for (uint64_t i = 1; i <= 3; i++) {
        cr_assert_not(sluice_token_is_cancelled(sluice_tracker_token(t)),
                      "not cancelled after %llu failures",
                      (unsigned long long)(i - 1));
        cr_assert_eq(sluice_tracker_spawn(t, task_fail, NULL, &err), 0);
        metric_goal g = {t, i, 0, 0, 0, i, 0, ANY};
        cr_assert(wait_for(metrics_reached, &g));
    }
    cr_assert(sluice_token_is_cancelled(sluice_tracker_token(t)));
    /* Still open: a task spawned now starts cancelled and never runs. */
    atomic_int ran = 0;
    cr_assert_eq(sluice_tracker_spawn(t, task_ok, &ran, &err), 0);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    cr_assert_eq(atomic_load(&ran), 0);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.failed, 3);
    cr_assert_eq(m.cancelled, 1);
    check_sum(&m);
    sluice_tracker_free(t);
}

/* Fails until it has been called *arg times... then succeeds. */
typedef struct {
    atomic_int calls;
    int fail_first;
} flaky_arg;

static int task_flaky(void *arg, sluice_token *c, sluice_error *err)
{
    (void)c;
    flaky_arg *f = arg;
    int n = atomic_fetch_add(&f->calls, 1) + 1;
    if (n <= f->fail_first)
        return sluice_error_set(err, "flaky failure %d", n);
    return 0;
}

Test(policy, restart_with_backoff_until_success)
{
    event_log log;
    log_init(&log);
    sluice_tracker_options o = {0};
    o.policy = SLUICE_TRACKER_RESTART;
    o.backoff_min_ms = 2;
    o.backoff_max_ms = 40;
    o.max_restarts = 5;
    o.period_ms = 60000;
    o.on_event = on_event;
    o.event_user = &log;
    sluice_tracker *t = new_tracker(NULL, &o);
    flaky_arg f = {0, 3};
    sluice_error err;
    cr_assert_eq(sluice_tracker_spawn(t, task_flaky, &f, &err), 0);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    cr_assert_eq(atomic_load(&f.calls), 4);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.issued, 1);
    cr_assert_eq(m.succeeded, 1);
    cr_assert_eq(m.failed, 0);
    cr_assert_eq(m.restarts, 3);
    cr_assert_eq(m.given_up, 0);
    check_sum(&m);
    cr_assert_eq(count_kind(&log, SLUICE_TRACKER_EV_STARTED), 4);
    cr_assert_eq(count_kind(&log, SLUICE_TRACKER_EV_FAILED), 3);
    cr_assert_eq(count_kind(&log, SLUICE_TRACKER_EV_RESTARTING), 3);
    cr_assert_eq(count_kind(&log, SLUICE_TRACKER_EV_FINISHED), 1);
    unsigned expect = 1;
    for (int i = 0; i < log.n; i++) {
        rec_event *e = &log.ev[i];
        cr_assert_eq(e->arg, &f);
        if (e->kind == SLUICE_TRACKER_EV_RESTARTING) {
            cr_assert_geq(e->delay_ms, 2);
            cr_assert_leq(e->delay_ms, 40);
            cr_assert_eq(e->restarts, expect++);
            cr_assert_not(e->final);
        }
        cr_assert_eq(e->final, i == log.n - 1, "only the last is final");
    }
    cr_assert_eq(log.ev[log.n - 1].kind, SLUICE_TRACKER_EV_FINISHED);
    cr_assert(sluice_tracker_last_error(t, &err));
    cr_assert_str_eq(err.message, "flaky failure 3");
    sluice_tracker_free(t);
}

Test(policy, intensity_limit_gives_up)
{
    event_log log;
    log_init(&log);
    sluice_tracker_options o = {0};
    o.policy = SLUICE_TRACKER_RESTART;
    o.backoff_min_ms = 0;
    o.backoff_max_ms = 5;
    o.max_restarts = 3;
    o.period_ms = 60000;
    o.on_event = on_event;
    o.event_user = &log;
    sluice_tracker *t = new_tracker(NULL, &o);
    atomic_int calls = 0;
    sluice_error err;
    cr_assert_eq(sluice_tracker_spawn(t, task_fail, &calls, &err), 0);
    int rc = sluice_tracker_join_timeout(t, LIMIT_MS, &err);
    if (rc != 0) /* never given up: stop it before failing */
        sluice_tracker_cancel(t);
    cr_assert_eq(rc, 0, "the task was given up");
    cr_assert_eq(atomic_load(&calls), 4, "first run + 3 restarts");
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.restarts, 3);
    cr_assert_eq(m.given_up, 1);
    cr_assert_eq(m.failed, 1);
    cr_assert_eq(m.succeeded + m.cancelled, 0);
    check_sum(&m);
    cr_assert_eq(count_kind(&log, SLUICE_TRACKER_EV_GAVE_UP), 1);
    rec_event *last = &log.ev[log.n - 1];
    cr_assert_eq(last->kind, SLUICE_TRACKER_EV_GAVE_UP);
    cr_assert(last->final);
    cr_assert_str_eq(last->error, "boom");
    cr_assert_eq(last->arg, &calls);
    cr_assert_eq(last->restarts, 3);
    sluice_tracker_free(t);
}

Test(policy, intensity_window_forgets_old_restarts)
{
    /* 1 restart per 1 ms window, backoff >= 20 ms: every restart is alone in
     * its window, so the task is never given up and ends by succeeding. */
    sluice_tracker_options o = {0};
    o.policy = SLUICE_TRACKER_RESTART;
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 20;
    o.max_restarts = 1;
    o.period_ms = 1;
    sluice_tracker *t = new_tracker(NULL, &o);
    flaky_arg f = {0, 3};
    sluice_error err;
    cr_assert_eq(sluice_tracker_spawn(t, task_flaky, &f, &err), 0);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.restarts, 3);
    cr_assert_eq(m.given_up, 0);
    cr_assert_eq(m.succeeded, 1);
    sluice_tracker_free(t);
}

Test(policy, zero_restarts_gives_up_at_once)
{
    sluice_tracker_options o = {0};
    o.policy = SLUICE_TRACKER_RESTART;
    o.max_restarts = 0;
    o.period_ms = 1000;
    sluice_tracker *t = new_tracker(NULL, &o);
    atomic_int calls = 0;
    sluice_error err;
    cr_assert_eq(sluice_tracker_spawn(t, task_fail, &calls, &err), 0);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    cr_assert_eq(atomic_load(&calls), 1);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.given_up, 1);
    cr_assert_eq(m.restarts, 0);
    sluice_tracker_free(t);
}

Test(policy, backoff_sleep_is_cancellable)
{
    event_log log;
    log_init(&log);
    sluice_tracker_options o = {0};
    o.policy = SLUICE_TRACKER_RESTART;
    o.backoff_min_ms = LONG_MS;
    o.backoff_max_ms = LONG_MS;
    o.max_restarts = 10;
    o.period_ms = 60000;
    o.on_event = on_event;
    o.event_user = &log;
    sluice_tracker *t = new_tracker(NULL, &o);
    atomic_int calls = 0;
    sluice_error err;
    cr_assert_eq(sluice_tracker_spawn(t, task_fail, &calls, &err), 0);
    metric_goal g = {t, 1, 1, 0, 0, 0, 0, 1};
    cr_assert(wait_for(metrics_reached, &g), "in backoff");
    int64_t t0 = sluice_sleep_now_ms();
    sluice_tracker_cancel(t);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    cr_assert_lt(sluice_sleep_now_ms() - t0, LIMIT_MS);
    cr_assert_eq(atomic_load(&calls), 1);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.cancelled, 1);
    cr_assert_eq(m.restarts, 1);
    check_sum(&m);
    cr_assert_eq(count_kind(&log, SLUICE_TRACKER_EV_RESTARTING), 1);
    for (int i = 0; i < log.n; i++)
        if (log.ev[i].kind == SLUICE_TRACKER_EV_RESTARTING)
            cr_assert_eq(log.ev[i].delay_ms, LONG_MS);
    cr_assert_eq(log.ev[log.n - 1].kind, SLUICE_TRACKER_EV_CANCELLED);
    cr_assert(log.ev[log.n - 1].final);
    sluice_tracker_free(t);
}

/* ---- loop --------------------------------------------------------------- */

static int task_count_to_5(void *arg, sluice_token *c, sluice_error *err)
{
    (void)err;
    if (atomic_fetch_add((atomic_int *)arg, 1) + 1 == 5)
        sluice_token_cancel(c);
    return 0;
}

static int task_fail_at_3(void *arg, sluice_token *c, sluice_error *err)
{
    (void)c;
    if (atomic_fetch_add((atomic_int *)arg, 1) + 1 == 3)
        return sluice_error_set(err, "third call failed");
    return 0;
}

Test(loop, runs_until_cancelled_or_failed)
{
    sluice_tracker *t = new_tracker(NULL, NULL);
    atomic_int n = 0, f = 0;
    sluice_error err;
    cr_assert_eq(sluice_tracker_loop(t, task_count_to_5, &n, 1, &err), 0);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    cr_assert_eq(atomic_load(&n), 5);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.cancelled, 1);
    sluice_tracker_free(t);

    t = new_tracker(NULL, NULL);
    cr_assert_eq(sluice_tracker_loop(t, task_fail_at_3, &f, 0, &err), 0);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    cr_assert_eq(atomic_load(&f), 3);
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.failed, 1);
    cr_assert(sluice_tracker_last_error(t, &err));
    cr_assert_str_eq(err.message, "third call failed");
    cr_assert_eq(sluice_tracker_loop(t, task_ok, NULL, -1, &err),
                 SLUICE_TASK_ERROR);
    sluice_tracker_free(t);
}

/* ---- children ----------------------------------------------------------- */

Test(children, inherit_scheduler_and_policy)
{
    event_log log;
    log_init(&log);
    sluice_tracker_options o = {0};
    o.max_running = 2;
    o.policy = SLUICE_TRACKER_RESTART;
    o.backoff_min_ms = 1;
    o.backoff_max_ms = 5;
    o.max_restarts = 2;
    o.period_ms = 60000;
    o.on_event = on_event;
    o.event_user = &log;
    sluice_tracker *p = new_tracker(NULL, &o);
    sluice_tracker *c = new_tracker(p, NULL);
    conc_arg a = {0, 0, 0};
    sluice_error err;
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(sluice_tracker_spawn(p, task_measure, &a, &err), 0);
        cr_assert_eq(sluice_tracker_spawn(c, task_measure, &a, &err), 0);
    }
    atomic_int calls = 0;
    cr_assert_eq(sluice_tracker_spawn(c, task_fail, &calls, &err), 0);
    cr_assert_eq(sluice_tracker_join(p, &err), 0);
    cr_assert_eq(atomic_load(&a.done), 12);
    cr_assert_leq(atomic_load(&a.max_seen), 2, "shared permits");
    cr_assert_eq(atomic_load(&calls), 3, "restart policy inherited");
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(c, &m);
    cr_assert_eq(m.given_up, 1);
    cr_assert_eq(m.succeeded, 6);
    int from_child = 0;
    for (int i = 0; i < log.n; i++)
        from_child += log.ev[i].tracker == c;
    cr_assert_gt(from_child, 0, "callback inherited");
    sluice_tracker_free(c);
    sluice_tracker_free(p);
}

Test(children, own_options_and_independent_cancel)
{
    sluice_tracker_options po = {0};
    po.policy = SLUICE_TRACKER_CANCEL_ON_ERROR;
    po.max_running = 1;
    sluice_tracker *p = new_tracker(NULL, &po);
    sluice_tracker_options co = {0};
    co.policy = SLUICE_TRACKER_LOG_ONLY;
    co.max_running = -1; /* own, unlimited */
    sluice_tracker *c = new_tracker(p, &co);
    sluice_tracker *c2 = new_tracker(p, NULL);
    sluice_error err;

    /* own policy: a failure in c does not cancel c */
    cr_assert_eq(sluice_tracker_spawn(c, task_fail, NULL, &err), 0);
    metric_goal g = {c, 1, 0, 0, 0, 1, 0, ANY};
    cr_assert(wait_for(metrics_reached, &g));
    cr_assert_not(sluice_token_is_cancelled(sluice_tracker_token(c)));

    /* own scheduler: two blocking tasks run at once although p allows 1 */
    atomic_int ran = 0;
    cr_assert_eq(sluice_tracker_spawn(c, task_block, &ran, &err), 0);
    cr_assert_eq(sluice_tracker_spawn(c, task_block, &ran, &err), 0);
    metric_goal both = {c, 3, 2, 0, 0, 1, 0, ANY};
    cr_assert(wait_for(metrics_reached, &both));

    /* cancelling a child leaves the parent and the sibling alone */
    sluice_tracker_cancel(c);
    metric_goal done = {c, 3, 0, 0, 0, 1, 2, ANY};
    cr_assert(wait_for(metrics_reached, &done));
    cr_assert_not(sluice_token_is_cancelled(sluice_tracker_token(p)));
    cr_assert_not(sluice_token_is_cancelled(sluice_tracker_token(c2)));

    /* c2 inherited cancel-on-error: its failure cancels c2 only */
    cr_assert_eq(sluice_tracker_spawn(c2, task_fail, NULL, &err), 0);
    metric_goal f2 = {c2, 1, 0, 0, 0, 1, 0, ANY};
    cr_assert(wait_for(metrics_reached, &f2));
    cr_assert(sluice_token_is_cancelled(sluice_tracker_token(c2)));
    cr_assert_not(sluice_token_is_cancelled(sluice_tracker_token(p)));

    /* a parent's cancel reaches a live child */
    sluice_tracker *c3 = new_tracker(p, NULL);
    cr_assert_eq(sluice_tracker_spawn(c3, task_block, NULL, &err), 0);
    sluice_tracker_cancel(p);
    cr_assert(sluice_token_is_cancelled(sluice_tracker_token(c3)));
    cr_assert_eq(sluice_tracker_join(p, &err), 0);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(c3, &m);
    cr_assert_eq(m.cancelled, 1);
    sluice_tracker_free(c3);
    sluice_tracker_free(c2);
    sluice_tracker_free(c);
    sluice_tracker_free(p);
}

/* ---- metrics, join, rejection -------------------------------------------- */

static int task_mixed(void *arg, sluice_token *c, sluice_error *err)
{
    intptr_t i = (intptr_t)arg;
    if (i % 3 == 0)
        return 0;
    if (i % 3 == 1)
        return sluice_error_set(err, "task %d failed", (int)i);
    return sluice_sleep(LONG_MS, c) == SLUICE_TASK_CANCELLED
               ? SLUICE_TASK_CANCELLED
               : 0;
}

Test(metrics, add_up_at_all_times)
{
    sluice_tracker_options o = {0};
    o.max_running = 4;
    sluice_tracker *t = new_tracker(NULL, &o);
    sluice_error err;
    for (intptr_t i = 0; i < 30; i++)
        cr_assert_eq(sluice_tracker_spawn(t, task_mixed, (void *)i, &err), 0);
    sluice_tracker_metrics m;
    for (int i = 0; i < 20; i++) {
        sluice_tracker_get_metrics(t, &m);
        check_sum(&m);
        cr_assert_eq(m.issued, 30);
        sluice_sleep(1, NULL);
    }
    sluice_tracker_cancel(t);
    cr_assert_eq(sluice_tracker_join(t, &err), 0);
    sluice_tracker_get_metrics(t, &m);
    check_sum(&m);
    cr_assert_eq(m.active + m.queued, 0);
    cr_assert_eq(m.failed + m.succeeded + m.cancelled, 30);
    cr_assert_leq(m.failed, 10);
    cr_assert_geq(m.cancelled, 10, "the sleepers were cancelled");
    cr_assert_eq(m.rejected, 0);
    sluice_tracker_free(t);
}

static int task_slow_flag(void *arg, sluice_token *c, sluice_error *err)
{
    (void)err;
    sluice_sleep(100, c);
    atomic_store((atomic_int *)arg, 1);
    return 0;
}

Test(join, waits_for_children_and_closes_them)
{
    sluice_tracker *p = new_tracker(NULL, NULL);
    sluice_tracker *c = new_tracker(p, NULL);
    sluice_tracker *g = new_tracker(c, NULL);
    atomic_int cflag = 0, gflag = 0, pflag = 0;
    sluice_error err;
    cr_assert_eq(sluice_tracker_spawn(g, task_slow_flag, &gflag, &err), 0);
    cr_assert_eq(sluice_tracker_spawn(c, task_slow_flag, &cflag, &err), 0);
    cr_assert_eq(sluice_tracker_spawn(p, task_slow_flag, &pflag, &err), 0);
    cr_assert_eq(sluice_tracker_join(p, &err), 0);
    cr_assert(atomic_load(&gflag) && atomic_load(&cflag) &&
              atomic_load(&pflag));
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(g, &m);
    cr_assert_eq(m.succeeded, 1);
    cr_assert_eq(m.active + m.queued, 0);
    /* the join closed the whole subtree */
    cr_assert_eq(sluice_tracker_spawn(g, task_ok, NULL, &err),
                 SLUICE_TASK_ERROR);
    cr_assert(strstr(err.message, "closed"), "%s", err.message);
    /* a child made under a closed parent starts closed */
    sluice_tracker *late = new_tracker(p, NULL);
    cr_assert_eq(sluice_tracker_spawn(late, task_ok, NULL, &err),
                 SLUICE_TASK_ERROR);
    sluice_tracker_free(late);
    sluice_tracker_free(g);
    sluice_tracker_free(c);
    sluice_tracker_free(p);
}

Test(join, timeout_then_cancel_and_join_again)
{
    sluice_tracker *p = new_tracker(NULL, NULL);
    sluice_tracker *c = new_tracker(p, NULL);
    sluice_error err = {{0}};
    cr_assert_eq(sluice_tracker_spawn(c, task_block, NULL, &err), 0);
    cr_assert_eq(sluice_tracker_join_timeout(p, 30, &err),
                 SLUICE_TASK_TIMEDOUT);
    cr_assert(strstr(err.message, "still running"), "%s", err.message);
    cr_assert_eq(sluice_tracker_join_timeout(p, -1, &err), SLUICE_TASK_ERROR);
    sluice_tracker_cancel(p);
    cr_assert_eq(sluice_tracker_join_timeout(p, LIMIT_MS, &err), 0, "%s",
                 err.message);
    sluice_tracker_free(p); /* parent first: the child outlives it */
    cr_assert_eq(sluice_tracker_join(c, &err), 0);
    sluice_tracker_free(c);
}

static void on_final(const sluice_tracker_event *ev, void *user)
{
    if (ev->final)
        atomic_store((atomic_int *)user, 1);
}

Test(join, free_with_running_tasks_abandons_safely)
{
    atomic_int final = 0;
    sluice_tracker_options o = {0};
    o.on_event = on_final;
    o.event_user = &final;
    sluice_tracker *t = new_tracker(NULL, &o);
    sluice_error err;
    atomic_int ran = 0;
    cr_assert_eq(sluice_tracker_spawn(t, task_block, &ran, &err), 0);
    cr_assert(wait_for(is_set, &ran));
    sluice_tracker_free(t); /* cancels; the task releases the tracker */
    cr_assert(wait_for(is_set, &final), "the abandoned task was cancelled");
    /* Its thread frees the tracker next; if the process ends first, the
     * tracker is still reachable from that thread (no leak report). */
}

/* ---- walks of deep and wide trees ---------------------------------------- */

/* No walk of a tree (join, close, cancel) recurses: a chain of DEEP
 * trackers or tokens is walked on a thread whose stack is SMALL_STACK. A
 * walk that recursed once a level would need several MiB of stack and die
 * of a stack overflow (SIGSEGV). Freeing the trees afterwards must leave
 * nothing behind (the leak gate of the ASan build). */
#define DEEP 100000
#define SMALL_STACK (1024 * 1024)

/* Run body(arg) on a new thread with a SMALL_STACK stack and wait for it.
 * The body records what it saw; the test's own thread asserts it. */
static void run_on_small_stack(void *(*body)(void *), void *arg)
{
    pthread_attr_t attr;
    cr_assert_eq(pthread_attr_init(&attr), 0);
    cr_assert_eq(pthread_attr_setstacksize(&attr, SMALL_STACK), 0);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, &attr, body, arg), 0);
    pthread_attr_destroy(&attr);
    cr_assert_eq(pthread_join(thread, NULL), 0);
}

/* chain[0] is the root, chain[i] the only child of chain[i - 1]; the last
 * one is named leaf_name. */
static sluice_tracker **tracker_chain(size_t depth, const char *leaf_name)
{
    sluice_tracker **chain = malloc(depth * sizeof *chain);
    cr_assert_not_null(chain);
    for (size_t i = 0; i < depth; i++) {
        sluice_tracker_options o = {0};
        o.name = i + 1 == depth ? leaf_name : NULL;
        chain[i] = new_tracker(i ? chain[i - 1] : NULL, &o);
    }
    return chain;
}

/* Parents first: each child outlives its parent and becomes a root. */
static void free_trackers(sluice_tracker **trackers, size_t count)
{
    for (size_t i = 0; i < count; i++)
        sluice_tracker_free(trackers[i]);
    free(trackers);
}

typedef struct {
    sluice_tracker *root;
    int join_rc;
    sluice_error join_err;
    int timeout_rc;     /* join_timeout before the cancel, if used */
    sluice_error timeout_err;
} walk_arg;

static void *join_on_small_stack(void *p)
{
    walk_arg *a = p;
    a->join_rc = sluice_tracker_join(a->root, &a->join_err);
    return NULL;
}

Test(walks, join_of_a_100000_deep_tracker_chain_returns_0_on_a_1_MiB_stack)
{
    sluice_tracker **chain = tracker_chain(DEEP, "leaf");
    sluice_tracker *leaf = chain[DEEP - 1];
    atomic_int leaf_done = 0, root_done = 0;
    sluice_error err;
    cr_assert_eq(sluice_tracker_spawn(leaf, task_slow_flag, &leaf_done, &err),
                 0);
    cr_assert_eq(sluice_tracker_spawn(chain[0], task_slow_flag, &root_done,
                                      &err),
                 0);

    walk_arg a = {.root = chain[0]};
    run_on_small_stack(join_on_small_stack, &a);
    cr_assert_eq(a.join_rc, 0, "join: %s", a.join_err.message);
    cr_assert(atomic_load(&leaf_done), "the join waited for the leaf's task");
    cr_assert(atomic_load(&root_done), "... and then for the root's");
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(leaf, &m);
    cr_assert_eq(m.succeeded, 1);
    cr_assert_eq(m.active + m.queued, 0);
    /* the join closed the chain down to the leaf */
    cr_assert_eq(sluice_tracker_spawn(leaf, task_ok, NULL, &err),
                 SLUICE_TASK_ERROR);
    cr_assert(strstr(err.message, "closed"), "%s", err.message);
    free_trackers(chain, DEEP);
}

static void *timeout_cancel_join_on_small_stack(void *p)
{
    walk_arg *a = p;
    a->timeout_rc = sluice_tracker_join_timeout(a->root, 30, &a->timeout_err);
    sluice_tracker_cancel(a->root);
    a->join_rc = sluice_tracker_join(a->root, &a->join_err);
    return NULL;
}

Test(walks, join_timeout_of_a_deep_chain_names_the_leaf_then_cancel_reaches_it)
{
    sluice_tracker **chain = tracker_chain(DEEP, "leaf");
    sluice_tracker *leaf = chain[DEEP - 1];
    sluice_error err;
    cr_assert_eq(sluice_tracker_spawn(leaf, task_block, NULL, &err), 0);

    walk_arg a = {.root = chain[0]};
    run_on_small_stack(timeout_cancel_join_on_small_stack, &a);
    cr_assert_eq(a.timeout_rc, SLUICE_TASK_TIMEDOUT, "%s",
                 a.timeout_err.message);
    cr_assert(strstr(a.timeout_err.message, "tracker 'leaf'") &&
                  strstr(a.timeout_err.message, "still running"),
              "%s", a.timeout_err.message);
    cr_assert_eq(a.join_rc, 0, "join after cancel: %s", a.join_err.message);
    for (size_t i = 0; i < DEEP; i++)
        cr_assert(sluice_token_is_cancelled(sluice_tracker_token(chain[i])),
                  "tracker %zu of the chain not cancelled", i);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(leaf, &m);
    cr_assert_eq(m.cancelled, 1);
    cr_assert_eq(m.active + m.queued, 0);
    free_trackers(chain, DEEP);
}

static void *token_cancel_on_small_stack(void *p)
{
    sluice_token_cancel(p);
    return NULL;
}

Test(walks, cancel_of_a_100000_deep_token_chain_reaches_every_token)
{
    sluice_token **chain = malloc(DEEP * sizeof *chain);
    cr_assert_not_null(chain);
    for (size_t i = 0; i < DEEP; i++) {
        chain[i] = sluice_token_new(i ? chain[i - 1] : NULL);
        cr_assert_not_null(chain[i]);
    }
    run_on_small_stack(token_cancel_on_small_stack, chain[0]);
    for (size_t i = 0; i < DEEP; i++)
        cr_assert(sluice_token_is_cancelled(chain[i]),
                  "token %zu of the chain not cancelled", i);
    for (size_t i = 0; i < DEEP; i++)
        sluice_token_free(chain[i]);
    free(chain);
}

#define WIDE 10000

Test(walks, join_of_a_tracker_with_10000_children_reaches_the_last_one)
{
    sluice_tracker *parent = new_tracker(NULL, NULL);
    sluice_tracker **kids = malloc(WIDE * sizeof *kids);
    cr_assert_not_null(kids);
    for (size_t i = 0; i < WIDE; i++) {
        sluice_tracker_options o = {0};
        o.name = i == 0 ? "first-made" : NULL;
        kids[i] = new_tracker(parent, &o);
    }
    /* the first child made is the last one a join reaches */
    sluice_error err;
    cr_assert_eq(sluice_tracker_spawn(kids[0], task_block, NULL, &err), 0);

    walk_arg a = {.root = parent};
    run_on_small_stack(timeout_cancel_join_on_small_stack, &a);
    cr_assert_eq(a.timeout_rc, SLUICE_TASK_TIMEDOUT, "%s",
                 a.timeout_err.message);
    cr_assert(strstr(a.timeout_err.message, "tracker 'first-made'"), "%s",
              a.timeout_err.message);
    cr_assert_eq(a.join_rc, 0, "join after cancel: %s", a.join_err.message);
    for (size_t i = 0; i < WIDE; i++) {
        cr_assert(sluice_token_is_cancelled(sluice_tracker_token(kids[i])),
                  "child %zu not cancelled", i);
        cr_assert_eq(sluice_tracker_spawn(kids[i], task_ok, NULL, &err),
                     SLUICE_TASK_ERROR, "child %zu not closed", i);
    }
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(kids[0], &m);
    cr_assert_eq(m.cancelled, 1);
    free_trackers(kids, WIDE);
    sluice_tracker_free(parent);
}

/* A full ternary tree, the root and 7 levels below it, stored breadth
 * first: the children of node i are 3i + 1, 3i + 2 and 3i + 3. */
#define BUSHY_NODES 3280      /* 1 + 3 + ... + 3^7 */
#define BUSHY_FIRST_LEAF 1093 /* 1 + 3 + ... + 3^6 */

Test(walks, join_of_a_bushy_tree_reaches_the_leaf_that_blocks_wherever_it_is)
{
    /* children are walked newest first: the last leaf is reached first,
     * the first leaf last */
    const size_t blocked_leaves[] = {BUSHY_FIRST_LEAF, 2000, BUSHY_NODES - 1};
    for (size_t b = 0; b < sizeof blocked_leaves / sizeof *blocked_leaves;
         b++) {
        size_t blocked = blocked_leaves[b];
        sluice_tracker **tree = malloc(BUSHY_NODES * sizeof *tree);
        cr_assert_not_null(tree);
        for (size_t i = 0; i < BUSHY_NODES; i++) {
            sluice_tracker_options o = {0};
            o.name = i == blocked ? "blocked" : NULL;
            tree[i] = new_tracker(i ? tree[(i - 1) / 3] : NULL, &o);
        }
        sluice_error err;
        cr_assert_eq(sluice_tracker_spawn(tree[blocked], task_block, NULL,
                                          &err),
                     0);

        walk_arg a = {.root = tree[0]};
        run_on_small_stack(timeout_cancel_join_on_small_stack, &a);
        cr_assert_eq(a.timeout_rc, SLUICE_TASK_TIMEDOUT,
                     "leaf %zu blocked: %s", blocked, a.timeout_err.message);
        cr_assert(strstr(a.timeout_err.message, "tracker 'blocked'"),
                  "leaf %zu blocked: %s", blocked, a.timeout_err.message);
        cr_assert_eq(a.join_rc, 0, "join after cancel: %s",
                     a.join_err.message);
        sluice_tracker_metrics m;
        sluice_tracker_get_metrics(tree[blocked], &m);
        cr_assert_eq(m.cancelled, 1);
        cr_assert_eq(m.active + m.queued, 0);
        for (size_t i = 0; i < BUSHY_NODES; i++)
            cr_assert_eq(sluice_tracker_spawn(tree[i], task_ok, NULL, &err),
                         SLUICE_TASK_ERROR, "node %zu not closed", i);
        free_trackers(tree, BUSHY_NODES);
    }
}

Test(reject, spawn_on_closed_tracker)
{
    sluice_tracker *t = new_tracker(NULL, NULL);
    sluice_error err = {{0}};
    sluice_tracker_close(t);
    atomic_int ran = 0;
    cr_assert_eq(sluice_tracker_spawn(t, task_ok, &ran, &err),
                 SLUICE_TASK_ERROR);
    cr_assert(strstr(err.message, "closed"), "%s", err.message);
    cr_assert_eq(sluice_tracker_loop(t, task_ok, &ran, 0, &err),
                 SLUICE_TASK_ERROR);
    cr_assert_eq(sluice_tracker_spawn(t, NULL, NULL, &err), SLUICE_TASK_ERROR);
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    cr_assert_eq(m.rejected, 3);
    cr_assert_eq(m.issued, 0);
    join_free(t);
    cr_assert_eq(atomic_load(&ran), 0);
}

Test(reject, bad_options_and_null_arguments)
{
    sluice_error err = {{0}};
    sluice_tracker_options o = {0};
    o.policy = SLUICE_TRACKER_CANCEL_AFTER;
    cr_assert_null(sluice_tracker_new(NULL, &o, &err));
    cr_assert(strstr(err.message, "max_failures"), "%s", err.message);

    memset(&o, 0, sizeof o);
    o.policy = SLUICE_TRACKER_RESTART;
    o.backoff_min_ms = 100;
    o.backoff_max_ms = 10;
    o.period_ms = 1000;
    cr_assert_null(sluice_tracker_new(NULL, &o, &err));
    cr_assert(strstr(err.message, "backoff"), "%s", err.message);
    o.backoff_max_ms = 1000;
    o.period_ms = 0;
    cr_assert_null(sluice_tracker_new(NULL, &o, &err));
    cr_assert(strstr(err.message, "period_ms"), "%s", err.message);

    memset(&o, 0, sizeof o);
    o.policy = (sluice_tracker_policy)42;
    cr_assert_null(sluice_tracker_new(NULL, &o, &err));
    cr_assert(strstr(err.message, "policy"), "%s", err.message);

    cr_assert_eq(sluice_tracker_spawn(NULL, task_ok, NULL, &err),
                 SLUICE_TASK_ERROR);
    cr_assert_eq(sluice_tracker_join(NULL, &err), SLUICE_TASK_ERROR);
    cr_assert_eq(sluice_tracker_join_timeout(NULL, 1, &err),
                 SLUICE_TASK_ERROR);
    sluice_tracker_cancel(NULL);
    sluice_tracker_close(NULL);
    sluice_tracker_free(NULL);
    cr_assert_null(sluice_tracker_token(NULL));
    cr_assert_not(sluice_tracker_last_error(NULL, &err));
}
