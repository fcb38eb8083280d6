/*
 * printf_internal.h -- renders a deferred call: a printf format plus the
 * arguments the producer encoded (see SLUICE_ARG_* in sluice.h), with output
 * byte-for-byte identical to snprintf's. Formats are compiled once into a
 * program and run per record; a per-thread cache keeps the programs of the
 * call sites seen. Knows nothing of queues or sinks.
 */
#ifndef SLUICE_PRINTF_INTERNAL_H
#define SLUICE_PRINTF_INTERNAL_H

#include <stddef.h>

#include "buf_internal.h"

/* Append the rendering of fmt with the encoded arguments to out.
 * types[i] is the SLUICE_ARG_* of argument i (ntypes of them); args/args_len
 * is the encoding: 8 bytes per INT/UINT/DOUBLE/POINTER (native endian,
 * unaligned), and for STRING a uint32_t length (UINT32_MAX for NULL)
 * followed by that many bytes. Returns 0, or -1 if the encoding is shorter
 * than the types say (what could be rendered is appended). A conversion
 * without a matching argument renders as nothing; %n renders as nothing.
 * Compiles, runs and frees a program (the interpreter below if there is no
 * memory for one). */
int sluice_printf_render(sluice_buf *out, const char *fmt,
                         const unsigned char *types, size_t ntypes,
                         const unsigned char *args, size_t args_len);

/* A format compiled for one list of argument types. Owns a copy of the
 * format's text and of the types: fmt and types need not outlive it. */
typedef struct sluice_printf_program sluice_printf_program;

/* 0 and *out, or -1 if out of memory (or fmt/types beyond 4 GiB). */
int sluice_printf_compile(const char *fmt, const unsigned char *types,
                          size_t ntypes, sluice_printf_program **out);
/* What sluice_printf_render(out, fmt, types, ntypes, args, args_len) does,
 * byte for byte, for the fmt/types p was compiled from. */
int sluice_printf_run(sluice_buf *out, const sluice_printf_program *p,
                      const unsigned char *args, size_t args_len);
void sluice_printf_program_free(sluice_printf_program *p);

/* The one-pass interpreter (parses as it renders, with the programs'
 * parser and renderers): the fallback when memory runs out, and what the
 * tests compare programs with (literal runs, arguments consumed, where a
 * short encoding stops). */
int sluice_printf_render_interp(sluice_buf *out, const char *fmt,
                                const unsigned char *types, size_t ntypes,
                                const unsigned char *args, size_t args_len);

/* On the calling thread only: render without anything that is not
 * async-signal-safe (the crash path, from a signal handler); see "Signal-
 * safe rendering" in printf.c for the few conversions that then print
 * their own spec instead of their value. Use with a fixed sluice_buf and
 * sluice_printf_render_interp (compiling a program allocates). */
void sluice_printf_signal_safe_(int on);

/* Programs by call site, for one thread (no locking). */
typedef struct sluice_printf_cache {
    const void **keys; /* open addressing, NULL: empty */
    sluice_printf_program **progs;
    size_t cap, count; /* cap a power of two, count <= cap / 2 */
    const void *last_key; /* the last hit: runs of one call site */
    const char *last_fmt;
    const unsigned char *last_types;
    size_t last_ntypes;
    const sluice_printf_program *last_prog;
} sluice_printf_cache;

void sluice_printf_cache_init(sluice_printf_cache *c);
void sluice_printf_cache_free(sluice_printf_cache *c);
/* The program for key (a call site), compiled on first sight. A hit also
 * needs the same fmt and types pointers and ntypes (else it is compiled
 * again and replaces the old one: a call site at a dead one's address).
 * NULL if key is NULL or out of memory (then use sluice_printf_render).
 * Valid until the next get for the same key, or the cache is freed. */
const sluice_printf_program *
sluice_printf_cache_lookup_(sluice_printf_cache *c, const void *key,
                            const char *fmt, const unsigned char *types,
                            size_t ntypes);
static inline const sluice_printf_program *
sluice_printf_cache_get(sluice_printf_cache *c, const void *key,
                        const char *fmt, const unsigned char *types,
                        size_t ntypes)
{
    if (key && key == c->last_key && fmt == c->last_fmt &&
        types == c->last_types && ntypes == c->last_ntypes)
        return c->last_prog;
    return sluice_printf_cache_lookup_(c, key, fmt, types, ntypes);
}

#endif
