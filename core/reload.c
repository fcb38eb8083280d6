/*
 * reload.c -- a new configuration into a running runtime
 * (sluice_runtime_reload), without a restart and without losing what is
 * queued.
 *
 *   1. validate: the whole new configuration, as `sluice check` does, and
 *      what a reload cannot do (change [runtime] restart_backoff_ms,
 *      restart_intensity or metrics_listen; change or remove a logger whose
 *      run loops the host drives; give a durable logger a new queue, that
 *      is change its durable path, queue size, producer_rings, workers or
 *      durable_sync, or turn durable on or off, and, since its file stays
 *      locked by the queue that runs, change anything of it but its level
 *      (check_durable)); every error collected with its FILE:LINE. Any
 *      error: nothing changed, all of them reported.
 *   2. compare: a sink whose section says the same (plan.c's signature,
 *      its level included) keeps its instance, open; a logger whose
 *      section says the same but for its level, and whose sinks, fallback
 *      and dead letter all kept theirs, is kept: its generation (queues,
 *      cursors, backlogs, run loops) untouched, its level set in place.
 *      Any other logger of the same name is replaced; new ones are added,
 *      missing ones removed.
 *   3. prepare: new sink instances opened, new generations made (queues,
 *      bindings at their sinks' levels, trackers, and for a replaced
 *      logger post-hook stages in case it has post-hooks by the commit)
 *      for the replaced and added loggers; with crash_flush in the new
 *      file, the crash handler gets room for their fields (crash.c). A
 *      failure undoes all of it: nothing changed.
 *   4. commit (roster_lock): the new generations join the runtime's list
 *      of them (what the crash handler walks); each replaced logger's
 *      face gets its new generation (the post-hooks copied and, when
 *      there are any, the stages installed; a binding to a kept sink
 *      takes the level of the older generation's, which the host may have
 *      set; SLUICE_SLOW_LANES set first if it has several lanes), added
 *      faces join rt->loggers, removed ones move to rt->removed;
 *      rt->sinks becomes the new list; a file with crash_flush = false
 *      takes the runtime out of the crash handler's registry. Then the
 *      old generations are retired (their queues' heads closed so that a
 *      logging call racing with the reload places its record in the new
 *      one: queue.c, producer.c) and sealed, removed loggers stop their
 *      intake as close does, and the new run loops start. A new binding
 *      whose sink the old generation also writes to (or wrote to under
 *      the same name, before its settings changed) waits for the old run
 *      loops of that sink to end (supervisor.c): that sink gets the old
 *      records, then the new ones, in order, each once.
 *   5. drain: the old run loops of sinks that the logger no longer writes
 *      to (removed or changed sinks, removed loggers) get until
 *      [runtime] reload_timeout_ms (of the new file) to write what they
 *      hold; then they are cancelled and what they hold is counted as
 *      undelivered (the return value). Old run loops of sinks the logger
 *      keeps go on without a deadline: their backlog is not given up.
 *   6. reap: an old generation whose run loops have all ended is freed
 *      (its counters carried into its face, its bindings' frozen, its
 *      husk kept: a logging call may still hold it); a removed logger whose
 *      run loops ended becomes a husk, as after close; a sink instance
 *      nothing uses any more is closed. What cannot be freed yet (a run
 *      loop stuck in a sink) is freed by the next reload, or by close.
 *      Bindings are marked retired before their sink or rings go, and a
 *      crash flush under way is waited for in between (crash.c).
 *
 * One reload at a time (reload_lock); close moves the runtime to CLOSING
 * before it waits for a reload under way, so a reload never runs during
 * close: one that starts is refused, one under way stops waiting for its
 * old sinks and leaves them to close. Knows nothing of INI syntax, of how
 * queues or run loops work inside, or of plugins' insides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sluice/task.h>

#include "builder_internal.h"
#include "clock_internal.h"
#include "crash_internal.h"
#include "durable_internal.h"
#include "guard_internal.h"
#include "runtime_internal.h"
#include "sink_internal.h"

typedef enum change_kind {
    CHANGE_KEEP = 0,   /* same logger: its level may change in place */
    CHANGE_REPLACE,    /* same name, new settings: a new generation */
    CHANGE_ADD         /* a new logger */
} change_kind;

typedef struct logger_change {
    change_kind kind;
    const logger_plan *plan;
    sluice_logger *face;   /* the runtime's (KEEP, REPLACE) or a new one (ADD) */
    sluice_logger *gen;    /* the new generation (REPLACE, ADD) */
    char *signature;       /* REPLACE: the face's from now on */
    sluice_hook_stage *stages; /* REPLACE: gen's post-hook stages, made
                                  before the commit, installed there when
                                  the face has post-hooks by then */
} logger_change;

typedef struct reload {
    sluice_runtime *rt;
    sluice_builder *b;
    sluice_plan plan;
    sluice_sink_instance **by_plan; /* per sink plan: its instance, or NULL */
    bool *made;                     /* per sink plan: made by this reload */
    logger_change *changes;         /* per logger plan */
    sluice_logger **gone;           /* faces the new file does not have */
    size_t gone_count;
    /* the runtime's new lists, made before the commit */
    sluice_logger **loggers;
    sluice_sink_instance **sinks;
    size_t sink_count;
    sluice_sink_instance **old_sinks;
    size_t old_sink_count;
    const sluice_sink_api **host_apis;
    size_t host_api_count;
    const void **guarded;
} reload;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool closing(sluice_runtime *rt)
{
    return sluice_runtime_state_(rt) != SLUICE_RUNTIME_RUNNING ||
           atomic_load(&rt->intake_stopped);
}

