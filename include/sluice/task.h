/*
 * sluice/task.h -- the task layer: cancellation tokens, cancellable sleeps,
 * a mutex whose lock can time out or be cancelled, and trackers that run
 * tasks on their own threads under a concurrency limit and an error policy.
 *
 * The runtime's workers and supervisor are built on it; a host program may
 * use it for its own background work. It depends on nothing else of sluice
 * (only sink.h, for sluice_error).
 *
 *     sluice_error err;
 *     sluice_tracker_options o = {0};
 *     o.max_running = 2;                        // at most 2 at once
 *     o.policy = SLUICE_TRACKER_RESTART;        // restart with backoff
 *     o.backoff_min_ms = 100; o.backoff_max_ms = 5000;
 *     o.max_restarts = 5; o.period_ms = 60000;  // give up past 5 in 60 s
 *     sluice_tracker *t = sluice_tracker_new(NULL, &o, &err);
 *     if (!t || sluice_tracker_spawn(t, job, arg, &err) != 0) { ...err... }
 *     ...
 *     sluice_tracker_cancel(t);                 // ask every task to stop
 *     sluice_tracker_join(t, &err);             // close, wait (children first)
 *     sluice_tracker_free(t);
 *
 * Results: 0 is success; SLUICE_TASK_ERROR (-1) means misuse or lack of
 * resources, with a message in err; SLUICE_TASK_CANCELLED and
 * SLUICE_TASK_TIMEDOUT (both positive) say why a wait ended early.
 *
 * Time: deadlines are milliseconds on CLOCK_MONOTONIC, as returned by
 * sluice_sleep_now_ms(); wall clock changes never shorten or lengthen a wait.
 *
 * Threads: every function may be called from any thread, except that an
 * object must not be used after (or while) it is freed.
 */
#ifndef SLUICE_TASK_H
#define SLUICE_TASK_H

#include <stdint.h>

#include <sluice/sink.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_TASK_API __attribute__((visibility("default")))
#define SLUICE_TASK_MUST_CHECK __attribute__((warn_unused_result))

#define SLUICE_TASK_OK 0
#define SLUICE_TASK_ERROR (-1)     /* misuse or no resources; see err */
#define SLUICE_TASK_CANCELLED 1    /* the token was (or got) cancelled */
#define SLUICE_TASK_TIMEDOUT 2     /* the deadline passed first */

/* ---- cancellation tokens ---------------------------------------------- */

/* A token is a flag that goes from "live" to "cancelled" once. Cancelling a
 * token cancels all its descendants (including ones created later), never
 * its parent. Cancel wakes at once every sleep, lock and queued task that
 * waits on the token or a descendant. */
typedef struct sluice_token sluice_token;

/* A new token, child of parent (NULL: a root). It starts cancelled if the
 * parent is. NULL only when out of memory. */
SLUICE_TASK_API sluice_token *sluice_token_new(sluice_token *parent);
/* Cancel t and its subtree. Idempotent; NULL is ignored. Not
 * async-signal-safe: from a signal, wake a thread (sigwait) that cancels. */
SLUICE_TASK_API void sluice_token_cancel(sluice_token *t);
/* 1 if t is cancelled, else 0 (also for NULL). One atomic load. */
SLUICE_TASK_API int sluice_token_is_cancelled(const sluice_token *t);
/* Free t. Its children stay valid and become children of t's parent (so a
 * cancel from above still reaches them). Nobody may be waiting on t. */
SLUICE_TASK_API void sluice_token_free(sluice_token *t);

/* ---- sleeping ----------------------------------------------------------- */

/* Now on CLOCK_MONOTONIC, in ms. A deadline is now + a duration. */
SLUICE_TASK_API int64_t sluice_sleep_now_ms(void);
/* Sleep ms (negative counts as 0), or until token (may be NULL) is
 * cancelled. Returns 0 after the full sleep, SLUICE_TASK_CANCELLED early. */
SLUICE_TASK_API int sluice_sleep(int64_t ms, sluice_token *token);
/* The same until an absolute deadline (sluice_sleep_now_ms() based). */
SLUICE_TASK_API int sluice_sleep_until(int64_t deadline_ms,
                                       sluice_token *token);

/* ---- mutex with deadline and cancellation -------------------------------- */

/* Not recursive: locking it again from the owning thread is an error, and
 * so is unlocking it from another thread. */
typedef struct sluice_mutex sluice_mutex;

