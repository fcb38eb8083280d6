/*
 * sluice/sluice.h -- the embedding API: runtime, loggers, logging calls,
 * counters, and the builder that the INI loader itself is written on.
 *
 *     sluice_runtime *rt;
 *     sluice_error err;
 *     if (sluice_open("app.ini", &rt, &err) != 0) {
 *         fprintf(stderr, "%s\n", err.message);
 *         return 1;
 *     }
 *     sluice_logger *lg = sluice_logger_get(rt, "app");
 *     SLUICE_INFO(lg, "user %s logged in after %d tries", name, tries);
 *     sluice_close(rt, 2000);
 *
 * Thread safety: every call below may be made from any thread at any time
 * between open and the return of close, unless its comment says otherwise.
 *
 * During and after close (what each call does once sluice_close has begun
 * on another thread, and after it returned):
 *   logging calls      a call that starts after close began returns at
 *                      once and counts nothing; one blocked on a full
 *                      queue returns, its record refused and counted in
 *                      stats.closed; one already inside finishes, and
 *                      close waits for it. After close returned, still
 *                      harmless: the logger pointer stays valid (a small
 *                      husk of it is kept), the call returns at once.
 *   sluice_set_level   ignored; sluice_get_level says SLUICE_LEVEL_OFF
 *   hooks, scheduler   refused (-1)
 *   stats calls        during close: live counters; after: the counters
 *                      as close left them (0)
 *   sluice_logger_flush  returns -1 at once (close drains by itself)
 *   sluice_binding_run during close: drains and returns 0; after close
 *                      returned: returns 0 at once (what was left was
 *                      counted by close). Do not call it again after 0.
 *   sluice_binding_resume  refused (-1)
 *   sluice_logger_get, sluice_runtime_reopen, sluice_runtime_stop_intake,
 *   sluice_runtime_metrics_write
 *                      during close: as usual (get returns NULL and
 *                      metrics_write -1 once close is done); after close
 *                      returned: rt is freed, do not call them.
 *   sluice_runtime_reload  during close: refused (-1). A close that begins
 *                      while a reload runs waits for it to return; the
 *                      reload stops waiting for the sinks it removed, and
 *                      close drains them. After close returned: rt is
 *                      freed, do not call it.
 *   the metrics server ([runtime] metrics_listen) stops as close begins:
 *                      a scrape being answered finishes first, then the
 *                      port is closed.
 * In the child of a fork(): see sluice_close and docs/delivery.md.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sluice/sink.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libsluice is built with hidden visibility; what is declared here is its
 * exported API. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* SLUICE_VERSION (e.g. "0.1.0"), SLUICE_VERSION_MAJOR, _MINOR, _PATCH and
 * SLUICE_VERSION_NUMBER: the version of these headers, and the ABI promise
 * that goes with it. */
#include <sluice/version.h>

/* The version of the library the program runs with: SLUICE_VERSION and
 * SLUICE_VERSION_NUMBER as libsluice was built. Any thread, any time. */
const char *sluice_version(void);
int sluice_version_number(void);

typedef struct sluice_runtime sluice_runtime;
typedef struct sluice_logger sluice_logger;
/* One sink bound to one lane of one logger: it has its own cursor, worker,
 * counters and retained backlog. */
typedef struct sluice_binding sluice_binding;
typedef struct sluice_builder sluice_builder;
typedef struct sluice_callsite sluice_callsite; /* a deferred call's site */

/* ---- opening and closing -------------------------------------------- */

/* Read an INI file, load its plugins, open its sinks and start its workers.
 * On any error nothing is left started; err says FILE:LINE: what. */
int sluice_open(const char *ini_path, sluice_runtime **rt, sluice_error *err);
/* The same from INI text held in memory (errors name "<string>"). */
int sluice_open_string(const char *ini_text, sluice_runtime **rt,
                       sluice_error *err);

/* Stop accepting records, drain every queue, flush and close the sinks, and
 * join the workers, all within timeout_ms (negative: wait as long as it
 * takes). In order: intake stops (see "During and after close" above);
 * close waits for the calls already inside; a binding whose sink fails,
 * or failed, and that has a fallback, sends what is left to the fallback
 * (counted as diverted) with no further retry; close waits for the run
 * loops, supervised and host-driven (autostart = false: close waits, up
 * to timeout_ms, for your run loop to drain each binding, and drains a
 * binding whose sink failed into its fallback itself); when timeout_ms
 * passes, the run loops are cancelled.
 * Returns 0 when everything accepted was delivered, otherwise the number
 * of record deliveries left undelivered (summed over sinks). Frees rt (a
 * run loop stuck inside a sink keeps the memory until it comes back); call
 * it once, and not from a post-hook or an event callback (they run on the
 * runtime's run loops, which close waits for). A pre-hook may call it: its
 * own record is then refused. In a forked child, it frees the child's
 * copy without touching the sinks (they are the parent's) and returns 0. */
long sluice_close(sluice_runtime *rt, int timeout_ms);

/* Stop accepting records now, without closing: calls from now on return
 * at once (not counted), and calls blocked on a full queue return, their
 * record refused (counted in stats.closed). The queues go on draining.
 * For a thread that must get producers out of a blocking call before it
 * can close (a signal-handling thread). Idempotent; close is still
 * needed. */
void sluice_runtime_stop_intake(sluice_runtime *rt);

/* The logger declared as [logger.NAME], or NULL. The pointer stays valid
 * after close, and across reloads: the same pointer while the logger is in
 * the configuration, a husk (calls return at once) once a reload removed
 * it. */
sluice_logger *sluice_logger_get(sluice_runtime *rt, const char *name);

/* Ask every sink that can (a file sink after logrotate) to reopen its
 * destination. Also what SIGHUP does in `sluice run`. */
int sluice_runtime_reopen(sluice_runtime *rt, sluice_error *err);

