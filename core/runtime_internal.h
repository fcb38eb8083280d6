/*
 * runtime_internal.h -- the objects of a running runtime: loggers with
 * their lanes, and bindings (one sink on one lane of one logger, with its
 * cursor, counters and retained backlog); sink instances are sink.c's
 * (sink_internal.h). lifecycle.c owns the runtime's life (the states below,
 * its references, close and destruction); assemble.c fills a new one in;
 * reload.c replaces parts of a running one; producer.c, logger.c, stats.c,
 * worker.c and supervisor.c use it.
 *
 * A logger is two kinds of sluice_logger:
 *   the face        what the host holds (sluice_logger_get): its level, its
 *                   bits, its pre-hooks and scheduler, its name. It stays
 *                   the same object for the runtime's life (a husk after).
 *   a generation    what its records go to: the lanes' queues, the
 *                   bindings, the fallback, the base fields, the policies
 *                   of one configuration. The face's gen is the one logging
 *                   calls write into; a reload that changes the logger makes
 *                   a new one and retires the old, which drains into its
 *                   sinks and ends (gens lists them, newest first). Workers
 *                   see only their binding's generation (b->logger).
 * The runtime also lists every generation it ever published, oldest first
 * (first_gen, next_gen): a list that is only appended to, read without a
 * lock by the crash handler (crash.c), which cannot take gens_lock nor
 * trust rt->loggers (a reload swaps and frees that array).
 * Both are built from the same struct so that a generation carries what
 * the run loop reads of "its logger" under the same names.
 */
#ifndef SLUICE_RUNTIME_INTERNAL_H
#define SLUICE_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <sluice/sluice.h>

#include "format_internal.h"
#include "hooked_internal.h"
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
    _Atomic uint64_t rejected;     /* refused for good by its sink */
    _Atomic uint64_t dead_lettered; /* of rejected: the dead letter took */

    _Atomic bool task_active;      /* a supervisor task runs it */
    struct sluice_tracker *tracker; /* its own child of the supervisor's:
                                       close cancels it to cut a backoff */
    sluice_binding_stats closed_stats; /* as close left them */

    /* reload.c */
    _Atomic bool cancelled;        /* a reload gave up on its backlog: the
                                      run loop ends at its next batch */
    _Atomic bool retired;          /* its generation is freed: the stats
                                      calls read closed_stats */
    struct sluice_logger *after;   /* a generation whose bindings of the
                                      same sink must end before this one
                                      writes (its face's older one), or NULL */
    const sluice_sink_instance *after_sink; /* that sink there: the same
                                      instance, or the one a changed sink
                                      of the same name replaced (compared,
                                      never followed) */
    bool released;                 /* no longer counted in sink->users */
};

typedef struct sluice_hook_slot {
    void *fn;                      /* sluice_pre_hook_fn or _post_hook_fn */
    void *user;
} sluice_hook_slot;

/* One lane's post-hook stage (worker.c): run by whichever of the lane's
 * workers comes first, through the queue's lead cursor; what the hooks
 * made of each record is kept in results for every sink. */
typedef struct sluice_hook_stage {
    pthread_mutex_t lock;          /* one worker hooks at a time */
    sluice_hooked *results;
} sluice_hook_stage;

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
    SLUICE_SLOW_SOFT_CRC = 1u << 7,   /* ... without SSE4.2's crc32: the
                                         general path */
    SLUICE_SLOW_NO_PRFCHW = 1u << 8   /* no prefetchw (x86 before 2014),
                                         which the straight path uses */
};

struct sluice_logger {
    struct sluice_logger_head_ head; /* must stay first: the macros read it */
    /* lane0 while slow_path is 0, NULL once it is not: all the call
     * site's inline claim reads (sluice/fast.h). Set with the bits
     * (sluice_face_set_slow_) and by a reload's new generation */
    sluice_queue *_Atomic fast;
    /* lane0 while slow_path is exactly SLUICE_SLOW_DURABLE, NULL once it
     * is anything else: the inline claim's durable twin */
    sluice_queue *_Atomic fast_durable;
    /* the face: the generation logging calls write into (acquire), and
     * its first queue, all the straight path needs */
    struct sluice_logger *_Atomic gen;
    sluice_queue *_Atomic lane0;
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
    sluice_sink_instance *dead_letter; /* takes what a sink rejected */
    sluice_field *fields;          /* base fields from field.NAME = value */
    size_t field_count;
    sluice_hook_slot pre_hooks[SLUICE_HOOKS_MAX];
    sluice_hook_slot post_hooks[SLUICE_HOOKS_MAX];
    _Atomic unsigned post_hook_count;
    /* [lanes], from its first post-hook on (set once, under hooks_lock) */
    sluice_hook_stage *_Atomic hook_stages;
    pthread_mutex_t hooks_lock;    /* adding hooks */
    _Atomic uint64_t rejected;     /* by pre-hooks */
    _Atomic uint64_t forked;       /* calls in a fork's child, dropped */
    sluice_logger_stats closed_stats; /* as close left them */
    struct sluice_logger *next_husk; /* lifecycle.c's list of closed ones */

