/*
 * builder_internal.h -- the parts of the builder, shared by its files:
 *   builder.c   the key store (sections of key = value with their lines),
 *               the collected errors and the public builder calls;
 *   values.c    parsers of single values (integers, ranges, lists, levels);
 *   options.c   a plugin's typed options (its sluice_option_spec table)
 *               parsed and checked, every mistake reported;
 *   plan.c      validation: every section checked into plans, every error
 *               collected with its line, nothing opened;
 *   assemble.c  plans into a runtime: sinks opened, loggers and queues made,
 *               the whole handed to lifecycle.c to start.
 * Knows nothing of INI syntax (config.c), queues' insides or the run loop.
 */
#ifndef SLUICE_BUILDER_INTERNAL_H
#define SLUICE_BUILDER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <sluice/sluice.h>

#include "config_internal.h"
#include "format_internal.h"
#include "options_internal.h"
#include "metrics_internal.h"
#include "plugin_internal.h"
#include "queue_internal.h"
#include "runtime_internal.h"

/* ---- the key store (builder.c) ------------------------------------------- */

typedef struct bkey {
    char *key;
    char *value;
    int line;
} bkey;

typedef struct bsection {
    char *name;                /* "runtime", "sink.x", "logger.y" */
    int line;
    bkey *keys;
    size_t nkeys, cap;
} bsection;

struct sluice_builder {
    char *source;
    char *base_dir;
    bsection *sections;
    size_t nsections, cap;
    const sluice_sink_api **apis;
    size_t napis;
    bool host_sinks_only;      /* load no plugin file (the fuzzer) */
    char **errors;
    size_t nerrors;
    sluice_event_fn event_fn;  /* handed to the runtime */
    void *event_user;
    sluice_error_fn error_fn;  /* told every error when they are reported */
    void *error_user;
};

char *sluice_strdup_(const char *s);
bsection *sluice_builder_find_section_(sluice_builder *b, const char *name);
/* "runtime", "sink.NAME" or "logger.NAME" with a well-formed NAME. */
bool sluice_section_name_valid_(const char *name);
const bkey *sluice_section_key_(const bsection *s, const char *key);
/* The sink api the host registered under name, or NULL. */
const sluice_sink_api *sluice_builder_host_api_(sluice_builder *b,
                                                const char *name);
/* Append an already complete message (a plugin's, which names its line). */
void sluice_builder_raw_error_(sluice_builder *b, const char *msg);
/* Copy the collected errors, one per line, into err (as many whole ones
 * as fit, then "(and N more)"). Returns -1. */
int sluice_builder_report_(sluice_builder *b, sluice_error *err);
/* The same, after telling the error callback each one (start, reload). */
int sluice_builder_report_all_(sluice_builder *b, sluice_error *err);

/* ---- single values (values.c) ------------------------------------------ */

/* A decimal integer, nothing else (sluice_int_parse: no leading zero, no
 * '+', no spaces). 0, or -1. */
int sluice_value_ll_(const char *v, long long *out);
/* Bytes: N, or N with K, M, G, T (powers of 1024; also KB, KiB, any case). */
int sluice_value_size_(const char *v, long long *out);
/* Milliseconds: N (ms), or N with ms, s, m, h, d. */
int sluice_value_duration_(const char *v, long long *ms);
/* An integer key of s in [min, max]; def when absent. -1 with an error
 * collected in b. */
int sluice_value_int_key_(sluice_builder *b, const bsection *s,
                          const char *key, long long def, long long min,
                          long long max, long long *out);
int sluice_value_bool_(const char *v, bool *out);
/* "MIN..MAX" or "N". */
int sluice_value_range_(const char *v, long long *lo, long long *hi);
/* "N/PERIOD" (500ms, 10s, 2m, 1h) or "unlimited" (n = period = 0). */
int sluice_value_intensity_(const char *v, long long *n, long long *period_ms);
/* Split "a, b ,c" into trimmed names (each cut at 127 bytes). */
size_t sluice_value_list_(const char *v, char names[][128], size_t max);
/* key is in the NULL-terminated list ("prefix.*" accepts prefix.anything). */
bool sluice_value_in_list_(const char *const *list, const char *key);
/* "a, b, c" of the names of one or two lists, cut to cap. */
void sluice_value_list_names_(char *out, size_t cap, const char *const *a,
                              const char *const *b);

/* ---- plans (plan.c) -------------------------------------------------------- */