/* Apply a new configuration to a running runtime, without a restart and
 * without losing what is queued (docs/configuration.md, "Reloading"):
 *  - The new file is validated first, completely, as `sluice check` does
 *    it, with what a reload cannot change ([runtime] restart_backoff_ms,
 *    restart_intensity, metrics_listen; a logger with autostart = false
 *    beyond its level). If anything is wrong, nothing changes: the old
 *    configuration runs on untouched and err lists every error as
 *    FILE:LINE: message (one per line), and -1 is returned. New sinks that
 *    fail to open undo the reload the same way.
 *  - A sink whose section is unchanged keeps its instance, open. A logger
 *    whose section is unchanged but for its level, and whose sinks are all
 *    unchanged, keeps its queues, cursors, backlogs and run loops; a new
 *    level applies at once, in place (a level the host set stays, unless
 *    the file's level changed).
 *  - Added sinks and loggers open. Any other logger of the same name is
 *    replaced: it gets a new queue; records logged from now on go there,
 *    and its old queue drains into its old sinks first. A sink that both
 *    write to gets the old records, then the new ones, each once and in
 *    order (the old ones without a deadline: a backlog of a sink that is
 *    down waits for it). The logger pointer stays the same and valid:
 *    threads may go on logging through it during the reload, without a
 *    lock; hooks added to it stay.
 *  - Removed loggers, and the old queue's run loops of sinks a logger no
 *    longer writes to, get [runtime] reload_timeout_ms (of the new file,
 *    default 5000) to drain; then they stop and what they hold is
 *    counted. A removed logger's pointer stays valid as a husk: calls on it
 *    return at once, as after close, and its stats are as they ended. A
 *    sink nothing writes to any more is closed.
 *  - Binding pointers of a replaced logger are retired: the stats calls
 *    give their counters as they ended; sluice_logger_binding gives the
 *    new ones. The event callback stays the one the runtime started with;
 *    the sinks the host registered (sluice_builder_add_sink_api) stay
 *    available to `plugin =`.
 * Returns 0 when every record of the removed sinks was written, a positive
 * count of the records they could not deliver (summed over sinks, as
 * sluice_close counts), or -1 (err set) when nothing changed. One reload at
 * a time (a second waits). During close: refused (-1); close called during
 * a reload waits for it, and the reload stops waiting for its old sinks at
 * once (close drains them). Not from a hook or an event callback. In a
 * forked child: refused. */
int sluice_runtime_reload(sluice_runtime *rt, const char *ini_path,
                          sluice_error *err);
/* The same from a builder (sluice_builder_new/_from_file/_from_string,
 * with the host's sinks added to it); b is freed in every case. */
int sluice_runtime_reload_builder(sluice_runtime *rt, sluice_builder *b,
                                  sluice_error *err);

/* ---- the builder: everything the INI file can say, said from C ------- */

/* source names the origin in messages ("app.ini", "<api>"). */
sluice_builder *sluice_builder_new(const char *source);
/* section is "runtime", "sink.NAME" or "logger.NAME"; keys and values are
 * those of the INI file (see docs/configuration.md). line (0 if none) is
 * quoted in errors. Errors are also collected for sluice_builder_start. */
int sluice_builder_set(sluice_builder *b, const char *section, const char *key,
                       const char *value, int line, sluice_error *err);
/* Declare a section with no keys yet (so an empty [sink.x] is still seen). */
int sluice_builder_section(sluice_builder *b, const char *section, int line,
                           sluice_error *err);
/* Make `plugin = name` resolve to a sink compiled into the host program
 * instead of a .so file. api must outlive the runtime. */
int sluice_builder_add_sink_api(sluice_builder *b, const sluice_sink_api *api,
                                sluice_error *err);
/* A builder holding an INI file's (or text's) settings, to add host sinks
 * or an event callback to before starting it. NULL when the file cannot be
 * read or memory runs out (err says why); syntax errors are collected and
 * reported by sluice_builder_start with their lines. */
sluice_builder *sluice_builder_from_file(const char *ini_path, sluice_error *err);
sluice_builder *sluice_builder_from_string(const char *ini_text, sluice_error *err);

/* What happens to a binding, as it happens: for a host that reports it
 * (the `sluice` command prints each on stderr). */
typedef enum sluice_event_kind {
    SLUICE_EVENT_FAILED = 1,   /* its sink failed; message says why */
    SLUICE_EVENT_BACKOFF,      /* the supervisor restarts it in delay_ms */
    SLUICE_EVENT_GIVEN_UP,     /* too many restarts: see fallback, resume */
    SLUICE_EVENT_DIVERTING,    /* its records go to the logger's fallback */
    SLUICE_EVENT_RECOVERED     /* it writes again after a failure */
} sluice_event_kind;

typedef struct sluice_event {
    sluice_event_kind kind;
    const char *logger;        /* NAME of [logger.NAME] */
    const char *sink;          /* NAME of [sink.NAME] */
    unsigned lane;
    const char *message;       /* FAILED, GIVEN_UP: the error; else "" */
    int64_t delay_ms;          /* BACKOFF: the delay chosen; else 0 */
    uint64_t pending;          /* the binding's backlog now */
} sluice_event;

/* Called on a worker or supervisor thread, possibly from several at once;
 * ev and its strings live for the call only. It must not block for long,
 * and must not call sluice_close. */
typedef void (*sluice_event_fn)(void *user, const sluice_event *ev);
/* Install fn for the runtime b will start (NULL: none). */
int sluice_builder_set_event_fn(sluice_builder *b, sluice_event_fn fn,
                                void *user, sluice_error *err);
const char *sluice_event_kind_name(sluice_event_kind kind);

/* Every error of b's configuration, one call each, in the order found,
 * when sluice_builder_start or sluice_runtime_reload_builder fails on them
 * (err holds as many whole ones as fit, then "(and N more)"). message
 * lives for the call only. NULL: none. */
typedef void (*sluice_error_fn)(void *user, const char *message);
int sluice_builder_set_error_fn(sluice_builder *b, sluice_error_fn fn,
                                void *user, sluice_error *err);

