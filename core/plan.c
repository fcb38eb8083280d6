/*
 * plan.c -- validation: checks every section of a builder into plans (the
 * runtime's options, one plan per sink with its plugin loaded and its
 * options sorted out, one per logger with its sinks resolved), collecting
 * every error with its line. Nothing is opened and no thread started:
 * `sluice check` stops here, sluice_builder_start goes on to assemble.c.
 * Also a plan's signature: what a reload compares to tell a sink or logger
 * that did not change from one that did.
 * Knows nothing of INI syntax, queues' insides or the run loop.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builder_internal.h"
#include "durable_internal.h"
#include "host_internal.h"
#include "options_internal.h"
#include "sink_internal.h"

static const char *const runtime_keys[] = {
    "plugin_path", "restart_backoff_ms", "restart_intensity",
    "max_queue_memory", "flush_on_exit_ms", "crash_flush", "metrics_listen",
    "reload_timeout_ms", NULL};
static const char *const sink_core_keys[] = {"plugin", "format", "pattern",
                                             "level", NULL};
#define SINK_CORE_KEYS 4
static const char *const logger_keys[] = {
    "sinks", "level", "queue_capacity", "queue_size", "producer_rings",
    "overflow", "block_timeout_ms", "workers", "scheduler",
    "flush_interval_ms", "fallback", "dead_letter", "autostart", "durable",
    "durable_sync", NULL};

static void plan_runtime(sluice_builder *b, runtime_options *ro)
{
    ro->plugin_path = NULL;
    ro->backoff_min = 10;
    ro->backoff_max = 5000;
    ro->intensity_n = 5;
    ro->intensity_period = 10000;
    ro->max_queue_memory = 1ULL << 30;
    ro->max_queue_memory_key = NULL;
    ro->flush_on_exit_ms = 3000;
    ro->crash_flush = false;
    ro->reload_timeout_ms = 5000;
    memset(&ro->metrics_listen, 0, sizeof ro->metrics_listen);
    bsection *s = sluice_builder_find_section_(b, "runtime");
    if (!s)
        return;
    for (size_t i = 0; i < s->nkeys; i++) {
        bkey *k = &s->keys[i];
        if (!sluice_value_in_list_(runtime_keys, k->key)) {
            char known[400];
            sluice_value_list_names_(known, sizeof known, runtime_keys, NULL);
            sluice_builder_error_(b, k->line,
                                  "[runtime]: unknown key '%s' (known: %s)",
                                  k->key, known);
        } else if (strcmp(k->key, "max_queue_memory") == 0) {
            ro->max_queue_memory_key = k;
            long long bytes = 0;
            if (sluice_value_size_(k->value, &bytes) == 0)
                ro->max_queue_memory = (unsigned long long)bytes;
            if (bytes <= 0)
                sluice_builder_error_(b, k->line,
                                      "[runtime] max_queue_memory: '%s' is not "
                                      "a size (like 1073741824, 256M, 1G)",
                                      k->value);
        } else if (strcmp(k->key, "flush_on_exit_ms") == 0) {
            if (sluice_value_ll_(k->value, &ro->flush_on_exit_ms) != 0 ||
                ro->flush_on_exit_ms < 0 || ro->flush_on_exit_ms > 3600000)
                sluice_builder_error_(b, k->line,
                                      "[runtime] flush_on_exit_ms: '%s' is not "
                                      "0..3600000 (0: no flush at exit)",
                                      k->value);
        } else if (strcmp(k->key, "reload_timeout_ms") == 0) {
            if (sluice_value_duration_(k->value, &ro->reload_timeout_ms) != 0 ||
                ro->reload_timeout_ms < 0 || ro->reload_timeout_ms > 3600000)
                sluice_builder_error_(b, k->line,
                                      "[runtime] reload_timeout_ms: '%s' is not "
                                      "0..3600000 (ms, or with ms, s, m, h)",
                                      k->value);
        } else if (strcmp(k->key, "crash_flush") == 0) {
            if (sluice_value_bool_(k->value, &ro->crash_flush) != 0)
                sluice_builder_error_(b, k->line,
                                      "[runtime] crash_flush: '%s' is not true "
                                      "or false",
                                      k->value);
        } else if (strcmp(k->key, "metrics_listen") == 0) {
            char why[256];
            if (sluice_metrics_listen_parse_(k->value, &ro->metrics_listen, why,
                                             sizeof why) != 0)
                sluice_builder_error_(b, k->line, "[runtime] metrics_listen: %s",
                                      why);
            /* FILE:LINE, for an error when the server starts */
            char *where = ro->metrics_listen.where;
            size_t where_cap = sizeof ro->metrics_listen.where;
            if (k->line)
                snprintf(where, where_cap, "%s:%d", b->source, k->line);
            else
                snprintf(where, where_cap, "%s", b->source);
        } else if (strcmp(k->key, "plugin_path") == 0) {
            ro->plugin_path = k->value;
        } else if (strcmp(k->key, "restart_backoff_ms") == 0) {
            if (sluice_value_range_(k->value, &ro->backoff_min, &ro->backoff_max) != 0 ||
                ro->backoff_min < 1 || ro->backoff_max < ro->backoff_min ||
                ro->backoff_max > 3600000)
                sluice_builder_error_(b, k->line,
                                      "[runtime] restart_backoff_ms: '%s' is "
                                      "not MIN..MAX with 1 <= MIN <= MAX <= "
                                      "3600000",
                                      k->value);
        } else {
            if (sluice_value_intensity_(k->value, &ro->intensity_n,
                                &ro->intensity_period) != 0)
                sluice_builder_error_(b, k->line,
                                      "[runtime] restart_intensity: '%s' is not "
                                      "N/PERIOD (like 5/10s, 3/500ms) or "
                                      "'unlimited'",
                                      k->value);
        }
    }
}


