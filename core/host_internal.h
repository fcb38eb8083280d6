/*
 * host_internal.h -- the runtime's side of sluice_host (host.c): what one
 * table of services is bound to. Knows nothing of queues or workers.
 */
#ifndef SLUICE_HOST_INTERNAL_H
#define SLUICE_HOST_INTERNAL_H

#include <sluice/sink.h>

#include "format_internal.h"

/* What a sluice_host's functions work with; owned by whoever made the
 * host (a sink instance for its whole life, plan.c for one check()). */
typedef struct sluice_host_ctx {
    const char *base_dir;          /* the configuration's folder, or NULL */
    const sluice_format *format;   /* the sink's compiled format, or NULL */
    /* report(): where check()'s mistakes go; NULL outside check() */
    void (*report)(void *user, const char *key, const char *message);
    void *report_user;
} sluice_host_ctx;

/* Fill host with the runtime's services, bound to ctx (which must outlive
 * every call the plugin makes through host). */
void sluice_host_init_(sluice_host *host, sluice_host_ctx *ctx);

#endif