/* Validate everything, load plugins, open sinks, start workers. Frees b in
 * every case. On error nothing is left started. */
int sluice_builder_start(sluice_builder *b, sluice_runtime **rt,
                         sluice_error *err);
void sluice_builder_free(sluice_builder *b);

/* ---- logging ------------------------------------------------------------ */

/* Format in the caller (vsnprintf) and queue the text. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void sluice_logf(sluice_logger *lg, sluice_level lvl, const char *fmt, ...);
/* Queue len bytes of pre-formatted text; '%' is never interpreted. */
void sluice_log_str(sluice_logger *lg, sluice_level lvl, const char *msg,
                    size_t len);
void sluice_set_level(sluice_logger *lg, sluice_level lvl);
sluice_level sluice_get_level(sluice_logger *lg);
/* Parse "trace".."fatal", "off" (also "warning", "err", "critical"). */
int sluice_level_parse(const char *name, sluice_level *out);

/* A field given at the call: both strings are copied into the record. */
typedef struct sluice_kv {
    const char *key;
    const char *value;
} sluice_kv;

/* Queue text with fields (kv[0..n)), as sluice_log_str does. */
void sluice_log_str_kv(sluice_logger *lg, sluice_level lvl, const char *msg,
                       size_t len, const sluice_kv *kv, size_t n);

/* ---- hooks and lanes ------------------------------------------------------ */

#define SLUICE_HOOK_EXTRA_MAX 8
#define SLUICE_HOOKS_MAX 8

/* What a pre-hook sees, on the caller's thread, before the record is
 * queued. It may append up to SLUICE_HOOK_EXTRA_MAX fields to extra (the
 * strings need only live until the hook's caller returns: they are copied).
 */
typedef struct sluice_hook_record {
    sluice_level level;
    const sluice_callsite *callsite;  /* deferred calls; NULL for text */
    const char *text;                 /* sluice_log_str/logf: the text */
    size_t text_len;
    const sluice_kv *fields;          /* the call's own fields */
    size_t field_count;
    sluice_kv extra[SLUICE_HOOK_EXTRA_MAX];
    size_t extra_count;
} sluice_hook_record;

/* Return false to reject the record: it is counted as dropped (and in
 * rejected), never written. Runs on the logging thread: keep it short. */
typedef bool (*sluice_pre_hook_fn)(void *user, sluice_hook_record *r);
/* Runs once per record, on one of the logger's run loops, before any sink
 * renders it; every sink of the logger then gets what the post-hooks made
 * of it (a sink's retry does not run them again). The hooks of a logger
 * run in the order they were added, each seeing the record as the one
 * before left it; for one lane, calls never overlap (with workers = N,
 * the lanes' run at once, on different threads).
 *   It may change: r->message and r->message_len, r->fields and
 *   r->field_count (a new array: the fields it was given first, then its
 *   own, so that a key of its own replaces an earlier one), r->time_ns.
 *   Any other change (level, logger, call site, line, ...) is ignored.
 *   Fields arrive merged in this order: the logger's base fields, the
 *   pre-hooks', the call's; when rendered, a later key replaces an
 *   earlier one, in the place where the key first appeared.
 *   What it points r at must stay valid until its next call on the same
 *   thread: the runtime copies the record once the last post-hook has
 *   returned, before the next record is hooked: thread-local buffers
 *   reused at each call are fine.
 * A record taken by a sink before the logger's first post-hook was added
 * is written without hooks, to every sink alike. */
typedef void (*sluice_post_hook_fn)(void *user, sluice_record *r);

/* Add a hook (at most SLUICE_HOOKS_MAX of each kind per logger). Safe at
 * any time; a call in flight may miss a hook added meanwhile. A logger's
 * first post-hook gives it a post-hook stage: from then on its records
 * pass the hooks before any sink takes them, and their results are kept
 * (on the heap) until every sink has passed them: while one sink is far
 * behind, about as much memory as its backlog in the queue. */
int sluice_logger_add_pre_hook(sluice_logger *lg, sluice_pre_hook_fn fn,
                               void *user, sluice_error *err);
int sluice_logger_add_post_hook(sluice_logger *lg, sluice_post_hook_fn fn,
                                void *user, sluice_error *err);

/* Pick the lane (0..lanes-1) for a record of a logger with workers = N.
 * Order is kept per thread only if it picks the same lane for a thread. */
typedef unsigned (*sluice_scheduler_fn)(void *user, uint64_t thread_id,
                                        sluice_level level, unsigned lanes);
/* Install a scheduler instead of the configured one (NULL: back to it).
 * Install it before logging from several threads. */
int sluice_logger_set_scheduler(sluice_logger *lg, sluice_scheduler_fn fn,
                                void *user, sluice_error *err);

/* Wait until every record accepted so far has been written by every sink of
 * lg (or its binding gave up), then flush the sinks. 0 on success, -1 on
 * timeout. */
int sluice_logger_flush(sluice_logger *lg, int timeout_ms);

/* Compile-time threshold: calls below it vanish from the binary. */
#ifndef SLUICE_ACTIVE_LEVEL
#define SLUICE_ACTIVE_LEVEL SLUICE_LEVEL_TRACE
#endif
/* Longest string argument copied by the deferred macros; longer is cut. */
#define SLUICE_STRING_MAX 4096

/* Deferred formatting: SLUICE_INFO(lg, "x=%d s=%s", x, s) copies x and the
 * bytes of s into the queue and the worker formats them, with output
 * identical to snprintf's. The format must be a string literal; arguments
 * may be any integer type, bool, float, double, char pointers (copied, at
 * most SLUICE_STRING_MAX bytes; NULL prints "(null)") and other pointers
 * (printed with %p). Up to 23 arguments. The same macros work in C++17 and
 * later (sluice_cxx.h, included below, says which C++ types they take). */