/* ---- 1. what a reload cannot change -------------------------------------- */

static int key_line(sluice_builder *b, const char *key)
{
    bsection *s = sluice_builder_find_section_(b, "runtime");
    if (!s)
        return 0;
    const bkey *k = sluice_section_key_(s, key);
    return k ? k->line : s->line;
}

/* Was an error already reported on this line (a value that did not parse:
 * its plan holds the default, which says nothing of a change)? */
static bool line_has_error(sluice_builder *b, int line)
{
    if (line <= 0)
        return false;
    char prefix[SLUICE_ERROR_MAX];
    snprintf(prefix, sizeof prefix, "%s:%d: ", b->source, line);
    size_t n = strlen(prefix);
    for (size_t i = 0; i < b->nerrors; i++)
        if (strncmp(b->errors[i], prefix, n) == 0)
            return true;
    return false;
}

static void cannot_change(reload *r, const char *key, const char *fmt,
                          const char *was)
{
    int line = key_line(r->b, key);
    if (line_has_error(r->b, line))
        return;
    char why[SLUICE_ERROR_MAX];
    snprintf(why, sizeof why, fmt, was);
    sluice_builder_error_(r->b, line, "[runtime] %s: a reload cannot change it "
                                      "(%s; restart to change it)",
                          key, why);
}

static bool same_listen(const sluice_metrics_listen *a, const sluice_metrics_listen *b)
{
    if (a->family != b->family)
        return false;
    if (a->family == 0)
        return true;
    return a->port == b->port &&
           memcmp(a->address, b->address, sizeof a->address) == 0;
}

static void check_runtime(reload *r)
{
    sluice_runtime *rt = r->rt;
    const runtime_options *ro = &r->plan.runtime;
    char was[96];
    if (ro->backoff_min != rt->backoff_min_ms || ro->backoff_max != rt->backoff_max_ms) {
        snprintf(was, sizeof was, "%d..%d", rt->backoff_min_ms, rt->backoff_max_ms);
        cannot_change(r, "restart_backoff_ms", "it is %s", was);
    }
    if (ro->intensity_n != rt->intensity_restarts ||
        ro->intensity_period != rt->intensity_period_ms) {
        if (rt->intensity_restarts)
            snprintf(was, sizeof was, "%d/%dms", rt->intensity_restarts,
                     rt->intensity_period_ms);
        else
            snprintf(was, sizeof was, "unlimited");
        cannot_change(r, "restart_intensity", "it is %s", was);
    }
    if (!same_listen(&ro->metrics_listen, &rt->metrics_listen))
        cannot_change(r, "metrics_listen", "it is %s",
                      rt->metrics_listen.family ? rt->metrics_listen.text : "off");
}

/* ---- 2. what changed ----------------------------------------------------- */

static sluice_sink_instance *find_sink(sluice_runtime *rt, const char *name)
{
    for (size_t i = 0; i < rt->sink_count; i++)
        if (strcmp(rt->sinks[i]->name, name) == 0)
            return rt->sinks[i];
    return NULL;
}

static sluice_logger *find_face(sluice_runtime *rt, const char *name)
{
    for (size_t i = 0; i < rt->logger_count; i++)
        if (strcmp(rt->loggers[i]->name, name) == 0)
            return rt->loggers[i];
    return NULL;
}

/* The instance a sink plan keeps (same name, same signature), or NULL. */
static int match_sinks(reload *r, sluice_error *err)
{
    for (size_t i = 0; i < r->plan.sink_count; i++) {
        sink_plan *p = &r->plan.sinks[i];
        if (!p->used)
            continue;
        sluice_sink_instance *old = find_sink(r->rt, p->name);
        if (!old)
            continue;
        char *signature = sluice_plan_sink_signature_(r->b, p);
        if (!signature)
            return sluice_error_set(err, "reload: out of memory");
        if (strcmp(signature, old->signature) == 0)
            r->by_plan[i] = old;
        free(signature);
    }
    return 0;
}

/* Does the face's generation write to the same instances the plan names? */
static bool same_sinks(reload *r, const sluice_logger *gen, const logger_plan *l)
{
    if (gen->sinks_per_lane != l->nsinks)
        return false;
    for (size_t k = 0; k < l->nsinks; k++)
        if (gen->bindings[k].sink != r->by_plan[l->sinks[k] - r->plan.sinks])
            return false;
    sluice_sink_instance *fallback =
        l->fallback ? r->by_plan[l->fallback - r->plan.sinks] : NULL;
    sluice_sink_instance *dead_letter =
        l->dead_letter ? r->by_plan[l->dead_letter - r->plan.sinks] : NULL;
    return gen->fallback == fallback && (!l->fallback || fallback) &&
           gen->dead_letter == dead_letter && (!l->dead_letter || dead_letter);
}

/* The line of the first of keys that l's section has, else its own. */
static int logger_key_line(const logger_plan *l, const char *const *keys)
{
    for (; *keys; keys++) {
        const bkey *k = sluice_section_key_(l->section, *keys);
        if (k)
            return k->line;
    }
    return l->section->line;
}

