/*
 * runtime_internal.h -- the objects of a running runtime: loggers with
 * their lanes, and bindings (one sink on one lane of one logger, with its
 * cursor, counters and retained backlog); sink instances are sink.c's
 * (sink_internal.h). lifecycle.c owns the runtime's life (the states below,
 * its references, close and destruction); assemble.c fills a new one in;
 * producer.c, logger.c, stats.c, worker.c and supervisor.c use it.
 */
#ifndef SLUICE_RUNTIME_INTERNAL_H
#define SLUICE_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <sluice/sluice.h>

#include "format_internal.h"
#include "metrics_internal.h"
#include "plugin_internal.h"
#include "queue_internal.h"
#include "sink_internal.h"

/* initial-exec: a plain %fs-relative load instead of __tls_get_addr; fine
 * for a library linked at start-up (and for dlopen with static TLS room). */
#define SLUICE_TLS _Thread_local __attribute__((tls_model("initial-exec")))

typedef enum sluice_scheduler_kind {
    SLUICE_SCHEDULER_THREAD = 0,   /* a lane per thread, by thread id */
    SLUICE_SCHEDULER_ROUND_ROBIN   /* each new thread takes the next lane */
} sluice_scheduler_kind;

struct sluice_binding {
    sluice_logger *logger;
    sluice_sink_instance *sink;
    sluice_queue *queue;
    unsigned lane;
    unsigned cursor;               /* index of its cursor in the queue */

    _Atomic int in_run;            /* guards against two run()s */
    pthread_mutex_t mu;            /* state, has_failed, last_error */
    sluice_binding_state state;
    bool is_running;
    bool has_failed;
    char last_error[SLUICE_ERROR_MAX];
    int64_t last_failure_ns;
    _Atomic bool diverting;        /* given up: drain into the fallback */

    _Atomic uint64_t written;
    _Atomic uint64_t failures;
    _Atomic uint64_t runs;
    _Atomic uint64_t given_up;
    _Atomic uint64_t diverted;

    _Atomic bool task_active;      /* a supervisor task runs it */
    struct sluice_tracker *tracker; /* its own child of the supervisor's:
                                       close cancels it to cut a backoff */
    sluice_binding_stats closed_stats; /* as close left them */
};

typedef struct sluice_hook_slot {
    void *fn;                      /* sluice_pre_hook_fn or _post_hook_fn */
    void *user;
} sluice_hook_slot;

/* Bits of a logger's slow_path word: why a call cannot take the straight
 * path. */
enum {
    SLUICE_SLOW_LANES = 1u << 0,      /* several lanes: a scheduler picks */
    SLUICE_SLOW_PRE_HOOKS = 1u << 1,  /* pre-hooks run on the caller */
    SLUICE_SLOW_NO_TSC = 1u << 2,     /* no invariant TSC for the time */
    SLUICE_SLOW_CLOSING = 1u << 3,    /* close began: calls return at once */
    SLUICE_SLOW_CLOSED = 1u << 4,     /* close returned: the logger is a
                                         husk, only its bits are read */
    SLUICE_SLOW_FORKED = 1u << 5,     /* a fork's child: calls are dropped */
    SLUICE_SLOW_DURABLE = 1u << 6,    /* a durable queue: alone, the
                                         straight path's durable twin */
    SLUICE_SLOW_SOFT_CRC = 1u << 7    /* ... without SSE4.2's crc32: the
                                         general path */
};

struct sluice_logger {
    struct sluice_logger_head_ head; /* must stay first: the macros read it */
    /* SLUICE_SLOW_* bits; nonzero when a call cannot take the straight
     * path. Read on every call: keep it next to the level. */
    _Atomic unsigned slow_path;
    _Atomic unsigned pre_hook_count;
    _Atomic(sluice_scheduler_fn) scheduler_fn;
    void *_Atomic scheduler_user;
    char *name;
    sluice_runtime *rt;
    sluice_level level;            /* configured level (head holds the live) */
    unsigned lanes;
    sluice_queue **queues;         /* one per lane */
    size_t sinks_per_lane;
    sluice_binding *bindings;      /* lanes * sinks_per_lane, lane-major */
    sluice_overflow overflow;
    int block_timeout_ms;          /* -1: no limit */
    int flush_interval_ms;
    bool autostart;
    sluice_scheduler_kind scheduler;
    sluice_sink_instance *fallback;
    sluice_field *fields;          /* base fields from field.NAME = value */
    size_t field_count;
    sluice_hook_slot pre_hooks[SLUICE_HOOKS_MAX];
    sluice_hook_slot post_hooks[SLUICE_HOOKS_MAX];
    _Atomic unsigned post_hook_count;
    pthread_mutex_t hooks_lock;    /* adding hooks */
    _Atomic uint64_t rejected;     /* by pre-hooks */
    _Atomic uint64_t forked;       /* calls in a fork's child, dropped */
    sluice_logger_stats closed_stats; /* as close left them */
    struct sluice_logger *next_husk; /* lifecycle.c's list of closed ones */
};

