/*
 * assemble.c -- turns a valid plan into a runtime and hands it to
 * lifecycle.c to start: a sink instance for each sink some logger uses,
 * each logger (a face and its first generation: runtime_internal.h) with
 * its lanes' queues and its bindings, then the sinks opened in file order.
 * Whatever fails undoes everything before it (the runtime is discarded by
 * its owner, lifecycle.c), so an error leaves nothing started. The pieces
 * (a face, a generation, a sink instance, its opening) are also what a
 * reload (reload.c) builds a new configuration's parts with. Knows nothing
 * of INI syntax, of how a queue works inside or of the run loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder_internal.h"
#include "clock_internal.h"
#include "crc32c_internal.h"
#include "durable_internal.h"
#include "sink_internal.h"

/* The logger's base fields, from its field.NAME keys in file order. */
static int copy_fields(sluice_logger *lg, const bsection *s)
{
    for (size_t i = 0; i < s->nkeys; i++)
        if (strncmp(s->keys[i].key, "field.", 6) == 0)
            lg->field_count++;
    if (!lg->field_count)
        return 0;
    lg->fields = calloc(lg->field_count, sizeof *lg->fields);
    if (!lg->fields) {
        lg->field_count = 0;
        return -1;
    }
    size_t f = 0;
    for (size_t i = 0; i < s->nkeys; i++) {
        if (strncmp(s->keys[i].key, "field.", 6) != 0)
            continue;
        char *k = sluice_strdup_(s->keys[i].key + 6);
        char *v = sluice_strdup_(s->keys[i].value);
        lg->fields[f++] = (sluice_field){k, k ? strlen(k) : 0, v, v ? strlen(v) : 0};
        if (!k || !v)
            return -1;
    }
    return 0;
}

/* Lane lane's queue: in memory, or in its durable file (PATH for one
 * lane, PATH.LANE for several). */
static sluice_queue *make_queue(const sluice_builder *b, const logger_plan *l,
                                unsigned lane, sluice_error *err)
{
    if (!l->durable) {
        sluice_queue *q = sluice_queue_create((size_t)l->queue_bytes, l->rings,
                                              (unsigned)l->nsinks);
        if (!q)
            sluice_error_set(err, "logger '%s': cannot map a queue of %llu "
                                  "bytes: %s",
                             l->name, (unsigned long long)l->queue_bytes,
                             strerror(errno));
        return q;
    }
    char path[4200], where[600];
    if (l->workers > 1)
        snprintf(path, sizeof path, "%s.%u", l->durable, lane);
    else
        snprintf(path, sizeof path, "%s", l->durable);
    if (l->durable_line > 0)
        snprintf(where, sizeof where, "%s:%d: [%s] durable", b->source,
                 l->durable_line, l->section->name);
    else
        snprintf(where, sizeof where, "%s: [%s] durable", b->source,
                 l->section->name);
    const char *names[SLUICE_QUEUE_MAX_CONSUMERS];
    for (size_t i = 0; i < l->nsinks; i++)
        names[i] = l->sinks[i]->name;
    sluice_durable_spec spec = {
        .path = path,
        .where = where,
        .sync = (sluice_durable_sync)l->durable_sync,
        .sync_interval_ms = (int)l->durable_interval_ms,
        .bytes = (size_t)l->queue_bytes,
        .rings = l->rings,
        .rings_explicit = l->rings_explicit,
        .consumers = (unsigned)l->nsinks,
        .sinks = names,
    };
    sluice_queue *q = NULL;
    sluice_durable_open_(&spec, &q, err);
    return q;
}

