/*
 * metrics.c -- the counters of a runtime in the Prometheus text exposition
 * format (version 0.0.4): sluice_runtime_metrics_write takes a snapshot of
 * every logger and binding through the stats calls (stats.c, safe during
 * close) and renders it from one table, a row per metric. Adding a counter
 * is adding a row. Knows nothing of HTTP (metrics_http.c serves this text),
 * INI syntax or how the counters are kept.
 *
 * Families, in this order (docs/metrics.md says what each one counts):
 *   sluice_logger_*    labels logger (dropped: and reason)
 *   sluice_queue_*     labels logger, lane
 *   sluice_binding_*   labels logger, sink, lane (state: and state)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard_internal.h"
#include "metrics_internal.h"
#include "runtime_internal.h"

/* ---- the table ------------------------------------------------------------ */

typedef enum metric_scope {
    PER_LOGGER,          /* one series per logger */
    PER_LANE,            /* one per lane of each logger (its queue) */
    PER_BINDING,         /* one per binding */
    PER_BINDING_STATE    /* one per binding and state: 1 for its state */
} metric_scope;

typedef struct metric_row {
    const char *name;
    const char *type;          /* "counter" or "gauge" */
    const char *help;          /* once per family: the family's first row */
    metric_scope scope;
    size_t offset;             /* of a uint64_t in sluice_logger_stats
                                  (PER_LOGGER) or sluice_binding_stats */
    const char *label;         /* one more label, 'name="value"', or NULL */
    uint64_t (*lane_value)(const sluice_metrics_logger *lg, unsigned lane);
} metric_row;

static uint64_t lane_capacity(const sluice_metrics_logger *lg, unsigned lane)
{
    (void)lane;
    return lg->queue_capacity;
}

static uint64_t lane_used(const sluice_metrics_logger *lg, unsigned lane)
{
    return lg->lane_used ? lg->lane_used[lane] : 0;
}

/* The records a lane's queue holds: what its slowest binding has left. */
static uint64_t lane_fill(const sluice_metrics_logger *lg, unsigned lane)
{
    uint64_t fill = 0;
    for (size_t i = 0; i < lg->stats.binding_count; i++)
        if (lg->bindings[i].lane == lane && lg->bindings[i].pending > fill)
            fill = lg->bindings[i].pending;
    return fill;
}

#define LOGGER_ROW(name, type, field, help) \
    {name, type, help, PER_LOGGER, offsetof(sluice_logger_stats, field), NULL, NULL}