/* Where typed option mistakes and check()'s reports of one sink go. */
typedef struct sink_errors {
    sluice_builder *b;
    const bsection *section;
    const sink_plan *plan;
    size_t reported;           /* by check() through the host */
} sink_errors;

static void add_option_error(sink_errors *ctx, int line, const char *key,
                             const char *message)
{
    char full[SLUICE_ERROR_MAX + 300];
    sluice_option_error_format_(full, sizeof full, ctx->b->source,
                                line > 0 ? line : ctx->section->line,
                                ctx->plan->name, key, message);
    sluice_builder_raw_error_(ctx->b, full);
}

static void on_option_error(void *user, int line, const char *key,
                            const char *message)
{
    add_option_error(user, line, key, message);
}

/* check() reporting one mistake, on the line of the key as written (or of
 * the section). */
static void on_check_report(void *user, const char *key, const char *message)
{
    sink_errors *ctx = user;
    const sink_plan *p = ctx->plan;
    int line = ctx->section->line;
    for (size_t i = 0; key && i < p->option_count; i++)
        if (strcmp(p->options[i].key, key) == 0)
            line = p->options[i].line;
    add_option_error(ctx, line, key, message);
    ctx->reported++;
}

/* The plugin's own check() (its rules across options), every mistake it
 * reports collected. */
static void check_sink(sluice_builder *b, bsection *s, sink_plan *p)
{
    sink_errors ctx = {b, s, p, 0};
    sluice_host_ctx host_ctx = {b->base_dir, NULL, on_check_report, &ctx,
                                NULL, NULL};
    sluice_host host;
    sluice_host_init_(&host, &host_ctx);
    sluice_options o = {p->name,          b->source,        p->options,
                        p->option_count,  p->specs,         p->parsed.values,
                        &host,            s->line};
    sluice_error e;
    if (sluice_sink_check_(p->api, &o, &e) == 0)
        return;
    if (e.message[0])
        sluice_builder_raw_error_(b, e.message);
    else if (ctx.reported == 0)
        sluice_builder_error_(b, s->line, "[%s]: plugin '%s': check failed",
                              s->name, sluice_sink_api_name_(p->api));
}

