/*
 * durable.c -- a queue whose rings live in a file (MAP_SHARED), so that
 * what was accepted survives the death of the process: its file, its
 * lock, its checks, its replay, its syncing.
 *
 * The file (one per lane; docs/design.md has the table):
 *   header    magic, version, layout, the queue's secret, a creation id,
 *             CRC-32C; written once, when the file is made. The pid of
 *             the last opener sits apart, outside the checksum (shown in
 *             "in use" errors, trusted for nothing else).
 *   eras      one entry per open: how that process's ticks turn into time
 *   cursors   per sink name, each ring's `done` in two copies, each with a
 *             generation and a CRC: a torn write leaves the other copy
 *   sites     the call sites records name by id (a record cannot hold a
 *             pointer into a process that is gone)
 *   rings     the queue's rings, as queue.c lays them out
 *
 * Rules that make a SIGKILL harmless: a record is published by its
 * publish word, stored last with release (queue.c), and carries a CRC; a
 * call site is in the file before a record names it; a cursor is persisted
 * before producers may reuse the room it frees. Opening replays: per ring,
 * the head is the end of the last valid record; each sink's cursor comes
 * from its newest valid copy (else the ring's oldest record; a sink new to
 * the file starts at the end); what lies between is walked, and damaged
 * records or holes before a later record are padded over and counted.
 * The in-memory queue (its header pages: heads, cursors, locks) stays
 * anonymous; only the rings are the file's.
 * Knows nothing of INI, sinks' plugins or the run loop.
 */
#include "durable_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock_internal.h"
#include "crc32c_internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* ---- the file's layout ------------------------------------------------- */

#define FILE_MAGIC "SLUICEDQ"
#define FILE_VERSION 1u
#define HEADER_BYTES 4096u        /* the header page */
#define HEADER_CHECKED 252u       /* the CRC covers [0, 252), stored at 252 */
#define OWNER_PID_AT 512u         /* the last opener's pid, not checked */
#define ERA_AT 4096u
#define ERA_SLOTS 64u
#define ERA_BYTES 64u
#define CURSOR_AT (ERA_AT + ERA_SLOTS * ERA_BYTES)
#define CURSOR_SLOTS SLUICE_QUEUE_MAX_CONSUMERS
#define CURSOR_SLOT_BYTES 1024u
#define NAME_BYTES 128u
#define COPY_A_AT 256u            /* the two copies in different sectors */
#define COPY_B_AT 512u
#define SITE_AT (CURSOR_AT + CURSOR_SLOTS * CURSOR_SLOT_BYTES)
#define SITE_BYTES (1u << 20)     /* the call-site table */
#define SITES_MAX 16384u
#define SITE_HASH (2 * SITES_MAX)
#define RING_AT (SITE_AT + SITE_BYTES)

typedef struct file_header {
    char magic[8];
    uint32_t version;
    uint32_t checked_bytes;
    uint32_t rings;
    uint32_t cursor_slots;
    uint64_t ring_bytes;          /* each ring's capacity, a power of two */
    uint64_t slack_bytes;         /* after each ring's end */
    uint64_t secret;              /* of the publish words */
    unsigned char creation_id[16];
    int64_t created_ns;
    uint64_t era_at, cursor_at, site_at, site_bytes, ring_at, file_bytes;
    uint32_t record_header_bytes;
    uint32_t unit_bytes;
    unsigned char reserved[HEADER_CHECKED - 128];
    uint32_t crc;
} file_header;
_Static_assert(sizeof(file_header) == 256, "the header's checked part");

typedef struct file_era {
    uint64_t seq;                 /* the open it describes: 1, 2, ... */
    uint64_t start;               /* its first tick (offset included) */
    uint64_t offset;              /* its tick_offset */
    uint64_t anchor_tick;         /* a raw tick ... */
    int64_t anchor_ns;            /* ... and the wall clock then */
    double ns_per_tick;
    uint32_t tsc;                 /* ticks were TSC cycles (else ns) */
    uint32_t pid;
    uint32_t reserved;
    uint32_t crc;
} file_era;
_Static_assert(sizeof(file_era) == ERA_BYTES, "an era entry");

typedef struct file_copy {
    uint64_t generation;
    uint64_t done[SLUICE_QUEUE_MAX_RINGS];
    uint32_t crc;                 /* of the slot's name, generation, done */
    uint32_t reserved;
} file_copy;

typedef struct file_site {
    _Atomic uint32_t size;        /* the entry's bytes (a multiple of 8),
                                     stored last */
    uint32_t crc;                 /* of the bytes after this word */
    uint32_t id;                  /* its index in the table */
    uint32_t line;
    uint32_t arg_count;
    uint32_t format_len, file_len, function_len;
    /* then arg_types[arg_count], format, file, function (each with its
     * NUL), zeros to a multiple of 8 */
} file_site;

/* ---- in memory ---------------------------------------------------------- */

typedef struct era {
    uint64_t start, offset, anchor_tick;
    int64_t anchor_ns;
    double ns_per_tick;
    bool tsc;
} era;

typedef struct site_slot {
    _Atomic(const sluice_callsite *) key;
    _Atomic uint64_t site;
} site_slot;

typedef struct sluice_durable sluice_durable;

struct sluice_durable {
    char *path;
    int fd;
    unsigned char *map;
    size_t map_bytes;
    sluice_durable_sync sync;
    int interval_ms;
    unsigned rings, consumers;
    uint64_t epoch;
    size_t page;

    /* cursors: the image of each consumer's done per ring, as persisted */
    pthread_mutex_t cursor_lock[SLUICE_QUEUE_MAX_CONSUMERS];
    unsigned slot_of[SLUICE_QUEUE_MAX_CONSUMERS];
    uint64_t image[SLUICE_QUEUE_MAX_CONSUMERS][SLUICE_QUEUE_MAX_RINGS];
    /* what each consumer had pending per ring at open: set, then read only */
    uint64_t replayed_at[SLUICE_QUEUE_MAX_CONSUMERS][SLUICE_QUEUE_MAX_RINGS];
    uint64_t opened_at[SLUICE_QUEUE_MAX_CONSUMERS][SLUICE_QUEUE_MAX_RINGS];
    uint64_t generation[SLUICE_QUEUE_MAX_CONSUMERS];

