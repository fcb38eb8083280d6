/*
 * buf_internal.h -- a growable byte buffer used by the formatters, or a
 * fixed one over storage the caller provides (the crash path renders with
 * no allocation: it never grows there, it truncates and says so).
 * Knows nothing of records, queues or sinks.
 */
#ifndef SLUICE_BUF_INTERNAL_H
#define SLUICE_BUF_INTERNAL_H

#include <stddef.h>
#include <string.h>

typedef struct sluice_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed; /* an allocation failed, or a fixed buffer was full:
                   contents are truncated */
    int fixed;  /* storage the caller gave: never grown, never freed */
} sluice_buf;

void sluice_buf_init(sluice_buf *b);
/* A buffer over storage[0..cap): appends never allocate; what does not fit
 * is cut off and b->failed is set. sluice_buf_free only empties it. */
void sluice_buf_init_fixed(sluice_buf *b, char *storage, size_t cap);
void sluice_buf_free(sluice_buf *b);
/* Make room for n more bytes; 0 on success, -1 (and b->failed) if not
 * (out of memory, or a fixed buffer without that much room left). */
int sluice_buf_reserve(sluice_buf *b, size_t n);
/* The slow halves: grow, then append. */
void sluice_buf_append_slow(sluice_buf *b, const void *p, size_t n);
void sluice_buf_putc_slow(sluice_buf *b, char c);

/* Appends are inline: the formatters call them for every small piece. */
static inline void sluice_buf_append(sluice_buf *b, const void *p, size_t n)
{
    if (__builtin_expect(b->len + n <= b->cap, 1)) {
        if (n)
            memcpy(b->data + b->len, p, n);
        b->len += n;
        return;
    }
    sluice_buf_append_slow(b, p, n);
}

static inline void sluice_buf_putc(sluice_buf *b, char c)
{
    if (__builtin_expect(b->len < b->cap, 1)) {
        b->data[b->len++] = c;
        return;
    }
    sluice_buf_putc_slow(b, c);
}
static inline void sluice_buf_puts(sluice_buf *b, const char *s)
{
    sluice_buf_append(b, s, strlen(s));
}
static inline void sluice_buf_reset(sluice_buf *b)
{
    b->len = 0;
    b->failed = 0;
}

#endif
