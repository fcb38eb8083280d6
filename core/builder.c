/*
 * builder.c -- turns sections of key/value pairs into a running runtime.
 *
 * Everything the INI file can say goes through sluice_builder_set (config.c
 * is a thin layer over it), so a host program can say it all from C. All
 * validation lives here and every error is collected with its source and
 * line before anything starts: plugins are loaded and sinks opened only once
 * the whole configuration is known to be good, and a sink that fails to
 * open undoes everything before it. Knows nothing of INI syntax, queues'
 * insides or the run loop.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock_internal.h"
#include "config_internal.h"
#include "runtime_internal.h"

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
    char **errors;
    size_t nerrors;
    bool checked;
};

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

sluice_builder *sluice_builder_new(const char *source)
{
    sluice_builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->source = dup_str(source ? source : "<api>");
    if (!b->source) {
        free(b);
        return NULL;
    }
    return b;
}

void sluice_builder_set_base_dir_(sluice_builder *b, const char *dir)
{
    free(b->base_dir);
    b->base_dir = dup_str(dir);
}

void sluice_builder_free(sluice_builder *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nsections; i++) {
        bsection *s = &b->sections[i];
        for (size_t k = 0; k < s->nkeys; k++) {
            free(s->keys[k].key);
            free(s->keys[k].value);
        }
        free(s->keys);
        free(s->name);
    }
    free(b->sections);
    for (size_t i = 0; i < b->nerrors; i++)
        free(b->errors[i]);
    free(b->errors);
    free(b->apis);
    free(b->source);
    free(b->base_dir);
    free(b);
}

void sluice_builder_error_(sluice_builder *b, int line, const char *fmt, ...)
{
    char msg[SLUICE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char full[SLUICE_ERROR_MAX + 300];
    if (line > 0)
        snprintf(full, sizeof full, "%s:%d: %s", b->source, line, msg);
    else
        snprintf(full, sizeof full, "%s: %s", b->source, msg);
    char **grown = realloc(b->errors, (b->nerrors + 1) * sizeof *grown);
    if (!grown)
        return;
    b->errors = grown;
    b->errors[b->nerrors] = dup_str(full);
    if (b->errors[b->nerrors])
        b->nerrors++;
}

/* Append an already-complete message (a plugin's, which names its line). */
static void add_raw_error(sluice_builder *b, const char *msg)
{
    char **grown = realloc(b->errors, (b->nerrors + 1) * sizeof *grown);
    if (!grown)
        return;
    b->errors = grown;
    b->errors[b->nerrors] = dup_str(msg);
    if (b->errors[b->nerrors])
        b->nerrors++;
}

size_t sluice_builder_error_count_(const sluice_builder *b)
{
    return b->nerrors;
}

const char *sluice_builder_error_at_(const sluice_builder *b, size_t i)
{
    return i < b->nerrors ? b->errors[i] : NULL;
}