    /* call sites */
    pthread_mutex_t site_lock;
    site_slot *hash;                    /* [SITE_HASH] */
    const sluice_callsite **by_id;      /* [SITES_MAX] */
    uint32_t site_count;                /* under site_lock */
    uint32_t loaded_sites;              /* read from the file: ours to free */
    _Atomic size_t site_end;            /* bytes of the table in use */
    _Atomic size_t site_synced;         /* ... and synced (batch) */

    /* time: the current era, and the file's older ones by start */
    uint64_t era_start, tick_offset;
    era *eras;
    size_t era_count;

    uint64_t corrupt, replayed;

    /* durable_sync = interval */
    pthread_t syncer;
    bool syncer_started;
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_cond;
    bool sync_stop;
};

__thread __attribute__((tls_model("initial-exec")))
struct sluice_fast_site_ sluice_fast_sites_[SLUICE_FAST_SITES];

static _Atomic uint64_t next_epoch = 1;

/* ---- small helpers ------------------------------------------------------ */

static file_header *header_of(sluice_durable *d)
{
    return (file_header *)(void *)d->map;
}

static unsigned char *slot_at(sluice_durable *d, unsigned slot)
{
    return d->map + CURSOR_AT + (size_t)slot * CURSOR_SLOT_BYTES;
}

static uint32_t header_crc(const file_header *h)
{
    return sluice_crc32c(0, h, HEADER_CHECKED);
}

static uint32_t era_crc(const file_era *e)
{
    return sluice_crc32c(0, e, offsetof(file_era, crc));
}

static uint32_t copy_crc(const unsigned char *slot, const file_copy *c)
{
    uint32_t crc = sluice_crc32c(0, slot, NAME_BYTES);
    crc = sluice_crc32c(crc, &c->generation, sizeof c->generation);
    return sluice_crc32c(crc, c->done, sizeof c->done);
}

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

uint32_t sluice_rec_check_(const sluice_rec *rec)
{
    const unsigned char *h = (const unsigned char *)rec;
    uint32_t crc = sluice_crc32c(0, h + 8, 16);
    crc = sluice_crc32c(crc, h + 32, 12);
    crc = sluice_crc32c(crc, rec->payload, rec->length);
    return sluice_crc32c(crc, &rec->ticks, sizeof rec->ticks);
}