/* Load the plugin of a sink section, sort its keys, parse the plugin's
 * typed options, and (with run_check, or always for a version-2 plugin)
 * run its check(). */
static void plan_sink(sluice_builder *b, const runtime_options *ro,
                      bsection *s, sink_plan *p, bool run_check)
{
    p->section = s;
    p->name = s->name + 5;
    p->format.kind = SLUICE_FORMAT_TEXT;
    p->format.pattern = NULL;
    p->level = SLUICE_LEVEL_TRACE;
    const bkey *pk = sluice_section_key_(s, "plugin");
    if (!pk) {
        sluice_builder_error_(b, s->line, "[%s]: missing key 'plugin'", s->name);
        return;
    }
    p->api = sluice_builder_host_api_(b, pk->value);
    if (!p->api && b->host_sinks_only) {
        sluice_builder_error_(b, pk->line, "[%s]: no sink '%s' is registered "
                              "(plugin files are not loaded here)", s->name,
                              pk->value);
        return;
    }
    if (!p->api) {
        sluice_error e;
        if (sluice_plugin_load(pk->value, ro->plugin_path, b->base_dir,
                               &p->plugin, &e) != 0) {
            sluice_builder_error_(b, pk->line, "[%s]: %s", s->name, e.message);
            return;
        }
        p->api = p->plugin->api;
    }
    p->format.kind = sluice_sink_api_default_format_(p->api);
    p->specs = sluice_sink_api_options_(p->api);
    bool needs_line = sluice_sink_api_needs_line_(p->api);
    p->options = calloc(s->nkeys ? s->nkeys : 1, sizeof *p->options);
    if (!p->options) {
        sluice_builder_error_(b, s->line, "out of memory");
        return;
    }
    size_t errors_before = b->nerrors;
    for (size_t i = 0; i < s->nkeys; i++) {
        bkey *k = &s->keys[i];
        if (strcmp(k->key, "plugin") == 0)
            continue;
        if (strcmp(k->key, "level") == 0) { /* the runtime's, for any plugin */
            if (sluice_level_parse(k->value, &p->level) != 0)
                sluice_builder_error_(b, k->line,
                                      "[%s] level: '%s' is not one of trace, "
                                      "debug, info, warn, error, fatal, off",
                                      s->name, k->value);
            continue;
        }
        if (sluice_sink_api_has_option_(p->api, k->key)) {
            p->options[p->option_count++] =
                (sluice_option){k->key, k->value, k->line};
            continue;
        }
        bool core_key = strcmp(k->key, "format") == 0 ||
                        strcmp(k->key, "pattern") == 0;
        if (core_key && !needs_line) {
            sluice_builder_error_(b, k->line,
                                  "[%s] %s: plugin '%s' builds its own "
                                  "messages and never reads the rendered "
                                  "line, so '%s' would change nothing",
                                  s->name, k->key,
                                  sluice_sink_api_name_(p->api), k->key);
        } else if (strcmp(k->key, "format") == 0) {
            if (sluice_format_parse(k->value, &p->format.kind) != 0)
                sluice_builder_error_(b, k->line,
                                      "[%s] format: '%s' is not text, json or "
                                      "logfmt",
                                      s->name, k->value);
        } else if (strcmp(k->key, "pattern") == 0) {
            sluice_error e;
            if (sluice_pattern_check(k->value, &e) != 0)
                sluice_builder_error_(b, k->line, "[%s] pattern: %s", s->name,
                                      e.message);
            p->format.pattern = k->value;
        } else {
            char known[400];
            if (p->specs) {
                size_t used = 0;
                size_t n = sluice_option_spec_count_(p->specs);
                known[0] = '\0';
                for (size_t j = 0; j < n + SINK_CORE_KEYS && used + 1 < sizeof known;
                     j++) {
                    const char *name = j < SINK_CORE_KEYS
                                           ? sink_core_keys[j]
                                           : p->specs[j - SINK_CORE_KEYS].name;
                    int w = snprintf(known + used, sizeof known - used, "%s%s",
                                     used ? ", " : "", name);
                    if (w < 0 || (size_t)w >= sizeof known - used)
                        break;
                    used += (size_t)w;
                }
            } else {
                sluice_value_list_names_(known, sizeof known, sink_core_keys,
                                         sluice_sink_api_option_names_(p->api));
            }
            sluice_builder_error_(b, k->line,
                                  "[%s]: unknown key '%s' for plugin '%s' "
                                  "(known: %s)",
                                  s->name, k->key, sluice_sink_api_name_(p->api),
                                  known);
        }
    }
    if (p->specs) {
        sink_errors ctx = {b, s, p, 0};
        sluice_options_parse_(p->specs, p->options, p->option_count,
                              b->base_dir, &p->parsed, on_option_error, &ctx);
    }
    bool run = run_check || sluice_sink_api_checks_before_open_(p->api);
    if (run && b->nerrors == errors_before)
        check_sink(b, s, p);
}

