/*
 * sluice/sink.h, ABI version 1, FROZEN: a copy of include/sluice/sink.h as
 * it was when ABI version 2 was introduced. Never edit it. The test plugin
 * tests/plugins/v1_sink.c is built against this file (and not against the
 * current header), so the suite proves that a plugin compiled for version 1
 * still loads and runs unchanged in a runtime that speaks a later version.
 */
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
 */
#ifndef SLUICE_SINK_H
#define SLUICE_SINK_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_SINK_H */
