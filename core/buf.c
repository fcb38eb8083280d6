/*
 * buf.c -- the growable byte buffer behind every formatter.
 * Owns only memory; knows nothing of records or sinks.
 */
#include "buf_internal.h"

#include <stdlib.h>

void sluice_buf_init(sluice_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

void sluice_buf_free(sluice_buf *b)
{
    free(b->data);
    sluice_buf_init(b);
}

int sluice_buf_reserve(sluice_buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return 0;
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
    if (n == 0 || sluice_buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void sluice_buf_putc_slow(sluice_buf *b, char c)
{
    if (b->len < b->cap || sluice_buf_reserve(b, 1) == 0)
        b->data[b->len++] = c;
}
