/*
 * buf.c -- the byte buffer behind every formatter: growable, or fixed over
 * storage the caller owns (then no call here allocates, so it can be used
 * from a signal handler). Owns only memory; knows nothing of records or
 * sinks.
 */
#include "buf_internal.h"

#include <stdlib.h>

void sluice_buf_init(sluice_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
    b->fixed = 0;
}

void sluice_buf_init_fixed(sluice_buf *b, char *storage, size_t cap)
{
    b->data = storage;
    b->len = 0;
    b->cap = storage ? cap : 0;
    b->failed = 0;
    b->fixed = 1;
}

void sluice_buf_free(sluice_buf *b)
{
    if (b->fixed) {
        b->len = 0;
        b->failed = 0;
        return;
    }
    free(b->data);
    sluice_buf_init(b);
}

int sluice_buf_reserve(sluice_buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return 0;
    if (b->fixed) {
        b->failed = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void sluice_buf_append_slow(sluice_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (b->fixed && b->len + n > b->cap) {
        /* what fits goes in; the rest is cut off */
        size_t room = b->cap - b->len;
        if (room)
            memcpy(b->data + b->len, p, room);
        b->len = b->cap;
        b->failed = 1;
        return;
    }
    if (sluice_buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void sluice_buf_putc_slow(sluice_buf *b, char c)
{
    if (b->len < b->cap || sluice_buf_reserve(b, 1) == 0)
        b->data[b->len++] = c;
}