static void durable_cannot(reload *r, const logger_plan *l, int line,
                           const char *what)
{
    if (line_has_error(r->b, line))
        return; /* a value that did not parse: said already */
    sluice_builder_error_(r->b, line,
                          "[logger.%s] %s: a reload cannot change it for a "
                          "durable logger, whose queue is its file (restart "
                          "to change it)",
                          l->name, what);
}

/* A durable logger keeps its queue, its file and its run loops: a reload
 * may change its level in place, nothing that would need a new queue
 * (the file's path, size or layout, durable on or off, its workers or
 * its syncing), and, for now, nothing else that a new generation would
 * carry (its sinks, its other keys): its file stays locked by the queue
 * that runs. Each refusal names its key's FILE:LINE. */
static void check_durable(reload *r, const logger_change *c)
{
    const logger_plan *l = c->plan;
    const sluice_logger *face = c->face;
    static const char *const durable_key[] = {"durable", NULL};
    static const char *const size_keys[] = {"queue_size", "queue_capacity", NULL};
    static const char *const rings_key[] = {"producer_rings", NULL};
    static const char *const workers_key[] = {"workers", NULL};
    static const char *const sync_key[] = {"durable_sync", NULL};
    static const char *const none[] = {NULL};
    size_t before = r->b->nerrors;
    if (!face->durable_path) {
        durable_cannot(r, l, logger_key_line(l, durable_key),
                       "durable (it was in memory)");
        return;
    }
    if (!l->durable) {
        char what[SLUICE_ERROR_MAX];
        snprintf(what, sizeof what, "durable removed (it is %.400s)",
                 face->durable_path);
        durable_cannot(r, l, logger_key_line(l, none), what);
        return;
    }
    if (strcmp(l->durable, face->durable_path) != 0) {
        char what[SLUICE_ERROR_MAX];
        snprintf(what, sizeof what, "durable (it is %.400s)", face->durable_path);
        durable_cannot(r, l, logger_key_line(l, durable_key), what);
    }
    if (l->queue_bytes != face->queue_bytes)
        durable_cannot(r, l, logger_key_line(l, size_keys), "queue size");
    if (l->rings != face->queue_rings)
        durable_cannot(r, l, logger_key_line(l, rings_key), "producer_rings");
    if ((unsigned)l->workers != face->queue_lanes)
        durable_cannot(r, l, logger_key_line(l, workers_key), "workers");
    if (l->durable_sync != face->durable_sync ||
        (l->durable_sync == SLUICE_DURABLE_SYNC_INTERVAL &&
         l->durable_interval_ms != face->durable_interval_ms))
        durable_cannot(r, l, logger_key_line(l, sync_key), "durable_sync");
    if (r->b->nerrors == before && c->kind == CHANGE_REPLACE &&
        !line_has_error(r->b, l->section->line))
        sluice_builder_error_(r->b, l->section->line,
                              "[logger.%s]: a reload can change only the "
                              "level of a durable logger (its queue's file "
                              "stays open with the queue that runs): restart "
                              "to change its sinks or its other keys",
                              l->name);
}

static int match_loggers(reload *r, sluice_error *err)
{
    sluice_runtime *rt = r->rt;
    for (size_t i = 0; i < r->plan.logger_count; i++) {
        const logger_plan *l = &r->plan.loggers[i];
        logger_change *c = &r->changes[i];
        c->plan = l;
        c->face = find_face(rt, l->name);
        if (!c->face) {
            c->kind = CHANGE_ADD;
            continue;
        }
        c->signature = sluice_plan_logger_signature_(l);
        if (!c->signature)
            return sluice_error_set(err, "reload: out of memory");
        sluice_logger *gen = c->face->gens;
        bool same = strcmp(c->signature, c->face->signature) == 0 &&
                    same_sinks(r, gen, l);
        c->kind = same ? CHANGE_KEEP : CHANGE_REPLACE;
        if (c->face->durable_path || l->durable) {
            check_durable(r, c);
            continue; /* kept, or refused */
        }
        if (c->kind == CHANGE_REPLACE && (!gen->autostart || !l->autostart))
            sluice_builder_error_(r->b, l->section->line,
                                  "[logger.%s]: autostart = false: a reload "
                                  "can change only the level of a logger "
                                  "whose run loops the host drives (not its "
                                  "other keys, nor the sinks it uses)",
                                  l->name);
    }
    r->gone = calloc(rt->logger_count ? rt->logger_count : 1, sizeof *r->gone);
    if (!r->gone)
        return sluice_error_set(err, "reload: out of memory");
    for (size_t i = 0; i < rt->logger_count; i++) {
        sluice_logger *face = rt->loggers[i];
        bool kept = false;
        for (size_t j = 0; j < r->plan.logger_count && !kept; j++)
            kept = r->changes[j].face == face;
        if (kept)
            continue;
        if (!face->gens->autostart)
            sluice_builder_error_(r->b, 0,
                                  "[logger.%s] is gone, but its run loops are "
                                  "the host's (autostart = false): a reload "
                                  "cannot remove it",
                                  face->name);
        r->gone[r->gone_count++] = face;
    }
    return 0;
}

/* ---- 3. prepare ---------------------------------------------------------- */