#define DROPPED_ROW(field, help) \
    {"sluice_logger_dropped_total", "counter", help, PER_LOGGER,              \
     offsetof(sluice_logger_stats, field), "reason=\"" #field "\"", NULL}
#define LANE_ROW(name, fn, help) {name, "gauge", help, PER_LANE, 0, NULL, fn}
#define BINDING_ROW(name, type, field, help) \
    {name, type, help, PER_BINDING, offsetof(sluice_binding_stats, field), NULL, NULL}

static const metric_row rows[] = {
    LOGGER_ROW("sluice_logger_attempted_total", "counter", attempted,
               "Logging calls at an enabled level (calls made after close "
               "began are not counted)."),
    LOGGER_ROW("sluice_logger_accepted_total", "counter", accepted,
               "Records queued: attempted minus dropped."),
    /* one family, a row per reason: the reasons are disjoint, so their sum
     * is what the logger dropped, and a new reason is a new row */
    DROPPED_ROW(overflowed,
                "Logging calls dropped, never queued, by reason: overflowed "
                "(refused by the overflow policy), closed (waiting for room "
                "when close began), rejected (by a pre-hook), forked (made "
                "in a forked child)."),
    DROPPED_ROW(closed, NULL),
    DROPPED_ROW(rejected, NULL),
    DROPPED_ROW(forked, NULL),
    LOGGER_ROW("sluice_logger_evicted_total", "counter", evicted,
               "Accepted records drop_oldest took out of the queue before "
               "every sink had them."),
    LOGGER_ROW("sluice_logger_replayed_total", "counter", replayed,
               "Records a durable queue's file held at open that some sink "
               "had not confirmed (not in attempted or accepted)."),
    LOGGER_ROW("sluice_logger_corrupt_total", "counter", corrupt,
               "Damaged records (or gaps before a later one) a durable "
               "queue's file held at open, skipped."),
    LOGGER_ROW("sluice_logger_pending", "gauge", pending,
               "The largest backlog of the logger's bindings, in records."),
    LANE_ROW("sluice_queue_size_bytes", lane_capacity,
             "Bytes of records one lane's queue holds (its rings)."),
    LANE_ROW("sluice_queue_used_bytes", lane_used,
             "Bytes of one lane's queue in use: what its slowest binding "
             "has not finished."),
    LANE_ROW("sluice_queue_fill", lane_fill,
             "Records in one lane's queue: the backlog of its slowest "
             "binding."),
    BINDING_ROW("sluice_binding_pending", "gauge", pending,
                "Records accepted and not yet written by this sink (its "
                "backlog)."),
    BINDING_ROW("sluice_binding_written_total", "counter", written,
                "Records the sink confirmed as written."),
    BINDING_ROW("sluice_binding_failures_total", "counter", failures,
                "Run loops that ended in a sink error."),
    BINDING_ROW("sluice_binding_restarts_total", "counter", restarts,
                "Run loops started after the first (restarts and resumes)."),
    BINDING_ROW("sluice_binding_given_up_total", "counter", given_up,
                "Times the supervisor gave up on the binding."),
    BINDING_ROW("sluice_binding_diverted_total", "counter", diverted,
                "Records handed to the logger's fallback sink."),
    BINDING_ROW("sluice_binding_evicted_total", "counter", evicted,
                "Records drop_oldest took from this binding's backlog."),
    BINDING_ROW("sluice_binding_rejected_total", "counter", rejected,
                "Records the sink rejected for good: never written, never "
                "retried."),
    BINDING_ROW("sluice_binding_dead_lettered_total", "counter", dead_lettered,
                "Of the rejected records, those the logger's dead_letter "
                "sink took."),
    BINDING_ROW("sluice_binding_filtered_total", "counter", filtered,
                "Records below the sink's level: never written there."),
    BINDING_ROW("sluice_binding_replayed_total", "counter", replayed,
                "Records this sink had not confirmed when its durable "
                "queue's file was opened, delivered first."),
    {"sluice_binding_state", "gauge",
     "The binding's state: 1 for the state it is in, 0 for the others.",
     PER_BINDING_STATE, 0, NULL, NULL},
};

/* ---- rendering ---------------------------------------------------------- */

/* A label value: backslash, double quote and line feed escaped. */
static void put_label_value(sluice_buf *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\')
            sluice_buf_puts(out, "\\\\");
        else if (*p == '"')
            sluice_buf_puts(out, "\\\"");
        else if (*p == '\n')
            sluice_buf_puts(out, "\\n");
        else
            sluice_buf_putc(out, *p);
    }
}

/* A HELP docstring: backslash and line feed escaped. */
static void put_help(sluice_buf *out, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            sluice_buf_puts(out, "\\\\");
        else if (*p == '\n')
            sluice_buf_puts(out, "\\n");
        else
            sluice_buf_putc(out, *p);
    }
}

static void put_label(sluice_buf *out, const char *name, const char *value,
                      bool first)
{
    if (!first)
        sluice_buf_putc(out, ',');
    sluice_buf_puts(out, name);
    sluice_buf_puts(out, "=\"");
    put_label_value(out, value);
    sluice_buf_putc(out, '"');
}

#define NO_LANE (-1L)

/* name{logger="..",[sink="..",][lane="..",][extra]} value\n */
static void put_sample(sluice_buf *out, const metric_row *row,
                       const char *logger, const char *sink, long lane,
                       const char *extra, uint64_t value)
{
    char number[24];
    sluice_buf_puts(out, row->name);
    sluice_buf_putc(out, '{');
    put_label(out, "logger", logger, true);
    if (sink)
        put_label(out, "sink", sink, false);
    if (lane != NO_LANE) {
        snprintf(number, sizeof number, "%ld", lane);
        put_label(out, "lane", number, false);
    }
    if (extra) {
        sluice_buf_putc(out, ',');
        sluice_buf_puts(out, extra);
    }
    snprintf(number, sizeof number, "} %" PRIu64 "\n", value);
    sluice_buf_puts(out, number);
}

static uint64_t field_at(const void *stats, size_t offset)
{
    uint64_t value;
    memcpy(&value, (const char *)stats + offset, sizeof value);
    return value;
}

static void render_row(const metric_row *row, const sluice_metrics_logger *loggers,
                       size_t n, sluice_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        const sluice_metrics_logger *lg = &loggers[i];
        switch (row->scope) {
        case PER_LOGGER:
            put_sample(out, row, lg->name, NULL, NO_LANE, row->label,
                       field_at(&lg->stats, row->offset));
            break;
        case PER_LANE:
            for (unsigned lane = 0; lane < lg->lanes; lane++)
                put_sample(out, row, lg->name, NULL, (long)lane, row->label,
                           row->lane_value(lg, lane));
            break;
        case PER_BINDING:
            for (size_t k = 0; k < lg->stats.binding_count; k++) {
                const sluice_binding_stats *b = &lg->bindings[k];
                put_sample(out, row, lg->name, b->sink, (long)b->lane, row->label,
                           field_at(b, row->offset));
            }
            break;
        case PER_BINDING_STATE:
            for (size_t k = 0; k < lg->stats.binding_count; k++) {
                const sluice_binding_stats *b = &lg->bindings[k];
                for (int s = SLUICE_STATE_IDLE; s <= SLUICE_STATE_GIVEN_UP; s++) {
                    char state[48];
                    snprintf(state, sizeof state, "state=\"%s\"",
                             sluice_binding_state_name((sluice_binding_state)s));
                    put_sample(out, row, lg->name, b->sink, (long)b->lane, state,
                               b->state == (sluice_binding_state)s);
                }
            }
            break;
        }
    }
}