/* A face: what the host holds of the logger (runtime_internal.h). */
sluice_logger *sluice_face_make_(sluice_runtime *rt, const logger_plan *l,
                                 sluice_error *err)
{
    sluice_logger *face = calloc(1, sizeof *face);
    if (!face) {
        sluice_error_set(err, "logger '%s': out of memory", l->name);
        return NULL;
    }
    face->face = face;
    face->name = sluice_strdup_(l->name);
    face->signature = sluice_plan_logger_signature_(l);
    face->rt = rt;
    pthread_mutex_init(&face->hooks_lock, NULL);
    pthread_mutex_init(&face->gens_lock, NULL);
    face->level = l->level;
    face->file_level = l->level;
    face->head.level = (int)l->level;
    face->durable_path = l->durable ? sluice_strdup_(l->durable) : NULL;
    face->queue_bytes = l->queue_bytes;
    face->queue_rings = l->rings;
    face->queue_lanes = (unsigned)l->workers;
    face->durable_sync = l->durable_sync;
    face->durable_interval_ms = l->durable_interval_ms;
    /* the straight path needs one lane, the TSC for its timestamps and
     * prefetchw (on x86); a durable logger takes its durable twin, if the
     * processor has crc32 (a reload never changes whether a logger is
     * durable: reload.c) */
    atomic_init(&face->slow_path,
                (l->workers > 1 ? SLUICE_SLOW_LANES : 0u) |
                    (sluice_clock_uses_tsc_ ? 0u : SLUICE_SLOW_NO_TSC) |
                    (sluice_queue_has_prefetchw_() ? 0u : SLUICE_SLOW_NO_PRFCHW) |
                    (l->durable ? SLUICE_SLOW_DURABLE : 0u) |
                    (l->durable && !sluice_crc32c_hw_() ? SLUICE_SLOW_SOFT_CRC
                                                         : 0u));
    if (!face->name || !face->signature || (l->durable && !face->durable_path)) {
        sluice_error_set(err, "logger '%s': out of memory", l->name);
        sluice_logger_destroy_(face);
        return NULL;
    }
    return face;
}

sluice_logger *sluice_gen_make_(const sluice_builder *b, sluice_runtime *rt,
                                sluice_logger *face, const logger_plan *l,
                                sluice_sink_instance *const *by_plan,
                                const sink_plan *plans, sluice_error *err)
{
    sluice_logger *lg = calloc(1, sizeof *lg);
    if (!lg) {
        sluice_error_set(err, "logger '%s': out of memory", l->name);
        return NULL;
    }
    lg->face = face;
    lg->name = sluice_strdup_(l->name);
    lg->rt = rt;
    pthread_mutex_init(&lg->hooks_lock, NULL);
    pthread_mutex_init(&lg->gens_lock, NULL);
    lg->level = l->level;
    lg->lanes = (unsigned)l->workers;
    lg->sinks_per_lane = l->nsinks;
    lg->overflow = l->overflow;
    lg->block_timeout_ms = (int)l->block_timeout;
    lg->flush_interval_ms = (int)l->flush_interval;
    lg->autostart = l->autostart;
    lg->scheduler = l->scheduler;
    lg->fallback = l->fallback ? by_plan[l->fallback - plans] : NULL;
    lg->dead_letter = l->dead_letter ? by_plan[l->dead_letter - plans] : NULL;
    lg->queues = calloc(lg->lanes, sizeof *lg->queues);
    lg->bindings = calloc((size_t)lg->lanes * l->nsinks, sizeof *lg->bindings);
    if (!lg->name || !lg->queues || !lg->bindings)
        goto oom;

    for (unsigned lane = 0; lane < lg->lanes; lane++) {
        lg->queues[lane] = make_queue(b, l, lane, err);
        if (!lg->queues[lane]) {
            sluice_gen_destroy_(lg); /* make_queue said why */
            return NULL;
        }
        /* its workers leave the youngest records (queue_internal.h) */
        sluice_queue_set_settle(lg->queues[lane], sluice_clock_tsc_ticks_for_ns(
                                                      SLUICE_QUEUE_SETTLE_NS));
        for (size_t i = 0; i < l->nsinks; i++) {
            sluice_binding *bd = &lg->bindings[lane * l->nsinks + i];
            bd->logger = lg;
            bd->sink = by_plan[l->sinks[i] - plans];
            bd->queue = lg->queues[lane];
            bd->lane = lane;
            bd->cursor = (unsigned)i;
            bd->state = SLUICE_STATE_IDLE;
            pthread_mutex_init(&bd->mu, NULL);
            if (bd->sink->level != SLUICE_LEVEL_TRACE)
                sluice_queue_set_level(bd->queue, bd->cursor, bd->sink->level);
        }
    }
    if (copy_fields(lg, l->section) != 0)
        goto oom;
    return lg;
oom:
    sluice_error_set(err, "logger '%s': out of memory", l->name);
    sluice_gen_destroy_(lg);
    return NULL;
}

