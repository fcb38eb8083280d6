/*
 * sluice/sink.h -- the sink plugin ABI, and the only header a plugin needs.
 *
 * A sink plugin is a shared object that exports one function:
 *
 *     const sluice_sink_api *sluice_sink_entry(void);
 *
 * returning a pointer to a static, versioned table of function pointers
 * (modelled on SQLite's VFS). New members are only ever appended; a plugin
 * states which version it was built against in abi_version and how large it
 * saw the table in struct_size, and the loader refuses a plugin of another
 * ABI version or whose table is smaller than that version needs.
 *
 * Build a plugin with one line:
 *     cc -shared -fPIC -I<prefix>/include -o mysink.so mysink.c
 * It links against nothing of sluice: the helpers below are static inline.
 *
 * Threading: the runtime serialises every call on one sink instance (open,
 * write, flush, reopen, close never overlap for the same state), but
 * different instances may be called from different threads at once.
 *
 * Signals: a sink never raises SIGPIPE in its host; a reader or peer that
 * has gone is a failed write (EPIPE). See "Writing without SIGPIPE" below.
 */
#ifndef SLUICE_SINK_H
#define SLUICE_SINK_H

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_SINK_ABI_VERSION 1
#define SLUICE_SINK_ENTRY_SYMBOL "sluice_sink_entry"

/* Severity levels, lowest first. SLUICE_LEVEL_OFF disables a logger. */
typedef enum sluice_level {
    SLUICE_LEVEL_TRACE = 0,
    SLUICE_LEVEL_DEBUG = 1,
    SLUICE_LEVEL_INFO = 2,
    SLUICE_LEVEL_WARN = 3,
    SLUICE_LEVEL_ERROR = 4,
    SLUICE_LEVEL_FATAL = 5,
    SLUICE_LEVEL_OFF = 6
} sluice_level;

/* An error travels as a value: a return code plus this message. */
#define SLUICE_ERROR_MAX 512
typedef struct sluice_error {
    char message[SLUICE_ERROR_MAX];
} sluice_error;

/* A key/value pair attached to a record (base fields of the logger, then the
 * fields given at the call). Strings are not NUL-terminated. */
typedef struct sluice_field {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} sluice_field;

/* One record as a sink sees it. Everything it points to stays valid only for
 * the duration of the write() call. */
typedef struct sluice_record {
    int64_t time_ns;           /* wall clock, ns since the Unix epoch (UTC) */
    sluice_level level;
    const char *logger;        /* logger name, NUL-terminated */
    const char *message;       /* the formatted message, raw (not escaped) */
    size_t message_len;
    const char *line;          /* the record rendered in the sink's format
                                  (text, json or logfmt), control characters
                                  escaped, ending in '\n' */
    size_t line_len;
    const char *file;          /* call site; NULL when unknown */
    const char *function;      /* NULL when unknown */
    int source_line;           /* 0 when unknown */
    uint64_t thread_id;        /* the producer thread (kernel tid on Linux) */
    uint64_t sequence;         /* position in its queue; increases per lane */
    const sluice_field *fields;
    size_t field_count;
} sluice_record;

/* One option of a [sink.NAME] section, in file order. */
typedef struct sluice_option {
    const char *key;
    const char *value;
    int line;                  /* line in the configuration, 0 if from code */
} sluice_option;

typedef struct sluice_options {
    const char *sink_name;     /* NAME of [sink.NAME] */
    const char *source;        /* configuration file, or "<string>"/"<api>" */
    const sluice_option *items;
    size_t count;
} sluice_options;

typedef struct sluice_sink_api {
    int abi_version;           /* SLUICE_SINK_ABI_VERSION */
    size_t struct_size;        /* sizeof(sluice_sink_api) as the plugin saw it */
    const char *name;          /* "file", "console", ...: must match plugin = */
    const char *description;   /* one line, shown by `sluice plugins` */
    /* NULL-terminated list of the option keys this plugin accepts. The
     * runtime refuses any other key (besides plugin, format, pattern) with
     * the file and line, before open() is called. */
    const char *const *option_names;
    /* Validate the options and open the sink. On error return nonzero with a
     * message in err (sluice_options_* below name the file and line). */
    int (*open)(const sluice_options *opts, void **state, sluice_error *err);
    /* Write records batch[0..n). Set *written to how many of the leading
     * records are durably handed over (to the file, the collector, ...).
     * Return 0 when all n are written; otherwise nonzero with err set: the
     * records from *written on stay queued and are offered again later. */
    int (*write)(void *state, const sluice_record *const *batch, size_t n,
                 size_t *written, sluice_error *err);
    /* Push buffered data out. May be NULL. */
    int (*flush)(void *state, sluice_error *err);
    /* Close and free. Called once, after the last write. */
    void (*close)(void *state);
    /* Reopen the destination (after logrotate moved a file). May be NULL. */
    int (*reopen)(void *state, sluice_error *err);
    /* Validate the options without opening anything (`sluice check`).
     * May be NULL: then only the option names are checked. */
    int (*check)(const sluice_options *opts, sluice_error *err);
    /* New in version 2. May be NULL. Its presence declares the sink
     * crash-safe: with [runtime] crash_flush = true, after a crash
     * (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) the runtime calls it from
     * its signal handler with the records still queued for this sink,
     * rendered as write() would have seen them: data[0..len) is one or
     * more whole lines, each ending in '\n', in order. It may be called
     * while another thread is inside write(), flush() or reopen() on the
     * same state (the crash may have struck there), and the runtime takes
     * no lock around it. So it must be async-signal-safe: no locks, no
     * allocation, no stdio, nothing but write(2)-like system calls on what
     * open() already set up (read the descriptor once; never rotate,
     * reconnect or open from here). SIGPIPE is blocked while it runs: a
     * reader that left is an EPIPE. Return 0 when all of data was written,
     * nonzero otherwise. See docs/writing-a-sink.md. */
    int (*crash_write)(void *state, const char *data, size_t len);
} sluice_sink_api;

