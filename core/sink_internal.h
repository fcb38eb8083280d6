/*
 * sink_internal.h -- the one doorway into sink plugins (sink.c).
 *
 * Every call the runtime makes into a plugin's table goes through here, and
 * so does every read of the table: the table is checked once when it is
 * loaded, each optional member is used only when the plugin's struct_size
 * says it has it, calls on one instance are serialised by its lock, no call
 * can raise SIGPIPE in the host, and errors come back as
 * "sink 'NAME': ..." in one place. Knows nothing of queues, loggers or the
 * configuration's shape.
 */
#ifndef SLUICE_SINK_INTERNAL_H
#define SLUICE_SINK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <sluice/sink.h>

#include "format_internal.h"
#include "host_internal.h"
#include "plugin_internal.h"

typedef struct sluice_sink_instance {
    char *name;                    /* NAME of [sink.NAME] */
    const sluice_sink_api *api;    /* read only through sink.c */
    sluice_plugin *plugin;         /* NULL for an api the host registered */
    void *state;
    bool opened;
    pthread_mutex_t lock;          /* serialises every call on state */
    sluice_format format;
    char *pattern;
    bool needs_line;               /* render record->line for it */
    char *base_dir;                /* the configuration's folder, or NULL */
    sluice_host_ctx host_ctx;      /* what host's services work with */
    sluice_host host;              /* handed to open(), valid until close */
    /* for a reload (reload.c): opaque here */
    char *signature;               /* its section's settings (plan.c) */
    unsigned users;                /* generations that bind or fall back to it */
} sluice_sink_instance;

/* ---- the table ----------------------------------------------------------- */

/* Check a table: version, size, name, required entry points. origin names
 * it in the message (a path, "<host sink>"). */
int sluice_sink_api_check_(const sluice_sink_api *api, const char *origin,
                           sluice_error *err);
/* Call a plugin's entry point and check the table it returns. */
const sluice_sink_api *sluice_sink_api_from_entry_(sluice_sink_entry_fn entry,
                                                   const char *path,
                                                   sluice_error *err);
const char *sluice_sink_api_name_(const sluice_sink_api *api);
const char *sluice_sink_api_description_(const sluice_sink_api *api);
int sluice_sink_api_version_(const sluice_sink_api *api);
/* Version 1's list of names; NULL when the plugin has an option table. */
const char *const *sluice_sink_api_option_names_(const sluice_sink_api *api);
/* Version 2's option table (checked when loaded), or NULL. */
const sluice_option_spec *sluice_sink_api_options_(const sluice_sink_api *api);
/* The format a section without `format =` gets (text before version 2). */
sluice_format_kind sluice_sink_api_default_format_(const sluice_sink_api *api);
/* Does write() read record->line (no SLUICE_SINK_NO_LINE)? */
bool sluice_sink_api_needs_line_(const sluice_sink_api *api);
/* Version 2 with a check(): it runs before every open(), not only in
 * `sluice check`. */
bool sluice_sink_api_checks_before_open_(const sluice_sink_api *api);
/* Does the table (or version 1's list) accept key? */
bool sluice_sink_api_has_option_(const sluice_sink_api *api, const char *key);
/* The plugin's check() of opts, when it has one (else 0). On error, err
 * holds the plugin's message (which names FILE:LINE), or is empty when
 * check() reported its mistakes through opts->host one by one. */
int sluice_sink_check_(const sluice_sink_api *api, const sluice_options *opts,
                       sluice_error *err);

/* ---- instances ------------------------------------------------------------ */

/* A new, unopened instance; it owns plugin from now on (also on error).
 * base_dir (may be NULL) is what its host services resolve paths against.
 * NULL when out of memory. */
sluice_sink_instance *sluice_sink_new_(const char *name,
                                       const sluice_sink_api *api,
                                       sluice_plugin *plugin,
                                       const char *base_dir);
/* open(), with opts->host set to the instance's services; on error err is "SOURCE:LINE: [sink.NAME]: why" (line: the
 * section's), or the plugin's message when it already names the source. */
int sluice_sink_open_(sluice_sink_instance *s, const sluice_options *opts,
                      int line, sluice_error *err);
/* write(batch[0..n)); *written is how many leading records the sink took.
 * 0 when all n were written; else -1, err "sink 'NAME': why". */
int sluice_sink_write_(sluice_sink_instance *s,
                       const sluice_record *const *batch, size_t n,
                       size_t *written, sluice_error *err);
/* flush() when the plugin has one; -1 with err "sink 'NAME': flush: why". */
int sluice_sink_flush_(sluice_sink_instance *s, sluice_error *err);
/* reopen() when the plugin has one; -1 with "sink 'NAME': reopen: why". */
int sluice_sink_reopen_(sluice_sink_instance *s, sluice_error *err);
/* Does the plugin have crash_write (and is the instance open)? */
bool sluice_sink_crash_safe_(const sluice_sink_instance *s);
/* crash_write(data[0..len)), from the crash handler: no lock taken, no
 * SIGPIPE guard (the handler runs with SIGPIPE blocked); async-signal-safe
 * as far as the plugin's crash_write is. 0, or -1 (also when the plugin
 * has none). */
int sluice_sink_crash_write_(sluice_sink_instance *s, const char *data,
                             size_t len);
/* close() if opened, unload the plugin, free. NULL is ignored. */
void sluice_sink_free_(sluice_sink_instance *s);

/* The calling thread belongs to the runtime: block SIGPIPE on it for good,
 * so the doorway need not guard each call it makes. */
void sluice_sink_thread_init_(void);

#endif