/* NULL only when out of memory (err says so). */
SLUICE_TASK_API sluice_mutex *sluice_mutex_new(sluice_error *err);
/* Free m; it must not be locked. NULL is ignored. */
SLUICE_TASK_API void sluice_mutex_free(sluice_mutex *m);
/* Each lock returns 0 when the caller now holds m, SLUICE_TASK_TIMEDOUT,
 * SLUICE_TASK_CANCELLED (token may be NULL: not cancellable), or
 * SLUICE_TASK_ERROR with err set. Never ignore the result. */
/* Wait as long as it takes, or until token is cancelled. */
SLUICE_TASK_API SLUICE_TASK_MUST_CHECK int
sluice_mutex_lock(sluice_mutex *m, sluice_token *token, sluice_error *err);
/* Wait at most timeout_ms (>= 0; 0 is a try-lock). */
SLUICE_TASK_API SLUICE_TASK_MUST_CHECK int
sluice_mutex_lock_for(sluice_mutex *m, int64_t timeout_ms,
                      sluice_token *token, sluice_error *err);
/* Wait until deadline_ms (sluice_sleep_now_ms() based). */
SLUICE_TASK_API SLUICE_TASK_MUST_CHECK int
sluice_mutex_lock_until(sluice_mutex *m, int64_t deadline_ms,
                        sluice_token *token, sluice_error *err);
/* 0, or SLUICE_TASK_ERROR if the caller does not hold m. */
SLUICE_TASK_API int sluice_mutex_unlock(sluice_mutex *m, sluice_error *err);

/* ---- trackers ------------------------------------------------------------ */

/* A tracker runs tasks, each on its own thread, and keeps their score. */
typedef struct sluice_tracker sluice_tracker;

/* A task. cancel is the tracker's token: poll it, or pass it to
 * sluice_sleep / sluice_mutex_lock*, and return soon after it is cancelled.
 * Return 0 on success; SLUICE_TASK_CANCELLED if it stopped because of the
 * token; anything else is a failure, described in err. */
typedef int (*sluice_task_fn)(void *arg, sluice_token *cancel,
                              sluice_error *err);

/* What a tracker does when a task fails (its function returned an error). */
typedef enum sluice_tracker_policy {
    SLUICE_TRACKER_INHERIT = 0,    /* the parent's policy; a root: LOG_ONLY */
    SLUICE_TRACKER_LOG_ONLY,       /* count it, keep the error, report it */
    SLUICE_TRACKER_CANCEL_ON_ERROR,/* ... and cancel the tracker */
    SLUICE_TRACKER_CANCEL_AFTER,   /* ... cancel after max_failures failures */
    SLUICE_TRACKER_RESTART         /* ... run it again after a backoff */
} sluice_tracker_policy;

typedef enum sluice_tracker_event_kind {
    SLUICE_TRACKER_EV_STARTED = 1, /* the function is about to run */
    SLUICE_TRACKER_EV_FAILED,      /* it returned an error (ev->error) */
    SLUICE_TRACKER_EV_RESTARTING,  /* it runs again after ev->delay_ms */
    SLUICE_TRACKER_EV_GAVE_UP,     /* too many restarts: not run again */
    SLUICE_TRACKER_EV_FINISHED,    /* it returned 0 */
    SLUICE_TRACKER_EV_CANCELLED    /* stopped, or never ran, by a cancel */
} sluice_tracker_event_kind;

typedef struct sluice_tracker_event {
    sluice_tracker_event_kind kind;
    sluice_tracker *tracker;       /* the tracker that runs the task */
    const char *tracker_name;
    void *arg;                     /* the task's user arg */
    uint64_t task_id;              /* 1, 2, ... per tracker, in spawn order */
    const char *error;             /* FAILED, GAVE_UP: the message; else NULL */
    int64_t delay_ms;              /* RESTARTING: the backoff chosen */
    unsigned restarts;             /* restarts of this task so far */
    int final;                     /* 1 on the task's last event */
} sluice_tracker_event;

/* Called on the task's thread, outside every lock of the tracker, possibly
 * from several threads at once. ev and its strings live for the call only.
 * It may call sluice_tracker_* on any tracker except join and free. */
typedef void (*sluice_tracker_event_fn)(const sluice_tracker_event *ev,
                                        void *user);

/* Zeroed options are valid: inherit everything (a root: no limit,
 * LOG_ONLY, no callback). */