#define SLUICE_LOG(lg, lvl, ...) \
    SLUICE_LOG_I_(lg, lvl, SLUICE_NARG_(__VA_ARGS__), __VA_ARGS__)
#define SLUICE_TRACE(lg, ...) SLUICE_LOG_AT_(lg, SLUICE_LEVEL_TRACE, __VA_ARGS__)
#define SLUICE_DEBUG(lg, ...) SLUICE_LOG_AT_(lg, SLUICE_LEVEL_DEBUG, __VA_ARGS__)
#define SLUICE_INFO(lg, ...) SLUICE_LOG_AT_(lg, SLUICE_LEVEL_INFO, __VA_ARGS__)
#define SLUICE_WARN(lg, ...) SLUICE_LOG_AT_(lg, SLUICE_LEVEL_WARN, __VA_ARGS__)
#define SLUICE_ERROR(lg, ...) SLUICE_LOG_AT_(lg, SLUICE_LEVEL_ERROR, __VA_ARGS__)
#define SLUICE_FATAL(lg, ...) SLUICE_LOG_AT_(lg, SLUICE_LEVEL_FATAL, __VA_ARGS__)

/* The same with fields given at the call:
 *     SLUICE_INFO_KV(lg, SLUICE_KV({"user", name}, {"order", id}),
 *                    "paid %.2f", amount);
 * Keys and values are strings, copied (each at most SLUICE_STRING_MAX). */
/* One parenthesized (array, count) pair, so that it stays one macro
 * argument however deep it is passed; unwrapped at the call. */
#ifndef __cplusplus /* C++: sluice_cxx.h */
#define SLUICE_KV(...)                                                         \
    ((const sluice_kv[]){__VA_ARGS__},                                         \
     (sizeof((const sluice_kv[]){__VA_ARGS__}) / sizeof(sluice_kv)))
#endif
#define SLUICE_LOG_KV(lg, lvl, kv, ...) \
    SLUICE_LOG_KV_I_(lg, lvl, SLUICE_NARG_(__VA_ARGS__), kv, __VA_ARGS__)
#define SLUICE_TRACE_KV(lg, kv, ...) SLUICE_LOG_KV(lg, SLUICE_LEVEL_TRACE, kv, __VA_ARGS__)
#define SLUICE_DEBUG_KV(lg, kv, ...) SLUICE_LOG_KV(lg, SLUICE_LEVEL_DEBUG, kv, __VA_ARGS__)
#define SLUICE_INFO_KV(lg, kv, ...) SLUICE_LOG_KV(lg, SLUICE_LEVEL_INFO, kv, __VA_ARGS__)
#define SLUICE_WARN_KV(lg, kv, ...) SLUICE_LOG_KV(lg, SLUICE_LEVEL_WARN, kv, __VA_ARGS__)
#define SLUICE_ERROR_KV(lg, kv, ...) SLUICE_LOG_KV(lg, SLUICE_LEVEL_ERROR, kv, __VA_ARGS__)
#define SLUICE_FATAL_KV(lg, kv, ...) SLUICE_LOG_KV(lg, SLUICE_LEVEL_FATAL, kv, __VA_ARGS__)

/* ---- counters and the run loop ----------------------------------------- */

typedef enum sluice_binding_state {
    SLUICE_STATE_IDLE = 0,     /* not started yet */
    SLUICE_STATE_RUNNING,      /* run() is draining */
    SLUICE_STATE_STOPPED,      /* run() returned 0: queue closed and drained */
    SLUICE_STATE_FAILED,       /* run() returned an error; backlog retained */
    SLUICE_STATE_BACKOFF,      /* failed; the supervisor restarts it soon */
    SLUICE_STATE_GIVEN_UP      /* failed too often; see fallback */
} sluice_binding_state;

const char *sluice_binding_state_name(sluice_binding_state s);

typedef struct sluice_logger_stats {
    uint64_t attempted;        /* logging calls at an enabled level (not
                                  counting calls made after close began) */
    uint64_t accepted;         /* attempted - dropped: records queued */
    uint64_t dropped;          /* overflowed + closed + rejected + forked:
                                  records refused, never queued */
    uint64_t rejected;         /* of dropped: rejected by a pre-hook */
    uint64_t pending;          /* the largest backlog of its bindings */
    size_t binding_count;
    uint64_t overflowed;       /* of dropped: refused by the overflow policy
                                  (drop_newest, block_timeout_ms, a record
                                  larger than the queue takes) */
    uint64_t closed;           /* of dropped: the call was waiting for room
                                  when close began, and gave up */
    uint64_t forked;           /* of dropped: calls in a forked child */
    uint64_t evicted;          /* accepted records drop_oldest took out of
                                  the queue before every sink had them
                                  (what each sink lost: its binding's
                                  evicted) */
    uint64_t replayed;         /* durable: records found in its file at
                                  open that some sink had not confirmed
                                  (not in attempted or accepted) */
    uint64_t corrupt;          /* durable: damaged records (or gaps before
                                  a later record) skipped at open */
} sluice_logger_stats;

typedef struct sluice_binding_stats {
    char sink[128];            /* NAME of [sink.NAME] */
    unsigned lane;
    sluice_binding_state state;
    bool is_running;
    bool has_failed;
    char last_error[SLUICE_ERROR_MAX];
    int64_t last_failure_ns;   /* wall clock of the last failure, 0 if none */
    uint64_t pending;          /* accepted, not yet written (the backlog) */
    uint64_t written;          /* confirmed by the sink */
    uint64_t failures;         /* run() calls that ended in an error */
    uint64_t restarts;         /* run() calls after the first */
    uint64_t given_up;         /* times the supervisor gave up on it */
    uint64_t diverted;         /* records handed to the fallback sink */
    uint64_t evicted;          /* records drop_oldest took from its backlog */
    uint64_t rejected;         /* records its sink (or the fallback, while
                                  diverting) rejected for good: never
                                  written, never retried */
    uint64_t dead_lettered;    /* of rejected: taken by the logger's
                                  dead_letter sink */
    uint64_t filtered;         /* records below the binding's level (or,
                                  while diverting, the fallback's): never
                                  written there; counted once accepted */
    uint64_t replayed;         /* durable: records its sink had not
                                  confirmed when the file was opened,
                                  delivered first: written + rejected +
                                  filtered + evicted + pending (+ diverted)
                                  == accepted + replayed */
} sluice_binding_stats;

