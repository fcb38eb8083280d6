/*
 * tasks.c -- a host program that uses sluice's task layer for its own
 * background work (include/sluice/task.h), without any logging runtime.
 *
 * A tracker "jobs" runs five jobs, at most two at once, restarting a failed
 * job after a jittered exponential backoff and giving up on one that fails
 * more than 3 times in 5 s. A loop task on the parent tracker "app" watches
 * for SIGINT/SIGTERM and cancels everything; otherwise the jobs are
 * cancelled when the deadline (argv[1] ms, default 3000) expires. Every
 * event and the final counters are printed.
 *
 *     ./tasks            # the slow job is cancelled at the deadline
 *     ./tasks 60000      # press Ctrl-C to cancel
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sluice/task.h>

typedef struct job {
    const char *name;
    int64_t work_ms;  /* how long one run takes */
    int fail_first;   /* the first N runs fail; -1: every run fails */
    atomic_int runs;
} job;

static int64_t t0;
static sigset_t signals; /* the watcher's arg */

static int run_job(void *arg, sluice_token *cancel, sluice_error *err)
{
    job *j = arg;
    int run = atomic_fetch_add(&j->runs, 1) + 1;
    if (sluice_sleep(j->work_ms, cancel) == SLUICE_TASK_CANCELLED)
        return SLUICE_TASK_CANCELLED;
    if (j->fail_first < 0 || run <= j->fail_first)
        return sluice_error_set(err, "%s: run %d failed (simulated)", j->name,
                                run);
    return 0;
}

/* The watcher: a loop task that waits 100 ms at a time for a signal. */
static int watch_signals(void *arg, sluice_token *cancel, sluice_error *err)
{
    const sigset_t *set = arg;
    struct timespec tick = {0, 100 * 1000 * 1000};
    int sig = sigtimedwait(set, NULL, &tick);
    if (sig < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0; /* nothing yet: the loop calls us again */
        return sluice_error_set(err, "sigtimedwait failed (errno %d)", errno);
    }
    printf("%6lld ms  signal %d: cancelling everything\n",
           (long long)(sluice_sleep_now_ms() - t0), sig);
    sluice_token_cancel(cancel); /* the app tracker's token: jobs too */
    return SLUICE_TASK_CANCELLED;
}

static const char *kind_name(sluice_tracker_event_kind k)
{
    switch (k) {
    case SLUICE_TRACKER_EV_STARTED: return "started";
    case SLUICE_TRACKER_EV_FAILED: return "failed";
    case SLUICE_TRACKER_EV_RESTARTING: return "restarting";
    case SLUICE_TRACKER_EV_GAVE_UP: return "gave up";
    case SLUICE_TRACKER_EV_FINISHED: return "finished";
    case SLUICE_TRACKER_EV_CANCELLED: return "cancelled";
    }
    return "?";
}

static void on_event(const sluice_tracker_event *ev, void *user)
{
    (void)user;
    const char *who = ev->arg == &signals ? "watcher"
                                          : ((const job *)ev->arg)->name;
    char extra[160] = "";
    if (ev->error)
        snprintf(extra, sizeof extra, ": %s", ev->error);
    else if (ev->kind == SLUICE_TRACKER_EV_RESTARTING)
        snprintf(extra, sizeof extra, " in %lld ms (restart %u)",
                 (long long)ev->delay_ms, ev->restarts);
    printf("%6lld ms  [%s] %-8s %s%s\n",
           (long long)(sluice_sleep_now_ms() - t0), ev->tracker_name,
           who, kind_name(ev->kind), extra);
    fflush(stdout);
}

static void print_metrics(sluice_tracker *t)
{
    sluice_tracker_metrics m;
    sluice_tracker_get_metrics(t, &m);
    printf("%-5s issued %llu succeeded %llu failed %llu cancelled %llu "
           "rejected %llu restarts %llu given up %llu\n",
           sluice_tracker_name(t), (unsigned long long)m.issued,
           (unsigned long long)m.succeeded, (unsigned long long)m.failed,
           (unsigned long long)m.cancelled, (unsigned long long)m.rejected,
           (unsigned long long)m.restarts, (unsigned long long)m.given_up);
}

int main(int argc, char **argv)
{
    int64_t deadline_ms = argc > 1 ? atoll(argv[1]) : 3000;
    if (deadline_ms < 0) {
        fprintf(stderr, "usage: %s [deadline_ms]\n", argv[0]);
        return 2;
    }
    /* Block the signals in every thread; the watcher takes them. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    t0 = sluice_sleep_now_ms();

    sluice_error err;
    sluice_tracker_options ao = {0};
    ao.name = "app";
    ao.on_event = on_event;
    sluice_tracker *app = sluice_tracker_new(NULL, &ao, &err);
    if (!app) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    sluice_tracker_options jo = {0};
    jo.name = "jobs";
    jo.max_running = 2;
    jo.policy = SLUICE_TRACKER_RESTART;
    jo.backoff_min_ms = 50;
    jo.backoff_max_ms = 400;
    jo.max_restarts = 3;
    jo.period_ms = 5000;
    sluice_tracker *jobs = sluice_tracker_new(app, &jo, &err); /* child */
    if (!jobs) {
        fprintf(stderr, "%s\n", err.message);
        sluice_tracker_free(app);
        return 1;
    }

    static job list[] = {
        {"fetch-a", 300, 0, 0}, {"fetch-b", 500, 0, 0},
        {"flaky", 100, 2, 0},   {"broken", 50, -1, 0},
        {"slow", 20000, 0, 0},
    };
    int rc = 0;
    if (sluice_tracker_loop(app, watch_signals, &signals, 0, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        rc = 1;
    }
    for (size_t i = 0; rc == 0 && i < sizeof list / sizeof list[0]; i++)
        if (sluice_tracker_spawn(jobs, run_job, &list[i], &err) != 0) {
            fprintf(stderr, "%s\n", err.message);
            rc = 1;
        }

    /* Wait for the jobs until the deadline, then cancel what is left. */
    if (sluice_tracker_join_timeout(jobs, deadline_ms, &err) ==
        SLUICE_TASK_TIMEDOUT) {
        printf("%6lld ms  deadline: %s; cancelling\n",
               (long long)(sluice_sleep_now_ms() - t0), err.message);
        sluice_tracker_cancel(jobs);
        if (sluice_tracker_join(jobs, &err) != 0)
            fprintf(stderr, "%s\n", err.message);
    }
    /* A spawn on a joined (closed) tracker is refused, not a crash. */
    if (sluice_tracker_spawn(jobs, run_job, &list[0], &err) != 0)
        printf("%6lld ms  as expected: %s\n",
               (long long)(sluice_sleep_now_ms() - t0), err.message);

    sluice_tracker_cancel(app); /* stops the watcher */
    if (sluice_tracker_join(app, &err) != 0)
        fprintf(stderr, "%s\n", err.message);
    print_metrics(jobs);
    print_metrics(app);
    if (sluice_tracker_last_error(jobs, &err))
        printf("last error in jobs: %s\n", err.message);
    sluice_tracker_free(jobs);
    sluice_tracker_free(app);
    return rc;
}