/* A face with its first generation, published as its gen. */
static sluice_logger *make_logger(const sluice_builder *b, sluice_runtime *rt,
                                  const logger_plan *l,
                                  sluice_sink_instance **by_plan,
                                  const sink_plan *plans, sluice_error *err)
{
    sluice_logger *face = sluice_face_make_(rt, l, err);
    if (!face)
        return NULL;
    sluice_logger *gen = sluice_gen_make_(b, rt, face, l, by_plan, plans, err);
    if (!gen) {
        sluice_logger_destroy_(face);
        return NULL;
    }
    face->gens = gen;
    atomic_init(&face->gen, gen);
    atomic_init(&face->lane0, gen->queues[0]);
    sluice_face_init_fast_(face, gen->queues[0]);
    return face;
}

sluice_sink_instance *sluice_sink_make_(sluice_builder *b, sink_plan *p,
                                        sluice_error *err)
{
    char *signature = sluice_plan_sink_signature_(b, p);
    /* the instance owns the plugin from now on */
    sluice_sink_instance *s = sluice_sink_new_(p->name, p->api, p->plugin,
                                               b->base_dir);
    p->plugin = NULL;
    if (!s || !signature) {
        free(signature);
        sluice_sink_free_(s);
        sluice_error_set(err, "out of memory");
        return NULL;
    }
    s->signature = signature;
    s->format = p->format;
    s->level = p->level;
    if (p->format.pattern) {
        s->pattern = sluice_strdup_(p->format.pattern);
        if (!s->pattern) {
            sluice_sink_free_(s);
            sluice_error_set(err, "out of memory");
            return NULL;
        }
        s->format.pattern = s->pattern;
    }
    if (sluice_format_compile(&s->format, err) != 0) {
        sluice_sink_free_(s); /* checked at validation: only out of memory here */
        return NULL;
    }
    return s;
}

/* The sinks some logger uses, unopened, in file order; by_plan maps each
 * plan to its instance (NULL for an unused sink). */
static int make_sinks(sluice_builder *b, sluice_runtime *rt, sluice_plan *plan,
                      sluice_sink_instance **by_plan, sluice_error *err)
{
    rt->sinks = calloc(plan->sink_count ? plan->sink_count : 1, sizeof *rt->sinks);
    if (!rt->sinks)
        return sluice_error_set(err, "out of memory");
    for (size_t i = 0; i < plan->sink_count; i++) {
        sink_plan *p = &plan->sinks[i];
        if (!p->used)
            continue;
        sluice_sink_instance *s = sluice_sink_make_(b, p, err);
        if (!s)
            return -1;
        rt->sinks[rt->sink_count++] = s;
        by_plan[i] = s;
    }
    return 0;
}

int sluice_sink_open_plan_(sluice_builder *b, const sink_plan *p,
                           sluice_sink_instance *s, sluice_error *err)
{
    sluice_options o = {p->name,         b->source,
                        p->options,      p->option_count,
                        p->specs,        p->parsed.values,
                        NULL /* the doorway sets the instance's */,
                        p->section->line};
    return sluice_sink_open_(s, &o, p->section->line, err);
}