static sink_plan *find_plan(sink_plan *plans, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(plans[i].name, name) == 0)
            return &plans[i];
    return NULL;
}


/* The bytes a logger's queues map, all lanes. */
unsigned long long sluice_plan_queue_bytes_(const logger_plan *l)
{
    return (unsigned long long)sluice_queue_region_size(
               (size_t)l->queue_bytes, l->rings, (unsigned)l->nsinks) *
           (unsigned long long)l->workers;
}

static void human_size(char *out, size_t cap, unsigned long long bytes)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    unsigned u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* The queues fit [runtime] max_queue_memory (each logger's, all lanes). */
static void check_queue_memory(sluice_builder *b, const runtime_options *ro,
                               const bsection *s, const logger_plan *l)
{
    unsigned long long bytes = sluice_plan_queue_bytes_(l);
    if (bytes <= ro->max_queue_memory)
        return;
    const bkey *k = sluice_section_key_(s, "queue_size");
    if (!k)
        k = sluice_section_key_(s, "queue_capacity");
    if (!k)
        k = sluice_section_key_(s, "workers");
    char need[32], max[32], each[32];
    human_size(need, sizeof need, bytes);
    human_size(each, sizeof each, bytes / (unsigned long long)l->workers);
    human_size(max, sizeof max, ro->max_queue_memory);
    sluice_builder_error_(b, k ? k->line : s->line,
                          "[%s]: its queues take %s (%lld lanes x %s), more "
                          "than [runtime] max_queue_memory = %s%s",
                          s->name, need, l->workers, each, max,
                          ro->max_queue_memory_key ? "" : " (the default)");
}

/* The sink a logger's key (fallback, dead_letter) names, which must not be
 * one of its sinks; NULL when the key is absent (or wrong: error added). */
static sink_plan *extra_sink(sluice_builder *b, const bsection *s,
                             const logger_plan *l, const char *key,
                             sink_plan *plans, size_t nplans)
{
    const bkey *k = sluice_section_key_(s, key);
    if (!k)
        return NULL;
    sink_plan *p = find_plan(plans, nplans, k->value);
    if (!p) {
        sluice_builder_error_(b, k->line, "[%s] %s: no sink named '%s'",
                              s->name, key, k->value);
        return NULL;
    }
    for (size_t j = 0; j < l->nsinks; j++)
        if (l->sinks[j] == p)
            sluice_builder_error_(b, k->line,
                                  "[%s] %s: '%s' is also one of its sinks",
                                  s->name, key, k->value);
    p->used = true;
    return p;
}

/* durable = PATH (against the INI file's folder, like plugin paths) and
 * durable_sync = none | interval:MS | batch. The folder must exist now;
 * the file itself is opened when the runtime starts. */
static void plan_durable(sluice_builder *b, const bsection *s, logger_plan *l)
{
    l->durable_sync = SLUICE_DURABLE_SYNC_NONE;
    l->durable_interval_ms = 0;
    const bkey *sync = sluice_section_key_(s, "durable_sync");
    const bkey *k = sluice_section_key_(s, "durable");
    if (sync) {
        const char *v = sync->value;
        long long ms = 0;
        if (strcmp(v, "none") == 0) {
            l->durable_sync = SLUICE_DURABLE_SYNC_NONE;
        } else if (strcmp(v, "batch") == 0) {
            l->durable_sync = SLUICE_DURABLE_SYNC_BATCH;
        } else if (strncmp(v, "interval:", 9) == 0 &&
                   sluice_value_duration_(v + 9, &ms) == 0 && ms >= 1 &&
                   ms <= 3600000) {
            l->durable_sync = SLUICE_DURABLE_SYNC_INTERVAL;
            l->durable_interval_ms = ms;
        } else {
            sluice_builder_error_(b, sync->line,
                                  "[%s] durable_sync: '%s' is not none, "
                                  "interval:MS (1 ms to 1 h, like "
                                  "interval:200 or interval:1s) or batch",
                                  s->name, v);
        }
        if (!k)
            sluice_builder_error_(b, sync->line,
                                  "[%s] durable_sync: the logger has no "
                                  "'durable' file to sync",
                                  s->name);
    }
    if (!k)
        return;
    l->durable_line = k->line;
    const char *v = k->value;
    size_t n = strlen(v);
    if (n == 0 || v[n - 1] == '/') {
        sluice_builder_error_(b, k->line,
                              "[%s] durable: '%s' is not a file path", s->name, v);
        return;
    }
    size_t cap = n + 2 + (b->base_dir ? strlen(b->base_dir) : 0);
    l->durable = malloc(cap);
    if (!l->durable) {
        sluice_builder_error_(b, k->line, "out of memory");
        return;
    }
    if (b->base_dir && v[0] != '/')
        snprintf(l->durable, cap, "%s/%s", b->base_dir, v);
    else
        snprintf(l->durable, cap, "%s", v);
    char *dir = sluice_strdup_(l->durable);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    struct stat st;
    const char *folder = slash ? dir : ".";
    if (stat(folder, &st) != 0)
        sluice_builder_error_(b, k->line,
                              "[%s] durable: %s: its directory %s does not "
                              "exist",
                              s->name, l->durable, folder);
    else if (!S_ISDIR(st.st_mode))
        sluice_builder_error_(b, k->line,
                              "[%s] durable: %s: %s is not a directory",
                              s->name, l->durable, folder);
    free(dir);
}

/* No two loggers share a durable file (lane files included). */
static void check_durable_paths(sluice_builder *b, sluice_plan *plan)
{
    for (size_t i = 0; i < plan->logger_count; i++) {
        const logger_plan *l = &plan->loggers[i];
        for (size_t j = 0; l->durable && j < i; j++) {
            const logger_plan *o = &plan->loggers[j];
            if (o->durable && strcmp(o->durable, l->durable) == 0)
                sluice_builder_error_(b, l->durable_line,
                                      "[%s] durable: %s is already the file "
                                      "of [%s]",
                                      l->section->name, l->durable,
                                      o->section->name);
        }
    }
}

static void plan_logger(sluice_builder *b, const runtime_options *ro,
                        bsection *s, logger_plan *l, sink_plan *plans,
                        size_t nplans)
{
    memset(l, 0, sizeof *l);
    l->section = s;
    l->name = s->name + 7;
    l->level = SLUICE_LEVEL_INFO;
    l->overflow = SLUICE_OVERFLOW_BLOCK;
    l->autostart = true;
    for (size_t i = 0; i < s->nkeys; i++) {
        bkey *k = &s->keys[i];
        if (strncmp(k->key, "field.", 6) == 0) {
            if (!k->key[6])
                sluice_builder_error_(b, k->line, "[%s]: empty field name", s->name);
            continue;
        }
        if (!sluice_value_in_list_(logger_keys, k->key)) {
            char known[400];
            sluice_value_list_names_(known, sizeof known, logger_keys, NULL);
            sluice_builder_error_(b, k->line,
                                  "[%s]: unknown key '%s' (known: %s, field.NAME)",
                                  s->name, k->key, known);
        }
    }
    const bkey *k = sluice_section_key_(s, "sinks");
    if (!k) {
        sluice_builder_error_(b, s->line, "[%s]: missing key 'sinks'", s->name);
    } else {
        char names[SLUICE_QUEUE_MAX_CONSUMERS + 1][128];
        size_t n = sluice_value_list_(k->value, names, SLUICE_QUEUE_MAX_CONSUMERS + 1);
        if (n == 0)
            sluice_builder_error_(b, k->line, "[%s] sinks: no sink named", s->name);
        if (n > SLUICE_QUEUE_MAX_CONSUMERS)
            sluice_builder_error_(b, k->line, "[%s] sinks: more than %d sinks",
                                  s->name, SLUICE_QUEUE_MAX_CONSUMERS);
        for (size_t i = 0; i < n && i < SLUICE_QUEUE_MAX_CONSUMERS; i++) {
            sink_plan *p = find_plan(plans, nplans, names[i]);
            if (!p) {
                sluice_builder_error_(b, k->line,
                                      "[%s] sinks: no sink named '%s' (declare "
                                      "it as [sink.%s])",
                                      s->name, names[i], names[i]);
                continue;
            }
            for (size_t j = 0; j < l->nsinks; j++)
                if (l->sinks[j] == p)
                    sluice_builder_error_(b, k->line,
                                          "[%s] sinks: '%s' is named twice",
                                          s->name, names[i]);
            l->sinks[l->nsinks++] = p;
            p->used = true;
        }
    }
    if ((k = sluice_section_key_(s, "level")) && sluice_level_parse(k->value, &l->level) != 0)
        sluice_builder_error_(b, k->line,
                              "[%s] level: '%s' is not one of trace, debug, "
                              "info, warn, error, fatal, off",
                              s->name, k->value);
    if ((k = sluice_section_key_(s, "overflow"))) {
        if (strcmp(k->value, "block") == 0)
            l->overflow = SLUICE_OVERFLOW_BLOCK;
        else if (strcmp(k->value, "drop_newest") == 0)
            l->overflow = SLUICE_OVERFLOW_DROP_NEWEST;
        else if (strcmp(k->value, "drop_oldest") == 0)
            l->overflow = SLUICE_OVERFLOW_DROP_OLDEST;
        else
            sluice_builder_error_(b, k->line,
                                  "[%s] overflow: '%s' is not block, "
                                  "drop_newest or drop_oldest",
                                  s->name, k->value);
    }
    if ((k = sluice_section_key_(s, "scheduler"))) {
        if (strcmp(k->value, "thread") == 0)
            l->scheduler = SLUICE_SCHEDULER_THREAD;
        else if (strcmp(k->value, "round_robin") == 0)
            l->scheduler = SLUICE_SCHEDULER_ROUND_ROBIN;
        else
            sluice_builder_error_(b, k->line,
                                  "[%s] scheduler: '%s' is not thread or "
                                  "round_robin",
                                  s->name, k->value);
    }
    if ((k = sluice_section_key_(s, "autostart")) && sluice_value_bool_(k->value, &l->autostart) != 0)
        sluice_builder_error_(b, k->line,
                              "[%s] autostart: '%s' is not true or false",
                              s->name, k->value);
    /* the queue: queue_size bytes, or queue_capacity records of the old
     * 128 bytes each (the default: 131072 records, 16 MiB) */
    long long capacity;
    sluice_value_int_key_(b, s, "queue_capacity", 131072, 2, 1LL << 26, &capacity);
    l->queue_bytes = capacity * 128;
    if ((k = sluice_section_key_(s, "queue_size"))) {
        long long bytes = 0;
        if (sluice_section_key_(s, "queue_capacity"))
            sluice_builder_error_(b, k->line,
                                  "[%s] queue_size: give queue_size or "
                                  "queue_capacity, not both",
                                  s->name);
        else if (sluice_value_size_(k->value, &bytes) != 0 ||
                 bytes < (long long)SLUICE_RING_MIN_BYTES)
            sluice_builder_error_(b, k->line,
                                  "[%s] queue_size: '%s' is not a size of at "
                                  "least 64K (like 16M, 1G)",
                                  s->name, k->value);
        else
            l->queue_bytes = bytes;
    }
    l->rings = 0;
    if ((k = sluice_section_key_(s, "producer_rings")) && strcmp(k->value, "auto") != 0) {
        long long rings = 0;
        if (sluice_value_ll_(k->value, &rings) != 0 || rings < 1 ||
            rings > SLUICE_QUEUE_MAX_RINGS || (rings & (rings - 1)))
            sluice_builder_error_(b, k->line,
                                  "[%s] producer_rings: '%s' is not auto, 1, "
                                  "2, 4 or 8",
                                  s->name, k->value);
        else
            l->rings = (unsigned)rings;
        l->rings_explicit = true;
    }
    if (l->rings == 0)
        l->rings = sluice_queue_default_rings((size_t)l->queue_bytes);
    sluice_value_int_key_(b, s, "block_timeout_ms", -1, -1, INT_MAX, &l->block_timeout);
    sluice_value_int_key_(b, s, "workers", 1, 1, 64, &l->workers);
    sluice_value_int_key_(b, s, "flush_interval_ms", 200, 1, 3600000, &l->flush_interval);
    check_queue_memory(b, ro, s, l);
    plan_durable(b, s, l);
    l->fallback = extra_sink(b, s, l, "fallback", plans, nplans);
    l->dead_letter = extra_sink(b, s, l, "dead_letter", plans, nplans);
}

size_t sluice_plan_make_(sluice_builder *b, sluice_plan *plan, bool run_check)
{
    memset(plan, 0, sizeof *plan);
    plan_runtime(b, &plan->runtime);
    size_t nsinks = 0, nloggers = 0;
    for (size_t i = 0; i < b->nsections; i++) {
        if (strncmp(b->sections[i].name, "sink.", 5) == 0)
            nsinks++;
        else if (strncmp(b->sections[i].name, "logger.", 7) == 0)
            nloggers++;
    }
    plan->sinks = calloc(nsinks ? nsinks : 1, sizeof *plan->sinks);
    plan->loggers = calloc(nloggers ? nloggers : 1, sizeof *plan->loggers);
    if (!plan->sinks || !plan->loggers) {
        sluice_builder_error_(b, 0, "out of memory");
        return b->nerrors;
    }
    for (size_t i = 0; i < b->nsections; i++)
        if (sluice_section_name_valid_(b->sections[i].name) &&
            strncmp(b->sections[i].name, "sink.", 5) == 0)
            plan_sink(b, &plan->runtime, &b->sections[i],
                      &plan->sinks[plan->sink_count++], run_check);
    for (size_t i = 0; i < b->nsections; i++)
        if (sluice_section_name_valid_(b->sections[i].name) &&
            strncmp(b->sections[i].name, "logger.", 7) == 0)
            plan_logger(b, &plan->runtime, &b->sections[i],
                        &plan->loggers[plan->logger_count++], plan->sinks,
                        plan->sink_count);
    if (plan->logger_count == 0)
        sluice_builder_error_(b, 0, "no [logger.NAME] section: nothing to log to");
    check_durable_paths(b, plan);
    return b->nerrors;
}

void sluice_plan_free_(sluice_plan *plan)
{
    for (size_t i = 0; plan->sinks && i < plan->sink_count; i++) {
        sluice_plugin_unload(plan->sinks[i].plugin);
        free(plan->sinks[i].options);
        sluice_parsed_options_free_(&plan->sinks[i].parsed);
    }
    free(plan->sinks);
    for (size_t i = 0; plan->loggers && i < plan->logger_count; i++)
        free(plan->loggers[i].durable);
    free(plan->loggers);
    memset(plan, 0, sizeof *plan);
}

/* ---- signatures: what a reload compares ---------------------------------- */

/* One "key=value" of a section, length-prefixed so that no text can pass
 * for another. */
static void put_pair(sluice_buf *out, const char *key, const char *value)
{
    char head[48];
    snprintf(head, sizeof head, "%zu:", strlen(key));
    sluice_buf_puts(out, head);
    sluice_buf_puts(out, key);
    snprintf(head, sizeof head, "=%zu:", strlen(value));
    sluice_buf_puts(out, head);
    sluice_buf_puts(out, value);
    sluice_buf_putc(out, '\n');
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const bkey *const *)a)->key, (*(const bkey *const *)b)->key);
}

