/*
 * runtime_internal.h -- the objects of a running runtime: sink instances,
 * loggers with their lanes, and bindings (one sink on one lane of one
 * logger, with its cursor, counters and retained backlog). Shared by
 * builder.c (creates them), runtime.c (producer calls, stats, close),
 * worker.c (the run loop) and supervisor.c (restarts).
 */
#ifndef SLUICE_RUNTIME_INTERNAL_H
#define SLUICE_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <sluice/sluice.h>

#include "format_internal.h"
#include "plugin_internal.h"
#include "queue_internal.h"

typedef struct sluice_sink_instance {
    char *name;                    /* NAME of [sink.NAME] */
    const sluice_sink_api *api;
    sluice_plugin *plugin;         /* NULL for an api the host registered */
    void *state;
    bool opened;
    bool used;                     /* bound to at least one logger */
    pthread_mutex_t lock;          /* serialises every call on state */
    sluice_format format;
    char *pattern;
} sluice_sink_instance;

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
};

typedef struct sluice_hook_slot {
    void *fn;                      /* sluice_pre_hook_fn or _post_hook_fn */
    void *user;
} sluice_hook_slot;

struct sluice_logger {
    struct sluice_logger_head_ head; /* must stay first: the macros read it */
    /* nonzero when a call cannot take the straight path: pre-hooks, or
     * several lanes. Read on every call: keep it next to the level. */
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
    _Atomic bool closing;          /* intake stopped, draining */
    _Atomic bool cancelled;        /* close's deadline passed: stop now */
    _Atomic int refs;              /* close's + one per live worker */
};

/* builder.c */
void sluice_runtime_free_(sluice_runtime *rt);
void sluice_runtime_unref_(sluice_runtime *rt);

/* worker.c: the run loop, shared by sluice_binding_run and the supervisor */
int sluice_worker_run_(sluice_binding *b, sluice_error *err);
/* Record a failure outside run() (supervisor). */
void sluice_binding_set_state_(sluice_binding *b, sluice_binding_state s);

/* supervisor.c */
int sluice_supervisor_start_(sluice_runtime *rt, sluice_error *err);
/* Wait for the supervised run loops until deadline_ns (INT64_MAX: no
 * limit), then cancel them. 0 when every one ended. */
int sluice_supervisor_stop_(sluice_runtime *rt, int64_t deadline_ns);

/* runtime.c: wake every worker and blocked producer (close, cancel). */
void sluice_queue_wake_all_(sluice_runtime *rt);

#endif