/* "WHERE: PATH: what" */
__attribute__((format(printf, 3, 4))) static int
open_error(sluice_error *err, const sluice_durable_spec *spec, const char *fmt,
           ...)
{
    char what[SLUICE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sluice_error_set(err, "%s: %s: %s", spec->where, spec->path, what);
}

static void human(char *out, size_t cap, uint64_t bytes)
{
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
        snprintf(out, cap, "%llu MiB", (unsigned long long)(bytes >> 20));
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(out, cap, "%llu KiB", (unsigned long long)(bytes >> 10));
    else
        snprintf(out, cap, "%llu bytes", (unsigned long long)bytes);
}

/* ---- call sites ---------------------------------------------------------- */

static size_t site_hash_of(const sluice_callsite *cs)
{
    return (size_t)(((uintptr_t)cs * 0x9E3779B97F4A7C15ull) >> 40) & (SITE_HASH - 1);
}

/* The site of cs if known (lock-free), else 0. */
static uint64_t site_find(sluice_durable *d, const sluice_callsite *cs)
{
    for (size_t i = site_hash_of(cs);; i = (i + 1) & (SITE_HASH - 1)) {
        const sluice_callsite *key =
            atomic_load_explicit(&d->hash[i].key, memory_order_acquire);
        if (key == cs)
            return atomic_load_explicit(&d->hash[i].site, memory_order_relaxed);
        if (!key)
            return 0;
    }
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Append cs to the file's table as id (under site_lock). false: full. */
static bool site_append(sluice_durable *d, const sluice_callsite *cs, uint32_t id)
{
    const char *format = or_empty(cs->format), *file = or_empty(cs->file),
               *function = or_empty(cs->function);
    size_t format_len = strlen(format), file_len = strlen(file),
           function_len = strlen(function);
    size_t need = round8(sizeof(file_site) + cs->arg_count + format_len +
                         file_len + function_len + 3);
    size_t end = atomic_load_explicit(&d->site_end, memory_order_relaxed);
    if (cs->arg_count > 255 || need > SITE_BYTES - end || format_len > UINT32_MAX / 2)
        return false;
    unsigned char *at = d->map + SITE_AT + end;
    file_site *entry = (file_site *)(void *)at;
    entry->id = id;
    entry->line = (uint32_t)cs->line;
    entry->arg_count = cs->arg_count;
    entry->format_len = (uint32_t)format_len;
    entry->file_len = (uint32_t)file_len;
    entry->function_len = (uint32_t)function_len;
    unsigned char *p = at + sizeof(file_site);
    if (cs->arg_count)
        memcpy(p, cs->arg_types, cs->arg_count);
    p += cs->arg_count;
    memcpy(p, format, format_len + 1);
    p += format_len + 1;
    memcpy(p, file, file_len + 1);
    p += file_len + 1;
    memcpy(p, function, function_len + 1);
    p += function_len + 1;
    memset(p, 0, (size_t)(at + need - p));
    entry->crc = sluice_crc32c(0, at + 8, need - 8);
    /* last: an entry is whole or absent */
    atomic_store_explicit(&entry->size, (uint32_t)need, memory_order_release);
    atomic_store_explicit(&d->site_end, end + need, memory_order_release);
    return true;
}

uint64_t sluice_durable_site_id_(sluice_queue *q, sluice_ring *r,
                                 const sluice_callsite *cs)
{
    sluice_durable *d = q->durable;
    uint64_t site = site_find(d, cs);
    if (!site) {
        pthread_mutex_lock(&d->site_lock);
        site = site_find(d, cs);
        if (!site && d->site_count < SITES_MAX &&
            site_append(d, cs, d->site_count)) {
            uint32_t id = d->site_count++;
            d->by_id[id] = cs;
            site = (uint64_t)id + 1;
            size_t i = site_hash_of(cs);
            while (atomic_load_explicit(&d->hash[i].key, memory_order_relaxed))
                i = (i + 1) & (SITE_HASH - 1);
            atomic_store_explicit(&d->hash[i].site, site, memory_order_relaxed);
            atomic_store_explicit(&d->hash[i].key, cs, memory_order_release);
        }
        pthread_mutex_unlock(&d->site_lock);
        if (!site)
            return 0;
    }
    sluice_site_cache_entry *e = sluice_site_cache_of_(cs);
    e->epoch = r->durable_epoch;
    e->cs = cs;
    e->site = site;
    return site;
}

const sluice_callsite *sluice_durable_site_(struct sluice_durable *d,
                                            uint64_t site)
{
    if (site == 0 || site > SITES_MAX)
        return NULL;
    return d->by_id[site - 1];
}

/* One entry of the file's table, checked, as a call site of our own (its
 * strings and types in the same block). NULL: the table ends here. */
static sluice_callsite *site_load(const unsigned char *at, size_t room,
                                  uint32_t id)
{
    if (room < sizeof(file_site))
        return NULL;
    const file_site *entry = (const file_site *)(const void *)at;
    uint32_t size = atomic_load_explicit(&((file_site *)(void *)at)->size,
                                         memory_order_relaxed);
    if (size < sizeof(file_site) || size % 8 || size > room ||
        sluice_crc32c(0, at + 8, size - 8) != entry->crc || entry->id != id ||
        entry->arg_count > 255)
        return NULL;
    uint64_t strings = (uint64_t)entry->format_len + entry->file_len +
                       entry->function_len + 3;
    if (sizeof(file_site) + entry->arg_count + strings > size)
        return NULL;
    const unsigned char *types = at + sizeof(file_site);
    const char *format = (const char *)types + entry->arg_count;
    const char *file = format + entry->format_len + 1;
    const char *function = file + entry->file_len + 1;
    if (format[entry->format_len] || file[entry->file_len] ||
        function[entry->function_len])
        return NULL;
    bool fixed = true;
    for (uint32_t i = 0; i < entry->arg_count; i++) {
        if (types[i] < SLUICE_ARG_INT || types[i] > SLUICE_ARG_POINTER)
            return NULL;
        if (types[i] == SLUICE_ARG_STRING)
            fixed = false;
    }
    size_t block = sizeof(sluice_callsite) + entry->arg_count + strings;
    sluice_callsite *cs = malloc(block);
    if (!cs)
        return NULL;
    unsigned char *own = (unsigned char *)(cs + 1);
    memcpy(own, types, entry->arg_count + strings);
    cs->arg_types = own;
    cs->format = (const char *)own + entry->arg_count;
    cs->file = cs->format + entry->format_len + 1;
    cs->function = cs->file + entry->file_len + 1;
    cs->line = (int)entry->line;
    cs->arg_count = entry->arg_count;
    cs->fixed_size = fixed ? 8 * entry->arg_count : 0;
    return cs;
}

static void sites_load(sluice_durable *d)
{
    size_t at = 0;
    while (d->site_count < SITES_MAX) {
        sluice_callsite *cs = site_load(d->map + SITE_AT + at, SITE_BYTES - at,
                                        d->site_count);
        if (!cs)
            break;
        at += atomic_load_explicit(
            &((file_site *)(void *)(d->map + SITE_AT + at))->size,
            memory_order_relaxed);
        d->by_id[d->site_count++] = cs;
    }
    d->loaded_sites = d->site_count;
    /* what follows the last whole entry is not ours: new entries go here */
    memset(d->map + SITE_AT + at, 0, SITE_BYTES - at);
    atomic_store(&d->site_end, at);
    atomic_store(&d->site_synced, at);
}

/* ---- records in a ring at open ------------------------------------------- */

enum { ABSENT = 0, DAMAGED, VALID };

static sluice_rec *rec_at(const sluice_ring *r, uint64_t off)
{
    return (sluice_rec *)(void *)(r->base + (off & r->mask) * SLUICE_UNIT);
}

/* What lies at off: a record whose publish word names off, whole and
 * checked (VALID), one whose word names it but which fails a check
 * (DAMAGED), or none (ABSENT). */
static int check_at(const sluice_durable *d, const sluice_queue *q,
                    const sluice_ring *r, uint64_t off)
{
    const sluice_rec *rec = rec_at(r, off);
    uint64_t word = atomic_load_explicit(&((sluice_rec *)rec)->publish,
                                         memory_order_relaxed);
    if (word != ((off + 1) ^ r->secret))
        return ABSENT;
    uint64_t pos = off & r->mask;
    uint64_t units = rec->units;
    if (rec->kind == SLUICE_KIND_PAD) {
        if (units < 1 || units > r->units || rec->length || rec->args_length ||
            rec->field_count)
            return DAMAGED;
    } else {
        if ((rec->kind != SLUICE_KIND_ARGS && rec->kind != SLUICE_KIND_TEXT) ||
            rec->length > q->max_record || rec->args_length > rec->length ||
            units != sluice_rec_units(rec->length) ||
            pos + units > r->units + SLUICE_RING_SLACK_UNITS ||
            (units > SLUICE_RING_SLACK_UNITS && pos + units > r->units) ||
            rec->level > SLUICE_LEVEL_OFF)
            return DAMAGED;
        if (rec->kind == SLUICE_KIND_ARGS
                ? rec->site == 0 || rec->site > d->site_count
                : rec->site != 0)
            return DAMAGED;
    }
    return sluice_rec_check_(rec) == rec->check ? VALID : DAMAGED;
}

/* The offset a word at unit position pos claims, if it claims one that
 * maps there (a candidate record start); UINT64_MAX otherwise. */
static uint64_t claimed_at(const sluice_ring *r, uint64_t pos)
{
    const sluice_rec *rec = (const sluice_rec *)(const void *)(r->base + pos * SLUICE_UNIT);
    uint64_t word = atomic_load_explicit(&((sluice_rec *)rec)->publish,
                                         memory_order_relaxed);
    uint64_t off = (word ^ r->secret) - 1;
    /* (zeros claim secret - 1, past 2^63: refused here) */
    if ((off & r->mask) != pos || off > (UINT64_C(1) << 60))
        return UINT64_MAX;
    return off;
}

typedef struct ring_found {
    uint64_t head;        /* the end of the last valid record */
    uint64_t tail;        /* the oldest valid record still whole */
    bool any;
} ring_found;

static ring_found ring_scan(sluice_durable *d, sluice_queue *q,
                            sluice_ring *r)
{
    ring_found f = {0, 0, false};
    for (uint64_t pos = 0; pos < r->units; pos++) {
        uint64_t off = claimed_at(r, pos);
        if (off == UINT64_MAX || check_at(d, q, r, off) != VALID)
            continue;
        uint64_t end = off + rec_at(r, off)->units;
        if (end > f.head)
            f.head = end;
        f.any = true;
    }
    /* words that claim an offset at or past the head name nothing that
     * exists (damaged, or from a timeline that was cut): cleared, so that
     * no consumer ever takes one for the record it waits for. But not a
     * word inside a valid record: that is its data (its payload, its
     * length and check), which may happen to read as a publish word for
     * some offset at that position (about one unit in 2^21 does); cleared,
     * it would damage a record that was whole. */
    uint64_t oldest = UINT64_MAX;
    uint64_t lowest = f.head > r->units ? f.head - r->units : 0;
    uint64_t inside_until = 0; /* positions before it are a valid record's */
    for (uint64_t pos = 0; pos < r->units; pos++) {
        if (pos < inside_until)
            continue;
        uint64_t off = claimed_at(r, pos);
        if (off == UINT64_MAX)
            continue;
        if (off >= f.head) {
            /* a record whose word names it but fails a check: damaged
             * (one absent altogether looks like one never made) */
            d->corrupt += check_at(d, q, r, off) == DAMAGED;
            atomic_store_explicit(&rec_at(r, off)->publish, 0,
                                  memory_order_relaxed);
            continue;
        }
        if (check_at(d, q, r, off) != VALID)
            continue;
        inside_until = pos + rec_at(r, off)->units;
        if (off >= lowest && off < oldest)
            oldest = off;
    }
    f.tail = oldest == UINT64_MAX ? f.head : oldest;
    return f;
}

/* Records (not padding) from off to end, a chain the walk made whole. */
static uint64_t count_records(const sluice_ring *r, uint64_t off, uint64_t end)
{
    uint64_t n = 0;
    while (off < end) {
        const sluice_rec *rec = rec_at(r, off);
        if (rec->units == 0)
            break; /* not reached: every step of the chain is checked */
        n += rec->kind != SLUICE_KIND_PAD;
        off += rec->units;
    }
    return n;
}

/* Walk [from, head): every stretch that holds no valid record before a
 * later one (damaged records, a hole) becomes one padding record, its
 * damaged records counted (a hole as one); cursors inside it move to its
 * end, cursors inside a record to its start. Returns the largest ticks
 * of the valid records. */
static uint64_t ring_mend(sluice_durable *d, sluice_queue *q, sluice_ring *r,
                          uint64_t from, uint64_t head, uint64_t *done,
                          unsigned consumers)
{
    uint64_t max_ticks = 0;
    uint64_t off = from;
    while (off < head) {
        if (check_at(d, q, r, off) == VALID) {
            const sluice_rec *rec = rec_at(r, off);
            if (rec->kind != SLUICE_KIND_PAD && rec->ticks > max_ticks)
                max_ticks = rec->ticks;
            for (unsigned c = 0; c < consumers; c++)
                if (done[c] > off && done[c] < off + rec->units)
                    done[c] = off;
            off += rec->units;
            continue;
        }
        /* the next valid record, with room for a padding header before it
         * (unless the pad's header runs into the slack) */
        uint64_t next = off + 1;
        for (;; next++) {
            if (next >= head) {
                next = head;
                break;
            }
            bool room = next - off >= sizeof(sluice_rec) / SLUICE_UNIT ||
                        (off & r->mask) + (next - off) >= r->units;
            if (room && check_at(d, q, r, next) == VALID)
                break;
        }
        /* what the stretch held: its damaged records, or one hole */
        uint64_t damaged = 0;
        for (uint64_t at = off; at < next; at++)
            damaged += check_at(d, q, r, at) == DAMAGED;
        d->corrupt += damaged ? damaged : 1;
        sluice_queue_write_pad_(r, off, next - off);
        for (unsigned c = 0; c < consumers; c++)
            if (done[c] > off && done[c] < next)
                done[c] = next;
        off = next;
    }
    return max_ticks;
}

/* ---- cursors ----------------------------------------------------------- */

static file_copy *copy_in(unsigned char *slot, int which)
{
    return (file_copy *)(void *)(slot + (which ? COPY_B_AT : COPY_A_AT));
}

/* The newest valid copy of a slot, or NULL. */
static const file_copy *copy_best(unsigned char *slot)
{
    const file_copy *best = NULL;
    for (int which = 0; which < 2; which++) {
        const file_copy *c = copy_in(slot, which);
        if (c->generation == 0 || copy_crc(slot, c) != c->crc)
            continue;
        if (!best || c->generation > best->generation)
            best = c;
    }
    return best;
}

/* Persist consumer c's image into the copy its previous write did not use
 * (under cursor_lock[c], or alone at open). */
static void copy_write(sluice_durable *d, unsigned c)
{
    unsigned char *slot = slot_at(d, d->slot_of[c]);
    uint64_t generation = ++d->generation[c];
    file_copy *copy = copy_in(slot, (int)(generation & 1));
    file_copy fresh;
    memset(&fresh, 0, sizeof fresh);
    fresh.generation = generation;
    memcpy(fresh.done, d->image[c], sizeof fresh.done);
    fresh.crc = copy_crc(slot, &fresh);
    memcpy(copy, &fresh, sizeof fresh);
}

void sluice_durable_cursor_moved_(struct sluice_durable *d, unsigned c,
                                  unsigned ring, uint64_t done)
{
    pthread_mutex_lock(&d->cursor_lock[c]);
    d->image[c][ring] = done;
    copy_write(d, c);
    pthread_mutex_unlock(&d->cursor_lock[c]);
}

/* ---- syncing ------------------------------------------------------------- */

static void sync_range(sluice_durable *d, const unsigned char *from, size_t len)
{
    if (!len)
        return;
    uintptr_t start = (uintptr_t)from & ~(uintptr_t)(d->page - 1);
    size_t span = (size_t)((uintptr_t)from + len - start);
    msync((void *)start, span, MS_SYNC);
}

void sluice_durable_batch_(struct sluice_durable *d, sluice_queue *q,
                           unsigned c)
{
    if (d->sync != SLUICE_DURABLE_SYNC_BATCH)
        return;
    for (unsigned i = 0; i < q->rings; i++) {
        sluice_ring *r = &q->ring[i];
        /* the batch's part of this ring: while it renders, its room is
         * the consumer's (read under the lock: an eviction moves an idle
         * cursor's) */
        pthread_mutex_lock(&r->lock);
        uint64_t from = r->cursor[c].from, to = r->cursor[c].claimed;
        bool in_batch = r->cursor[c].taken > 0;
        pthread_mutex_unlock(&r->lock);
        if (!in_batch || to <= from)
            continue;
        uint64_t start = from & r->mask, units = to - from;
        uint64_t buffer = r->units + SLUICE_RING_SLACK_UNITS;
        if (start + units <= buffer) {
            sync_range(d, r->base + start * SLUICE_UNIT, units * SLUICE_UNIT);
        } else {
            sync_range(d, r->base + start * SLUICE_UNIT,
                       (buffer - start) * SLUICE_UNIT);
            sync_range(d, r->base, (start + units - r->units) * SLUICE_UNIT);
        }
    }
    /* the cursors as the last release left them, and new call sites */
    sync_range(d, slot_at(d, d->slot_of[c]), CURSOR_SLOT_BYTES);
    size_t end = atomic_load_explicit(&d->site_end, memory_order_acquire);
    size_t synced = atomic_load_explicit(&d->site_synced, memory_order_relaxed);
    if (end > synced) {
        sync_range(d, d->map + SITE_AT + synced, end - synced);
        atomic_store_explicit(&d->site_synced, end, memory_order_relaxed);
    }
}

static void *syncer_main(void *arg)
{
    sluice_durable *d = arg;
    pthread_mutex_lock(&d->sync_lock);
    while (!d->sync_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += d->interval_ms / 1000;
        until.tv_nsec += (long)(d->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!d->sync_stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&d->sync_cond, &d->sync_lock, &until);
        if (d->sync_stop)
            break;
        pthread_mutex_unlock(&d->sync_lock);
        fdatasync(d->fd); /* the dirty pages only: records, cursors, sites */
        pthread_mutex_lock(&d->sync_lock);
    }
    pthread_mutex_unlock(&d->sync_lock);
    return NULL;
}

/* ---- time ---------------------------------------------------------------- */

int64_t sluice_durable_time_ns_(struct sluice_durable *d,
                                const sluice_clock_snapshot *clk,
                                uint64_t ticks)
{
    if (__builtin_expect(ticks >= d->era_start, 1))
        return sluice_clock_snapshot_ns(clk, ticks - d->tick_offset);
    /* a record from an earlier open: its era's anchor and rate */
    const era *e = NULL;
    for (size_t i = d->era_count; i-- > 0;) {
        if (ticks >= d->eras[i].start) {
            e = &d->eras[i];
            break;
        }
    }
    if (!e && d->era_count)
        e = &d->eras[0]; /* older than every era kept: the oldest */
    if (!e)
        return sluice_clock_snapshot_ns(clk, ticks - d->tick_offset);
    uint64_t raw = ticks - e->offset;
    if (!e->tsc)
        return (int64_t)raw;
    return e->anchor_ns +
           (int64_t)((double)(int64_t)(raw - e->anchor_tick) * e->ns_per_tick);
}

static int era_cmp(const void *a, const void *b)
{
    const era *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Read the file's eras, then write this open's: its ticks start past
 * every tick in the file (max_ticks), so that records keep their order
 * across opens, even after a reboot reset the TSC. */
static void eras_open(sluice_durable *d, uint64_t max_ticks)
{
    file_era *slots = (file_era *)(void *)(d->map + ERA_AT);
    d->eras = calloc(ERA_SLOTS, sizeof *d->eras);
    uint64_t last_seq = 0, last_offset = 0, last_start = 0;
    for (unsigned i = 0; i < ERA_SLOTS; i++) {
        const file_era *e = &slots[i];
        if (e->seq == 0 || era_crc(e) != e->crc)
            continue;
        if (d->eras)
            d->eras[d->era_count++] = (era){e->start, e->offset, e->anchor_tick,
                                            e->anchor_ns, e->ns_per_tick,
                                            e->tsc != 0};
        if (e->seq > last_seq) {
            last_seq = e->seq;
            last_offset = e->offset;
        }
        if (e->start > last_start)
            last_start = e->start;
    }
    if (d->eras)
        qsort(d->eras, d->era_count, sizeof *d->eras, era_cmp);
    sluice_clock_snapshot snap;
    sluice_clock_snapshot_take(&snap);
    uint64_t now = sluice_clock_ticks();
    uint64_t start = now + last_offset;
    if (start <= max_ticks)
        start = max_ticks + 1;
    if (start <= last_start)
        start = last_start + 1;
    d->era_start = start;
    d->tick_offset = start - now;
    file_era fresh;
    memset(&fresh, 0, sizeof fresh);
    fresh.seq = last_seq + 1;
    fresh.start = start;
    fresh.offset = d->tick_offset;
    fresh.anchor_tick = snap.tsc ? snap.tick0 : 0;
    fresh.anchor_ns = snap.ns0;
    fresh.ns_per_tick = snap.ns_per_tick;
    fresh.tsc = (uint32_t)snap.tsc;
    fresh.pid = (uint32_t)getpid();
    fresh.crc = era_crc(&fresh);
    memcpy(&slots[fresh.seq % ERA_SLOTS], &fresh, sizeof fresh);
}

/* ---- opening ------------------------------------------------------------- */

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static uint64_t file_bytes_for(unsigned rings, uint64_t ring_bytes)
{
    return RING_AT + (uint64_t)rings * (ring_bytes + SLUICE_RING_SLACK_BYTES);
}

/* Lock the file, or say who holds it. */
static int lock_file(int fd, const sluice_durable_spec *spec, sluice_error *err)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno != EWOULDBLOCK)
        return open_error(err, spec, "cannot lock it: %s", strerror(errno));
    uint32_t pid = 0;
    if (pread(fd, &pid, sizeof pid, OWNER_PID_AT) != (ssize_t)sizeof pid || pid == 0)
        return open_error(err, spec, "is in use by another process");
    if (pid == (uint32_t)getpid())
        return open_error(err, spec, "is in use by another queue of this "
                                     "process (pid %u)", pid);
    return open_error(err, spec, "is in use by another process (pid %u)", pid);
}

/* Check an existing header against what this sluice writes and what the
 * configuration asks for; may adopt the file's ring count. */
static int header_check(const file_header *h, const sluice_durable_spec *spec,
                        unsigned *rings, uint64_t *ring_bytes, sluice_error *err)
{
    if (memcmp(h->magic, FILE_MAGIC, 8) != 0)
        return open_error(err, spec, "is not a sluice queue file (no %s "
                                     "magic at its start)", FILE_MAGIC);
    if (h->version != FILE_VERSION)
        return open_error(err, spec, "is a queue file of format version %u; "
                                     "this sluice reads version %u",
                          h->version, FILE_VERSION);
    if (h->checked_bytes != HEADER_CHECKED || header_crc(h) != h->crc)
        return open_error(err, spec, "its header is damaged (checksum "
                                     "mismatch): move the file away to "
                                     "start an empty queue");
    bool sane = h->rings >= 1 && h->rings <= SLUICE_QUEUE_MAX_RINGS &&
                !(h->rings & (h->rings - 1)) &&
                h->ring_bytes >= SLUICE_RING_MIN_BYTES &&
                h->ring_bytes <= (UINT64_C(1) << 40) &&
                !(h->ring_bytes & (h->ring_bytes - 1)) &&
                h->slack_bytes == SLUICE_RING_SLACK_BYTES &&
                (h->secret >> 63) == 1 &&
                h->cursor_slots == CURSOR_SLOTS && h->era_at == ERA_AT &&
                h->cursor_at == CURSOR_AT && h->site_at == SITE_AT &&
                h->site_bytes == SITE_BYTES && h->ring_at == RING_AT &&
                h->record_header_bytes == SLUICE_REC_HEADER &&
                h->unit_bytes == SLUICE_UNIT &&
                h->file_bytes == file_bytes_for(h->rings, h->ring_bytes);
    if (!sane)
        return open_error(err, spec, "its header describes a layout this "
                                     "sluice does not write (damaged?)");
    if (h->rings == *rings && h->ring_bytes == *ring_bytes)
        return 0;
    /* producer_rings = auto: the file's count, if the size is the same */
    if (!spec->rings_explicit &&
        sluice_queue_ring_bytes_(spec->bytes, h->rings) == h->ring_bytes) {
        *rings = h->rings;
        *ring_bytes = h->ring_bytes;
        return 0;
    }
    char file_size[32], want_size[32];
    human(file_size, sizeof file_size, h->ring_bytes);
    human(want_size, sizeof want_size, *ring_bytes);
    return open_error(err, spec,
                      "holds a queue of %u ring%s of %s, and the configuration "
                      "asks for %u ring%s of %s (queue_size or queue_capacity, "
                      "producer_rings): open it once with its old settings to "
                      "drain it, or move it away",
                      h->rings, h->rings == 1 ? "" : "s", file_size, *rings,
                      *rings == 1 ? "" : "s", want_size);
}

static void header_write(file_header *h, unsigned rings, uint64_t ring_bytes,
                         uint64_t secret)
{
    file_header fresh;
    memset(&fresh, 0, sizeof fresh);
    memcpy(fresh.magic, FILE_MAGIC, 8);
    fresh.version = FILE_VERSION;
    fresh.checked_bytes = HEADER_CHECKED;
    fresh.rings = rings;
    fresh.cursor_slots = CURSOR_SLOTS;
    fresh.ring_bytes = ring_bytes;
    fresh.slack_bytes = SLUICE_RING_SLACK_BYTES;
    fresh.secret = secret;
    if (getrandom(fresh.creation_id, sizeof fresh.creation_id, GRND_NONBLOCK) !=
        (ssize_t)sizeof fresh.creation_id) {
        uint64_t a = sluice_queue_random_secret_(), b = (uint64_t)sluice_clock_realtime_ns();
        memcpy(fresh.creation_id, &a, 8);
        memcpy(fresh.creation_id + 8, &b, 8);
    }
    fresh.created_ns = sluice_clock_realtime_ns();
    fresh.era_at = ERA_AT;
    fresh.cursor_at = CURSOR_AT;
    fresh.site_at = SITE_AT;
    fresh.site_bytes = SITE_BYTES;
    fresh.ring_at = RING_AT;
    fresh.file_bytes = file_bytes_for(rings, ring_bytes);
    fresh.record_header_bytes = SLUICE_REC_HEADER;
    fresh.unit_bytes = SLUICE_UNIT;
    fresh.crc = header_crc(&fresh);
    memcpy(h, &fresh, sizeof fresh);
}

/* Every page writable now (dirty), so that no first write pays a fault. */
static void populate_write(unsigned char *map, size_t bytes, size_t page)
{
    if (madvise(map, bytes, MADV_POPULATE_WRITE) == 0)
        return;
    for (size_t at = 0; at < bytes; at += page) {
        volatile unsigned char *p = map + at;
        *p = *p;
    }
}

static void durable_free(sluice_durable *d)
{
    if (!d)
        return;
    if (d->syncer_started) {
        pthread_mutex_lock(&d->sync_lock);
        d->sync_stop = true;
        pthread_cond_signal(&d->sync_cond);
        pthread_mutex_unlock(&d->sync_lock);
        pthread_join(d->syncer, NULL);
    }
    if (d->map) {
        if (d->sync != SLUICE_DURABLE_SYNC_NONE)
            msync(d->map, d->map_bytes, MS_SYNC);
        munmap(d->map, d->map_bytes);
    }
    if (d->fd >= 0)
        close(d->fd); /* and the lock goes with it */
    for (uint32_t i = 0; d->by_id && i < d->loaded_sites; i++)
        free((void *)d->by_id[i]);
    free(d->by_id);
    free(d->hash);
    free(d->eras);
    for (unsigned c = 0; c < SLUICE_QUEUE_MAX_CONSUMERS; c++)
        pthread_mutex_destroy(&d->cursor_lock[c]);
    pthread_mutex_destroy(&d->site_lock);
    pthread_mutex_destroy(&d->sync_lock);
    pthread_cond_destroy(&d->sync_cond);
    free(d->path);
    free(d);
}

void sluice_durable_close_(struct sluice_durable *d)
{
    durable_free(d);
}

static sluice_durable *durable_new(const sluice_durable_spec *spec)
{
    sluice_durable *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->fd = -1;
    for (unsigned c = 0; c < SLUICE_QUEUE_MAX_CONSUMERS; c++)
        pthread_mutex_init(&d->cursor_lock[c], NULL);
    pthread_mutex_init(&d->site_lock, NULL);
    pthread_mutex_init(&d->sync_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&d->sync_cond, &attr);
    pthread_condattr_destroy(&attr);
    long page = sysconf(_SC_PAGESIZE);
    d->page = page > 0 ? (size_t)page : 4096;
    d->sync = spec->sync;
    d->interval_ms = spec->sync_interval_ms > 0 ? spec->sync_interval_ms : 1000;
    d->path = strdup(spec->path);
    d->hash = calloc(SITE_HASH, sizeof *d->hash);
    d->by_id = calloc(SITES_MAX, sizeof *d->by_id);
    if (!d->path || !d->hash || !d->by_id) {
        durable_free(d);
        return NULL;
    }
    return d;
}

/* Map cursor slots to the configured sinks: a slot whose name is not
 * configured is dropped (that sink left); found[c] says whether consumer
 * c had one. */
static void slots_match(sluice_durable *d, const sluice_durable_spec *spec,
                        bool *found, bool *taken)
{
    for (unsigned s = 0; s < CURSOR_SLOTS; s++) {
        unsigned char *slot = slot_at(d, s);
        if (all_zero(slot, NAME_BYTES))
            continue;
        bool matched = false;
        for (unsigned c = 0; c < spec->consumers && !matched; c++) {
            if (found[c] || strnlen(spec->sinks[c], NAME_BYTES) >= NAME_BYTES ||
                strncmp((const char *)slot, spec->sinks[c], NAME_BYTES) != 0)
                continue;
            d->slot_of[c] = s;
            found[c] = matched = taken[s] = true;
        }
        if (!matched)
            memset(slot, 0, CURSOR_SLOT_BYTES); /* a sink that left */
    }
}

/* Where each consumer starts in ring i, from its slot's newest valid copy
 * (else the ring's oldest valid record), clamped into what the ring
 * holds; a sink new to the file starts at the head. */
static void cursors_for_ring(sluice_durable *d, unsigned ring,
                             const sluice_durable_spec *spec, const bool *found,
                             const ring_found *f, uint64_t units,
                             uint64_t *done)
{
    for (unsigned c = 0; c < spec->consumers; c++) {
        uint64_t at = f->head;
        if (found[c]) {
            const file_copy *copy = copy_best(slot_at(d, d->slot_of[c]));
            at = copy ? copy->done[ring] : f->tail;
            if (at > f->head)
                at = f->head; /* records past the head are gone */
            if (f->head - at > units)
                at = f->tail; /* older than what the ring still holds */
        }
        done[c] = at;
    }
}

int sluice_durable_open_(const sluice_durable_spec *spec, sluice_queue **out,
                         sluice_error *err)
{
    *out = NULL;
    if (spec->consumers > SLUICE_QUEUE_MAX_CONSUMERS || spec->rings < 1 ||
        spec->rings > SLUICE_QUEUE_MAX_RINGS)
        return open_error(err, spec, "bad queue layout");
    for (unsigned c = 0; c < spec->consumers; c++)
        if (strnlen(spec->sinks[c], NAME_BYTES) >= NAME_BYTES)
            return open_error(err, spec, "sink name '%.40s...' is too long for "
                                         "a durable queue (at most %u bytes)",
                              spec->sinks[c], NAME_BYTES - 1);
    sluice_durable *d = durable_new(spec);
    if (!d)
        return open_error(err, spec, "out of memory");
    void *header_pages = MAP_FAILED;
    size_t header_size = 0;

    d->fd = open(spec->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->fd < 0) {
        if (errno == ENOENT)
            open_error(err, spec, "its directory does not exist");
        else
            open_error(err, spec, "cannot open it: %s", strerror(errno));
        goto fail;
    }
    if (lock_file(d->fd, spec, err) != 0)
        goto fail;
    struct stat st;
    if (fstat(d->fd, &st) != 0) {
        open_error(err, spec, "cannot stat it: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        open_error(err, spec, "is not a regular file");
        goto fail;
    }
    unsigned rings = spec->rings;
    uint64_t ring_bytes = sluice_queue_ring_bytes_(spec->bytes, rings);
    file_header existing;
    memset(&existing, 0, sizeof existing);
    bool fresh = true;
    if (st.st_size > 0) {
        unsigned char page[HEADER_BYTES];
        memset(page, 0, sizeof page);
        ssize_t got = pread(d->fd, page, sizeof page, 0);
        if (got < 0) {
            open_error(err, spec, "cannot read it: %s", strerror(errno));
            goto fail;
        }
        /* a header of zeros: a creation that did not finish, nothing in it */
        fresh = all_zero(page, OWNER_PID_AT);
        if (!fresh) {
            if (memcmp(page, FILE_MAGIC, 8) != 0) {
                open_error(err, spec, "is not a sluice queue file (no %s "
                                      "magic at its start)", FILE_MAGIC);
                goto fail;
            }
            if ((size_t)got < sizeof(file_header)) {
                open_error(err, spec, "is too short (%lld bytes) to hold a "
                                      "queue's header: damaged?",
                           (long long)st.st_size);
                goto fail;
            }
            memcpy(&existing, page, sizeof existing);
            if (header_check(&existing, spec, &rings, &ring_bytes, err) != 0)
                goto fail;
        }
    }
    uint64_t total = file_bytes_for(rings, ring_bytes);
    if (fresh && ftruncate(d->fd, 0) != 0) {
        open_error(err, spec, "cannot truncate it: %s", strerror(errno));
        goto fail;
    }
    if (fresh || (uint64_t)st.st_size < total) {
        /* every block now: no space is an error here, not a SIGBUS later
         * (a file cut short reads as zeros: its records count as lost) */
        int rc = posix_fallocate(d->fd, 0, (off_t)total);
        if (rc != 0) {
            char size[32];
            human(size, sizeof size, total);
            if (rc == ENOSPC)
                open_error(err, spec, "no space to %s it (%s): %s",
                           fresh ? "create" : "extend", size, strerror(rc));
            else
                open_error(err, spec, "cannot allocate %s for it: %s", size,
                           strerror(rc));
            if (fresh)
                unlink(spec->path); /* the lock holder removes its own try */
            goto fail;
        }
    }
    d->map_bytes = (size_t)total;
    d->map = mmap(NULL, d->map_bytes, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_POPULATE, d->fd, 0);
    if (d->map == MAP_FAILED) {
        d->map = NULL;
        open_error(err, spec, "cannot map it: %s", strerror(errno));
        goto fail;
    }
    populate_write(d->map, d->map_bytes, d->page);
    if (fresh)
        header_write(header_of(d), rings, ring_bytes,
                     sluice_queue_random_secret_());
    uint32_t pid = (uint32_t)getpid();
    memcpy(d->map + OWNER_PID_AT, &pid, sizeof pid);
    d->rings = rings;
    d->consumers = spec->consumers;

    header_size = sluice_queue_header_size_(rings, spec->consumers);
    header_pages = mmap(NULL, header_size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (header_pages == MAP_FAILED) {
        open_error(err, spec, "cannot map its queue's header: %s", strerror(errno));
        goto fail;
    }
    sluice_queue *q = sluice_queue_layout_(header_pages, header_size,
                                           d->map + RING_AT, (size_t)ring_bytes,
                                           rings, spec->consumers,
                                           header_of(d)->secret);
    q->durable = d;
    for (unsigned i = 0; i < rings; i++)
        q->ring[i].durable_epoch = 1; /* pads are checked from here on */

    sites_load(d);
    bool found[SLUICE_QUEUE_MAX_CONSUMERS] = {false};
    bool taken[CURSOR_SLOTS] = {false};
    slots_match(d, spec, found, taken);
    uint64_t max_ticks = 0;
    for (unsigned i = 0; i < rings; i++) {
        sluice_ring *r = &q->ring[i];
        ring_found f = ring_scan(d, q, r);
        uint64_t done[SLUICE_QUEUE_MAX_CONSUMERS];
        cursors_for_ring(d, i, spec, found, &f, r->units, done);
        uint64_t from = f.head;
        for (unsigned c = 0; c < spec->consumers; c++)
            if (done[c] < from)
                from = done[c];
        uint64_t ticks = ring_mend(d, q, r, from, f.head, done, spec->consumers);
        if (ticks > max_ticks)
            max_ticks = ticks;
        atomic_store(&r->head, f.head);
        atomic_store(&r->end, from + r->units);
        d->replayed += count_records(r, from, f.head);
        for (unsigned c = 0; c < spec->consumers; c++) {
            sluice_cursor *cur = &r->cursor[c];
            atomic_store(&cur->done, done[c]);
            cur->from = cur->claimed = done[c];
            d->replayed_at[c][i] = count_records(r, done[c], f.head);
            d->opened_at[c][i] = done[c];
            d->image[c][i] = done[c];
        }
    }
    /* every configured sink has its slot, holding where it starts now */
    for (unsigned c = 0; c < spec->consumers; c++) {
        if (!found[c]) {
            unsigned s = 0;
            while (s < CURSOR_SLOTS && taken[s])
                s++;
            taken[s] = true; /* consumers <= CURSOR_SLOTS: there is one */
            d->slot_of[c] = s;
            unsigned char *slot = slot_at(d, s);
            memset(slot, 0, CURSOR_SLOT_BYTES);
            memcpy(slot, spec->sinks[c], strlen(spec->sinks[c]));
        } else {
            const file_copy *copy = copy_best(slot_at(d, d->slot_of[c]));
            d->generation[c] = copy ? copy->generation : 0;
        }
        copy_write(d, c);
    }
    eras_open(d, max_ticks);
    d->epoch = atomic_fetch_add(&next_epoch, 1);
    for (unsigned i = 0; i < rings; i++) {
        q->ring[i].tick_offset = d->tick_offset;
        q->ring[i].durable_epoch = d->epoch;
    }
    if (d->sync == SLUICE_DURABLE_SYNC_INTERVAL) {
        int rc = pthread_create(&d->syncer, NULL, syncer_main, d);
        if (rc != 0) {
            open_error(err, spec, "cannot start its sync thread: %s",
                       strerror(rc));
            q->durable = NULL;
            goto fail;
        }
        d->syncer_started = true;
    }
    *out = q;
    return 0;
fail:
    if (header_pages != MAP_FAILED)
        munmap(header_pages, header_size);
    durable_free(d);
    return -1;
}

uint64_t sluice_queue_corrupt(const sluice_queue *q)
{
    return q->durable ? q->durable->corrupt : 0;
}

uint64_t sluice_durable_replayed_(const struct sluice_durable *d,
                                  unsigned ring, unsigned c)
{
    return d->replayed_at[c][ring];
}

uint64_t sluice_durable_opened_at_(const struct sluice_durable *d,
                                   unsigned ring, unsigned c)
{
    return d->opened_at[c][ring];
}

uint64_t sluice_queue_replayed(const sluice_queue *q)
{
    return q->durable ? q->durable->replayed : 0;
}