static int open_sinks(sluice_builder *b, sluice_plan *plan,
                      sluice_sink_instance **by_plan, sluice_error *err)
{
    for (size_t i = 0; i < plan->sink_count; i++)
        if (by_plan[i] && sluice_sink_open_plan_(b, &plan->sinks[i], by_plan[i], err) != 0)
            return -1;
    return 0;
}

/* Each instance counts what may still call it: the bindings bound to it,
 * and the generations it is the fallback or dead letter of (a reload
 * closes it when nothing is left). */
void sluice_gen_count_users_(sluice_logger *gen)
{
    for (size_t k = 0; k < sluice_gen_binding_count_(gen); k++)
        gen->bindings[k].sink->users++;
    if (gen->fallback)
        gen->fallback->users++;
    if (gen->dead_letter)
        gen->dead_letter->users++;
}

static void count_users(sluice_runtime *rt)
{
    for (size_t i = 0; i < rt->logger_count; i++)
        sluice_gen_count_users_(rt->loggers[i]->gens);
}

/* The host's sink tables, kept for a reload from a file. */
static int keep_host_apis(sluice_builder *b, sluice_runtime *rt, sluice_error *err)
{
    if (!b->napis)
        return 0;
    rt->host_apis = calloc(b->napis, sizeof *rt->host_apis);
    if (!rt->host_apis)
        return sluice_error_set(err, "out of memory");
    memcpy(rt->host_apis, b->apis, b->napis * sizeof *rt->host_apis);
    rt->host_api_count = b->napis;
    return 0;
}

int sluice_builder_start(sluice_builder *b, sluice_runtime **out,
                         sluice_error *err)
{
    *out = NULL;
    sluice_plan plan;
    sluice_runtime *rt = NULL;
    sluice_sink_instance **by_plan = NULL;
    int rc = -1;

    if (sluice_plan_make_(b, &plan, false) != 0) {
        sluice_builder_report_all_(b, err);
        goto done;
    }
    sluice_clock_init();
    rt = sluice_runtime_new_();
    by_plan = calloc(plan.sink_count ? plan.sink_count : 1, sizeof *by_plan);
    if (!rt || !by_plan) {
        sluice_error_set(err, "out of memory");
        goto fail;
    }
    rt->backoff_min_ms = (int)plan.runtime.backoff_min;
    rt->backoff_max_ms = (int)plan.runtime.backoff_max;
    rt->intensity_restarts = (int)plan.runtime.intensity_n;
    rt->intensity_period_ms = (int)plan.runtime.intensity_period;
    rt->flush_on_exit_ms = (int)plan.runtime.flush_on_exit_ms;
    rt->crash_flush = plan.runtime.crash_flush;
    rt->metrics_listen = plan.runtime.metrics_listen;
    rt->event_fn = b->event_fn;
    rt->event_user = b->event_user;
    if (make_sinks(b, rt, &plan, by_plan, err) != 0)
        goto fail;
    rt->loggers = calloc(plan.logger_count, sizeof *rt->loggers);
    if (!rt->loggers) {
        sluice_error_set(err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < plan.logger_count; i++) {
        sluice_logger *lg = make_logger(b, rt, &plan.loggers[i], by_plan,
                                        plan.sinks, err);
        if (!lg)
            goto fail;
        rt->loggers[rt->logger_count++] = lg;
    }
    count_users(rt);
    if (keep_host_apis(b, rt, err) != 0 || open_sinks(b, &plan, by_plan, err) != 0)
        goto fail;
    /* lifecycle.c owns it from here, also when starting fails */
    rc = sluice_runtime_start_(rt, err);
    if (rc == 0)
        *out = rt;
    rt = NULL;
    goto done;
fail:
    sluice_runtime_discard_(rt);
done:
    free(by_plan);
    sluice_plan_free_(&plan);
    sluice_builder_free(b);
    return rc;
}