/* The host's sink tables go on resolving `plugin = NAME` (the host's own
 * builder may register more, or the same names anew). */
static int add_host_apis(reload *r, sluice_error *err)
{
    sluice_runtime *rt = r->rt;
    for (size_t i = 0; i < rt->host_api_count; i++) {
        const sluice_sink_api *api = rt->host_apis[i];
        if (sluice_builder_host_api_(r->b, sluice_sink_api_name_(api)))
            continue;
        if (sluice_builder_add_sink_api(r->b, api, err) != 0)
            return -1;
    }
    r->host_apis = calloc(r->b->napis ? r->b->napis : 1, sizeof *r->host_apis);
    if (!r->host_apis)
        return sluice_error_set(err, "reload: out of memory");
    if (r->b->napis)
        memcpy(r->host_apis, r->b->apis, r->b->napis * sizeof *r->host_apis);
    r->host_api_count = r->b->napis;
    return 0;
}

static void undo(reload *r)
{
    for (size_t i = 0; r->changes && i < r->plan.logger_count; i++) {
        logger_change *c = &r->changes[i];
        if (c->gen)
            sluice_hook_stages_discard_(c->gen, c->stages);
        c->stages = NULL;
        if (c->gen)
            sluice_supervisor_forget_(c->gen);
        if (c->kind == CHANGE_ADD && c->face)
            sluice_logger_destroy_(c->face); /* and its generation */
        else if (c->gen)
            sluice_gen_destroy_(c->gen);
        c->gen = NULL;
        if (c->kind == CHANGE_ADD)
            c->face = NULL;
    }
    for (size_t i = 0; r->made && i < r->plan.sink_count; i++)
        if (r->made[i]) {
            sluice_sink_free_(r->by_plan[i]); /* closes it if it opened */
            r->by_plan[i] = NULL;
            r->made[i] = false;
        }
}

static int make_parts(reload *r, sluice_error *err)
{
    sluice_runtime *rt = r->rt;
    for (size_t i = 0; i < r->plan.sink_count; i++) {
        sink_plan *p = &r->plan.sinks[i];
        if (!p->used || r->by_plan[i])
            continue;
        r->by_plan[i] = sluice_sink_make_(r->b, p, err);
        if (!r->by_plan[i])
            return -1;
        r->made[i] = true;
    }
    for (size_t i = 0; i < r->plan.logger_count; i++) {
        logger_change *c = &r->changes[i];
        if (c->kind == CHANGE_KEEP)
            continue;
        if (c->kind == CHANGE_ADD) {
            c->face = sluice_face_make_(rt, c->plan, err);
            if (!c->face)
                return -1;
        }
        c->gen = sluice_gen_make_(r->b, rt, c->face, c->plan, r->by_plan,
                                  r->plan.sinks, err);
        if (!c->gen)
            return -1;
        if (c->kind == CHANGE_ADD) {
            c->face->gens = c->gen;
            atomic_init(&c->face->gen, c->gen); /* not seen by anyone yet */
            atomic_init(&c->face->lane0, c->gen->queues[0]);
            sluice_face_init_fast_(c->face, c->gen->queues[0]);
        } else {
            /* a post-hook may come before the commit: ready for it */
            c->stages = sluice_hook_stages_new_(c->gen);
            if (!c->stages)
                return sluice_error_set(err, "logger '%s': out of memory",
                                        c->plan->name);
        }
        if (sluice_supervisor_prepare_(rt, c->gen, err) != 0)
            return -1;
    }
    /* the new lists */
    size_t n = r->plan.logger_count;
    r->loggers = calloc(n ? n : 1, sizeof *r->loggers);
    r->sinks = calloc(r->plan.sink_count ? r->plan.sink_count : 1, sizeof *r->sinks);
    size_t dropped = 0;
    for (size_t i = 0; i < rt->sink_count; i++) {
        bool kept = false;
        for (size_t j = 0; j < r->plan.sink_count && !kept; j++)
            kept = r->by_plan[j] == rt->sinks[i];
        dropped += !kept;
    }
    r->old_sinks = calloc(rt->old_sink_count + dropped + 1, sizeof *r->old_sinks);
    size_t removed = r->gone_count;
    for (sluice_logger *face = rt->removed; face; face = face->next_removed)
        removed++;
    r->guarded = calloc(1 + n + removed, sizeof *r->guarded);
    if (!r->loggers || !r->sinks || !r->old_sinks || !r->guarded)
        return sluice_error_set(err, "reload: out of memory");
    for (size_t i = 0; i < n; i++)
        r->loggers[i] = r->changes[i].face;
    for (size_t i = 0; i < r->plan.sink_count; i++)
        if (r->by_plan[i])
            r->sinks[r->sink_count++] = r->by_plan[i];
    if (rt->old_sink_count)
        memcpy(r->old_sinks, rt->old_sinks, rt->old_sink_count * sizeof *r->old_sinks);
    r->old_sink_count = rt->old_sink_count;
    for (size_t i = 0; i < rt->sink_count; i++) {
        bool kept = false;
        for (size_t j = 0; j < r->sink_count && !kept; j++)
            kept = r->sinks[j] == rt->sinks[i];
        if (!kept)
            r->old_sinks[r->old_sink_count++] = rt->sinks[i];
    }
    return 0;
}

