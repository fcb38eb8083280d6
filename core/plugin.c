/*
 * plugin.c -- the sink plugin loader.
 *
 * Resolves `plugin = NAME` on the search path ([runtime] plugin_path, then
 * SLUICE_PLUGIN_PATH, then the installed plugin directory) or loads the file
 * given as a path, and refuses, naming the file: a file that is not a
 * loadable shared object, one without sluice_sink_entry, one whose table
 * the doorway (sink.c) refuses (version, size, entry points), and one whose
 * name differs from the configuration's. A NAME
 * with '/' or ".." is refused unless written as a path.
 * Knows nothing of records, queues or configuration files.
 */
#include "plugin_internal.h"
#include "sink_internal.h"

#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SLUICE_PLUGINDIR
#define SLUICE_PLUGINDIR "/usr/local/lib/sluice/plugins"
#endif

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int is_path(const char *spec)
{
    return spec[0] == '/' || strncmp(spec, "./", 2) == 0 ||
           strncmp(spec, "../", 3) == 0;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* Append the ':'-separated dirs of list to out, resolving relative ones
 * against base_dir. */
static void append_dirs(char **out, size_t *len, const char *list,
                        const char *base_dir)
{
    if (!list)
        return;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n) {
            char dir[PATH_MAX];
            if (p[0] != '/' && base_dir)
                snprintf(dir, sizeof dir, "%s/%.*s", base_dir, (int)n, p);
            else
                snprintf(dir, sizeof dir, "%.*s", (int)n, p);
            size_t dl = strlen(dir);
            char *grown = realloc(*out, *len + dl + 2);
            if (!grown)
                return;
            *out = grown;
            if (*len)
                (*out)[(*len)++] = ':';
            memcpy(*out + *len, dir, dl + 1);
            *len += dl;
        }
        p += n;
        if (*p == ':')
            p++;
    }
}

char *sluice_plugin_search_path(const char *search, const char *base_dir)
{
    char *out = calloc(1, 1);
    size_t len = 0;
    if (!out)
        return NULL;
    append_dirs(&out, &len, search, base_dir);
    append_dirs(&out, &len, getenv("SLUICE_PLUGIN_PATH"), NULL);
    append_dirs(&out, &len, SLUICE_PLUGINDIR, NULL);
    return out;
}

static int load_file(const char *path, const char *want_name,
                     sluice_plugin **out, sluice_error *err)
{
    dlerror();
    /* RTLD_NODELETE: a plugin's code stays mapped after its last dlclose,
     * so a thread the plugin (or its library: librdkafka, librelp) left
     * behind never runs unmapped code, and what such a library leaks can
     * still be named by a leak checker */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char *e = dlerror();
        return sluice_error_set(err, "%s: cannot load plugin: %s", path,
                                e ? e : "unknown error");
    }
    dlerror();
    void *sym = dlsym(h, SLUICE_SINK_ENTRY_SYMBOL);
    if (!sym) {
        dlclose(h);
        return sluice_error_set(err,
                                "%s: no %s symbol: not a sluice sink plugin",
                                path, SLUICE_SINK_ENTRY_SYMBOL);
    }
    sluice_sink_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const sluice_sink_api *api = sluice_sink_api_from_entry_(entry, path, err);
    if (!api) {
        dlclose(h);
        return -1;
    }
    const char *name = sluice_sink_api_name_(api);
    if (want_name && strcmp(name, want_name) != 0) {
        int rc = sluice_error_set(err,
                                  "%s: plugin calls itself '%s', but the "
                                  "configuration asks for '%s'",
                                  path, name, want_name);
        dlclose(h);
        return rc;
    }
    sluice_plugin *p = calloc(1, sizeof *p);
    if (!p || !(p->path = str_dup(path))) {
        free(p);
        dlclose(h);
        return sluice_error_set(err, "%s: out of memory", path);
    }
    p->handle = h;
    p->api = api;
    *out = p;
    return 0;
}

int sluice_plugin_load(const char *spec, const char *search,
                       const char *base_dir, sluice_plugin **out,
                       sluice_error *err)
{
    *out = NULL;
    if (!spec || !spec[0])
        return sluice_error_set(err, "empty plugin name");
    if (is_path(spec)) {
        char path[PATH_MAX];
        if (spec[0] != '/' && base_dir)
            snprintf(path, sizeof path, "%s/%s", base_dir, spec);
        else
            snprintf(path, sizeof path, "%s", spec);
        if (access(path, F_OK) != 0)
            return sluice_error_set(err, "%s: plugin file not found", path);
        /* the name the plugin must have: file name without ".so" */
        const char *base = strrchr(spec, '/') + 1;
        char name[256];
        snprintf(name, sizeof name, "%s", base);
        size_t nl = strlen(name);
        if (nl > 3 && strcmp(name + nl - 3, ".so") == 0)
            name[nl - 3] = '\0';
        return load_file(path, name, out, err);
    }
    if (strchr(spec, '/') || strstr(spec, ".."))
        return sluice_error_set(err,
                                "plugin name '%s' contains '/' or '..': write "
                                "a path starting with '/' or './' to load a "
                                "file outside the plugin path",
                                spec);
    char *dirs = sluice_plugin_search_path(search, base_dir);
    if (!dirs)
        return sluice_error_set(err, "out of memory");
    char file[300];
    snprintf(file, sizeof file, "%s.so", spec);
    int rc = -1;
    int found = 0;
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
         d = strtok_r(NULL, ":", &save)) {
        char *path = join(d, file);
        if (!path)
            break;
        if (access(path, F_OK) == 0) {
            found = 1;
            rc = load_file(path, spec, out, err);
            free(path);
            break;
        }
        free(path);
    }
    if (!found) {
        char *shown = sluice_plugin_search_path(search, base_dir);
        sluice_error_set(err, "plugin '%s' not found: no %s in %s", spec, file,
                         shown ? shown : "the plugin path");
        free(shown);
    }
    free(dirs);
    return rc;
}

void sluice_plugin_unload(sluice_plugin *p)
{
    if (!p)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p->path);
    free(p);
}
