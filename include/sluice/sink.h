/*
 * sluice/sink.h -- the sink plugin ABI, and the only header a plugin needs.
 *
 * A sink plugin is a shared object that exports one function:
 *
 *     const sluice_sink_api *sluice_sink_entry(void);
 *
 * returning a pointer to a static, versioned table of function pointers
 * and data. The rule is SQLite's for its VFS: members are only ever
 * appended, each says below which ABI version added it, and a plugin states
 * the version it was built against in abi_version and how large it saw the
 * table in struct_size. The runtime accepts every version from 1 up to its
 * own (SLUICE_SINK_ABI_VERSION), refuses a table smaller than its declared
 * version needs, and uses a member only when the table's version and size
 * both say it is there. A plugin built for a newer version than the runtime
 * knows is refused with a message naming its file.
 *
 * Structures the runtime hands to a plugin (sluice_options, sluice_record,
 * sluice_value, sluice_host) are always filled for the plugin's version or
 * a later one, so a plugin may read every member its header shows.
 * Structures a plugin hands to the runtime in arrays (sluice_option_spec)
 * keep their layout for the version that introduced them.
 *
 * Build a plugin with one line:
 *     cc -shared -fPIC -I<prefix>/include -o mysink.so mysink.c
 * It links against nothing of sluice: the helpers below are static inline,
 * and the runtime's own services (rendering, escaping, time, paths) come as
 * a table of functions at open (sluice_host).
 *
 * Threading: the runtime serialises every call on one sink instance (check,
 * open, write, flush, reopen, close never overlap for the same state), but
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

/* The version of the table this header describes. A runtime accepts
 * plugins of every version from 1 up to its own. */
#define SLUICE_SINK_ABI_VERSION 2
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
                                  escaped, ending in '\n'; NULL (line_len 0)
                                  for a sink whose table has the flag
                                  SLUICE_SINK_NO_LINE */
    size_t line_len;
    const char *file;          /* call site; NULL when unknown */
    const char *function;      /* NULL when unknown */
    int source_line;           /* 0 when unknown */
    uint64_t thread_id;        /* the producer thread (kernel tid on Linux) */
    uint64_t sequence;         /* position in its queue; increases per lane */
    const sluice_field *fields;
    size_t field_count;
} sluice_record;

/* ---------------------------------------------------------------------
 * Options
 *
 * A version-1 plugin lists the names of its keys (option_names) and parses
 * their text itself. A version-2 plugin declares them as data, a table of
 * sluice_option_spec ending in an entry whose name is NULL: the runtime
 * then parses and checks every value before check() and open() are called,
 * reports every mistake of a file at once (FILE:LINE each), and hands the
 * plugin the parsed values (sluice_options_get_int(opts, "port") ...).
 * `sluice plugins NAME` prints the table, and the documentation of every
 * shipped plugin is generated from it.
 * --------------------------------------------------------------------- */

/* The type of an option's value, and how its text is read. */
typedef enum sluice_option_type {
    SLUICE_OPTION_STRING = 1,  /* any text without control characters */
    SLUICE_OPTION_BOOL,        /* true/false, yes/no, on/off, 1/0 */
    SLUICE_OPTION_INT,         /* decimal: no leading zero, no sign but '-',
                                  nothing after the digits (octal with
                                  SLUICE_OPTION_OCTAL) */
    SLUICE_OPTION_SIZE,        /* bytes: 4096, 64K, 10M, 1G, 2T (powers of
                                  1024; KB, KiB, k ... also accepted) */
    SLUICE_OPTION_DURATION,    /* milliseconds: 250ms, 5s, 2m, 1h, 1d; a
                                  bare number is milliseconds */
    SLUICE_OPTION_ENUM,        /* one word of choices (any case) */
    SLUICE_OPTION_LIST,        /* comma-separated items, trimmed, none empty */
    SLUICE_OPTION_PATH,        /* a file name; a relative one is resolved
                                  against the configuration file's folder */
    SLUICE_OPTION_HOST,        /* a host name or an IP address ([v6] too) */
    SLUICE_OPTION_HOSTPORT     /* HOST:PORT, or [V6]:PORT; port 1..65535 */
} sluice_option_type;

/* Flag bits of sluice_option_spec.flags. */
enum {
    /* The key must be given (a default makes no sense then). */
    SLUICE_OPTION_REQUIRED = 1u << 0,
    /* INT: written in octal, like a file mode (0640). */
    SLUICE_OPTION_OCTAL = 1u << 1,
    /* PATH: the folder of the file must exist and be writable; checked
     * before open() and by `sluice check`, which creates nothing. */
    SLUICE_OPTION_WRITABLE_DIR = 1u << 2,
    /* STRING: printable ASCII without spaces (bytes 33..126), as protocol
     * header fields need. */
    SLUICE_OPTION_TOKEN = 1u << 3
};