/* The most base fields a new generation has. */
static size_t new_base_fields(const reload *r)
{
    size_t most = 0;
    for (size_t i = 0; i < r->plan.logger_count; i++) {
        const sluice_logger *gen = r->changes[i].gen;
        if (gen && gen->field_count > most)
            most = gen->field_count;
    }
    return most;
}

/* Open the new instances, in file order. */
static int open_parts(reload *r, sluice_error *err)
{
    for (size_t i = 0; i < r->plan.sink_count; i++)
        if (r->made[i] &&
            sluice_sink_open_plan_(r->b, &r->plan.sinks[i], r->by_plan[i], err) != 0)
            return -1;
    return 0;
}

/* ---- 4. commit ------------------------------------------------------------ */

/* Does gen have a binding with this instance? */
static bool writes_to(const sluice_logger *gen, const sluice_sink_instance *s)
{
    for (size_t k = 0; k < gen->sinks_per_lane; k++)
        if (gen->bindings[k].sink == s)
            return true;
    return false;
}

/* The instance of older that a binding to s follows: s itself, or the one
 * of the same name it replaces (its settings changed: both may write to
 * one file, the old one first). NULL: none. */
static const sluice_sink_instance *predecessor(const sluice_logger *older,
                                               const sluice_sink_instance *s)
{
    if (writes_to(older, s))
        return s;
    for (size_t k = 0; k < older->sinks_per_lane; k++)
        if (strcmp(older->bindings[k].sink->name, s->name) == 0)
            return older->bindings[k].sink;
    return NULL;
}

/* older's binding to s on lane (its last lane when it has fewer), or
 * NULL. */
static const sluice_binding *older_binding(const sluice_logger *older,
                                           const sluice_sink_instance *s,
                                           unsigned lane)
{
    if (lane >= older->lanes)
        lane = older->lanes - 1;
    const sluice_binding *row = older->bindings + (size_t)lane * older->sinks_per_lane;
    for (size_t k = 0; k < older->sinks_per_lane; k++)
        if (row[k].sink == s)
            return &row[k];
    return NULL;
}

/* Make gen its face's generation (roster_lock held), with its post-hooks
 * and, when there are any, its post-hook stages (*stages, then NULL). */
static void publish(sluice_logger *face, sluice_logger *gen,
                    sluice_hook_stage **stages)
{
    pthread_mutex_lock(&face->hooks_lock);
    pthread_mutex_lock(&face->gens_lock);
    unsigned hooks = atomic_load(&face->post_hook_count);
    for (unsigned h = 0; h < hooks; h++)
        gen->post_hooks[h] = face->post_hooks[h];
    atomic_store(&gen->post_hook_count, hooks);
    if (hooks) { /* before any run loop of gen starts */
        sluice_hook_stages_install_(gen, *stages);
        *stages = NULL;
    }
    sluice_logger *older = face->gens;
    for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++) {
        sluice_binding *b = &gen->bindings[k];
        b->after_sink = predecessor(older, b->sink);
        if (b->after_sink)
            b->after = older;
        /* a level the host set on a binding to a sink the reload keeps
         * stays (a changed sink is a new instance: the file's level) */
        const sluice_binding *was =
            b->after_sink == b->sink ? older_binding(older, b->sink, b->lane) : NULL;
        if (was) {
            sluice_level level = sluice_queue_level(was->queue, was->cursor);
            if (level != sluice_queue_level(b->queue, b->cursor))
                sluice_queue_set_level(b->queue, b->cursor, level);
        }
    }
    /* a call that sees the new generation must see the bit (producer.c);
     * it is never cleared (one more lane is harmless on the general path) */
    if (gen->lanes > 1)
        sluice_face_set_slow_(face, SLUICE_SLOW_LANES);
    gen->older = older;
    face->gens = gen;
    atomic_store_explicit(&face->gen, gen, memory_order_release);
    sluice_queue *was = atomic_load_explicit(&face->lane0, memory_order_relaxed);
    atomic_store_explicit(&face->lane0, gen->queues[0], memory_order_release);
    sluice_face_move_fast_(face, was, gen->queues[0]);
    pthread_mutex_unlock(&face->gens_lock);
    pthread_mutex_unlock(&face->hooks_lock);
}

/* false (nothing changed) when the intake was stopped meanwhile
 * (sluice_runtime_stop_intake takes the roster lock after it says so). */