/* Copy the collected errors, one per line, into err. */
static int report_errors(sluice_builder *b, sluice_error *err)
{
    if (!err)
        return -1;
    size_t used = 0;
    err->message[0] = '\0';
    for (size_t i = 0; i < b->nerrors && used + 1 < sizeof err->message; i++) {
        int w = snprintf(err->message + used, sizeof err->message - used,
                         "%s%s", i ? "\n" : "", b->errors[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return -1;
}

static bsection *find_section(sluice_builder *b, const char *name)
{
    for (size_t i = 0; i < b->nsections; i++)
        if (strcmp(b->sections[i].name, name) == 0)
            return &b->sections[i];
    return NULL;
}

static int valid_section_name(const char *name)
{
    const char *n = NULL;
    if (strcmp(name, "runtime") == 0)
        return 1;
    if (strncmp(name, "sink.", 5) == 0)
        n = name + 5;
    else if (strncmp(name, "logger.", 7) == 0)
        n = name + 7;
    if (!n || !*n)
        return 0;
    for (; *n; n++)
        if (!(isalnum((unsigned char)*n) || *n == '_' || *n == '-' || *n == '.'))
            return 0;
    return 1;
}

static bsection *add_section(sluice_builder *b, const char *name, int line)
{
    if (b->nsections == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        bsection *grown = realloc(b->sections, cap * sizeof *grown);
        if (!grown)
            return NULL;
        b->sections = grown;
        b->cap = cap;
    }
    bsection *s = &b->sections[b->nsections];
    memset(s, 0, sizeof *s);
    s->name = dup_str(name);
    if (!s->name)
        return NULL;
    s->line = line;
    b->nsections++;
    return s;
}

int sluice_builder_section(sluice_builder *b, const char *section, int line,
                           sluice_error *err)
{
    bsection *s = find_section(b, section);
    if (s) {
        sluice_builder_error_(b, line,
                              "duplicate section [%s] (first at line %d)",
                              section, s->line);
        return report_errors(b, err);
    }
    if (!valid_section_name(section)) {
        sluice_builder_error_(b, line,
                              "unknown section [%s] (expected [runtime], "
                              "[sink.NAME] or [logger.NAME]; names use "
                              "letters, digits, '_', '-', '.')",
                              section);
        /* keep it, so its keys do not each repeat this error */
    }
    if (!add_section(b, section, line)) {
        sluice_builder_error_(b, line, "out of memory");
        return report_errors(b, err);
    }
    return 0;
}

int sluice_builder_set(sluice_builder *b, const char *section, const char *key,
                       const char *value, int line, sluice_error *err)
{
    if (!section || !key || !value) {
        sluice_builder_error_(b, line, "section, key and value are required");
        return report_errors(b, err);
    }
    bsection *s = find_section(b, section);
    if (!s) {
        if (sluice_builder_section(b, section, line, err) != 0)
            return -1;
        s = find_section(b, section);
    }
    for (size_t i = 0; i < s->nkeys; i++) {
        if (strcmp(s->keys[i].key, key) == 0) {
            sluice_builder_error_(b, line,
                                  "[%s]: duplicate key '%s' (first at line %d)",
                                  section, key, s->keys[i].line);
            return report_errors(b, err);
        }
    }
    if (s->nkeys == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        bkey *grown = realloc(s->keys, cap * sizeof *grown);
        if (!grown) {
            sluice_builder_error_(b, line, "out of memory");
            return report_errors(b, err);
        }
        s->keys = grown;
        s->cap = cap;
    }
    bkey *k = &s->keys[s->nkeys];
    k->key = dup_str(key);
    k->value = dup_str(value);
    k->line = line;
    if (!k->key || !k->value) {
        free(k->key);
        free(k->value);
        sluice_builder_error_(b, line, "out of memory");
        return report_errors(b, err);
    }
    s->nkeys++;
    return 0;
}

int sluice_builder_add_sink_api(sluice_builder *b, const sluice_sink_api *api,
                                sluice_error *err)
{
    if (sluice_plugin_check_api(api, "<host sink>", err) != 0)
        return -1;
    const sluice_sink_api **grown = realloc(b->apis, (b->napis + 1) * sizeof *grown);
    if (!grown)
        return sluice_error_set(err, "out of memory");
    b->apis = grown;
    b->apis[b->napis++] = api;
    return 0;
}

/* ---- value parsers ----------------------------------------------------- */

static const bkey *get_key(const bsection *s, const char *key)
{
    for (size_t i = 0; i < s->nkeys; i++)
        if (strcmp(s->keys[i].key, key) == 0)
            return &s->keys[i];
    return NULL;
}

static int parse_ll(const char *v, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        return -1;
    *out = x;
    return 0;
}

/* An integer key in [min, max]; def when absent. -1 with an error. */
static int int_key(sluice_builder *b, const bsection *s, const char *key,
                   long long def, long long min, long long max, long long *out)
{
    const bkey *k = get_key(s, key);
    if (!k) {
        *out = def;
        return 0;
    }
    long long x;
    if (parse_ll(k->value, &x) != 0) {
        sluice_builder_error_(b, k->line, "[%s] %s: '%s' is not an integer",
                              s->name, key, k->value);
        return -1;
    }
    if (x < min || x > max) {
        sluice_builder_error_(b, k->line,
                              "[%s] %s: %lld is out of range %lld..%lld",
                              s->name, key, x, min, max);
        return -1;
    }
    *out = x;
    return 0;
}

static int bool_value(const char *v, bool *out)
{
    int b;
    if (sluice_bool_parse(v, &b) != 0)
        return -1;
    *out = b != 0;
    return 0;
}

int sluice_level_parse(const char *name, sluice_level *out)
{
    static const struct {
        const char *name;
        sluice_level level;
    } names[] = {
        {"trace", SLUICE_LEVEL_TRACE}, {"debug", SLUICE_LEVEL_DEBUG},
        {"info", SLUICE_LEVEL_INFO},   {"warn", SLUICE_LEVEL_WARN},
        {"warning", SLUICE_LEVEL_WARN}, {"error", SLUICE_LEVEL_ERROR},
        {"err", SLUICE_LEVEL_ERROR},   {"fatal", SLUICE_LEVEL_FATAL},
        {"critical", SLUICE_LEVEL_FATAL}, {"off", SLUICE_LEVEL_OFF},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

/* "MIN..MAX" or "N" (milliseconds). */
static int parse_range(const char *v, long long *lo, long long *hi)
{
    const char *dots = strstr(v, "..");
    if (!dots) {
        if (parse_ll(v, lo) != 0)
            return -1;
        *hi = *lo;
        return 0;
    }
    char a[32];
    size_t n = (size_t)(dots - v);
    if (n == 0 || n >= sizeof a)
        return -1;
    memcpy(a, v, n);
    a[n] = '\0';
    return (parse_ll(a, lo) == 0 && parse_ll(dots + 2, hi) == 0) ? 0 : -1;
}

/* "N/PERIOD" with PERIOD like 500ms, 10s, 2m; or "unlimited". */
static int parse_intensity(const char *v, long long *n, long long *period_ms)
{
    if (strcmp(v, "unlimited") == 0) {
        *n = 0;
        *period_ms = 0;
        return 0;
    }
    const char *slash = strchr(v, '/');
    if (!slash)
        return -1;
    char a[32];
    size_t len = (size_t)(slash - v);
    if (len == 0 || len >= sizeof a)
        return -1;
    memcpy(a, v, len);
    a[len] = '\0';
    if (parse_ll(a, n) != 0 || *n < 1 || *n > 100000)
        return -1;
    char *end = NULL;
    errno = 0;
    long long p = strtoll(slash + 1, &end, 10);
    if (errno || end == slash + 1 || p < 1)
        return -1;
    long long mult;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    if (p > INT_MAX / mult)
        return -1;
    *period_ms = p * mult;
    return 0;
}

/* ---- validation ---------------------------------------------------------- */

static const char *const runtime_keys[] = {"plugin_path", "restart_backoff_ms",
                                           "restart_intensity", NULL};
static const char *const sink_core_keys[] = {"plugin", "format", "pattern", NULL};
static const char *const logger_keys[] = {
    "sinks", "level", "queue_capacity", "overflow", "block_timeout_ms",
    "workers", "scheduler", "flush_interval_ms", "fallback", "autostart", NULL};

static int in_list(const char *const *list, const char *key)
{
    for (; list && *list; list++) {
        size_t n = strlen(*list);
        if (n >= 2 && strcmp(*list + n - 2, ".*") == 0) {
            if (strncmp(key, *list, n - 1) == 0 && key[n - 1])
                return 1; /* "prefix.*" accepts prefix.anything */
        } else if (strcmp(*list, key) == 0) {
            return 1;
        }
    }
    return 0;
}

static void list_names(char *out, size_t cap, const char *const *a,
                       const char *const *b)
{
    size_t used = 0;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++)
        for (const char *const *p = pass ? b : a; p && *p; p++) {
            int w = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", *p);
            if (w < 0 || (size_t)w >= cap - used)
                return;
            used += (size_t)w;
        }
}

typedef struct runtime_options {
    const char *plugin_path;
    long long backoff_min, backoff_max;
    long long intensity_n, intensity_period;
} runtime_options;

static void check_runtime(sluice_builder *b, runtime_options *ro)
{
    ro->plugin_path = NULL;
    ro->backoff_min = 10;
    ro->backoff_max = 5000;
    ro->intensity_n = 5;
    ro->intensity_period = 10000;
    bsection *s = find_section(b, "runtime");
    if (!s)
        return;
    for (size_t i = 0; i < s->nkeys; i++) {
        bkey *k = &s->keys[i];
        if (!in_list(runtime_keys, k->key)) {
            sluice_builder_error_(b, k->line,
                                  "[runtime]: unknown key '%s' (known: "
                                  "plugin_path, restart_backoff_ms, "
                                  "restart_intensity)",
                                  k->key);
        } else if (strcmp(k->key, "plugin_path") == 0) {
            ro->plugin_path = k->value;
        } else if (strcmp(k->key, "restart_backoff_ms") == 0) {
            if (parse_range(k->value, &ro->backoff_min, &ro->backoff_max) != 0 ||
                ro->backoff_min < 1 || ro->backoff_max < ro->backoff_min ||
                ro->backoff_max > 3600000)
                sluice_builder_error_(b, k->line,
                                      "[runtime] restart_backoff_ms: '%s' is "
                                      "not MIN..MAX with 1 <= MIN <= MAX <= "
                                      "3600000",
                                      k->value);
        } else {
            if (parse_intensity(k->value, &ro->intensity_n,
                                &ro->intensity_period) != 0)
                sluice_builder_error_(b, k->line,
                                      "[runtime] restart_intensity: '%s' is not "
                                      "N/PERIOD (like 5/10s, 3/500ms) or "
                                      "'unlimited'",
                                      k->value);
        }
    }
}

static const sluice_sink_api *host_api(sluice_builder *b, const char *name)
{
    for (size_t i = 0; i < b->napis; i++)
        if (strcmp(b->apis[i]->name, name) == 0)
            return b->apis[i];
    return NULL;
}

/* Everything a [sink.NAME] needs, resolved. */
typedef struct sink_plan {
    bsection *section;
    const char *name;
    const sluice_sink_api *api;
    sluice_plugin *plugin;
    sluice_format format;
    const char *pattern;
    sluice_option *options;    /* the keys the plugin sees */
    size_t option_count;
    bool used;
} sink_plan;

static void free_plans(sink_plan *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sluice_plugin_unload(p[i].plugin);
        free(p[i].options);
    }
    free(p);
}

static bool owns(const sluice_sink_api *api, const char *key)
{
    return api && in_list(api->option_names, key);
}

/* Load the plugin of a sink section and check its keys. */
static void plan_sink(sluice_builder *b, const runtime_options *ro,
                      bsection *s, sink_plan *p, bool run_check)
{
    p->section = s;
    p->name = s->name + 5;
    p->format.kind = SLUICE_FORMAT_TEXT;
    p->format.pattern = NULL;
    const bkey *pk = get_key(s, "plugin");
    if (!pk) {
        sluice_builder_error_(b, s->line, "[%s]: missing key 'plugin'", s->name);
        return;
    }
    p->api = host_api(b, pk->value);
    if (!p->api) {
        sluice_error e;
        if (sluice_plugin_load(pk->value, ro->plugin_path, b->base_dir,
                               &p->plugin, &e) != 0) {
            sluice_builder_error_(b, pk->line, "[%s]: %s", s->name, e.message);
            return;
        }
        p->api = p->plugin->api;
    }
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
        if (owns(p->api, k->key)) {
            p->options[p->option_count++] =
                (sluice_option){k->key, k->value, k->line};
            continue;
        }
        if (strcmp(k->key, "format") == 0) {
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
            list_names(known, sizeof known, sink_core_keys, p->api->option_names);
            sluice_builder_error_(b, k->line,
                                  "[%s]: unknown key '%s' for plugin '%s' "
                                  "(known: %s)",
                                  s->name, k->key, p->api->name, known);
        }
    }
    if (run_check && b->nerrors == errors_before && p->api->check &&
        p->api->struct_size >= offsetof(sluice_sink_api, check) +
                                   sizeof(p->api->check)) {
        sluice_options o = {p->name, b->source, p->options, p->option_count};
        sluice_error e;
        e.message[0] = '\0';
        if (p->api->check(&o, &e) != 0)
            add_raw_error(b, e.message[0] ? e.message : "sink check failed");
    }
}

static sink_plan *find_plan(sink_plan *plans, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(plans[i].name, name) == 0)
            return &plans[i];
    return NULL;
}

/* Split "a, b ,c" into trimmed names; calls fn for each. */
static size_t split_list(const char *v, char names[][128], size_t max)
{
    size_t n = 0;
    const char *p = v;
    while (*p && n < max) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        size_t len = (size_t)(t - p);
        if (len >= 128)
            len = 127;
        memcpy(names[n], p, len);
        names[n][len] = '\0';
        n++;
        p = e;
    }
    return n;
}

