/*
 * plugin_fixture.h -- for the plugin-level suites, which load a sink's .so
 * by path and call its table directly: loading and checking the plugin,
 * building its options as the runtime would hand them over, and opening it
 * the way the runtime does (plugin_call_open: a version-2 plugin's typed
 * options parsed by the runtime's own parser, its check() run, every
 * mistake collected in err, one per line, before open()).
 */
#ifndef SLUICE_TEST_PLUGIN_FIXTURE_H
#define SLUICE_TEST_PLUGIN_FIXTURE_H

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <sluice/sink.h>

#include "host_internal.h"
#include "options_internal.h"

/* dlopen path, check the table, and return it (the handle in *handle). */
static inline const sluice_sink_api *plugin_load(const char *path,
                                                 const char *name,
                                                 void **handle)
{
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(*handle, "dlopen %s: %s", path, dlerror());
    sluice_sink_entry_fn entry =
        (sluice_sink_entry_fn)dlsym(*handle, SLUICE_SINK_ENTRY_SYMBOL);
    cr_assert_not_null(entry, "%s: no %s", path, SLUICE_SINK_ENTRY_SYMBOL);
    const sluice_sink_api *api = entry();
    cr_assert_eq(api->abi_version, SLUICE_SINK_ABI_VERSION);
    cr_assert_str_eq(api->name, name);
    return api;
}

/* ---- opening as the runtime does ------------------------------------------ */

/* The mistakes of one plugin_call_open, as the runtime would list them. */
typedef struct fixture_errors {
    const sluice_options *raw;
    char text[8192];
    size_t count;
} fixture_errors;

/* Every mistake of the last plugin_call_open, one per line, uncut (err
 * holds as much as fits in SLUICE_ERROR_MAX). */
static char plugin_errors[8192];

static inline void fixture_add(fixture_errors *fe, int line, const char *key,
                               const char *message)
{
    char one[SLUICE_ERROR_MAX];
    sluice_option_error_format_(one, sizeof one, fe->raw->source,
                                line > 0 ? line : fe->raw->line,
                                fe->raw->sink_name, key, message);
    size_t used = strlen(fe->text);
    snprintf(fe->text + used, sizeof fe->text - used, "%s%s",
             fe->count ? "\n" : "", one);
    fe->count++;
}

static inline void fixture_on_option_error(void *user, int line,
                                           const char *key, const char *msg)
{
    fixture_add(user, line, key, msg);
}

static inline void fixture_on_report(void *user, const char *key,
                                     const char *msg)
{
    fixture_errors *fe = user;
    int line = 0;
    for (size_t i = 0; key && i < fe->raw->count; i++)
        if (strcmp(fe->raw->items[i].key, key) == 0)
            line = fe->raw->items[i].line;
    fixture_add(fe, line, key, msg);
}

/* One sink opened through the fixture at a time (each Criterion test runs
 * in its own process); the host stays valid until the next call. */
static sluice_host fixture_host;
static sluice_host_ctx fixture_host_ctx;
static sluice_parsed_options fixture_parsed;

/* Parse raw as the runtime does, run check(), then open(). 0, or nonzero
 * with err: the plugin's message, or every mistake one per line. */
static inline int plugin_call_open(const sluice_sink_api *api,
                                   const sluice_options *raw, void **state,
                                   sluice_error *err)
{
    fixture_errors fe;
    memset(&fe, 0, sizeof fe);
    fe.raw = raw;
    memset(err, 0, sizeof *err);
    plugin_errors[0] = '\0';
    *state = NULL;
    sluice_parsed_options_free_(&fixture_parsed);
    sluice_options o = *raw;
    o.specs = api->abi_version >= 2 ? api->options : NULL;
    o.values = NULL;
    if (o.specs) {
        sluice_options_parse_(o.specs, raw->items, raw->count, NULL,
                              &fixture_parsed, fixture_on_option_error, &fe);
        o.values = fixture_parsed.values;
    }
    fixture_host_ctx = (sluice_host_ctx){NULL, NULL, fixture_on_report, &fe, NULL, NULL};
    sluice_host_init_(&fixture_host, &fixture_host_ctx);
    o.host = &fixture_host;
    if (fe.count == 0 && api->check) {
        sluice_error e = {{0}};
        if (api->check(&o, &e) != 0 && fe.count == 0) {
            if (e.message[0]) { /* a whole message, FILE:LINE and all */
                *err = e;
                snprintf(plugin_errors, sizeof plugin_errors, "%s", e.message);
                return -1;
            }
            fixture_add(&fe, 0, NULL, "check failed");
        }
    }
    snprintf(plugin_errors, sizeof plugin_errors, "%s", fe.text);
    if (fe.count) {
        snprintf(err->message, sizeof err->message, "%.*s",
                 (int)sizeof err->message - 1, fe.text);
        return -1;
    }
    fixture_host_ctx.report = NULL; /* report() works in check() only */
    return api->open(&o, state, err);
}

/* The options of one [sink.NAME] section, from "test.ini", each key on
 * its own line from 10 on; the section itself on line 1. */
#define OPTSET_MAX 16
typedef struct optset {
    sluice_option items[OPTSET_MAX];
    sluice_options o;
} optset;

static inline void optset_init(optset *s, const char *sink_name)
{
    memset(s, 0, sizeof *s);
    s->o.sink_name = sink_name;
    s->o.source = "test.ini";
    s->o.items = s->items;
    s->o.line = 1;
}

static inline void optset_add(optset *s, const char *k, const char *v)
{
    cr_assert_lt(s->o.count, OPTSET_MAX);
    s->items[s->o.count] = (sluice_option){k, v, 10 + (int)s->o.count};
    s->o.count++;
}

/* open() must succeed; the sink's state. */
static inline void *plugin_open(const sluice_sink_api *api, optset *s)
{
    void *st = NULL;
    sluice_error err = {{0}};
    cr_assert_eq(plugin_call_open(api, &s->o, &st, &err), 0, "open: %s",
                 err.message);
    return st;
}

/* Opening must refuse these options with an error containing want. */
static inline void plugin_expect_refused(const sluice_sink_api *api, optset *s,
                                         const char *want)
{
    void *st = NULL;
    sluice_error err = {{0}};
    cr_assert_neq(plugin_call_open(api, &s->o, &st, &err), 0,
                  "accepted, wanted: %s", want);
    cr_assert_null(st);
    cr_assert(strstr(err.message, want) != NULL, "error '%s' lacks '%s'",
              err.message, want);
}

#endif