struct sluice_runtime {
    sluice_logger **loggers;
    size_t logger_count;
    sluice_sink_instance **sinks;
    size_t sink_count;

    int backoff_min_ms;
    int backoff_max_ms;
    int intensity_restarts;        /* more than this many restarts ... */
    int intensity_period_ms;       /* ... within this period: give up */

    struct sluice_tracker *tracker; /* the supervisor's tasks */
    bool forked;                   /* a copy in a fork's child */
    struct sluice_runtime *live_next; /* lifecycle.c's list of live ones */
    int flush_on_exit_ms;          /* [runtime] flush_on_exit_ms */
    bool crash_flush;              /* [runtime] crash_flush */
    sluice_event_fn event_fn;      /* the host's, or NULL */
    void *event_user;
    _Atomic int state;             /* sluice_runtime_state */
    bool published;                /* start succeeded: loggers leave husks */
    const void **guarded;          /* the runtime and its loggers: what an
                                      API call can be inside of (guard.c) */
    size_t guarded_count;
    _Atomic bool cancelled;        /* close's deadline passed: stop now */
    _Atomic int refs;              /* see lifecycle.c */
    sluice_metrics_listen metrics_listen; /* [runtime] metrics_listen */
    struct sluice_metrics_http *metrics_http; /* its server, while it runs
                                                 (metrics_http.c) */
};

/* The life of a runtime (lifecycle.c has the whole story):
 *   STARTING  assembled, its sinks open; the supervisor is being started
 *   RUNNING   sluice_builder_start returned it: records are accepted
 *   CLOSING   sluice_close runs: intake stopped, the queues drain
 *   CLOSED    sluice_close returned; the memory lives on only while a run
 *             loop stuck in a sink still holds a reference */
typedef enum sluice_runtime_state {
    SLUICE_RUNTIME_STARTING = 0,
    SLUICE_RUNTIME_RUNNING,
    SLUICE_RUNTIME_CLOSING,
    SLUICE_RUNTIME_CLOSED
} sluice_runtime_state;

/* lifecycle.c */
/* A new, empty runtime in STARTING with one reference (the host's). */
sluice_runtime *sluice_runtime_new_(void);
/* Start an assembled runtime: on success it is RUNNING; on error it is
 * undone and freed, with err set. */
int sluice_runtime_start_(sluice_runtime *rt, sluice_error *err);
/* Free a runtime that never started (assembly failed). NULL is ignored. */
void sluice_runtime_discard_(sluice_runtime *rt);
/* Free a logger and everything it owns (its queues, bindings, fields). */
void sluice_logger_destroy_(sluice_logger *lg);
/* References: the host's (until close), one per supervised task, one per
 * host-driven run loop while it runs. The last unref frees. */
void sluice_runtime_ref_(sluice_runtime *rt);
void sluice_runtime_unref_(sluice_runtime *rt);
static inline sluice_runtime_state sluice_runtime_state_(sluice_runtime *rt)
{
    return (sluice_runtime_state)atomic_load_explicit(&rt->state,
                                                      memory_order_acquire);
}

/* worker.c: the run loop, shared by sluice_binding_run and the supervisor */
int sluice_worker_run_(sluice_binding *b, sluice_error *err);
/* Record a failure outside run() (supervisor). */
void sluice_binding_set_state_(sluice_binding *b, sluice_binding_state s);

/* supervisor.c */
/* Tell the host's event callback (if any) what happened to b. */
void sluice_event_emit_(sluice_binding *b, sluice_event_kind kind,
                        const char *message, int64_t delay_ms);
/* Start a task for every autostarted binding. On error some may have
 * started: the caller (lifecycle.c) stops them. */
int sluice_supervisor_start_(sluice_runtime *rt, sluice_error *err);
/* Close began: bindings with a fallback get no more restarts (a backoff
 * ends at once); their backlog goes to the fallback as their tasks end. */
void sluice_supervisor_close_(sluice_runtime *rt);
/* Wait for the supervised run loops until deadline_ns (INT64_MAX: no
 * limit), then cancel them; free the trackers. 0 when every one ended. */
int sluice_supervisor_stop_(sluice_runtime *rt, int64_t deadline_ns);

/* stats.c: keep the counters of lg and its bindings as they are now, for
 * the stats calls after close (lifecycle.c, just before CLOSED). */
void sluice_stats_freeze_(sluice_logger *lg);

/* lifecycle.c: wake every worker and blocked producer (close, cancel). */
void sluice_runtime_wake_all_(sluice_runtime *rt);

#endif