static bool commit(reload *r)
{
    sluice_runtime *rt = r->rt;
    pthread_mutex_lock(&rt->roster_lock);
    if (closing(rt)) {
        pthread_mutex_unlock(&rt->roster_lock);
        return false;
    }
    /* the crash handler's list has them before any record can */
    for (size_t i = 0; i < r->plan.logger_count; i++)
        if (r->changes[i].gen)
            sluice_runtime_add_gen_(rt, r->changes[i].gen);
    for (size_t i = 0; i < r->plan.logger_count; i++) {
        logger_change *c = &r->changes[i];
        if (c->kind == CHANGE_REPLACE) {
            publish(c->face, c->gen, &c->stages);
            /* what the next reload compares with (only reloads read it) */
            free(c->face->signature);
            c->face->signature = c->signature;
            c->signature = NULL;
        }
        if (c->gen)
            sluice_gen_count_users_(c->gen);
        if (c->kind != CHANGE_ADD && c->plan->level != c->face->file_level) {
            /* the file's level changed: it applies at once (a level the
             * host set stays until then) */
            c->face->file_level = c->plan->level;
            __atomic_store_n(&c->face->head.level, (int)c->plan->level,
                             __ATOMIC_RELAXED);
        }
    }
    for (size_t i = 0; i < r->gone_count; i++) {
        r->gone[i]->next_removed = rt->removed;
        rt->removed = r->gone[i];
    }
    sluice_logger **old_loggers = rt->loggers;
    sluice_sink_instance **old_sinks = rt->sinks, **older_sinks = rt->old_sinks;
    const sluice_sink_api **old_apis = rt->host_apis;
    rt->loggers = r->loggers;
    rt->logger_count = r->plan.logger_count;
    rt->sinks = r->sinks;
    rt->sink_count = r->sink_count;
    rt->old_sinks = r->old_sinks;
    rt->old_sink_count = r->old_sink_count;
    rt->host_apis = r->host_apis;
    rt->host_api_count = r->host_api_count;
    rt->flush_on_exit_ms = (int)r->plan.runtime.flush_on_exit_ms;
    rt->crash_flush = r->plan.runtime.crash_flush;
    sluice_runtime_guard_set_(rt, r->guarded);
    pthread_mutex_unlock(&rt->roster_lock);
    r->loggers = NULL;
    r->sinks = NULL;
    r->old_sinks = NULL;
    r->host_apis = NULL;
    r->guarded = NULL;
    free(old_loggers);
    free(old_sinks);
    free(older_sinks);
    free(old_apis);

    /* the old generations take no more records; their run loops drain and
     * end; removed loggers stop as close stops them */
    for (size_t i = 0; i < r->plan.logger_count; i++) {
        logger_change *c = &r->changes[i];
        if (c->kind != CHANGE_REPLACE)
            continue;
        sluice_logger *old = c->gen->older;
        for (unsigned l = 0; l < old->lanes; l++) {
            sluice_queue_retire(old->queues[l]);
            sluice_queue_seal(old->queues[l]);
        }
    }
    for (size_t i = 0; i < r->gone_count; i++) {
        sluice_face_stop_intake_(r->gone[i]);
        SLUICE_FOR_EACH_GEN(r->gone[i], gen)
            for (unsigned l = 0; l < gen->lanes; l++)
                sluice_queue_seal(gen->queues[l]);
    }
    for (size_t i = 0; i < r->plan.logger_count; i++)
        if (r->changes[i].gen)
            sluice_supervisor_spawn_(r->changes[i].gen);
    return true;
}

/* ---- 5. drain ------------------------------------------------------------ */

/* The old bindings this reload gives a deadline: those of removed loggers,
 * and those of a replaced logger's old generation whose sink its new one
 * does not write to. */
typedef struct watched {
    sluice_binding **bindings;
    size_t count;
} watched;

static int watch(reload *r, watched *w, sluice_error *err)
{
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            w->bindings = calloc(n ? n : 1, sizeof *w->bindings);
            if (!w->bindings)
                return sluice_error_set(err, "reload: out of memory");
        }
        n = 0;
        for (size_t i = 0; i < r->plan.logger_count; i++) {
            logger_change *c = &r->changes[i];
            if (c->kind != CHANGE_REPLACE)
                continue;
            sluice_logger *old = c->gen->older;
            for (size_t k = 0; k < sluice_gen_binding_count_(old); k++)
                if (!writes_to(c->gen, old->bindings[k].sink)) {
                    if (pass == 1)
                        w->bindings[n] = &old->bindings[k];
                    n++;
                }
        }
        for (size_t i = 0; i < r->gone_count; i++)
            SLUICE_FOR_EACH_GEN(r->gone[i], gen)
                for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++) {
                    if (pass == 1)
                        w->bindings[n] = &gen->bindings[k];
                    n++;
                }
    }
    w->count = n;
    return 0;
}

static bool all_done(const watched *w)
{
    for (size_t i = 0; i < w->count; i++)
        if (!sluice_supervisor_binding_done_(w->bindings[i]))
            return false;
    return true;
}

/* Stop a run loop: it ends at its next batch, or at once in a backoff. */
static void give_up(sluice_binding *b)
{
    atomic_store(&b->cancelled, true);
    sluice_tracker_cancel(b->tracker); /* NULL: ignored */
    sluice_queue_wake(b->queue);
}

/* Wait for the watched run loops until the deadline, then stop them;
 * returns what they could not deliver. Each is marked cancelled: its
 * backlog is counted here, not again when it is freed or by close. */
static long drain(reload *r, const watched *w)
{
    sluice_runtime *rt = r->rt;
    int64_t deadline = sluice_clock_monotonic_ns() +
                       r->plan.runtime.reload_timeout_ms * 1000000;
    bool stopped = false;
    /* after the deadline, a moment for the stopped ones to say so (one
     * stuck in a sink is left: it is freed later) */
    int64_t grace = deadline + 1000000000;
    while (!all_done(w) && !closing(rt)) {
        int64_t now = sluice_clock_monotonic_ns();
        if (!stopped && now >= deadline) {
            for (size_t i = 0; i < w->count; i++)
                give_up(w->bindings[i]);
            stopped = true;
        }
        if (stopped && now >= grace)
            break;
        sleep_ms(1);
    }
    if (closing(rt))
        return 0; /* close takes over, and counts what is left */
    long undelivered = 0;
    for (size_t i = 0; i < w->count; i++) {
        sluice_binding *b = w->bindings[i];
        atomic_store(&b->cancelled, true);
        undelivered += (long)sluice_queue_pending(b->queue, b->cursor);
    }
    return undelivered;
}