/* One option as a plugin declares it (ABI 2; this layout never changes:
 * a later version that needs more adds a new structure). */
typedef struct sluice_option_spec {
    const char *name;          /* the key; NULL ends the table. A name
                                  ending in ".*" accepts every key with that
                                  prefix as text: those stay in items only */
    sluice_option_type type;
    const char *default_value; /* text, read like a value from the file;
                                  NULL: no default (absent unless given) */
    long long min, max;        /* checked when min < max: the value for
                                  INT (SIZE in bytes, DURATION in ms), the
                                  length in bytes for STRING and PATH, the
                                  number of items for LIST */
    const char *const *choices; /* ENUM: the words, NULL-terminated; the
                                  value is the index of the one given */
    const char *description;   /* one line, for `sluice plugins NAME` and
                                  the generated documentation */
    unsigned flags;            /* SLUICE_OPTION_* bits */
} sluice_option_spec;

/* A parsed option, as the runtime hands it over (ABI 2). Valid during
 * check() and open() only: copy what you keep. */
typedef struct sluice_value {
    const char *text;          /* as written, or the default's text; NULL
                                  when absent (no default, not given) */
    int line;                  /* its line in the configuration; 0 for the
                                  default or a value set from code */
    int given;                 /* 1: the configuration set it */
    long long number;          /* BOOL 0/1; INT; SIZE in bytes; DURATION in
                                  ms; ENUM the index; HOSTPORT the port;
                                  LIST the number of items */
    const char *string;        /* STRING, ENUM (its word from choices), PATH
                                  (resolved), HOST and HOSTPORT (the host,
                                  without brackets), LIST (the text) */
    const char *const *items;  /* LIST: the items, NULL-terminated */
} sluice_value;

/* One key of a [sink.NAME] section as written, in file order. */
typedef struct sluice_option {
    const char *key;
    const char *value;
    int line;                  /* line in the configuration, 0 if from code */
} sluice_option;

/* ---------------------------------------------------------------------
 * Host services (ABI 2): functions of the runtime a plugin may call, handed
 * over in sluice_options.host, so a plugin still links against nothing.
 * Valid from check()/open() until close(); callable from any thread. The
 * functions that write text follow snprintf: they write at most cap - 1
 * bytes and a NUL (when cap > 0) and return the length the whole result
 * needs, without the NUL; call again with a larger buffer when the return
 * value is >= cap.
 * --------------------------------------------------------------------- */

/* How the runtime renders a record's line (ABI 2). */
typedef enum sluice_line_format {
    SLUICE_LINE_TEXT = 0,      /* the section's pattern (or the default) */
    SLUICE_LINE_JSON = 1,      /* one JSON object */
    SLUICE_LINE_LOGFMT = 2     /* key=value pairs */
} sluice_line_format;

typedef struct sluice_host sluice_host;
struct sluice_host {
    /* The record r rendered as one line ending in '\n', as the runtime
     * renders `line` (control characters escaped); SLUICE_LINE_TEXT uses
     * this sink's pattern. */
    size_t (*render)(const sluice_host *host, const sluice_record *r,
                     sluice_line_format format, char *out, size_t cap);
    /* s[0..n) escaped for the inside of a JSON string (no quotes added):
     * '"', '\\' and control characters escaped, invalid UTF-8 replaced by
     * U+FFFD. */
    size_t (*escape_json)(const char *s, size_t n, char *out, size_t cap);
    /* time_ns as RFC 3339 UTC with microseconds, 27 characters:
     * 2026-11-23T18:25:11.123456Z */
    size_t (*format_time)(int64_t time_ns, char *out, size_t cap);
    /* path resolved against the configuration file's folder (an absolute
     * path, or one from a configuration given as text, is unchanged). */
    size_t (*resolve_path)(const sluice_host *host, const char *path,
                           char *out, size_t cap);
    /* During check() only: one more mistake, reported as
     * "FILE:LINE: sink 'NAME': option 'KEY': MESSAGE" (key may be NULL:
     * the section's line). check() reports every mistake it finds this way
     * and then returns nonzero; elsewhere this does nothing. */
    void (*report)(const sluice_host *host, const char *key,
                   const char *message);
    void *runtime_;            /* the runtime's; do not touch */
};

