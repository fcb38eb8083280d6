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
 * blocked for good (sluice_sink_thread_init_). A write lends the caller's
 * sluice_outcome to the sink's reject() for the call. Errors get their
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

#include "options_internal.h"
#include "runtime_internal.h"

/* Does the table reach member m, which version v added? Both its declared
 * version and its size must say so, as SQLite's os.c guards a VFS member
 * by iVersion; a pointer member must also be set. */
#define REACHES(api, m, v)                                                    \
    ((api)->abi_version >= (v) &&                                             \
     (api)->struct_size >= offsetof(sluice_sink_api, m) + sizeof((api)->m))
#define HAS_MEMBER(api, m, v) (REACHES(api, m, v) && (api)->m != NULL)

/* The end of member m: a table of the version that ends with m is at
 * least this large. */
#define END_OF(m) (offsetof(sluice_sink_api, m) + sizeof(((sluice_sink_api *)0)->m))

/* The smallest table each version may have: version 1 up to close() (its
 * later members were optional), version 2 every member it defines. */
static size_t min_size(int version)
{
    return version >= 2 ? END_OF(crash_write) : END_OF(close);
}

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
    if (api->abi_version > SLUICE_SINK_ABI_VERSION)
        return sluice_error_set(err,
                                "%s: plugin ABI version %d is newer than this "
                                "runtime, which speaks versions 1 to %d: "
                                "rebuild the plugin against this sluice's "
                                "sink.h, or upgrade sluice",
                                origin, api->abi_version,
                                SLUICE_SINK_ABI_VERSION);
    if (api->abi_version < 1)
        return sluice_error_set(err,
                                "%s: plugin ABI version %d is not a version "
                                "(this runtime speaks versions 1 to %d)",
                                origin, api->abi_version,
                                SLUICE_SINK_ABI_VERSION);
    if (api->struct_size < min_size(api->abi_version))
        return sluice_error_set(err,
                                "%s: sluice_sink_api is %zu bytes, smaller than "
                                "the %zu that ABI version %d needs",
                                origin, api->struct_size,
                                min_size(api->abi_version), api->abi_version);
    if (!api->name || !api->name[0])
        return sluice_error_set(err, "%s: the plugin has no name", origin);
    if (!api->open || !api->write || !api->close)
        return sluice_error_set(err,
                                "%s: plugin '%s' lacks an entry point (open, "
                                "write and close are required)",
                                origin, api->name);
    if (HAS_MEMBER(api, options, 2)) {
        sluice_error e;
        if (sluice_option_specs_check_(api->options, &e) != 0)
            return sluice_error_set(err, "%s: plugin '%s': %s", origin,
                                    api->name, e.message);
    }
    if (REACHES(api, default_format, 2) &&
        (api->default_format < SLUICE_LINE_TEXT ||
         api->default_format > SLUICE_LINE_LOGFMT))
        return sluice_error_set(err, "%s: plugin '%s': unknown default_format "
                                     "%d", origin, api->name,
                                (int)api->default_format);
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
    return sluice_sink_api_options_(api) ? NULL : api->option_names;
}

const sluice_option_spec *sluice_sink_api_options_(const sluice_sink_api *api)
{
    return HAS_MEMBER(api, options, 2) ? api->options : NULL;
}

sluice_format_kind sluice_sink_api_default_format_(const sluice_sink_api *api)
{
    if (!REACHES(api, default_format, 2))
        return SLUICE_FORMAT_TEXT;
    switch (api->default_format) {
    case SLUICE_LINE_JSON: return SLUICE_FORMAT_JSON;
    case SLUICE_LINE_LOGFMT: return SLUICE_FORMAT_LOGFMT;
    default: return SLUICE_FORMAT_TEXT;
    }
}

bool sluice_sink_api_needs_line_(const sluice_sink_api *api)
{
    return !(REACHES(api, flags, 2) && (api->flags & SLUICE_SINK_NO_LINE));
}

bool sluice_sink_api_checks_before_open_(const sluice_sink_api *api)
{
    return api->abi_version >= 2 && HAS_MEMBER(api, check, 1);
}

bool sluice_sink_api_has_option_(const sluice_sink_api *api, const char *key)
{
    const sluice_option_spec *specs = sluice_sink_api_options_(api);
    if (specs)
        return sluice_option_spec_find_(specs, key) != NULL;
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
    if (!HAS_MEMBER(api, check, 1))
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
    err->message[0] = '\0'; /* its mistakes were reported one by one */
    return -1;
}

/* ---- instances ------------------------------------------------------------ */