void sluice_metrics_render_(const sluice_metrics_logger *loggers, size_t n,
                            sluice_buf *out)
{
    size_t count = sizeof rows / sizeof rows[0];
    for (size_t r = 0; r < count; r++) {
        const metric_row *row = &rows[r];
        /* a family's rows are adjacent: HELP and TYPE before its first */
        if (r == 0 || strcmp(rows[r - 1].name, row->name) != 0) {
            sluice_buf_puts(out, "# HELP ");
            sluice_buf_puts(out, row->name);
            sluice_buf_putc(out, ' ');
            put_help(out, row->help ? row->help : "");
            sluice_buf_puts(out, "\n# TYPE ");
            sluice_buf_puts(out, row->name);
            sluice_buf_putc(out, ' ');
            sluice_buf_puts(out, row->type);
            sluice_buf_putc(out, '\n');
        }
        render_row(row, loggers, n, out);
    }
}

/* ---- the host's call -------------------------------------------------- */

/* Snapshot every logger of rt (inside the guard: close waits for us), then
 * render it. The list of loggers is taken under the roster lock (a reload
 * may change it); each logger is read at once (stats.c), a logger a reload
 * removed meanwhile as it ended. */
#define LANES_MAX 64

static int snapshot_and_render(sluice_runtime *rt, sluice_buf *out,
                               sluice_error *err)
{
    pthread_mutex_lock(&rt->roster_lock);
    size_t n = rt->logger_count;
    sluice_logger **faces = calloc(n ? n : 1, sizeof *faces);
    if (faces)
        memcpy(faces, rt->loggers, n * sizeof *faces);
    pthread_mutex_unlock(&rt->roster_lock);
    sluice_metrics_logger *loggers = calloc(n ? n : 1, sizeof *loggers);
    uint64_t *used = calloc((n ? n : 1) * LANES_MAX, sizeof *used);
    int rc = 0;
    if (!faces || !loggers || !used) {
        rc = sluice_error_set(err, "metrics: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        sluice_metrics_logger *m = &loggers[i];
        sluice_binding_stats *bindings;
        size_t count;
        m->name = faces[i]->name;
        m->lane_used = used + i * LANES_MAX;
        if (sluice_logger_snapshot_(faces[i], &m->stats, &bindings, &count,
                                    used + i * LANES_MAX, &m->lanes,
                                    &m->queue_capacity) != 0) {
            rc = sluice_error_set(err, "metrics: the counters cannot be read "
                                       "(a forked child's copy of the runtime, "
                                       "or out of memory)");
            break;
        }
        m->bindings = bindings;
        m->stats.binding_count = count;
    }
    if (rc == 0)
        sluice_metrics_render_(loggers, n, out);
done:
    for (size_t i = 0; loggers && i < n; i++)
        free((void *)loggers[i].bindings);
    free(used);
    free(loggers);
    free(faces);
    return rc;
}

int sluice_runtime_metrics_write(sluice_runtime *rt, char **text, size_t *len,
                                 sluice_error *err)
{
    if (text)
        *text = NULL;
    if (len)
        *len = 0;
    if (!rt || !text)
        return sluice_error_set(err, "metrics: no runtime or no text pointer");
    sluice_buf out;
    sluice_buf_init(&out);
    const void *saved = sluice_guard_enter_(rt);
    int rc;
    if (sluice_runtime_state_(rt) >= SLUICE_RUNTIME_CLOSED)
        rc = sluice_error_set(err, "metrics: the runtime is closed");
    else if (rt->forked)
        rc = sluice_error_set(err, "metrics: the runtime belongs to the "
                                   "parent of this forked process");
    else
        rc = snapshot_and_render(rt, &out, err);
    sluice_guard_leave_(saved);
    if (rc == 0 && sluice_buf_reserve(&out, 1) == 0 && !out.failed) {
        out.data[out.len] = '\0';
        *text = out.data;
        if (len)
            *len = out.len;
        return 0;
    }
    if (rc == 0)
        rc = sluice_error_set(err, "metrics: out of memory");
    sluice_buf_free(&out);
    return rc;
}
