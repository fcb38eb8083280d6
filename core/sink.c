/*
 * sink.c -- the one doorway into sink plugins: nothing else in core/ reads
 * a plugin's table or calls into it.
 *
 * The table is checked when it is loaded (the version range, a size large
 * enough for what that version requires, a name, the required entry
 * points); each optional member is used only when struct_size says the
 * plugin's table has it, as SQLite's os.c guards a VFS by iVersion. Calls on
 * one instance never overlap (its lock). A call made on a host thread runs
 * with SIGPIPE blocked, and a SIGPIPE it raised is taken back before the
 * mask is restored, so a sink writing to a pipe whose reader left fails with
 * EPIPE instead of killing the host; the runtime's own threads keep SIGPIPE
 * blocked for good (sluice_sink_thread_init_). Errors get their
 * "sink 'NAME':" prefix here. The one call made without the instance's
 * lock is crash_write, from the crash handler (crash.c). Knows nothing of
 * queues, loggers or the configuration's shape.
 */
#include "sink_internal.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime_internal.h"

/* Does the plugin's table reach member m? */
#define HAS_MEMBER(api, m)                                                    \
    ((api)->struct_size >= offsetof(sluice_sink_api, m) + sizeof((api)->m) && \
     (api)->m != NULL)

/* The smallest table an ABI-1 plugin may have: up to close(). */
#define SLUICE_API_MIN_SIZE \
    (offsetof(sluice_sink_api, close) + sizeof(((sluice_sink_api *)0)->close))

/* ---- SIGPIPE ------------------------------------------------------------- */

static SLUICE_TLS bool tls_sigpipe_blocked;

void sluice_sink_thread_init_(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) == 0)
        tls_sigpipe_blocked = true;
}

/* Around each call from a thread that is not the runtime's: the helper
 * plugins use too (sink.h), so there is one way to do it. */
typedef struct pipe_guard {
    sluice_sigpipe_guard guard;
    bool active;
} pipe_guard;

static void guard_enter(pipe_guard *g)
{
    g->active = !tls_sigpipe_blocked;
    if (g->active)
        sluice_sigpipe_block(&g->guard);
}

static void guard_leave(pipe_guard *g)
{
    if (g->active)
        sluice_sigpipe_unblock(&g->guard);
}

/* ---- the table ----------------------------------------------------------- */

int sluice_sink_api_check_(const sluice_sink_api *api, const char *origin,
                           sluice_error *err)
{
    if (!api)
        return sluice_error_set(err, "%s: sluice_sink_entry() returned NULL",
                                origin);
    if (api->abi_version != SLUICE_SINK_ABI_VERSION)
        return sluice_error_set(err,
                                "%s: plugin ABI version %d, but this runtime "
                                "speaks version %d",
                                origin, api->abi_version,
                                SLUICE_SINK_ABI_VERSION);
    if (api->struct_size < SLUICE_API_MIN_SIZE)
        return sluice_error_set(err,
                                "%s: sluice_sink_api is %zu bytes, smaller than "
                                "the %zu that ABI version %d needs",
                                origin, api->struct_size,
                                (size_t)SLUICE_API_MIN_SIZE,
                                SLUICE_SINK_ABI_VERSION);
    if (!api->name || !api->name[0])
        return sluice_error_set(err, "%s: the plugin has no name", origin);
    if (!api->open || !api->write || !api->close)
        return sluice_error_set(err,
                                "%s: plugin '%s' lacks an entry point (open, "
                                "write and close are required)",
                                origin, api->name);
    return 0;
}

const sluice_sink_api *sluice_sink_api_from_entry_(sluice_sink_entry_fn entry,
                                                   const char *path,
                                                   sluice_error *err)
{
    pipe_guard g;
    guard_enter(&g);
    const sluice_sink_api *api = entry();
    guard_leave(&g);
    return sluice_sink_api_check_(api, path, err) == 0 ? api : NULL;
}

const char *sluice_sink_api_name_(const sluice_sink_api *api)
{
    return api->name;
}

const char *sluice_sink_api_description_(const sluice_sink_api *api)
{
    return api->description ? api->description : "";
}

int sluice_sink_api_version_(const sluice_sink_api *api)
{
    return api->abi_version;
}

const char *const *sluice_sink_api_option_names_(const sluice_sink_api *api)
{
    return api->option_names;
}

bool sluice_sink_api_has_option_(const sluice_sink_api *api, const char *key)
{
    for (const char *const *p = api->option_names; p && *p; p++) {
        size_t n = strlen(*p);
        if (n >= 2 && strcmp(*p + n - 2, ".*") == 0) {
            if (strncmp(key, *p, n - 1) == 0 && key[n - 1])
                return true; /* "prefix.*" accepts prefix.anything */
        } else if (strcmp(*p, key) == 0) {
            return true;
        }
    }
    return false;
}

