/*
 * builder.c -- the key store behind every configuration: sections of
 * key = value with the line each came from, and the errors collected while
 * they are read and validated (builder_internal.h maps the other parts).
 *
 * Everything the INI file can say goes through sluice_builder_set (config.c
 * is a thin layer over it), so a host program can say it all from C. Every
 * error is collected with its source and line; nothing is validated here
 * beyond the shape of sections and keys (plan.c does that), and nothing is
 * opened (assemble.c). Knows nothing of INI syntax, plugins or queues.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder_internal.h"
#include "sink_internal.h"

char *sluice_strdup_(const char *s)
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
    b->source = sluice_strdup_(source ? source : "<api>");
    if (!b->source) {
        free(b);
        return NULL;
    }
    return b;
}

void sluice_builder_set_base_dir_(sluice_builder *b, const char *dir)
{
    free(b->base_dir);
    b->base_dir = sluice_strdup_(dir);
}

void sluice_builder_host_sinks_only_(sluice_builder *b)
{
    b->host_sinks_only = true;
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
    b->errors[b->nerrors] = sluice_strdup_(full);
    if (b->errors[b->nerrors])
        b->nerrors++;
}

void sluice_builder_raw_error_(sluice_builder *b, const char *msg)
{
    char **grown = realloc(b->errors, (b->nerrors + 1) * sizeof *grown);
    if (!grown)
        return;
    b->errors = grown;
    b->errors[b->nerrors] = sluice_strdup_(msg);
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

/* The collected errors, one per line, as many whole ones as fit in err
 * (then how many more there are). */
int sluice_builder_report_(sluice_builder *b, sluice_error *err)
{
    if (!err)
        return -1;
    char *out = err->message;
    size_t cap = sizeof err->message, used = 0, shown = 0;
    const size_t count_room = 32; /* "\n(and N more)" */
    out[0] = '\0';
    for (; shown < b->nerrors; shown++) {
        size_t need = strlen(b->errors[shown]) + (shown ? 1 : 0);
        size_t reserve = shown + 1 < b->nerrors ? count_room : 0;
        if (used + need + reserve >= cap)
            break;
        int w = snprintf(out + used, cap - used, "%s%s", shown ? "\n" : "",
                         b->errors[shown]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (shown == 0 && b->nerrors) { /* the first alone is too long: cut */
        snprintf(out, cap - count_room, "%s", b->errors[0]);
        used = strlen(out);
        shown = 1;
    }
    if (shown < b->nerrors)
        snprintf(out + used, cap - used, "\n(and %zu more)", b->nerrors - shown);
    return -1;
}

int sluice_builder_report_all_(sluice_builder *b, sluice_error *err)
{
    for (size_t i = 0; b->error_fn && i < b->nerrors; i++)
        b->error_fn(b->error_user, b->errors[i]);
    return sluice_builder_report_(b, err);
}

int sluice_builder_set_error_fn(sluice_builder *b, sluice_error_fn fn,
                                void *user, sluice_error *err)
{
    if (!b)
        return sluice_error_set(err, "error callback: no builder");
    b->error_fn = fn;
    b->error_user = user;
    return 0;
}

bsection *sluice_builder_find_section_(sluice_builder *b, const char *name)
{
    for (size_t i = 0; i < b->nsections; i++)
        if (strcmp(b->sections[i].name, name) == 0)
            return &b->sections[i];
    return NULL;
}

bool sluice_section_name_valid_(const char *name)
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
    s->name = sluice_strdup_(name);
    if (!s->name)
        return NULL;
    s->line = line;
    b->nsections++;
    return s;
}

int sluice_builder_section(sluice_builder *b, const char *section, int line,
                           sluice_error *err)
{
    bsection *s = sluice_builder_find_section_(b, section);
    if (s) {
        sluice_builder_error_(b, line,
                              "duplicate section [%s] (first at line %d)",
                              section, s->line);
        return sluice_builder_report_(b, err);
    }
    if (!sluice_section_name_valid_(section)) {
        sluice_builder_error_(b, line,
                              "unknown section [%s] (expected [runtime], "
                              "[sink.NAME] or [logger.NAME]; names use "
                              "letters, digits, '_', '-', '.')",
                              section);
        /* keep it, so its keys do not each repeat this error */
    }
    if (!add_section(b, section, line)) {
        sluice_builder_error_(b, line, "out of memory");
        return sluice_builder_report_(b, err);
    }
    return 0;
}

int sluice_builder_set(sluice_builder *b, const char *section, const char *key,
                       const char *value, int line, sluice_error *err)
{
    if (!section || !key || !value) {
        sluice_builder_error_(b, line, "section, key and value are required");
        return sluice_builder_report_(b, err);
    }
    bsection *s = sluice_builder_find_section_(b, section);
    if (!s) {
        if (sluice_builder_section(b, section, line, err) != 0)
            return -1;
        s = sluice_builder_find_section_(b, section);
    }
    for (size_t i = 0; i < s->nkeys; i++) {
        if (strcmp(s->keys[i].key, key) == 0) {
            sluice_builder_error_(b, line,
                                  "[%s]: duplicate key '%s' (first at line %d)",
                                  section, key, s->keys[i].line);
            return sluice_builder_report_(b, err);
        }
    }
    if (s->nkeys == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        bkey *grown = realloc(s->keys, cap * sizeof *grown);
        if (!grown) {
            sluice_builder_error_(b, line, "out of memory");
            return sluice_builder_report_(b, err);
        }
        s->keys = grown;
        s->cap = cap;
    }
    bkey *k = &s->keys[s->nkeys];
    k->key = sluice_strdup_(key);
    k->value = sluice_strdup_(value);
    k->line = line;
    if (!k->key || !k->value) {
        free(k->key);
        free(k->value);
        sluice_builder_error_(b, line, "out of memory");
        return sluice_builder_report_(b, err);
    }
    s->nkeys++;
    return 0;
}

int sluice_builder_set_event_fn(sluice_builder *b, sluice_event_fn fn,
                                void *user, sluice_error *err)
{
    if (!b)
        return sluice_error_set(err, "event callback: no builder");
    b->event_fn = fn;
    b->event_user = user;
    return 0;
}

int sluice_builder_add_sink_api(sluice_builder *b, const sluice_sink_api *api,
                                sluice_error *err)
{
    if (sluice_sink_api_check_(api, "<host sink>", err) != 0)
        return -1;
    const sluice_sink_api **grown = realloc(b->apis, (b->napis + 1) * sizeof *grown);
    if (!grown)
        return sluice_error_set(err, "out of memory");
    b->apis = grown;
    b->apis[b->napis++] = api;
    return 0;
}

const bkey *sluice_section_key_(const bsection *s, const char *key)
{
    for (size_t i = 0; i < s->nkeys; i++)
        if (strcmp(s->keys[i].key, key) == 0)
            return &s->keys[i];
    return NULL;
}

const sluice_sink_api *sluice_builder_host_api_(sluice_builder *b,
                                                const char *name)
{
    for (size_t i = 0; i < b->napis; i++)
        if (strcmp(sluice_sink_api_name_(b->apis[i]), name) == 0)
            return b->apis[i];
    return NULL;
}