/* The keys of s but skip (NULL: none), sorted, then its field.NAME keys in
 * file order (their order is the order fields are rendered in). */
static void put_section(sluice_buf *out, const bsection *s, const char *skip)
{
    const bkey **sorted = calloc(s->nkeys ? s->nkeys : 1, sizeof *sorted);
    if (!sorted) {
        out->failed = 1;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->nkeys; i++)
        if (strncmp(s->keys[i].key, "field.", 6) != 0 &&
            !(skip && strcmp(s->keys[i].key, skip) == 0))
            sorted[n++] = &s->keys[i];
    qsort(sorted, n, sizeof *sorted, by_key);
    for (size_t i = 0; i < n; i++)
        put_pair(out, sorted[i]->key, sorted[i]->value);
    free(sorted);
    for (size_t i = 0; i < s->nkeys; i++)
        if (strncmp(s->keys[i].key, "field.", 6) == 0)
            put_pair(out, s->keys[i].key, s->keys[i].value);
}

static char *finish_signature(sluice_buf *out)
{
    sluice_buf_putc(out, '\0');
    if (out->failed) {
        sluice_buf_free(out);
        return NULL;
    }
    return out->data;
}

char *sluice_plan_sink_signature_(const sluice_builder *b, const sink_plan *p)
{
    sluice_buf out;
    sluice_buf_init(&out);
    char head[64];
    /* the plugin as loaded (plugin_path may point the name elsewhere) and
     * the folder relative paths are resolved against */
    snprintf(head, sizeof head, "api %p\n", (const void *)p->api);
    sluice_buf_puts(&out, head);
    put_pair(&out, "base_dir", b->base_dir ? b->base_dir : "");
    put_section(&out, p->section, NULL);
    /* typed paths as resolved */
    for (size_t i = 0; p->specs && i < p->parsed.count; i++) {
        if (p->specs[i].type != SLUICE_OPTION_PATH || !p->parsed.values[i].string)
            continue;
        put_pair(&out, p->specs[i].name, p->parsed.values[i].string);
    }
    return finish_signature(&out);
}

char *sluice_plan_logger_signature_(const logger_plan *l)
{
    sluice_buf out;
    sluice_buf_init(&out);
    put_section(&out, l->section, "level");
    return finish_signature(&out);
}

size_t sluice_builder_check_(sluice_builder *b)
{
    sluice_plan plan;
    sluice_plan_make_(b, &plan, true);
    sluice_plan_free_(&plan);
    return b->nerrors;
}
