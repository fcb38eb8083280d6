/*
 * durable_internal.h -- a queue whose rings live in a file (durable.c):
 * `[logger.NAME] durable = PATH`. The file holds a header (magic, version,
 * layout, the queue's secret, a checksum), the eras (how its ticks turn
 * into time), each sink's cursor (two copies, checksummed), the call sites
 * its records name by id, and the rings; docs/design.md has the table.
 * Opening it replays what each sink had not confirmed.
 *
 * queue.c calls the hooks below (a cursor moves, a batch leaves, the
 * queue closes); producer.c asks for call-site ids and seals records with
 * their checksum; worker.c reads records through sluice_queue_site and
 * sluice_queue_time_ns (queue_internal.h). Knows nothing of INI, sinks'
 * plugins or the run loop.
 */
#ifndef SLUICE_DURABLE_INTERNAL_H
#define SLUICE_DURABLE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "queue_internal.h"

/* durable_sync: what reaches the disk when (docs/delivery.md). */
typedef enum sluice_durable_sync {
    SLUICE_DURABLE_SYNC_NONE = 0, /* the page cache only */
    SLUICE_DURABLE_SYNC_INTERVAL, /* fdatasync every interval_ms */
    SLUICE_DURABLE_SYNC_BATCH     /* a batch and the cursors, before the
                                     sink gets it */
} sluice_durable_sync;

typedef struct sluice_durable_spec {
    const char *path;            /* this lane's file */
    const char *where;           /* "app.ini:12: [logger.a] durable", for
                                    errors */
    sluice_durable_sync sync;
    int sync_interval_ms;
    size_t bytes;                /* queue_size of the lane */
    unsigned rings;
    bool rings_explicit;         /* producer_rings was given: the file must
                                    have as many */
    unsigned consumers;
    const char *const *sinks;    /* each consumer's sink name */
} sluice_durable_spec;

/* Open (or create) the file, lock it, check it, replay it: a queue whose
 * cursors start where each sink's confirmed records end (a sink new to
 * the file at its end). 0, or -1 with err naming where and why. */
int sluice_durable_open_(const sluice_durable_spec *spec, sluice_queue **out,
                         sluice_error *err);
/* Sync (unless durable_sync = none), unmap, unlock and free (queue.c's
 * destroy and bury). */
void sluice_durable_close_(struct sluice_durable *d);

/* Cursor c of ring is about to be done at done: persist it first (under
 * the ring's lock). */
void sluice_durable_cursor_moved_(struct sluice_durable *d, unsigned c,
                                  unsigned ring, uint64_t done);
/* Consumer c's batch ([from, claimed) of each ring) is about to go to its
 * sink: with durable_sync = batch, sync it and the cursors. */
void sluice_durable_batch_(struct sluice_durable *d, sluice_queue *q,
                           unsigned c);

/* A record's checksum: CRC-32C of its header words after the publish word
 * but ticks and check (bytes 8..24, 32..44), then its payload, then its
 * ticks. The order lets the producer end the chain with the time. */
uint32_t sluice_rec_check_(const sluice_rec *rec);

/* The id + 1 of call site cs in q's file, appended there the first time
 * (under a lock, before the record naming it is published); 0 when the
 * file's call-site table is full. Fills the calling thread's cache. */
uint64_t sluice_durable_site_id_(sluice_queue *q, sluice_ring *r,
                                 const sluice_callsite *cs);

/* Damaged records (or gaps before a later record) skipped at open, and
 * records found there that some sink had not confirmed. 0 in memory. */
uint64_t sluice_queue_corrupt(const sluice_queue *q);
uint64_t sluice_queue_replayed(const sluice_queue *q);

/* The calling thread's call-site ids, direct-mapped by call site: what
 * the straight path and the inline claim read (a miss takes the general
 * path, which fills it). epoch is the queue's (sluice_ring.durable_epoch):
 * never reused. The entry and the array are sluice/fast.h's. */
typedef struct sluice_fast_site_ sluice_site_cache_entry;

static inline sluice_site_cache_entry *
sluice_site_cache_of_(const sluice_callsite *cs)
{
    return SLUICE_FAST_SITE_OF_(cs);
}

#endif