/* What check() and open() are given. */
typedef struct sluice_options {
    /* v1 */
    const char *sink_name;     /* NAME of [sink.NAME] */
    const char *source;        /* configuration file, or "<string>"/"<api>" */
    const sluice_option *items; /* the plugin's keys as written */
    size_t count;
    /* v2: for a plugin whose table declares abi_version >= 2 */
    const sluice_option_spec *specs; /* the plugin's option table, or NULL */
    const sluice_value *values; /* values[i] is specs[i]'s parsed value */
    const sluice_host *host;   /* the runtime's services */
    int line;                  /* the line of [sink.NAME], 0 if from code */
} sluice_options;

/* Flag bits of sluice_sink_api.flags (ABI 2). */
enum {
    /* write() never reads record->line: the runtime does not render it
     * (the sink builds its own wire format from the record's parts). */
    SLUICE_SINK_NO_LINE = 1u << 0
};

typedef struct sluice_sink_api {
    /* ---- version 1 ---- */
    int abi_version;           /* v1: SLUICE_SINK_ABI_VERSION */
    size_t struct_size;        /* v1: sizeof(sluice_sink_api) as the plugin
                                  saw it */
    const char *name;          /* v1: "file", ...: must match plugin = */
    const char *description;   /* v1: one line, shown by `sluice plugins` */
    /* v1: NULL-terminated list of the option keys this plugin accepts
     * ("prefix.*" accepts every key with the prefix). The runtime refuses
     * any other key (besides plugin, format, pattern) with the file and
     * line, before open() is called. Version 2: may be NULL when options
     * (below) is given; it is not read then. */
    const char *const *option_names;
    /* v1: open the sink. On error return nonzero with a message in err
     * (sluice_options_error names the file and line). Version 1: validate
     * the options here too. Version 2: the values are parsed and check()
     * has passed before open() is called. Not followed by close() when it
     * fails. */
    int (*open)(const sluice_options *opts, void **state, sluice_error *err);
    /* v1: write records batch[0..n). Set *written to how many of the leading
     * records are durably handed over (to the file, the collector, ...).
     * Return 0 when all n are written; otherwise nonzero with err set: the
     * records from *written on stay queued and are offered again later. */
    int (*write)(void *state, const sluice_record *const *batch, size_t n,
                 size_t *written, sluice_error *err);
    /* v1: push buffered data out. May be NULL. */
    int (*flush)(void *state, sluice_error *err);
    /* v1: close and free. Called once, after the last write. */
    void (*close)(void *state);
    /* v1: reopen the destination (after logrotate moved a file). May be
     * NULL. */
    int (*reopen)(void *state, sluice_error *err);
    /* v1: validate the options without opening or creating anything. May be
     * NULL. Version 1: called by `sluice check` only. Version 2: the
     * rules across options (the types and ranges are checked already),
     * called by `sluice check` and before every open(); report each
     * mistake with sluice_options_report. */
    int (*check)(const sluice_options *opts, sluice_error *err);

    /* ---- version 2: appended after check, in this order; a runtime reads
     * them only from a table whose abi_version is >= 2 ---- */
    /* v2: the options as data, ending in an entry whose name is NULL. NULL:
     * option_names is used as in version 1. */
    const sluice_option_spec *options;
    /* v2: the format `line` is rendered in when the section says no
     * `format =` (a JSON-over-TCP sink declares SLUICE_LINE_JSON). */
    sluice_line_format default_format;
    /* v2: SLUICE_SINK_* bits. */
    unsigned flags;
    /* v2: may be NULL. Its presence declares the sink crash-safe: with
     * [runtime] crash_flush = true, after a crash (SIGSEGV, SIGBUS, SIGILL,
     * SIGFPE, SIGABRT) the runtime calls it from its signal handler with
     * the records still queued for this sink, rendered as write() would
     * have seen them: data[0..len) is one or more whole lines, each ending
     * in '\n', in order. It may be called while another thread is inside
     * write(), flush() or reopen() on the same state (the crash may have
     * struck there), and the runtime takes no lock around it. So it must
     * be async-signal-safe: no locks, no allocation, no stdio, nothing but
     * write(2)-like system calls on what open() already set up (read the
     * descriptor once; never rotate, reconnect or open from here). SIGPIPE
     * is blocked while it runs: a reader that left is an EPIPE. Return 0
     * when all of data was written, nonzero otherwise. See
     * docs/writing-a-sink.md. */
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

/* The option named key as written, or NULL. */
static inline const sluice_option *sluice_options_find(const sluice_options *o,
                                                       const char *key)
{
    for (size_t i = 0; i < o->count; i++)
        if (strcmp(o->items[i].key, key) == 0)
            return &o->items[i];
    return NULL;
}

/* The text of key as written, or def when absent. A version-2 plugin reads
 * the parsed value instead (sluice_options_get_string ...), which has the
 * default applied and a path resolved. */
static inline const char *sluice_options_get(const sluice_options *o,
                                             const char *key, const char *def)
{
    const sluice_option *it = sluice_options_find(o, key);
    return it ? it->value : def;
}

/* Report a bad value for key as "FILE:LINE: sink 'NAME': option 'key': ...".
 * With key NULL, the section's line (when known). */
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

/* In check(): report one mistake and go on, so that every mistake of a file
 * is listed in one run; returns -1, for `bad |= sluice_options_report(...)`.
 * Without host services (a version-1 caller), the message goes to err as
 * sluice_options_error would put it. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline int sluice_options_report(const sluice_options *o,
                                        const char *key, sluice_error *err,
                                        const char *fmt, ...)
{
    char what[SLUICE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (o->host && o->host->report) {
        o->host->report(o->host, key, what);
        return -1;
    }
    return sluice_options_error(o, key, err, "%s", what);
}

/* Parse a decimal integer: an optional '-', then digits without a leading
 * zero (0 itself is fine), nothing before or after. 0 and *out set, or -1.
 * "010" is refused rather than read as 8 or as 10. */
static inline int sluice_int_parse(const char *v, long long *out)
{
    const char *p = v;
    int negative = *p == '-';
    if (negative)
        p++;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0') ||
        (negative && p[0] == '0'))
        return -1;
    unsigned long long x = 0;
    const unsigned long long limit =
        negative ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (x > (limit - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *out = negative ? (x == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN
                                                              : -(long long)x)
                    : (long long)x;
    return 0;
}

/* Parse key as a decimal integer (sluice_int_parse) in [min, max]; def when
 * absent. For version-1 plugins; version 2 declares an INT option. */
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
    long long x;
    if (sluice_int_parse(v, &x) != 0)
        return sluice_options_error(o, key, err,
                                    "'%s' is not a decimal integer", v);
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

/* ---- parsed values (version 2) ------------------------------------------ */

/* The parsed value of the option the table names name, or NULL when the
 * table has no such option (or the caller handed over no values). */
static inline const sluice_value *sluice_options_value(const sluice_options *o,
                                                       const char *name)
{
    if (!o->specs || !o->values)
        return NULL;
    for (size_t i = 0; o->specs[i].name; i++)
        if (strcmp(o->specs[i].name, name) == 0)
            return &o->values[i];
    return NULL;
}

/* The configuration set name (rather than its default applying). */
static inline int sluice_options_given(const sluice_options *o,
                                       const char *name)
{
    const sluice_value *v = sluice_options_value(o, name);
    return v && v->given;
}

/* INT, SIZE (bytes), DURATION (ms), BOOL (0/1), ENUM (index), HOSTPORT
 * (port), LIST (count); 0 when absent. */
static inline long long sluice_options_get_int(const sluice_options *o,
                                               const char *name)
{
    const sluice_value *v = sluice_options_value(o, name);
    return v && v->text ? v->number : 0;
}

static inline int sluice_options_get_bool(const sluice_options *o,
                                          const char *name)
{
    return sluice_options_get_int(o, name) != 0;
}

/* ENUM: the index in choices, -1 when absent. */
static inline int sluice_options_get_enum(const sluice_options *o,
                                          const char *name)
{
    const sluice_value *v = sluice_options_value(o, name);
    return v && v->text ? (int)v->number : -1;
}

/* STRING, ENUM (the word), PATH (resolved), HOST and HOSTPORT (the host),
 * LIST (the text); NULL when absent. */
static inline const char *sluice_options_get_string(const sluice_options *o,
                                                    const char *name)
{
    const sluice_value *v = sluice_options_value(o, name);
    return v && v->text ? v->string : NULL;
}

/* LIST: the number of items, and the items (NULL-terminated) in *items. */
static inline size_t sluice_options_get_list(const sluice_options *o,
                                             const char *name,
                                             const char *const **items)
{
    static const char *const none[] = {NULL};
    const sluice_value *v = sluice_options_value(o, name);
    if (!v || !v->text || !v->items) {
        *items = none;
        return 0;
    }
    *items = v->items;
    return (size_t)v->number;
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
