/*
 * host_internal.h -- the runtime's side of sluice_host (host.c): what one
 * table of services is bound to, and the outcome of one write() that
 * reject() fills. Knows nothing of queues or workers.
 */
#ifndef SLUICE_HOST_INTERNAL_H
#define SLUICE_HOST_INTERNAL_H

#include <pthread.h>

#include <sluice/sink.h>

#include "buf_internal.h"
#include "format_internal.h"

/* Longest reason of a rejection kept (bytes); a longer one is cut. */
#define SLUICE_REJECT_REASON_MAX 1024

/* What one write() said beyond *written: which records of its batch the
 * sink rejected for good (sluice_host.reject), and why. Owned by whoever
 * calls the write (the worker); the doorway (sink.c) lends it to the
 * sink's host for the call. */
typedef struct sluice_outcome {
    size_t n;                  /* records in the batch */
    size_t rejected;           /* how many of them are rejected */
    unsigned char *flag;       /* [n]: 1 when rejected */
    size_t *reason_at;         /* [n]: its reason, in reasons */
    size_t *reason_len;
    size_t cap;
    sluice_buf reasons;
} sluice_outcome;

void sluice_outcome_init(sluice_outcome *o);
/* Empty, for a batch of n records: 0, or -1 when out of memory. */
int sluice_outcome_reset(sluice_outcome *o, size_t n);
void sluice_outcome_free(sluice_outcome *o);
/* Forget the rejections of records at or after done (they stay queued). */
void sluice_outcome_cut(sluice_outcome *o, size_t done);
/* The reason of rejected record i ("" when none was given). */
static inline const char *sluice_outcome_reason(const sluice_outcome *o,
                                                size_t i, size_t *len)
{
    *len = o->reasons.failed ? 0 : o->reason_len[i];
    return *len ? o->reasons.data + o->reason_at[i] : "";
}

/* What a sluice_host's functions work with; owned by whoever made the
 * host (a sink instance for its whole life, plan.c for one check()). */
typedef struct sluice_host_ctx {
    const char *base_dir;          /* the configuration's folder, or NULL */
    const sluice_format *format;   /* the sink's compiled format, or NULL */
    /* report(): where check()'s mistakes go; NULL outside check() */
    void (*report)(void *user, const char *key, const char *message);
    void *report_user;
    /* reject(): where write()'s rejections go, under outcome_lock; NULL
     * (and no lock) outside write() and for a host without writes */
    pthread_mutex_t *outcome_lock;
    sluice_outcome *outcome;
} sluice_host_ctx;

/* Fill host with the runtime's services, bound to ctx (which must outlive
 * every call the plugin makes through host). */
void sluice_host_init_(sluice_host *host, sluice_host_ctx *ctx);

#endif