typedef struct logger_plan {
    bsection *section;
    const char *name;
    sink_plan *sinks[SLUICE_QUEUE_MAX_CONSUMERS];
    size_t nsinks;
    sink_plan *fallback;
    sluice_level level;
    long long capacity, block_timeout, workers, flush_interval;
    sluice_overflow overflow;
    sluice_scheduler_kind scheduler;
    bool autostart;
} logger_plan;

static void plan_logger(sluice_builder *b, bsection *s, logger_plan *l,
                        sink_plan *plans, size_t nplans)
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
        if (!in_list(logger_keys, k->key)) {
            char known[400];
            list_names(known, sizeof known, logger_keys, NULL);
            sluice_builder_error_(b, k->line,
                                  "[%s]: unknown key '%s' (known: %s, field.NAME)",
                                  s->name, k->key, known);
        }
    }
    const bkey *k = get_key(s, "sinks");
    if (!k) {
        sluice_builder_error_(b, s->line, "[%s]: missing key 'sinks'", s->name);
    } else {
        char names[SLUICE_QUEUE_MAX_CONSUMERS + 1][128];
        size_t n = split_list(k->value, names, SLUICE_QUEUE_MAX_CONSUMERS + 1);
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
    if ((k = get_key(s, "level")) && sluice_level_parse(k->value, &l->level) != 0)
        sluice_builder_error_(b, k->line,
                              "[%s] level: '%s' is not one of trace, debug, "
                              "info, warn, error, fatal, off",
                              s->name, k->value);
    if ((k = get_key(s, "overflow"))) {
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
    if ((k = get_key(s, "scheduler"))) {
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
    if ((k = get_key(s, "autostart")) && bool_value(k->value, &l->autostart) != 0)
        sluice_builder_error_(b, k->line,
                              "[%s] autostart: '%s' is not true or false",
                              s->name, k->value);
    int_key(b, s, "queue_capacity", 131072, 2, 1LL << 26, &l->capacity);
    int_key(b, s, "block_timeout_ms", -1, -1, INT_MAX, &l->block_timeout);
    int_key(b, s, "workers", 1, 1, 64, &l->workers);
    int_key(b, s, "flush_interval_ms", 200, 1, 3600000, &l->flush_interval);
    if ((k = get_key(s, "fallback"))) {
        l->fallback = find_plan(plans, nplans, k->value);
        if (!l->fallback) {
            sluice_builder_error_(b, k->line,
                                  "[%s] fallback: no sink named '%s'", s->name,
                                  k->value);
        } else {
            for (size_t j = 0; j < l->nsinks; j++)
                if (l->sinks[j] == l->fallback)
                    sluice_builder_error_(b, k->line,
                                          "[%s] fallback: '%s' is also one of "
                                          "its sinks",
                                          s->name, k->value);
            l->fallback->used = true;
        }
    }
}

/* Validate all sections; fills plans when given. Returns error count. */
static size_t validate(sluice_builder *b, runtime_options *ro,
                       sink_plan **plans_out, size_t *nplans_out,
                       logger_plan **loggers_out, size_t *nloggers_out,
                       bool run_check)
{
    check_runtime(b, ro);
    size_t nsinks = 0, nloggers = 0;
    for (size_t i = 0; i < b->nsections; i++) {
        if (strncmp(b->sections[i].name, "sink.", 5) == 0)
            nsinks++;
        else if (strncmp(b->sections[i].name, "logger.", 7) == 0)
            nloggers++;
    }
    sink_plan *plans = calloc(nsinks ? nsinks : 1, sizeof *plans);
    logger_plan *loggers = calloc(nloggers ? nloggers : 1, sizeof *loggers);
    if (!plans || !loggers) {
        free(plans);
        free(loggers);
        sluice_builder_error_(b, 0, "out of memory");
        return b->nerrors;
    }
    size_t ns = 0, nl = 0;
    for (size_t i = 0; i < b->nsections; i++)
        if (valid_section_name(b->sections[i].name) &&
            strncmp(b->sections[i].name, "sink.", 5) == 0)
            plan_sink(b, ro, &b->sections[i], &plans[ns++], run_check);
    for (size_t i = 0; i < b->nsections; i++)
        if (valid_section_name(b->sections[i].name) &&
            strncmp(b->sections[i].name, "logger.", 7) == 0)
            plan_logger(b, &b->sections[i], &loggers[nl++], plans, ns);
    if (nl == 0)
        sluice_builder_error_(b, 0, "no [logger.NAME] section: nothing to log to");
    *plans_out = plans;
    *nplans_out = ns;
    *loggers_out = loggers;
    *nloggers_out = nl;
    return b->nerrors;
}

size_t sluice_builder_check_(sluice_builder *b)
{
    runtime_options ro;
    sink_plan *plans;
    logger_plan *loggers;
    size_t np, nl;
    validate(b, &ro, &plans, &np, &loggers, &nl, true);
    free_plans(plans, np);
    free(loggers);
    return b->nerrors;
}

/* ---- construction -------------------------------------------------------- */

static void close_sink(sluice_sink_instance *s)
{
    if (!s)
        return;
    if (s->opened)
        s->api->close(s->state);
    s->opened = false;
    pthread_mutex_destroy(&s->lock);
    sluice_plugin_unload(s->plugin);
    free(s->name);
    free(s->pattern);
    free(s);
}

static void free_logger(sluice_logger *lg)
{
    if (!lg)
        return;
    if (lg->bindings) {
        for (size_t i = 0; i < lg->lanes * lg->sinks_per_lane; i++)
            pthread_mutex_destroy(&lg->bindings[i].mu);
        free(lg->bindings);
    }
    if (lg->queues) {
        for (unsigned i = 0; i < lg->lanes; i++)
            sluice_queue_destroy(lg->queues[i]);
        free(lg->queues);
    }
    for (size_t i = 0; i < lg->field_count; i++) {
        free((char *)lg->fields[i].key);
        free((char *)lg->fields[i].value);
    }
    free(lg->fields);
    free(lg->name);
    pthread_mutex_destroy(&lg->hooks_lock);
    free(lg);
}

void sluice_runtime_free_(sluice_runtime *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->logger_count; i++)
        free_logger(rt->loggers[i]);
    free(rt->loggers);
    for (size_t i = 0; i < rt->sink_count; i++)
        close_sink(rt->sinks[i]);
    free(rt->sinks);
    free(rt);
}

void sluice_runtime_unref_(sluice_runtime *rt)
{
    if (atomic_fetch_sub(&rt->refs, 1) == 1)
        sluice_runtime_free_(rt);
}

static uint64_t round_pow2(uint64_t v)
{
    uint64_t p = 2;
    while (p < v)
        p <<= 1;
    return p;
}

static sluice_logger *make_logger(sluice_runtime *rt, logger_plan *l,
                                  sluice_sink_instance **by_plan,
                                  sink_plan *plans, sluice_error *err)
{
    sluice_logger *lg = calloc(1, sizeof *lg);
    if (!lg)
        return NULL;
    lg->name = dup_str(l->name);
    lg->rt = rt;
    pthread_mutex_init(&lg->hooks_lock, NULL);
    lg->level = l->level;
    lg->head.level = (int)l->level;
    lg->lanes = (unsigned)l->workers;
    /* the straight path needs one lane and the TSC for its timestamps */
    atomic_init(&lg->slow_path, (lg->lanes > 1 ? 1u : 0u) |
                                    (sluice_clock_uses_tsc_ ? 0u : 4u));
    lg->sinks_per_lane = l->nsinks;
    lg->overflow = l->overflow;
    lg->block_timeout_ms = (int)l->block_timeout;
    lg->flush_interval_ms = (int)l->flush_interval;
    lg->autostart = l->autostart;
    lg->scheduler = l->scheduler;
    lg->fallback = l->fallback ? by_plan[l->fallback - plans] : NULL;
    lg->queues = calloc(lg->lanes, sizeof *lg->queues);
    lg->bindings = calloc((size_t)lg->lanes * l->nsinks, sizeof *lg->bindings);
    if (!lg->name || !lg->queues || !lg->bindings)
        goto oom;
    uint64_t cap = round_pow2((uint64_t)l->capacity);
    for (unsigned lane = 0; lane < lg->lanes; lane++) {
        lg->queues[lane] = sluice_queue_create(cap, (unsigned)l->nsinks);
        if (!lg->queues[lane]) {
            sluice_error_set(err, "logger '%s': cannot map a queue of %llu slots",
                             l->name, (unsigned long long)cap);
            free_logger(lg);
            return NULL;
        }
        for (size_t i = 0; i < l->nsinks; i++) {
            sluice_binding *bd = &lg->bindings[lane * l->nsinks + i];
            bd->logger = lg;
            bd->sink = by_plan[l->sinks[i] - plans];
            bd->queue = lg->queues[lane];
            bd->lane = lane;
            bd->cursor = (unsigned)i;
            bd->state = SLUICE_STATE_IDLE;
            pthread_mutex_init(&bd->mu, NULL);
        }
    }
    /* base fields, in file order */
    const bsection *s = l->section;
    for (size_t i = 0; i < s->nkeys; i++)
        if (strncmp(s->keys[i].key, "field.", 6) == 0)
            lg->field_count++;
    if (lg->field_count) {
        lg->fields = calloc(lg->field_count, sizeof *lg->fields);
        if (!lg->fields)
            goto oom;
        size_t f = 0;
        for (size_t i = 0; i < s->nkeys; i++) {
            if (strncmp(s->keys[i].key, "field.", 6) != 0)
                continue;
            char *k = dup_str(s->keys[i].key + 6), *v = dup_str(s->keys[i].value);
            lg->fields[f++] = (sluice_field){k, k ? strlen(k) : 0, v, v ? strlen(v) : 0};
            if (!k || !v)
                goto oom;
        }
    }
    return lg;
oom:
    sluice_error_set(err, "logger '%s': out of memory", l->name);
    free_logger(lg);
    return NULL;
}

int sluice_builder_start(sluice_builder *b, sluice_runtime **out,
                         sluice_error *err)
{
    *out = NULL;
    runtime_options ro;
    sink_plan *plans = NULL;
    logger_plan *lplans = NULL;
    size_t np = 0, nl = 0;
    sluice_runtime *rt = NULL;
    sluice_sink_instance **by_plan = NULL;
    int rc = -1;

    if (validate(b, &ro, &plans, &np, &lplans, &nl, false) != 0) {
        report_errors(b, err);
        goto done;
    }
    sluice_clock_init();
    rt = calloc(1, sizeof *rt);
    by_plan = calloc(np ? np : 1, sizeof *by_plan);
    if (!rt || !by_plan) {
        sluice_error_set(err, "out of memory");
        goto done;
    }
    atomic_init(&rt->refs, 1);
    rt->backoff_min_ms = (int)ro.backoff_min;
    rt->backoff_max_ms = (int)ro.backoff_max;
    rt->intensity_restarts = (int)ro.intensity_n;
    rt->intensity_period_ms = (int)ro.intensity_period;

    /* open the sinks that some logger uses, in file order */
    rt->sinks = calloc(np ? np : 1, sizeof *rt->sinks);
    if (!rt->sinks) {
        sluice_error_set(err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < np; i++) {
        sink_plan *p = &plans[i];
        if (!p->used)
            continue;
        sluice_sink_instance *s = calloc(1, sizeof *s);
        if (!s) {
            sluice_error_set(err, "out of memory");
            goto fail;
        }
        pthread_mutex_init(&s->lock, NULL);
        s->name = dup_str(p->name);
        s->api = p->api;
        s->plugin = p->plugin;
        p->plugin = NULL; /* the instance owns it now */
        s->format = p->format;
        if (p->format.pattern) {
            s->pattern = dup_str(p->format.pattern);
            s->format.pattern = s->pattern;
        }
        if (sluice_format_compile(&s->format, err) != 0)
            goto fail; /* checked at validation: only out of memory here */
        rt->sinks[rt->sink_count++] = s;
        by_plan[i] = s;
        sluice_options o = {p->name, b->source, p->options, p->option_count};
        sluice_error e;
        e.message[0] = '\0';
        if (s->api->open(&o, &s->state, &e) != 0) {
            const char *why = e.message[0] ? e.message : "sink failed to open";
            /* plugins name file:line through sluice_options_error; else we do */
            if (strstr(why, b->source) == why)
                sluice_error_set(err, "%s", why);
            else
                sluice_error_set(err, "%s:%d: [sink.%s]: %.400s", b->source,
                                 p->section->line, p->name, why);
            goto fail;
        }
        s->opened = true;
    }
    rt->loggers = calloc(nl, sizeof *rt->loggers);
    if (!rt->loggers) {
        sluice_error_set(err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nl; i++) {
        sluice_logger *lg = make_logger(rt, &lplans[i], by_plan, plans, err);
        if (!lg)
            goto fail;
        rt->loggers[rt->logger_count++] = lg;
    }
    if (sluice_supervisor_start_(rt, err) != 0) {
        rt = NULL; /* the supervisor closed and freed it */
        goto done;
    }
    *out = rt;
    rt = NULL;
    rc = 0;
    goto done;
fail:
    sluice_runtime_free_(rt);
    rt = NULL;
done:
    free(by_plan);
    free_plans(plans, np);
    free(lplans);
    sluice_builder_free(b);
    return rc;
}