/* ---- 6. reap ------------------------------------------------------------- */

/* One use of s is over: close it when it was the last and the
 * configuration no longer has it. */
static void release(sluice_runtime *rt, sluice_sink_instance *s)
{
    if (!s || --s->users > 0)
        return;
    for (size_t i = 0; i < rt->old_sink_count; i++) {
        if (rt->old_sinks[i] != s)
            continue;
        rt->old_sinks[i] = rt->old_sinks[--rt->old_sink_count];
        sluice_crash_quiesce_(); /* its bindings are retired: see crash.c */
        sluice_sink_free_(s);
        return;
    }
}

/* A done binding no longer holds its sink open: its counters are frozen
 * first (they name the sink). */
static void release_binding(sluice_runtime *rt, sluice_binding *b)
{
    if (b->released)
        return;
    sluice_logger *face = b->logger->face;
    pthread_mutex_lock(&face->gens_lock);
    sluice_stats_retire_binding_(b);
    pthread_mutex_unlock(&face->gens_lock);
    b->released = true;
    release(rt, b->sink);
}

/* What an old generation left: its bindings' backlogs (those a drain did
 * not count already). */
static long leftover(sluice_logger *gen)
{
    long n = 0;
    for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++) {
        sluice_binding *b = &gen->bindings[k];
        if (!atomic_load(&b->cancelled))
            n += (long)sluice_queue_pending(b->queue, b->cursor);
    }
    return n;
}

/* Free an old generation of a face that stays: out of its list (its
 * counters carried, its bindings' frozen), then its rings. */
static long reap_gen(sluice_runtime *rt, sluice_logger *face, sluice_logger *gen)
{
    long left = leftover(gen);
    pthread_mutex_lock(&rt->roster_lock);
    pthread_mutex_lock(&face->gens_lock);
    sluice_stats_retire_gen_(gen);
    for (sluice_logger **at = &face->gens; *at; at = &(*at)->older)
        if (*at == gen) {
            *at = gen->older;
            break;
        }
    pthread_mutex_unlock(&face->gens_lock);
    pthread_mutex_unlock(&rt->roster_lock);
    /* its bindings are retired: a crash flush that did not see it is over
     * before its rings and its sinks go (crash.c) */
    sluice_crash_quiesce_();
    /* a newer binding may still look at its bindings (after): the husk
     * stays, their sink pointers too */
    sluice_supervisor_forget_(gen);
    for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++)
        release_binding(rt, &gen->bindings[k]);
    release(rt, gen->fallback);
    release(rt, gen->dead_letter);
    sluice_gen_bury_(gen);
    return left;
}

static bool face_done(sluice_logger *face)
{
    SLUICE_FOR_EACH_GEN(face, gen)
        if (!sluice_supervisor_gen_done_(gen))
            return false;
    return true;
}

/* A removed logger whose run loops all ended: frozen, closed, buried.
 * false when an API call is still inside it (tried again later). */
static bool reap_face(sluice_runtime *rt, sluice_logger *face, long *left)
{
    sluice_stats_freeze_(face);
    sluice_face_set_slow_(face, SLUICE_SLOW_CLOSED);
    const void *self = face;
    for (int waited = 0; sluice_guard_busy_(&self, 1); waited++) {
        if (waited >= 1000)
            return false; /* a call that never returns keeps it */
        sleep_ms(1);
    }
    SLUICE_FOR_EACH_GEN(face, gen)
        *left += leftover(gen);
    pthread_mutex_lock(&rt->roster_lock);
    for (sluice_logger **at = &rt->removed; *at; at = &(*at)->next_removed)
        if (*at == face) {
            *at = face->next_removed;
            break;
        }
    pthread_mutex_unlock(&rt->roster_lock);
    SLUICE_FOR_EACH_GEN(face, gen) {
        sluice_supervisor_forget_(gen);
        for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++)
            release_binding(rt, &gen->bindings[k]);
        release(rt, gen->fallback);
        release(rt, gen->dead_letter);
    }
    sluice_crash_quiesce_(); /* its bindings are retired: see crash.c */
    sluice_face_bury_(face);
    return true;
}

/* The bindings a drain gave up on (cancelled) whose run loops ended. */
static void release_done(sluice_runtime *rt, sluice_logger *gen)
{
    for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++)
        if (atomic_load(&gen->bindings[k].cancelled) &&
            sluice_supervisor_binding_done_(&gen->bindings[k]))
            release_binding(rt, &gen->bindings[k]);
}