int sluice_logger_stats_get(sluice_logger *lg, sluice_logger_stats *out);
size_t sluice_logger_binding_count(sluice_logger *lg);
sluice_binding *sluice_logger_binding(sluice_logger *lg, size_t index);
int sluice_binding_stats_get(sluice_binding *b, sluice_binding_stats *out);

/* A binding's own level ([sink.NAME] level =, TRACE by default): records of
 * its logger below it are not rendered or written for this sink, counted
 * in its filtered, and hold no queue room for it (while its sink is down,
 * the ones it sits on are passed as soon as room is needed). The logger's
 * level still decides what is logged at all. Takes effect from the next
 * batch; SLUICE_LEVEL_OFF mutes the sink for this logger. Refused (-1) once
 * close began, or for a level out of range. */
int sluice_binding_set_level(sluice_binding *b, sluice_level lvl);
sluice_level sluice_binding_get_level(sluice_binding *b);

/* ---- metrics ------------------------------------------------------------- */

/* The Content-Type to serve sluice_runtime_metrics_write's text with. */
#define SLUICE_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Every counter of rt's loggers, of their lanes' queues and of their
 * bindings -- what the stats calls above give -- in the Prometheus text
 * exposition format, version 0.0.4 (docs/metrics.md lists the metrics),
 * for a host that serves its own /metrics or feeds another exporter;
 * [runtime] metrics_listen serves the same text over HTTP. Each logger's
 * counters are read once per call, so its families agree (accepted is
 * attempted less the dropped ones). *text gets a NUL-terminated string of
 * *len bytes (len may be NULL), allocated with malloc: free() it. Returns
 * 0, or -1 with err set and *text NULL: out of memory, a runtime whose
 * close has finished, or a forked child's copy of its parent's runtime.
 * Safe during close (see "During and after close" above). */
int sluice_runtime_metrics_write(sluice_runtime *rt, char **text, size_t *len,
                                 sluice_error *err);

/* The worker run loop of one binding, for loggers with autostart = false
 * (with autostart the supervisor calls it). Sets is_running, drains until the
 * runtime closes (returns 0) or the sink fails (records the error, keeps the
 * unwritten records, returns -1 with err set). A later call resumes the
 * retained backlog. A second call while one runs is refused (-1, err). */
int sluice_binding_run(sluice_binding *b, sluice_error *err);
/* Restart a binding the supervisor gave up on. */
int sluice_binding_resume(sluice_binding *b, sluice_error *err);

/* ---- internals the macros need (not API: may change) ------------------- */

struct sluice_callsite {
    const char *format;
    const char *file;
    const char *function;
    int line;
    unsigned arg_count;
    const unsigned char *arg_types;  /* SLUICE_ARG_* per argument */
    unsigned fixed_size;             /* 8 * arg_count when no argument is a
                                        string, else 0 */
};

enum {
    SLUICE_ARG_INT = 1,        /* 8 bytes, int64_t */
    SLUICE_ARG_UINT = 2,       /* 8 bytes, uint64_t */
    SLUICE_ARG_DOUBLE = 3,     /* 8 bytes, double */
    SLUICE_ARG_STRING = 4,     /* uint32_t length (UINT32_MAX: NULL), bytes */
    SLUICE_ARG_POINTER = 5     /* 8 bytes, uintptr_t */
};

void sluice_log_args_(sluice_logger *lg, sluice_level lvl,
                      const sluice_callsite *cs, const uint64_t *args);
void sluice_log_a0_(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs);
void sluice_log_a1_(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
                    uint64_t a1);
void sluice_log_a2_(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
                    uint64_t a1, uint64_t a2);
void sluice_log_a3_(sluice_logger *lg, sluice_level lvl, const sluice_callsite *cs,
                    uint64_t a1, uint64_t a2, uint64_t a3);
void sluice_log_args_kv_(sluice_logger *lg, sluice_level lvl,
                         const sluice_callsite *cs, const uint64_t *args,
                         const sluice_kv *kv, size_t n);

struct sluice_logger_head_ {
    int level; /* first member of every logger; read relaxed */
};

#include <sluice/fast.h>

/* The calls the macros make (up to three fixed-size arguments in
 * registers, the array form otherwise): the inline claim first
 * (sluice/fast.h), the library when it says no. The inline claim adds
 * about 300 bytes of code to each call site, its durable twin about 200
 * more: a host whose loggers are never durable may define
 * SLUICE_NO_INLINE_DURABLE (its durable calls then go to the library),
 * and SLUICE_NO_INLINE_CLAIM leaves only the call. */
#if defined(SLUICE_FAST_INLINE) && !defined(SLUICE_NO_INLINE_DURABLE)
#define SLUICE_FAST_DURABLE_TRY_(lg, lvl, cs, a1, a2, a3, n)                  \
    sluice_fast_durable_((lg), (int)(lvl), (cs), (a1), (a2), (a3), (n))
#else
#define SLUICE_FAST_DURABLE_TRY_(lg, lvl, cs, a1, a2, a3, n) 0
#endif
#ifdef SLUICE_FAST_INLINE
#define SLUICE_FAST_TRY_(lg, lvl, cs, a1, a2, a3, n)                          \
    if (sluice_fast_log_((lg), (int)(lvl), (cs), (a1), (a2), (a3), (n)) ||     \
        SLUICE_FAST_DURABLE_TRY_(lg, lvl, cs, a1, a2, a3, n))                  \
        return