    /* faces and generations (see the top) */
    struct sluice_logger *face;    /* a generation's face; a face's: itself */
    struct sluice_logger *gens;    /* face: its generations, newest first
                                      (gens == gen), under gens_lock */
    struct sluice_logger *older;   /* generation: the next older one */
    pthread_mutex_t gens_lock;     /* face: gens, carried, bindings' retired */
    sluice_logger_stats carried;   /* face: counters of generations freed */
    char *signature;               /* face: its settings but the level, as a
                                      reload compares them (plan.c) */
    sluice_level file_level;       /* face: the level the file says */
    /* face: its queue as the file that made it says: a reload may not
     * change it for a durable logger (reload.c) */
    char *durable_path;            /* durable = PATH, resolved; NULL: memory */
    long long queue_bytes;         /* per lane */
    unsigned queue_rings, queue_lanes;
    int durable_sync;
    long long durable_interval_ms;
    struct sluice_logger *next_removed; /* face: rt->removed, until buried */
    struct sluice_logger *_Atomic next_gen; /* generation: the next one its
                                      runtime published (release), or NULL */
};

/* Add slow-path bits to a logger (seq_cst), and take the inline claim's
 * queue away: a call that read it before is one that read the bits
 * before. Bits are never cleared. */
/* The inline claim's words of a face not yet seen by any call, whose
 * first queue is q (from its bits as they are). */
static inline void sluice_face_init_fast_(struct sluice_logger *face, sluice_queue *q)
{
    unsigned slow = atomic_load(&face->slow_path);
    atomic_init(&face->fast, slow ? NULL : q);
    atomic_init(&face->fast_durable, slow == SLUICE_SLOW_DURABLE ? q : NULL);
}

/* A reload replaced the face's first queue was with now: the inline claim
 * follows, unless a bit took it away (the word stays NULL: the exchange
 * fails). */
static inline void sluice_face_move_fast_(struct sluice_logger *face,
                                          sluice_queue *was, sluice_queue *now)
{
    sluice_queue *expect = was;
    atomic_compare_exchange_strong(&face->fast, &expect, now);
    expect = was;
    atomic_compare_exchange_strong(&face->fast_durable, &expect, now);
}

static inline void sluice_face_set_slow_(struct sluice_logger *face, unsigned bits)
{
    atomic_fetch_or(&face->slow_path, bits);
    atomic_store(&face->fast, NULL);
    atomic_store(&face->fast_durable, NULL);
}

/* The generation a logging call writes into (a face's gen). */
static inline sluice_logger *sluice_logger_gen_(sluice_logger *face)
{
    return atomic_load_explicit(&face->gen, memory_order_acquire);
}

/* Every generation of a face, newest first (under its gens_lock, or with
 * reloads excluded: close, destroy). */
#define SLUICE_FOR_EACH_GEN(face, g) \
    for (sluice_logger *g = (face)->gens; g; g = g->older)

/* Every generation rt published, oldest first (so a face's older ones
 * before its newer ones), the retired and buried ones included: without
 * a lock, from any thread (acquire loads; never unlinked, never freed
 * while rt lives). */
#define SLUICE_FOR_EACH_RUNTIME_GEN(rt, g)                                     \
    for (sluice_logger *g = atomic_load_explicit(&(rt)->first_gen,            \
                                                 memory_order_acquire);        \
         g; g = atomic_load_explicit(&g->next_gen, memory_order_acquire))

/* The bindings of a generation. */
static inline size_t sluice_gen_binding_count_(const sluice_logger *gen)
{
    return gen->lanes * gen->sinks_per_lane;
}

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
    _Atomic int flush_on_exit_ms;  /* [runtime] flush_on_exit_ms */
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

    /* reload.c: rt->loggers, rt->sinks and rt->removed change only under
     * roster_lock, and only by a reload; readers other than close take it */
    pthread_mutex_t roster_lock;
    pthread_mutex_t reload_lock;   /* one reload at a time; close waits */
    sluice_logger *removed;        /* faces a reload removed, not yet buried */
    sluice_sink_instance **old_sinks; /* instances a reload dropped that a
                                         retired generation still uses */
    size_t old_sink_count;
    const sluice_sink_api **host_apis; /* the host's sinks, for a reload */
    size_t host_api_count;
    _Atomic bool intake_stopped;   /* sluice_runtime_stop_intake was called */
    /* every generation published (see the top): appended by start and by
     * a reload's commit, one writer at a time */
    sluice_logger *_Atomic first_gen;
    sluice_logger *last_gen;       /* the writer's: where the next goes */
};

