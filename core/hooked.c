/*
 * hooked.c -- what a lane's post-hooks made of its records, stored once
 * for every sink's worker (hooked_internal.h has the contract).
 *
 * Per ring, two growing arrays: the results in offset order (live ones in
 * [first, end)) and their bytes (message, then the fields encoded). Trim
 * drops results from the front; an append that finds no room moves the
 * live part to the front when at least half of the array is dead, and
 * grows it otherwise, so each byte is moved a bounded number of times.
 * Lookups are binary searches by offset. Knows nothing of hooks, sinks or
 * workers.
 */
#include "hooked_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct result {
    uint64_t off;              /* the record's offset in its ring */
    size_t at;                 /* its bytes, in the ring's bytes */
    size_t message_len;
    size_t fields_len;         /* encoded, after the message */
    size_t field_count;
    int64_t time_ns;
} result;

typedef struct hooked_ring {
    result *results;
    size_t first, end, cap;    /* live results: [first, end) */
    char *bytes;
    size_t bytes_first, bytes_end, bytes_cap;
} hooked_ring;

struct sluice_hooked {
    pthread_mutex_t lock;
    unsigned rings;
    hooked_ring ring[];
};

sluice_hooked *sluice_hooked_new(unsigned rings)
{
    sluice_hooked *h = calloc(1, sizeof *h + rings * sizeof h->ring[0]);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->lock, NULL);
    h->rings = rings;
    return h;
}

void sluice_hooked_free(sluice_hooked *h)
{
    if (!h)
        return;
    for (unsigned i = 0; i < h->rings; i++) {
        free(h->ring[i].results);
        free(h->ring[i].bytes);
    }
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void sluice_hooked_lock(sluice_hooked *h)
{
    pthread_mutex_lock(&h->lock);
}

void sluice_hooked_unlock(sluice_hooked *h)
{
    pthread_mutex_unlock(&h->lock);
}

/* Room for one more result at end. */
static int result_room(hooked_ring *r)
{
    if (r->end < r->cap)
        return 0;
    if (r->first >= r->end / 2 && r->first > 0) {
        memmove(r->results, r->results + r->first,
                (r->end - r->first) * sizeof *r->results);
        r->end -= r->first;
        r->first = 0;
        return 0;
    }
    size_t cap = r->cap ? r->cap * 2 : 256;
    result *grown = realloc(r->results, cap * sizeof *grown);
    if (!grown)
        return -1;
    r->results = grown;
    r->cap = cap;
    return 0;
}

/* Room for need more bytes at bytes_end. */
static int byte_room(hooked_ring *r, size_t need)
{
    if (r->bytes_cap - r->bytes_end >= need)
        return 0;
    size_t live = r->bytes_end - r->bytes_first;
    if (r->bytes_first > 0 && r->bytes_first >= r->bytes_end / 2 &&
        r->bytes_cap - live >= need) {
        memmove(r->bytes, r->bytes + r->bytes_first, live);
        for (size_t i = r->first; i < r->end; i++)
            r->results[i].at -= r->bytes_first;
        r->bytes_first = 0;
        r->bytes_end = live;
        return 0;
    }
    size_t cap = r->bytes_cap ? r->bytes_cap * 2 : 65536;
    while (cap - r->bytes_end < need)
        cap *= 2;
    char *grown = realloc(r->bytes, cap);
    if (!grown)
        return -1;
    r->bytes = grown;
    r->bytes_cap = cap;
    return 0;
}

static char *put_field_part(char *p, const char *s, size_t n)
{
    uint32_t len = (uint32_t)n;
    memcpy(p, &len, 4);
    if (len)
        memcpy(p + 4, s, len);
    return p + 4 + len;
}

int sluice_hooked_put(sluice_hooked *h, unsigned ring, uint64_t off,
                      const sluice_record *rec)
{
    hooked_ring *r = &h->ring[ring];
    size_t fields_len = 0;
    for (size_t i = 0; i < rec->field_count; i++)
        fields_len += 8 + (uint32_t)rec->fields[i].key_len +
                      (uint32_t)rec->fields[i].value_len;
    size_t need = rec->message_len + fields_len;
    if (result_room(r) != 0 || byte_room(r, need) != 0)
        return -1;
    result *out = &r->results[r->end++];
    out->off = off;
    out->at = r->bytes_end;
    out->message_len = rec->message_len;
    out->fields_len = fields_len;
    out->field_count = rec->field_count;
    out->time_ns = rec->time_ns;
    char *p = r->bytes + r->bytes_end;
    if (rec->message_len)
        memcpy(p, rec->message, rec->message_len);
    p += rec->message_len;
    for (size_t i = 0; i < rec->field_count; i++) {
        const sluice_field *f = &rec->fields[i];
        p = put_field_part(p, f->key, (uint32_t)f->key_len);
        p = put_field_part(p, f->value, (uint32_t)f->value_len);
    }
    r->bytes_end += need;
    return 0;
}

bool sluice_hooked_get(sluice_hooked *h, unsigned ring, uint64_t off,
                       sluice_buf *msgs, sluice_buf *fields,
                       size_t *field_count, int64_t *time_ns)
{
    hooked_ring *r = &h->ring[ring];
    size_t lo = r->first, hi = r->end;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->results[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == r->end || r->results[lo].off != off)
        return false;
    const result *found = &r->results[lo];
    const char *p = r->bytes + found->at;
    sluice_buf_append(msgs, p, found->message_len);
    sluice_buf_append(fields, p + found->message_len, found->fields_len);
    *field_count = found->field_count;
    *time_ns = found->time_ns;
    return true;
}

void sluice_hooked_trim(sluice_hooked *h, unsigned ring, uint64_t below)
{
    hooked_ring *r = &h->ring[ring];
    while (r->first < r->end && r->results[r->first].off < below)
        r->first++;
    if (r->first == r->end) {
        r->first = r->end = 0;
        r->bytes_first = r->bytes_end = 0;
    } else {
        r->bytes_first = r->results[r->first].at;
    }
}

size_t sluice_hooked_count(sluice_hooked *h)
{
    size_t n = 0;
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < h->rings; i++)
        n += h->ring[i].end - h->ring[i].first;
    pthread_mutex_unlock(&h->lock);
    return n;
}