typedef struct runtime_options {
    const char *plugin_path;
    long long backoff_min, backoff_max;
    long long intensity_n, intensity_period;
    unsigned long long max_queue_memory;  /* bytes, per logger (all lanes) */
    const bkey *max_queue_memory_key;     /* its line, when set */
    long long flush_on_exit_ms;           /* 0: no flush at exit */
    bool crash_flush;                     /* write what is queued on a crash */
    sluice_metrics_listen metrics_listen; /* family 0: no metrics server */
    long long reload_timeout_ms;          /* removed sinks drain this long */
} runtime_options;

/* Everything a [sink.NAME] needs, resolved. */
typedef struct sink_plan {
    bsection *section;
    const char *name;
    const sluice_sink_api *api;
    sluice_plugin *plugin;
    sluice_format format;
    const char *pattern;
    sluice_level level;        /* level =: records below it are not its */
    sluice_option *options;    /* the keys the plugin sees, as written */
    size_t option_count;
    const sluice_option_spec *specs; /* version 2's option table, or NULL */
    sluice_parsed_options parsed;    /* their values (with specs) */
    bool used;
} sink_plan;

typedef struct logger_plan {
    bsection *section;
    const char *name;
    sink_plan *sinks[SLUICE_QUEUE_MAX_CONSUMERS];
    size_t nsinks;
    sink_plan *fallback;
    sink_plan *dead_letter;    /* takes what a sink rejected */
    sluice_level level;
    long long queue_bytes;     /* per lane */
    unsigned rings;            /* producer rings per lane */
    long long block_timeout, workers, flush_interval;
    sluice_overflow overflow;
    sluice_scheduler_kind scheduler;
    bool autostart;
    bool rings_explicit;       /* producer_rings given (not auto) */
    char *durable;             /* durable = PATH, resolved; NULL: memory */
    int durable_line;
    int durable_sync;          /* sluice_durable_sync */
    long long durable_interval_ms;
} logger_plan;

typedef struct sluice_plan {
    runtime_options runtime;
    sink_plan *sinks;
    size_t sink_count;
    logger_plan *loggers;
    size_t logger_count;
} sluice_plan;

/* Validate every section into plan (plugins loaded, option names checked,
 * typed options parsed; the plugins' own check() for version-2 plugins,
 * and with run_check for every plugin). Returns the number of
 * errors collected in b; the plan is filled as far as it could be and must
 * be freed with sluice_plan_free_ in every case. */
size_t sluice_plan_make_(sluice_builder *b, sluice_plan *plan, bool run_check);
void sluice_plan_free_(sluice_plan *plan);
/* The bytes the logger's queues map, all lanes together. */
unsigned long long sluice_plan_queue_bytes_(const logger_plan *l);
/* What a reload compares (malloc'd text; NULL when out of memory): a sink's
 * plugin as loaded, the folder of the file, its section's keys and values,
 * its resolved paths; a logger's keys and values but its level. */
char *sluice_plan_sink_signature_(const sluice_builder *b, const sink_plan *p);
char *sluice_plan_logger_signature_(const logger_plan *l);

/* ---- assembly (assemble.c), for the reload (reload.c) -------------------- */

/* A face for the logger plan l: name, level, bits, locks, its signature;
 * no generation yet. NULL (err set) when out of memory. */
sluice_logger *sluice_face_make_(sluice_runtime *rt, const logger_plan *l,
                                 sluice_error *err);
/* A generation of face for l: queues, bindings (sinks from by_plan, indexed
 * like plans), fallback, base fields; a durable logger's queues opened
 * from their files (errors name b's FILE:LINE). Not published. NULL (err
 * set) on error. */
sluice_logger *sluice_gen_make_(const sluice_builder *b, sluice_runtime *rt,
                                sluice_logger *face, const logger_plan *l,
                                sluice_sink_instance *const *by_plan,
                                const sink_plan *plans, sluice_error *err);
/* An unopened instance for plan p (it takes p's plugin), with its format
 * and signature. NULL (err set) on error. */
sluice_sink_instance *sluice_sink_make_(sluice_builder *b, sink_plan *p,
                                        sluice_error *err);
/* Count gen's bindings, fallback and dead letter in their instances'
 * users. */
void sluice_gen_count_users_(sluice_logger *gen);
/* Open s as plan p says. 0, or -1 with err "FILE:LINE: ...". */
int sluice_sink_open_plan_(sluice_builder *b, const sink_plan *p,
                           sluice_sink_instance *s, sluice_error *err);

#endif