/* Add gen, complete, to rt's list of generations (start; a reload's
 * commit, before the face publishes it). */
static inline void sluice_runtime_add_gen_(sluice_runtime *rt,
                                           sluice_logger *gen)
{
    atomic_store_explicit(&gen->next_gen, NULL, memory_order_relaxed);
    if (rt->last_gen)
        atomic_store_explicit(&rt->last_gen->next_gen, gen,
                              memory_order_release);
    else
        atomic_store_explicit(&rt->first_gen, gen, memory_order_release);
    rt->last_gen = gen;
}

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
/* Free a face and every generation it has (never published). */
void sluice_logger_destroy_(sluice_logger *face);
/* Free a generation and everything it owns (queues, bindings, fields):
 * one never published. */
void sluice_gen_destroy_(sluice_logger *gen);
/* A generation no run loop uses any more: its rings and fields go, its
 * husk stays (the struct, its bindings, its queues' headers). */
void sluice_gen_bury_(sluice_logger *gen);
/* A closed face (its intake stopped, its run loops over): it and its
 * generations become husks. */
void sluice_face_bury_(sluice_logger *face);
/* Stop one logger's intake, as close's first step does. */
void sluice_face_stop_intake_(sluice_logger *face);
/* Make rt->guarded list rt and its faces (after a reload changed them):
 * in a new array, or in list (room for sluice_runtime_guard_size_(rt)).
 * The old list is freed. Close only reads it (no reload runs then). */
int sluice_runtime_guard_list_(sluice_runtime *rt, sluice_error *err);
size_t sluice_runtime_guard_size_(sluice_runtime *rt);
void sluice_runtime_guard_set_(sluice_runtime *rt, const void **list);
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
/* Give generation lg its post-hook stages (logger.c, under its face's
 * hooks_lock, at the face's first post-hook): from now on each lane's
 * records are hooked once, before any of its sinks takes them. 0, or -1
 * when out of memory. */
int sluice_hook_stages_start_(sluice_logger *lg);
/* The same in two steps, for a reload that must not fail once it commits:
 * the stages of lg's lanes made (NULL: out of memory), then installed
 * (cannot fail), or discarded when no post-hook came. */
sluice_hook_stage *sluice_hook_stages_new_(const sluice_logger *lg);
void sluice_hook_stages_install_(sluice_logger *lg, sluice_hook_stage *stages);
void sluice_hook_stages_discard_(const sluice_logger *lg,
                                 sluice_hook_stage *stages);
/* Free them (lifecycle.c, once no run loop is left). */
void sluice_hook_stages_free_(sluice_logger *lg);
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
/* A reload's new generation: a child tracker per binding (none for a
 * generation with autostart = false). On error none is left. */
int sluice_supervisor_prepare_(sluice_runtime *rt, sluice_logger *gen,
                               sluice_error *err);
/* Start its run loops (after prepare). A run loop that cannot start is
 * recorded on its binding as a failure. */
void sluice_supervisor_spawn_(sluice_logger *gen);
/* Free the trackers of a generation whose run loops all ended. */
void sluice_supervisor_forget_(sluice_logger *gen);
/* Has b's run loop ended for good (no task, none to come, not inside
 * run())? Of every binding of gen? */
bool sluice_supervisor_binding_done_(sluice_binding *b);
bool sluice_supervisor_gen_done_(sluice_logger *gen);

/* stats.c: keep the counters of a face and of its generations' bindings
 * as they are now, for the stats calls after close (lifecycle.c, just
 * before CLOSED; reload.c, for a logger it removes). */
void sluice_stats_freeze_(sluice_logger *face);
/* A generation a reload frees (its face's gens_lock held): its bindings'
 * counters frozen and marked retired, its queues' counters added to its
 * face's carried ones. */
void sluice_stats_retire_gen_(sluice_logger *gen);
/* One binding whose run loop ended for good, before its sink closes (its
 * face's gens_lock held): counters frozen, marked retired. */
void sluice_stats_retire_binding_(sluice_binding *b);

/* lifecycle.c: wake every worker and blocked producer (close, cancel). */
void sluice_runtime_wake_all_(sluice_runtime *rt);

#endif
