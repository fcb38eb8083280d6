/*
 * hooked_internal.h -- what a lane's post-hooks made of its records
 * (hooked.c): each record's message, fields and time after the hooks ran,
 * stored once and read by every sink's worker, so that every sink gets
 * the same record and each hook runs once per record.
 *
 * Results are kept per ring, in the order of the records' offsets, and
 * found by offset; a result is dropped once every consumer has passed its
 * record (trim). Fields are encoded as the queue encodes a record's: a
 * 4-byte key length, the key, a 4-byte value length, the value.
 * One lock guards everything; each call takes it, or the caller holds it
 * around several (lock, unlock). Knows nothing of hooks, sinks or workers.
 */
#ifndef SLUICE_HOOKED_INTERNAL_H
#define SLUICE_HOOKED_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/sink.h>

#include "buf_internal.h"

typedef struct sluice_hooked sluice_hooked;

/* An empty store for a queue of rings rings; NULL when out of memory. */
sluice_hooked *sluice_hooked_new(unsigned rings);
void sluice_hooked_free(sluice_hooked *h);

void sluice_hooked_lock(sluice_hooked *h);
void sluice_hooked_unlock(sluice_hooked *h);

/* Locked: keep r's message, fields and time as the result of the record
 * at offset off of ring (offsets rise per ring). -1 when out of memory
 * (the record then has no result). */
int sluice_hooked_put(sluice_hooked *h, unsigned ring, uint64_t off,
                      const sluice_record *r);
/* Locked: the result of the record at off of ring, appended to the
 * caller's buffers (message to msgs, fields encoded to fields); false
 * when there is none. */
bool sluice_hooked_get(sluice_hooked *h, unsigned ring, uint64_t off,
                       sluice_buf *msgs, sluice_buf *fields,
                       size_t *field_count, int64_t *time_ns);
/* Locked: drop the results of ring's records before offset below. */
void sluice_hooked_trim(sluice_hooked *h, unsigned ring, uint64_t below);
/* Results held, all rings (for tests). */
size_t sluice_hooked_count(sluice_hooked *h);

#endif