typedef const sluice_sink_api *(*sluice_sink_entry_fn)(void);

/* ---------------------------------------------------------------------
 * Helpers for plugin authors (static inline: nothing to link).
 * --------------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int sluice_error_set(sluice_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* The option named key, or NULL. */
static inline const sluice_option *sluice_options_find(const sluice_options *o,
                                                       const char *key)
{
    for (size_t i = 0; i < o->count; i++)
        if (strcmp(o->items[i].key, key) == 0)
            return &o->items[i];
    return NULL;
}

/* The value of key, or def when absent. */
static inline const char *sluice_options_get(const sluice_options *o,
                                             const char *key, const char *def)
{
    const sluice_option *it = sluice_options_find(o, key);
    return it ? it->value : def;
}

/* Report a bad value for key as "FILE:LINE: sink 'NAME': option 'key': ...". */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline int sluice_options_error(const sluice_options *o, const char *key,
                                       sluice_error *err, const char *fmt, ...)
{
    char what[SLUICE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const sluice_option *it = key ? sluice_options_find(o, key) : NULL;
    if (it && it->line > 0)
        return sluice_error_set(err, "%s:%d: sink '%s': option '%s': %s",
                                o->source, it->line, o->sink_name, key, what);
    if (key)
        return sluice_error_set(err, "%s: sink '%s': option '%s': %s",
                                o->source, o->sink_name, key, what);
    return sluice_error_set(err, "%s: sink '%s': %s", o->source, o->sink_name,
                            what);
}

/* Parse key as an integer in [min, max]; def when absent. */
static inline int sluice_options_int(const sluice_options *o, const char *key,
                                     long long def, long long min,
                                     long long max, long long *out,
                                     sluice_error *err)
{
    const char *v = sluice_options_get(o, key, NULL);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 0);
    if (errno || end == v || *end != '\0')
        return sluice_options_error(o, key, err, "'%s' is not an integer", v);
    if (x < min || x > max)
        return sluice_options_error(o, key, err,
                                    "%lld is out of range %lld..%lld", x, min,
                                    max);
    *out = x;
    return 0;
}