int sluice_sink_check_(const sluice_sink_api *api, const sluice_options *opts,
                       sluice_error *err)
{
    if (!HAS_MEMBER(api, check))
        return 0;
    sluice_error e;
    e.message[0] = '\0';
    pipe_guard g;
    guard_enter(&g);
    int rc = api->check(opts, &e);
    guard_leave(&g);
    if (rc == 0)
        return 0;
    if (e.message[0])
        return sluice_error_set(err, "%s", e.message);
    return sluice_error_set(err, "%s: sink '%s': check failed", opts->source,
                            opts->sink_name);
}

/* ---- instances ------------------------------------------------------------ */

sluice_sink_instance *sluice_sink_new_(const char *name,
                                       const sluice_sink_api *api,
                                       sluice_plugin *plugin)
{
    sluice_sink_instance *s = calloc(1, sizeof *s);
    char *copy = s ? strdup(name) : NULL;
    if (!s || !copy) {
        free(s);
        sluice_plugin_unload(plugin);
        return NULL;
    }
    s->name = copy;
    s->api = api;
    s->plugin = plugin;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

int sluice_sink_open_(sluice_sink_instance *s, const sluice_options *opts,
                      int line, sluice_error *err)
{
    sluice_error e;
    e.message[0] = '\0';
    pthread_mutex_lock(&s->lock);
    pipe_guard g;
    guard_enter(&g);
    int rc = s->api->open(opts, &s->state, &e);
    guard_leave(&g);
    s->opened = rc == 0;
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        return 0;
    const char *why = e.message[0] ? e.message : "sink failed to open";
    /* plugins name file:line through sluice_options_error; else we do */
    if (strstr(why, opts->source) == why)
        return sluice_error_set(err, "%s", why);
    return sluice_error_set(err, "%s:%d: [sink.%s]: %.400s", opts->source,
                            line, s->name, why);
}

int sluice_sink_write_(sluice_sink_instance *s,
                       const sluice_record *const *batch, size_t n,
                       size_t *written, sluice_error *err)
{
    sluice_error e;
    e.message[0] = '\0';
    size_t done = 0;
    pthread_mutex_lock(&s->lock);
    pipe_guard g;
    guard_enter(&g);
    int rc = s->api->write(s->state, batch, n, &done, &e);
    guard_leave(&g);
    pthread_mutex_unlock(&s->lock);
    if (done > n)
        done = n;
    *written = done;
    if (rc == 0 && done == n)
        return 0;
    if (rc == 0)
        return sluice_error_set(err,
                                "sink '%s': write() reported success but "
                                "confirmed only %zu of %zu records",
                                s->name, done, n);
    return sluice_error_set(err, "sink '%s': %s", s->name,
                            e.message[0] ? e.message : "write failed");
}

int sluice_sink_flush_(sluice_sink_instance *s, sluice_error *err)
{
    if (!HAS_MEMBER(s->api, flush))
        return 0;
    sluice_error e;
    e.message[0] = '\0';
    pthread_mutex_lock(&s->lock);
    pipe_guard g;
    guard_enter(&g);
    int rc = s->api->flush(s->state, &e);
    guard_leave(&g);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        return 0;
    return sluice_error_set(err, "sink '%s': flush: %s", s->name,
                            e.message[0] ? e.message : "failed");
}

int sluice_sink_reopen_(sluice_sink_instance *s, sluice_error *err)
{
    if (!HAS_MEMBER(s->api, reopen))
        return 0;
    sluice_error e;
    e.message[0] = '\0';
    pthread_mutex_lock(&s->lock);
    pipe_guard g;
    guard_enter(&g);
    int rc = s->api->reopen(s->state, &e);
    guard_leave(&g);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        return 0;
    return sluice_error_set(err, "sink '%s': reopen: %s", s->name,
                            e.message[0] ? e.message : "failed");
}

/* From a signal handler (crash.c): no lock (the crashing thread may hold
 * it, or another thread be inside write()), no guard (its calls are not
 * async-signal-safe; the handler blocks SIGPIPE instead), nothing but the
 * plugin's own crash_write. */
bool sluice_sink_crash_safe_(const sluice_sink_instance *s)
{
    return s && s->opened && HAS_MEMBER(s->api, crash_write);
}

int sluice_sink_crash_write_(sluice_sink_instance *s, const char *data,
                             size_t len)
{
    if (!sluice_sink_crash_safe_(s))
        return -1;
    return s->api->crash_write(s->state, data, len) == 0 ? 0 : -1;
}

void sluice_sink_free_(sluice_sink_instance *s)
{
    if (!s)
        return;
    if (s->opened) {
        pthread_mutex_lock(&s->lock);
        pipe_guard g;
        guard_enter(&g);
        s->api->close(s->state);
        guard_leave(&g);
        s->opened = false;
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_destroy(&s->lock);
    sluice_plugin_unload(s->plugin);
    free(s->name);
    free(s->pattern);
    free(s);
}