/* Free whatever has ended: this reload's old parts and earlier ones'. */
static long reap(sluice_runtime *rt)
{
    long left = 0;
    /* done bindings of old generations release their sinks at once, so a
     * removed sink closes even while its old generation lives on */
    for (size_t i = 0; i < rt->logger_count; i++)
        for (sluice_logger *gen = rt->loggers[i]->gens->older; gen; gen = gen->older)
            release_done(rt, gen);
    for (sluice_logger *face = rt->removed; face; face = face->next_removed)
        SLUICE_FOR_EACH_GEN(face, gen)
            release_done(rt, gen);
    for (size_t i = 0; i < rt->logger_count; i++) {
        sluice_logger *face = rt->loggers[i];
        for (sluice_logger *gen = face->gens->older, *older; gen; gen = older) {
            older = gen->older;
            if (sluice_supervisor_gen_done_(gen))
                left += reap_gen(rt, face, gen);
        }
    }
    bool buried = false;
    for (sluice_logger *face = rt->removed, *next; face; face = next) {
        next = face->next_removed;
        if (face_done(face) && reap_face(rt, face, &left))
            buried = true;
    }
    if (buried) {
        sluice_error e; /* out of memory: the old list names husks, harmless */
        pthread_mutex_lock(&rt->roster_lock);
        sluice_runtime_guard_list_(rt, &e);
        pthread_mutex_unlock(&rt->roster_lock);
    }
    return left;
}

/* ---- the calls ----------------------------------------------------------- */

static void reload_free(reload *r)
{
    for (size_t i = 0; r->changes && i < r->plan.logger_count; i++) {
        free(r->changes[i].signature);
        if (r->changes[i].gen) /* made, and no post-hook came */
            sluice_hook_stages_discard_(r->changes[i].gen, r->changes[i].stages);
    }
    free(r->by_plan);
    free(r->made);
    free(r->changes);
    free(r->gone);
    free(r->loggers);
    free(r->sinks);
    free(r->old_sinks);
    free(r->host_apis);
    free(r->guarded);
    sluice_plan_free_(&r->plan);
}

/* With reload_lock held and the runtime running. */
static int reload_locked(sluice_runtime *rt, sluice_builder *b, sluice_error *err)
{
    reload r;
    memset(&r, 0, sizeof r);
    r.rt = rt;
    r.b = b;
    int rc = -1;
    if (add_host_apis(&r, err) != 0)
        goto done;
    /* 1. everything `sluice check` checks, then what a reload cannot do */
    sluice_plan_make_(b, &r.plan, true);
    check_runtime(&r);
    r.by_plan = calloc(r.plan.sink_count ? r.plan.sink_count : 1, sizeof *r.by_plan);
    r.made = calloc(r.plan.sink_count ? r.plan.sink_count : 1, sizeof *r.made);
    r.changes = calloc(r.plan.logger_count ? r.plan.logger_count : 1,
                       sizeof *r.changes);
    if (!r.by_plan || !r.made || !r.changes) {
        sluice_error_set(err, "reload: out of memory");
        goto done;
    }
    /* 2. */
    if (match_sinks(&r, err) != 0 || match_loggers(&r, err) != 0)
        goto done;
    if (b->nerrors) {
        sluice_builder_report_all_(b, err);
        goto done;
    }
    /* 3. */
    if (make_parts(&r, err) != 0 || open_parts(&r, err) != 0) {
        undo(&r);
        goto done;
    }
    /* the crash handler: room for the new generations' fields, before
     * they are published (crash_flush on in the new file) */
    bool crash_added = false;
    if (r.plan.runtime.crash_flush &&
        sluice_crash_prepare_(rt, new_base_fields(&r), &crash_added,
                              err) != 0) {
        undo(&r);
        goto done;
    }
    /* 4. */
    if (!commit(&r)) {
        undo(&r);
        if (crash_added)
            sluice_crash_unregister_(rt);
        sluice_error_set(err, "reload: the runtime began to close");
        goto done;
    }
    if (!r.plan.runtime.crash_flush)
        sluice_crash_unregister_(rt); /* if it was on: no more */
    /* 5. */
    watched w = {NULL, 0};
    long undelivered = 0;
    if (watch(&r, &w, err) == 0)
        undelivered = drain(&r, &w);
    else /* out of memory: nothing waited for; close counts what is left */
        err->message[0] = '\0';
    free(w.bindings);
    /* 6. */
    if (!closing(rt))
        undelivered += reap(rt);
    rc = undelivered > INT32_MAX ? INT32_MAX : (int)undelivered;
done:
    reload_free(&r);
    return rc;
}

int sluice_runtime_reload_builder(sluice_runtime *rt, sluice_builder *b,
                                  sluice_error *err)
{
    if (!rt || !b) {
        sluice_builder_free(b);
        return sluice_error_set(err, "reload: no runtime or no builder");
    }
    /* inside the guard: close waits for us before it frees rt */
    const void *saved = sluice_guard_enter_(rt);
    int rc;
    if (rt->forked) {
        rc = sluice_error_set(err, "reload: the runtime belongs to the parent "
                                   "of this forked process");
    } else {
        pthread_mutex_lock(&rt->reload_lock);
        if (closing(rt))
            rc = sluice_error_set(err, "reload: the runtime is closing");
        else
            rc = reload_locked(rt, b, err);
        pthread_mutex_unlock(&rt->reload_lock);
    }
    sluice_guard_leave_(saved);
    sluice_builder_free(b);
    return rc;
}

int sluice_runtime_reload(sluice_runtime *rt, const char *ini_path,
                          sluice_error *err)
{
    if (!rt || !ini_path)
        return sluice_error_set(err, "reload: no runtime or no file");
    sluice_builder *b = sluice_config_load_file(ini_path, err);
    if (!b)
        return -1;
    return sluice_runtime_reload_builder(rt, b, err);
}