/* Parse a boolean: true/false, yes/no, on/off, 1/0. 0 and *out set, or -1. */
static inline int sluice_bool_parse(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Parse key as a boolean (see sluice_bool_parse); def when absent. */
static inline int sluice_options_bool(const sluice_options *o, const char *key,
                                      int def, int *out, sluice_error *err)
{
    const char *v = sluice_options_get(o, key, NULL);
    if (!v) {
        *out = def;
        return 0;
    }
    if (sluice_bool_parse(v, out) == 0)
        return 0;
    return sluice_options_error(o, key, err,
                                "'%s' is not a boolean (true or false)", v);
}

/* The lower-case name of a level: "trace" ... "fatal". */
static inline const char *sluice_level_name(sluice_level l)
{
    static const char *const names[] = {"trace", "debug", "info", "warn",
                                        "error", "fatal", "off"};
    return ((unsigned)l <= SLUICE_LEVEL_OFF) ? names[l] : "unknown";
}

/* ---------------------------------------------------------------------
 * Writing without SIGPIPE.
 *
 * A write to a pipe, a FIFO or a stream socket whose reader has gone fails
 * with EPIPE and, unless told otherwise, also raises SIGPIPE in the writing
 * thread, whose default action kills the whole host program. A sink must
 * never let that happen: EPIPE is a failure to report through its error
 * (write() returns nonzero, the records stay queued), not a signal.
 *
 *   sockets     send()/sendmsg() with MSG_NOSIGNAL (Linux, the BSDs);
 *               nothing more is needed.
 *   pipes, FIFOs, terminals, files (MSG_NOSIGNAL does not exist there)
 *               sluice_write_nosigpipe() / sluice_writev_nosigpipe().
 *   a library that writes for you without MSG_NOSIGNAL
 *               bracket the calls into it with sluice_sigpipe_block() and
 *               sluice_sigpipe_unblock().
 *
 * How: SIGPIPE is blocked in the calling thread for the duration, and a
 * SIGPIPE the call raised (the kernel sends it to the writing thread) is
 * taken off the thread's pending set with sigtimedwait() before the old
 * mask comes back. Nothing is installed: the process's disposition of
 * SIGPIPE, other threads and other signals are left alone. Correct when the
 * thread already had SIGPIPE blocked (its mask then stays as it was), and
 * when a SIGPIPE was already pending for it before (that one is the host's
 * and stays pending). Nesting is fine. Only a SIGPIPE sent to the whole
 * process with kill() while a guard is open, and that no other thread
 * could take, may be taken for the sink's.
 *
 * Cost: two system calls besides the write (rt_sigprocmask to block and
 * to restore; rt_sigprocmask and sigpending when SIGPIPE was blocked
 * already), plus one sigtimedwait after a failed or short write; the
 * guard pair always takes three. 0.4 to 1 microsecond on a small virtual
 * machine (bench/sigpipe_cost.c): call it once per batch (one write or
 * writev per batch), not once per record. A write to a regular file cannot
 * raise SIGPIPE and needs none of this.
 *
 * These need the POSIX signal API: define _POSIX_C_SOURCE 200809L (or
 * _GNU_SOURCE) before the first #include when compiling with a strict
 * -std=c11; the compilers' default modes have it.
 * --------------------------------------------------------------------- */
#if defined(SIG_BLOCK)

/* What sluice_sigpipe_block() found, for sluice_sigpipe_unblock(). */
typedef struct sluice_sigpipe_guard {
    sigset_t old_mask;         /* the thread's mask before */
    int was_blocked;           /* SIGPIPE was blocked already */
    int was_pending;           /* ... and a SIGPIPE was pending already */
} sluice_sigpipe_guard;

/* Block SIGPIPE in the calling thread until sluice_sigpipe_unblock(). */
static inline void sluice_sigpipe_block(sluice_sigpipe_guard *guard)
{
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &guard->old_mask);
    guard->was_blocked = sigismember(&guard->old_mask, SIGPIPE) == 1;
    guard->was_pending = 0;
    if (guard->was_blocked) {
        /* An unblocked signal cannot be pending: look only when blocked. */
        sigset_t pending;
        sigemptyset(&pending);
        if (sigpending(&pending) == 0)
            guard->was_pending = sigismember(&pending, SIGPIPE) == 1;
    }
}

/* Not API: end a guard; take back the SIGPIPE the guarded code raised when
 * it may have raised one. Keeps errno. */
static inline void sluice_sigpipe_end_(sluice_sigpipe_guard *guard,
                                       int may_have_raised)
{
    int saved = errno;
    if (may_have_raised && !guard->was_pending) {
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    if (!guard->was_blocked)
        pthread_sigmask(SIG_SETMASK, &guard->old_mask, NULL);
    errno = saved;
}

/* Take back a SIGPIPE raised since sluice_sigpipe_block(guard) and restore
 * the thread's mask. Keeps errno. */
static inline void sluice_sigpipe_unblock(sluice_sigpipe_guard *guard)
{
    sluice_sigpipe_end_(guard, 1);
}

/* write(2) that never raises SIGPIPE: returns what write() returns, -1 with
 * errno EPIPE when the reader of a pipe or FIFO has gone. (A short write,
 * too, may come with a SIGPIPE: the reader left in the middle; it is taken
 * back as well.) */
static inline ssize_t sluice_write_nosigpipe(int fd, const void *buf,
                                             size_t len)
{
    sluice_sigpipe_guard guard;
    sluice_sigpipe_block(&guard);
    ssize_t done = write(fd, buf, len);
    sluice_sigpipe_end_(&guard, (done < 0 && errno == EPIPE) ||
                                    (done >= 0 && (size_t)done < len));
    return done;
}

/* writev(2) that never raises SIGPIPE; as sluice_write_nosigpipe(). */
static inline ssize_t sluice_writev_nosigpipe(int fd, const struct iovec *iov,
                                              int iovcnt)
{
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    sluice_sigpipe_guard guard;
    sluice_sigpipe_block(&guard);
    ssize_t done = writev(fd, iov, iovcnt);
    sluice_sigpipe_end_(&guard, (done < 0 && errno == EPIPE) ||
                                    (done >= 0 && (size_t)done < len));
    return done;
}

#endif /* SIG_BLOCK */

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_SINK_H */