#else
#define SLUICE_FAST_TRY_(lg, lvl, cs, a1, a2, a3, n) (void)0
#endif
static inline void sluice_call_a0_(sluice_logger *lg, sluice_level lvl,
                                   const sluice_callsite *cs)
{
    SLUICE_FAST_TRY_(lg, lvl, cs, 0, 0, 0, 0);
    sluice_log_a0_(lg, lvl, cs);
}
static inline void sluice_call_a1_(sluice_logger *lg, sluice_level lvl,
                                   const sluice_callsite *cs, uint64_t a1)
{
    SLUICE_FAST_TRY_(lg, lvl, cs, a1, 0, 0, 1);
    sluice_log_a1_(lg, lvl, cs, a1);
}
static inline void sluice_call_a2_(sluice_logger *lg, sluice_level lvl,
                                   const sluice_callsite *cs, uint64_t a1,
                                   uint64_t a2)
{
    SLUICE_FAST_TRY_(lg, lvl, cs, a1, a2, 0, 2);
    sluice_log_a2_(lg, lvl, cs, a1, a2);
}
static inline void sluice_call_a3_(sluice_logger *lg, sluice_level lvl,
                                   const sluice_callsite *cs, uint64_t a1,
                                   uint64_t a2, uint64_t a3)
{
    SLUICE_FAST_TRY_(lg, lvl, cs, a1, a2, a3, 3);
    sluice_log_a3_(lg, lvl, cs, a1, a2, a3);
}
/* More arguments, or strings: the array form. */
static inline void sluice_call_args_(sluice_logger *lg, sluice_level lvl,
                                     const sluice_callsite *cs,
                                     const uint64_t *args)
{
#ifdef SLUICE_FAST_INLINE
    if (sluice_fast_args_(lg, (int)lvl, cs, args, SLUICE_STRING_MAX))
        return;
#endif
    sluice_log_args_(lg, lvl, cs, args);
}