sluice_sink_instance *sluice_sink_new_(const char *name,
                                       const sluice_sink_api *api,
                                       sluice_plugin *plugin,
                                       const char *base_dir)
{
    sluice_sink_instance *s = calloc(1, sizeof *s);
    char *copy = s ? strdup(name) : NULL;
    char *dir = s && base_dir ? strdup(base_dir) : NULL;
    if (!s || !copy || (base_dir && !dir)) {
        free(s);
        free(copy);
        free(dir);
        sluice_plugin_unload(plugin);
        return NULL;
    }
    s->name = copy;
    s->api = api;
    s->plugin = plugin;
    s->base_dir = dir;
    s->needs_line = sluice_sink_api_needs_line_(api);
    s->host_ctx.base_dir = s->base_dir;
    s->host_ctx.format = &s->format;
    s->host_ctx.outcome_lock = &s->outcome_lock;
    s->level = SLUICE_LEVEL_TRACE;
    sluice_host_init_(&s->host, &s->host_ctx);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->outcome_lock, NULL);
    return s;
}

int sluice_sink_open_(sluice_sink_instance *s, const sluice_options *opts,
                      int line, sluice_error *err)
{
    sluice_error e;
    e.message[0] = '\0';
    sluice_options given = *opts;
    given.host = &s->host; /* valid until close */
    pthread_mutex_lock(&s->lock);
    pipe_guard g;
    guard_enter(&g);
    int rc = s->api->open(&given, &s->state, &e);
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

/* Lend outcome to the sink's reject() for one write (NULL: take it back). */
static void lend_outcome(sluice_sink_instance *s, sluice_outcome *outcome)
{
    pthread_mutex_lock(&s->outcome_lock);
    s->host_ctx.outcome = outcome;
    pthread_mutex_unlock(&s->outcome_lock);
}

int sluice_sink_write_(sluice_sink_instance *s,
                       const sluice_record *const *batch, size_t n,
                       size_t *written, sluice_outcome *outcome,
                       sluice_error *err)
{
    sluice_error e;
    e.message[0] = '\0';
    size_t done = 0;
    *written = 0;
    if (outcome && sluice_outcome_reset(outcome, n) != 0)
        return sluice_error_set(err, "sink '%s': out of memory", s->name);
    pthread_mutex_lock(&s->lock);
    if (outcome)
        lend_outcome(s, outcome);
    pipe_guard g;
    guard_enter(&g);
    int rc = s->api->write(s->state, batch, n, &done, &e);
    guard_leave(&g);
    if (outcome)
        lend_outcome(s, NULL);
    pthread_mutex_unlock(&s->lock);
    if (done > n)
        done = n;
    if (outcome)
        sluice_outcome_cut(outcome, done); /* the rest is offered again */
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

/* Call a member that takes (state, err) under the instance's lock and the
 * pipe guard; its error gets the "sink 'NAME': WHAT:" prefix. */
typedef int (*state_call_fn)(void *state, sluice_error *err);

static int call_locked(sluice_sink_instance *s, state_call_fn fn,
                       const char *what, sluice_error *err)
{
    sluice_error e;
    e.message[0] = '\0';
    pthread_mutex_lock(&s->lock);
    pipe_guard g;
    guard_enter(&g);
    int rc = fn(s->state, &e);
    guard_leave(&g);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        return 0;
    return sluice_error_set(err, "sink '%s': %s: %s", s->name, what,
                            e.message[0] ? e.message : "failed");
}

int sluice_sink_flush_(sluice_sink_instance *s, sluice_error *err)
{
    if (!HAS_MEMBER(s->api, flush, 1))
        return 0;
    return call_locked(s, s->api->flush, "flush", err);
}

int sluice_sink_reopen_(sluice_sink_instance *s, sluice_error *err)
{
    if (!HAS_MEMBER(s->api, reopen, 1))
        return 0;
    return call_locked(s, s->api->reopen, "reopen", err);
}

/* From a signal handler (crash.c): no lock (the crashing thread may hold
 * it, or another thread be inside write()), no guard (its calls are not
 * async-signal-safe; the handler blocks SIGPIPE instead), nothing but the
 * plugin's own crash_write. */
bool sluice_sink_crash_safe_(const sluice_sink_instance *s)
{
    return s && s->opened && HAS_MEMBER(s->api, crash_write, 2);
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
    pthread_mutex_destroy(&s->outcome_lock);
    sluice_plugin_unload(s->plugin);
    free(s->name);
    free(s->pattern);
    free(s->base_dir);
    free(s->signature);
    free(s);
}
