/*
 * plugin_fixture.h -- for the plugin-level suites, which load a sink's .so
 * by path and call its table directly: loading and checking the plugin,
 * and building its options as the runtime would hand them over.
 */
#ifndef SLUICE_TEST_PLUGIN_FIXTURE_H
#define SLUICE_TEST_PLUGIN_FIXTURE_H

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <string.h>

#include <sluice/sink.h>

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

/* The options of one [sink.NAME] section, from "test.ini", each key on
 * its own line from 10 on. */
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
    cr_assert_eq(api->open(&s->o, &st, &err), 0, "open: %s", err.message);
    return st;
}

/* open() must refuse these options with an error containing want. */
static inline void plugin_expect_refused(const sluice_sink_api *api, optset *s,
                                         const char *want)
{
    void *st = NULL;
    sluice_error err = {{0}};
    cr_assert_neq(api->open(&s->o, &st, &err), 0, "accepted, wanted: %s", want);
    cr_assert_null(st);
    cr_assert(strstr(err.message, want) != NULL, "error '%s' lacks '%s'",
              err.message, want);
}

#endif
