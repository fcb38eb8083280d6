/*
 * plugin_internal.h -- finds and loads sink plugins (.so files) and checks
 * their ABI. Knows nothing of records, queues or configuration files.
 */
#ifndef SLUICE_PLUGIN_INTERNAL_H
#define SLUICE_PLUGIN_INTERNAL_H

#include <sluice/sink.h>

typedef struct sluice_plugin {
    char *path;                 /* the file loaded */
    void *handle;               /* dlopen handle */
    const sluice_sink_api *api;
} sluice_plugin;

/* Load plugin `spec` (a NAME searched on the path, or a path starting with
 * '/', './' or '../'). search is a ':'-separated list of directories tried
 * first; then SLUICE_PLUGIN_PATH; then the installed plugin directory.
 * base_dir (may be NULL) resolves relative paths. The loaded api->name must
 * equal the NAME (for a path: its file name without ".so"). On error
 * returns -1 with err naming the file. */
int sluice_plugin_load(const char *spec, const char *search,
                       const char *base_dir, sluice_plugin **out,
                       sluice_error *err);
void sluice_plugin_unload(sluice_plugin *p);

/* The directories searched, in order, as one ':'-separated string
 * (malloc'd). */
char *sluice_plugin_search_path(const char *search, const char *base_dir);

#endif
