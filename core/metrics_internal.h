/*
 * metrics_internal.h -- the runtime's counters as Prometheus metrics:
 *   metrics.c       renders a snapshot of the counters in the text
 *                   exposition format (and sluice_runtime_metrics_write,
 *                   which takes the snapshot through the stats calls);
 *   metrics_http.c  [runtime] metrics_listen: the address parsed at
 *                   validation, and the HTTP server (libmicrohttpd) that
 *                   serves GET /metrics while the runtime runs.
 * Knows nothing of INI syntax, queues' insides or the run loop.
 */
#ifndef SLUICE_METRICS_INTERNAL_H
#define SLUICE_METRICS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/sluice.h>

#include "buf_internal.h"

/* ---- rendering (metrics.c) --------------------------------------------- */

/* One logger as the renderer sees it: its counters, and its bindings'
 * (stats.binding_count of them, lane-major as sluice_logger_binding gives
 * them). */
typedef struct sluice_metrics_logger {
    const char *name;
    sluice_logger_stats stats;
    unsigned lanes;
    uint64_t queue_capacity;                /* bytes, each lane's queue */
    const uint64_t *lane_used;              /* bytes in use, per lane */
    const sluice_binding_stats *bindings;
} sluice_metrics_logger;

/* Append loggers[0..n) in the text format (version 0.0.4) to out; out->failed
 * says whether memory ran out. */
void sluice_metrics_render_(const sluice_metrics_logger *loggers, size_t n,
                            sluice_buf *out);

/* ---- [runtime] metrics_listen and the server (metrics_http.c) ---------- */

/* Where to listen, as validated by plan.c; family 0: no server. */
typedef struct sluice_metrics_listen {
    int family;                /* 0 (off), AF_INET or AF_INET6 */
    unsigned char address[16]; /* in network order: 4 or 16 bytes */
    unsigned port;             /* 1..65535 */
    char text[64];             /* "127.0.0.1:9464", for messages */
    char where[256];           /* "FILE:LINE" of the key, for start errors */
} sluice_metrics_listen;

/* Was this library built with the server (libmicrohttpd)? */
bool sluice_metrics_http_available_(void);
/* Parse a metrics_listen value: "HOST:PORT" with HOST an IPv4 address,
 * "[IPv6]" or "localhost", or ":PORT" (loopback). 0, or -1 with the reason
 * in why. */
int sluice_metrics_listen_parse_(const char *value, sluice_metrics_listen *out,
                                 char *why, size_t why_cap);

/* stats.c: one logger's counters, its current generation's bindings'
 * (*bindings, malloc'd: free it; *count of them) and each lane's bytes in
 * use (lane_used[0..*lanes), room for 64) and size, read at once. 0, or -1
 * in a forked child's copy or when out of memory. */
int sluice_logger_snapshot_(sluice_logger *lg, sluice_logger_stats *st,
                            sluice_binding_stats **bindings, size_t *count,
                            uint64_t *lane_used, unsigned *lanes,
                            uint64_t *lane_size);

struct sluice_runtime;
/* Start rt's server when its metrics_listen is set (lifecycle.c, as the
 * runtime starts): 0 (also when there is none to start), or -1 with err
 * naming FILE:LINE and nothing left listening. */
int sluice_metrics_http_start_(struct sluice_runtime *rt, sluice_error *err);
/* Stop it (lifecycle.c, first thing in close): a request being answered
 * finishes first; from its return nothing reads rt on the server's behalf
 * and the port is closed. Nothing to stop: returns at once. */
void sluice_metrics_http_stop_(struct sluice_runtime *rt);
/* In a fork's child: the server's thread is the parent's; close the
 * child's copy of the listening socket, so that the port goes when the
 * parent stops listening (async-signal-safe: close(2) only). */
void sluice_metrics_http_forked_(struct sluice_runtime *rt);

#endif