static inline bool sluice_logger_enabled_(sluice_logger *lg, int lvl)
{
    return lvl >= __atomic_load_n(&((struct sluice_logger_head_ *)(void *)lg)
                                       ->level,
                                  __ATOMIC_RELAXED);
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static inline void sluice_format_check_(const char *fmt, ...)
{
    (void)fmt;
}

static inline uint64_t sluice_enc_i_(long long v) { return (uint64_t)v; }
static inline uint64_t sluice_enc_u_(unsigned long long v) { return (uint64_t)v; }
static inline uint64_t sluice_enc_d_(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}
static inline uint64_t sluice_enc_p_(const volatile void *p)
{
    return (uint64_t)(uintptr_t)p;
}

#ifndef __cplusplus
#define SLUICE_ENC_(x)                                                         \
    _Generic((x),                                                              \
        _Bool: sluice_enc_i_, char: sluice_enc_i_, signed char: sluice_enc_i_, \
        short: sluice_enc_i_, int: sluice_enc_i_, long: sluice_enc_i_,         \
        long long: sluice_enc_i_, unsigned char: sluice_enc_u_,                \
        unsigned short: sluice_enc_u_, unsigned int: sluice_enc_u_,            \
        unsigned long: sluice_enc_u_, unsigned long long: sluice_enc_u_,       \
        float: sluice_enc_d_, double: sluice_enc_d_,                           \
        default: sluice_enc_p_)(x)
#define SLUICE_TYPE_(x)                                                        \
    _Generic((x),                                                              \
        _Bool: SLUICE_ARG_INT, char: SLUICE_ARG_INT,                           \
        signed char: SLUICE_ARG_INT, short: SLUICE_ARG_INT,                    \
        int: SLUICE_ARG_INT, long: SLUICE_ARG_INT, long long: SLUICE_ARG_INT,  \
        unsigned char: SLUICE_ARG_UINT, unsigned short: SLUICE_ARG_UINT,       \
        unsigned int: SLUICE_ARG_UINT, unsigned long: SLUICE_ARG_UINT,         \
        unsigned long long: SLUICE_ARG_UINT, float: SLUICE_ARG_DOUBLE,         \
        double: SLUICE_ARG_DOUBLE, char *: SLUICE_ARG_STRING,                  \
        const char *: SLUICE_ARG_STRING, default: SLUICE_ARG_POINTER)
#endif /* !__cplusplus */

/* CAT, FIRST, LOG_AT, and EXPAND, NARG, MAP, SMAP further down, serve the
 * C++ macros too (sluice_cxx.h); what is under !__cplusplus is C's. */
#define SLUICE_CAT_(a, b) SLUICE_CAT_I_(a, b)
#define SLUICE_CAT_I_(a, b) a##b
#define SLUICE_FIRST_(f, ...) f
#define SLUICE_LOG_AT_(lg, lvl, ...) \
    SLUICE_LOG_I_(lg, lvl, SLUICE_NARG_(__VA_ARGS__), __VA_ARGS__)
#ifndef __cplusplus
#define SLUICE_IS_STR_(x) +(SLUICE_TYPE_(x) == SLUICE_ARG_STRING)
/* The call site and its type list, then `call`. */
#define SLUICE_SITE_(lvl, n, call, ...)                                        \
    do {                                                                       \
        static const unsigned char sluice_types_[] = {                         \
            0 SLUICE_CAT_(SLUICE_MAP, SLUICE_CAT_(n, _))(SLUICE_TYPE_,          \
                                                        __VA_ARGS__)};         \
        static const sluice_callsite sluice_site_ = {                          \
            SLUICE_FIRST_(__VA_ARGS__, 0), __FILE__, __func__, __LINE__,       \
            (n) - 1, sluice_types_ + 1,                                        \
            (0 SLUICE_CAT_(SLUICE_SMAP, SLUICE_CAT_(n, _))(SLUICE_IS_STR_,      \
                                                          __VA_ARGS__))        \
                ? 0                                                            \
                : 8 * ((n) - 1)};                                              \
        if (0)                                                                 \
            sluice_format_check_(__VA_ARGS__);                                 \
        call;                                                                  \
    } while (0)
/* Up to 3 fixed-size arguments travel in registers (sluice_log_aN_);
 * more, or strings, in an array (sluice_log_args_). */
#define SLUICE_LOG_I_(lg, lvl, n, ...)                                         \
    do {                                                                       \
        if ((int)(lvl) >= (int)SLUICE_ACTIVE_LEVEL &&                          \
            sluice_logger_enabled_((lg), (lvl)))                               \
            SLUICE_SITE_(lvl, n,                                               \
                         SLUICE_CAT_(SLUICE_CALL, SLUICE_CAT_(n, _))(          \
                             lg, lvl, __VA_ARGS__),                            \
                         __VA_ARGS__);                                         \
    } while (0)
#define SLUICE_KV_CALL_(lg, lvl, n, kv, ...)                                   \
    sluice_log_args_kv_(                                                       \
        (lg), (sluice_level)(lvl), &sluice_site_,                              \
        (const uint64_t[]){0 SLUICE_CAT_(SLUICE_MAP, SLUICE_CAT_(n, _))(        \
            SLUICE_ENC_, __VA_ARGS__)} +                                       \
            1,                                                                 \
        kv)
#define SLUICE_LOG_KV_I_(lg, lvl, n, kv, ...)                                  \
    do {                                                                       \
        if ((int)(lvl) >= (int)SLUICE_ACTIVE_LEVEL &&                          \
            sluice_logger_enabled_((lg), (lvl)))                               \
            SLUICE_SITE_(lvl, n,                                               \
                         SLUICE_KV_CALL_(lg, lvl, n, SLUICE_EXPAND_ kv,        \
                                         __VA_ARGS__),                         \
                         __VA_ARGS__);                                         \
    } while (0)
#endif /* !__cplusplus */
#define SLUICE_EXPAND_(...) __VA_ARGS__
#define SLUICE_NARG_(...) SLUICE_NARG_I_(__VA_ARGS__, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define SLUICE_NARG_I_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, _19, _20, _21, _22, _23, _24, N, ...) N
#define SLUICE_MAP1_(M, f)
#define SLUICE_MAP2_(M, f, a1) , M(a1)
#define SLUICE_MAP3_(M, f, a1, a2) , M(a1) , M(a2)
#define SLUICE_MAP4_(M, f, a1, a2, a3) , M(a1) , M(a2) , M(a3)
#define SLUICE_MAP5_(M, f, a1, a2, a3, a4) , M(a1) , M(a2) , M(a3) , M(a4)
#define SLUICE_MAP6_(M, f, a1, a2, a3, a4, a5) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5)
#define SLUICE_MAP7_(M, f, a1, a2, a3, a4, a5, a6) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6)
#define SLUICE_MAP8_(M, f, a1, a2, a3, a4, a5, a6, a7) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7)
#define SLUICE_MAP9_(M, f, a1, a2, a3, a4, a5, a6, a7, a8) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8)
#define SLUICE_MAP10_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9)
#define SLUICE_MAP11_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10)
#define SLUICE_MAP12_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11)
#define SLUICE_MAP13_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12)
#define SLUICE_MAP14_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13)
#define SLUICE_MAP15_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13) , M(a14)
#define SLUICE_MAP16_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13) , M(a14) , M(a15)
#define SLUICE_MAP17_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13) , M(a14) , M(a15) , M(a16)
#define SLUICE_MAP18_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13) , M(a14) , M(a15) , M(a16) , M(a17)
#define SLUICE_MAP19_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13) , M(a14) , M(a15) , M(a16) , M(a17) , M(a18)
#define SLUICE_MAP20_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13) , M(a14) , M(a15) , M(a16) , M(a17) , M(a18) , M(a19)
#define SLUICE_MAP21_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13) , M(a14) , M(a15) , M(a16) , M(a17) , M(a18) , M(a19) , M(a20)
#define SLUICE_MAP22_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13) , M(a14) , M(a15) , M(a16) , M(a17) , M(a18) , M(a19) , M(a20) , M(a21)
#define SLUICE_MAP23_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13) , M(a14) , M(a15) , M(a16) , M(a17) , M(a18) , M(a19) , M(a20) , M(a21) , M(a22)
#define SLUICE_MAP24_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23) , M(a1) , M(a2) , M(a3) , M(a4) , M(a5) , M(a6) , M(a7) , M(a8) , M(a9) , M(a10) , M(a11) , M(a12) , M(a13) , M(a14) , M(a15) , M(a16) , M(a17) , M(a18) , M(a19) , M(a20) , M(a21) , M(a22) , M(a23)
/* the same without separators, for sums */
#define SLUICE_SMAP1_(M, f)
#define SLUICE_SMAP2_(M, f, a1) M(a1)
#define SLUICE_SMAP3_(M, f, a1, a2) M(a1) M(a2)
#define SLUICE_SMAP4_(M, f, a1, a2, a3) M(a1) M(a2) M(a3)
#define SLUICE_SMAP5_(M, f, a1, a2, a3, a4) M(a1) M(a2) M(a3) M(a4)
#define SLUICE_SMAP6_(M, f, a1, a2, a3, a4, a5) M(a1) M(a2) M(a3) M(a4) M(a5)
#define SLUICE_SMAP7_(M, f, a1, a2, a3, a4, a5, a6) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6)
#define SLUICE_SMAP8_(M, f, a1, a2, a3, a4, a5, a6, a7) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7)
#define SLUICE_SMAP9_(M, f, a1, a2, a3, a4, a5, a6, a7, a8) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8)
#define SLUICE_SMAP10_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9)
#define SLUICE_SMAP11_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10)
#define SLUICE_SMAP12_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11)
#define SLUICE_SMAP13_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12)
#define SLUICE_SMAP14_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13)
#define SLUICE_SMAP15_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13) M(a14)
#define SLUICE_SMAP16_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13) M(a14) M(a15)
#define SLUICE_SMAP17_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13) M(a14) M(a15) M(a16)
#define SLUICE_SMAP18_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13) M(a14) M(a15) M(a16) M(a17)
#define SLUICE_SMAP19_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13) M(a14) M(a15) M(a16) M(a17) M(a18)
#define SLUICE_SMAP20_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13) M(a14) M(a15) M(a16) M(a17) M(a18) M(a19)
#define SLUICE_SMAP21_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13) M(a14) M(a15) M(a16) M(a17) M(a18) M(a19) M(a20)
#define SLUICE_SMAP22_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13) M(a14) M(a15) M(a16) M(a17) M(a18) M(a19) M(a20) M(a21)
#define SLUICE_SMAP23_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13) M(a14) M(a15) M(a16) M(a17) M(a18) M(a19) M(a20) M(a21) M(a22)
#define SLUICE_SMAP24_(M, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23) M(a1) M(a2) M(a3) M(a4) M(a5) M(a6) M(a7) M(a8) M(a9) M(a10) M(a11) M(a12) M(a13) M(a14) M(a15) M(a16) M(a17) M(a18) M(a19) M(a20) M(a21) M(a22) M(a23)
#ifndef __cplusplus
/* the call of a deferred log with n-1 arguments */
#define SLUICE_CALL1_(lg, lvl, f) sluice_call_a0_((lg), (sluice_level)(lvl), &sluice_site_)
#define SLUICE_CALL2_(lg, lvl, f, a1) (sluice_site_.fixed_size ? sluice_call_a1_((lg), (sluice_level)(lvl), &sluice_site_, SLUICE_ENC_(a1)) : sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1)}))
#define SLUICE_CALL3_(lg, lvl, f, a1, a2) (sluice_site_.fixed_size ? sluice_call_a2_((lg), (sluice_level)(lvl), &sluice_site_, SLUICE_ENC_(a1), SLUICE_ENC_(a2)) : sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2)}))
#define SLUICE_CALL4_(lg, lvl, f, a1, a2, a3) (sluice_site_.fixed_size ? sluice_call_a3_((lg), (sluice_level)(lvl), &sluice_site_, SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3)) : sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3)}))
#define SLUICE_CALL5_(lg, lvl, f, a1, a2, a3, a4) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4)})
#define SLUICE_CALL6_(lg, lvl, f, a1, a2, a3, a4, a5) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5)})
#define SLUICE_CALL7_(lg, lvl, f, a1, a2, a3, a4, a5, a6) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6)})
#define SLUICE_CALL8_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7)})
#define SLUICE_CALL9_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8)})
#define SLUICE_CALL10_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9)})
#define SLUICE_CALL11_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10)})
#define SLUICE_CALL12_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11)})
#define SLUICE_CALL13_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12)})
#define SLUICE_CALL14_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13)})
#define SLUICE_CALL15_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13), SLUICE_ENC_(a14)})
#define SLUICE_CALL16_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13), SLUICE_ENC_(a14), SLUICE_ENC_(a15)})
#define SLUICE_CALL17_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13), SLUICE_ENC_(a14), SLUICE_ENC_(a15), SLUICE_ENC_(a16)})
#define SLUICE_CALL18_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13), SLUICE_ENC_(a14), SLUICE_ENC_(a15), SLUICE_ENC_(a16), SLUICE_ENC_(a17)})
#define SLUICE_CALL19_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13), SLUICE_ENC_(a14), SLUICE_ENC_(a15), SLUICE_ENC_(a16), SLUICE_ENC_(a17), SLUICE_ENC_(a18)})
#define SLUICE_CALL20_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13), SLUICE_ENC_(a14), SLUICE_ENC_(a15), SLUICE_ENC_(a16), SLUICE_ENC_(a17), SLUICE_ENC_(a18), SLUICE_ENC_(a19)})
#define SLUICE_CALL21_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13), SLUICE_ENC_(a14), SLUICE_ENC_(a15), SLUICE_ENC_(a16), SLUICE_ENC_(a17), SLUICE_ENC_(a18), SLUICE_ENC_(a19), SLUICE_ENC_(a20)})
#define SLUICE_CALL22_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13), SLUICE_ENC_(a14), SLUICE_ENC_(a15), SLUICE_ENC_(a16), SLUICE_ENC_(a17), SLUICE_ENC_(a18), SLUICE_ENC_(a19), SLUICE_ENC_(a20), SLUICE_ENC_(a21)})
#define SLUICE_CALL23_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13), SLUICE_ENC_(a14), SLUICE_ENC_(a15), SLUICE_ENC_(a16), SLUICE_ENC_(a17), SLUICE_ENC_(a18), SLUICE_ENC_(a19), SLUICE_ENC_(a20), SLUICE_ENC_(a21), SLUICE_ENC_(a22)})
#define SLUICE_CALL24_(lg, lvl, f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23) sluice_call_args_((lg), (sluice_level)(lvl), &sluice_site_, (const uint64_t[]){SLUICE_ENC_(a1), SLUICE_ENC_(a2), SLUICE_ENC_(a3), SLUICE_ENC_(a4), SLUICE_ENC_(a5), SLUICE_ENC_(a6), SLUICE_ENC_(a7), SLUICE_ENC_(a8), SLUICE_ENC_(a9), SLUICE_ENC_(a10), SLUICE_ENC_(a11), SLUICE_ENC_(a12), SLUICE_ENC_(a13), SLUICE_ENC_(a14), SLUICE_ENC_(a15), SLUICE_ENC_(a16), SLUICE_ENC_(a17), SLUICE_ENC_(a18), SLUICE_ENC_(a19), SLUICE_ENC_(a20), SLUICE_ENC_(a21), SLUICE_ENC_(a22), SLUICE_ENC_(a23)})
#endif /* !__cplusplus */

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
/* The macros' C++ half: templates in place of _Generic (not extern "C"). */
#include <sluice/sluice_cxx.h>
#endif

#endif /* SLUICE_H */