typedef struct sluice_tracker_options {
    const char *name;              /* copied (63 bytes kept); NULL: "tracker" */
    /* Semaphore scheduler: 0 inherits the parent's (shared: the parent and
     * its children together run at most N; a root: unlimited); N > 0 gives
     * this tracker its own N permits; < 0 its own, unlimited. A task beyond
     * the limit waits (queued) until a permit frees or it is cancelled. */
    int max_running;
    sluice_tracker_policy policy;  /* with the four fields below */
    int max_failures;              /* CANCEL_AFTER: >= 1 */
    int64_t backoff_min_ms;        /* RESTART: first delay, >= 0 */
    int64_t backoff_max_ms;        /* RESTART: cap, >= backoff_min_ms */
    /* RESTART intensity: a task that would be restarted more than
     * max_restarts times within period_ms is given up instead. */
    int max_restarts;              /* >= 0 */
    int64_t period_ms;             /* > 0 */
    /* Events. on_event NULL inherits the parent's callback and user. */
    sluice_tracker_event_fn on_event;
    void *event_user;
} sluice_tracker_options;

/* Each task counts once in issued, and is always in exactly one of active
 * (running, or in a restart backoff), queued (waiting for a permit),
 * succeeded, failed (its final run failed, or it was given up), cancelled:
 *     issued == active + queued + succeeded + failed + cancelled.
 * Failed runs in total = failed + restarts. rejected counts refused spawns. */
typedef struct sluice_tracker_metrics {
    uint64_t issued, active, queued, succeeded, failed, cancelled, rejected;
    uint64_t restarts, given_up;
} sluice_tracker_metrics;

/* A new tracker. With a parent, it is a child: its token is a child of the
 * parent's (a parent's cancel reaches it, its own cancel stays in it), the
 * parent's join waits for it first, and options left at 0 are inherited.
 * opts NULL: all zero. NULL on error (bad options, no memory), err set. */
SLUICE_TASK_API sluice_tracker *
sluice_tracker_new(sluice_tracker *parent, const sluice_tracker_options *opts,
                   sluice_error *err);
/* Run fn(arg, token, err) once on a new thread. Returns 0 when accepted;
 * SLUICE_TASK_ERROR (counted as rejected) when t is closed or a thread
 * cannot be made. arg must stay valid until the task's final event. */
SLUICE_TASK_API int sluice_tracker_spawn(sluice_tracker *t, sluice_task_fn fn,
                                         void *arg, sluice_error *err);
/* Like spawn, but call fn again and again (sleeping interval_ms between
 * calls, cancellably; 0 for none) while it returns 0 and the token is live.
 * It ends cancelled when the token stops it, failed when fn fails. */
SLUICE_TASK_API int sluice_tracker_loop(sluice_tracker *t, sluice_task_fn fn,
                                        void *arg, int64_t interval_ms,
                                        sluice_error *err);
/* Cancel t's token: its tasks (queued, running, in backoff) and its
 * children's. The tracker stays open; restarts stop. */
SLUICE_TASK_API void sluice_tracker_cancel(sluice_tracker *t);
/* The tracker's token (valid until t is freed), e.g. as a parent token. */
SLUICE_TASK_API sluice_token *sluice_tracker_token(sluice_tracker *t);
/* Refuse new spawns on t and its children. Running tasks go on. */
SLUICE_TASK_API void sluice_tracker_close(sluice_tracker *t);
/* Close t, then wait for its children's tasks (each child joined the same
 * way) and then its own. Does not cancel: cancel first to stop loops. */
SLUICE_TASK_API int sluice_tracker_join(sluice_tracker *t, sluice_error *err);
/* The same, for at most timeout_ms (>= 0). Returns SLUICE_TASK_TIMEDOUT if
 * tasks still run when it expires: cancel and join again, or free anyway. */
SLUICE_TASK_API int sluice_tracker_join_timeout(sluice_tracker *t,
                                                int64_t timeout_ms,
                                                sluice_error *err);
/* Copy the counters (a consistent snapshot of t alone, not its children). */
SLUICE_TASK_API void sluice_tracker_get_metrics(sluice_tracker *t,
                                                sluice_tracker_metrics *out);
/* 1 and the message of t's latest failure in out, or 0 if none yet. */
SLUICE_TASK_API int sluice_tracker_last_error(sluice_tracker *t,
                                              sluice_error *out);
SLUICE_TASK_API const char *sluice_tracker_name(const sluice_tracker *t);
/* Free t. Normally after join. If tasks still run, t is closed, cancelled
 * and abandoned: the last of them releases it (their args and the event
 * callback must stay valid until then). Children stay valid (own free). */
SLUICE_TASK_API void sluice_tracker_free(sluice_tracker *t);

#ifdef __cplusplus
}
#endif

#endif
