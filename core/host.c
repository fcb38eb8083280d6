/*
 * host.c -- the services the runtime hands to a plugin (sluice_host in
 * sluice/sink.h): a record rendered as the runtime renders `line`, JSON
 * string escaping, RFC 3339 time, a path resolved against the
 * configuration's folder, and, while check() runs, a way to report one more
 * mistake, and, while write() runs, a way to reject one record of the
 * batch for good (kept in the write's sluice_outcome). Each text service
 * writes into the plugin's buffer with snprintf's contract. They are
 * callable from any thread: each keeps its state on the stack, and reject()
 * takes the outcome's lock.
 * Knows nothing of queues, workers or the configuration's shape; the
 * formatting itself is format.c's.
 */
#include "host_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy what was built in b into out[0..cap) with a NUL, as snprintf does;
 * the length the whole text needs. */
static size_t give(sluice_buf *b, char *out, size_t cap)
{
    size_t n = b->len;
    if (cap > 0 && out) {
        size_t take = n < cap - 1 ? n : cap - 1;
        if (take)
            memcpy(out, b->data, take);
        out[take] = '\0';
    }
    sluice_buf_free(b);
    return n;
}

static const sluice_host_ctx *ctx_of(const sluice_host *host)
{
    return host ? (const sluice_host_ctx *)host->runtime_ : NULL;
}

static size_t host_render(const sluice_host *host, const sluice_record *r,
                          sluice_line_format format, char *out, size_t cap)
{
    const sluice_host_ctx *ctx = ctx_of(host);
    sluice_format f;
    memset(&f, 0, sizeof f);
    if (format == SLUICE_LINE_TEXT && ctx && ctx->format &&
        ctx->format->kind == SLUICE_FORMAT_TEXT) {
        f = *ctx->format; /* the sink's compiled pattern */
    } else {
        f.kind = format == SLUICE_LINE_JSON     ? SLUICE_FORMAT_JSON
                 : format == SLUICE_LINE_LOGFMT ? SLUICE_FORMAT_LOGFMT
                                                : SLUICE_FORMAT_TEXT;
        f.pattern = NULL;
        if (sluice_format_compile(&f, NULL) != 0)
            f.op_count = 0;
    }
    /* a record the plugin made itself may leave parts out */
    sluice_record rec = *r;
    if (!rec.logger)
        rec.logger = "";
    if (!rec.message) {
        rec.message = "";
        rec.message_len = 0;
    }
    if (!rec.fields)
        rec.field_count = 0;
    sluice_time_cache tc;
    sluice_time_cache_init(&tc);
    sluice_buf b;
    sluice_buf_init(&b);
    sluice_format_render(&b, &f, &rec, &tc);
    return give(&b, out, cap);
}

static size_t host_escape_json(const char *s, size_t n, char *out, size_t cap)
{
    sluice_buf b;
    sluice_buf_init(&b);
    sluice_escape_json(&b, s ? s : "", s ? n : 0);
    return give(&b, out, cap);
}

static size_t host_format_time(int64_t time_ns, char *out, size_t cap)
{
    sluice_time_cache tc;
    sluice_time_cache_init(&tc);
    sluice_buf b;
    sluice_buf_init(&b);
    sluice_format_time(&b, time_ns, &tc);
    return give(&b, out, cap);
}

static size_t host_resolve_path(const sluice_host *host, const char *path,
                                char *out, size_t cap)
{
    const sluice_host_ctx *ctx = ctx_of(host);
    const char *dir = ctx ? ctx->base_dir : NULL;
    if (!path)
        path = "";
    int n;
    if (dir && path[0] && path[0] != '/')
        n = snprintf(out, cap, "%s/%s", dir, path);
    else
        n = snprintf(out, cap, "%s", path);
    return n < 0 ? 0 : (size_t)n;
}

static void host_report(const sluice_host *host, const char *key,
                        const char *message)
{
    const sluice_host_ctx *ctx = ctx_of(host);
    if (ctx && ctx->report)
        ctx->report(ctx->report_user, key, message ? message : "invalid");
}

static void host_reject(const sluice_host *host, size_t index,
                        const char *reason)
{
    const sluice_host_ctx *ctx = ctx_of(host);
    if (!ctx || !ctx->outcome_lock)
        return;
    pthread_mutex_lock(ctx->outcome_lock);
    sluice_outcome *o = ctx->outcome;
    if (o && index < o->n && !o->flag[index]) {
        size_t len = reason ? strnlen(reason, SLUICE_REJECT_REASON_MAX) : 0;
        o->flag[index] = 1;
        o->rejected++;
        o->reason_at[index] = o->reasons.len;
        o->reason_len[index] = len;
        sluice_buf_append(&o->reasons, reason, len);
    }
    pthread_mutex_unlock(ctx->outcome_lock);
}

/* ---- the outcome of a write -------------------------------------------- */

void sluice_outcome_init(sluice_outcome *o)
{
    memset(o, 0, sizeof *o);
    sluice_buf_init(&o->reasons);
}

int sluice_outcome_reset(sluice_outcome *o, size_t n)
{
    o->n = 0;
    o->rejected = 0;
    if (n > o->cap) {
        size_t cap = o->cap ? o->cap : 64;
        while (cap < n)
            cap *= 2;
        unsigned char *flag = realloc(o->flag, cap);
        if (flag)
            o->flag = flag;
        size_t *at = realloc(o->reason_at, cap * sizeof *at);
        if (at)
            o->reason_at = at;
        size_t *len = realloc(o->reason_len, cap * sizeof *len);
        if (len)
            o->reason_len = len;
        if (!flag || !at || !len)
            return -1;
        o->cap = cap;
    }
    o->n = n;
    if (n)
        memset(o->flag, 0, n);
    sluice_buf_reset(&o->reasons);
    return 0;
}

void sluice_outcome_cut(sluice_outcome *o, size_t done)
{
    for (size_t i = done; i < o->n; i++) {
        if (o->flag[i]) {
            o->flag[i] = 0;
            o->rejected--;
        }
    }
}

void sluice_outcome_free(sluice_outcome *o)
{
    free(o->flag);
    free(o->reason_at);
    free(o->reason_len);
    sluice_buf_free(&o->reasons);
    memset(o, 0, sizeof *o);
}

void sluice_host_init_(sluice_host *host, sluice_host_ctx *ctx)
{
    memset(host, 0, sizeof *host);
    host->render = host_render;
    host->escape_json = host_escape_json;
    host->format_time = host_format_time;
    host->resolve_path = host_resolve_path;
    host->report = host_report;
    host->runtime_ = ctx;
    host->reject = host_reject;
}
